//! Reading many objects cheaply: paged lists (`limit` + `continue`, restarting when the
//! continue token expired) and a watched store that follows one list with a watch
//! (bookmarks on, resumes from the last resourceVersion when the server closes the
//! stream, relists on 410 Gone).

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

/// Page size of every list.
pub const PAGE: u32 = 500;

/// Every object `api` lists with `selectors` (label, field), page by page; with the list's
/// resourceVersion (to watch from).
pub async fn list_all<K>(
    cluster: &Cluster,
    api: &Api<K>,
    labels: Option<&str>,
    fields: Option<&str>,
    what: &str,
) -> Result<(Vec<K>, String), ClusterError>
where
    K: Resource + Clone + DeserializeOwned + Debug,
{
    let mut restarts = 0;
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
                None => return Ok((items, rv)),
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
    stream: Option<BoxStream<'static, kube::Result<WatchEvent<K>>>>,
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
    /// Lists (page by page) and gets ready to watch.
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
        let (items, rv) = list_all(
            &self.cluster,
            &self.api,
            self.labels.as_deref(),
            self.fields.as_deref(),
            &self.what,
        )
        .await?;
        self.requests += items.len().div_ceil(PAGE as usize).max(1);
        self.items = items.into_iter().map(|k| (key(&k), k)).collect();
        self.rv = rv;
        self.stream = None;
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
