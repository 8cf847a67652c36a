//! Shared helpers for the acceptance tests.
// Every test file compiles this module into its own crate and uses only some of the helpers;
// the rest would be reported as dead code there.
#![allow(dead_code)]

pub mod kubectl;
pub mod webhook;

use futures::{StreamExt, TryStreamExt};
use kube::Resource;
use kube::api::{Api, WatchEvent, WatchParams};
use serde::de::DeserializeOwned;
use std::fmt::Debug;
use std::time::Duration;

/// Wait (bounded, via a watch) until `cond` holds for the named object; returns it.
pub async fn wait_for<K, F>(api: &Api<K>, name: &str, cond: F) -> K
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + 'static,
    F: Fn(&K) -> bool,
{
    let deadline = Duration::from_secs(20);
    tokio::time::timeout(deadline, async {
        loop {
            if let Ok(Some(o)) = api.get_opt(name).await
                && cond(&o)
            {
                return o;
            }
            let rv = api
                .get_opt(name)
                .await
                .ok()
                .flatten()
                .and_then(|o| o.meta().resource_version.clone())
                .unwrap_or_else(|| "0".into());
            let wp = WatchParams::default()
                .fields(&format!("metadata.name={name}"))
                .timeout(5);
            let Ok(stream) = api.watch(&wp, &rv).await else {
                continue;
            };
            let mut stream = stream.boxed();
            while let Ok(Some(ev)) = stream.try_next().await {
                match ev {
                    WatchEvent::Added(o) | WatchEvent::Modified(o) if cond(&o) => return o,
                    _ => {}
                }
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("timed out waiting for {name}"))
}

/// Wait (bounded polling) until an async predicate is true.
pub async fn eventually<F, Fut>(what: &str, f: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..400 {
        if f().await {
            return;
        }
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("condition never held: {what}");
}
