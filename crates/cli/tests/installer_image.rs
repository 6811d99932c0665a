//! The installer image's Containerfile matches what the rendered DaemonSet runs and what the
//! agent needs at run time.

use std::path::Path;

fn containerfile() -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../installer-image/Containerfile"),
    )
    .unwrap()
}

#[test]
fn the_binary_lands_where_the_rendered_daemonset_runs_it() {
    let cf = containerfile();
    let dest = cf
        .lines()
        .find_map(|l| l.strip_prefix("COPY cococtl "))
        .expect("a COPY of the binary")
        .trim();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_cococtl"))
        .args(["render", "-o", "json", "--set", "customContainerd.enabled=true,customContainerd.tarballUrl=https://e.com/c.tgz,customContainerd.sha256=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ds = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["kind"] == "DaemonSet" && o["metadata"]["name"] == "cococtl-containerd")
        .unwrap();
    let cmd: Vec<&str> = ds["spec"]["template"]["spec"]["containers"][0]["command"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c.as_str())
        .collect();
    assert_eq!(cmd[0], dest);
    assert_eq!(cmd[1..5], ["node", "containerd", "install", "--host-root"]);
}

#[test]
fn the_image_carries_nsenter_and_ca_certificates() {
    let cf = containerfile();
    // RealSystemd runs `nsenter -t 1 -m -- systemctl`; downloads are https.
    assert!(cf.contains("util-linux"), "nsenter comes from util-linux");
    assert!(cf.contains("ca-certificates"));
}
