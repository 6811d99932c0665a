//! `peerpods.*`: the peerpods chart's values become [`PeerPods`], or problems naming the key,
//! the input that set it (or chose the provider) and the fix. The rules are listed in
//! docs/peerpods.md#validation.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ResourceRequirements;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde::Deserialize;
use serde_yaml::Value;

use super::{one_of, V};
use crate::error::{Problem, Warning};
use crate::names;
use crate::peerpods::*;
use crate::raw::{boolish, string_map, stringish};
use crate::schema::did_you_mean;
use crate::source::Source;
use crate::tree;

const WI_USE: &str = "azure.workload.identity/use";
const WI_CLIENT_ID: &str = "azure.workload.identity/client-id";
const IRSA_ROLE: &str = "eks.amazonaws.com/role-arn";

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct Raw {
    #[serde(deserialize_with = "boolish")]
    enabled: bool,
    #[serde(deserialize_with = "stringish")]
    namespace: String,
    #[serde(deserialize_with = "stringish")]
    provider: String,
    provider_configs: BTreeMap<String, Value>,
    provider_secrets: BTreeMap<String, Value>,
    secrets: RawSecrets,
    image: RawCaaImage,
    #[serde(deserialize_with = "stringish")]
    limit: String,
    tls_profile: RawTls,
    daemonset: RawDaemonset,
    resource_ctrl: RawResourceCtrl,
    webhook: RawWebhook,
    #[serde(rename = "kata-deploy")]
    kata_deploy: Value,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct RawSecrets {
    #[serde(deserialize_with = "stringish")]
    mode: String,
    #[serde(deserialize_with = "stringish")]
    existing_secret_name: String,
    #[serde(deserialize_with = "stringish")]
    existing_ssh_key_secret_name: String,
    #[serde(deserialize_with = "stringish")]
    existing_tls_secret_name: String,
    tls_certs: RawTlsCerts,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct RawTlsCerts {
    #[serde(deserialize_with = "stringish")]
    ca_cert: String,
    #[serde(deserialize_with = "stringish")]
    client_cert: String,
    #[serde(deserialize_with = "stringish")]
    client_key: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawCaaImage {
    #[serde(deserialize_with = "stringish")]
    name: String,
    #[serde(deserialize_with = "stringish")]
    tag: String,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct RawTls {
    #[serde(deserialize_with = "stringish")]
    min_version: String,
    #[serde(deserialize_with = "stringish")]
    cipher_suites: String,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct RawDaemonset {
    update_strategy: RawUpdate,
    #[serde(deserialize_with = "string_map")]
    pod_labels: BTreeMap<String, String>,
    service_account: RawServiceAccount,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct RawUpdate {
    max_unavailable: Value,
    max_surge: Value,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawServiceAccount {
    #[serde(deserialize_with = "string_map")]
    annotations: BTreeMap<String, String>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct RawSubImage {
    #[serde(deserialize_with = "stringish")]
    repository: String,
    #[serde(deserialize_with = "stringish")]
    tag: String,
    #[serde(deserialize_with = "stringish")]
    pull_policy: String,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct RawResourceCtrl {
    #[serde(deserialize_with = "boolish")]
    enabled: bool,
    image: RawSubImage,
    #[serde(deserialize_with = "string_map")]
    pod_labels: BTreeMap<String, String>,
    service_account: RawServiceAccount,
    auth_proxy: RawEnabled,
    #[serde(deserialize_with = "stringish")]
    name_prefix: String,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct RawWebhook {
    #[serde(deserialize_with = "boolish")]
    enabled: bool,
    replicas: i32,
    image: RawSubImage,
    resources: ResourceRequirements,
    webhook: RawWebhookSettings,
    cert_manager: RawEnabled,
    #[serde(deserialize_with = "stringish")]
    tls_min_version: String,
    #[serde(deserialize_with = "stringish")]
    tls_cipher_suites: String,
    #[serde(deserialize_with = "stringish")]
    name_prefix: String,
    #[serde(deserialize_with = "stringish")]
    namespace_override: String,
}

#[derive(Deserialize)]
#[serde(default)]
struct RawEnabled {
    #[serde(deserialize_with = "boolish")]
    enabled: bool,
}

impl Default for RawEnabled {
    fn default() -> Self {
        RawEnabled { enabled: true }
    }
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct RawWebhookSettings {
    #[serde(deserialize_with = "stringish")]
    target_runtime_class: String,
    #[serde(rename = "podVMExtendedResource", deserialize_with = "stringish")]
    pod_vm_extended_resource: String,
    #[serde(deserialize_with = "stringish")]
    failure_policy: String,
}

/// The text of a scalar as a ConfigMap or Secret value: exactly the string given; numbers
/// and booleans as YAML writes them (`2`, `true`).
fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A ConfigMap / Secret key and environment variable name the API server accepts.
fn valid_key(k: &str) -> bool {
    !k.is_empty()
        && k.len() <= 253
        && k.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

impl V<'_> {
    fn problem_from(&mut self, path: &str, source: Option<Source>, message: String, fix: String) {
        self.problems
            .push(Problem::new(path, message, fix).from(source));
    }

    fn warn_from(&mut self, path: &str, source: Option<Source>, message: String) {
        self.warnings.push(Warning {
            path: path.to_string(),
            source,
            message,
        });
    }
}

/// Reads one `providerConfigs.<p>` / `providerSecrets.<p>` map into strings.
fn string_entries(v: &mut V, base: &str, map: Option<&Value>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let Some(map) = map else {
        return out;
    };
    let Value::Mapping(m) = map else {
        v.err(
            base,
            "must be a map of KEY: value",
            format!("e.g. {base}.KEY=value"),
        );
        return out;
    };
    for (k, val) in m {
        let key = tree::key_str(k);
        let path = tree::join(base, &key);
        if key == "hostKeys" {
            // byom host-key allow-list (a map of files): not rendered, refused below.
            out.insert(key, String::new());
            continue;
        }
        if !valid_key(&key) {
            v.err(
                &path,
                format!("`{key}` is not a valid environment variable / Secret key name"),
                "use letters, digits, '_', '-' and '.' only",
            );
            continue;
        }
        match scalar(val) {
            Some(s) => {
                out.insert(key, s);
            }
            None => v.err(
                &path,
                "must be a single value (it becomes an environment variable), not a list or map",
                "quote the value, e.g. KEY: \"a,b\"",
            ),
        }
    }
    out
}

fn int_or_string(v: &mut V, path: &str, val: &Value) -> IntOrString {
    match val {
        Value::Number(n) if n.as_i64().is_some_and(|i| i32::try_from(i).is_ok()) => {
            IntOrString::Int(n.as_i64().unwrap_or(0) as i32)
        }
        Value::String(s) if s.ends_with('%') && s[..s.len() - 1].parse::<u32>().is_ok() => {
            IntOrString::String(s.clone())
        }
        Value::String(s) if s.parse::<i32>().is_ok() => IntOrString::Int(s.parse().unwrap_or(0)),
        other => {
            v.err(
                path,
                format!(
                    "`{}` is neither a number nor a percentage",
                    serde_yaml::to_string(other).unwrap_or_default().trim()
                ),
                format!("e.g. --set {path}=1 or {path}=10%"),
            );
            IntOrString::Int(0)
        }
    }
}

fn image(v: &mut V, path: &str, repository: &str, tag: &str) -> String {
    let full = if repository.contains('@') || tag.is_empty() {
        repository.to_string()
    } else if let Some(d) = tag.strip_prefix("sha256:") {
        format!("{repository}@sha256:{d}")
    } else {
        format!("{repository}:{tag}")
    };
    if let Err(why) = names::check_image(&full) {
        v.err(
            path,
            format!("`{full}` is not a valid image reference: {why}"),
            "use registry/repository with a tag, or @sha256:<64 hex digits>",
        );
    }
    v.mirrored(full, path)
}

fn sub_image(v: &mut V, base: &str, i: &RawSubImage) -> Image {
    let reference = image(
        v,
        &format!("{base}.image.repository"),
        &i.repository,
        &i.tag,
    );
    one_of(
        v,
        &format!("{base}.image.pullPolicy"),
        &i.pull_policy,
        &["IfNotPresent", "Always", "Never"],
    );
    Image {
        reference,
        pull_policy: i.pull_policy.clone(),
    }
}

/// Validates `peerpods.*`; `None` when peer pods are off (or the values are unusable).
pub(super) fn peerpods(v: &mut V, tree: &Value) -> Option<PeerPods> {
    let sub = tree.get("peerpods").cloned().unwrap_or(Value::Null);
    let r: Raw = match serde_path_to_error::deserialize(sub) {
        Ok(r) => r,
        Err(e) => {
            let path = format!("peerpods.{}", e.path());
            v.err(
                &path,
                e.inner().to_string(),
                "correct the value's type (see docs/values.md#peerpods)",
            );
            return None;
        }
    };
    if !r.enabled {
        return None;
    }
    let chose = v
        .source("peerpods.provider")
        .or_else(|| v.source("peerpods.enabled"));

    // The provider.
    let provider = match Provider::parse(&r.provider) {
        Some(p) => p,
        None => {
            let names: Vec<&str> = Provider::ALL.iter().map(|p| p.as_str()).collect();
            match providers::refused(&r.provider) {
                Some((why, fix)) => v.err("peerpods.provider", why, fix),
                None => {
                    let hint = did_you_mean(&r.provider, names.iter().copied());
                    v.err(
                        "peerpods.provider",
                        format!(
                            "`{}` is not a cloud-api-adaptor {CAA_VERSION} provider{hint}\n  providers: {}",
                            r.provider,
                            names.join(", ")
                        ),
                        "--set peerpods.provider=<one of them>, with its keys under peerpods.providerConfigs.<provider>",
                    );
                }
            }
            return None;
        }
    };
    let p = provider.as_str();
    let cfg_base = format!("peerpods.providerConfigs.{p}");
    let sec_base = format!("peerpods.providerSecrets.{p}");

    let mut config = string_entries(v, &cfg_base, r.provider_configs.get(p));
    let mut secrets = string_entries(v, &sec_base, r.provider_secrets.get(p));
    if secrets.remove("hostKeys").is_some() {
        v.err(
            &format!("{sec_base}.hostKeys"),
            "the byom SSH host-key allow-list is not part of the peerpods chart 0.4.0 cococtl renders",
            format!("remove it; pin host keys with {cfg_base}.SSH_HOST_KEY_ALLOWLIST_DIR and your own Secret"),
        );
    }
    config.remove("hostKeys");

    // Secrets mode and names.
    let mode = match r.secrets.mode.as_str() {
        "create" => SecretsMode::Create,
        "reference" => SecretsMode::Reference,
        other => {
            one_of(v, "peerpods.secrets.mode", other, &["create", "reference"]);
            SecretsMode::Create
        }
    };
    let mut ssh_keys = BTreeMap::new();
    for (given, file) in [
        ("id_rsa", "id_rsa"),
        ("id_rsa_pub", "id_rsa.pub"),
        ("id_rsa.pub", "id_rsa.pub"),
    ] {
        if let Some(k) = secrets.remove(given) {
            if provider.uses_ssh_keys() && !k.is_empty() {
                ssh_keys.insert(file.to_string(), k);
            } else if !provider.uses_ssh_keys() {
                // The chart silently drops them for other providers.
                v.warn(
                    &tree::join(&sec_base, given),
                    format!("ignored: only libvirt and byom use ssh-key-secret, provider is {p}"),
                );
            }
        }
    }
    let tls_certs = TlsCerts {
        ca_cert: r.secrets.tls_certs.ca_cert.clone(),
        client_cert: r.secrets.tls_certs.client_cert.clone(),
        client_key: r.secrets.tls_certs.client_key.clone(),
    };
    let cacert_file = config.get("CACERT_FILE").is_some_and(|s| !s.is_empty());

    let (credentials_secret, ssh_key_secret, tls_secret, credentials, ssh_keys, tls_certs) =
        match mode {
            SecretsMode::Create => {
                for (key, name) in [
                    ("existingSecretName", &r.secrets.existing_secret_name),
                    (
                        "existingSshKeySecretName",
                        &r.secrets.existing_ssh_key_secret_name,
                    ),
                    ("existingTlsSecretName", &r.secrets.existing_tls_secret_name),
                ] {
                    if !name.is_empty() {
                        v.warn(
                            &format!("peerpods.secrets.{key}"),
                            "ignored in secrets.mode=create (cococtl creates the Secrets itself); set peerpods.secrets.mode=reference to use your own".to_string(),
                        );
                    }
                }
                let stored: Vec<&str> = [
                    (!secrets.is_empty()).then_some(CREDENTIALS_SECRET),
                    (!ssh_keys.is_empty()).then_some(SSH_KEY_SECRET),
                    (!tls_certs.client_key.is_empty()).then_some(TLS_SECRET),
                ]
                .into_iter()
                .flatten()
                .collect();
                if !stored.is_empty() {
                    let mut fix = format!(
                        "--set peerpods.secrets.mode=reference,peerpods.secrets.existingSecretName={CREDENTIALS_SECRET}"
                    );
                    if provider.uses_ssh_keys() {
                        fix.push_str(&format!(
                            ",peerpods.secrets.existingSshKeySecretName={SSH_KEY_SECRET}"
                        ));
                    }
                    let path = if secrets.is_empty() && ssh_keys.is_empty() {
                        "peerpods.secrets.tlsCerts.clientKey".to_string()
                    } else {
                        sec_base.clone()
                    };
                    let src = v.source(&path);
                    v.warn_from(
                        &path,
                        src,
                        format!(
                            "credentials in secrets.mode=create: they are written into the Secret(s) {} and stored in the release record (the values this install was made from), where anyone who can read either sees them; for production create the Secrets yourself and reference them: {fix}",
                            stored.join(", ")
                        ),
                    );
                }
                if cacert_file && !tls_certs.any() {
                    let src = v.source(&format!("{cfg_base}.CACERT_FILE"));
                    v.problem_from(
                        "peerpods.secrets.tlsCerts",
                        src,
                        format!("{cfg_base}.CACERT_FILE is set, but no certificate is given, so CAA would fail to read it from the Secret {TLS_SECRET}"),
                        format!("give peerpods.secrets.tlsCerts.caCert, clientCert and clientKey (PEM text, in a -f file), or remove {cfg_base}.CACERT_FILE, CERT_FILE and CERT_KEY to let CAA generate certificates"),
                    );
                }
                if tls_certs.any() && !cacert_file {
                    v.warn(
                        "peerpods.secrets.tlsCerts",
                        format!("the certificates are given but {cfg_base}.CACERT_FILE is not set, so CAA never reads them (the Secret {TLS_SECRET} is created and not mounted, as in the chart); set CACERT_FILE=/etc/certificates/ca.crt, CERT_FILE=/etc/certificates/client.crt and CERT_KEY=/etc/certificates/client.key"),
                    );
                }
                (
                    Some(CREDENTIALS_SECRET.to_string()),
                    provider.uses_ssh_keys().then(|| SSH_KEY_SECRET.to_string()),
                    cacert_file.then(|| TLS_SECRET.to_string()),
                    secrets.clone(),
                    ssh_keys,
                    tls_certs,
                )
            }
            SecretsMode::Reference => {
                if !secrets.is_empty() || !ssh_keys.is_empty() {
                    v.warn(
                        &sec_base,
                        "ignored in secrets.mode=reference: the credentials come from the Secrets you name in peerpods.secrets.existing*Name".to_string(),
                    );
                }
                if tls_certs.any() {
                    v.warn(
                        "peerpods.secrets.tlsCerts",
                        "ignored in secrets.mode=reference: name your TLS Secret in peerpods.secrets.existingTlsSecretName".to_string(),
                    );
                }
                let cred = Some(r.secrets.existing_secret_name.clone()).filter(|s| !s.is_empty());
                let ssh = Some(r.secrets.existing_ssh_key_secret_name.clone())
                    .filter(|s| !s.is_empty() && provider.uses_ssh_keys());
                for (key, name, fixed) in [
                    ("existingSecretName", &cred, CREDENTIALS_SECRET),
                    ("existingSshKeySecretName", &ssh, SSH_KEY_SECRET),
                ] {
                    let path = format!("peerpods.secrets.{key}");
                    if let Some(name) = name {
                        if let Err(why) = names::check_dns_subdomain(name) {
                            v.err(&path, format!("`{name}` {why}"), "name an existing Secret");
                        } else if name != fixed {
                            v.warn(
                                &path,
                                format!("`{name}`: upstream peerpod-ctrl reads its credentials from the fixed name `{fixed}` whatever this says, so it could not delete leaked VMs; cococtl points peerpod-ctrl at `{name}` as well (docs/peerpods.md#fixed-secret-names)"),
                            );
                        }
                    }
                }
                let tls =
                    Some(r.secrets.existing_tls_secret_name.clone()).filter(|s| !s.is_empty());
                if cacert_file && tls.is_none() {
                    v.err(
                        "peerpods.secrets.existingTlsSecretName",
                        format!("is empty, but {cfg_base}.CACERT_FILE is set, so nothing would be mounted at /etc/certificates and CAA would fail to read it"),
                        "--set peerpods.secrets.existingTlsSecretName=<your Secret with ca.crt, client.crt, client.key>",
                    );
                }
                if provider.uses_ssh_keys() && ssh.is_none() {
                    let src = v.source("peerpods.secrets.mode");
                    v.problem_from(
                        "peerpods.secrets.existingSshKeySecretName",
                        src,
                        format!("is empty in secrets.mode=reference, but provider {p} needs an SSH key Secret ({})", provider.required_ssh_keys().join(" and ")),
                        format!("--set peerpods.secrets.existingSshKeySecretName={SSH_KEY_SECRET} (a Secret you created with {})", provider.required_ssh_keys().join(" and ")),
                    );
                }
                (
                    cred,
                    ssh,
                    tls.filter(|_| cacert_file),
                    BTreeMap::new(),
                    BTreeMap::new(),
                    TlsCerts::default(),
                )
            }
        };

    required_keys(
        v,
        provider,
        mode,
        &config,
        &secrets,
        &ssh_keys,
        credentials_secret.is_some(),
        &r,
        chose.clone(),
    );

    // TLS profile.
    let tls = &r.tls_profile;
    if !tls.min_version.is_empty() {
        one_of(
            v,
            "peerpods.tlsProfile.minVersion",
            &tls.min_version,
            &["VersionTLS12", "VersionTLS13"],
        );
    }
    if !tls.cipher_suites.is_empty() && tls.min_version == "VersionTLS13" {
        v.err(
            "peerpods.tlsProfile.cipherSuites",
            "is set while peerpods.tlsProfile.minVersion is VersionTLS13: TLS 1.3 cipher suites cannot be configured (Go ignores the list), so the setting would silently do nothing",
            "remove peerpods.tlsProfile.cipherSuites, or --set peerpods.tlsProfile.minVersion=VersionTLS12",
        );
    }

    // The ConfigMap: CLOUD_PROVIDER, the provider's keys, the TLS profile, the limit.
    let mut data = config.clone();
    for k in ["CLOUD_PROVIDER", "TLS_MIN_VERSION", "TLS_CIPHER_SUITES"] {
        if data.contains_key(k) {
            let path = format!("{cfg_base}.{k}");
            v.err(
                &path,
                "is set by cococtl from peerpods.provider / peerpods.tlsProfile; a second value would make the ConfigMap ambiguous",
                "remove it and use peerpods.provider or peerpods.tlsProfile",
            );
        }
    }
    data.insert("CLOUD_PROVIDER".into(), p.to_string());
    if !tls.min_version.is_empty() {
        data.insert("TLS_MIN_VERSION".into(), tls.min_version.clone());
    }
    if !tls.cipher_suites.is_empty() {
        data.insert("TLS_CIPHER_SUITES".into(), tls.cipher_suites.clone());
    }
    if r.limit.parse::<u32>().is_err() {
        v.err(
            "peerpods.limit",
            format!(
                "`{}` is not a whole number of peer pods per node (0 = unlimited)",
                r.limit
            ),
            "--set-string peerpods.limit=10",
        );
    }
    match data.get("PEERPODS_LIMIT_PER_NODE") {
        Some(own)
            if own != &r.limit
                && v.prov
                    .get("peerpods.limit")
                    .is_some_and(|(_, s)| s.is_user_input()) =>
        {
            v.warn(
                "peerpods.limit",
                format!("ignored: {cfg_base}.PEERPODS_LIMIT_PER_NODE is set too (`{own}`), and it is what CAA reads"),
            );
        }
        Some(_) => {}
        None => {
            data.insert("PEERPODS_LIMIT_PER_NODE".into(), r.limit.clone());
        }
    }

    // Images.
    let tag_given = v.prov.contains_key("peerpods.image.tag") || r.image.name.contains('@');
    // libvirt needs the dev image (libvirt bindings); the release's providers/libvirt.yaml
    // pins the release commit's, so that is the default, as with the chart.
    let tag = if provider.needs_dev_image() && !tag_given {
        crate::peerpods::libvirt_dev_tag()
    } else {
        r.image.tag.clone()
    };
    let reference = image(v, "peerpods.image.name", &r.image.name, &tag);
    let unpinned = r.image.tag == "latest" || (!reference.contains('@') && r.image.tag.is_empty());
    if unpinned {
        v.warn(
            "peerpods.image.tag",
            "`latest` is not pinned: nodes pulling at different times run different CAA builds, which may not match the pod VM image; pin a release commit (or `<commit>-dev` for libvirt) tag".to_string(),
        );
    }
    let caa_image = Image {
        pull_policy: if unpinned { "Always" } else { "IfNotPresent" }.into(),
        reference,
    };

    // Namespace.
    let namespace = r.namespace.clone();
    if let Err(why) = names::check_dns_subdomain(&namespace).and_then(|_| {
        if namespace.contains('.') || namespace.len() > 63 {
            Err("is not a valid namespace name (a DNS label)".to_string())
        } else {
            Ok(())
        }
    }) {
        v.err(
            "peerpods.namespace",
            format!("`{namespace}` {why}"),
            "--set peerpods.namespace=confidential-containers-system",
        );
    }

    let ds = &r.daemonset;
    let max_unavailable = int_or_string(
        v,
        "peerpods.daemonset.updateStrategy.maxUnavailable",
        &ds.update_strategy.max_unavailable,
    );
    let max_surge = int_or_string(
        v,
        "peerpods.daemonset.updateStrategy.maxSurge",
        &ds.update_strategy.max_surge,
    );

    let resource_ctrl = if r.resource_ctrl.enabled {
        let rc = &r.resource_ctrl;
        if ds.pod_labels.get(WI_USE).is_some_and(|s| s == "true")
            && rc.pod_labels.get(WI_USE).is_none_or(|s| s != "true")
        {
            let src = v.source("peerpods.daemonset.podLabels");
            v.warn_from(
                "peerpods.resourceCtrl.podLabels",
                src,
                format!("CAA uses Azure Workload Identity (daemonset.podLabels.{WI_USE}) but peerpod-ctrl does not, so it cannot delete leaked VMs; give peerpod-ctrl the same label and ServiceAccount annotation (peerpods.resourceCtrl.podLabels, peerpods.resourceCtrl.serviceAccount.annotations)"),
            );
        }
        if ds.service_account.annotations.contains_key(IRSA_ROLE)
            && !rc.service_account.annotations.contains_key(IRSA_ROLE)
            && !config.contains_key("AWS_ROLE_ARN")
            && !secrets.contains_key("AWS_ACCESS_KEY_ID")
        {
            let src = v.source("peerpods.daemonset.serviceAccount.annotations");
            v.warn_from(
                "peerpods.resourceCtrl.serviceAccount.annotations",
                src,
                format!("CAA authenticates with IRSA ({IRSA_ROLE}) but peerpod-ctrl's ServiceAccount has no role, so it cannot delete leaked VMs; set peerpods.resourceCtrl.serviceAccount.annotations too"),
            );
        }
        Some(ResourceCtrl {
            image: sub_image(v, "peerpods.resourceCtrl", &rc.image),
            pod_labels: rc.pod_labels.clone(),
            service_account_annotations: rc.service_account.annotations.clone(),
            auth_proxy: rc.auth_proxy.enabled,
            // Not a value in the sub-chart: only the mirror moves it.
            auth_proxy_image: v.mirrored(KUBE_RBAC_PROXY_IMAGE.into(), ""),
        })
    } else {
        v.warn(
            "peerpods.resourceCtrl.enabled",
            "false: without peerpod-ctrl, a VM whose pod is gone while CAA is down is never deleted (it keeps costing money and quota)".to_string(),
        );
        None
    };

    let webhook = if r.webhook.enabled {
        let w = &r.webhook;
        one_of(
            v,
            "peerpods.webhook.webhook.failurePolicy",
            &w.webhook.failure_policy,
            &["Fail", "Ignore"],
        );
        if w.replicas < 1 {
            v.err(
                "peerpods.webhook.replicas",
                format!("`{}`: with no replica every pod creation outside kube-system fails (failurePolicy Fail)", w.replicas),
                "--set peerpods.webhook.replicas=2",
            );
        }
        if !w.cert_manager.enabled {
            v.warn(
                "peerpods.webhook.certManager.enabled",
                "false: no Issuer or Certificate is rendered; create Secret webhook-server-cert (tls.crt, tls.key) in the webhook namespace and put its CA in the MutatingWebhookConfiguration's caBundle, or every pod creation fails (failurePolicy Fail)".to_string(),
            );
        }
        if !w.tls_min_version.is_empty() {
            one_of(
                v,
                "peerpods.webhook.tlsMinVersion",
                &w.tls_min_version,
                &["VersionTLS12", "VersionTLS13"],
            );
        }
        if !w.tls_cipher_suites.is_empty() && w.tls_min_version == "VersionTLS13" {
            v.err(
                "peerpods.webhook.tlsCipherSuites",
                "is set while peerpods.webhook.tlsMinVersion is VersionTLS13: TLS 1.3 cipher suites cannot be configured (Go ignores the list), so the setting would silently do nothing",
                "remove peerpods.webhook.tlsCipherSuites, or --set peerpods.webhook.tlsMinVersion=VersionTLS12",
            );
        }
        if w.webhook.target_runtime_class != "kata-remote" {
            v.warn(
                "peerpods.webhook.webhook.targetRuntimeClass",
                format!("`{}`: kata-deploy's remote shim creates the RuntimeClass kata-remote; pods of another class are not moved to {}", w.webhook.target_runtime_class, w.webhook.pod_vm_extended_resource),
            );
        }
        Some(Webhook {
            image: sub_image(v, "peerpods.webhook", &w.image),
            replicas: w.replicas,
            resources: w.resources.clone(),
            target_runtime_class: w.webhook.target_runtime_class.clone(),
            pod_vm_extended_resource: w.webhook.pod_vm_extended_resource.clone(),
            failure_policy: w.webhook.failure_policy.clone(),
            cert_manager: w.cert_manager.enabled,
            tls_min_version: w.tls_min_version.clone(),
            tls_cipher_suites: w.tls_cipher_suites.clone(),
        })
    } else {
        v.warn(
            "peerpods.webhook.enabled",
            "false: pods using kata-remote keep their CPU and memory requests, which are charged to the worker node instead of the kata.peerpods.io/vm resource".to_string(),
        );
        None
    };

    if matches!(&r.kata_deploy, Value::Mapping(m) if !m.is_empty()) {
        v.warn(
            "peerpods.kata-deploy",
            "ignored: cococtl installs exactly one kata-deploy (from the top-level values) and adds the remote shim to it; the chart's own kata-deploy next to it would be a second installer on the same containerd".to_string(),
        );
    }

    check_prefix(
        v,
        "peerpods.resourceCtrl.namePrefix",
        &r.resource_ctrl.name_prefix,
        // The metrics Service: the longest name, and a DNS-1035 label.
        "controller-manager-metrics-service",
    );
    check_prefix(
        v,
        "peerpods.webhook.namePrefix",
        &r.webhook.name_prefix,
        "controller-manager-metrics-service",
    );
    let webhook_namespace = if r.webhook.namespace_override.is_empty() {
        namespace.clone()
    } else {
        let o = &r.webhook.namespace_override;
        if !dns_label(o) {
            v.err(
                "peerpods.webhook.namespaceOverride",
                format!("`{o}` is not a namespace name (lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63 characters)"),
                "--set peerpods.webhook.namespaceOverride=peer-pods-webhook-system",
            );
        }
        o.clone()
    };
    Some(PeerPods {
        namespace,
        webhook_namespace,
        ctrl_prefix: r.resource_ctrl.name_prefix.clone(),
        webhook_prefix: r.webhook.name_prefix.clone(),
        provider,
        config: data,
        mode,
        credentials,
        ssh_keys,
        tls_certs,
        credentials_secret,
        ssh_key_secret,
        tls_secret,
        image: caa_image,
        max_unavailable,
        max_surge,
        pod_labels: ds.pod_labels.clone(),
        service_account_annotations: ds.service_account.annotations.clone(),
        resource_ctrl,
        webhook,
    })
}

/// The keys each provider's entry point requires (docs/peerpods.md#required-keys).
#[allow(clippy::too_many_arguments)]
fn required_keys(
    v: &mut V,
    provider: Provider,
    mode: SecretsMode,
    config: &BTreeMap<String, String>,
    secrets: &BTreeMap<String, String>,
    ssh_keys: &BTreeMap<String, String>,
    referenced_secret: bool,
    r: &Raw,
    chose: Option<Source>,
) {
    let p = provider.as_str();
    let cfg_base = format!("peerpods.providerConfigs.{p}");
    let sec_base = format!("peerpods.providerSecrets.{p}");
    let why =
        format!("is required for provider {p}: the CAA container's entry point exits without it");
    for key in provider.required_config() {
        if config.get(*key).is_none_or(|s| s.is_empty()) {
            let path = format!("{cfg_base}.{key}");
            v.problem_from(
                &path,
                chose.clone(),
                why.clone(),
                format!("--set {path}={}", Provider::example(key)),
            );
        }
    }
    if mode == SecretsMode::Create {
        for key in provider.required_ssh_keys() {
            if !ssh_keys.contains_key(*key) {
                let given = if *key == "id_rsa.pub" {
                    "id_rsa_pub"
                } else {
                    key
                };
                let path = format!("{sec_base}.{given}");
                v.problem_from(
                    &path,
                    chose.clone(),
                    format!("is required for provider {p}: CAA logs in over SSH with it (Secret {SSH_KEY_SECRET}, file {key})"),
                    format!("put the key under {path} in a -f values file (`{given}: |` and the key's lines), or create the Secret yourself and --set peerpods.secrets.mode=reference,peerpods.secrets.existingSshKeySecretName={SSH_KEY_SECRET}"),
                );
            }
        }
    }
    // Credentials: checked where cococtl can see them (create mode, or reference mode
    // without a Secret); a referenced Secret is checked against the cluster at install.
    if mode == SecretsMode::Reference && referenced_secret {
        return;
    }
    let has = |k: &str| {
        config.get(k).is_some_and(|s| !s.is_empty())
            || secrets.get(k).is_some_and(|s| !s.is_empty())
    };
    let labels = &r.daemonset.pod_labels;
    let annotations = &r.daemonset.service_account.annotations;
    let where_ = if mode == SecretsMode::Create {
        sec_base.clone()
    } else {
        "peerpods.secrets.existingSecretName".to_string()
    };
    let missing = |v: &mut V, what: String, fix: String| {
        let path = if mode == SecretsMode::Create {
            sec_base.clone()
        } else {
            where_.clone()
        };
        v.problem_from(&path, chose.clone(), what, fix);
    };
    let ref_fix = format!("or create a Secret with them and --set peerpods.secrets.mode=reference,peerpods.secrets.existingSecretName={CREDENTIALS_SECRET}");
    match provider {
        Provider::Azure => {
            let wi = labels.get(WI_USE).is_some_and(|s| s == "true");
            let wi_client = wi && annotations.contains_key(WI_CLIENT_ID);
            if !(has("AZURE_CLIENT_ID") || wi_client) {
                missing(
                    v,
                    "has no AZURE_CLIENT_ID: provider azure needs a client id (the CAA entry point exits without it)".into(),
                    format!("--set {sec_base}.AZURE_CLIENT_ID=<client id>, or with Workload Identity the ServiceAccount annotation peerpods.daemonset.serviceAccount.annotations.{} and the pod label peerpods.daemonset.podLabels.{}=\"true\", {ref_fix}", WI_CLIENT_ID.replace('.', "\\."), WI_USE.replace('.', "\\.")),
                );
            }
            if !has("AZURE_TENANT_ID") && !wi {
                missing(
                    v,
                    "has no AZURE_TENANT_ID and Workload Identity is off: provider azure needs a tenant id (the CAA entry point exits without it)".into(),
                    format!("--set {sec_base}.AZURE_TENANT_ID=<tenant id> (with AZURE_CLIENT_SECRET for a service principal), or turn on Workload Identity with peerpods.daemonset.podLabels.{}=\"true\" (its webhook injects the tenant id), {ref_fix}", WI_USE.replace('.', "\\.")),
                );
            }
        }
        Provider::Aws => {
            let role = has("AWS_ROLE_ARN") || annotations.contains_key(IRSA_ROLE);
            let (id, secret) = (has("AWS_ACCESS_KEY_ID"), has("AWS_SECRET_ACCESS_KEY"));
            let key_pair = id && secret;
            if !(role || key_pair) {
                let what = match (id, secret) {
                    (true, false) => {
                        "has AWS_ACCESS_KEY_ID but no AWS_SECRET_ACCESS_KEY".to_string()
                    }
                    (false, true) => {
                        "has AWS_SECRET_ACCESS_KEY but no AWS_ACCESS_KEY_ID".to_string()
                    }
                    _ => "has no AWS credentials".to_string(),
                };
                missing(
                    v,
                    format!("{what}: provider aws needs an access key pair or a role ARN"),
                    format!("--set {sec_base}.AWS_ACCESS_KEY_ID=<id>,{sec_base}.AWS_SECRET_ACCESS_KEY=<secret>, or IRSA: peerpods.daemonset.serviceAccount.annotations.{}=<role ARN>, {ref_fix}", IRSA_ROLE.replace('.', "\\.")),
                );
            }
        }
        Provider::Ibmcloud => {
            if !has("IBMCLOUD_API_KEY") && !has("IBMCLOUD_IAM_PROFILE_ID") {
                missing(
                    v,
                    "has neither IBMCLOUD_API_KEY nor IBMCLOUD_IAM_PROFILE_ID: provider ibmcloud needs one".into(),
                    format!("--set {sec_base}.IBMCLOUD_API_KEY=<key> (or IBMCLOUD_IAM_PROFILE_ID for a trusted profile), {ref_fix}"),
                );
            }
        }
        Provider::IbmcloudPowervs => {
            if !has("IBMCLOUD_API_KEY") {
                missing(
                    v,
                    "has no IBMCLOUD_API_KEY: provider ibmcloud-powervs needs it".into(),
                    format!("--set {sec_base}.IBMCLOUD_API_KEY=<key>, {ref_fix}"),
                );
            }
        }
        Provider::Alibabacloud | Provider::Byom | Provider::Gcp | Provider::Libvirt => {}
    }
}

/// A DNS-1123 label (namespace names), or a DNS-1035 one with `letter_first` (Service
/// names).
fn label_ok(s: &str, letter_first: bool) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
        && (!letter_first || b[0].is_ascii_lowercase())
}

fn dns_label(s: &str) -> bool {
    label_ok(s, false)
}

/// A sub-chart's `namePrefix` must make valid names of every object it starts: its
/// longest (`longest`, a Service: a DNS-1035 label of at most 63 characters) included.
fn check_prefix(v: &mut V, key: &str, prefix: &str, longest: &str) {
    let name = format!("{prefix}{longest}");
    if !label_ok(&name, true) {
        v.err(
            key,
            format!(
                "`{prefix}` does not make valid object names (`{name}` must be lowercase letters, digits and '-', start with a letter and have at most 63 characters: the prefix at most {} characters)",
                63 - longest.len()
            ),
            format!("--set {key}=<a shorter lowercase prefix ending in '-'>"),
        );
    }
}
