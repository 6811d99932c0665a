//! `docs/probe-checks.md` documents every check under its anchor (the id with dots replaced
//! by dashes) and has the sections the code cites.

use cococtl_probe::id::CheckId;

fn doc() -> String {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join("docs/probe-checks.md");
    std::fs::read_to_string(p).unwrap()
}

#[test]
fn every_check_has_an_anchor_and_a_heading_in_the_docs() {
    let doc = doc();
    let missing: Vec<&str> = CheckId::ALL
        .iter()
        .filter(|id| {
            !doc.contains(&format!("<a id=\"{}\"></a>", id.anchor()))
                || !doc.contains(&format!("#### {}:", id.as_str()))
        })
        .map(|id| id.as_str())
        .collect();
    assert!(missing.is_empty(), "undocumented checks: {missing:?}");
}

#[test]
fn the_cited_sections_exist() {
    let doc = doc();
    for a in [
        "catalogue",
        "recommendation",
        "exit-codes",
        "schema",
        "fixtures",
    ] {
        assert!(doc.contains(&format!("<a id=\"{a}\"></a>")), "{a}");
    }
}

#[test]
fn every_check_is_in_the_catalogue_once() {
    let ids: Vec<CheckId> = cococtl_probe::checks::all().iter().map(|c| c.id).collect();
    assert_eq!(
        ids,
        CheckId::ALL,
        "checks::all() must list every id, in order"
    );
}
