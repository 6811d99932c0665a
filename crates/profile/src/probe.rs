//! `probe.*`: the optional probe DaemonSet (`cococtl node probe --publish` on every node)
//! and its opt-in TEE labels (docs/values.md#probe).

use crate::config::Probe;
use crate::raw;
use crate::validate::Sink;

const P: &str = "probe";

/// An interval `cococtl node probe --interval` accepts: a whole number of s, m or h, at
/// least 10 seconds.
fn interval_ok(s: &str) -> bool {
    let digits = s.trim_end_matches(['s', 'm', 'h']);
    let unit = &s[digits.len()..];
    let Ok(n) = digits.parse::<u64>() else {
        return false;
    };
    let secs = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        _ => return false,
    };
    secs >= 10
}

/// Validates the section; `None` when disabled.
pub fn validate(v: &mut dyn Sink, r: raw::Probe) -> Option<Probe> {
    if !r.enabled {
        if r.tee_labels {
            v.warn(
                &format!("{P}.teeLabels"),
                "has no effect without probe.enabled=true: nothing would publish the labels".into(),
            );
        }
        return None;
    }
    let interval = if r.interval.is_empty() {
        "10m".to_string()
    } else {
        r.interval.trim().to_string()
    };
    if !interval_ok(&interval) {
        v.err(
            &format!("{P}.interval"),
            format!("`{interval}` is not an interval like 30s, 10m or 1h (at least 10s)"),
            "--set probe.interval=10m".into(),
        );
    }
    let image = crate::custom_containerd::agent_image_for(v, P, &r.image);
    Some(Probe {
        interval,
        tee_labels: r.tee_labels,
        image,
        image_pull_policy: if r.image.pull_policy.is_empty() {
            "IfNotPresent".into()
        } else {
            r.image.pull_policy
        },
        node_selector: r.node_selector,
        tolerations: r.tolerations,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_are_whole_units_of_at_least_ten_seconds() {
        for ok in ["10s", "30s", "10m", "1h"] {
            assert!(interval_ok(ok), "{ok}");
        }
        for bad in ["", "5s", "10", "1d", "m", "1.5h", "-1m"] {
            assert!(!interval_ok(bad), "{bad}");
        }
    }
}
