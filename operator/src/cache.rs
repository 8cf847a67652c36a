//! The in-memory index of `AutoInstrumentation` resources the webhook decides with, fed by a
//! watch, so an admission makes no API call.
//!
//! [`PolicyCache::run`] watches the resources (every namespace, or only the namespaces of
//! [`CacheSettings::namespaces`] plus the operator's own) and keeps each one compiled into an
//! [`inject::Policy`](crate::inject::Policy), indexed by namespace. [`PolicyCache`] implements
//! [`PolicySource`] for the webhook; it reports itself synced once every watch has delivered its
//! complete initial list. A resource that cannot be read (it does not deserialize) is left out
//! with a warning instead of stopping the watch.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use futures::StreamExt;
use futures::stream::select_all;
use kube::core::DeserializeGuard;
use kube::runtime::watcher;
use kube::{Api, Client};

use crate::clock::SharedClock;
use crate::crd::AutoInstrumentation;
use crate::inject::{DEFAULT_IMAGE_PREFIX, Policy};
use crate::metrics::Metrics;
use crate::watch::{WATCH_BACKOFF, watch_with_backoff};
use crate::webhook::PolicySource;

/// What the cache watches.
#[derive(Clone, Debug)]
pub struct CacheSettings {
    /// The operator's namespace; its resources are cluster-wide defaults and always watched.
    pub operator_namespace: String,
    /// Limit the watch to these namespaces (plus the operator's); `None` watches all.
    pub namespaces: Option<Vec<String>>,
    /// Registry prefix of the providers' default images.
    pub image_prefix: String,
}

impl CacheSettings {
    /// Watch every namespace; defaults from `operator_namespace`.
    pub fn new(operator_namespace: &str) -> Self {
        CacheSettings {
            operator_namespace: operator_namespace.to_string(),
            namespaces: None,
            image_prefix: DEFAULT_IMAGE_PREFIX.to_string(),
        }
    }
}

type Index = HashMap<String, BTreeMap<String, Arc<Policy>>>;

struct Inner {
    settings: CacheSettings,
    index: RwLock<Index>,
    synced: AtomicBool,
    metrics: Arc<Metrics>,
}

/// The compiled resources, shared between the watch task and the webhook.
#[derive(Clone)]
pub struct PolicyCache {
    inner: Arc<Inner>,
}

impl PolicyCache {
    /// An empty, unsynced cache.
    pub fn new(settings: CacheSettings, metrics: Arc<Metrics>) -> Self {
        PolicyCache {
            inner: Arc::new(Inner {
                settings,
                index: RwLock::new(Index::new()),
                synced: AtomicBool::new(false),
                metrics,
            }),
        }
    }

    /// The namespaces watched (`None`: all).
    pub fn scopes(&self) -> Option<Vec<String>> {
        let settings = &self.inner.settings;
        settings.namespaces.as_ref().map(|list| {
            let mut scopes = list.clone();
            scopes.push(settings.operator_namespace.clone());
            scopes.sort();
            scopes.dedup();
            scopes
        })
    }

    /// Watches the resources until `shutdown` completes. API errors are retried with backoff on
    /// `clock`.
    pub async fn run(
        &self,
        client: Client,
        clock: SharedClock,
        shutdown: impl Future<Output = ()> + Send,
    ) {
        let scopes: Vec<Option<String>> = match self.scopes() {
            Some(list) => list.into_iter().map(Some).collect(),
            None => vec![None],
        };
        let streams = scopes.iter().cloned().map(|scope| {
            let api: Api<DeserializeGuard<AutoInstrumentation>> = match &scope {
                Some(ns) => Api::namespaced(client.clone(), ns),
                None => Api::all(client.clone()),
            };
            let what = match &scope {
                Some(ns) => format!("AutoInstrumentation resources in {ns}"),
                None => "AutoInstrumentation resources".to_string(),
            };
            watch_with_backoff(
                watcher(api, watcher::Config::default()),
                clock.clone(),
                WATCH_BACKOFF,
                what,
            )
            .map(move |event| (scope.clone(), event))
            .boxed()
        });
        let mut events = select_all(streams);
        let mut pending: HashMap<Option<String>, Vec<AutoInstrumentation>> = HashMap::new();
        let mut synced: HashMap<Option<String>, bool> =
            scopes.iter().map(|s| (s.clone(), false)).collect();
        tokio::pin!(shutdown);
        loop {
            let (scope, event) = tokio::select! {
                () = &mut shutdown => return,
                next = events.next() => match next {
                    Some(next) => next,
                    None => return,
                },
            };
            match event {
                Err(e) => tracing::warn!(error = %e, "watching AutoInstrumentation resources"),
                Ok(watcher::Event::Init) => {
                    pending.insert(scope, Vec::new());
                }
                Ok(watcher::Event::InitApply(guard)) => {
                    if let Some(resource) = readable(guard) {
                        pending.entry(scope).or_default().push(resource);
                    }
                }
                Ok(watcher::Event::InitDone) => {
                    let resources = pending.remove(&scope).unwrap_or_default();
                    self.replace(scope.as_deref(), &resources);
                    synced.insert(scope, true);
                    if synced.values().all(|s| *s) {
                        self.inner.synced.store(true, Ordering::Release);
                    }
                }
                Ok(watcher::Event::Apply(guard)) => match guard.0 {
                    Ok(resource) => self.apply(&resource),
                    Err(invalid) => {
                        warn_unreadable(&invalid);
                        let meta = &invalid.metadata;
                        if let (Some(ns), Some(name)) = (&meta.namespace, &meta.name) {
                            self.delete(ns, name);
                        }
                    }
                },
                Ok(watcher::Event::Delete(guard)) => {
                    let meta = match &guard.0 {
                        Ok(resource) => &resource.metadata,
                        Err(invalid) => &invalid.metadata,
                    };
                    if let (Some(ns), Some(name)) = (&meta.namespace, &meta.name) {
                        self.delete(ns, name);
                    }
                }
            }
        }
    }

    /// Adds or replaces one resource.
    pub fn apply(&self, resource: &AutoInstrumentation) {
        let policy = Arc::new(Policy::compile(resource, &self.inner.settings.image_prefix));
        self.write(|index| {
            index
                .entry(policy.resource.namespace.clone())
                .or_default()
                .insert(policy.resource.name.clone(), policy);
        });
    }

    /// Removes one resource.
    pub fn delete(&self, namespace: &str, name: &str) {
        self.write(|index| {
            if let Some(names) = index.get_mut(namespace) {
                names.remove(name);
                if names.is_empty() {
                    index.remove(namespace);
                }
            }
        });
    }

    /// Replaces everything in `scope` (one namespace, or all when `None`) with `resources`.
    pub fn replace(&self, scope: Option<&str>, resources: &[AutoInstrumentation]) {
        let prefix = self.inner.settings.image_prefix.clone();
        let compiled: Vec<Arc<Policy>> = resources
            .iter()
            .map(|r| Arc::new(Policy::compile(r, &prefix)))
            .collect();
        self.write(|index| {
            match scope {
                Some(ns) => {
                    index.remove(ns);
                }
                None => index.clear(),
            }
            for policy in compiled {
                index
                    .entry(policy.resource.namespace.clone())
                    .or_default()
                    .insert(policy.resource.name.clone(), policy);
            }
        });
    }

    /// Number of cached resources.
    pub fn len(&self) -> usize {
        self.read().values().map(BTreeMap::len).sum()
    }

    /// Whether the cache holds no resource.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Index> {
        self.inner
            .index
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self, change: impl FnOnce(&mut Index)) {
        let count = {
            let mut index = self
                .inner
                .index
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            change(&mut index);
            index.values().map(BTreeMap::len).sum()
        };
        self.inner.metrics.set_cached_resources(count);
    }
}

impl PolicySource for PolicyCache {
    fn candidates(&self, pod_namespace: &str, operator_namespace: &str) -> Vec<Arc<Policy>> {
        let index = self.read();
        let mut out: Vec<Arc<Policy>> = Vec::new();
        let global = (operator_namespace != pod_namespace).then_some(operator_namespace);
        for ns in std::iter::once(pod_namespace).chain(global) {
            if let Some(names) = index.get(ns) {
                out.extend(names.values().cloned());
            }
        }
        out
    }

    fn synced(&self) -> bool {
        self.inner.synced.load(Ordering::Acquire)
    }
}

fn readable(guard: DeserializeGuard<AutoInstrumentation>) -> Option<AutoInstrumentation> {
    guard.0.map_err(|invalid| warn_unreadable(&invalid)).ok()
}

fn warn_unreadable(invalid: &kube::core::error_boundary::InvalidObject) {
    tracing::warn!(
        namespace = invalid.metadata.namespace.as_deref().unwrap_or_default(),
        name = invalid.metadata.name.as_deref().unwrap_or_default(),
        error = %invalid.error,
        "ignoring an AutoInstrumentation that cannot be read"
    );
}
