//! Every citation of the project's docs in the code resolves inside the repository.
//!
//! Code comments and error messages cite `docs/<file>.md#<anchor>`. The first test walks
//! every `.rs` file under `crates/` and the top-level `README.md`, and checks that each
//! cited file exists and holds the anchor (an explicit `id="<anchor>"` or a heading whose
//! GitHub slug is the anchor). The second checks that links between the docs resolve too.
//! The third lists every citation of the old, out-of-repo research notes: their file names without the `docs/` prefix, section
//! signs and bare gotcha numbers such as `G5`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Files whose content is captured output or test data, not prose that cites anything.
const SKIPPED_DIRS: &[&str] = &["tests/golden", "tests/fixtures"];
/// The old notes, by file name.
const OLD_NOTES: &[&str] = &[
    "kata-deploy-contract.md",
    "probe-checks.md",
    "operator-and-peerpods.md",
];

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn this_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/doc_citations.rs")
}

fn rs_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<PathBuf> = entries.filter_map(|e| e.ok()).map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if p.is_dir() {
            if name != "target" && !name.starts_with('.') {
                rs_files(&p, out);
            }
        } else if name.ends_with(".rs") {
            out.push(p);
        }
    }
}

/// Every `.rs` file under `crates/`, the built-in profiles and chart defaults (compiled
/// into the binary and shown by `profiles show`), then `README.md`.
fn sources() -> Vec<PathBuf> {
    let root = repo_root();
    let mut files = vec![];
    rs_files(&root.join("crates"), &mut files);
    let mut yaml: Vec<PathBuf> = std::fs::read_dir(root.join("profiles"))
        .map(|it| it.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    yaml.sort();
    files.extend(yaml);
    files.push(root.join("crates/profile/src/kata_4_1/defaults.yaml"));
    files.push(root.join("README.md"));
    files
}

fn rel(p: &Path) -> String {
    let root = repo_root();
    let root = root.canonicalize().unwrap_or(root);
    let p = p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
    p.strip_prefix(&root)
        .unwrap_or(&p)
        .to_string_lossy()
        .into_owned()
}

fn is_path_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/')
}

fn is_anchor_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-')
}

/// A citation of `docs/<file>.md` with an optional `#anchor`, at byte `at` of its line.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Citation {
    at: usize,
    len: usize,
    file: String,
    anchor: Option<String>,
}

/// The `docs/...md[#anchor]` citations of one line. `docs/` must start a path: the old notes
/// lived in another repository's `docs/` (`../shared/docs/x.md`), which does not count.
fn citations(line: &str) -> Vec<Citation> {
    let mut out = vec![];
    let mut from = 0;
    while let Some(i) = line[from..].find("docs/") {
        let start = from + i;
        from = start + "docs/".len();
        if line[..start].chars().next_back().is_some_and(is_path_char) {
            continue;
        }
        let rest = &line[from..];
        let path_len = rest.find(|c: char| !is_path_char(c)).unwrap_or(rest.len());
        let mut path = &rest[..path_len];
        // A sentence may end right after the file name.
        while path.ends_with('.') && !path.ends_with(".md") {
            path = &path[..path.len() - 1];
        }
        if !path.ends_with(".md") || path.len() == ".md".len() {
            continue;
        }
        let after = &rest[path.len()..];
        let anchor = after.strip_prefix('#').map(|a| {
            let n = a.find(|c: char| !is_anchor_char(c)).unwrap_or(a.len());
            a[..n].to_string()
        });
        let len = "docs/".len() + path.len() + anchor.as_ref().map_or(0, |a| a.len() + 1);
        out.push(Citation {
            at: start,
            len,
            file: path.to_string(),
            anchor: anchor.filter(|a| !a.is_empty()),
        });
        from = start + len;
    }
    out
}

/// GitHub's heading slug: lowercase, punctuation except `-` and `_` dropped, spaces to `-`.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// Every anchor a Markdown file defines: explicit `id="..."` and heading slugs (repeated
/// headings get `-1`, `-2`, ... as on GitHub). Headings inside code fences do not count.
fn anchors(markdown: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut fenced = false;
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        let mut rest = line;
        while let Some(i) = rest.find("id=\"") {
            let tail = &rest[i + 4..];
            match tail.find('"') {
                Some(end) => {
                    out.insert(tail[..end].to_string());
                    rest = &tail[end..];
                }
                None => break,
            }
        }
        if fenced {
            continue;
        }
        let hashes = line.chars().take_while(|c| *c == '#').count();
        if (1..=6).contains(&hashes) && line[hashes..].starts_with(' ') {
            let base = slug(&line[hashes..]);
            let mut s = base.clone();
            let mut n = 0;
            while out.contains(&s) {
                n += 1;
                s = format!("{base}-{n}");
            }
            out.insert(s);
        }
    }
    out
}

/// Why `docs/<file>[#anchor]` does not resolve, if it does not.
fn broken(file: &str, anchor: Option<&str>) -> Option<String> {
    let path = repo_root().join("docs").join(file);
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Some(format!("docs/{file} does not exist"));
    };
    let anchor = anchor?;
    (!anchors(&text).contains(anchor)).then(|| format!("docs/{file} has no anchor `{anchor}`"))
}

#[test]
fn every_docs_citation_in_the_code_resolves() {
    let mut checked = 0;
    let mut problems = vec![];
    let me = this_file().canonicalize().unwrap();
    for f in sources() {
        if f.canonicalize().is_ok_and(|p| p == me) {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(&f) else {
            continue;
        };
        for (n, line) in text.lines().enumerate() {
            for c in citations(line) {
                checked += 1;
                if let Some(why) = broken(&c.file, c.anchor.as_deref()) {
                    problems.push(format!(
                        "{}:{}: `{}`: {why}",
                        rel(&f),
                        n + 1,
                        &line[c.at..c.at + c.len]
                    ));
                }
            }
        }
    }
    assert!(
        problems.is_empty(),
        "{} of {checked} docs citations do not resolve:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn links_between_the_docs_resolve() {
    let dir = repo_root().join("docs");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no docs under {}", dir.display());
    let mut problems = vec![];
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        let own = f.file_name().unwrap().to_string_lossy().into_owned();
        for (n, line) in text.lines().enumerate() {
            let mut rest = line;
            while let Some(i) = rest.find("](") {
                let tail = &rest[i + 2..];
                let end = tail.find(')').unwrap_or(tail.len());
                let target = &tail[..end];
                rest = &tail[end..];
                if target.contains("://") || target.starts_with("mailto:") {
                    continue;
                }
                let (file, anchor) = match target.split_once('#') {
                    Some((f, a)) => (f, Some(a)),
                    None => (target, None),
                };
                if !file.is_empty() && !file.ends_with(".md") {
                    // Links into the source tree (`../crates/...`) must exist.
                    if !dir.join(file).exists() {
                        problems.push(format!("docs/{own}:{}: `{target}` does not exist", n + 1));
                    }
                    continue;
                }
                let file = if file.is_empty() { own.as_str() } else { file };
                if let Some(why) = broken(file, anchor) {
                    problems.push(format!("docs/{own}:{}: `{target}`: {why}", n + 1));
                }
            }
        }
    }
    assert!(
        problems.is_empty(),
        "broken links in docs/:\n{}",
        problems.join("\n")
    );
}

/// `\bG[0-9]{1,2}\b`: a bare gotcha number.
fn bare_gotchas(line: &str) -> Vec<String> {
    let b = line.as_bytes();
    let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    let mut out = vec![];
    for i in 0..b.len() {
        if b[i] != b'G' || (i > 0 && word(b[i - 1])) {
            continue;
        }
        let digits = b[i + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
        let end = i + 1 + digits;
        if (1..=2).contains(&digits) && (end == b.len() || !word(b[end])) {
            out.push(line[i..end].to_string());
        }
    }
    out
}

/// What on `line` cites the old notes instead of `docs/`.
fn old_citations(line: &str) -> Vec<String> {
    let mut out = vec![];
    let ok: Vec<(usize, usize)> = citations(line).iter().map(|c| (c.at, c.len)).collect();
    for note in OLD_NOTES {
        for (i, _) in line.match_indices(note) {
            // Fine only as the file part of a `docs/` citation.
            if !ok
                .iter()
                .any(|(at, len)| *at + "docs/".len() == i && i + note.len() <= at + len)
            {
                out.push(format!("`{note}` outside docs/"));
            }
        }
    }
    if line.contains('§') {
        out.push("`§` section sign".into());
    }
    for g in bare_gotchas(line) {
        out.push(format!("bare gotcha `{g}`"));
    }
    out
}

#[test]
fn no_citation_of_the_old_notes_remains() {
    let me = this_file().canonicalize().unwrap();
    let mut offenders = vec![];
    for f in sources() {
        let r = rel(&f);
        if f.canonicalize().is_ok_and(|p| p == me)
            || SKIPPED_DIRS.iter().any(|d| r.contains(&format!("{d}/")))
        {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(&f) else {
            continue;
        };
        for (n, line) in text.lines().enumerate() {
            for why in old_citations(line) {
                offenders.push(format!("{r}:{}: {why}: {}", n + 1, line.trim()));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "{} citation(s) of the old notes; cite docs/<file>.md#<anchor> instead:\n{}",
        offenders.len(),
        offenders.join("\n")
    );
}

#[test]
fn the_scanners_find_what_they_should() {
    let c = citations("see docs/kata-deploy-contract.md#g5, and docs/values.md.");
    assert_eq!(c.len(), 2);
    assert_eq!(c[0].file, "kata-deploy-contract.md");
    assert_eq!(c[0].anchor.as_deref(), Some("g5"));
    assert_eq!(c[1].file, "values.md");
    assert_eq!(c[1].anchor, None);
    assert!(citations("../shared/docs/kata-deploy-contract.md §4.3").is_empty());

    assert!(old_citations("(docs/kata-deploy-contract.md#g16)").is_empty());
    assert_eq!(old_citations("`kata-deploy-contract.md` §2.1").len(), 2);
    assert_eq!(old_citations("../shared/docs/probe-checks.md").len(), 1);
    assert_eq!(bare_gotchas("(G5) G16, G4/G5 x"), ["G5", "G16", "G4", "G5"]);
    assert!(bare_gotchas("G123 AG5 G5a 10G #g5").is_empty());

    let a = anchors("<a id=\"g1\"></a>\n## 2.1 The DaemonSet (4.1.0)\n## Notes\n## Notes\n```\n# not a heading\n```\n");
    for want in ["g1", "21-the-daemonset-410", "notes", "notes-1"] {
        assert!(a.contains(want), "{want} missing from {a:?}");
    }
    assert!(!a.contains("not-a-heading"));
}
