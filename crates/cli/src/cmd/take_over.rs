//! `cococtl install --take-over`: find the kata installs the cluster has, print the plan,
//! refuse (exit 2) what cannot be taken over safely, run the plan's steps in order with a
//! record of how far they got (a rerun continues from it), check that nothing of the old
//! installs is left, then install cococtl's release as `install` does
//! (docs/take-over.md#execution).

use std::process::ExitCode;

use cococtl_cluster::core::takeover::{self, record::Record};
use cococtl_cluster::deploy::Mode;
use cococtl_cluster::observe::Observer;
use cococtl_cluster::spec::ReleaseSpec;
use cococtl_cluster::takeover_run;
use cococtl_manifests::{plan, ClusterFacts};
use cococtl_profile::Inputs;

use super::install::{deploy_inputs, DeployArgs};
use super::kube_args::{self, fail, Display, KubeArgs};
use crate::exit;

/// What `install --take-over` needs beyond `install`'s arguments.
pub struct TakeOver {
    /// Nodes a clean-up DaemonSet works on at once.
    pub max_unavailable: usize,
    /// `--drain`: evict the old installs' kata pods instead of refusing.
    pub drain: bool,
}

/// Installs in the way of cococtl's release (the operator without a CcRuntime stays).
fn in_the_way(found: &[takeover::FoundInstall]) -> Vec<&takeover::FoundInstall> {
    found.iter().filter(|f| !f.stays()).collect()
}

pub async fn run(inputs: Inputs, kube: &KubeArgs, args: &DeployArgs, t: TakeOver) -> ExitCode {
    let resolved = match cococtl_profile::resolve(&inputs) {
        Ok(r) => r,
        Err(e) => return exit::invalid(&e.to_string()),
    };
    let the_plan = plan(&resolved.config, ClusterFacts::default());
    let profile = inputs
        .profile
        .as_ref()
        .map_or("<profile>", |(name, _)| name.as_str())
        .to_string();
    let spec = ReleaseSpec::new(&resolved.config, &the_plan);
    if args.dry_run.is_some() {
        return exit::invalid(
            "--take-over with --dry-run: `cococtl diff --take-over` shows what the take-over would do",
        );
    }
    let cluster = match kube
        .connect_for(kube_args::step_patience(true, args.timeout))
        .await
    {
        Ok(c) => c,
        Err(code) => return code,
    };
    let opts = takeover_run::Options {
        namespace: &spec.namespace,
        instance: &spec.instance,
        max_unavailable: t.max_unavailable,
        timeout: args.timeout,
        poll: takeover_run::POLL,
        stop_after: None,
    };
    let mut rec = match takeover_run::load(&cluster, &spec.namespace).await {
        Ok(r) => r,
        Err(e) => return fail(&e),
    };
    if let Some(r) = &rec {
        eprintln!("take-over: continuing the recorded one: {}", r.describe());
    } else {
        let have = cococtl_cluster::takeover::Listed {
            with_pods: true,
            ..Default::default()
        };
        let (found, errors, listed) =
            match cococtl_cluster::takeover::detect_with_inputs(&cluster, have).await {
                Ok(x) => x,
                Err(e) => return fail(&e),
            };
        if !errors.is_empty() {
            // A release cococtl cannot read could own anything: nothing is safe to remove.
            return exit::invalid(&format!(
                "--take-over: {}\n  fix: repair or remove that Helm release, then run again",
                errors
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ")
            ));
        }
        let target = takeover::Target::of(&the_plan, &spec.namespace, t.drain);
        let words = takeover::plan(&found, &target);
        eprint!("{}", takeover::render(&found, &words, &target));
        if !words.refusals.is_empty() {
            return kube_args::exit_with(
                kube_args::INPUT,
                "--take-over refused (see above); nothing was changed",
            );
        }
        if !in_the_way(&found).is_empty() {
            let r = Record {
                started: kube_args::now(),
                installs: takeover::actions::actions(&found, &listed, &spec.instance, t.drain),
                done: 0,
                stopped: None,
            };
            // A 403 half-way would leave the cluster between two installs: ask first.
            let need = takeover::actions::permissions(&r.installs, &spec.namespace);
            if let Err(e) = cococtl_cluster::preflight::require(&cluster, &need).await {
                return fail(&e);
            }
            if let Err(e) = takeover_run::save(&cluster, &r, &opts).await {
                return fail(&e);
            }
            rec = Some(r);
        }
    }
    if let Some(mut r) = rec {
        let mut display = Display::new();
        let result = tokio::select! {
            r = takeover_run::run(&cluster, &mut r, &opts, &mut display) => r,
            _ = tokio::signal::ctrl_c() => {
                display.done();
                return kube_args::exit_with(kube_args::NOT_READY, "interrupted: the take-over record says how far it got; run the same command again to continue");
            }
        };
        display.done();
        if let Err(e) = result {
            eprintln!("error: {e}");
            eprintln!("  the take-over stopped at step {} of {}: run the same command again to continue from there (cococtl status shows where it is)", r.done + 1, r.total());
            return ExitCode::from(e.exit_code());
        }
        // Nothing of what was found may be left before cococtl's release goes on.
        let left = match cococtl_cluster::takeover::detect(&cluster, Default::default()).await {
            Ok((left, _)) => left,
            Err(e) => return fail(&e),
        };
        let left = in_the_way(&left);
        if !left.is_empty() {
            let names: Vec<String> = left.iter().map(|f| f.title()).collect();
            eprintln!(
                "error: the take-over's steps are done, but the cluster still has: {}",
                names.join("; ")
            );
            eprintln!("  fix: `cococtl diff --profile {profile} --take-over` shows it; once it is gone or taken over, run install again");
            if let Err(e) = takeover_run::forget(&cluster, &spec.namespace).await {
                eprintln!("warning: {e}");
            }
            return ExitCode::from(kube_args::NOT_READY);
        }
        if let Err(e) = takeover_run::forget(&cluster, &spec.namespace).await {
            return fail(&e);
        }
        eprintln!(
            "take-over: the old install(s) are gone from the cluster; installing cococtl's release"
        );
    }
    deploy_inputs(Mode::Install, inputs, kube, args).await
}
