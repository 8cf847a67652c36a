//! Supervision of a replica's background components (watches, elector, certificate and
//! webhook-configuration writers, controller, servers).
//!
//! Each component runs on its own task through [`Supervisor::spawn`]. A component is meant to
//! run until the replica stops; one that ends earlier (returns or panics) is a failure: it is
//! logged as an error, `/readyz` turns false naming it, and [`Supervisor::failed`] completes, on
//! which the `run` command stops the replica and exits with an error so Kubernetes restarts the
//! pod. A replica is never left serving with a dead part.

use std::future::Future;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;
use tokio::task::{AbortHandle, JoinHandle};

/// Watches over the components of one replica.
#[derive(Clone)]
pub struct Supervisor {
    failures: Arc<watch::Sender<Vec<String>>>,
    stopping: Arc<watch::Sender<bool>>,
    components: Arc<Mutex<Vec<(&'static str, AbortHandle)>>>,
}

impl Default for Supervisor {
    fn default() -> Self {
        Supervisor {
            failures: Arc::new(watch::channel(Vec::new()).0),
            stopping: Arc::new(watch::channel(false).0),
            components: Arc::default(),
        }
    }
}

/// Aborts the component's task when the supervising task is aborted.
struct AbortOnDrop(AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Supervisor {
    /// A supervisor with no failures.
    pub fn new() -> Self {
        Supervisor::default()
    }

    /// Runs the component `name` on its own task; its end before [`Supervisor::stop`] is a
    /// failure. Aborting the returned handle aborts the component.
    pub fn spawn(
        &self,
        name: &'static str,
        component: impl Future<Output = ()> + Send + 'static,
    ) -> JoinHandle<()> {
        let task = tokio::spawn(component);
        self.components
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push((name, task.abort_handle()));
        let supervisor = self.clone();
        tokio::spawn(async move {
            let guard = AbortOnDrop(task.abort_handle());
            let ended = task.await;
            drop(guard);
            if *supervisor.stopping.borrow() {
                return;
            }
            let why = match ended {
                Ok(()) => format!("{name} stopped"),
                Err(error) if error.is_panic() => format!("{name} panicked"),
                Err(_) => format!("{name} was cancelled"),
            };
            tracing::error!(component = name, reason = %why, "a component of the replica ended");
            supervisor
                .failures
                .send_modify(|failures| failures.push(why));
        })
    }

    /// Ends the component `name` at once, as a crash of that component would (for
    /// fault-injection tests); returns whether such a component runs.
    pub fn abort(&self, name: &str) -> bool {
        let components = self
            .components
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut found = false;
        for (_, task) in components.iter().filter(|(n, _)| *n == name) {
            task.abort();
            found = true;
        }
        found
    }

    /// The replica is stopping: components ending from now on are not failures.
    pub fn stop(&self) {
        self.stopping.send_replace(true);
    }

    /// What has failed so far (empty: nothing).
    pub fn failures(&self) -> Vec<String> {
        self.failures.borrow().clone()
    }

    /// `Err` naming the failed components, if any.
    pub fn health(&self) -> Result<(), String> {
        let failures = self.failures.borrow();
        if failures.is_empty() {
            Ok(())
        } else {
            Err(failures.join("; "))
        }
    }

    /// Completes with the failures once a component has failed.
    pub fn failed(&self) -> impl Future<Output = Vec<String>> + Send + 'static {
        let mut failures = self.failures.subscribe();
        async move {
            let seen = failures
                .wait_for(|f| !f.is_empty())
                .await
                .map(|failures| failures.clone());
            match seen {
                Ok(failures) => failures,
                Err(_) => std::future::pending().await,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_component_that_ends_is_reported_and_one_that_ends_while_stopping_is_not() {
        let supervisor = Supervisor::new();
        let early = supervisor.spawn("the early one", async {});
        early.await.unwrap();
        assert_eq!(supervisor.failures(), vec!["the early one stopped"]);
        assert_eq!(supervisor.failed().await, vec!["the early one stopped"]);

        let supervisor = Supervisor::new();
        let panicking = supervisor.spawn("the panicking one", async { panic!("boom") });
        panicking.await.unwrap();
        assert_eq!(
            supervisor.health(),
            Err("the panicking one panicked".to_string())
        );

        let supervisor = Supervisor::new();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = supervisor.spawn("the steady one", async move {
            let _ = stopped.await;
        });
        supervisor.stop();
        let _ = stop.send(());
        task.await.unwrap();
        assert_eq!(supervisor.health(), Ok(()));
    }
}
