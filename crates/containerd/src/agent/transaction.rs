//! One transaction: apply, restart, gate, then commit (state.json) or roll back in the same
//! run.
use super::restore::restore_cleanup;
use super::*;

impl Agent<'_> {
    /// Applies a plan (install) or its reverse (restore) in one transaction, restarts,
    /// gates, and commits or rolls back.
    pub(super) async fn run(
        &self,
        action: Action,
        previous: Option<Installed>,
        plan: Option<Plan>,
    ) -> Result<Installed, Error> {
        let (target, cleanup) = match &plan {
            Some(p) => (Some(p.target.clone()), p.cleanup.clone()),
            None => (None, restore_cleanup(previous.as_ref())),
        };
        let id = target.as_ref().map_or_else(tx_id, |t| t.tx.clone());
        let mut tx = match Tx::begin(
            &self.host_root,
            self.faults,
            Journal {
                id,
                action,
                previous: previous.clone(),
                target: target.clone(),
                steps: vec![],
                undone: 0,
                cleanup,
                restarted: false,
            },
        ) {
            Ok(tx) => tx,
            Err(e) => {
                let why = tx_error(e)?;
                return Err(refused(
                    format!("could not write the journal: {why}"),
                    "check the host's /var/lib (space, permissions); nothing was changed",
                ));
            }
        };
        let mut target = target;
        let applied = match (&plan, action) {
            (Some(p), _) => self.apply(&mut tx, p, target.as_mut()),
            (None, _) => self.apply_restore(&mut tx, previous.as_ref()),
        };
        if let Err(e) = applied {
            let why = tx_error(e)?;
            return self.roll_back(tx, previous.as_ref(), why, false).await;
        }
        self.faults.point("applied")?;
        if self.stop.requested() {
            return self
                .roll_back(tx, previous.as_ref(), "stopped".into(), false)
                .await;
        }
        if let Err(e) = tx.mark_restarting() {
            let why = tx_error(e)?;
            return self.roll_back(tx, previous.as_ref(), why, false).await;
        }
        // What must be running once the change is made.
        let expect = match &target {
            Some(t) => Ok(Expect {
                exec: t.exec.clone(),
                version: t.version.clone(),
            }),
            None => self.distro_expect().await,
        };
        let gated = match &expect {
            Ok(e) => self.restart_and_gate(e).await,
            Err(e) => Err(e.clone()),
        };
        self.faults.point("gated")?;
        let version = match gated {
            Ok(v) => v,
            Err(why) => {
                let why = match action {
                    Action::Install => format!("the new containerd failed its health gate: {why}"),
                    Action::Restore => format!("the distribution's containerd failed its health gate after the restore: {why}"),
                };
                return self.roll_back(tx, previous.as_ref(), why, true).await;
            }
        };
        if let Err(e) = state::store(&self.host_root, target.as_ref()) {
            return self
                .roll_back(
                    tx,
                    previous.as_ref(),
                    format!("writing {}: {e}", layout::STATE),
                    true,
                )
                .await;
        }
        self.faults.point("committed")?;
        if let Err(e) = tx.finish() {
            // Committed: the next run finishes the clean-up.
            tracing::warn!("clean-up after the change: {}", tx_error(e)?);
        }
        match target {
            Some(t) => {
                tracing::info!("containerd {version} is running and healthy");
                self.report(State::Ready, &version, &t.sha256, "")
                    .await
                    .map_err(Error::Report)?;
                Ok(t)
            }
            None => {
                self.report(State::Restored, &version, "", "")
                    .await
                    .map_err(Error::Report)?;
                Ok(Installed {
                    tx: String::new(),
                    sha256: String::new(),
                    url: String::new(),
                    version,
                    mode: Mode::Side,
                    exec: String::new(),
                    files: vec![],
                    dirs: vec![],
                })
            }
        }
    }

    /// Undoes the transaction in this run, brings the previous containerd back, reports.
    pub(super) async fn roll_back(
        &self,
        mut tx: Tx<'_>,
        previous: Option<&Installed>,
        why: String,
        restarted: bool,
    ) -> Result<Installed, Error> {
        tracing::warn!("{why}; rolling back");
        if let Err(e) = tx.undo() {
            let undo = tx_error(e)?;
            let _ = self
                .report(
                    State::Failed,
                    "",
                    "",
                    &format!("{why}; undo failed: {undo}"),
                )
                .await;
            return Err(Error::UndoFailed { why, undo });
        }
        if let Err(e) = tx.abandon() {
            let undo = tx_error(e)?;
            return Err(Error::UndoFailed { why, undo });
        }
        let stopped = self.stop.requested();
        let after = self.back_to(previous, restarted).await;
        match after {
            Ok(version) => {
                let _ = self
                    .report(
                        State::RolledBack,
                        &version,
                        previous.map_or("", |p| &p.sha256),
                        &why,
                    )
                    .await;
                if stopped {
                    return Err(Error::Stopped { rolled_back: true });
                }
                Err(Error::RolledBack { why, version })
            }
            Err(after) => {
                let _ = self
                    .report(State::Failed, "", "", &format!("{why}; then: {after}"))
                    .await;
                Err(Error::RollbackUnhealthy { why, after })
            }
        }
    }
}
