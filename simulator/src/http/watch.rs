//! Watch streams: initial events, history from a resourceVersion, bookmarks, 410 Gone, timeouts.

use crate::cluster::{Cluster, gr};
use crate::error::ApiError;
use crate::read::Filter;
use crate::resources::ResourceDef;
use crate::store::{Event, EventType};
use axum::body::{Body, Bytes};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

/// Parameters of a watch request.
#[derive(Debug, Clone, Default)]
pub struct WatchParams {
    /// `resourceVersion`.
    pub resource_version: Option<String>,
    /// `sendInitialEvents`.
    pub send_initial_events: bool,
    /// `allowWatchBookmarks`.
    pub bookmarks: bool,
    /// `timeoutSeconds`.
    pub timeout: Option<u64>,
    /// Answer with Table rows.
    pub table: bool,
    /// `includeObject` for Table rows.
    pub include: String,
}

fn line(ty: &str, object: &Value) -> Bytes {
    let mut v = serde_json::to_vec(&json!({"type": ty, "object": object})).unwrap_or_default();
    v.push(b'\n');
    Bytes::from(v)
}

struct Ctx {
    c: Cluster,
    def: ResourceDef,
    filter: Filter,
    params: WatchParams,
}

impl Ctx {
    fn render(&self, ty: &str, obj: &Value) -> Bytes {
        if self.params.table {
            let rv = obj["metadata"]["resourceVersion"]
                .as_str()
                .unwrap_or_default();
            let t = super::table::table(
                &self.def,
                std::slice::from_ref(obj),
                rv,
                None,
                self.c.clock.now(),
                &self.params.include,
            );
            line(ty, &t)
        } else {
            line(ty, obj)
        }
    }

    fn bookmark(&self, rv: u64, initial_end: bool) -> Bytes {
        let mut meta = json!({"resourceVersion": rv.to_string()});
        if initial_end {
            meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        line(
            "BOOKMARK",
            &json!({"kind": self.def.kind, "apiVersion": self.def.api_version(), "metadata": meta}),
        )
    }

    /// Translate a store event into what this watcher sees (selectors can turn it into ADDED/DELETED).
    fn translate(&self, ev: &Event) -> Option<Bytes> {
        let now = self.filter.matches(&ev.object);
        match ev.kind {
            EventType::Added if now => Some(self.render("ADDED", &ev.object)),
            EventType::Deleted if now => Some(self.render("DELETED", &ev.object)),
            EventType::Modified => {
                let before = ev.prev.as_ref().is_some_and(|p| self.filter.matches(p));
                match (before, now) {
                    (true, true) => Some(self.render("MODIFIED", &ev.object)),
                    (false, true) => Some(self.render("ADDED", &ev.object)),
                    (true, false) => Some(self.render("DELETED", &ev.object)),
                    (false, false) => None,
                }
            }
            _ => None,
        }
    }
}

/// Deliver everything committed so far, then a bookmark at the current resourceVersion.
async fn send_bookmark(
    ctx: &Ctx,
    events: &mut tokio::sync::mpsc::UnboundedReceiver<Arc<Event>>,
    tx: &tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>,
    last_rv: u64,
) -> bool {
    let rv = ctx.c.store.current_rv().max(last_rv);
    while let Ok(ev) = events.try_recv() {
        if let Some(b) = ctx.translate(&ev)
            && tx.send(Ok(b)).await.is_err()
        {
            return false;
        }
    }
    tx.send(Ok(ctx.bookmark(rv, false))).await.is_ok()
}

/// Start a watch; the body streams newline-delimited watch events.
pub fn watch(
    c: &Cluster,
    def: &ResourceDef,
    ns: Option<String>,
    filter: Filter,
    params: WatchParams,
) -> Result<Body, ApiError> {
    let from = match params.resource_version.as_deref() {
        None | Some("") | Some("0") => None,
        Some(s) => Some(
            s.parse::<u64>()
                .map_err(|_| ApiError::bad_request(format!("invalid resource version: {s}")))?,
        ),
    };
    let from = if params.send_initial_events {
        None
    } else {
        from
    };
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(256);
    let ctx = Ctx {
        c: c.clone(),
        def: def.clone(),
        filter,
        params,
    };
    let ns_ref = ns.as_deref().filter(|_| def.namespaced);
    let started = c.store.watch_from(&gr(def), ns_ref, from);
    let mut breaks = c.faults.watch_breaks();
    let mut clock = c.clock.subscribe();
    tokio::spawn(async move {
        let (backlog, snapshot, rv, mut events) = match started {
            Ok(s) => s,
            Err(e) => {
                let req = from.unwrap_or(0);
                let _ = tx
                    .send(Ok(line(
                        "ERROR",
                        &ApiError::expired(req, e.oldest).status(),
                    )))
                    .await;
                return;
            }
        };
        for obj in snapshot.iter().filter(|o| ctx.filter.matches(o)) {
            if tx.send(Ok(ctx.render("ADDED", obj))).await.is_err() {
                return;
            }
        }
        if ctx.params.send_initial_events && ctx.params.bookmarks {
            let _ = tx.send(Ok(ctx.bookmark(rv, true))).await;
        }
        for ev in backlog {
            if let Some(b) = ctx.translate(&ev)
                && tx.send(Ok(b)).await.is_err()
            {
                return;
            }
        }
        let deadline = tokio::time::sleep(Duration::from_secs(ctx.params.timeout.unwrap_or(1800)));
        tokio::pin!(deadline);
        let mut tick = tokio::time::interval(Duration::from_secs(10));
        tick.tick().await;
        let mut last_rv = rv;
        loop {
            tokio::select! {
                ev = events.recv() => {
                    let Some(ev): Option<Arc<Event>> = ev else { return };
                    last_rv = ev.rv;
                    if let Some(b) = ctx.translate(&ev)
                        && tx.send(Ok(b)).await.is_err() { return; }
                }
                b = breaks.recv() => {
                    if let Ok(r) = b
                        && (r == "*" || r == ctx.def.plural) { return; }
                }
                changed = clock.changed() => {
                    if changed.is_err() { return; }
                    if ctx.params.bookmarks && !send_bookmark(&ctx, &mut events, &tx, last_rv).await { return; }
                }
                _ = tick.tick() => {
                    if ctx.params.bookmarks && !send_bookmark(&ctx, &mut events, &tx, last_rv).await { return; }
                }
                _ = &mut deadline => return,
                _ = tx.closed() => return,
            }
        }
    });
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    Ok(Body::from_stream(stream))
}
