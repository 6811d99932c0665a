//! Arbitrary `--set` / `--set-string` input goes through the whole pipeline (parse, translate,
//! schema, validation) and ends in a config or an error, never a panic.

use cococtl_profile::{builtin, resolve, Inputs, SetArg};
use proptest::prelude::*;

fn inputs(sets: Vec<(bool, String)>) -> Inputs {
    Inputs {
        profile: Some(("x86_64".into(), builtin::source("x86_64").unwrap().into())),
        sets: sets
            .into_iter()
            .map(|(string, arg)| SetArg { string, arg })
            .collect(),
        namespace: "coco-system".into(),
        ..Default::default()
    }
}

/// Keys users really set, so the generator reaches deep into validation, not just the parser.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("debug".to_string()),
        Just("defaultShim.amd64".to_string()),
        Just("shims.qemu-snp.enabled".to_string()),
        Just("shims.qemu-snp.supportedArches[0]".to_string()),
        Just("shims.qemu-tdx.containerd.snapshotter".to_string()),
        Just("snapshotter.setup".to_string()),
        Just("env.multiInstallSuffix".to_string()),
        Just("image.reference".to_string()),
        Just("affinity".to_string()),
        Just("kata-as-coco-runtime.env.shims".to_string()),
        Just("customContainerd.enabled".to_string()),
        Just("customContainerd.tarballUrl".to_string()),
        "[a-zA-Z.\\[\\]0-9\\\\-]{1,24}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_set_arguments_never_panic(args in proptest::collection::vec((any::<bool>(), any::<String>()), 0..4)) {
        let _ = resolve(&inputs(args));
    }

    #[test]
    fn known_keys_with_arbitrary_values_never_panic(
        pairs in proptest::collection::vec((any::<bool>(), key(), "[ -~]{0,30}"), 1..5)
    ) {
        let sets = pairs.into_iter().map(|(s, k, v)| (s, format!("{k}={v}"))).collect();
        let _ = resolve(&inputs(sets));
    }
}
