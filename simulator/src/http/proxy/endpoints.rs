//! Where simulated pods' ports really listen: tests register an address per pod port.

use serde_json::Value;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

/// A pod port as a test names it when registering an endpoint: a number, or the `name` of a port
/// declared in the pod's `containers[].ports`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PodPort {
    /// A port number.
    Number(u16),
    /// A declared container port's name, resolved against the pod at request time.
    Name(String),
}

impl From<u16> for PodPort {
    fn from(n: u16) -> Self {
        PodPort::Number(n)
    }
}

impl From<&str> for PodPort {
    /// Digits are a port number, anything else a port name.
    fn from(s: &str) -> Self {
        match s.parse() {
            Ok(n) => PodPort::Number(n),
            Err(_) => PodPort::Name(s.to_string()),
        }
    }
}

impl From<String> for PodPort {
    fn from(s: String) -> Self {
        PodPort::from(s.as_str())
    }
}

/// `(namespace, pod, port)` of a registration.
type Key = (String, String, PodPort);

/// The registered pod endpoints: `(namespace, pod, port)` → the address serving it. Registrations
/// are by pod name, so they also serve a pod re-created under the same name.
#[derive(Clone, Default)]
pub struct PodEndpoints {
    map: Arc<Mutex<HashMap<Key, SocketAddr>>>,
}

impl PodEndpoints {
    /// Route proxy requests for `port` of pod `namespace/pod` to `addr` (replacing an earlier one).
    pub fn register(&self, namespace: &str, pod: &str, port: PodPort, addr: SocketAddr) {
        self.lock()
            .insert((namespace.into(), pod.into(), port), addr);
    }

    /// Forget the registration for `port` of pod `namespace/pod`.
    pub fn unregister(&self, namespace: &str, pod: &str, port: PodPort) {
        self.lock().remove(&(namespace.into(), pod.into(), port));
    }

    /// The address serving port number `port` of `pod` (the pod object): registered by that
    /// number, or by the name of a container port of the pod declaring that number.
    pub fn resolve(&self, namespace: &str, pod: &Value, port: u16) -> Option<SocketAddr> {
        let name = pod["metadata"]["name"].as_str().unwrap_or_default();
        let map = self.lock();
        let key = |p: PodPort| (namespace.to_string(), name.to_string(), p);
        if let Some(a) = map.get(&key(PodPort::Number(port))) {
            return Some(*a);
        }
        declared_ports(pod)
            .filter(|p| p["containerPort"].as_u64() == Some(u64::from(port)))
            .filter_map(|p| p["name"].as_str())
            .find_map(|n| map.get(&key(PodPort::Name(n.to_string()))).copied())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, SocketAddr>> {
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Every `ports[]` entry of the pod's app containers, in order.
pub fn declared_ports(pod: &Value) -> impl Iterator<Item = &Value> {
    pod["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|c| c["ports"].as_array().into_iter().flatten())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_resolve_through_the_declared_ports() {
        let eps = PodEndpoints::default();
        let a: SocketAddr = "127.0.0.1:1000".parse().unwrap();
        let b: SocketAddr = "127.0.0.1:2000".parse().unwrap();
        eps.register("ns", "p", "metrics".into(), a);
        eps.register("ns", "p", 8080.into(), b);
        let pod = json!({"metadata": {"name": "p"}, "spec": {"containers": [
            {"name": "app", "ports": [{"containerPort": 8080}, {"name": "metrics", "containerPort": 9090}]}
        ]}});
        assert_eq!(eps.resolve("ns", &pod, 9090), Some(a));
        assert_eq!(eps.resolve("ns", &pod, 8080), Some(b));
        assert_eq!(eps.resolve("ns", &pod, 7070), None);
        assert_eq!(eps.resolve("other", &pod, 8080), None);
        eps.unregister("ns", "p", PodPort::from("8080"));
        assert_eq!(eps.resolve("ns", &pod, 8080), None);
    }
}
