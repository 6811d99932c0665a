//! Install and upgrade: validate and plan everything before the journal exists, check
//! space, then write the plan's files in one transaction.
use super::*;

impl Agent<'_> {
    /// Installs `cfg`'s tarball, or does nothing when it is already installed and healthy.
    pub async fn install(&self, cfg: &Config) -> Result<Outcome, Error> {
        // Read-only checks first: a directory that is not a host gets nothing written.
        self.check_host()?;
        let _lock = lock::acquire(&self.host_root, "install")?;
        self.recover().await?;
        let staging = self.at(layout::STAGING);
        let result = self.install_locked(cfg, &staging).await;
        if !matches!(result, Err(Error::Crash(_))) {
            if let Err(e) = std::fs::remove_dir_all(&staging) {
                if e.kind() != std::io::ErrorKind::NotFound {
                    tracing::warn!("could not remove {}: {e}", staging.display());
                }
            }
        }
        result
    }

    pub(super) async fn install_locked(
        &self,
        cfg: &Config,
        staging: &Path,
    ) -> Result<Outcome, Error> {
        let previous = state::load(&self.host_root)?;
        if let Some(p) = &previous {
            if p.mode != cfg.mode {
                return Err(mode_switch(p, cfg));
            }
            // A pinned digest that is already installed: no download needed.
            if let crate::config::Checksum::Sha256(s) = &cfg.checksum {
                if *s == p.sha256 && proxy_current(p, cfg) && self.already_healthy(p).await {
                    return self.nothing_to_do(p).await;
                }
            }
        }
        if self.stop.requested() {
            return Err(Error::Stopped { rolled_back: false });
        }
        let _ = std::fs::remove_dir_all(staging);
        std::fs::create_dir_all(staging).map_err(|source| Error::Staging {
            what: format!("creating {}", staging.display()),
            source,
        })?;
        let tarball = staging.join("containerd.tar.gz");
        tracing::info!("download: {}", cfg.url);
        // SIGTERM cancels the download at once (dropping it closes the connection and the
        // file); `install` then removes the staging directory.
        let fetched = tokio::select! {
            r = fetch::fetch(&cfg.url, &tarball, &cfg.checksum, &self.fetch) => r?,
            () = self.stop.wait() => return Err(Error::Stopped { rolled_back: false }),
        };
        if let Some(p) = &previous {
            if p.sha256 == fetched.sha256 && proxy_current(p, cfg) && self.already_healthy(p).await
            {
                return self.nothing_to_do(p).await;
            }
        }
        let unpacked = staging.join("unpacked");
        extract::extract(&tarball, &unpacked, extract::Limits::default())?;
        let _ = std::fs::remove_file(&tarball);
        if self.stop.requested() {
            return Err(Error::Stopped { rolled_back: false });
        }
        let verified = tokio::select! {
            r = verify::verify(&unpacked, cfg.arch) => r?,
            () = self.stop.wait() => return Err(Error::Stopped { rolled_back: false }),
        };
        if !verified.ignored.is_empty() {
            tracing::warn!(
                "the tarball's bin/ also holds {}: not containerd binaries, not installed",
                verified.ignored.join(", ")
            );
        }
        tracing::info!(
            "verified containerd {} ({} binaries, sha256 {})",
            verified.version,
            verified.files.len(),
            fetched.sha256
        );
        self.install_verified_locked(cfg, &fetched, &verified, previous)
            .await
    }

    /// Installs binaries already downloaded and verified (the transaction part of
    /// [`Agent::install`]); in-process tests drive the transaction through this.
    pub async fn install_verified(
        &self,
        cfg: &Config,
        fetched: &Fetched,
        verified: &verify::Verified,
    ) -> Result<Outcome, Error> {
        // Read-only checks first: a directory that is not a host gets nothing written.
        self.check_host()?;
        let _lock = lock::acquire(&self.host_root, "install")?;
        self.recover().await?;
        let previous = state::load(&self.host_root)?;
        if let Some(p) = &previous {
            if p.mode != cfg.mode {
                return Err(mode_switch(p, cfg));
            }
            if p.sha256 == fetched.sha256 && proxy_current(p, cfg) && self.already_healthy(p).await
            {
                return self.nothing_to_do(p).await;
            }
        }
        self.install_verified_locked(cfg, fetched, verified, previous)
            .await
    }

    pub(super) async fn install_verified_locked(
        &self,
        cfg: &Config,
        fetched: &Fetched,
        verified: &verify::Verified,
        previous: Option<Installed>,
    ) -> Result<Outcome, Error> {
        let plan = self.plan(cfg, fetched, verified, previous.as_ref())?;
        self.check_space(&plan)?;
        self.check_service().await?;
        if self.stop.requested() {
            return Err(Error::Stopped { rolled_back: false });
        }
        let _ = self
            .report(State::Installing, &verified.version, &fetched.sha256, "")
            .await;
        self.run(Action::Install, previous, Some(plan))
            .await
            .map(Outcome::Installed)
    }

    /// The files this install writes and the state it commits. Everything that can be
    /// refused is refused here, before the journal exists.
    pub(super) fn plan(
        &self,
        cfg: &Config,
        fetched: &Fetched,
        v: &verify::Verified,
        previous: Option<&Installed>,
    ) -> Result<Plan, Error> {
        let tx = tx_id();
        let sha_of = |name: &str| {
            sha256_file(&v.bin.join(name)).map_err(|source| Error::Staging {
                what: format!("reading staged bin/{name}"),
                source,
            })
        };
        let (dir, dropin, exec) = match cfg.mode {
            Mode::Side => {
                let dir = layout::side_dir(&v.version, &fetched.sha256);
                self.effective_exec(None)?;
                if previous.is_none() && self.at(layout::DROPIN).exists() {
                    return Err(refused(
                        format!("/{} exists, but no cococtl install is recorded (its state was lost?)", layout::DROPIN),
                        "check that file; remove it if it is a leftover of cococtl, then install again",
                    ));
                }
                let exec = format!("/{dir}/containerd");
                let text = format!(
                    "# Written by cococtl: run the custom containerd; `cococtl node containerd restore`\n# returns to the distribution's.\n[Service]\nExecStart=\nExecStart={exec}{}\nEnvironment=PATH=/{dir}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n",
                    unit_exec_args(&self.host_root)
                );
                let after = self.effective_exec(Some((layout::DROPIN_NAME, &text)))?;
                if after.binary != exec {
                    return Err(refused(
                        format!(
                            "/{} sets ExecStart={} after cococtl's drop-in ({}), so the unit would never run the custom containerd",
                            after.source, after.binary, layout::DROPIN_NAME
                        ),
                        format!("remove ExecStart from /{} (e.g. `systemctl revert containerd` or edit the override), or use --mode in-place", after.source),
                    ));
                }
                (dir, Some(text), exec)
            }
            Mode::InPlace => {
                let e = self.effective_exec(None)?;
                if e.source.contains(layout::DROPIN_NAME) {
                    return Err(refused(
                        format!("cococtl's side-mode drop-in /{} is present without a side install recorded", e.source),
                        "run `cococtl node containerd restore` (or remove the drop-in) first",
                    ));
                }
                let dir = Path::new(&e.binary)
                    .parent()
                    .map(|p| p.to_string_lossy().trim_start_matches('/').to_string())
                    .filter(|d| !d.is_empty())
                    .ok_or_else(|| {
                        refused(
                            format!("ExecStart {} has no directory", e.binary),
                            "fix the unit",
                        )
                    })?;
                if !e.binary.ends_with("/containerd") {
                    return Err(refused(
                        format!(
                            "ExecStart {} (set by /{}) is not a containerd binary",
                            e.binary, e.source
                        ),
                        "use side mode, or fix the unit",
                    ));
                }
                (dir, None, e.binary)
            }
        };
        let mut writes = vec![];
        let mut files = vec![];
        let prev_file = |path: &str| previous.and_then(|p| p.files.iter().find(|f| f.path == path));
        for name in &v.files {
            let path = format!("{dir}/{name}");
            files.push(OwnedFile {
                path: path.clone(),
                sha256: sha_of(name)?,
                original: prev_file(&path).and_then(|f| f.original.clone()),
            });
            writes.push((v.bin.join(name), path));
        }
        let mut dropins = vec![];
        if let Some(text) = dropin {
            dropins.push((layout::DROPIN.to_string(), text.into_bytes()));
        }
        if let Some(p) = &cfg.containerd_proxy {
            dropins.push((
                layout::PROXY_DROPIN.to_string(),
                proxy_dropin(p).into_bytes(),
            ));
        }
        for (path, bytes) in &dropins {
            files.push(OwnedFile {
                path: path.clone(),
                sha256: hex::encode(Sha256::digest(bytes)),
                original: prev_file(path).and_then(|f| f.original.clone()),
            });
        }
        let drop: Vec<OwnedFile> = previous
            .map(|p| {
                p.files
                    .iter()
                    .filter(|f| !files.iter().any(|n| n.path == f.path))
                    // Files inside a directory that goes away with the old version.
                    .filter(|f| {
                        !p.dirs.iter().any(|d| {
                            f.path.starts_with(&format!("{d}/"))
                                && !f.path.starts_with(&format!("{dir}/"))
                        })
                    })
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        let mut cleanup = vec![];
        let mut dirs = vec![];
        if cfg.mode == Mode::Side {
            dirs.push(dir.clone());
        }
        if let Some(p) = previous {
            for d in &p.dirs {
                if !dirs.contains(d) {
                    cleanup.push(d.clone());
                }
            }
            for f in &drop {
                if let Some(o) = &f.original {
                    cleanup.push(o.clone());
                }
            }
        }
        Ok(Plan {
            target: Installed {
                tx,
                sha256: fetched.sha256.clone(),
                url: cfg.url.clone(),
                version: v.version.clone(),
                mode: cfg.mode,
                exec,
                files,
                dirs,
            },
            writes,
            dropins,
            drop,
            cleanup,
            previous_paths: previous
                .map(|p| p.files.iter().map(|f| f.path.clone()).collect())
                .unwrap_or_default(),
        })
    }

    pub(super) fn check_space(&self, plan: &Plan) -> Result<(), Error> {
        let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        let mut need = vec![];
        for (src, dest) in &plan.writes {
            let host = self.at(dest);
            need.push((host.clone(), size(src), format!("/{dest}")));
            // First time this file is replaced: the distribution's copy is kept.
            let first = !plan.previous_paths.contains(dest);
            if first && host.exists() {
                need.push((
                    self.at(layout::ORIGINALS),
                    size(&host),
                    "the copies of the distribution's binaries".into(),
                ));
            }
        }
        for f in &plan.drop {
            if let Some(o) = &f.original {
                need.push((self.at(&f.path), size(&self.at(o)), format!("/{}", f.path)));
            }
        }
        space::check_writable(&need).map_err(|e| {
            let fix = match plan.target.mode {
                Mode::InPlace => "in-place mode replaces the distribution's binaries: use side mode (the default, which writes under /opt/confidential-containers), or make that filesystem writable",
                Mode::Side => "make that filesystem writable on the host (side mode writes under /opt/confidential-containers and /etc/systemd/system)",
            };
            refused(e.to_string(), fix)
        })?;
        space::check(&need)?;
        Ok(())
    }

    /// Writes the plan's files (install or upgrade).
    pub(super) fn apply(
        &self,
        tx: &mut Tx<'_>,
        p: &Plan,
        target: Option<&mut Installed>,
    ) -> Result<(), TxError> {
        let Some(target) = target else { return Ok(()) };
        if target.mode == Mode::Side {
            for d in &target.dirs {
                tx.ensure_dir(d)?;
            }
        }
        for (src, dest) in &p.writes {
            self.keep_original(tx, target, p.previous_paths.contains(dest), dest)?;
            tx.write_file(dest, Content::File(src))?;
        }
        for (path, bytes) in &p.dropins {
            if let Some(parent) = Path::new(path).parent() {
                tx.ensure_dir(&parent.to_string_lossy())?;
            }
            self.keep_original(tx, target, p.previous_paths.contains(path), path)?;
            tx.write_file(path, Content::Bytes(bytes))?;
        }
        for f in &p.drop {
            match &f.original {
                Some(o) => tx.write_file(&f.path, Content::File(&self.at(o)))?,
                None => tx.remove_file(&f.path)?,
            }
        }
        Ok(())
    }

    /// The first time a host file is replaced, a copy of the distribution's is kept
    /// until restore (the copy is part of the transaction: undone with it). A file the
    /// previous install wrote is cococtl's: its original, if any, is already kept.
    pub(super) fn keep_original(
        &self,
        tx: &mut Tx<'_>,
        target: &mut Installed,
        ours: bool,
        dest: &str,
    ) -> Result<(), TxError> {
        let Some(f) = target.files.iter_mut().find(|f| f.path == dest) else {
            return Ok(());
        };
        if ours || f.original.is_some() || !self.at(dest).exists() {
            return Ok(());
        }
        let dir = format!("{}/{}", layout::ORIGINALS, target.tx);
        tx.ensure_dir(&dir)?;
        let copy = format!("{dir}/{}", dest.replace('/', "_"));
        tx.write_file(&copy, Content::File(&self.at(dest)))?;
        f.original = Some(copy);
        Ok(())
    }
}

fn mode_switch(p: &Installed, cfg: &Config) -> Error {
    refused(
        format!(
            "containerd {} is installed in {} mode; switching to {} mode in one step is not supported",
            p.version,
            p.mode.as_str(),
            cfg.mode.as_str()
        ),
        "run `cococtl node containerd restore` first, then install again",
    )
}

/// containerd's proxy drop-in: the standard variables containerd (Go) reads, quoted for
/// systemd (`%` is a unit-file specifier; `"` and `\` need escaping inside the quotes).
fn proxy_dropin(p: &cococtl_core::proxy::Proxy) -> String {
    let quoted: Vec<String> = p
        .env()
        .into_iter()
        .map(|(k, v)| {
            let v = v
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('%', "%%");
            format!("\"{k}={v}\"")
        })
        .collect();
    format!(
        "# Written by cococtl (proxy.containerd): containerd's own downloads (image pulls) go\n# through the proxy; `cococtl node containerd restore` removes this file.\n[Service]\nEnvironment={}\n",
        quoted.join(" ")
    )
}

/// Whether the installed proxy drop-in is the one `cfg` asks for (none included): a changed
/// `proxy.*` is an install to do even when the tarball is the same.
fn proxy_current(p: &Installed, cfg: &Config) -> bool {
    let recorded = p
        .files
        .iter()
        .find(|f| f.path == layout::PROXY_DROPIN)
        .map(|f| f.sha256.clone());
    let wanted = cfg
        .containerd_proxy
        .as_ref()
        .map(|x| hex::encode(Sha256::digest(proxy_dropin(x).as_bytes())));
    recorded == wanted
}

/// The arguments of the unit's own ExecStart (kept by side mode's drop-in).
fn unit_exec_args(host_root: &Path) -> String {
    let Ok(Some(rel)) = unit::unit_file(host_root, layout::UNIT) else {
        return String::new();
    };
    let text = std::fs::read_to_string(host_root.join(rel)).unwrap_or_default();
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("ExecStart="))
        .rfind(|v| !v.trim().is_empty())
        .and_then(|v| v.trim().split_once(char::is_whitespace))
        .map(|(_, args)| format!(" {}", args.trim()))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_proxy_dropin_quotes_each_variable_and_escapes_systemd_specifiers() {
        let p = cococtl_core::proxy::Proxy {
            https_proxy: "http://u:p%40ss@proxy:3128".into(),
            http_proxy: String::new(),
            no_proxy: "10.0.0.0/8,.svc".into(),
        };
        let text = proxy_dropin(&p);
        assert!(text.contains("\n[Service]\n"), "{text}");
        assert!(
            text.ends_with(
                "Environment=\"HTTPS_PROXY=http://u:p%%40ss@proxy:3128\" \"NO_PROXY=10.0.0.0/8,.svc\"\n"
            ),
            "{text}"
        );
    }
}
