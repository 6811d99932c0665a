//! Helm's `--set` syntax: the cases of Helm 3's `pkg/strvals/parser_test.go`, ported, plus
//! property tests.

use cococtl_profile::set_syntax::{apply, parse, Mode, MAX_INDEX};
use proptest::prelude::*;
use serde_yaml::Value;

fn y(s: &str) -> Value {
    serde_yaml::from_str(s).unwrap()
}

/// (input, expected YAML or None for an error), `--set` mode.
const TYPED: &[(&str, Option<&str>)] = &[
    (
        "name1=null,f=false,t=true",
        Some("{name1: null, f: false, t: true}"),
    ),
    ("name1=value1", Some("{name1: value1}")),
    (
        "name1=value1,name2=value2",
        Some("{name1: value1, name2: value2}"),
    ),
    (
        "name1=value1,name2=value2,",
        Some("{name1: value1, name2: value2}"),
    ),
    ("name1=value1,,,,name2=value2,", None),
    ("name1=,name2=value2", Some("{name1: '', name2: value2}")),
    ("leading_zeros=00009", Some("{leading_zeros: '00009'}")),
    ("zero_int=0", Some("{zero_int: 0}")),
    ("long_int=1234567890", Some("{long_int: 1234567890}")),
    ("boolean=true", Some("{boolean: true}")),
    ("is_null=null", Some("{is_null: null}")),
    ("name1,name2=", None),
    ("name1,name2=value2", None),
    ("name1,name2=value2\\", None),
    ("name1,name2", None),
    (
        "name1=one\\,two,name2=three\\,four",
        Some("{name1: 'one,two', name2: 'three,four'}"),
    ),
    (
        "name1=one\\=two,name2=three\\=four",
        Some("{name1: 'one=two', name2: 'three=four'}"),
    ),
    (
        "name1=one two three,name2=three two one",
        Some("{name1: one two three, name2: three two one}"),
    ),
    ("outer.inner=value", Some("{outer: {inner: value}}")),
    (
        "outer.middle.inner=value",
        Some("{outer: {middle: {inner: value}}}"),
    ),
    (
        "outer.inner1=value,outer.inner2=value2",
        Some("{outer: {inner1: value, inner2: value2}}"),
    ),
    (
        "outer.inner1=value,outer.middle.inner=value",
        Some("{outer: {inner1: value, middle: {inner: value}}}"),
    ),
    ("name1.name2", None),
    ("name1.name2,name1.name3", None),
    ("name1.name2=", Some("{name1: {name2: ''}}")),
    ("name1.=name2", None),
    ("name1.,name2", None),
    ("name1={value1,value2}", Some("{name1: [value1, value2]}")),
    (
        "name1={value1,value2},name2={value1,value2}",
        Some("{name1: [value1, value2], name2: [value1, value2]}"),
    ),
    ("name1={1021,902}", Some("{name1: [1021, 902]}")),
    (
        "name1.name2={value1,value2}",
        Some("{name1: {name2: [value1, value2]}}"),
    ),
    ("name1={1021,902", None),
    ("list[0]=foo", Some("{list: [foo]}")),
    ("list[0].foo=bar", Some("{list: [{foo: bar}]}")),
    (
        "list[0].foo=bar,list[0].hello=world",
        Some("{list: [{foo: bar, hello: world}]}"),
    ),
    ("list[0].foo=bar,list[-30].hello=world", None),
    ("list[0]=foo,list[1]=bar", Some("{list: [foo, bar]}")),
    ("list[0]=foo,list[1]=bar,", Some("{list: [foo, bar]}")),
    (
        "list[0]=foo,list[3]=bar",
        Some("{list: [foo, null, null, bar]}"),
    ),
    ("list[0]=foo,list[-20]=bar", None),
    ("illegal[0]name.foo=bar", None),
    ("noval[0]", Some("{noval: []}")),
    ("noval[0]=", Some("{noval: ['']}")),
    ("nested[0][0]=1", Some("{nested: [[1]]}")),
    ("nested[1][1]=1", Some("{nested: [null, [null, 1]]}")),
    (
        "name1.name2[0].foo=bar,name1.name2[1].foo=bar",
        Some("{name1: {name2: [{foo: bar}, {foo: bar}]}}"),
    ),
    (
        "name1.name2[1].foo=bar,name1.name2[0].foo=bar",
        Some("{name1: {name2: [{foo: bar}, {foo: bar}]}}"),
    ),
    (
        "name1.name2[1].foo=bar",
        Some("{name1: {name2: [null, {foo: bar}]}}"),
    ),
    ("]={}].", None),
];

#[test]
fn helms_parser_table_gives_the_same_values_and_errors() {
    for (input, want) in TYPED {
        let got = parse(input, Mode::Typed);
        match want {
            Some(w) => assert_eq!(got.as_ref().ok(), Some(&y(w)), "{input}: {got:?}"),
            None => assert!(got.is_err(), "{input}: expected an error, got {got:?}"),
        }
    }
}

#[test]
fn set_string_keeps_every_scalar_a_string() {
    for (input, want) in [
        (
            "long_int_string=1234567890",
            "{long_int_string: '1234567890'}",
        ),
        ("boolean=true", "{boolean: 'true'}"),
        ("is_null=null", "{is_null: 'null'}"),
        ("zero=0", "{zero: '0'}"),
    ] {
        assert_eq!(parse(input, Mode::String).unwrap(), y(want), "{input}");
    }
}

#[test]
fn typed_values_follow_helms_typed_val() {
    for (v, want) in [
        ("TRUE", "true"),
        ("False", "false"),
        ("NULL", "null"),
        ("-5", "-5"),
        ("+5", "5"),
        ("1.5", "'1.5'"),
        ("0x10", "'0x10'"),
        ("99999999999999999999", "'99999999999999999999'"),
    ] {
        assert_eq!(
            parse(&format!("a={v}"), Mode::Typed).unwrap(),
            y(&format!("{{a: {want}}}")),
            "{v}"
        );
    }
}

#[test]
fn parse_into_overwrites_and_keeps_siblings() {
    let mut got = y("{outer: {inner1: overwrite, inner2: value2}}");
    apply(
        &mut got,
        "outer.inner1=value1,outer.inner3=value3,outer.inner4=4",
        Mode::Typed,
    )
    .unwrap();
    assert_eq!(
        got,
        y("{outer: {inner1: value1, inner2: value2, inner3: value3, inner4: 4}}")
    );
}

#[test]
fn parse_into_merges_nested_lists_of_maps() {
    for (a, b, want) in [
        (
            "listOuter[0][0].type=listValue",
            "listOuter[0][0].status=alive",
            "{listOuter: [[{type: listValue, status: alive}]]}",
        ),
        (
            "listOuter[0][0].type=listValue",
            "listOuter[1][0].status=alive",
            "{listOuter: [[{type: listValue}], [{status: alive}]]}",
        ),
    ] {
        let mut got = y("{}");
        apply(&mut got, a, Mode::Typed).unwrap();
        apply(&mut got, b, Mode::Typed).unwrap();
        assert_eq!(got, y(want), "{a} then {b}");
    }
    let mut got = y("{listOuter: [[[{exited: old}]]]}");
    apply(&mut got, "listOuter[0][1][0].type=listValue", Mode::Typed).unwrap();
    apply(&mut got, "listOuter[0][0][1].status=alive", Mode::Typed).unwrap();
    assert_eq!(
        got,
        y("{listOuter: [[[{exited: old}, {status: alive}], [{type: listValue}]]]}")
    );
}

#[test]
fn parse_into_string_mode() {
    let mut got = y("{outer: {inner1: overwrite, inner2: value2}}");
    apply(&mut got, "outer.inner1=1,outer.inner3=3", Mode::String).unwrap();
    assert_eq!(
        got,
        y("{outer: {inner1: '1', inner2: value2, inner3: '3'}}")
    );
}

#[test]
fn escaped_dots_make_one_key() {
    assert_eq!(
        parse(
            "nodeSelector.nvidia\\.com/cc\\.ready\\.state=true",
            Mode::String
        )
        .unwrap(),
        y("{nodeSelector: {nvidia.com/cc.ready.state: 'true'}}")
    );
}

#[test]
fn index_above_the_limit_is_refused_without_allocating() {
    assert!(parse(&format!("a[{MAX_INDEX}]=x"), Mode::Typed).is_ok());
    let e = parse(&format!("a[{}]=x", MAX_INDEX + 1), Mode::Typed).unwrap_err();
    assert!(
        e.to_string()
            .contains("greater than maximum supported index of 65536"),
        "{e}"
    );
    assert!(parse("a[99999999999999999999999]=x", Mode::Typed).is_err());
}

#[test]
fn nesting_deeper_than_helms_limit_is_refused() {
    let deep = format!("{}=x", vec!["k"; 32].join("."));
    assert!(parse(&deep, Mode::Typed)
        .unwrap_err()
        .to_string()
        .contains("nested level"));
}

#[test]
fn descending_into_a_scalar_is_an_error_not_a_silent_replace() {
    assert!(parse("a=1,a.b=2", Mode::Typed).is_err());
    assert!(parse("a=1,a[0]=2", Mode::Typed).is_err());
}

#[test]
fn a_failing_argument_changes_nothing() {
    let mut got = y("{keep: me}");
    assert!(apply(&mut got, "x=1,y[", Mode::Typed).is_err());
    assert_eq!(got, y("{keep: me}"));
}

#[test]
fn errors_name_the_flag_the_argument_and_the_fix() {
    let e = parse("a[x]=1", Mode::Typed).unwrap_err().to_string();
    assert!(
        e.starts_with("--set 'a[x]=1': error parsing index: \"x\" is not a number"),
        "{e}"
    );
    assert!(e.contains("fix: "), "{e}");
    let e = parse("a", Mode::String).unwrap_err().to_string();
    assert!(
        e.starts_with("--set-string 'a': key \"a\" has no value"),
        "{e}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn any_input_parses_or_errors_without_panicking(s in ".{0,64}", typed in any::<bool>()) {
        let _ = parse(&s, if typed { Mode::Typed } else { Mode::String });
    }

    #[test]
    fn syntax_heavy_input_never_panics(s in "[a-z0-9\\[\\]{}=,.\\\\-]{0,40}") {
        let _ = parse(&s, Mode::Typed);
        let mut tree = y("{a: {b: [1, {c: d}]}, l: [[x]]}");
        let _ = apply(&mut tree, &s, Mode::Typed);
    }

    #[test]
    fn simple_pairs_round_trip(
        path in proptest::collection::vec("[a-z][a-z0-9_-]{0,8}", 1..5),
        value in "[a-zA-Z][a-zA-Z0-9 _/:-]{0,20}",
    ) {
        let got = parse(&format!("{}={value}", path.join(".")), Mode::String).unwrap();
        let mut cur = &got;
        for k in &path {
            cur = &cur[k.as_str()];
        }
        prop_assert_eq!(cur, &Value::String(value));
    }
}
