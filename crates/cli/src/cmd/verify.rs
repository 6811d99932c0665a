//! `cococtl verify`: one short-lived pod per RuntimeClass; a guest kernel other than the
//! node's proves the pod ran in a VM.

use std::process::ExitCode;
use std::time::Duration;

use cococtl_cluster::{status, verify};
use serde_json::json;

use super::kube_args::{exit_with, fail, parse_duration, KubeArgs, Output, INPUT, NOT_READY};
use crate::exit;

/// Run a pod with each RuntimeClass and check it ran in a VM
#[derive(clap::Args)]
#[command(
    after_help = "Exit codes: 0 every class ran its pod in a VM, 1 a class failed or did not run in a VM,
2 input, 3 cluster or API error. The pods are deleted in every case (also on Ctrl-C)."
)]
pub struct VerifyArgs {
    /// Namespace of the release (the verify pods run there)
    #[arg(short = 'n', long, default_value = "coco-system")]
    pub namespace: String,
    /// RuntimeClass to check (repeatable; default: every class of the release)
    #[arg(long = "runtime-class", value_name = "NAME")]
    pub runtime_classes: Vec<String>,
    /// Image of the verify pods (any image with `uname`). Default: registry.k8s.io's
    /// busybox, moved to the release's global.imageRegistry when it has one
    #[arg(long)]
    pub image: Option<String>,
    /// How long each pod may take
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    pub timeout: Duration,
    /// Output format
    #[arg(short = 'o', long, value_enum, default_value = "text")]
    pub output: Output,
    #[command(flatten)]
    pub kube: KubeArgs,
}

/// The release's `global.imageRegistry` (when set) and `global.imagePullSecrets` names,
/// from its recorded effective values.
fn release_global(values: &serde_json::Value) -> (Option<String>, Vec<String>) {
    let g = &values["global"];
    let registry = g["imageRegistry"]
        .as_str()
        .map(|r| r.trim().trim_end_matches('/').to_string())
        .filter(|r| !r.is_empty());
    let secrets = g["imagePullSecrets"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().or_else(|| s["name"].as_str()))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    (registry, secrets)
}

pub async fn run(args: VerifyArgs) -> ExitCode {
    let cluster = match args.kube.connect_for(args.timeout).await {
        Ok(c) => c,
        Err(code) => return code,
    };
    let facts = match status::gather(&cluster, &args.namespace, None).await {
        Ok(f) => Some(f),
        // Classes named: the release is only needed for the peer-pods stages.
        Err(_) if !args.runtime_classes.is_empty() => None,
        Err(e) => return fail(&e),
    };
    // Peer pods in the release: kata-remote is checked stage by stage.
    let peer = facts
        .as_ref()
        .and_then(|f| f.release.as_ref())
        .and_then(|r| {
            let caa = r
                .inventory
                .iter()
                .any(|i| i.kind == "DaemonSet" && i.name == "cloud-api-adaptor-daemonset");
            caa.then(|| verify::PeerPodsCheck {
                runtime_class: "kata-remote".into(),
                webhook: r
                    .inventory
                    .iter()
                    .any(|i| i.kind == "MutatingWebhookConfiguration"),
            })
        });
    // A release installed from a mirror (global.imageRegistry) pulls the verify image from
    // it too, with its pull secrets (docs/values.md#global).
    let global = facts
        .as_ref()
        .and_then(|f| f.release.as_ref())
        .map(|r| release_global(&r.values))
        .unwrap_or_default();
    let image = args.image.clone().unwrap_or_else(|| match &global.0 {
        Some(m) => cococtl_profile::mirror::rewrite(verify::DEFAULT_IMAGE, m),
        None => verify::DEFAULT_IMAGE.to_string(),
    });
    let classes: Vec<String> = if args.runtime_classes.is_empty() {
        facts
            .map(|f| f.runtime_classes.into_iter().map(|r| r.name).collect())
            .unwrap_or_default()
    } else {
        args.runtime_classes.clone()
    };
    if classes.is_empty() {
        return exit_with(
            INPUT,
            &format!(
                "no RuntimeClass of a release in {}: name one with --runtime-class",
                args.namespace
            ),
        );
    }
    let result = tokio::select! {
        r = verify::run_pulling(&cluster, &args.namespace, &classes, &image, &global.1, args.timeout, peer.as_ref()) => r,
        _ = tokio::signal::ctrl_c() => {
            let _ = verify::cleanup(&cluster, &args.namespace).await;
            return exit_with(NOT_READY, "interrupted: verify pods deleted");
        }
    };
    let results = match result {
        Ok(r) => r,
        Err(e) => {
            let _ = verify::cleanup(&cluster, &args.namespace).await;
            return fail(&e);
        }
    };
    let ok = results.iter().all(|r| r.in_vm == Some(true));
    let text = match args.output {
        Output::Json => format!("{}\n", serde_json::to_string_pretty(&json!({"schema": "cococtl.confidentialcontainers.org/verify/v1", "results": results})).unwrap_or_default()),
        Output::Yaml => serde_yaml::to_string(&json!({"schema": "cococtl.confidentialcontainers.org/verify/v1", "results": results})).unwrap_or_default(),
        Output::Text => {
            let mut s = format!("{:<28} {:<12} {:<7} {:<9} {}\n", "RUNTIMECLASS", "NODE", "IN-VM", "RUNNING", "DETAIL");
            for r in &results {
                let detail = match (&r.error, &r.guest_kernel, &r.node_kernel) {
                    (Some(e), _, _) => e.clone(),
                    (None, Some(g), Some(n)) => format!("guest kernel {g}, node kernel {n}"),
                    _ => String::new(),
                };
                s.push_str(&format!(
                    "{:<28} {:<12} {:<7} {:<9} {}\n",
                    r.runtime_class,
                    r.node.as_deref().unwrap_or("-"),
                    match r.in_vm { Some(true) => "yes", Some(false) => "NO", None => "-" },
                    r.seconds_to_running.map(|t| format!("{t:.1}s")).unwrap_or_else(|| "-".into()),
                    detail
                ));
            }
            s
        }
    };
    let _ = exit::print(&text);
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(NOT_READY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_release_mirror_and_pull_secrets_are_read_from_its_values() {
        let v = json!({"global": {"imageRegistry": "registry.example.com/coco/", "imagePullSecrets": ["a", {"name": "b"}]}});
        assert_eq!(
            release_global(&v),
            (
                Some("registry.example.com/coco".into()),
                vec!["a".into(), "b".into()]
            )
        );
        let none = json!({"global": {"imageRegistry": "", "imagePullSecrets": []}});
        assert_eq!(release_global(&none), (None, vec![]));
        assert_eq!(release_global(&json!({})), (None, vec![]));
    }
}
