//! Reading many objects cheaply, in one request whatever their number where the server
//! allows it: a *watch-list* (`sendInitialEvents=true`, the WatchList feature, on by
//! default since Kubernetes 1.34) streams the current objects and a bookmark that ends
//! them, and the same stream then carries the changes. A server that refuses it (422: 1.33,
//! whose default is off, and servers before 1.27) or a user who may list but not watch
//! gets paged lists (`limit` + `continue`, restarting when the continue token expired)
//! instead; the refusal (and a stream that ends or goes silent before its bookmark) is
//! remembered for the rest of the command. [`Watched`] keeps a
//! store current from either (bookmarks on, resumes from the last resourceVersion when
//! the server closes the stream, relists on 410 Gone). docs/cluster-lifecycle.md#api-cost
//! says what each command costs.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::time::Duration;

use futures::stream::BoxStream;
use futures::StreamExt;
use kube::api::{ListParams, WatchEvent, WatchParams};
use kube::{Api, Resource, ResourceExt};
use serde::de::DeserializeOwned;

use crate::client::Cluster;
use crate::error::ClusterError;

/// Page size of every paged list.
pub const PAGE: u32 = 500;

/// The annotation of the bookmark that ends a watch-list's initial events.
const INITIAL_EVENTS_END: &str = "k8s.io/initial-events-end";

/// How often a watch-list that breaks before its bookmark is started again (each start
/// itself rides out an unreachable server for the cluster's patience).
const STREAM_RESTARTS: usize = 10;

/// How long a watch-list may go silent before the bookmark that ends its initial events:
/// the server sends them as fast as it reads them, so silence means it will not end them.
const INITIAL_SILENCE: Duration = Duration::from_secs(15);

type Events<K> = BoxStream<'static, kube::Result<WatchEvent<K>>>;

/// A listed collection: the objects by `namespace/name`, the resourceVersion they are
/// from, and the watch-list's stream when they came from one (it carries the changes).
struct Listed<K> {
    items: BTreeMap<String, K>,
    rv: String,
    stream: Option<Events<K>>,
    requests: usize,
}

/// Every object `api` lists with `selectors` (label, field), in one watch-list request
/// or page by page; with the resourceVersion they are from (to watch from).
pub async fn list_all<K>(
    cluster: &Cluster,
    api: &Api<K>,
    labels: Option<&str>,
    fields: Option<&str>,
    what: &str,
) -> Result<(Vec<K>, String), ClusterError>
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + 'static,
{
    let l = listed(cluster, api, labels, fields, what, 290).await?;
    Ok((l.items.into_values().collect(), l.rv))
}

async fn listed<K>(
    cluster: &Cluster,
    api: &Api<K>,
    labels: Option<&str>,
    fields: Option<&str>,
    what: &str,
    watch_timeout: u32,
) -> Result<Listed<K>, ClusterError>
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + 'static,
{
    if cluster.streams_lists() {
        if let Some(l) = watch_list(cluster, api, labels, fields, what, watch_timeout).await? {
            return Ok(l);
        }
    }
    let (items, rv, pages) = paged(cluster, api, labels, fields, what).await?;
    Ok(Listed {
        items: items.into_iter().map(|k| (key(&k), k)).collect(),
        rv,
        stream: None,
        requests: pages,
    })
}

/// One watch-list: the initial events up to the bookmark that ends them. `None` when the
/// server or the user's permissions want a paged list instead.
async fn watch_list<K>(
    cluster: &Cluster,
    api: &Api<K>,
    labels: Option<&str>,
    fields: Option<&str>,
    what: &str,
    watch_timeout: u32,
) -> Result<Option<Listed<K>>, ClusterError>
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + 'static,
{
    let mut wp = WatchParams::streaming_lists().timeout(watch_timeout);
    if let Some(l) = labels {
        wp = wp.labels(l);
    }
    if let Some(f) = fields {
        wp = wp.fields(f);
    }
    for requests in 1..=STREAM_RESTARTS {
        // No resourceVersion: a consistent read, as a plain list is.
        let mut stream = match cluster.call(what, || api.watch(&wp, "")).await {
            Ok(s) => s.boxed(),
            // The server does not stream lists (422 Invalid, 400 from a proxy or an old
            // server): paged lists from now on.
            Err(ClusterError::Invalid { .. } | ClusterError::Api { code: 400, .. }) => {
                tracing::debug!("{what}: the server does not stream lists; paging");
                cluster.page_lists();
                return Ok(None);
            }
            // May list but not watch: this list only is paged.
            Err(ClusterError::Forbidden { .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        let mut items = BTreeMap::new();
        loop {
            let Ok(next) = tokio::time::timeout(INITIAL_SILENCE, stream.next()).await else {
                // Objects and then silence, no bookmark: a storage that streams the
                // initial state without ending it would hold the list until the watch's
                // timeout.
                tracing::debug!("{what}: no end of the watch-list's initial events; paging");
                cluster.page_lists();
                return Ok(None);
            };
            match next {
                // Closed before the bookmark: a server that ignored sendInitialEvents.
                None => {
                    tracing::debug!("{what}: the watch-list ended without its bookmark; paging");
                    cluster.page_lists();
                    return Ok(None);
                }
                Some(Err(e)) => {
                    tracing::debug!("{what}: the watch-list broke ({e}); starting it again");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    break;
                }
                Some(Ok(WatchEvent::Added(k) | WatchEvent::Modified(k))) => {
                    items.insert(key(&k), k);
                }
                Some(Ok(WatchEvent::Deleted(k))) => {
                    items.remove(&key(&k));
                }
                Some(Ok(WatchEvent::Bookmark(b))) => {
                    if b.metadata
                        .annotations
                        .get(INITIAL_EVENTS_END)
                        .map(String::as_str)
                        == Some("true")
                    {
                        return Ok(Some(Listed {
                            items,
                            rv: b.metadata.resource_version,
                            stream: Some(stream),
                            requests,
                        }));
                    }
                }
                Some(Ok(WatchEvent::Error(s))) => {
                    return Err(ClusterError::from_kube(
                        kube::Error::Api(s),
                        what,
                        &cluster.server,
                    ))
                }
            }
        }
    }
    Err(ClusterError::Refused(format!(
        "{what}: the server broke the stream of the list {STREAM_RESTARTS} times before it ended\n  fix: check the API server's health (its logs, `kubectl get --raw /readyz`) and run the command again"
    )))
}

/// Every object, page by page; with the first page's resourceVersion and the pages read.
async fn paged<K>(
    cluster: &Cluster,
    api: &Api<K>,
    labels: Option<&str>,
    fields: Option<&str>,
    what: &str,
) -> Result<(Vec<K>, String, usize), ClusterError>
where
    K: Resource + Clone + DeserializeOwned + Debug,
{
    let mut restarts = 0;
    let mut pages = 0;
    'again: loop {
        let mut items = vec![];
        let mut token: Option<String> = None;
        loop {
            let mut lp = ListParams::default().limit(PAGE);
            if let Some(l) = labels {
                lp = lp.labels(l);
            }
            if let Some(f) = fields {
                lp = lp.fields(f);
            }
            if let Some(t) = &token {
                lp = lp.continue_token(t);
            }
            pages += 1;
            let page = match cluster.call(what, || api.list(&lp)).await {
                Ok(p) => p,
                // The continue token expired (410 Gone): start over, a few times.
                Err(ClusterError::Api { code: 410, .. }) if token.is_some() && restarts < 3 => {
                    restarts += 1;
                    tracing::debug!("{what}: continue token expired; listing again");
                    continue 'again;
                }
                Err(e) => return Err(e),
            };
            let rv = page.metadata.resource_version.clone().unwrap_or_default();
            items.extend(page.items);
            match page.metadata.continue_.filter(|c| !c.is_empty()) {
                Some(c) => token = Some(c),
                None => return Ok((items, rv, pages)),
            }
        }
    }
}

/// A change seen by a [`Watched`] store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// An object was added, modified or deleted.
    Object,
    /// The store was listed again (after 410 Gone).
    Relisted,
}

/// Objects kept current by a watch. Keyed by `namespace/name`.
pub struct Watched<K: Resource + 'static> {
    cluster: Cluster,
    api: Api<K>,
    labels: Option<String>,
    fields: Option<String>,
    what: String,
    /// The current objects.
    pub items: BTreeMap<String, K>,
    rv: String,
    stream: Option<Events<K>>,
    /// Requests made (lists, pages and watches), for the figures.
    pub requests: usize,
    /// How long one watch request may stay open before the server closes it.
    pub watch_timeout: u32,
}

fn key<K: Resource>(k: &K) -> String {
    format!(
        "{}/{}",
        k.meta().namespace.as_deref().unwrap_or(""),
        k.meta().name.as_deref().unwrap_or("")
    )
}

impl<K> Watched<K>
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + 'static,
{
    /// Lists (one watch-list, or page by page) and gets ready to watch.
    pub async fn start(
        cluster: &Cluster,
        api: Api<K>,
        labels: Option<&str>,
        fields: Option<&str>,
        what: &str,
    ) -> Result<Self, ClusterError> {
        let mut w = Watched {
            cluster: cluster.clone(),
            api,
            labels: labels.map(str::to_string),
            fields: fields.map(str::to_string),
            what: what.to_string(),
            items: BTreeMap::new(),
            rv: String::new(),
            stream: None,
            requests: 0,
            watch_timeout: 290,
        };
        w.relist().await?;
        Ok(w)
    }

    async fn relist(&mut self) -> Result<(), ClusterError> {
        let l = listed(
            &self.cluster,
            &self.api,
            self.labels.as_deref(),
            self.fields.as_deref(),
            &self.what,
            self.watch_timeout,
        )
        .await?;
        self.requests += l.requests;
        self.items = l.items;
        self.rv = l.rv;
        // A watch-list's stream goes on with the changes: no second request.
        self.stream = l.stream;
        Ok(())
    }

    /// The objects, in key order.
    pub fn values(&self) -> impl Iterator<Item = &K> {
        self.items.values()
    }

    /// Waits for the next change (bookmarks only move the resourceVersion on). Cancel-safe
    /// between events, so it can race other stores in `tokio::select!`.
    pub async fn next_change(&mut self) -> Result<Change, ClusterError> {
        loop {
            if self.stream.is_none() {
                // Bookmarks are on by default in kube-rs (allowWatchBookmarks=true).
                let mut wp = WatchParams::default().timeout(self.watch_timeout);
                if let Some(l) = &self.labels {
                    wp = wp.labels(l);
                }
                if let Some(f) = &self.fields {
                    wp = wp.fields(f);
                }
                let rv = self.rv.clone();
                let what = format!("watching {}", self.what);
                let api = self.api.clone();
                self.requests += 1;
                match self.cluster.call(&what, || api.watch(&wp, &rv)).await {
                    Ok(s) => self.stream = Some(s.boxed()),
                    Err(ClusterError::Api { code: 410, .. }) => {
                        self.relist().await?;
                        return Ok(Change::Relisted);
                    }
                    Err(e) => return Err(e),
                }
            }
            let Some(stream) = self.stream.as_mut() else {
                continue;
            };
            match stream.next().await {
                // The server closed the watch (its timeout): resume from the last version.
                None => self.stream = None,
                Some(Err(e)) => {
                    tracing::debug!("{}: watch stream broke ({e}); watching again", self.what);
                    self.stream = None;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Some(Ok(ev)) => match ev {
                    WatchEvent::Added(k) | WatchEvent::Modified(k) => {
                        if let Some(rv) = k.resource_version() {
                            self.rv = rv;
                        }
                        self.items.insert(key(&k), k);
                        return Ok(Change::Object);
                    }
                    WatchEvent::Deleted(k) => {
                        if let Some(rv) = k.resource_version() {
                            self.rv = rv;
                        }
                        self.items.remove(&key(&k));
                        return Ok(Change::Object);
                    }
                    WatchEvent::Bookmark(b) => self.rv = b.metadata.resource_version,
                    WatchEvent::Error(s) if s.code == 410 => {
                        tracing::debug!("{}: watch expired (410); listing again", self.what);
                        self.relist().await?;
                        return Ok(Change::Relisted);
                    }
                    WatchEvent::Error(s) => {
                        return Err(ClusterError::from_kube(
                            kube::Error::Api(s),
                            &format!("watching {}", self.what),
                            &self.cluster.server,
                        ))
                    }
                },
            }
        }
    }
}
