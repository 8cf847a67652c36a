//! Calling one webhook over HTTPS, verifying its certificate against the `caBundle`.

use crate::cluster::Cluster;
use base64::Engine;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use serde_json::Value;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// What a webhook answered.
#[derive(Debug, Clone)]
pub struct WebhookOutcome {
    /// `response.allowed`.
    pub allowed: bool,
    /// `response.result` (a Status), when denied.
    pub result: Value,
    /// The decoded JSONPatch, if any.
    pub patch: Option<Value>,
    /// `response.warnings`.
    pub warnings: Vec<String>,
}

struct Target {
    addr: Option<SocketAddr>,
    host_port: String,
    server_name: String,
    path: String,
}

fn target(c: &Cluster, cfg: &Value) -> Result<Target, String> {
    if let Some(url) = cfg["url"].as_str() {
        let rest = url
            .strip_prefix("https://")
            .ok_or_else(|| format!("unsupported URL scheme in {url:?}"))?;
        let (host_port, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let host = match host_port.rsplit_once(':') {
            Some((h, p)) if p.parse::<u16>().is_ok() => h,
            _ => host_port,
        };
        let host_port = if host_port.contains(':') && !host_port.ends_with(']') {
            host_port.to_string()
        } else {
            format!("{host_port}:443")
        };
        return Ok(Target {
            addr: None,
            host_port,
            server_name: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string(),
            path: path.to_string(),
        });
    }
    let svc = &cfg["service"];
    let ns = svc["namespace"].as_str().unwrap_or_default();
    let name = svc["name"].as_str().unwrap_or_default();
    let port = svc["port"].as_u64().unwrap_or(443) as u16;
    let host = format!("{name}.{ns}.svc");
    Ok(Target {
        addr: crate::service_route::resolve(c, ns, name, port),
        host_port: format!("{host}:{port}"),
        server_name: host,
        path: svc["path"].as_str().unwrap_or("/").to_string(),
    })
}

/// Certificate validity is judged on the virtual clock, as the rest of the cluster's time is.
#[derive(Debug)]
struct VirtualTime(crate::SimClock);

impl rustls::time_provider::TimeProvider for VirtualTime {
    fn current_time(&self) -> Option<rustls::pki_types::UnixTime> {
        let seconds = u64::try_from(self.0.now().timestamp()).ok()?;
        Some(rustls::pki_types::UnixTime::since_unix_epoch(
            std::time::Duration::from_secs(seconds),
        ))
    }
}

fn tls_config(ca_bundle: &str, clock: &crate::SimClock) -> Result<rustls::ClientConfig, String> {
    let mut roots = rustls::RootCertStore::empty();
    if let Ok(pem) = base64::engine::general_purpose::STANDARD.decode(ca_bundle) {
        for cert in rustls_pemfile::certs(&mut pem.as_slice()).flatten() {
            let _ = roots.add(cert);
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let time = Arc::new(VirtualTime(clock.clone()));
    let mut cfg = rustls::ClientConfig::builder_with_details(provider, time)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(cfg)
}

fn go_tls_error(e: &std::io::Error) -> String {
    let s = e.to_string();
    if s.contains("UnknownIssuer") || s.contains("unknown issuer") || s.contains("BadSignature") {
        "tls: failed to verify certificate: x509: certificate signed by unknown authority".into()
    } else if s.contains("NotValidForName") || s.contains("not valid for name") {
        "tls: failed to verify certificate: x509: certificate is not valid for the requested name"
            .into()
    } else if s.contains("Expired") {
        "tls: failed to verify certificate: x509: certificate has expired or is not yet valid"
            .into()
    } else {
        s
    }
}

/// Call a webhook with an AdmissionReview. `Err` carries the message after `failed calling webhook "x": `.
pub async fn call(c: &Cluster, w: &Value, review: &Value) -> Result<WebhookOutcome, String> {
    let timeout = w["timeoutSeconds"].as_u64().unwrap_or(10).clamp(1, 30);
    let t = target(c, &w["clientConfig"])?;
    let url = format!("https://{}{}?timeout={timeout}s", t.host_port, t.path);
    let fail = |m: String| format!("failed to call webhook: Post \"{url}\": {m}");
    let body = serde_json::to_vec(review).map_err(|e| e.to_string())?;
    let fut = async {
        let cfg = tls_config(
            w["clientConfig"]["caBundle"].as_str().unwrap_or_default(),
            &c.clock,
        )?;
        let tcp = match t.addr {
            Some(a) => tokio::net::TcpStream::connect(a).await,
            None => tokio::net::TcpStream::connect(t.host_port.as_str()).await,
        }
        .map_err(|e| format!("dial tcp {}: connect: {e}", t.host_port))?;
        let name = ServerName::try_from(t.server_name.clone()).map_err(|e| e.to_string())?;
        let tls = tokio_rustls::TlsConnector::from(Arc::new(cfg))
            .connect(name, tcp)
            .await
            .map_err(|e| go_tls_error(&e))?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(conn);
        let req = http::Request::post(format!("{}?timeout={timeout}s", t.path))
            .header("host", t.host_port.as_str())
            .header("content-type", "application/json")
            .header("accept", "application/json, */*")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| e.to_string())?;
        let resp = sender.send_request(req).await.map_err(|e| e.to_string())?;
        let status = resp.status();
        let bytes = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        Ok::<_, String>((status, bytes))
    };
    let (status, bytes) = match tokio::time::timeout(Duration::from_secs(timeout), fut).await {
        Err(_) => return Err(fail("context deadline exceeded".into())),
        Ok(Err(m)) => return Err(fail(m)),
        Ok(Ok(r)) => r,
    };
    if !status.is_success() {
        return Err(format!(
            "failed to call webhook: the server responded with status code {}",
            status.as_u16()
        ));
    }
    let v: Value = serde_json::from_slice(&bytes)
        .map_err(|e| format!("received invalid webhook response: {e}"))?;
    let resp = &v["response"];
    if resp.is_null() {
        return Err("received invalid webhook response: webhook response was absent".into());
    }
    if resp["uid"] != review["request"]["uid"] {
        return Err(format!(
            "expected response.uid={:?}, got {:?}",
            review["request"]["uid"].as_str().unwrap_or_default(),
            resp["uid"].as_str().unwrap_or_default()
        ));
    }
    let patch = match resp["patch"].as_str() {
        Some(p) if !p.is_empty() => {
            if resp["patchType"].as_str() != Some("JSONPatch") {
                return Err(format!(
                    "unsupported patch type {:?}",
                    resp["patchType"].as_str().unwrap_or_default()
                ));
            }
            let raw = base64::engine::general_purpose::STANDARD
                .decode(p)
                .map_err(|e| format!("received invalid webhook response: {e}"))?;
            Some(
                serde_json::from_slice(&raw)
                    .map_err(|e| format!("received invalid webhook response: {e}"))?,
            )
        }
        _ => None,
    };
    Ok(WebhookOutcome {
        allowed: resp["allowed"].as_bool().unwrap_or(false),
        result: resp["status"].clone(),
        patch,
        warnings: resp["warnings"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|w| w.as_str().map(str::to_string))
            .collect(),
    })
}
