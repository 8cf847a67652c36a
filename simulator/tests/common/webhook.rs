//! A small HTTPS admission webhook for tests.
#![allow(dead_code)]

use base64::Engine;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A CA and a serving certificate for `hook.default.svc`.
pub struct Certs {
    pub ca_pem: String,
    pub cert_der: Vec<u8>,
    pub key_der: Vec<u8>,
}

pub fn certs(san: &str) -> Certs {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "test-webhook-ca");
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec![san.to_string()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    Certs {
        ca_pem: ca_cert.pem(),
        cert_der: leaf.der().to_vec(),
        key_der: key.serialize_der(),
    }
}

/// How the webhook answers.
#[derive(Clone, Default)]
pub struct Behaviour {
    pub delay: Duration,
    pub patch: Option<Value>,
    pub warnings: Vec<String>,
    pub deny: Option<String>,
}

/// A running webhook.
pub struct Webhook {
    pub addr: SocketAddr,
    pub ca_pem: String,
    pub reviews: Arc<Mutex<Vec<Value>>>,
    pub behaviour: Arc<Mutex<Behaviour>>,
}

impl Webhook {
    pub fn ca_bundle(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(&self.ca_pem)
    }

    pub fn calls(&self) -> usize {
        self.reviews.lock().unwrap().len()
    }
}

pub async fn start(san: &str, behaviour: Behaviour) -> Webhook {
    let c = certs(san);
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![rustls::pki_types::CertificateDer::from(c.cert_der.clone())],
            rustls::pki_types::PrivateKeyDer::Pkcs8(c.key_der.clone().into()),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(cfg));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let reviews = Arc::new(Mutex::new(vec![]));
    let behaviour = Arc::new(Mutex::new(behaviour));
    let (r2, b2) = (reviews.clone(), behaviour.clone());
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let (acceptor, reviews, behaviour) = (acceptor.clone(), r2.clone(), b2.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let svc = hyper::service::service_fn(
                    move |req: hyper::Request<hyper::body::Incoming>| {
                        let (reviews, behaviour) = (reviews.clone(), behaviour.clone());
                        async move {
                            let body = req.into_body().collect().await.unwrap().to_bytes();
                            let review: Value = serde_json::from_slice(&body).unwrap();
                            reviews.lock().unwrap().push(review.clone());
                            let b = behaviour.lock().unwrap().clone();
                            tokio::time::sleep(b.delay).await;
                            let mut resp = json!({"uid": review["request"]["uid"], "allowed": b.deny.is_none(), "warnings": b.warnings});
                            if let Some(msg) = &b.deny {
                                resp["status"] =
                                    json!({"code": 403, "message": msg, "reason": "Forbidden"});
                            }
                            if let Some(p) = &b.patch {
                                resp["patchType"] = json!("JSONPatch");
                                resp["patch"] = json!(
                                    base64::engine::general_purpose::STANDARD.encode(p.to_string())
                                );
                            }
                            let out = json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": resp});
                            Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(
                                Bytes::from(out.to_string()),
                            )))
                        }
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), svc)
                    .await;
            });
        }
    });
    Webhook {
        addr,
        ca_pem: c.ca_pem,
        reviews,
        behaviour,
    }
}

/// A MutatingWebhookConfiguration for pods CREATE calling service `default/hook`.
pub fn configuration(name: &str, ca_bundle: &str, failure_policy: &str, timeout: u32) -> Value {
    json!({
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingWebhookConfiguration",
        "metadata": {"name": name},
        "webhooks": [{
            "name": format!("{name}.example.com"),
            "admissionReviewVersions": ["v1"], "sideEffects": "None",
            "failurePolicy": failure_policy, "timeoutSeconds": timeout,
            "clientConfig": {"caBundle": ca_bundle, "service": {"namespace": "default", "name": "hook", "path": "/mutate", "port": 443}},
            "rules": [{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"]}],
            "namespaceSelector": {"matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": ["kube-system"]}]}
        }]
    })
}
