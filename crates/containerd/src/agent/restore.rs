//! Restore: every recorded host file back to its original, gated, in one transaction.
use super::*;

impl Agent<'_> {
    /// Undoes what state.json records and checks the original containerd runs again.
    /// Refuses when a recorded file was changed by someone else since (e.g. the
    /// distribution upgraded containerd), unless `force`: putting the old original back
    /// would then downgrade.
    pub async fn restore(&self, force: bool) -> Result<Option<String>, Error> {
        self.check_host()?;
        let _lock = lock::acquire(&self.host_root, "restore")?;
        self.recover().await?;
        let _ = std::fs::remove_dir_all(self.at(layout::STAGING));
        let Some(cur) = state::load(&self.host_root)? else {
            tracing::info!("nothing installed by cococtl on this node");
            return Ok(None);
        };
        let mut changed = vec![];
        for f in &cur.files {
            match sha256_file(&self.at(&f.path)) {
                Ok(s) if s == f.sha256 => {}
                Ok(_) => changed.push(format!("/{} was changed since cococtl wrote it", f.path)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    changed.push(format!("/{} was removed since cococtl wrote it", f.path))
                }
                Err(e) => changed.push(format!("/{} cannot be read: {e}", f.path)),
            }
        }
        if !changed.is_empty() && !force {
            return Err(Error::Diverged(format!(
                "not restoring: {}; putting the old originals back could downgrade what the distribution installed since\n  fix: check the files, then `cococtl node containerd restore --force` to restore anyway",
                changed.join("; ")
            )));
        }
        let mut need = vec![];
        for f in &cur.files {
            if let Some(o) = &f.original {
                let len = std::fs::metadata(self.at(o)).map(|m| m.len()).unwrap_or(0);
                need.push((self.at(&f.path), len, format!("/{}", f.path)));
            }
        }
        // Removing a file cococtl created needs a writable filesystem too.
        let touched: Vec<_> = cur
            .files
            .iter()
            .map(|f| (self.at(&f.path), 0, format!("/{}", f.path)))
            .collect();
        space::check_writable(&touched).map_err(|e| {
            refused(
                e.to_string(),
                "make that filesystem writable on the host, then restore again",
            )
        })?;
        space::check(&need)?;
        self.check_service().await?;
        if self.stop.requested() {
            return Err(Error::Stopped { rolled_back: false });
        }
        let done = self.run(Action::Restore, Some(cur), None).await?;
        Ok(Some(done.version))
    }

    /// Returns every recorded file to its original (restore).
    pub(super) fn apply_restore(
        &self,
        tx: &mut Tx<'_>,
        previous: Option<&Installed>,
    ) -> Result<(), TxError> {
        let Some(p) = previous else { return Ok(()) };
        for f in p.files.iter().rev() {
            match &f.original {
                Some(o) => tx.write_file(&f.path, Content::File(&self.at(o)))?,
                None => tx.remove_file(&f.path)?,
            }
        }
        Ok(())
    }
}

/// What a restore removes once committed: cococtl's directories and its copies of
/// originals (the originals themselves are back in place by then).
pub(super) fn restore_cleanup(previous: Option<&Installed>) -> Vec<String> {
    let Some(p) = previous else { return vec![] };
    let mut c: Vec<String> = p.dirs.clone();
    c.extend(p.files.iter().filter_map(|f| f.original.clone()));
    c.push(format!("{}/{}", layout::ORIGINALS, p.tx));
    c
}
