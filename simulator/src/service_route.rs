//! Where a Service's port really listens: an address a test registered in-process, or else a
//! loopback address published in the Service's EndpointSlices or Endpoints, which is how a
//! process on this machine (an operator started against `kubesim serve`) serves a Service.
//! Non-loopback addresses are never dialled.

use crate::cluster::Cluster;
use serde_json::Value;
use std::net::{IpAddr, SocketAddr};

/// The address serving `port` of Service `namespace/name`, if any.
pub fn resolve(c: &Cluster, namespace: &str, name: &str, port: u16) -> Option<SocketAddr> {
    if let Some(addr) = c.services.resolve(namespace, name, port) {
        return Some(addr);
    }
    let t = c.store.txn();
    let service = t.get_ref(&("".into(), "services".into()), namespace, name)?;
    let service_port = service["spec"]["ports"]
        .as_array()?
        .iter()
        .find(|p| p["port"].as_u64() == Some(u64::from(port)))?;
    let port_name = service_port["name"].as_str().unwrap_or_default();
    let slices = t.list(
        &("discovery.k8s.io".into(), "endpointslices".into()),
        Some(namespace),
    );
    let from_slices = slices
        .iter()
        .filter(|s| s["metadata"]["labels"]["kubernetes.io/service-name"] == name)
        .find_map(|slice| {
            let target = named_port(&slice["ports"], port_name)?;
            slice["endpoints"]
                .as_array()?
                .iter()
                .filter(|e| e["conditions"]["ready"] != false)
                .flat_map(|e| e["addresses"].as_array().into_iter().flatten())
                .find_map(loopback)
                .map(|ip| SocketAddr::new(ip, target))
        });
    if from_slices.is_some() {
        return from_slices;
    }
    let endpoints = t.get_ref(&("".into(), "endpoints".into()), namespace, name)?;
    endpoints["subsets"].as_array()?.iter().find_map(|subset| {
        let target = named_port(&subset["ports"], port_name)?;
        subset["addresses"]
            .as_array()?
            .iter()
            .find_map(|a| loopback(&a["ip"]))
            .map(|ip| SocketAddr::new(ip, target))
    })
}

/// The port number of the entry named `name` (the unnamed entry for an unnamed Service port).
fn named_port(ports: &Value, name: &str) -> Option<u16> {
    ports
        .as_array()?
        .iter()
        .find(|p| p["name"].as_str().unwrap_or_default() == name)
        .and_then(|p| p["port"].as_u64())
        .and_then(|n| u16::try_from(n).ok())
}

fn loopback(address: &Value) -> Option<IpAddr> {
    address
        .as_str()?
        .parse::<IpAddr>()
        .ok()
        .filter(IpAddr::is_loopback)
}
