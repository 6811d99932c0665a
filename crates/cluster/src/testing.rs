//! An API-server stand-in for tests (feature `test-support`): an HTTP/1.1 server on
//! 127.0.0.1 whose answers are shaped like kube-apiserver's, plus a small simulation of
//! the controllers and kubelets (DaemonSet pods, kata-deploy and containerd agent node
//! labels, SIGTERM cleanup, verify pods), so `install --wait` and `uninstall` run end to
//! end.
//!
//! Shaped like the real thing: server-side apply with `managedFields`, `409` conflicts with
//! `FieldManagerConflict` causes, `404` `Status` after delete, paged lists (`limit`,
//! `continue`, `410` on an expired token), watch streams (one JSON event per line,
//! `BOOKMARK`s, an `ERROR` event with `410` for a too-old resourceVersion, closed after a
//! quiet period like a server-side timeout), `403` with the RBAC message,
//! `429`/`503` with `Retry-After` and `retryAfterSeconds`. Every request is recorded.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};

mod admission;
mod defaults;
mod deletion;
mod discovery;
mod fields;
mod old_installs;
mod outage;
mod validation;

pub use admission::DenyingWebhook;
use fields::fields_v1;
pub use outage::{listening, OutageTrigger};

/// One request as seen by the server.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub query: BTreeMap<String, String>,
    pub content_type: String,
    /// The Accept header (aggregated discovery is asked for there).
    pub accept: String,
    pub body: Value,
}

impl Request {
    /// `GET /api/v1/nodes?limit=500`-style, for assertions and figures.
    pub fn line(&self) -> String {
        let q: Vec<String> = self.query.iter().map(|(k, v)| format!("{k}={v}")).collect();
        if q.is_empty() {
            format!("{} {}", self.method, self.path)
        } else {
            format!("{} {}?{}", self.method, self.path, q.join("&"))
        }
    }
    pub fn is_watch(&self) -> bool {
        self.query
            .get("watch")
            .is_some_and(|w| w == "true" || w == "1")
    }
}

/// A canned failure.
#[derive(Debug, Clone)]
pub struct Fault {
    pub method: String,
    pub path_contains: String,
    /// Also match on a query key present (e.g. `continue`).
    pub query_has: Option<String>,
    pub status: u16,
    pub body: Value,
    pub retry_after: Option<u32>,
    pub times: usize,
}

/// Simulation knobs.
#[derive(Debug, Clone)]
pub struct Sim {
    /// Run the controllers/kubelets.
    pub enabled: bool,
    /// Nodes whose kata-deploy never gets ready (image pull back-off).
    pub stuck_nodes: Vec<String>,
    /// Nodes whose containerd restore fails on uninstall.
    pub restore_fails: Vec<String>,
    /// Nodes whose kata-deploy pod does not clean up (labels stay).
    pub cleanup_fails: Vec<String>,
    /// Kernel a kata pod reports (differs from the nodes').
    pub guest_kernel: String,
    /// How long a watch stays open without events before the server closes it.
    pub watch_quiet: Duration,
    /// Deployments whose pods never get ready (image pull back-off).
    pub stuck_deployments: Vec<String>,
    /// How long a deleted namespace stays Terminating with its content before the
    /// namespace controller removes it, and a foreground deletion without dependents
    /// stays before the garbage collector finishes it (the real ones take seconds; an
    /// exchange right after the DELETE sees the object still there, 49 and 53).
    pub namespace_grace: Duration,
    /// Per tick: how many kubelets finish their work (install, clean-up, a pod's exit)
    /// and how many outdated pods a rolling update replaces at once. 1 (one node per
    /// tick, `maxUnavailable: 1`) orders what tests watch; a benchmark over thousands of
    /// nodes raises it so a rollout takes a few ticks, not thousands.
    pub work_per_tick: usize,
    /// Admission webhooks that refuse pod creations (the controllers' too).
    pub denying_webhooks: Vec<DenyingWebhook>,
    /// How many kata pods (a RuntimeClass, no controller) still get a
    /// `FailedCreatePodSandBox` instead of running: each such pod stays Pending on its
    /// node with that event, as the kubelet leaves it.
    pub sandbox_failures: usize,
    /// Whether watches stream lists (`sendInitialEvents`, the WatchList feature: on by
    /// default since 1.34, off in 1.33); off, a watch-list request is refused with 422.
    pub watch_list: bool,
    /// A server (or a proxy in front of it) that ignores `sendInitialEvents`: a watch
    /// without a resourceVersion gets the current objects as ADDED, as any such watch
    /// does, and no bookmark ends them.
    pub watch_list_ignored: bool,
}

impl Default for Sim {
    fn default() -> Self {
        Sim {
            enabled: true,
            stuck_nodes: vec![],
            restore_fails: vec![],
            cleanup_fails: vec![],
            guest_kernel: "6.12.8-kata-confidential".into(),
            watch_quiet: Duration::from_millis(1500),
            stuck_deployments: vec![],
            namespace_grace: Duration::from_millis(1000),
            work_per_tick: 1,
            denying_webhooks: vec![],
            sandbox_failures: 0,
            watch_list: true,
            watch_list_ignored: false,
        }
    }
}

#[derive(Debug, Clone)]
struct Ev {
    rv: u64,
    coll: String,
    kind: &'static str,
    obj: Value,
}

#[derive(Default)]
struct State {
    objects: BTreeMap<String, Value>,
    rv: u64,
    uid: u64,
    log: Vec<Ev>,
    /// Watch resourceVersions at or below this are expired (410).
    compacted: u64,
    requests: Vec<Request>,
    faults: VecDeque<Fault>,
    /// (verb, resource) denied to the user.
    denied: Vec<(String, String)>,
    /// Rules reviews answer `incomplete` with no rules (a webhook authorizer).
    rules_incomplete: bool,
    sim: Sim,
    /// Nodes whose pods are scheduled and which tick the simulation forward.
    ticks: u64,
    /// MutatingWebhookConfigurations applied while their Service had no ready endpoint
    /// (every pod creation would have failed cluster-wide).
    outages: Vec<String>,
    /// cert-manager's CA injector, played: MutatingWebhookConfiguration → tick it injects at.
    ca_pending: BTreeMap<String, u64>,
    /// Pod-creating objects applied while a MutatingWebhookConfiguration had no caBundle.
    ca_outages: Vec<String>,
    /// Namespaces being deleted, and since when (the namespace controller's queue).
    terminating_since: BTreeMap<String, Instant>,
    /// Objects deleted in the foreground, and since when (the garbage collector's queue).
    foreground_since: BTreeMap<String, Instant>,
    /// Workload controllers backing off after a refused pod creation: owner key → (next
    /// attempt, delay).
    create_backoff: BTreeMap<String, (Instant, Duration)>,
    /// Owner key → (the last refusal's message, since when): `ReplicaFailure`.
    create_failures: BTreeMap<String, (String, String)>,
    /// A paged list's snapshot: (collection and selectors, continue token) → the
    /// resourceVersion of its first page, which every later page carries (as the real
    /// server's do: the client watches from it and must not miss a change made between
    /// two pages).
    list_snapshots: BTreeMap<(String, String), String>,
}

/// The running stand-in.
pub struct ApiServer {
    pub url: String,
    state: Arc<(Mutex<State>, Condvar)>,
    stop: Arc<AtomicBool>,
    gate: Arc<outage::Gate>,
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        self.gate.cut_connections();
    }
}

/// Where an object lives: `prefix|plural|namespace|name` (collections without name).
fn key(prefix: &str, plural: &str, ns: &str, name: &str) -> String {
    format!("{prefix}|{plural}|{ns}|{name}")
}

struct Route {
    prefix: String,
    plural: String,
    ns: String,
    name: String,
    sub: String,
}

fn route(path: &str) -> Option<Route> {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (prefix, rest) = match *segs.first()? {
        "api" => (format!("/api/{}", segs.get(1)?), &segs[2..]),
        "apis" => (
            format!("/apis/{}/{}", segs.get(1)?, segs.get(2)?),
            &segs[3..],
        ),
        _ => return None,
    };
    let r = |plural: &str, ns: &str, name: &str, sub: &str| Route {
        prefix: prefix.clone(),
        plural: plural.into(),
        ns: ns.into(),
        name: name.into(),
        sub: sub.into(),
    };
    Some(match rest {
        [p] => r(p, "", "", ""),
        ["namespaces", n, p] => r(p, n, "", ""),
        ["namespaces", n, p, name] => r(p, n, name, ""),
        ["namespaces", n, p, name, sub] => r(p, n, name, sub),
        [p, name] => r(p, "", name, ""),
        [p, name, sub] => r(p, "", name, sub),
        _ => return None,
    })
}

fn kind_of(plural: &str) -> &'static str {
    match plural {
        "nodes" => "Node",
        "pods" => "Pod",
        "namespaces" => "Namespace",
        "secrets" => "Secret",
        "configmaps" => "ConfigMap",
        "serviceaccounts" => "ServiceAccount",
        "events" => "Event",
        "daemonsets" => "DaemonSet",
        "runtimeclasses" => "RuntimeClass",
        "clusterroles" => "ClusterRole",
        "clusterrolebindings" => "ClusterRoleBinding",
        "jobs" => "Job",
        "deployments" => "Deployment",
        "services" => "Service",
        "endpointslices" => "EndpointSlice",
        "customresourcedefinitions" => "CustomResourceDefinition",
        "mutatingwebhookconfigurations" => "MutatingWebhookConfiguration",
        "peerpods" => "PeerPod",
        "poddisruptionbudgets" => "PodDisruptionBudget",
        "ccruntimes" => "CcRuntime",
        _ => "Object",
    }
}

/// A SelfSubjectRulesReview's answer, shaped like the real server's (spec and metadata
/// not echoed, rules not merged): everything but what [`ApiServer::deny`] took away, or,
/// with [`ApiServer::rules_incomplete`], only the self-review rules and `incomplete` (a
/// webhook authorizer that cannot list rules).
fn rules_review(s: &State) -> Value {
    const VERBS: [&str; 8] = [
        "get",
        "list",
        "watch",
        "create",
        "update",
        "patch",
        "delete",
        "deletecollection",
    ];
    let self_reviews = [
        json!({"verbs": ["create"], "apiGroups": ["authorization.k8s.io"],
               "resources": ["selfsubjectaccessreviews", "selfsubjectrulesreviews"]}),
        json!({"verbs": ["create"], "apiGroups": ["authentication.k8s.io"],
               "resources": ["selfsubjectreviews"]}),
    ];
    let mut rules = vec![];
    if !s.rules_incomplete {
        if s.denied.is_empty() {
            rules.push(json!({"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}));
        } else {
            let limited: BTreeSet<&str> = s.denied.iter().map(|(_, r)| r.as_str()).collect();
            let others: Vec<&str> = KNOWN_PLURALS
                .iter()
                .copied()
                .filter(|p| !limited.contains(p))
                .collect();
            rules.push(json!({"verbs": ["*"], "apiGroups": ["*"], "resources": others}));
            for res in limited {
                let verbs: Vec<&str> = VERBS
                    .iter()
                    .copied()
                    .filter(|v| !s.denied.iter().any(|(dv, dr)| dv == v && dr == res))
                    .collect();
                rules.push(json!({"verbs": verbs, "apiGroups": ["*"], "resources": [res]}));
            }
        }
    }
    rules.extend(self_reviews);
    json!({"kind": "SelfSubjectRulesReview", "apiVersion": "authorization.k8s.io/v1",
           "metadata": {}, "spec": {},
           "status": {"resourceRules": rules,
                      "nonResourceRules": [{"verbs": ["get"], "nonResourceURLs": ["/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/readyz", "/version", "/version/"]}],
                      "incomplete": s.rules_incomplete}})
}

/// Every resource the stand-in serves, for rules that grant all but a denied few.
const KNOWN_PLURALS: [&str; 26] = [
    "nodes",
    "pods",
    "namespaces",
    "secrets",
    "configmaps",
    "serviceaccounts",
    "events",
    "daemonsets",
    "runtimeclasses",
    "clusterroles",
    "clusterrolebindings",
    "roles",
    "rolebindings",
    "jobs",
    "deployments",
    "replicasets",
    "services",
    "endpointslices",
    "customresourcedefinitions",
    "mutatingwebhookconfigurations",
    "peerpods",
    "issuers",
    "certificates",
    "nodefeaturerules",
    "selfsubjectaccessreviews",
    "selfsubjectrulesreviews",
];

fn group_of(prefix: &str) -> &str {
    prefix
        .strip_prefix("/apis/")
        .and_then(|g| g.split('/').next())
        .unwrap_or("")
}

fn status(code: u16, reason: &str, message: &str, details: Value) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
           "message": message, "reason": reason, "details": details, "code": code})
}

/// `v` without its null members (at any depth), and without the objects left empty by
/// that: what a merge patch sets, not what it removes.
fn without_nulls(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(_, x)| !x.is_null())
                .map(|(k, x)| (k.clone(), without_nulls(x)))
                .filter(|(k, x)| {
                    !(x.as_object().is_some_and(|o| o.is_empty())
                        && m[k].as_object().is_some_and(|o| !o.is_empty()))
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Where the stand-in keeps objects of `kind` (its path prefix and plural): Nodes,
/// Namespaces and every kind a take-over may delete (`None`: a kind it does not serve).
pub fn route_of(kind: &str) -> Option<(String, &'static str)> {
    let (group, version, plural) = match kind {
        "Node" => ("", "v1", "nodes"),
        "Namespace" => ("", "v1", "namespaces"),
        "CustomResourceDefinition" => ("apiextensions.k8s.io", "v1", "customresourcedefinitions"),
        other => crate::core::takeover::actions::resource_of(other)?,
    };
    let prefix = if group.is_empty() {
        format!("/api/{version}")
    } else {
        format!("/apis/{group}/{version}")
    };
    Some((prefix, plural))
}

/// The patch content types kube-apiserver takes (apply's is handled on its own).
const PATCH_TYPES: &[&str] = &[
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
];

/// Whether the request carries a `metadata.resourceVersion` (an optimistic-lock
/// precondition, in a replace or a merge patch alike, 68 and 69) that is not the live one.
fn stale(req: &Request, live: Option<&Value>) -> bool {
    let Some(sent) = req
        .body
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
    else {
        return false;
    };
    live.and_then(|o| o.pointer("/metadata/resourceVersion"))
        .and_then(Value::as_str)
        != Some(sent)
}

/// The 409 of a stale resourceVersion: no causes (68, 69).
fn modified(r: &Route) -> (u16, Value) {
    (
        409,
        status(
            409,
            "Conflict",
            &format!(
                "Operation cannot be fulfilled on {} \"{}\": the object has been modified; please apply your changes to the latest version and try again",
                r.plural, r.name
            ),
            json!({"name": r.name, "kind": r.plural}),
        ),
    )
}

fn not_found(r: &Route) -> (u16, Value) {
    let g = group_of(&r.prefix);
    let res = if g.is_empty() {
        r.plural.clone()
    } else {
        format!("{}.{g}", r.plural)
    };
    (
        404,
        status(
            404,
            "NotFound",
            &format!("{res} \"{}\" not found", r.name),
            details(&r.name, g, &r.plural),
        ),
    )
}

/// A Status's `details` as kube-apiserver writes them: the core group has no `group` key
/// (fixtures 20, 63).
fn details(name: &str, group: &str, kind: &str) -> Value {
    let mut d = json!({"name": name, "kind": kind});
    if !group.is_empty() {
        d["group"] = json!(group);
    }
    d
}

fn with_uid(mut d: Value, uid: Option<&Value>) -> Value {
    d["uid"] = uid.cloned().unwrap_or_default();
    d
}

fn now() -> String {
    k8s_openapi::jiff::Timestamp::now().to_string()
}

fn labels_of(o: &Value) -> Map<String, Value> {
    o.pointer("/metadata/labels")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

/// `a=b,c,!d,e in (x,y),f!=g`.
fn selector_matches(sel: &str, labels: &Map<String, Value>) -> bool {
    let mut parts = vec![];
    let mut depth = 0;
    let mut cur = String::new();
    for ch in sel.chars() {
        match ch {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(ch);
    }
    parts.push(cur);
    parts
        .iter()
        .map(|p| p.trim())
        .filter(|p| !p.is_empty())
        .all(|p| {
            let get = |k: &str| labels.get(k.trim()).and_then(Value::as_str);
            if let Some((k, v)) = p.split_once(" in ") {
                let vals: Vec<&str> = v
                    .trim()
                    .trim_matches(|c| c == '(' || c == ')')
                    .split(',')
                    .map(str::trim)
                    .collect();
                get(k).is_some_and(|x| vals.contains(&x))
            } else if let Some((k, v)) = p.split_once("!=") {
                get(k) != Some(v.trim())
            } else if let Some((k, v)) = p.split_once('=') {
                get(k.trim_end_matches('=')) == Some(v.trim())
            } else if let Some(k) = p.strip_prefix('!') {
                get(k).is_none()
            } else {
                get(p).is_some()
            }
        })
}

fn field_matches(sel: &str, o: &Value) -> bool {
    sel.split(',').filter(|p| !p.is_empty()).all(|p| {
        let Some((k, v)) = p.split_once('=') else {
            return true;
        };
        let ptr = format!("/{}", k.replace('.', "/"));
        let got = o.pointer(&ptr).and_then(Value::as_str).unwrap_or("");
        got == v
    })
}

/// managedFields in kube-apiserver's order, kept on every write: Apply entries before
/// Update ones, then by time to the second (the server's precision), manager and
/// subresource (15: "other"'s new Apply entry lands after cococtl's, written in the same
/// second, and before the controller's Update; 53: cococtl's entry re-recorded minutes
/// later moves after "other"'s; 47).
fn sort_managed_fields(obj: &mut Value) {
    if let Some(mf) = obj
        .pointer_mut("/metadata/managedFields")
        .and_then(Value::as_array_mut)
    {
        let key = |e: &Value| {
            let s = |k: &str| e[k].as_str().unwrap_or_default().to_string();
            let second: String = s("time").chars().take(19).collect();
            (s("operation"), second, s("manager"), s("subresource"))
        };
        mf.sort_by_key(key);
    }
}

/// RFC 7386 JSON merge patch: maps merge field by field, nulls delete, everything else
/// (lists included) is replaced.
fn merge(base: &mut Value, patch: &Value) {
    merge_with(base, patch, "", false);
}

/// Server-side apply's merge of an applied body into a live object others own parts of:
/// as [`merge`], but keyed lists merge item by item (by their keys: `containers` by name,
/// `volumeMounts` by mountPath, ...; an item the body names is merged into the live one,
/// a new one is appended, the others stay) (15: another manager's image and one env value
/// leave cococtl's command and the rest).
fn merge_applied(base: &mut Value, patch: &Value) {
    merge_with(base, patch, "", true);
}

fn merge_with(base: &mut Value, patch: &Value, field: &str, keyed: bool) {
    let keys = fields::list_keys(field).filter(|_| keyed);
    match (base, patch) {
        (Value::Object(b), Value::Object(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    b.remove(k);
                } else {
                    merge_with(b.entry(k.clone()).or_insert(Value::Null), v, k, keyed);
                }
            }
        }
        (Value::Array(b), Value::Array(p)) if keys.is_some() => {
            let keys = keys.unwrap_or_default();
            let id = |item: &Value| -> Vec<Value> {
                keys.iter()
                    .map(|k| match (item.get(*k), *k) {
                        (Some(v), _) => v.clone(),
                        // A port's protocol defaults to TCP.
                        (None, "protocol") => Value::String("TCP".into()),
                        (None, _) => Value::Null,
                    })
                    .collect()
            };
            for item in p {
                match b.iter_mut().find(|x| id(x) == id(item)) {
                    Some(live) => merge_with(live, item, "", keyed),
                    None => b.push(item.clone()),
                }
            }
        }
        // RFC 7386: an object patched onto a non-object starts from `{}`, so its nulls
        // delete rather than being stored.
        (b, Value::Object(_)) => {
            *b = json!({});
            merge_with(b, patch, field, keyed);
        }
        (b, p) => *b = p.clone(),
    }
}

impl State {
    fn bump(&mut self) -> u64 {
        self.rv += 1;
        self.rv
    }

    fn put(&mut self, k: &str, mut obj: Value, created: bool) -> Value {
        sort_managed_fields(&mut obj);
        let rv = self.bump();
        obj["metadata"]["resourceVersion"] = json!(rv.to_string());
        let coll = k
            .rsplit_once('|')
            .map(|(c, _)| c.to_string())
            .unwrap_or_default();
        self.log.push(Ev {
            rv,
            coll,
            kind: if created { "ADDED" } else { "MODIFIED" },
            obj: obj.clone(),
        });
        self.objects.insert(k.to_string(), obj.clone());
        obj
    }

    fn remove(&mut self, k: &str) -> Option<Value> {
        let mut obj = self.objects.remove(k)?;
        let rv = self.bump();
        obj["metadata"]["resourceVersion"] = json!(rv.to_string());
        let coll = k
            .rsplit_once('|')
            .map(|(c, _)| c.to_string())
            .unwrap_or_default();
        self.log.push(Ev {
            rv,
            coll,
            kind: "DELETED",
            obj: obj.clone(),
        });
        Some(obj)
    }

    fn new_meta(&mut self, obj: &mut Value, plural: &str) {
        self.uid += 1;
        obj["metadata"]["uid"] = json!(format!("00000000-0000-4000-8000-{:012}", self.uid));
        obj["metadata"]["creationTimestamp"] = json!(now());
        if has_generation(plural) {
            obj["metadata"]["generation"] = json!(1);
        }
    }

    fn create(&mut self, prefix: &str, plural: &str, ns: &str, mut obj: Value) -> Value {
        let name = obj
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        if !ns.is_empty() {
            obj["metadata"]["namespace"] = json!(ns);
        }
        if obj.pointer("/metadata/managedFields").is_none() {
            // Like the real server: a create records its manager (kubectl's default name).
            let fields = fields_v1(&obj, true);
            obj["metadata"]["managedFields"] = json!([{"manager": "kubectl-create", "operation": "Update",
                "apiVersion": obj["apiVersion"], "time": now(), "fieldsType": "FieldsV1", "fieldsV1": fields}]);
        }
        self.new_meta(&mut obj, plural);
        self.put(&key(prefix, plural, ns, &name), obj, true)
    }

    fn items(&self, coll: &str) -> Vec<&Value> {
        let p = format!("{coll}|");
        self.objects
            .range(p.clone()..)
            .take_while(|(k, _)| k.starts_with(&p))
            .map(|(_, v)| v)
            .collect()
    }

    fn all_ns_items(&self, prefix: &str, plural: &str) -> Vec<(String, Value)> {
        let p = format!("{prefix}|{plural}|");
        self.objects
            .range(p.clone()..)
            .take_while(|(k, _)| k.starts_with(&p))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}

impl ApiServer {
    /// Starts on an ephemeral port.
    pub fn start(sim: Sim) -> ApiServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new((
            Mutex::new(State {
                sim,
                ..Default::default()
            }),
            Condvar::new(),
        ));
        let stop = Arc::new(AtomicBool::new(false));
        let gate = Arc::new(outage::Gate::default());
        let (st, sp, g) = (state.clone(), stop.clone(), gate.clone());
        std::thread::spawn(move || outage::accept(listener, st, sp, g));
        let (st, sp) = (state.clone(), stop.clone());
        std::thread::spawn(move || {
            while !sp.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(120));
                let (m, cv) = &*st;
                let mut s = m.lock().unwrap();
                deletion::controllers(&mut s);
                if s.sim.enabled {
                    tick(&mut s);
                }
                cv.notify_all();
            }
        });
        let server = ApiServer {
            url,
            state,
            stop,
            gate,
        };
        // The namespaces every cluster has from its first second (the real server makes
        // them at start-up, with the name label the namespace controller adds).
        for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            server.put_raw(
                "/api/v1",
                "namespaces",
                "",
                json!({"apiVersion": "v1", "kind": "Namespace",
                    "metadata": {"name": ns, "labels": {"kubernetes.io/metadata.name": ns}},
                    "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}),
            );
        }
        // A real cluster's history before now is compacted: a watch from a version older
        // than the start-up state's is 410 (37), one from the start-up state's is not.
        server.with(|s| s.compacted = s.rv.saturating_sub(1));
        server
    }

    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        let (m, cv) = &*self.state;
        let mut s = m.lock().unwrap();
        let out = f(&mut s);
        cv.notify_all();
        out
    }

    /// Adds a node (amd64, Ready, containerd 2.1.9).
    pub fn add_node(&self, name: &str, labels: &[(&str, &str)]) {
        let mut l: Map<String, Value> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), json!(v)))
            .collect();
        l.insert("kubernetes.io/arch".into(), json!("amd64"));
        l.insert("kubernetes.io/hostname".into(), json!(name));
        // A node as a running cluster shows it: the TTL controller's annotation is there
        // within milliseconds of the node registering.
        self.put_raw("/api/v1", "nodes", "", json!({
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": l, "annotations": {"node.alpha.kubernetes.io/ttl": "0"}},
            "spec": {},
            "status": {
                "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}],
                "nodeInfo": {"architecture": "amd64", "kernelVersion": "6.8.0-45-generic",
                    "osImage": "Ubuntu 24.04.1 LTS", "containerRuntimeVersion": "containerd://2.1.9",
                    "kubeletVersion": "v1.36.0", "kubeProxyVersion": "", "bootID": "", "machineID": "",
                    "operatingSystem": "linux", "systemUUID": ""}
            }
        }));
    }

    /// Stores an object as is (no apply semantics).
    pub fn put_raw(&self, prefix: &str, plural: &str, ns: &str, obj: Value) {
        self.with(|s| {
            s.create(prefix, plural, ns, obj);
        });
    }

    /// Stores every item of a v1 List as it is (a capture: resourceVersion, uid, managed
    /// fields and status kept), routed by its kind; kinds the stand-in does not serve are
    /// skipped, and so are Pods: its DaemonSet controller makes the pods of the seeded
    /// DaemonSets, as it does for applied ones. Returns how many were stored.
    pub fn seed_list(&self, list: &Value) -> usize {
        let mut n = 0;
        for o in list["items"].as_array().into_iter().flatten() {
            let Some((prefix, plural)) = route_of(o["kind"].as_str().unwrap_or_default()) else {
                continue;
            };
            let ns = o["metadata"]["namespace"].as_str().unwrap_or("");
            self.put_raw(&prefix, plural, ns, o.clone());
            n += 1;
        }
        n
    }

    /// An object, if stored.
    pub fn get(&self, prefix: &str, plural: &str, ns: &str, name: &str) -> Option<Value> {
        self.with(|s| s.objects.get(&key(prefix, plural, ns, name)).cloned())
    }

    /// Every stored object of a collection (`ns` empty: cluster-scoped or all).
    pub fn list(&self, prefix: &str, plural: &str) -> Vec<Value> {
        self.with(|s| {
            s.all_ns_items(prefix, plural)
                .into_iter()
                .map(|(_, v)| v)
                .collect()
        })
    }

    /// Patches a stored object with a JSON merge patch (as another client would).
    pub fn merge(&self, prefix: &str, plural: &str, ns: &str, name: &str, patch: Value) {
        self.with(|s| {
            let k = key(prefix, plural, ns, name);
            if let Some(mut o) = s.objects.get(&k).cloned() {
                merge(&mut o, &patch);
                s.put(&k, o, false);
            }
        });
    }

    /// Deletes a stored object (as another client would).
    pub fn remove(&self, prefix: &str, plural: &str, ns: &str, name: &str) {
        self.with(|s| {
            s.remove(&key(prefix, plural, ns, name));
        });
    }

    /// Declares that `manager` owns `fields` of a stored object (`.spec.replicas`,
    /// `.metadata.labels.<key>`), as a `kubectl label`/`edit` would have recorded it: an
    /// Update entry in its managedFields, which applies then conflict with.
    pub fn foreign_owner(
        &self,
        prefix: &str,
        plural: &str,
        ns: &str,
        name: &str,
        manager: &str,
        fields: &[&str],
    ) {
        self.with(|s| {
            let k = key(prefix, plural, ns, name);
            let Some(mut o) = s.objects.get(&k).cloned() else {
                return;
            };
            let set = fields::of_paths(fields);
            let taken = fields::leaves(&set);
            // The update that set them took them from whoever owned them before.
            let mut mf: Vec<Value> = o["metadata"]["managedFields"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .filter_map(|mut e| {
                    let rest = fields::without(&e["fieldsV1"], &taken)?;
                    e["fieldsV1"] = rest;
                    Some(e)
                })
                .collect();
            mf.push(json!({"manager": manager, "operation": "Update",
                "apiVersion": o["apiVersion"].as_str().unwrap_or("v1"), "time": now(),
                "fieldsType": "FieldsV1", "fieldsV1": set}));
            o["metadata"]["managedFields"] = json!(mf);
            s.objects.insert(k, o);
        });
    }

    /// Rules reviews answer as an authorizer that cannot list rules does: `incomplete`,
    /// nothing granted (access reviews still answer per permission).
    pub fn rules_incomplete(&self) {
        self.with(|s| s.rules_incomplete = true);
    }

    /// Denies `verb` on `resource` in access and rules reviews, and answers 403 to such
    /// requests.
    pub fn deny(&self, verb: &str, resource: &str) {
        self.with(|s| s.denied.push((verb.into(), resource.into())));
    }

    /// Stops answering for `down`: the listener is closed (connection refused) and every
    /// open connection, watches included, is cut; then it listens again on the same port.
    /// Returns at once; the outage runs on its own thread.
    pub fn outage(&self, down: Duration) {
        outage::Gate::outage(&self.gate, down);
    }

    /// The same outage, starting when a request matching `method` and `path_contains`
    /// (and, for `watch`, a watch) arrives; that request is left unanswered. Each trigger
    /// fires once, in the order given.
    pub fn outage_on(&self, trigger: OutageTrigger) {
        self.gate.arm(trigger);
    }

    /// Outages that were armed with [`ApiServer::outage_on`] and have not fired yet.
    pub fn outages_pending(&self) -> Vec<OutageTrigger> {
        self.gate.pending()
    }

    /// Outages that have fired (and are over or under way).
    pub fn outages_fired(&self) -> usize {
        self.gate.fired()
    }

    /// Queues a fault.
    pub fn fault(&self, f: Fault) {
        self.with(|s| s.faults.push_back(f));
    }

    /// Expires every watch resourceVersion seen so far (the next watch from an old
    /// version gets `410 Gone`).
    pub fn compact(&self) {
        self.with(|s| s.compacted = s.rv);
    }

    /// Changes the simulation.
    pub fn sim(&self, f: impl FnOnce(&mut Sim)) {
        self.with(|s| f(&mut s.sim));
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Request> {
        self.with(|s| s.requests.clone())
    }

    /// MutatingWebhookConfigurations applied while their webhook Service had no ready
    /// endpoint (pod admission failing cluster-wide).
    pub fn admission_outages(&self) -> Vec<String> {
        self.with(|s| s.outages.clone())
    }

    /// Pod-creating objects (DaemonSets, Deployments, ...) applied while a
    /// MutatingWebhookConfiguration still had no caBundle (every pod creation it intercepts
    /// would have failed with `x509: certificate signed by unknown authority`).
    pub fn ca_outages(&self) -> Vec<String> {
        self.with(|s| s.ca_outages.clone())
    }

    /// Forgets the recorded requests.
    pub fn clear_requests(&self) {
        self.with(|s| s.requests.clear());
    }

    /// Installs cert-manager as the peer-pods preflight looks for it: its two CRDs and a
    /// webhook Deployment, returning once the Deployment controller made it available.
    pub fn install_cert_manager(&self) {
        for (plural, kind) in [("certificates", "Certificate"), ("issuers", "Issuer")] {
            self.put_raw(
                "/apis/apiextensions.k8s.io/v1",
                "customresourcedefinitions",
                "",
                json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
                    "metadata": {"name": format!("{plural}.cert-manager.io")},
                    "spec": {"group": "cert-manager.io", "scope": "Namespaced",
                        "names": {"plural": plural, "kind": kind}, "versions": []}}),
            );
        }
        self.put_raw(
            "/api/v1",
            "namespaces",
            "",
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "cert-manager"}}),
        );
        self.put_raw(
            "/apis/apps/v1",
            "deployments",
            "cert-manager",
            json!({"apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "cert-manager-webhook", "namespace": "cert-manager",
                    "labels": {"app.kubernetes.io/name": "webhook", "app.kubernetes.io/instance": "cert-manager"}},
                "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "webhook"}},
                    "template": {"metadata": {"labels": {"app": "webhook"}},
                        "spec": {"containers": [{"name": "cert-manager-webhook", "image": "quay.io/jetstack/cert-manager-webhook:v1.17.2"}]}}}}),
        );
        // The stand-in's Deployment controller makes it available within a few ticks.
        for _ in 0..100 {
            let d = self.get(
                "/apis/apps/v1",
                "deployments",
                "cert-manager",
                "cert-manager-webhook",
            );
            if d.and_then(|d| {
                d.pointer("/status/availableReplicas")
                    .and_then(|a| a.as_i64())
            }) == Some(1)
            {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// A kubeconfig file's text pointing at this server.
    pub fn kubeconfig(&self) -> String {
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: standin\n  cluster:\n    server: {}\ncontexts:\n- name: standin\n  context:\n    cluster: standin\n    user: tester\ncurrent-context: standin\nusers:\n- name: tester\n  user:\n    token: test-token\n",
            self.url
        )
    }
}

/// A 403 as kube-apiserver words it.
pub fn forbidden(verb: &str, resource: &str, group: &str, ns: &str, name: &str) -> Value {
    let res = if group.is_empty() {
        resource.to_string()
    } else {
        format!("{resource}.{group}")
    };
    let scope = if ns.is_empty() {
        "at the cluster scope".to_string()
    } else {
        format!("in the namespace \"{ns}\"")
    };
    let obj = if name.is_empty() {
        String::new()
    } else {
        format!("\"{name}\" ")
    };
    status(403, "Forbidden", &format!(
        "{res} {obj}is forbidden: User \"tester\" cannot {verb} resource \"{resource}\" in API group \"{group}\" {scope}"
    ), json!({"name": name, "group": group, "kind": resource}))
}

fn respond(s: &TcpStream, code: u16, body: &Value, extra: &[(&str, String)]) {
    respond_as(s, code, body, "application/json", extra);
}

fn respond_as(mut s: &TcpStream, code: u16, body: &Value, ctype: &str, extra: &[(&str, String)]) {
    let text = body.to_string();
    let reason = match code {
        200 => "OK",
        201 => "Created",
        403 => "Forbidden",
        404 => "Not Found",
        409 => "Conflict",
        410 => "Gone",
        422 => "Unprocessable Entity",
        429 => "Too Many Requests",
        503 => "Service Unavailable",
        _ => "Status",
    };
    let mut head = format!("HTTP/1.1 {code} {reason}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n", text.len());
    for (k, v) in extra {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    let _ = write!(s, "{head}\r\n{text}");
    let _ = s.flush();
}

fn read_request(conn: &TcpStream) -> Option<Request> {
    let mut r = BufReader::new(conn.try_clone().ok()?);
    let mut line = String::new();
    r.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let target = parts.next()?.to_string();
    let (mut len, mut ctype, mut accept) = (0usize, String::new(), String::new());
    loop {
        let mut h = String::new();
        r.read_line(&mut h).ok()?;
        if h == "\r\n" || h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':').unwrap_or((&h, ""));
        match k.to_ascii_lowercase().as_str() {
            "content-length" => len = v.trim().parse().unwrap_or(0),
            "content-type" => ctype = v.trim().to_string(),
            "accept" => accept = v.trim().to_string(),
            _ => {}
        }
    }
    let mut buf = vec![0; len];
    r.read_exact(&mut buf).ok()?;
    let (path, q) = target.split_once('?').unwrap_or((&target, ""));
    let query = q
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (k.to_string(), decode(v))
        })
        .collect();
    Some(Request {
        method,
        path: path.to_string(),
        query,
        content_type: ctype,
        accept,
        body: serde_json::from_slice(&buf).unwrap_or(Value::Null),
    })
}

fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = vec![];
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                let h = std::str::from_utf8(&b[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match h {
                    Some(c) => {
                        out.push(c);
                        i += 3;
                    }
                    None => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn serve(conn: TcpStream, st: Arc<(Mutex<State>, Condvar)>, gate: Arc<outage::Gate>) {
    let Some(req) = read_request(&conn) else {
        return;
    };
    let stop = gate.connection_flag();
    let (m, cv) = &*st;
    let mut s = m.lock().unwrap();
    s.requests.push(req.clone());
    if gate.trips(&req) {
        // The server went away with this request unanswered, as a crashed one does.
        drop(s);
        let _ = conn.shutdown(std::net::Shutdown::Both);
        return;
    }
    // Faults first.
    if let Some(pos) = s.faults.iter().position(|f| {
        f.method == req.method
            && req.path.contains(&f.path_contains)
            && f.query_has
                .as_ref()
                .is_none_or(|q| req.query.contains_key(q))
    }) {
        let f = s.faults[pos].clone();
        if f.times <= 1 {
            s.faults.remove(pos);
        } else {
            s.faults[pos].times -= 1;
        }
        drop(s);
        let extra: Vec<(&str, String)> = f
            .retry_after
            .map(|r| ("Retry-After", r.to_string()))
            .into_iter()
            .collect();
        respond(&conn, f.status, &f.body, &extra);
        return;
    }
    if req.path == "/version" {
        drop(s);
        respond(
            &conn,
            200,
            &json!({"major": "1", "minor": "36", "emulationMajor": "1", "emulationMinor": "36", "minCompatibilityMajor": "1", "minCompatibilityMinor": "35", "gitVersion": "v1.36.0", "gitCommit": "", "gitTreeState": "clean", "buildDate": "2026-04-01T00:00:00Z", "goVersion": "go1.25", "compiler": "gc", "platform": "linux/amd64"}),
            &[],
        );
        return;
    }
    let aggregated = req.accept.contains("as=APIGroupDiscoveryList");
    if let Some(doc) = (req.method == "GET")
        .then(|| discovery::document(&s, &req.path, aggregated))
        .flatten()
    {
        drop(s);
        let ctype = if aggregated {
            discovery::AGGREGATED
        } else {
            "application/json"
        };
        respond_as(&conn, 200, &doc, ctype, &[]);
        return;
    }
    let Some(r) = route(&req.path) else {
        drop(s);
        respond(
            &conn,
            404,
            &status(
                404,
                "NotFound",
                "the server could not find the requested resource",
                json!({}),
            ),
            &[],
        );
        return;
    };
    let verb = match (req.method.as_str(), r.name.is_empty(), req.is_watch()) {
        ("GET", _, true) => "watch",
        ("GET", true, _) => "list",
        ("GET", false, _) => "get",
        ("POST", _, _) => "create",
        ("PATCH", _, _) => "patch",
        ("PUT", _, _) => "update",
        ("DELETE", _, _) => "delete",
        _ => "get",
    };
    if s.denied
        .iter()
        .any(|(v, res)| v == verb && *res == r.plural)
    {
        drop(s);
        respond(
            &conn,
            403,
            &forbidden(verb, &r.plural, group_of(&r.prefix), &r.ns, &r.name),
            &[],
        );
        return;
    }
    if verb == "watch" {
        watch(conn, s, cv, &r, &req, &stop);
        return;
    }
    let (code, body) = handle(&mut s, &r, &req, verb);
    cv.notify_all();
    drop(s);
    if let Some(text) = body.as_str().filter(|_| r.sub == "log") {
        let mut c = &conn;
        let _ = write!(c, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}", text.len());
        return;
    }
    respond(&conn, code, &body, &[]);
}

fn handle(s: &mut State, r: &Route, req: &Request, verb: &str) -> (u16, Value) {
    deletion::before_request(s);
    let dry = req.query.get("dryRun").is_some_and(|d| d == "All");
    let k = key(&r.prefix, &r.plural, &r.ns, &r.name);
    let ns_missing = |s: &State| {
        !r.ns.is_empty()
            && !s
                .objects
                .contains_key(&key("/api/v1", "namespaces", "", &r.ns))
    };
    match verb {
        "get" if r.sub == "log" => match s.objects.get(&k) {
            Some(p) => (
                200,
                json!(p
                    .pointer("/metadata/annotations/standin~1log")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string()),
            ),
            None => not_found(r),
        },
        "get" => match s.objects.get(&k) {
            Some(o) => (200, o.clone()),
            None => not_found(r),
        },
        "list" => list(s, r, req),
        "create" if r.plural == "selfsubjectreviews" => (
            201,
            json!({"kind": "SelfSubjectReview", "apiVersion": "authentication.k8s.io/v1",
                   "metadata": {"creationTimestamp": null},
                   "status": {"userInfo": {"username": "tester", "groups": ["system:authenticated"]}}}),
        ),
        "create" if r.plural == "selfsubjectrulesreviews" => (201, rules_review(s)),
        "create" if r.plural == "selfsubjectaccessreviews" => {
            let a = req
                .body
                .pointer("/spec/resourceAttributes")
                .cloned()
                .unwrap_or_default();
            let v = a["verb"].as_str().unwrap_or("");
            let res = a["resource"].as_str().unwrap_or("");
            let allowed = !s.denied.iter().any(|(dv, dr)| dv == v && dr == res);
            let mut out = req.body.clone();
            // The real answer: `{allowed}` only (fixtures 39, 41), the empty group dropped
            // from the echoed spec (40), the create's managedFields entry in metadata.
            if let Some(ra) = out
                .pointer_mut("/spec/resourceAttributes")
                .and_then(Value::as_object_mut)
            {
                ra.retain(|_, v| v.as_str() != Some(""));
            }
            let manager = req.query.get("fieldManager").cloned().unwrap_or_default();
            out["metadata"] = json!({"managedFields": [{"manager": manager, "operation": "Update",
                "apiVersion": "authorization.k8s.io/v1", "time": now(), "fieldsType": "FieldsV1",
                "fieldsV1": fields_v1(&json!({"spec": out["spec"]}), true)}]});
            out["status"] = json!({"allowed": allowed});
            (201, out)
        }
        "create" if r.plural == "pods" && r.sub == "eviction" => old_installs::evict(s, r, &k),
        "create" => {
            let mut body = req.body.clone();
            if body.pointer("/metadata/name").is_none() {
                if let Some(g) = body
                    .pointer("/metadata/generateName")
                    .and_then(Value::as_str)
                    .map(String::from)
                {
                    body["metadata"]["name"] = json!(format!("{g}{:05x}", s.uid + 1));
                }
            }
            let req = &Request {
                body,
                ..req.clone()
            };
            let name = req
                .body
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            if ns_missing(s) {
                return (
                    404,
                    status(
                        404,
                        "NotFound",
                        &format!("namespaces \"{}\" not found", r.ns),
                        json!({"name": r.ns, "kind": "namespaces"}),
                    ),
                );
            }
            let exists = s
                .objects
                .contains_key(&key(&r.prefix, &r.plural, &r.ns, &name));
            if !exists && deletion::terminating(s, &r.ns) {
                return deletion::refused_in_terminating(&r.plural, &name, &r.ns);
            }
            if exists {
                return (
                    409,
                    status(
                        409,
                        "AlreadyExists",
                        &format!("{} \"{name}\" already exists", r.plural),
                        json!({"name": name, "kind": r.plural}),
                    ),
                );
            }
            let mut body = req.body.clone();
            // The creator owns what it sent, not what defaulting added, and never the
            // status, which a create resets (fixture 44).
            if body.pointer("/metadata/managedFields").is_none() {
                let mut sent = req.body.clone();
                if let Some(m) = sent.as_object_mut() {
                    m.remove("status");
                }
                let manager = req
                    .query
                    .get("fieldManager")
                    .cloned()
                    .unwrap_or_else(|| "kubectl-create".into());
                body["metadata"]["managedFields"] = json!([{"manager": manager,
                    "operation": "Update", "apiVersion": body["apiVersion"], "time": now(),
                    "fieldsType": "FieldsV1", "fieldsV1": fields_v1(&sent, true)}]);
            }
            defaults::apply(&r.plural, &mut body);
            defaults::initial_status(&r.plural, &mut body);
            if r.plural == "nodes" {
                defaults::new_node(&mut body);
            }
            if let Some(st) = validation::check(&r.plural, group_of(&r.prefix), &body, None) {
                return (422, st);
            }
            if r.plural == "pods" {
                if let Some((code, message)) = admission::deny(s, &r.ns) {
                    let reason = if code == 500 {
                        "InternalError"
                    } else {
                        "BadRequest"
                    };
                    return (code, status(code, reason, &message, json!({})));
                }
                if let Err(e) = admit(s, &r.ns, &mut body) {
                    return (500, e);
                }
            }
            if dry {
                return (201, body);
            }
            (201, s.create(&r.prefix, &r.plural, &r.ns, body))
        }
        "patch" if req.content_type.starts_with("application/apply-patch") => apply(s, r, req, dry),
        "patch" if !PATCH_TYPES.contains(&req.content_type.split(';').next().unwrap_or("")) => {
            // Before the object is looked up: a terse Status with empty details (72).
            (
                415,
                status(
                    415,
                    "UnsupportedMediaType",
                    "415: Unsupported Media Type",
                    json!({}),
                ),
            )
        }
        "patch" => match s.objects.get(&k).cloned() {
            Some(_) if stale(req, s.objects.get(&k)) => modified(r),
            Some(mut o) => {
                let old = o.clone();
                merge(&mut o, &req.body);
                defaults::apply(&r.plural, &mut o);
                if let Some(st) = validation::check(&r.plural, group_of(&r.prefix), &o, Some(&old))
                {
                    return (422, st);
                }
                if let Some(m) = req.query.get("fieldManager") {
                    let mf = o["metadata"]["managedFields"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default();
                    let mine = |e: &Value| {
                        e["manager"] == json!(m)
                            && e["operation"] == json!("Update")
                            && e.get("subresource").is_none_or(Value::is_null) == r.sub.is_empty()
                    };
                    let at = mf.iter().position(mine);
                    let before = at.map(|i| mf[i]["fieldsV1"].clone());
                    let mut mf = mf;
                    // A null removes a field: nobody owns what is not there (47).
                    let set = fields_v1(&without_nulls(&req.body), true);
                    let set = match &before {
                        Some(b) => fields::union(b, &set),
                        None => set,
                    };
                    // The time moves only when what the manager owns does.
                    let time = match at {
                        Some(i) if before.as_ref() == Some(&set) => mf[i]["time"].clone(),
                        _ => json!(now()),
                    };
                    let mut entry = json!({"manager": m, "operation": "Update", "apiVersion": "v1", "time": time, "fieldsType": "FieldsV1", "fieldsV1": set});
                    if !r.sub.is_empty() {
                        entry["subresource"] = json!(r.sub);
                    }
                    // The manager's entry keeps its place (47: the labels' entry stays
                    // before the status one after a later patch).
                    match at {
                        Some(i) => mf[i] = entry,
                        None => mf.push(entry),
                    }
                    o["metadata"]["managedFields"] = json!(mf);
                }
                let released = o.pointer("/metadata/deletionTimestamp").is_some()
                    && r.plural != "namespaces"
                    && o.pointer("/metadata/finalizers")
                        .and_then(Value::as_array)
                        .is_none_or(Vec::is_empty);
                let o = s.put(&k, o, false);
                if released {
                    // The last finalizer is off a terminating object: it goes at once.
                    s.remove(&k);
                }
                (200, o)
            }
            None => not_found(r),
        },
        "delete" if r.name.is_empty() => {
            let sel = req.query.get("labelSelector").cloned().unwrap_or_default();
            let keys: Vec<String> = s
                .items(&format!("{}|{}|{}", r.prefix, r.plural, r.ns))
                .into_iter()
                .filter(|o| selector_matches(&sel, &labels_of(o)))
                .filter_map(|o| o.pointer("/metadata/name").and_then(Value::as_str))
                .map(|n| key(&r.prefix, &r.plural, &r.ns, n))
                .collect();
            let mut gone = vec![];
            for k in keys {
                if let Some(o) = s.remove(&k) {
                    gone.push(o);
                }
            }
            (
                200,
                json!({"kind": format!("{}List", kind_of(&r.plural)), "apiVersion": "v1", "metadata": {}, "items": gone}),
            )
        }
        "update" => match s.objects.get(&k).cloned() {
            None => not_found(r),
            Some(_) if stale(req, s.objects.get(&k)) => modified(r),
            Some(old) => {
                // A replace: the sent object, the identity, creation, ownership records and
                // status (written through its subresource) kept.
                let mut o = req.body.clone();
                for f in ["uid", "creationTimestamp", "generation", "managedFields"] {
                    if let Some(v) = old["metadata"].get(f) {
                        o["metadata"][f] = v.clone();
                    }
                }
                if let Some(st) = old.get("status") {
                    o["status"] = st.clone();
                }
                defaults::apply(&r.plural, &mut o);
                if let Some(st) = validation::check(&r.plural, group_of(&r.prefix), &o, Some(&old))
                {
                    return (422, st);
                }
                if dry {
                    return (200, o);
                }
                (200, s.put(&k, o, false))
            }
        },
        "delete" => {
            if !s.objects.contains_key(&k) {
                return not_found(r);
            }
            if let Some(want) = req
                .body
                .pointer("/preconditions/uid")
                .and_then(Value::as_str)
            {
                let have = s.objects[&k]["metadata"]["uid"]
                    .as_str()
                    .unwrap_or_default();
                if want != have {
                    // details.kind is the Kind here, not the resource (70).
                    return (
                        409,
                        status(
                            409,
                            "Conflict",
                            &format!(
                                "Operation cannot be fulfilled on {} \"{}\": the UID in the precondition ({want}) does not match the UID in record ({have}). The object might have been deleted and then recreated",
                                kind_of(&r.plural),
                                r.name
                            ),
                            json!({"name": r.name, "kind": kind_of(&r.plural)}),
                        ),
                    );
                }
            }
            if dry {
                return (200, s.objects[&k].clone());
            }
            if r.plural == "namespaces" {
                return deletion::delete_namespace(s, &r.name);
            }
            {
                // Held by its finalizers until whoever owns them (a played controller: the
                // CoCo operator in old_installs, peerpod-ctrl) takes them off, as the real
                // server holds any object, pods too: the DELETE answers with the object,
                // terminating.
                let mut o = s.objects[&k].clone();
                let held = o
                    .pointer("/metadata/finalizers")
                    .and_then(Value::as_array)
                    .is_some_and(|f| !f.is_empty());
                if held {
                    if o.pointer("/metadata/deletionTimestamp").is_none() {
                        o["metadata"]["deletionTimestamp"] = json!(now());
                        o["metadata"]["deletionGracePeriodSeconds"] = json!(0);
                        o = s.put(&k, o, false);
                    }
                    return (200, o);
                }
            }
            on_delete(s, r, &k);
            if deletion::foreground(&req.body, &req.query) {
                return (
                    200,
                    deletion::delete_foreground(s, &k, has_generation(&r.plural)),
                );
            }
            if r.plural == "pods" {
                // Graceful deletion: MODIFIED with deletionTimestamp (generation moves),
                // then DELETED; the DELETE answers with the pod, not a Status (36, 57).
                if let Some(mut p) = s.objects.get(&k).cloned() {
                    if p.pointer("/metadata/deletionTimestamp").is_none() {
                        p["metadata"]["deletionTimestamp"] = json!(now());
                        p["metadata"]["deletionGracePeriodSeconds"] = req
                            .body
                            .get("gracePeriodSeconds")
                            .cloned()
                            .unwrap_or(json!(30));
                        p["metadata"]["generation"] =
                            json!(p["metadata"]["generation"].as_i64().unwrap_or(1) + 1);
                        s.put(&k, p, false);
                    }
                }
                return (200, s.remove(&k).unwrap_or_default());
            }
            let gone = s.remove(&k).unwrap_or_default();
            (
                200,
                json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": with_uid(details(&r.name, group_of(&r.prefix), &r.plural), gone.pointer("/metadata/uid"))}),
            )
        }
        _ => (
            405,
            status(
                405,
                "MethodNotAllowed",
                "not supported by the stand-in",
                json!({}),
            ),
        ),
    }
}

/// The objects of the route's collection the request's label and field selectors match,
/// in key order (a list's items, a watch-list's initial events).
fn selected(s: &State, r: &Route, req: &Request) -> Vec<Value> {
    let mut items: Vec<Value> = if r.ns.is_empty() {
        s.all_ns_items(&r.prefix, &r.plural)
            .into_iter()
            .map(|(_, v)| v)
            .collect()
    } else {
        s.items(&format!("{}|{}|{}", r.prefix, r.plural, r.ns))
            .into_iter()
            .cloned()
            .collect()
    };
    if let Some(sel) = req.query.get("labelSelector") {
        items.retain(|o| selector_matches(sel, &labels_of(o)));
    }
    if let Some(sel) = req.query.get("fieldSelector") {
        items.retain(|o| field_matches(sel, o));
    }
    items
}

fn list(s: &mut State, r: &Route, req: &Request) -> (u16, Value) {
    let items = selected(s, r, req);
    let limit: usize = req
        .query
        .get("limit")
        .and_then(|l| l.parse().ok())
        .unwrap_or(usize::MAX);
    let start: usize = match req.query.get("continue") {
        Some(c) => match c.strip_prefix("standin:").and_then(|n| n.parse().ok()) {
            Some(n) => n,
            // A token the server never gave out is garbled (400, fixture 34), not expired.
            None => {
                let mut st = status(
                    400,
                    "BadRequest",
                    "invalid continue token: continue key is not valid",
                    Value::Null,
                );
                if let Some(m) = st.as_object_mut() {
                    m.remove("details");
                }
                return (400, st);
            }
        },
        None => 0,
    };
    let total = items.len();
    let page: Vec<Value> = items
        .into_iter()
        .skip(start)
        .take(limit)
        .map(|mut o| {
            // List items carry no kind or apiVersion (fixtures 30, 33, 47).
            if let Some(m) = o.as_object_mut() {
                m.remove("kind");
                m.remove("apiVersion");
            }
            o
        })
        .collect();
    let next = start + page.len();
    let list_key = format!(
        "{}|{}|{}|{}|{}",
        r.prefix,
        r.plural,
        r.ns,
        req.query.get("labelSelector").map_or("", String::as_str),
        req.query.get("fieldSelector").map_or("", String::as_str)
    );
    let snapshot = req
        .query
        .get("continue")
        .and_then(|c| s.list_snapshots.remove(&(list_key.clone(), c.clone())))
        .unwrap_or_else(|| s.rv.to_string());
    let mut meta = json!({"resourceVersion": snapshot});
    if next < total {
        let token = format!("standin:{next}");
        s.list_snapshots
            .insert((list_key, token.clone()), snapshot.clone());
        meta["continue"] = json!(token);
        // Counted only without a selector (30; 33 has none).
        if !req.query.contains_key("labelSelector") && !req.query.contains_key("fieldSelector") {
            meta["remainingItemCount"] = json!(total - next);
        }
    }
    (
        200,
        json!({"kind": format!("{}List", kind_of(&r.plural)), "apiVersion": r.prefix.trim_start_matches("/api/").trim_start_matches("/apis/"), "metadata": meta, "items": page}),
    )
}

fn apply(s: &mut State, r: &Route, req: &Request, dry: bool) -> (u16, Value) {
    let k = key(&r.prefix, &r.plural, &r.ns, &r.name);
    let Some(manager) = req.query.get("fieldManager").cloned() else {
        // Other verbs default the manager from the User-Agent; apply refuses (66).
        let msg = "Required value: is required for apply patch";
        return (
            422,
            status(
                422,
                "Invalid",
                &format!("PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: {msg}"),
                json!({"group": "meta.k8s.io", "kind": "PatchOptions", "causes": [
                    {"reason": "FieldValueRequired", "message": msg, "field": "fieldManager"}]}),
            ),
        );
    };
    let force = req.query.get("force").is_some_and(|f| f == "true");
    if !r.ns.is_empty()
        && !s
            .objects
            .contains_key(&key("/api/v1", "namespaces", "", &r.ns))
    {
        return (
            404,
            status(
                404,
                "NotFound",
                &format!("namespaces \"{}\" not found", r.ns),
                json!({"name": r.ns, "kind": "namespaces"}),
            ),
        );
    }
    let existing = s.objects.get(&k).cloned();
    // Field-manager conflicts from the live object's managedFields, as the server
    // computes them: another manager's leaf set to a different value.
    let mut taken: BTreeMap<usize, Vec<Vec<String>>> = BTreeMap::new();
    if let Some(live) = &existing {
        let applied = fields_v1(&req.body, false);
        let entries = live["metadata"]["managedFields"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let mut groups: Vec<(String, Vec<String>)> = vec![];
        for (i, e) in entries.iter().enumerate() {
            let ours = e["manager"] == json!(manager) && e["operation"] == json!("Apply");
            if ours || e.get("subresource").is_some_and(Value::is_string) {
                continue;
            }
            let c = fields::conflicts(&applied, &e["fieldsV1"], &req.body, live);
            if c.is_empty() {
                continue;
            }
            let who = match e["operation"].as_str() {
                // Only an Update manager is named with the version it wrote (fixture 76).
                Some("Update") => format!(
                    "\"{}\" using {}",
                    e["manager"].as_str().unwrap_or(""),
                    e["apiVersion"].as_str().unwrap_or("v1")
                ),
                _ => format!("\"{}\"", e["manager"].as_str().unwrap_or("")),
            };
            groups.push((who, c.iter().map(|p| fields::display(p)).collect()));
            taken.insert(i, c);
        }
        if !groups.is_empty() && !force {
            let n: usize = groups.iter().map(|(_, f)| f.len()).sum();
            let msg = if n == 1 {
                format!(
                    "Apply failed with 1 conflict: conflict with {}: {}",
                    groups[0].0, groups[0].1[0]
                )
            } else {
                let parts: Vec<String> = groups
                    .iter()
                    .map(|(who, fs)| {
                        format!(
                            "conflicts with {who}:\n{}",
                            fs.iter()
                                .map(|f| format!("- {f}"))
                                .collect::<Vec<_>>()
                                .join("\n")
                        )
                    })
                    .collect();
                format!("Apply failed with {n} conflicts: {}", parts.join("\n"))
            };
            let causes: Vec<Value> = groups
                .iter()
                .flat_map(|(who, fs)| {
                    fs.iter().map(move |f| {
                        json!({"reason": "FieldManagerConflict", "message": format!("conflict with {who}"), "field": f})
                    })
                })
                .collect();
            let mut st = status(409, "Conflict", &msg, json!({}));
            // The server's conflict Status carries only the causes (fixture 14).
            st["details"] = json!({"causes": causes});
            return (409, st);
        }
    }
    let created = existing.is_none();
    if created && deletion::terminating(s, &r.ns) {
        return deletion::refused_in_terminating(&r.plural, &r.name, &r.ns);
    }
    let mut obj = match &existing {
        // Ours alone: the applied body replaces what we applied before (fields we stop
        // applying are removed); status and server metadata stay.
        Some(old) => {
            // An object nobody applied (created by another client) counts as others'.
            let others = old["metadata"]["managedFields"]
                .as_array()
                .is_none_or(|m| m.is_empty() || m.iter().any(|e| e["manager"] != json!(manager)));
            let mut o = if others {
                let mut o = old.clone();
                drop_released(&mut o, &manager, &req.body);
                merge_applied(&mut o, &req.body);
                o
            } else {
                req.body.clone()
            };
            defaults::apply(&r.plural, &mut o);
            for f in [
                "uid",
                "creationTimestamp",
                "generation",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
            ] {
                if let Some(v) = old["metadata"].get(f) {
                    o["metadata"][f] = v.clone();
                }
            }
            if o.pointer("/metadata/finalizers").is_none() {
                // Finalizers someone else set survive an apply that does not name them.
                if let Some(f) = old.pointer("/metadata/finalizers") {
                    o["metadata"]["finalizers"] = f.clone();
                }
            }
            if let Some(st) = old.get("status") {
                o["status"] = st.clone();
            }
            if o.get("spec") != old.get("spec") && has_generation(&r.plural) {
                o["metadata"]["generation"] =
                    json!(old["metadata"]["generation"].as_i64().unwrap_or(1) + 1);
            }
            o
        }
        None => {
            let mut o = req.body.clone();
            s.uid += 1;
            o["metadata"]["uid"] = json!(format!("00000000-0000-4000-8000-{:012}", s.uid));
            o["metadata"]["creationTimestamp"] = json!(now());
            if has_generation(&r.plural) {
                o["metadata"]["generation"] = json!(1);
            }
            if r.plural == "namespaces" {
                // The namespace registry's own additions (fixture 07).
                o["metadata"]["labels"]["kubernetes.io/metadata.name"] = json!(r.name);
                o["spec"]["finalizers"] = json!(["kubernetes"]);
            }
            defaults::apply(&r.plural, &mut o);
            defaults::initial_status(&r.plural, &mut o);
            o
        }
    };
    if !r.ns.is_empty() {
        obj["metadata"]["namespace"] = json!(r.ns);
    }
    if let Some(st) = validation::check(&r.plural, group_of(&r.prefix), &obj, existing.as_ref()) {
        return (422, st);
    }
    server_set_on_apply(&r.plural, existing.as_ref(), &mut obj);
    let mut mf: Vec<Value> = existing
        .as_ref()
        .and_then(|o| o["metadata"]["managedFields"].as_array().cloned())
        .unwrap_or_default()
        .into_iter()
        .enumerate()
        .filter(|(_, e)| e["manager"] != json!(manager) || e["operation"] != json!("Apply"))
        .filter_map(|(i, mut e)| match taken.get(&i) {
            // A forced apply takes the conflicting leaves; what else the other manager
            // set it keeps (fixture 17: the entry shrinks, it is not removed).
            Some(t) => fields::without(&e["fieldsV1"], t).map(|rest| {
                e["fieldsV1"] = rest;
                e
            }),
            None => Some(e),
        })
        .collect();
    mf.push(json!({"manager": manager, "operation": "Apply", "apiVersion": req.body["apiVersion"], "time": now(), "fieldsType": "FieldsV1", "fieldsV1": fields_v1(&req.body, false)}));
    obj["metadata"]["managedFields"] = json!(mf);
    if dry {
        sort_managed_fields(&mut obj);
        // A dry-run create has no resourceVersion at all (65); over an existing object
        // the old one stays (18).
        if created {
            if let Some(m) = obj["metadata"].as_object_mut() {
                m.remove("resourceVersion");
            }
        } else if let Some(rv) = existing
            .as_ref()
            .and_then(|e| e.pointer("/metadata/resourceVersion"))
        {
            obj["metadata"]["resourceVersion"] = rv.clone();
        }
        return (if created { 201 } else { 200 }, obj);
    }
    if r.plural == "mutatingwebhookconfigurations" {
        for (ns, svc) in webhook_services(&obj) {
            if ready_endpoints(s, &ns, &svc) == 0 {
                s.outages.push(format!(
                    "{} applied while Service {ns}/{svc} had no ready endpoint",
                    r.name
                ));
            }
        }
    }
    ca_injector::on_apply(s, &r.plural, &k, &obj);
    let out = s.put(&k, obj, created);
    (if created { 201 } else { 200 }, out)
}

/// Whether kube-apiserver keeps `metadata.generation` for the resource: the workloads and
/// configurations with a spec a controller observes, not ServiceAccounts, RBAC, ConfigMaps,
/// Namespaces or RuntimeClasses (fixtures 07-11, 29).
fn has_generation(plural: &str) -> bool {
    matches!(
        plural,
        // Pods too since 1.35 (fixture 36: a new pod is generation 1).
        "pods"
            | "daemonsets"
            | "deployments"
            | "replicasets"
            | "statefulsets"
            | "jobs"
            | "customresourcedefinitions"
            | "mutatingwebhookconfigurations"
            | "validatingwebhookconfigurations"
            | "peerpods"
    )
}

/// What kube-apiserver itself writes on an applied object, outside any field manager
/// (captured in crates/cluster/tests/fixtures/kube-apiserver-1.36/10 and 13): a DaemonSet's
/// `deprecated.daemonset.template.generation` starts at 1 and moves with every change of
/// its pod template.
fn server_set_on_apply(plural: &str, old: Option<&Value>, obj: &mut Value) {
    const TEMPLATE_GENERATION: &str = "deprecated.daemonset.template.generation";
    if plural != "daemonsets" {
        return;
    }
    let prev = old
        .and_then(|o| o.pointer("/metadata/annotations"))
        .and_then(|a| a.get(TEMPLATE_GENERATION))
        .and_then(Value::as_str)
        .and_then(|g| g.parse::<u64>().ok());
    let generation = match (old, prev) {
        (Some(o), Some(g)) if o.pointer("/spec/template") == obj.pointer("/spec/template") => g,
        (Some(_), Some(g)) => g + 1,
        _ => 1,
    };
    if !obj["metadata"]["annotations"].is_object() {
        obj["metadata"]["annotations"] = json!({});
    }
    obj["metadata"]["annotations"][TEMPLATE_GENERATION] = json!(generation.to_string());
}

/// The Services a MutatingWebhookConfiguration calls.
fn webhook_services(mwc: &Value) -> Vec<(String, String)> {
    mwc["webhooks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|w| {
            let svc = w.pointer("/clientConfig/service")?;
            Some((
                svc["namespace"].as_str()?.to_string(),
                svc["name"].as_str()?.to_string(),
            ))
        })
        .collect()
}

/// Ready endpoints of a Service, from its EndpointSlices.
fn ready_endpoints(s: &State, ns: &str, svc: &str) -> usize {
    s.items(&format!("/apis/discovery.k8s.io/v1|endpointslices|{ns}"))
        .into_iter()
        .filter(|e| e.pointer("/metadata/labels/kubernetes.io~1service-name") == Some(&json!(svc)))
        .flat_map(|e| e["endpoints"].as_array().cloned().unwrap_or_default())
        .filter(|e| e.pointer("/conditions/ready") != Some(&json!(false)))
        .count()
}

/// Mutating admission as kube-apiserver does it for the peer-pods webhook: a pod in a
/// namespace the webhook selects is refused (500, as the real message) when the webhook's
/// Service has no ready endpoint and `failurePolicy` is `Fail`; otherwise a pod of the
/// target RuntimeClass gets `kata.peerpods.io/vm: 1` on its first container.
fn admit(s: &State, ns: &str, pod: &mut Value) -> Result<(), Value> {
    let mwcs: Vec<Value> = s
        .all_ns_items(
            "/apis/admissionregistration.k8s.io/v1",
            "mutatingwebhookconfigurations",
        )
        .into_iter()
        .map(|(_, v)| v)
        .collect();
    for mwc in mwcs {
        for w in mwc["webhooks"].as_array().cloned().unwrap_or_default() {
            let excluded = w
                .pointer("/namespaceSelector/matchExpressions")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .any(|e| {
                    e["key"] == json!("kubernetes.io/metadata.name")
                        && e["operator"] == json!("NotIn")
                        && e["values"]
                            .as_array()
                            .is_some_and(|v| v.contains(&json!(ns)))
                });
            if excluded {
                continue;
            }
            let Some(svc) = w.pointer("/clientConfig/service") else {
                continue;
            };
            let (sns, sname) = (
                svc["namespace"].as_str().unwrap_or(""),
                svc["name"].as_str().unwrap_or(""),
            );
            if ready_endpoints(s, sns, sname) == 0 {
                if w["failurePolicy"] == json!("Ignore") {
                    continue;
                }
                let name = w["name"].as_str().unwrap_or("");
                let path = svc["path"].as_str().unwrap_or("");
                return Err(status(
                    500,
                    "InternalError",
                    &format!("Internal error occurred: failed calling webhook \"{name}\": failed to call webhook: Post \"https://{sname}.{sns}.svc:443{path}?timeout=10s\": no endpoints available for service \"{sname}\""),
                    json!({"causes": [{"message": format!("failed calling webhook \"{name}\"")}]}),
                ));
            }
            // The webhook's target class: TARGET_RUNTIMECLASS of its Deployment.
            let target = s
                .all_ns_items("/apis/apps/v1", "deployments")
                .into_iter()
                .filter(|(_, d)| d.pointer("/metadata/namespace") == Some(&json!(sns)))
                .flat_map(|(_, d)| {
                    d.pointer("/spec/template/spec/containers/0/env")
                        .and_then(Value::as_array)
                        .cloned()
                        .unwrap_or_default()
                })
                .find(|e| e["name"] == json!("TARGET_RUNTIMECLASS"))
                .and_then(|e| e["value"].as_str().map(String::from))
                .unwrap_or_else(|| "kata-remote".into());
            if pod.pointer("/spec/runtimeClassName") == Some(&json!(target)) {
                if let Some(c) = pod
                    .pointer_mut("/spec/containers/0")
                    .and_then(Value::as_object_mut)
                {
                    let res = c.entry("resources").or_insert(json!({}));
                    res["requests"]["kata.peerpods.io/vm"] = json!("1");
                    res["limits"]["kata.peerpods.io/vm"] = json!("1");
                }
            }
        }
    }
    Ok(())
}

fn on_delete(s: &mut State, r: &Route, k: &str) {
    if r.plural == "deployments" {
        // The garbage collector: the Deployment's pods start terminating.
        let uid = s
            .objects
            .get(k)
            .and_then(|d| d.pointer("/metadata/uid").cloned())
            .unwrap_or_default();
        let pods: Vec<String> = s
            .all_ns_items("/api/v1", "pods")
            .into_iter()
            .filter(|(_, p)| p.pointer("/metadata/ownerReferences/0/uid") == Some(&uid))
            .map(|(k, _)| k)
            .collect();
        for pk in pods {
            if let Some(mut p) = s.objects.get(&pk).cloned() {
                p["metadata"]["deletionTimestamp"] = json!(now());
                s.put(&pk, p, false);
            }
        }
    }
    if r.plural == "daemonsets" {
        // The garbage collector: the pods of the DaemonSet start terminating.
        let app = s
            .objects
            .get(k)
            .and_then(|d| {
                d.pointer("/spec/selector/matchLabels/name")
                    .and_then(Value::as_str)
                    .map(String::from)
            })
            .unwrap_or_default();
        let uid = s
            .objects
            .get(k)
            .and_then(|d| d.pointer("/metadata/uid").cloned());
        let pods: Vec<String> = s
            .all_ns_items("/api/v1", "pods")
            .into_iter()
            .filter(|(_, p)| {
                (!app.is_empty()
                    && p.pointer("/metadata/labels/name").and_then(Value::as_str) == Some(&app))
                    || (uid.is_some()
                        && p.pointer("/metadata/ownerReferences/0/uid") == uid.as_ref())
            })
            .map(|(k, _)| k)
            .collect();
        for pk in pods {
            if let Some(mut p) = s.objects.get(&pk).cloned() {
                p["metadata"]["deletionTimestamp"] = json!(now());
                p["metadata"]["deletionGracePeriodSeconds"] = json!(600);
                s.put(&pk, p, false);
            }
        }
    }
}

fn watch(
    conn: TcpStream,
    mut s: std::sync::MutexGuard<'_, State>,
    cv: &Condvar,
    r: &Route,
    req: &Request,
    stop: &AtomicBool,
) {
    let from: u64 = req
        .query
        .get("resourceVersion")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let all = r.ns.is_empty();
    let coll_prefix = if all {
        format!("{}|{}|", r.prefix, r.plural)
    } else {
        format!("{}|{}|{}", r.prefix, r.plural, r.ns)
    };
    let labels = req.query.get("labelSelector").cloned();
    let fields = req.query.get("fieldSelector").cloned();
    let bookmarks = req
        .query
        .get("allowWatchBookmarks")
        .is_some_and(|b| b == "true");
    let quiet = s.sim.watch_quiet;
    let ignored = s.sim.watch_list_ignored;
    let initial_events = !ignored
        && req
            .query
            .get("sendInitialEvents")
            .is_some_and(|v| v == "true");
    if initial_events {
        if let Some(refusal) = watch_list_refusal(&s, req, bookmarks) {
            drop(s);
            respond(&conn, 422, &refusal, &[]);
            return;
        }
    }
    let mut c = &conn;
    let _ = write!(c, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n");
    let chunk = |c: &mut &TcpStream, line: &str| {
        let data = format!("{line}\n");
        write!(c, "{:x}\r\n{data}\r\n", data.len()).and_then(|_| c.flush())
    };
    if from != 0 && from <= s.compacted {
        let mut st = status(
            410,
            "Expired",
            &format!("too old resource version: {from} ({})", s.compacted + 1),
            json!({}),
        );
        // The ERROR event's Status has no details (fixture 37).
        if let Some(m) = st.as_object_mut() {
            m.remove("details");
        }
        let e = json!({"type": "ERROR", "object": st});
        drop(s);
        let _ = chunk(&mut c, &e.to_string());
        let _ = write!(c, "0\r\n\r\n");
        return;
    }
    let mut last = from;
    // A watch-list (38): the current objects as ADDED, in key order, then the one
    // bookmark annotated as their end, at the version they are from; then changes. A
    // server that ignores the option gives the legacy answer to a watch without a
    // resourceVersion: the same objects, and nothing marks where they end.
    if initial_events || (ignored && from == 0) {
        for o in selected(&s, r, req) {
            let line = json!({"type": "ADDED", "object": o}).to_string();
            if chunk(&mut c, &line).is_err() {
                return;
            }
        }
        if initial_events {
            let b = json!({"type": "BOOKMARK", "object": bookmark(r, s.rv, true)});
            if chunk(&mut c, &b.to_string()).is_err() {
                return;
            }
        }
        last = s.rv;
    }
    let mut quiet_since = Instant::now();
    loop {
        let evs: Vec<Ev> = s
            .log
            .iter()
            .filter(|e| {
                e.rv > last
                    && if all {
                        e.coll.starts_with(&coll_prefix)
                    } else {
                        e.coll == coll_prefix
                    }
            })
            .cloned()
            .collect();
        let rv_now = s.rv;
        let mut sent = false;
        for e in &evs {
            last = e.rv;
            if labels
                .as_ref()
                .is_some_and(|l| !selector_matches(l, &labels_of(&e.obj)))
            {
                continue;
            }
            if fields.as_ref().is_some_and(|f| !field_matches(f, &e.obj)) {
                continue;
            }
            let line = json!({"type": e.kind, "object": e.obj}).to_string();
            if chunk(&mut c, &line).is_err() {
                return;
            }
            sent = true;
        }
        if sent {
            quiet_since = Instant::now();
        }
        if stop.load(Ordering::SeqCst) {
            // The server went away: the stream breaks without its end chunk.
            let _ = conn.shutdown(std::net::Shutdown::Both);
            return;
        }
        if quiet_since.elapsed() >= quiet {
            // A watch-list's stream has had its bookmark; nothing else comes before it
            // closes (38).
            if bookmarks && !initial_events {
                let b = json!({"type": "BOOKMARK", "object": bookmark(r, rv_now, false)});
                let _ = chunk(&mut c, &b.to_string());
            }
            let _ = write!(c, "0\r\n\r\n");
            return;
        }
        let (g, _) = cv.wait_timeout(s, Duration::from_millis(100)).unwrap();
        s = g;
    }
}

/// A BOOKMARK event's object at `rv`; only the one that ends a watch-list's initial
/// events is annotated (38).
fn bookmark(r: &Route, rv: u64, initial_events_end: bool) -> Value {
    let mut b = json!({"kind": kind_of(&r.plural), "apiVersion": r.prefix.trim_start_matches("/api/").trim_start_matches("/apis/"), "metadata": {"resourceVersion": rv.to_string()}});
    if initial_events_end {
        b["metadata"]["annotations"] = json!({"k8s.io/initial-events-end": "true"});
    }
    if r.plural == "pods" {
        // A skeleton object, as the server encodes an empty Pod (36).
        b["spec"] = json!({"containers": null});
        b["status"] = json!({});
    }
    b
}

/// Why a watch-list request is refused (422), as the server's ListOptions validation
/// words it: a server without the WatchList feature (1.33's default, and servers before
/// 1.27, which forbid `resourceVersionMatch` on a watch), or a request without the
/// options it requires.
fn watch_list_refusal(s: &State, req: &Request, bookmarks: bool) -> Option<Value> {
    let (field, why) = if !s.sim.watch_list {
        (
            "sendInitialEvents",
            "sendInitialEvents is forbidden for watch unless the WatchList feature gate is enabled",
        )
    } else if req.query.get("resourceVersionMatch").map(String::as_str) != Some("NotOlderThan") {
        (
            "resourceVersionMatch",
            "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan",
        )
    } else if !bookmarks {
        (
            "allowWatchBookmarks",
            "sendInitialEvents requires setting allowWatchBookmarks to true",
        )
    } else {
        return None;
    };
    let kind = if field == "allowWatchBookmarks" {
        "FieldValueRequired"
    } else {
        "FieldValueForbidden"
    };
    let words = if kind == "FieldValueRequired" {
        "Required value"
    } else {
        "Forbidden"
    };
    Some(status(
        422,
        "Invalid",
        &format!("ListOptions.meta.k8s.io \"\" is invalid: {field}: {words}: {why}"),
        json!({"group": "meta.k8s.io", "kind": "ListOptions", "causes": [
            {"reason": kind, "message": format!("{words}: {why}"), "field": field}
        ]}),
    ))
}

/// Advances the simulated kubelets and controllers one step.
fn tick(s: &mut State) {
    s.ticks += 1;
    ca_injector::tick(s);
    tick_peerpods(s);
    old_installs::tick_operator(s);
    let nodes: Vec<(String, Value)> = s.all_ns_items("/api/v1", "nodes");
    let dss: Vec<(String, Value)> = s.all_ns_items("/apis/apps/v1", "daemonsets");
    // DaemonSet controller: one pod per selected node.
    for (dk, ds) in &dss {
        let ns = ds
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let dsname = ds
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let app = ds
            .pointer("/spec/selector/matchLabels/name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let generation = ds
            .pointer("/metadata/generation")
            .and_then(Value::as_i64)
            .unwrap_or(1);
        let mut tmpl_labels = ds
            .pointer("/spec/template/metadata/labels")
            .cloned()
            .unwrap_or(json!({}));
        tmpl_labels["pod-template-generation"] = json!(generation.to_string());
        // Rolling update (maxUnavailable `work_per_tick`): that many outdated pods at a
        // time are terminating.
        let budget = s.sim.work_per_tick.max(1);
        let outdated: Vec<String> = s
            .all_ns_items("/api/v1", "pods")
            .into_iter()
            .filter(|(_, p)| {
                p.pointer("/metadata/labels/name").and_then(Value::as_str) == Some(app.as_str())
                    && p.pointer("/metadata/deletionTimestamp").is_none()
                    && p.pointer("/metadata/labels/pod-template-generation")
                        .and_then(Value::as_str)
                        .and_then(|g| g.parse::<i64>().ok())
                        .is_some_and(|g| g < generation)
            })
            .map(|(k, _)| k)
            .collect();
        let rolling = s
            .all_ns_items("/api/v1", "pods")
            .iter()
            .filter(|(_, p)| {
                p.pointer("/metadata/labels/name").and_then(Value::as_str) == Some(app.as_str())
                    && p.pointer("/metadata/deletionTimestamp").is_some()
            })
            .count();
        for pk in outdated.iter().take(budget.saturating_sub(rolling)) {
            if let Some(mut p) = s.objects.get(pk).cloned() {
                p["metadata"]["deletionTimestamp"] = json!(now());
                s.put(pk, p, false);
            }
        }
        let spec: k8s_openapi::api::core::v1::PodSpec = serde_json::from_value(
            ds.pointer("/spec/template/spec")
                .cloned()
                .unwrap_or_default(),
        )
        .unwrap_or_default();
        let targeting = crate::core::snapshot::Targeting::of(&spec);
        for (_, n) in &nodes {
            let node: k8s_openapi::api::core::v1::Node = serde_json::from_value(n.clone()).unwrap();
            let snap = crate::core::snapshot::NodeSnap::of(&node);
            if !targeting.selects(&snap, None) {
                continue;
            }
            let pod_name = format!("{dsname}-{}", snap.name);
            let pk = key("/api/v1", "pods", &ns, &pod_name);
            if s.objects.contains_key(&pk) {
                continue;
            }
            let stuck = app.starts_with("kata-deploy") && s.sim.stuck_nodes.contains(&snap.name);
            let (phase, ready, waiting) = if stuck {
                (
                    "Pending",
                    false,
                    json!({"waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling image"}}),
                )
            } else {
                ("Running", true, json!({"running": {"startedAt": now()}}))
            };
            let pod = json!({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": pod_name, "namespace": ns, "labels": tmpl_labels,
                    "ownerReferences": [{"apiVersion": "apps/v1", "kind": "DaemonSet", "name": dsname, "uid": ds.pointer("/metadata/uid").cloned().unwrap_or_default(), "controller": true}]},
                "spec": {"nodeName": snap.name, "containers": spec.containers.iter().map(container_of).collect::<Vec<_>>()},
                "status": {"phase": phase, "containerStatuses": [{"name": "main", "ready": ready, "restartCount": 0, "image": "", "imageID": "", "state": waiting}]}
            });
            if !admission::controller_create(s, "DaemonSet", dk, ds, &ns, pod) {
                // Refused (or backing off): the controller tries again later.
                break;
            }
            if stuck {
                s.uid += 1;
                let ev = json!({"apiVersion": "v1", "kind": "Event", "metadata": {"name": format!("{pod_name}.{}", s.uid), "namespace": ns},
                    "involvedObject": {"kind": "Pod", "name": pod_name, "namespace": ns}, "reason": "Failed", "type": "Warning",
                    "message": "Failed to pull image \"quay.io/kata-containers/kata-deploy:4.1.0\": dial tcp: i/o timeout", "lastTimestamp": now(), "count": 3});
                s.create("/api/v1", "events", &ns, ev);
            }
        }
    }
    // DaemonSet status, as the controller keeps it.
    for (dk, ds) in s.all_ns_items("/apis/apps/v1", "daemonsets") {
        let ns = ds
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let app = ds
            .pointer("/spec/selector/matchLabels/name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let generation = ds
            .pointer("/metadata/generation")
            .and_then(Value::as_i64)
            .unwrap_or(1);
        let spec: k8s_openapi::api::core::v1::PodSpec = serde_json::from_value(
            ds.pointer("/spec/template/spec")
                .cloned()
                .unwrap_or_default(),
        )
        .unwrap_or_default();
        let targeting = crate::core::snapshot::Targeting::of(&spec);
        let desired = s
            .all_ns_items("/api/v1", "nodes")
            .iter()
            .filter_map(|(_, n)| {
                serde_json::from_value::<k8s_openapi::api::core::v1::Node>(n.clone()).ok()
            })
            .filter(|n| targeting.selects(&crate::core::snapshot::NodeSnap::of(n), None))
            .count();
        let pods: Vec<Value> = s
            .all_ns_items("/api/v1", "pods")
            .into_iter()
            .map(|(_, p)| p)
            .filter(|p| {
                p.pointer("/metadata/namespace").and_then(Value::as_str) == Some(ns.as_str())
                    && ((!app.is_empty()
                        && p.pointer("/metadata/labels/name").and_then(Value::as_str)
                            == Some(app.as_str()))
                        || p.pointer("/metadata/ownerReferences/0/uid")
                            == ds.pointer("/metadata/uid"))
            })
            .collect();
        let live: Vec<&Value> = pods
            .iter()
            .filter(|p| p.pointer("/metadata/deletionTimestamp").is_none())
            .collect();
        let updated = live
            .iter()
            .filter(|p| {
                p.pointer("/metadata/labels/pod-template-generation")
                    .and_then(Value::as_str)
                    == Some(generation.to_string().as_str())
            })
            .count();
        let available = live
            .iter()
            .filter(|p| p.pointer("/status/containerStatuses/0/ready") == Some(&json!(true)))
            .count();
        let status = json!({"desiredNumberScheduled": desired, "currentNumberScheduled": live.len(), "numberMisscheduled": 0,
            "numberReady": available, "updatedNumberScheduled": updated, "numberAvailable": available,
            "numberUnavailable": desired.saturating_sub(available), "observedGeneration": generation});
        if ds.get("status") != Some(&status) {
            let mut d = ds.clone();
            d["status"] = status;
            s.put(&dk, d, false);
        }
    }
    // Kubelets: running DaemonSet pods do their work one node per tick; terminating pods
    // clean up and go.
    let pods: Vec<(String, Value)> = s.all_ns_items("/api/v1", "pods");
    let budget = s.sim.work_per_tick.max(1);
    let mut work = 0;
    for (pk, p) in pods {
        let app = p
            .pointer("/metadata/labels/name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let node = p
            .pointer("/spec/nodeName")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let nk = key("/api/v1", "nodes", "", &node);
        let terminating = p.pointer("/metadata/deletionTimestamp").is_some();
        // The SIGTERM handlers: kata-deploy and the agent clean up only when their
        // DaemonSet is gone (a rolling update or restart leaves the node as it is).
        let owner = p
            .pointer("/metadata/ownerReferences/0/name")
            .and_then(Value::as_str)
            .unwrap_or("");
        let pod_ns = p
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or("");
        let owner_gone =
            !s.objects
                .contains_key(&key("/apis/apps/v1", "daemonsets", pod_ns, owner));
        if terminating && !owner_gone {
            if work < budget {
                work += 1;
                s.remove(&pk);
            }
            continue;
        }
        if terminating {
            if work >= budget {
                continue;
            }
            work += 1;
            if old_installs::legacy(&p) {
                old_installs::legacy_pre_stop(s, &p, &node);
                s.remove(&pk);
                continue;
            }
            if let Some(mut n) = s.objects.get(&nk).cloned() {
                let l = n["metadata"]["labels"].as_object_mut().unwrap();
                let mut changed = false;
                if app.starts_with("kata-deploy") && !s.sim.cleanup_fails.contains(&node) {
                    let inst = if app == "kata-deploy" {
                        "default".to_string()
                    } else {
                        app.trim_start_matches("kata-deploy-").to_string()
                    };
                    changed |= l
                        .remove(&format!("kata-deploy.katacontainers.io/{inst}"))
                        .is_some();
                    // The shared label, as kata-deploy's cleanup treats it: kept while
                    // another install's marker is `true`, `false` when the others are all
                    // `false`, removed when there is no other install on the node.
                    let others: Vec<bool> = l
                        .iter()
                        .filter(|(k, _)| k.starts_with("kata-deploy.katacontainers.io/"))
                        .map(|(_, v)| v == "true")
                        .collect();
                    if others.is_empty() {
                        changed |= l.remove("katacontainers.io/kata-runtime").is_some();
                    } else if !others.contains(&true) {
                        changed |= l
                            .insert("katacontainers.io/kata-runtime".into(), json!("false"))
                            != Some(json!("false"));
                    }
                }
                if app == "cococtl-containerd"
                    && l.get("cococtl.confidentialcontainers.org/containerd")
                        == Some(&json!("ready"))
                {
                    if s.sim.restore_fails.contains(&node) {
                        l.insert(
                            "cococtl.confidentialcontainers.org/containerd".into(),
                            json!("failed"),
                        );
                        n["metadata"]["annotations"]["cococtl.confidentialcontainers.org/containerd-message"] = json!("restoring containerd: /etc/containerd/config.toml.cococtl-backup is missing");
                    } else {
                        l.insert(
                            "cococtl.confidentialcontainers.org/containerd".into(),
                            json!("restored"),
                        );
                    }
                    changed = true;
                }
                if changed {
                    s.put(&nk, n, false);
                }
            }
            s.remove(&pk);
            continue;
        }
        let phase = p
            .pointer("/status/phase")
            .and_then(Value::as_str)
            .unwrap_or("");
        if phase != "Running" || work >= budget {
            if (phase.is_empty() || phase == "Pending")
                && p.pointer("/spec/runtimeClassName").is_some()
                && p.pointer("/spec/nodeName").is_none()
            {
                verify_pod(s, &pk, p);
            }
            continue;
        }
        let Some(mut n) = s.objects.get(&nk).cloned() else {
            continue;
        };
        if old_installs::run_cleanup_pod(s, &p, &node) {
            work += 1;
            continue;
        }
        let l = n["metadata"]["labels"].as_object_mut().unwrap();
        if app == "cococtl-containerd"
            && l.get("cococtl.confidentialcontainers.org/containerd")
                .is_none()
        {
            l.insert(
                "cococtl.confidentialcontainers.org/containerd".into(),
                json!("ready"),
            );
            n["metadata"]["annotations"] =
                json!({"cococtl.confidentialcontainers.org/containerd-version": "2.1.9"});
            s.put(&nk, n, false);
            work += 1;
        } else if app.starts_with("kata-deploy") && !old_installs::legacy(&p) {
            let inst = if app == "kata-deploy" {
                "default".to_string()
            } else {
                app.trim_start_matches("kata-deploy-").to_string()
            };
            let own = format!("kata-deploy.katacontainers.io/{inst}");
            if l.get(&own) != Some(&json!("true")) {
                l.insert("katacontainers.io/kata-runtime".into(), json!("true"));
                l.insert(own, json!("true"));
                s.put(&nk, n, false);
                work += 1;
            }
        }
    }
}

/// A DaemonSet pod's container as the kubelet runs it: image, and the command and
/// environment (what the played installers and clean-ups act on).
fn container_of(c: &k8s_openapi::api::core::v1::Container) -> Value {
    let mut out = json!({"name": c.name, "image": c.image});
    if let Some(cmd) = &c.command {
        out["command"] = json!(cmd);
    }
    if let Some(env) = &c.env {
        out["env"] = serde_json::to_value(env).unwrap_or_default();
    }
    if let Some(l) = &c.lifecycle {
        out["lifecycle"] = serde_json::to_value(l).unwrap_or_default();
    }
    out
}

/// A verify pod: scheduled on a node its RuntimeClass selects, runs, prints the guest
/// kernel and succeeds.
fn verify_pod(s: &mut State, pk: &str, mut p: Value) {
    let rc = p
        .pointer("/spec/runtimeClassName")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let Some(class) = s
        .objects
        .get(&key("/apis/node.k8s.io/v1", "runtimeclasses", "", &rc))
        .cloned()
    else {
        p["status"] = json!({"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": format!("RuntimeClass \"{rc}\" not found")}]});
        s.put(pk, p, false);
        return;
    };
    let sel = class
        .pointer("/scheduling/nodeSelector")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let node = s
        .all_ns_items("/api/v1", "nodes")
        .into_iter()
        .find(|(_, n)| {
            let l = labels_of(n);
            sel.iter().all(|(k, v)| l.get(k) == Some(v))
        });
    match node {
        Some((_, n)) => {
            let name = n
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            p["spec"]["nodeName"] = json!(name);
            if s.sim.sandbox_failures > 0 {
                s.sim.sandbox_failures -= 1;
                let ns = p["metadata"]["namespace"]
                    .as_str()
                    .unwrap_or("")
                    .to_string();
                let pname = p["metadata"]["name"].as_str().unwrap_or("").to_string();
                let uid = p["metadata"]["uid"].clone();
                p["status"] = json!({"phase": "Pending", "containerStatuses": [{"name": "c", "ready": false,
                    "state": {"waiting": {"reason": "ContainerCreating"}}}]});
                s.put(pk, p, false);
                s.uid += 1;
                let ev = json!({"apiVersion": "v1", "kind": "Event",
                    "metadata": {"name": format!("{pname}.{}", s.uid), "namespace": ns},
                    "involvedObject": {"kind": "Pod", "name": pname, "namespace": ns, "uid": uid},
                    "reason": "FailedCreatePodSandBox", "type": "Warning",
                    "message": "Failed to create pod sandbox: rpc error: code = Unknown desc = failed to create containerd task: failed to create shim task: Failed to Check if grpc server is working: context deadline exceeded",
                    "lastTimestamp": now(), "count": 1});
                s.create("/api/v1", "events", &ns, ev);
                return;
            }
            if rc == "kata-remote" {
                // cloud-api-adaptor creates the VM, and with it the PeerPod, before the
                // pod runs (only where it is installed).
                let caa = s
                    .all_ns_items("/apis/apps/v1", "daemonsets")
                    .iter()
                    .any(|(_, d)| {
                        d.pointer("/metadata/name") == Some(&json!("cloud-api-adaptor-daemonset"))
                    });
                let ns = p["metadata"]["namespace"]
                    .as_str()
                    .unwrap_or("")
                    .to_string();
                let pname = p["metadata"]["name"].as_str().unwrap_or("").to_string();
                let ppk = key(
                    "/apis/confidentialcontainers.org/v1alpha1",
                    "peerpods",
                    &ns,
                    &pname,
                );
                if caa && !s.objects.contains_key(&ppk) {
                    let id = format!("podvm-{pname}-{:08x}", s.uid);
                    s.create("/apis/confidentialcontainers.org/v1alpha1", "peerpods", &ns, json!({
                        "apiVersion": "confidentialcontainers.org/v1alpha1", "kind": "PeerPod",
                        "metadata": {"name": pname, "namespace": ns,
                            "ownerReferences": [{"apiVersion": "v1", "kind": "Pod", "name": pname, "uid": p["metadata"]["uid"]}]},
                        "spec": {"cloudProvider": "libvirt", "instanceID": id}
                    }));
                }
            }
            p["metadata"]["annotations"] =
                json!({"standin/log": format!("{}\n", s.sim.guest_kernel)});
            p["status"] = json!({"phase": "Succeeded", "startTime": now(), "containerStatuses": [{"name": "verify", "ready": false, "restartCount": 0, "image": "", "imageID": "", "state": {"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": now(), "finishedAt": now()}}}]});
        }
        None => {
            p["status"] = json!({"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector."}]});
        }
    }
    s.put(pk, p, false);
}

/// Server-side apply with other managers present: labels and annotations this manager
/// applied before, does not apply now, and no other manager owns are removed.
fn drop_released(o: &mut Value, manager: &str, body: &Value) {
    let entries = o["metadata"]["managedFields"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for part in ["labels", "annotations"] {
        let owned_by = |e: &Value| -> Vec<String> {
            e.pointer(&format!("/fieldsV1/f:metadata/f:{part}"))
                .and_then(Value::as_object)
                .map(|m| {
                    m.keys()
                        .map(|k| k.trim_start_matches("f:").to_string())
                        .collect()
                })
                .unwrap_or_default()
        };
        let ours: Vec<String> = entries
            .iter()
            .filter(|e| e["manager"] == json!(manager) && e["operation"] == json!("Apply"))
            .flat_map(owned_by)
            .collect();
        let others: Vec<String> = entries
            .iter()
            .filter(|e| !(e["manager"] == json!(manager) && e["operation"] == json!("Apply")))
            .flat_map(owned_by)
            .collect();
        for k in ours {
            let still = body
                .pointer(&format!(
                    "/metadata/{part}/{}",
                    k.replace('~', "~0").replace('/', "~1")
                ))
                .is_some();
            if !still && !others.contains(&k) {
                if let Some(m) = o["metadata"][part].as_object_mut() {
                    m.remove(&k);
                }
            }
        }
    }
}

/// The controllers peer pods need: the CRD controller (`Established`), the Deployment
/// controller (one ready pod per replica, status), the EndpointSlice controller (a slice per
/// Service with a selector, an endpoint per matching pod), and cloud-api-adaptor with
/// peerpod-ctrl (a PeerPod per running `kata-remote` pod; deleted with its pod while
/// peerpod-ctrl runs).
fn tick_peerpods(s: &mut State) {
    let crd_prefix = "/apis/apiextensions.k8s.io/v1";
    for (k, mut crd) in s.all_ns_items(crd_prefix, "customresourcedefinitions") {
        if crd.pointer("/status/conditions").is_none() {
            crd["status"] = json!({
                "conditions": [
                    {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts", "message": "no conflicts found", "lastTransitionTime": now()},
                    {"type": "Established", "status": "True", "reason": "InitialNamesAccepted", "message": "the initial names have been accepted", "lastTransitionTime": now()}
                ],
                "acceptedNames": crd.pointer("/spec/names").cloned().unwrap_or(json!({})),
                "storedVersions": ["v1alpha1"]
            });
            s.put(&k, crd, false);
        }
    }
    let first_node = s
        .all_ns_items("/api/v1", "nodes")
        .first()
        .and_then(|(_, n)| {
            n.pointer("/metadata/name")
                .and_then(Value::as_str)
                .map(String::from)
        })
        .unwrap_or_default();
    for (dk, d) in s.all_ns_items("/apis/apps/v1", "deployments") {
        let ns = d["metadata"]["namespace"]
            .as_str()
            .unwrap_or("")
            .to_string();
        let name = d["metadata"]["name"].as_str().unwrap_or("").to_string();
        let uid = d["metadata"]["uid"].clone();
        let want = d
            .pointer("/spec/replicas")
            .and_then(Value::as_i64)
            .unwrap_or(1);
        let generation = d
            .pointer("/metadata/generation")
            .and_then(Value::as_i64)
            .unwrap_or(1);
        let stuck = s.sim.stuck_deployments.contains(&name);
        let owned = |s: &State| -> Vec<Value> {
            s.all_ns_items("/api/v1", "pods")
                .into_iter()
                .map(|(_, p)| p)
                .filter(|p| p.pointer("/metadata/ownerReferences/0/uid") == Some(&uid))
                .filter(|p| p.pointer("/metadata/deletionTimestamp").is_none())
                .collect()
        };
        let have = owned(s).len() as i64;
        for i in have..want {
            let labels = d
                .pointer("/spec/template/metadata/labels")
                .cloned()
                .unwrap_or(json!({}));
            let (phase, ready, state) = if stuck {
                (
                    "Pending",
                    false,
                    json!({"waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling image"}}),
                )
            } else {
                ("Running", true, json!({"running": {"startedAt": now()}}))
            };
            let pod = json!({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": format!("{name}-7d9f8b6c5d-{i:05}"), "namespace": ns, "labels": labels,
                    "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": format!("{name}-7d9f8b6c5d"), "uid": uid, "controller": true}]},
                "spec": {"nodeName": first_node, "containers": d.pointer("/spec/template/spec/containers").cloned().unwrap_or(json!([]))},
                "status": {"phase": phase, "podIP": format!("10.244.0.{}", (s.uid % 250) + 2),
                    "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}],
                    "containerStatuses": [{"name": "manager", "ready": ready, "restartCount": 0, "image": "", "imageID": "", "state": state}]}
            });
            // The ReplicaSet controller creates them; its FailedCreate events are on the
            // ReplicaSet (named like the pods' owner).
            let rs = json!({"metadata": {"name": format!("{name}-7d9f8b6c5d"), "uid": uid, "namespace": ns}});
            let rs_key = format!("{dk}|replicaset");
            if !admission::controller_create(s, "ReplicaSet", &rs_key, &rs, &ns, pod) {
                break;
            }
        }
        let pods = owned(s);
        let ready = pods
            .iter()
            .filter(|p| p.pointer("/status/containerStatuses/0/ready") == Some(&json!(true)))
            .count() as i64;
        let mut status = json!({"observedGeneration": generation, "replicas": pods.len(), "updatedReplicas": pods.len(),
            "readyReplicas": ready, "availableReplicas": ready, "unavailableReplicas": (want - ready).max(0),
            "conditions": [{"type": "Available", "status": if ready >= want { "True" } else { "False" },
                "reason": if ready >= want { "MinimumReplicasAvailable" } else { "MinimumReplicasUnavailable" }}]});
        // The Deployment controller copies its ReplicaSet's ReplicaFailure condition.
        if let Some((message, since)) = admission::last_failure(s, &format!("{dk}|replicaset")) {
            if let Some(c) = status["conditions"].as_array_mut() {
                c.push(
                    json!({"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate",
                    "message": message, "lastUpdateTime": since, "lastTransitionTime": since}),
                );
            }
        }
        if d.get("status") != Some(&status) {
            let mut d = d.clone();
            d["status"] = status;
            s.put(&dk, d, false);
        }
    }
    // EndpointSlices.
    let slices = "/apis/discovery.k8s.io/v1";
    let services = s.all_ns_items("/api/v1", "services");
    for (_, svc) in &services {
        let Some(sel) = svc
            .pointer("/spec/selector")
            .and_then(Value::as_object)
            .cloned()
        else {
            continue;
        };
        let ns = svc["metadata"]["namespace"]
            .as_str()
            .unwrap_or("")
            .to_string();
        let name = svc["metadata"]["name"].as_str().unwrap_or("").to_string();
        let endpoints: Vec<Value> = s
            .items(&format!("/api/v1|pods|{ns}"))
            .into_iter()
            .filter(|p| {
                let l = labels_of(p);
                sel.iter().all(|(k, v)| l.get(k) == Some(v))
            })
            .map(|p| {
                let ready = p.pointer("/status/containerStatuses/0/ready") == Some(&json!(true));
                let terminating = p.pointer("/metadata/deletionTimestamp").is_some();
                json!({"addresses": [p.pointer("/status/podIP").cloned().unwrap_or(json!("10.244.0.9"))],
                    "conditions": {"ready": ready && !terminating, "serving": ready, "terminating": terminating},
                    "nodeName": p.pointer("/spec/nodeName").cloned().unwrap_or(json!("")),
                    "targetRef": {"kind": "Pod", "namespace": ns, "name": p["metadata"]["name"], "uid": p["metadata"]["uid"]}})
            })
            .collect();
        let slice_name = format!("{name}-x7k2p");
        let k = key(slices, "endpointslices", &ns, &slice_name);
        let ports: Vec<Value> = svc
            .pointer("/spec/ports")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|p| json!({"name": p["name"], "port": p["targetPort"].as_i64().unwrap_or(p["port"].as_i64().unwrap_or(0)), "protocol": "TCP"}))
            .collect();
        let body = json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": slice_name, "namespace": ns,
                "labels": {"kubernetes.io/service-name": name, "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"}},
            "addressType": "IPv4", "endpoints": endpoints, "ports": ports});
        match s.objects.get(&k).cloned() {
            None => {
                s.create(slices, "endpointslices", &ns, body);
            }
            Some(old) if old["endpoints"] != body["endpoints"] => {
                let mut o = old.clone();
                o["endpoints"] = body["endpoints"].clone();
                s.put(&k, o, false);
            }
            Some(_) => {}
        }
    }
    for (k, e) in s.all_ns_items(slices, "endpointslices") {
        let ns = e["metadata"]["namespace"].as_str().unwrap_or("");
        let svc = e
            .pointer("/metadata/labels/kubernetes.io~1service-name")
            .and_then(Value::as_str)
            .unwrap_or("");
        if !s.objects.contains_key(&key("/api/v1", "services", ns, svc)) {
            s.remove(&k);
        }
    }
    // cloud-api-adaptor: a PeerPod per scheduled kata-remote pod, owned by the pod.
    let pp_prefix = "/apis/confidentialcontainers.org/v1alpha1";
    let caa = s
        .all_ns_items("/apis/apps/v1", "daemonsets")
        .iter()
        .any(|(_, d)| d.pointer("/metadata/name") == Some(&json!("cloud-api-adaptor-daemonset")));
    let crd = s.objects.contains_key(&key(
        crd_prefix,
        "customresourcedefinitions",
        "",
        "peerpods.confidentialcontainers.org",
    ));
    if caa && crd {
        for (_, p) in s.all_ns_items("/api/v1", "pods") {
            if p.pointer("/spec/runtimeClassName") != Some(&json!("kata-remote"))
                || p.pointer("/spec/nodeName").is_none()
                || p.pointer("/metadata/deletionTimestamp").is_some()
            {
                continue;
            }
            let ns = p["metadata"]["namespace"]
                .as_str()
                .unwrap_or("")
                .to_string();
            let name = p["metadata"]["name"].as_str().unwrap_or("").to_string();
            let k = key(pp_prefix, "peerpods", &ns, &name);
            if !s.objects.contains_key(&k) {
                let id = format!("podvm-{name}-{:08x}", s.uid);
                s.create(pp_prefix, "peerpods", &ns, json!({
                    "apiVersion": "confidentialcontainers.org/v1alpha1", "kind": "PeerPod",
                    "metadata": {"name": name, "namespace": ns, "finalizers": ["peer-pod.confidentialcontainers.org/finalizer"],
                        "ownerReferences": [{"apiVersion": "v1", "kind": "Pod", "name": name, "uid": p["metadata"]["uid"]}]},
                    "spec": {"cloudProvider": "libvirt", "instanceID": id}
                }));
            }
        }
    }
    // cloud-api-adaptor advertises the VM resource (PEERPODS_LIMIT_PER_NODE, 10) on the
    // nodes where its pod runs, as the kubelet's device plugin registration would.
    let caa_nodes: Vec<String> = s
        .all_ns_items("/api/v1", "pods")
        .into_iter()
        .filter(|(_, p)| {
            p.pointer("/metadata/ownerReferences/0/name")
                == Some(&json!("cloud-api-adaptor-daemonset"))
                && p.pointer("/status/phase") == Some(&json!("Running"))
        })
        .filter_map(|(_, p)| {
            p.pointer("/spec/nodeName")
                .and_then(Value::as_str)
                .map(String::from)
        })
        .collect();
    for n in caa_nodes {
        let nk = key("/api/v1", "nodes", "", &n);
        if let Some(mut node) = s.objects.get(&nk).cloned() {
            if node
                .pointer("/status/allocatable/kata.peerpods.io~1vm")
                .is_none()
            {
                node["status"]["capacity"]["kata.peerpods.io/vm"] = json!("10");
                node["status"]["allocatable"]["kata.peerpods.io/vm"] = json!("10");
                s.put(&nk, node, false);
            }
        }
    }
    // cert-manager: a Certificate becomes Ready once its Issuer exists.
    let cm = "/apis/cert-manager.io/v1";
    for (k, mut c) in s.all_ns_items(cm, "certificates") {
        if c.pointer("/status/conditions").is_none() {
            c["status"] = json!({"conditions": [{"type": "Ready", "status": "True", "reason": "Ready", "message": "Certificate is up to date and has not expired"}]});
            s.put(&k, c, false);
        }
    }
    // peerpod-ctrl: deletes the VM of a PeerPod whose pod is gone, then the PeerPod.
    let ctrl = s
        .all_ns_items("/apis/apps/v1", "deployments")
        .iter()
        .any(|(_, d)| {
            // By what it runs: its name follows resourceCtrl.namePrefix.
            d.pointer("/spec/template/spec/containers")
                .and_then(Value::as_array)
                .is_some_and(|cs| {
                    cs.iter().any(|c| {
                        c["image"]
                            .as_str()
                            .is_some_and(|i| i.contains("/peerpod-ctrl"))
                    })
                })
                && d.pointer("/status/availableReplicas")
                    .and_then(Value::as_i64)
                    .unwrap_or(0)
                    > 0
        });
    if ctrl {
        for (k, p) in s.all_ns_items(pp_prefix, "peerpods") {
            let ns = p["metadata"]["namespace"].as_str().unwrap_or("");
            let pod = p
                .pointer("/metadata/ownerReferences/0/name")
                .and_then(Value::as_str)
                .unwrap_or("");
            if !s.objects.contains_key(&key("/api/v1", "pods", ns, pod)) {
                s.remove(&k);
            }
        }
    }
}

/// cert-manager's CA injector, played: a MutatingWebhookConfiguration annotated
/// `cert-manager.io/inject-ca-from` gets every webhook's `clientConfig.caBundle` a few
/// ticks (about half a second) after it was applied without one, as the real injector does
/// after the Certificate's Secret exists; until then the stand-in records any pod-creating
/// object applied (the real API server would reject the pods it creates).
mod ca_injector {
    use super::*;

    const DELAY_TICKS: u64 = 4;
    const MWC: &str = "/apis/admissionregistration.k8s.io/v1|mutatingwebhookconfigurations|";
    const POD_CREATORS: &[&str] = &[
        "daemonsets",
        "deployments",
        "replicasets",
        "statefulsets",
        "jobs",
        "pods",
    ];

    fn injected(mwc: &Value) -> bool {
        let hooks = mwc["webhooks"].as_array().cloned().unwrap_or_default();
        !hooks.is_empty()
            && hooks.iter().all(|w| {
                w.pointer("/clientConfig/caBundle")
                    .and_then(Value::as_str)
                    .is_some_and(|c| !c.is_empty())
            })
    }

    pub(super) fn on_apply(s: &mut State, plural: &str, key: &str, obj: &Value) {
        if plural == "mutatingwebhookconfigurations"
            && obj
                .pointer("/metadata/annotations/cert-manager.io~1inject-ca-from")
                .is_some()
            && !injected(obj)
        {
            let due = s.ticks + DELAY_TICKS;
            s.ca_pending.insert(key.to_string(), due);
        }
        if POD_CREATORS.contains(&plural) {
            let waiting: Vec<String> = s
                .objects
                .range(MWC.to_string()..)
                .take_while(|(k, _)| k.starts_with(MWC))
                .filter(|(_, v)| !injected(v))
                .map(|(_, v)| v["metadata"]["name"].as_str().unwrap_or("").to_string())
                .collect();
            for w in waiting {
                let name = obj["metadata"]["name"].as_str().unwrap_or("");
                s.ca_outages.push(format!(
                    "{plural}/{name} applied while MutatingWebhookConfiguration {w} had no caBundle"
                ));
            }
        }
    }

    pub(super) fn tick(s: &mut State) {
        let due: Vec<String> = s
            .ca_pending
            .iter()
            .filter(|(_, t)| **t <= s.ticks)
            .map(|(k, _)| k.clone())
            .collect();
        for k in due {
            s.ca_pending.remove(&k);
            let Some(mut o) = s.objects.get(&k).cloned() else {
                continue;
            };
            for w in o["webhooks"].as_array_mut().into_iter().flatten() {
                w["clientConfig"]["caBundle"] = json!("LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0t");
            }
            if let Some(m) = o["metadata"]["managedFields"].as_array_mut() {
                m.push(json!({"manager": "cert-manager-cainjector", "operation": "Update",
                    "apiVersion": "admissionregistration.k8s.io/v1", "time": now(), "fieldsType": "FieldsV1",
                    "fieldsV1": {"f:webhooks": {}}}));
            }
            s.put(&k, o, false);
        }
    }
}
