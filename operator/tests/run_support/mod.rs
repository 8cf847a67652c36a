//! Shared helpers for the controller, leader and run tests: a simulator with the CRD installed,
//! the simulator's virtual clock as the operator's clock, bounded waits, and a cuttable link.
#![allow(dead_code)]

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::jiff::Timestamp;
use kube::Client;
use kube::api::{Api, PostParams};
use kubesim::{SimClock, Simulator};
use openlit_operator::clock::{Clock, SharedClock, Sleep};
use openlit_operator::crd::AutoInstrumentation;
use serde_json::json;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// The operator's namespace in these tests.
pub const OPERATOR_NAMESPACE: &str = "openlit";

/// The simulator's clock seen through the operator's [`Clock`] trait.
#[derive(Clone)]
pub struct SimTime(pub SimClock);

/// Converts a simulator time to the operator's timestamp type.
pub fn to_timestamp(time: chrono::DateTime<chrono::Utc>) -> Timestamp {
    let nanos =
        i128::from(time.timestamp()) * 1_000_000_000 + i128::from(time.timestamp_subsec_nanos());
    Timestamp::from_nanosecond(nanos).unwrap()
}

impl Clock for SimTime {
    fn now(&self) -> Timestamp {
        to_timestamp(self.0.now())
    }

    fn sleep_until(&self, deadline: Timestamp) -> Sleep {
        let mut ticks = self.0.subscribe();
        Box::pin(async move {
            let _ = ticks.wait_for(|now| to_timestamp(*now) >= deadline).await;
        })
    }
}

/// A simulator with the AutoInstrumentation CRD and the operator's namespace.
pub struct Cluster {
    /// The simulator.
    pub sim: Simulator,
    /// A client for the test's own requests.
    pub client: Client,
    /// The simulator's clock as the operator's clock.
    pub clock: SharedClock,
}

/// Starts a simulator (without pod controllers) and installs the CRD.
pub async fn cluster() -> Cluster {
    cluster_with(openlit_operator::crd::crd()).await
}

/// Starts a simulator (without pod controllers) with `crd` as the AutoInstrumentation CRD, e.g.
/// an older one.
pub async fn cluster_with(crd: CustomResourceDefinition) -> Cluster {
    let sim = Simulator::builder()
        .controllers(false)
        .start()
        .await
        .unwrap();
    let client = sim.client().unwrap();
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    crds.create(&PostParams::default(), &crd).await.unwrap();
    let namespaces: Api<Namespace> = Api::all(client.clone());
    for name in [OPERATOR_NAMESPACE, "apps"] {
        namespaces
            .create(
                &PostParams::default(),
                &serde_json::from_value(json!({"metadata": {"name": name}})).unwrap(),
            )
            .await
            .unwrap();
    }
    let clock: SharedClock = Arc::new(SimTime(sim.clock().clone()));
    Cluster { sim, client, clock }
}

impl Cluster {
    /// The AutoInstrumentation API of a namespace.
    pub fn resources(&self, namespace: &str) -> Api<AutoInstrumentation> {
        Api::namespaced(self.client.clone(), namespace)
    }

    /// Status writes (PUT or PATCH on the status subresource) served so far.
    pub fn status_writes(&self) -> u64 {
        self.sim
            .request_count("update", "autoinstrumentations", "status")
            + self
                .sim
                .request_count("patch", "autoinstrumentations", "status")
    }

    /// Moves the virtual clock.
    pub fn advance(&self, by: Duration) {
        self.sim.clock().advance(by);
    }
}

/// An AutoInstrumentation from a JSON spec.
pub fn resource(name: &str, spec: serde_json::Value) -> AutoInstrumentation {
    serde_json::from_value(json!({
        "apiVersion": "openlit.io/v1alpha1",
        "kind": "AutoInstrumentation",
        "metadata": {"name": name},
        "spec": spec,
    }))
    .unwrap()
}

/// A valid spec selecting `app=<app>`.
pub fn valid_spec(app: &str) -> serde_json::Value {
    json!({"selector": {"matchLabels": {"app": app}}, "otlp": {"endpoint": "http://collector.observability:4318"}})
}

/// Waits (bounded, real time) until `check` returns `Some`, polling.
pub async fn eventually<T, F, Fut>(what: &str, check: F) -> T
where
    F: Fn() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    for _ in 0..600 {
        if let Some(value) = check().await {
            return value;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("timed out waiting until {what}");
}

/// Waits (bounded) until `check` holds.
pub async fn until<F, Fut>(what: &str, check: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = bool>,
{
    eventually(what, || {
        let fut = check();
        async move { fut.await.then_some(()) }
    })
    .await
}

/// Moves the clock in `step`s (at most `limit` in total) until `check` holds; returns the
/// virtual time it took.
pub async fn advance_until<F, Fut>(
    cluster: &Cluster,
    step: Duration,
    limit: Duration,
    what: &str,
    check: F,
) -> Duration
where
    F: Fn() -> Fut,
    Fut: Future<Output = bool>,
{
    let mut moved = Duration::ZERO;
    loop {
        // Let tasks woken by the last step run before judging.
        for _ in 0..20 {
            if check().await {
                return moved;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(
            moved < limit,
            "{what}: not reached within {limit:?} of virtual time"
        );
        cluster.advance(step);
        moved += step;
    }
}

/// A TCP relay to the simulator that can be cut, to isolate one replica from the API.
pub struct Link {
    addr: SocketAddr,
    cut: Arc<AtomicBool>,
    connections: Arc<Mutex<Vec<JoinHandle<()>>>>,
    acceptor: JoinHandle<()>,
}

impl Link {
    /// A relay to `target`.
    pub async fn to(target: SocketAddr) -> Link {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let cut = Arc::new(AtomicBool::new(false));
        let connections: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let acceptor = tokio::spawn({
            let cut = cut.clone();
            let connections = connections.clone();
            async move {
                while let Ok((mut inbound, _)) = listener.accept().await {
                    if cut.load(Ordering::SeqCst) {
                        continue;
                    }
                    let task = tokio::spawn(async move {
                        if let Ok(mut outbound) = TcpStream::connect(target).await {
                            let _ =
                                tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                        }
                    });
                    connections.lock().unwrap().push(task);
                }
            }
        });
        Link {
            addr,
            cut,
            connections,
            acceptor,
        }
    }

    /// A client that talks to the simulator through this link.
    pub fn client(&self) -> Client {
        let uri: http::Uri = format!("http://{}", self.addr).parse().unwrap();
        let mut config = kube::Config::new(uri);
        config.default_namespace = "default".into();
        Client::try_from(config).unwrap()
    }

    /// Drops every open connection and refuses new ones.
    pub fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        for task in self.connections.lock().unwrap().drain(..) {
            task.abort();
        }
    }

    /// Lets connections through again.
    pub fn restore(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        self.acceptor.abort();
        for task in self.connections.lock().unwrap().drain(..) {
            task.abort();
        }
    }
}
