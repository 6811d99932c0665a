//! `--set` writes into the values the profile and `-f` files built, as Helm's
//! `strvals.ParseInto` does: Helm's own ParseInto table run through `resolve`, the four cases
//! observed against real Helm (issue 15), and `--set-string` booleans.

use cococtl_profile::{builtin, resolve, Inputs, Resolved, SetArg};
use serde_yaml::Value;

fn y(s: &str) -> Value {
    serde_yaml::from_str(s).unwrap()
}

fn inputs(files: &[&str], sets: &[&str], strings: &[&str]) -> Inputs {
    Inputs {
        profile: Some(("x86_64".into(), builtin::source("x86_64").unwrap().into())),
        files: files
            .iter()
            .enumerate()
            .map(|(i, t)| (format!("f{i}.yaml"), t.to_string()))
            .collect(),
        sets: sets
            .iter()
            .map(|a| SetArg {
                string: false,
                arg: a.to_string(),
            })
            .chain(strings.iter().map(|a| SetArg {
                string: true,
                arg: a.to_string(),
            }))
            .collect(),
        namespace: "coco-system".into(),
        ..Default::default()
    }
}

fn resolved(files: &[&str], sets: &[&str], strings: &[&str]) -> Resolved {
    resolve(&inputs(files, sets, strings)).unwrap_or_else(|e| panic!("{sets:?}: {e}"))
}

/// Helm's `TestParseInto` and `TestParseIntoString` (pkg/strvals/parser_test.go): the tree
/// before (here a `-f` file, `{}` for none), one or two `--set`, the tree after. Keys the
/// chart does not know are warned about and kept in the values, so the table runs on them.
const PARSE_INTO: &[(&str, &[&str], &str, &str)] = &[
    (
        "outer: {inner1: overwrite, inner2: value2}",
        &["outer.inner1=value1,outer.inner3=value3,outer.inner4=4"],
        "outer",
        "{inner1: value1, inner2: value2, inner3: value3, inner4: 4}",
    ),
    (
        "{}",
        &[
            "listOuter[0][0].type=listValue",
            "listOuter[0][0].status=alive",
        ],
        "listOuter",
        "[[{type: listValue, status: alive}]]",
    ),
    (
        "{}",
        &[
            "listOuter[0][0].type=listValue",
            "listOuter[1][0].status=alive",
        ],
        "listOuter",
        "[[{type: listValue}], [{status: alive}]]",
    ),
    (
        "listOuter: [[[{exited: old}]]]",
        &[
            "listOuter[0][1][0].type=listValue",
            "listOuter[0][0][1].status=alive",
        ],
        "listOuter",
        "[[[{exited: old}, {status: alive}], [{type: listValue}]]]",
    ),
];

#[test]
fn helms_parse_into_table_holds_through_resolve() {
    for (file, sets, key, want) in PARSE_INTO {
        let r = resolved(&[file], sets, &[]);
        assert_eq!(r.values[*key], y(want), "{file} then {sets:?}");
    }
    // TestParseIntoString: --set-string writes into the tree the same way.
    let r = resolved(
        &["outer: {inner1: overwrite, inner2: value2}"],
        &[],
        &["outer.inner1=1,outer.inner3=3"],
    );
    assert_eq!(
        r.values["outer"],
        y("{inner1: '1', inner2: value2, inner3: '3'}")
    );
}

#[test]
fn several_sets_on_one_list_element_compose_into_one_toleration() {
    let r = resolved(
        &[],
        &[
            "tolerations[0].key=dedicated",
            "tolerations[0].operator=Exists",
            "tolerations[0].effect=NoSchedule",
        ],
        &[],
    );
    let t = &r.config.tolerations;
    assert_eq!(t.len(), 1, "{t:?}");
    assert_eq!(t[0].key.as_deref(), Some("dedicated"));
    assert_eq!(t[0].operator.as_deref(), Some("Exists"));
    assert_eq!(t[0].effect.as_deref(), Some("NoSchedule"));
}

#[test]
fn a_set_on_the_next_index_extends_the_list_a_previous_set_wrote() {
    let r = resolved(
        &[],
        &["imagePullSecrets[0].name=a", "imagePullSecrets[1].name=b"],
        &[],
    );
    let names: Vec<_> = r
        .config
        .image_pull_secrets
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(names, ["a", "b"]);
}

#[test]
fn an_index_reaches_into_the_list_a_file_gave_and_keeps_the_other_fields() {
    let file = "tolerations:\n- {key: a, operator: Exists}\n- {key: b, operator: Exists}\n";
    let r = resolved(&[file], &["tolerations[0].effect=NoExecute"], &[]);
    assert_eq!(
        r.values["tolerations"],
        y("[{key: a, operator: Exists, effect: NoExecute}, {key: b, operator: Exists}]")
    );
    assert_eq!(r.config.tolerations.len(), 2);
}

#[test]
fn an_index_past_the_end_of_a_profile_list_appends_to_it() {
    let r = resolved(
        &[],
        &[
            "shims.qemu-coco-dev.supportedArches[1]=s390x",
            "defaultShim.s390x=qemu-coco-dev",
        ],
        &[],
    );
    assert_eq!(
        r.values["shims"]["qemu-coco-dev"]["supportedArches"],
        y("[amd64, s390x]")
    );
}

#[test]
fn a_gap_in_the_list_is_padded_with_nulls_as_helm_does() {
    let r = resolved(&[], &["imagePullSecrets[2].name=c"], &[]);
    assert_eq!(r.values["imagePullSecrets"], y("[null, null, {name: c}]"));
}

#[test]
fn a_later_file_still_replaces_a_list_and_set_writes_into_the_result() {
    let r = resolved(
        &["tolerations: [{key: a}]", "tolerations: [{key: b}]"],
        &["tolerations[0].operator=Exists"],
        &[],
    );
    assert_eq!(r.values["tolerations"], y("[{key: b, operator: Exists}]"));
}

#[test]
fn set_string_false_on_a_boolean_key_is_read_as_false_with_a_warning() {
    let r = resolved(&[], &[], &["debug=false"]);
    assert!(!r.config.debug);
    let w: Vec<String> = r.warnings.iter().map(|w| w.to_string()).collect();
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(
        w[0].starts_with("debug (from --set-string 'debug=false'): ")
            && w[0].contains("Helm's templates treat every non-empty string as true")
            && w[0].contains("--set debug=false"),
        "{}",
        w[0]
    );
    assert!(!w[0].contains('\n'), "one line: {}", w[0]);
}

#[test]
fn set_string_false_warns_for_every_boolean_key_and_not_for_strings_or_true() {
    let r = resolved(
        &[],
        &[],
        &["shims.qemu-snp.enabled=false,runtimeClasses.overheadEnabled=false,env.hostOS=false,devkit=true"],
    );
    let paths: Vec<&str> = r
        .warnings
        .iter()
        .filter(|w| w.message.contains("Helm's templates"))
        .map(|w| w.path.as_str())
        .collect();
    assert_eq!(
        paths,
        ["shims.qemu-snp.enabled", "runtimeClasses.overheadEnabled"]
    );
    assert!(!r.config.shims.iter().any(|s| s.name() == "qemu-snp"));
}
