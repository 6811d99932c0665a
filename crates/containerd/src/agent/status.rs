//! `status`: what state.json records, checked against what answers on the socket.

use std::path::Path;

use super::*;

/// What is installed and what answers, for `status`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Status {
    /// state.json.
    pub installed: Option<Installed>,
    /// An interrupted change is pending (the next run finishes or undoes it).
    pub interrupted_change: bool,
    /// The version answering on the socket now, when it answers.
    pub running_version: Option<String>,
    /// Why the running containerd is not the installed one, or is unhealthy.
    pub problem: Option<String>,
}

/// The node's containerd as it is: state.json checked against what answers.
pub async fn status(
    host_root: &Path,
    service: &dyn ServiceManager,
    query: &dyn Query,
) -> Result<Status, Error> {
    let installed = state::load(host_root)?;
    let interrupted_change = journal::load(host_root)
        .map_err(|e| refused(e.to_string(), "inspect the file"))?
        .is_some();
    let expect = installed.as_ref().map(|s| Expect {
        exec: s.exec.clone(),
        version: s.version.clone(),
    });
    let ctr = match &expect {
        Some(e) => e.ctr(host_root),
        None => layout::at(host_root, "usr/bin/ctr"),
    };
    let running = query.server(host_root, &ctr).await;
    let problem = match (&expect, &running) {
        (_, Err(e)) => Some(e.clone()),
        (Some(e), Ok(_)) => health::check(service, query, host_root, e)
            .await
            .err()
            .map(|(w, _)| w),
        (None, Ok(_)) => None,
    };
    Ok(Status {
        installed,
        interrupted_change,
        running_version: running.ok().map(|s| s.version),
        problem,
    })
}
