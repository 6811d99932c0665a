//! Recovery: a journal left by an interrupted run is finished (the change had committed)
//! or undone (it had not), before anything else happens.
use super::*;

impl Agent<'_> {
    /// Finishes (committed) or undoes (not committed) what an interrupted run left.
    pub async fn recover(&self) -> Result<bool, Error> {
        let Some(j) = journal::load(&self.host_root)
            .map_err(|e| refused(e.to_string(), "inspect the file; nothing was changed"))?
        else {
            return Ok(false);
        };
        let current = state::load(&self.host_root)?;
        let committed = match (&j.target, &current) {
            (Some(t), Some(c)) => t.tx == c.tx,
            (None, None) => j.previous.is_some(),
            _ => false,
        };
        let mut tx = Tx::resume(&self.host_root, self.faults, j);
        if committed {
            tracing::info!(
                "recovering: the interrupted change {} had committed; finishing it",
                tx.journal.id
            );
            if let Err(e) = tx.finish() {
                let why = tx_error(e)?;
                return Err(Error::UndoFailed {
                    why: "finishing a committed change".into(),
                    undo: why,
                });
            }
            return Ok(true);
        }
        tracing::warn!(
            "recovering: an earlier run stopped after {} host change(s); undoing them",
            tx.journal.steps.len()
        );
        if let Err(e) = tx.undo() {
            let undo = tx_error(e)?;
            return Err(Error::UndoFailed {
                why: "recovering an interrupted change".into(),
                undo,
            });
        }
        let restarted = tx.journal.restarted;
        // state.json is written only at commit, so it still describes what is installed.
        if let Err(e) = tx.abandon() {
            let undo = tx_error(e)?;
            return Err(Error::UndoFailed {
                why: "recovering an interrupted change".into(),
                undo,
            });
        }
        let _ = std::fs::remove_dir_all(self.at(layout::STAGING));
        let after = self.back_to(current.as_ref(), restarted).await;
        match after {
            Ok(v) => {
                let _ = self
                    .report(
                        State::RolledBack,
                        &v,
                        current.as_ref().map_or("", |c| &c.sha256),
                        "an interrupted change was rolled back",
                    )
                    .await;
                Ok(true)
            }
            Err(after) => {
                let _ = self.report(State::Failed, "", "", &after).await;
                Err(Error::RollbackUnhealthy {
                    why: "an interrupted change was rolled back".into(),
                    after,
                })
            }
        }
    }
}
