//! The in-memory object store: objects keyed by resource, namespace and name, a global
//! resourceVersion counter, a bounded event history and the watchers fed from it.

use serde_json::Value;
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::mpsc;

/// `(group, plural)` of a resource.
pub type GroupResource = (String, String);

/// What happened to an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// Created.
    Added,
    /// Changed.
    Modified,
    /// Removed.
    Deleted,
}

impl EventType {
    /// The watch event type string.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One change recorded by the store.
#[derive(Debug, Clone)]
pub struct Event {
    /// resourceVersion of the change.
    pub rv: u64,
    /// Resource of the object.
    pub gr: GroupResource,
    /// Namespace of the object (empty for cluster-scoped).
    pub namespace: String,
    /// What happened.
    pub kind: EventType,
    /// The object after the change (before deletion for `Deleted`).
    pub object: Arc<Value>,
    /// The object before the change, for `Modified`.
    pub prev: Option<Arc<Value>>,
}

struct Watcher {
    gr: Option<GroupResource>,
    namespace: Option<String>,
    tx: mpsc::UnboundedSender<Arc<Event>>,
}

struct Inner {
    objects: BTreeMap<GroupResource, BTreeMap<(String, String), Value>>,
    rv: u64,
    history: VecDeque<Arc<Event>>,
    history_limit: usize,
    compacted_rv: u64,
    watchers: Vec<Watcher>,
}

/// Returned when a watch asks for history that has been compacted away.
#[derive(Debug, Clone, Copy)]
pub struct Expired {
    /// The oldest resourceVersion still available.
    pub oldest: u64,
}

/// The shared store.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Mutex<Inner>>,
}

impl Default for Store {
    fn default() -> Self {
        Store::with_history(10_000)
    }
}

/// A write transaction: holds the store lock.
pub struct Txn<'a> {
    inner: MutexGuard<'a, Inner>,
}

impl Store {
    /// A store keeping `limit` events of history for watches.
    pub fn with_history(limit: usize) -> Self {
        Store {
            inner: Arc::new(Mutex::new(Inner {
                objects: BTreeMap::new(),
                rv: 1,
                history: VecDeque::new(),
                history_limit: limit.max(1),
                compacted_rv: 1,
                watchers: vec![],
            })),
        }
    }

    /// Lock the store for a sequence of reads and writes.
    pub fn txn(&self) -> Txn<'_> {
        Txn {
            inner: self.inner.lock().unwrap_or_else(|e| e.into_inner()),
        }
    }

    /// The current global resourceVersion.
    pub fn current_rv(&self) -> u64 {
        self.txn().inner.rv
    }

    /// Drop all watch history, so watches from any earlier resourceVersion get 410 Gone.
    pub fn compact(&self) {
        let mut t = self.txn();
        t.inner.history.clear();
        t.inner.compacted_rv = t.inner.rv;
    }

    /// Subscribe to every change in the store (used by the controllers).
    pub fn subscribe_all(&self) -> mpsc::UnboundedReceiver<Arc<Event>> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.txn().inner.watchers.push(Watcher {
            gr: None,
            namespace: None,
            tx,
        });
        rx
    }

    /// Start a watch on a resource from a resourceVersion: the events after it still in history,
    /// and a channel of everything that follows.
    #[allow(clippy::type_complexity)]
    pub fn watch_from(
        &self,
        gr: &GroupResource,
        namespace: Option<&str>,
        from_rv: Option<u64>,
    ) -> Result<
        (
            Vec<Arc<Event>>,
            Vec<Value>,
            u64,
            mpsc::UnboundedReceiver<Arc<Event>>,
        ),
        Expired,
    > {
        let mut t = self.txn();
        let matches = |e: &Event| &e.gr == gr && namespace.is_none_or(|ns| e.namespace == ns);
        let mut backlog = vec![];
        let mut snapshot = vec![];
        match from_rv {
            Some(rv) => {
                if rv < t.inner.compacted_rv {
                    return Err(Expired {
                        oldest: t.inner.compacted_rv + 1,
                    });
                }
                backlog = t
                    .inner
                    .history
                    .iter()
                    .filter(|e| e.rv > rv && matches(e))
                    .cloned()
                    .collect();
            }
            None => snapshot = t.list(gr, namespace),
        }
        let (tx, rx) = mpsc::unbounded_channel();
        t.inner.watchers.push(Watcher {
            gr: Some(gr.clone()),
            namespace: namespace.map(str::to_string),
            tx,
        });
        Ok((backlog, snapshot, t.inner.rv, rx))
    }
}

impl Txn<'_> {
    /// Read one object.
    pub fn get(&self, gr: &GroupResource, namespace: &str, name: &str) -> Option<Value> {
        self.inner
            .objects
            .get(gr)?
            .get(&(namespace.to_string(), name.to_string()))
            .cloned()
    }

    /// Borrow one object.
    pub fn get_ref(&self, gr: &GroupResource, namespace: &str, name: &str) -> Option<&Value> {
        self.inner
            .objects
            .get(gr)?
            .get(&(namespace.to_string(), name.to_string()))
    }

    /// All objects of a resource, optionally in one namespace, ordered by namespace and name.
    pub fn list(&self, gr: &GroupResource, namespace: Option<&str>) -> Vec<Value> {
        self.iter(gr, namespace).cloned().collect()
    }

    /// Iterate over the objects of a resource.
    pub fn iter<'b>(
        &'b self,
        gr: &GroupResource,
        namespace: Option<&'b str>,
    ) -> impl Iterator<Item = &'b Value> + 'b {
        self.inner
            .objects
            .get(gr)
            .into_iter()
            .flat_map(|m| m.iter())
            .filter(move |((ns, _), _)| namespace.is_none_or(|n| n == ns))
            .map(|(_, v)| v)
    }

    /// The current global resourceVersion.
    pub fn rv(&self) -> u64 {
        self.inner.rv
    }

    /// Store (create or replace) an object, assigning the next resourceVersion. Returns the stored object.
    pub fn put(
        &mut self,
        gr: &GroupResource,
        namespace: &str,
        name: &str,
        mut obj: Value,
        kind: EventType,
    ) -> Value {
        self.inner.rv += 1;
        let rv = self.inner.rv;
        obj["metadata"]["resourceVersion"] = Value::String(rv.to_string());
        let prev = self
            .inner
            .objects
            .entry(gr.clone())
            .or_default()
            .insert((namespace.to_string(), name.to_string()), obj.clone());
        self.record(gr, namespace, kind, obj.clone(), prev);
        obj
    }

    /// Remove an object; the deleted event carries a fresh resourceVersion.
    pub fn remove(&mut self, gr: &GroupResource, namespace: &str, name: &str) -> Option<Value> {
        let mut obj = self
            .inner
            .objects
            .get_mut(gr)?
            .remove(&(namespace.to_string(), name.to_string()))?;
        self.inner.rv += 1;
        obj["metadata"]["resourceVersion"] = Value::String(self.inner.rv.to_string());
        self.record(gr, namespace, EventType::Deleted, obj.clone(), None);
        Some(obj)
    }

    fn record(
        &mut self,
        gr: &GroupResource,
        namespace: &str,
        kind: EventType,
        object: Value,
        prev: Option<Value>,
    ) {
        let ev = Arc::new(Event {
            rv: self.inner.rv,
            gr: gr.clone(),
            namespace: namespace.to_string(),
            kind,
            object: Arc::new(object),
            prev: prev.map(Arc::new),
        });
        let inner = &mut *self.inner;
        inner.history.push_back(ev.clone());
        while inner.history.len() > inner.history_limit {
            if let Some(old) = inner.history.pop_front() {
                inner.compacted_rv = old.rv;
            }
        }
        inner.watchers.retain(|w| {
            if w.tx.is_closed() {
                return false;
            }
            let wanted = w.gr.as_ref().is_none_or(|g| g == gr)
                && w.namespace.as_deref().is_none_or(|n| n == namespace);
            if wanted {
                let _ = w.tx.send(ev.clone());
            }
            true
        });
    }
}
