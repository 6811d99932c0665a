//! One proxy setting for everything cococtl installs (`proxy.*` in the values,
//! docs/values.md#proxy): the environment variables that carry it into a container, how a
//! process reads it back, and the check that its `noProxy` keeps cluster-internal traffic
//! off the proxy.
//!
//! `noProxy` follows curl's and Go's conventions, which reqwest, containerd and kubectl
//! share: comma-separated entries, each an IP, a CIDR, a domain (`example.com` and
//! `.example.com` both match the domain and its subdomains) or `*` (everything).

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// The proxy for HTTPS destinations (upper case is what containerd and Go read first).
pub const HTTPS_PROXY: &str = "HTTPS_PROXY";
/// The proxy for plain-HTTP destinations.
pub const HTTP_PROXY: &str = "HTTP_PROXY";
/// Destinations that bypass the proxy.
pub const NO_PROXY: &str = "NO_PROXY";

/// `proxy.*`, validated. Empty strings mean "not set".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Proxy {
    /// `proxy.httpsProxy`: `http://host:port` used for `https://` destinations.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub https_proxy: String,
    /// `proxy.httpProxy`: used for `http://` destinations.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub http_proxy: String,
    /// `proxy.noProxy`: comma-separated bypass list.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub no_proxy: String,
}

impl Proxy {
    /// Whether any proxy is configured (a `noProxy` alone changes nothing).
    pub fn is_set(&self) -> bool {
        !self.https_proxy.is_empty() || !self.http_proxy.is_empty()
    }

    /// Whether `noProxy` lists `*`. Matchers that apply `*` to host names only (reqwest's)
    /// need this: curl and Go bypass the proxy for every destination, IPs included.
    pub fn bypasses_all(&self) -> bool {
        self.no_proxy.split(',').any(|e| e.trim() == "*")
    }

    /// The `HTTPS_PROXY`/`HTTP_PROXY`/`NO_PROXY` pairs that are set, in that order: the
    /// environment a container gets, and the lines of containerd's systemd drop-in.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        [
            (HTTPS_PROXY, &self.https_proxy),
            (HTTP_PROXY, &self.http_proxy),
            (NO_PROXY, &self.no_proxy),
        ]
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| (k, v.clone()))
        .collect()
    }

    /// The proxy a process was given through its environment: upper case first, then the
    /// lower-case spelling curl and many images use (`lookup` is `std::env::var` or a test's
    /// map).
    pub fn from_env(lookup: impl Fn(&str) -> Option<String>) -> Proxy {
        let get = |name: &str| {
            lookup(name)
                .or_else(|| lookup(&name.to_ascii_lowercase()))
                .map(|v| v.trim().to_string())
                .unwrap_or_default()
        };
        Proxy {
            https_proxy: get(HTTPS_PROXY),
            http_proxy: get(HTTP_PROXY),
            no_proxy: get(NO_PROXY),
        }
    }
}

/// One `noProxy` entry, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Entry {
    All,
    Net(IpAddr, u8),
    Domain(String),
}

fn entries(no_proxy: &str) -> Vec<Entry> {
    no_proxy
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(|e| {
            if e == "*" {
                return Entry::All;
            }
            if let Some(net) = parse_net(e) {
                return Entry::Net(net.0, net.1);
            }
            Entry::Domain(e.trim_start_matches('.').to_ascii_lowercase())
        })
        .collect()
}

/// `10.0.0.0/8` or a bare IP (a host route).
fn parse_net(s: &str) -> Option<(IpAddr, u8)> {
    let (ip, len) = match s.split_once('/') {
        Some((ip, len)) => (ip.parse::<IpAddr>().ok()?, Some(len.parse::<u8>().ok()?)),
        None => (s.parse::<IpAddr>().ok()?, None),
    };
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let len = len.unwrap_or(max);
    (len <= max).then_some((ip, len))
}

fn bits(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(u32::from(v4)) << 96,
        IpAddr::V6(v6) => u128::from(v6),
    }
}

/// Whether network `outer` (address, prefix length) contains network `inner`.
fn net_contains(outer: (IpAddr, u8), inner: (IpAddr, u8)) -> bool {
    if outer.0.is_ipv4() != inner.0.is_ipv4() || outer.1 > inner.1 {
        return false;
    }
    // IPv4 sits in the top 32 bits of the 128-bit space, so its prefix length applies
    // there unchanged.
    let len = u32::from(outer.1);
    if len == 0 {
        return true;
    }
    let mask = u128::MAX << (128 - len);
    (bits(outer.0) & mask) == (bits(inner.0) & mask)
}

/// What the cluster tells about its own networks, for [`missing_no_proxy`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterNetworks {
    /// `Node.spec.podCIDRs` of every node (deduplicated by the caller or not).
    pub pod_cidrs: Vec<String>,
    /// The `kubernetes` Service's ClusterIP in `default`: the only trace of the service
    /// CIDR most clusters expose through the API.
    pub service_ip: Option<IpAddr>,
}

/// What `no_proxy` lacks for traffic inside the cluster to bypass the proxy: each pod
/// CIDR, a network holding the service ClusterIPs, `.svc` and `.cluster.local`. Each item
/// names the missing entry and why; empty when nothing is missing (or `*` is listed).
pub fn missing_no_proxy(no_proxy: &str, net: &ClusterNetworks) -> Vec<String> {
    let list = entries(no_proxy);
    if list.contains(&Entry::All) {
        return vec![];
    }
    let covers = |inner: (IpAddr, u8)| {
        list.iter()
            .any(|e| matches!(e, Entry::Net(ip, len) if net_contains((*ip, *len), inner)))
    };
    let mut out = vec![];
    let mut seen = vec![];
    for cidr in &net.pod_cidrs {
        let Some(pod) = parse_net(cidr.trim()) else {
            continue;
        };
        if seen.contains(&pod) {
            continue;
        }
        seen.push(pod);
        if !covers(pod) {
            out.push(format!(
                "{} (a pod CIDR, from Node.spec.podCIDRs)",
                cidr.trim()
            ));
        }
    }
    if let Some(ip) = net.service_ip {
        let max = if ip.is_ipv4() { 32 } else { 128 };
        // A host entry for the ClusterIP alone leaves every other Service on the proxy.
        let wide = list.iter().any(|e| {
            matches!(e, Entry::Net(n, len) if *len < max && net_contains((*n, *len), (ip, max)))
        });
        if !wide {
            out.push(format!(
                "the service CIDR (a network holding {ip}, the `kubernetes` Service's ClusterIP in `default`; the API does not publish the service CIDR itself)"
            ));
        }
    }
    for domain in ["svc", "cluster.local"] {
        if !list.contains(&Entry::Domain(domain.into())) {
            out.push(format!(".{domain} (in-cluster DNS names)"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(pods: &[&str], svc: Option<&str>) -> ClusterNetworks {
        ClusterNetworks {
            pod_cidrs: pods.iter().map(|s| s.to_string()).collect(),
            service_ip: svc.map(|s| s.parse().unwrap()),
        }
    }

    #[test]
    fn a_complete_no_proxy_misses_nothing() {
        let n = net(&["10.244.1.0/24", "10.244.2.0/24"], Some("10.96.0.1"));
        assert_eq!(
            missing_no_proxy("10.0.0.0/8, .svc,.cluster.local", &n),
            Vec::<String>::new()
        );
        assert!(missing_no_proxy("svc,cluster.local,10.244.0.0/16,10.96.0.0/12", &n).is_empty());
    }

    #[test]
    fn a_wildcard_bypasses_everything() {
        let n = net(&["10.244.1.0/24"], Some("10.96.0.1"));
        assert!(missing_no_proxy("*", &n).is_empty());
    }

    #[test]
    fn each_missing_entry_is_named() {
        let n = net(&["10.244.1.0/24"], Some("10.96.0.1"));
        let m = missing_no_proxy("example.com", &n);
        assert_eq!(m.len(), 4, "{m:?}");
        assert!(m[0].starts_with("10.244.1.0/24 (a pod CIDR"), "{m:?}");
        assert!(m[1].contains("10.96.0.1") && m[1].contains("service CIDR"));
        assert!(m[2].starts_with(".svc"));
        assert!(m[3].starts_with(".cluster.local"));
    }

    #[test]
    fn a_narrower_network_does_not_cover_a_pod_cidr() {
        let n = net(&["10.244.0.0/16"], None);
        let m = missing_no_proxy("10.244.1.0/24,.svc,.cluster.local", &n);
        assert_eq!(m.len(), 1);
        assert!(m[0].starts_with("10.244.0.0/16"));
    }

    #[test]
    fn the_cluster_ip_alone_does_not_cover_the_service_cidr() {
        let n = net(&[], Some("10.96.0.1"));
        let m = missing_no_proxy("10.96.0.1,.svc,.cluster.local", &n);
        assert_eq!(m.len(), 1);
        assert!(m[0].contains("service CIDR"));
        assert!(missing_no_proxy("10.96.0.0/12,.svc,.cluster.local", &n).is_empty());
    }

    #[test]
    fn ipv6_pod_cidrs_are_checked_too() {
        let n = net(
            &["10.244.1.0/24", "fd00:10:244:1::/64"],
            Some("fd00:10:96::1"),
        );
        assert!(missing_no_proxy("10.244.0.0/16,fd00::/8,.svc,.cluster.local", &n).is_empty());
        let m = missing_no_proxy("10.244.0.0/16,.svc,.cluster.local", &n);
        assert_eq!(m.len(), 2, "{m:?}");
        assert!(m[0].starts_with("fd00:10:244:1::/64"));
    }

    #[test]
    fn env_lists_only_what_is_set_and_reads_lower_case_too() {
        let p = Proxy {
            https_proxy: "http://p:3128".into(),
            http_proxy: String::new(),
            no_proxy: ".svc".into(),
        };
        assert_eq!(
            p.env(),
            vec![
                (HTTPS_PROXY, "http://p:3128".to_string()),
                (NO_PROXY, ".svc".to_string())
            ]
        );
        let read = Proxy::from_env(|k| match k {
            "HTTPS_PROXY" => Some("http://p:3128".into()),
            "no_proxy" => Some(".svc".into()),
            _ => None,
        });
        assert_eq!(read, p);
        assert!(read.is_set());
        assert!(!Proxy::default().is_set());
    }
}
