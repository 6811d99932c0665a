//! Syntax checks for names the cluster or the kata-deploy binary will parse: DNS labels,
//! image references, quantities. Each returns why a value is wrong, for the message.

fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// `env.multiInstallSuffix`: becomes part of object names, label values, handler names and
/// host paths, so it must be a DNS label and keep `<chart>-<suffix>` within 63 characters.
pub fn check_suffix(suffix: &str, chart: &str) -> Result<(), String> {
    if !is_dns_label(suffix) {
        return Err(
            "is not a valid DNS label part (lowercase letters, digits and '-', not at either end)"
                .into(),
        );
    }
    let name = format!("{chart}-{suffix}");
    if name.len() > 63 {
        return Err(format!(
            "makes the DaemonSet name `{name}` longer than 63 characters"
        ));
    }
    Ok(())
}

/// A DNS subdomain (RuntimeClass names).
pub fn check_dns_subdomain(s: &str) -> Result<(), String> {
    if s.is_empty() || s.len() > 253 || !s.split('.').all(is_dns_label) {
        return Err("is not a valid DNS subdomain name".into());
    }
    Ok(())
}

/// An OCI image reference: `[registry[:port]/]path[:tag]` or `...@sha256:<64 hex>`.
pub fn check_image(r: &str) -> Result<(), String> {
    let (name, digest) = match r.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (r, None),
    };
    if let Some(d) = digest {
        let hex = d
            .strip_prefix("sha256:")
            .ok_or_else(|| format!("digest `{d}` must start with sha256:"))?;
        // An image digest is the lowercase form only (OCI image spec).
        if cococtl_core::agent::parse_sha256(hex).as_deref() != Some(hex) {
            return Err(format!(
                "digest `{d}` must be sha256: followed by 64 lowercase hex digits"
            ));
        }
    }
    // A tag follows the last ':' that comes after the last '/' (a ':' before it is a port).
    let last_slash = name.rfind('/').map_or(0, |i| i + 1);
    let (repo, tag) = match name[last_slash..].rfind(':') {
        Some(i) => (&name[..last_slash + i], Some(&name[last_slash + i + 1..])),
        None => (name, None),
    };
    if let Some(t) = tag {
        let ok = !t.is_empty()
            && t.len() <= 128
            && t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-')
            && !t.starts_with(['.', '-']);
        if !ok {
            return Err(format!("tag `{t}` may only hold letters, digits, '_', '.', '-' (not first) and at most 128 characters"));
        }
    }
    if repo.is_empty() {
        return Err("the repository is empty".into());
    }
    let mut parts = repo.split('/').peekable();
    let first = parts.next().unwrap_or("");
    let has_registry =
        repo.contains('/') && (first.contains('.') || first.contains(':') || first == "localhost");
    let path: Vec<&str> = if has_registry {
        let (host, port) = first.split_once(':').unwrap_or((first, ""));
        if host.is_empty()
            || !host
                .split('.')
                .all(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
        {
            return Err(format!("registry `{first}` is not a host name"));
        }
        if !port.is_empty() && port.parse::<u16>().is_err() {
            return Err(format!("registry port `{port}` is not a number"));
        }
        parts.collect()
    } else {
        repo.split('/').collect()
    };
    for comp in path {
        let ok = !comp.is_empty()
            && comp
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
            && comp.as_bytes()[0].is_ascii_alphanumeric()
            && comp.as_bytes()[comp.len() - 1].is_ascii_alphanumeric();
        if !ok {
            return Err(format!("path component `{comp}` must be lowercase letters, digits and separators (., _, -)"));
        }
    }
    Ok(())
}

/// A Kubernetes resource quantity (`250m`, `1.0`, `2048Mi`, `1e3`).
pub fn is_quantity(s: &str) -> bool {
    const SUFFIXES: &[&str] = &[
        "Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "n", "u", "m", "k", "M", "G", "T", "P", "E", "",
    ];
    let num_end = s
        .char_indices()
        .find(|(_, c)| !(c.is_ascii_digit() || *c == '.' || *c == '+' || *c == '-'))
        .map_or(s.len(), |(i, _)| i);
    let (num, suffix) = s.split_at(num_end);
    let num_ok = !num.is_empty() && num.trim_start_matches(['+', '-']).parse::<f64>().is_ok();
    let suffix_ok = SUFFIXES.contains(&suffix)
        || (suffix.starts_with(['e', 'E'])
            && suffix[1..]
                .trim_start_matches(['+', '-'])
                .parse::<u32>()
                .is_ok());
    num_ok && suffix_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_image_references_pass() {
        for r in [
            "quay.io/kata-containers/kata-deploy:4.1.0",
            "localhost:5000/kata-deploy:dev",
            "kata-deploy:latest",
            "registry.example.com:443/a/b/c:v1_2-3",
            "quay.io/kata-containers/kata-deploy@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        ] {
            assert_eq!(check_image(r), Ok(()), "{r}");
        }
    }

    #[test]
    fn malformed_image_references_fail() {
        for r in [
            "Quay.io/Kata/Deploy:1",
            "quay.io/kata-containers/kata-deploy:",
            "quay.io/kata deploy:1",
            "quay.io/x@sha256:abc",
            "quay.io/x@md5:0123",
            ":tag",
            "quay.io//x:1",
        ] {
            assert!(check_image(r).is_err(), "{r}");
        }
    }

    #[test]
    fn suffix_must_be_a_dns_label_part() {
        assert!(check_suffix("pr123", "kata-deploy").is_ok());
        for s in ["PR", "-a", "a-", "a_b", "a.b", &"x".repeat(60)] {
            assert!(check_suffix(s, "kata-deploy").is_err(), "{s}");
        }
    }

    #[test]
    fn quantities() {
        for q in ["250m", "1.0", "2048Mi", "1", "1e3", "0.5Gi"] {
            assert!(is_quantity(q), "{q}");
        }
        for q in ["", "Mi", "1 Mi", "abc", "1.0.0x"] {
            assert!(!is_quantity(q), "{q}");
        }
    }
}
