//! Where a proxy request goes: the `[scheme:]name[:port]` in the path resolved against the pod or
//! service, as upstream's `ResourceLocation`s do, then against the registered endpoints.

use super::endpoints::declared_ports;
use super::forward::unreachable;
use crate::cluster::Cluster;
use crate::error::ApiError;
use crate::read;
use serde_json::Value;
use std::net::{IpAddr, SocketAddr};

/// The `[scheme:]name[:port]` a proxy path names (upstream's `SplitSchemeNamePort`).
#[derive(Debug, Clone, PartialEq)]
pub struct ProxyId {
    /// As written in the path.
    pub raw: String,
    /// `""`, `http` or `https`.
    pub scheme: String,
    /// The pod or service name.
    pub name: String,
    /// The port as written: empty, digits, or a name.
    pub port: String,
}

impl ProxyId {
    /// Split `id`; `kind` (`pod`, `service`) names the object in the 400 for a malformed id.
    pub fn parse(kind: &str, id: &str) -> Result<Self, ApiError> {
        let (scheme, name, port) = match id.split(':').collect::<Vec<_>>().as_slice() {
            [n] => ("", *n, ""),
            [n, p] => ("", *n, *p),
            [s, n, p] => (*s, *n, *p),
            _ => ("?", "", ""),
        };
        if name.is_empty() || !matches!(scheme, "" | "http" | "https") {
            return Err(ApiError::bad_request(format!(
                "invalid {kind} request {id:?}"
            )));
        }
        Ok(ProxyId {
            raw: id.to_string(),
            scheme: scheme.to_string(),
            name: name.to_string(),
            port: port.to_string(),
        })
    }
}

/// The resolved target of a proxy request.
#[derive(Debug, Clone, PartialEq)]
pub struct Upstream {
    /// `host:port` as the real server would dial it (the pod IP for pods), for the `Host` header
    /// and error messages.
    pub host: String,
    /// The registered address serving it; `None` when nothing listens there.
    pub addr: Option<SocketAddr>,
}

/// The service names Go's resolver knows without `/etc/services` (`net.LookupPort`, tcp).
const GO_TCP_SERVICES: &[(&str, u16)] = &[
    ("ftp", 21),
    ("ftps", 990),
    ("gopher", 70),
    ("http", 80),
    ("https", 443),
    ("imap2", 143),
    ("imap3", 220),
    ("imaps", 993),
    ("pop3", 110),
    ("pop3s", 995),
    ("smtp", 25),
    ("submissions", 465),
    ("ssh", 22),
    ("telnet", 23),
];

/// The port number the API server dials for the port part of a pod proxy id: upstream puts it
/// into the URL as written, so a name is looked up as a network service name (not as the pod's
/// container port name) and an empty one means the first declared container port, or 80.
fn pod_port(pod: &Value, port: &str) -> Result<u16, ApiError> {
    if port.is_empty() {
        let first = declared_ports(pod).find_map(|p| p["containerPort"].as_u64());
        return Ok(first.and_then(|n| u16::try_from(n).ok()).unwrap_or(80));
    }
    if port.bytes().all(|b| b.is_ascii_digit()) {
        return port
            .parse()
            .map_err(|_| unreachable(format!("dial tcp: address {port}: invalid port")));
    }
    GO_TCP_SERVICES
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(port))
        .map(|(_, n)| *n)
        .ok_or_else(|| unreachable(format!("dial tcp: lookup tcp/{port}: unknown port")))
}

/// Whether something in the pod can be listening on `port`: the container declaring it runs, or
/// for an undeclared port, any container runs.
fn listening(pod: &Value, port: u16) -> bool {
    let declaring = pod["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| {
            c["ports"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|p| p["containerPort"].as_u64() == Some(u64::from(port)))
        })
        .and_then(|c| c["name"].as_str());
    pod["status"]["containerStatuses"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| declaring.is_none_or(|d| s["name"].as_str() == Some(d)))
        .any(|s| s["state"]["running"].is_object())
}

/// Resolve a pod proxy id: 404 for a missing pod, 400 `address not allowed` while it has no IP.
pub fn pod(c: &Cluster, namespace: &str, id: &ProxyId) -> Result<Upstream, ApiError> {
    let def = c.resource("", "v1", "pods")?;
    let pod = read::get(c, &def, namespace, &id.name)?;
    let ip: IpAddr = pod["status"]["podIPs"][0]["ip"]
        .as_str()
        .and_then(|ip| ip.parse().ok())
        .ok_or_else(|| ApiError::bad_request("address not allowed"))?;
    let port = pod_port(&pod, &id.port)?;
    let addr = if listening(&pod, port) {
        c.pod_endpoints.resolve(namespace, &pod, port)
    } else {
        None
    };
    Ok(Upstream {
        host: SocketAddr::new(ip, port).to_string(),
        addr,
    })
}

/// Resolve a service proxy id to the endpoint registered for the service port (by number, by
/// name, or the unnamed port), with upstream's 503 messages when there is none.
pub fn service(c: &Cluster, namespace: &str, id: &ProxyId) -> Result<Upstream, ApiError> {
    let def = c.resource("", "v1", "services")?;
    let svc = read::get(c, &def, namespace, &id.name)?;
    let ports = svc["spec"]["ports"].as_array().cloned().unwrap_or_default();
    let chosen = match id.port.parse::<i64>() {
        Ok(n) => Some(
            ports
                .iter()
                .find(|p| p["port"].as_i64() == Some(n))
                .ok_or_else(|| {
                    ApiError::unavailable(format!(
                        "no service port {n} found for service {:?}",
                        id.name
                    ))
                })?,
        ),
        Err(_) => ports
            .iter()
            .find(|p| p["name"].as_str().unwrap_or_default() == id.port),
    };
    let no_endpoints =
        |what: &str| ApiError::unavailable(format!("no endpoints available for service {what:?}"));
    let number = chosen
        .and_then(|p| p["port"].as_u64())
        .and_then(|n| u16::try_from(n).ok())
        .ok_or_else(|| no_endpoints(&id.raw))?;
    let addr = crate::service_route::resolve(c, namespace, &id.name, number)
        .ok_or_else(|| no_endpoints(&id.name))?;
    Ok(Upstream {
        host: addr.to_string(),
        addr: Some(addr),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ids_split_like_upstream() {
        let id = ProxyId::parse("pod", "https:p:443").unwrap();
        assert_eq!(
            (id.scheme.as_str(), id.name.as_str(), id.port.as_str()),
            ("https", "p", "443")
        );
        let id = ProxyId::parse("pod", "p:metrics").unwrap();
        assert_eq!((id.name.as_str(), id.port.as_str()), ("p", "metrics"));
        for bad in ["ftp:p:21", "a:b:c:d", ":80"] {
            let e = ProxyId::parse("pod", bad).unwrap_err();
            assert_eq!(e.message, format!("invalid pod request {bad:?}"));
        }
    }

    #[test]
    fn pod_ports_are_numbers_first_declared_or_network_service_names() {
        let pod = json!({"spec": {"containers": [
            {"name": "a"},
            {"name": "b", "ports": [{"name": "metrics", "containerPort": 9090}, {"containerPort": 8080}]}
        ]}});
        assert_eq!(pod_port(&pod, "").unwrap(), 9090);
        assert_eq!(pod_port(&pod, "8080").unwrap(), 8080);
        assert_eq!(pod_port(&pod, "HTTP").unwrap(), 80);
        assert_eq!(pod_port(&json!({}), "").unwrap(), 80);
        let e = pod_port(&pod, "metrics").unwrap_err();
        assert_eq!(
            (e.code, e.message.as_str()),
            (
                503,
                "error trying to reach service: dial tcp: lookup tcp/metrics: unknown port"
            )
        );
        let e = pod_port(&pod, "70000").unwrap_err();
        assert!(e.message.ends_with("dial tcp: address 70000: invalid port"));
    }
}
