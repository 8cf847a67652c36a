//! An in-process HTTPS admission webhook: a self-signed CA and a serving certificate for one
//! Service name, and an HTTP/1.1 server that hands each AdmissionReview to a function.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use http_body_util::{BodyExt as _, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use super::MeshError;

/// What answers an AdmissionReview: the review in, the AdmissionReview to send back out.
pub type Handler = Arc<dyn Fn(&Value) -> Value + Send + Sync>;

/// A webhook server running on a loopback port until dropped.
pub struct WebhookServer {
    /// Where it listens.
    pub addr: SocketAddr,
    /// The CA (PEM) that signed its serving certificate.
    pub ca_pem: String,
    reviews: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl WebhookServer {
    /// Issues a CA and a certificate for `server_name`, and serves `handler` over HTTPS.
    pub async fn start(server_name: &str, handler: Handler) -> Result<WebhookServer, MeshError> {
        let (ca_pem, tls) = certificates(server_name)?;
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(MeshError::Listen)?;
        let addr = listener.local_addr().map_err(MeshError::Listen)?;
        let reviews = Arc::new(AtomicUsize::new(0));
        let task = tokio::spawn(accept_loop(listener, acceptor, handler, reviews.clone()));
        Ok(WebhookServer {
            addr,
            ca_pem,
            reviews,
            task,
        })
    }

    /// AdmissionReviews answered so far.
    pub fn reviews(&self) -> usize {
        self.reviews.load(Ordering::SeqCst)
    }
}

impl Drop for WebhookServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A CA (its PEM) and a server configuration presenting a certificate it signed for `name`.
/// rcgen's default validity (1975 to 4096) holds at any virtual time a scenario reaches.
fn certificates(name: &str) -> Result<(String, rustls::ServerConfig), MeshError> {
    let issue = |e: rcgen::Error| MeshError::Certificate(e.to_string());
    let ca_key = KeyPair::generate().map_err(issue)?;
    let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(issue)?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "mesh sidecar injector CA");
    let ca_cert = ca.self_signed(&ca_key).map_err(issue)?;
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().map_err(issue)?;
    let leaf = CertificateParams::new(vec![name.to_string()])
        .map_err(issue)?
        .signed_by(&key, &issuer)
        .map_err(issue)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| MeshError::Certificate(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(leaf.der().to_vec())],
            PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        )
        .map_err(|e| MeshError::Certificate(e.to_string()))?;
    Ok((ca_cert.pem(), tls))
}

async fn accept_loop(
    listener: TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    handler: Handler,
    reviews: Arc<AtomicUsize>,
) {
    while let Ok((tcp, _)) = listener.accept().await {
        let (acceptor, handler, reviews) = (acceptor.clone(), handler.clone(), reviews.clone());
        tokio::spawn(async move {
            let Ok(tls) = acceptor.accept(tcp).await else {
                return;
            };
            let service = hyper::service::service_fn(move |request| {
                let (handler, reviews) = (handler.clone(), reviews.clone());
                async move {
                    Ok::<_, std::convert::Infallible>(answer(request, &handler, &reviews).await)
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tls), service)
                .await;
        });
    }
}

async fn answer(
    request: Request<Incoming>,
    handler: &Handler,
    reviews: &AtomicUsize,
) -> Response<Full<Bytes>> {
    let reply = |status: StatusCode, body: String| {
        let mut response = Response::new(Full::new(Bytes::from(body)));
        *response.status_mut() = status;
        response
    };
    let body = match request.into_body().collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) => return reply(StatusCode::BAD_REQUEST, format!("reading the body: {e}")),
    };
    let review: Value = match serde_json::from_slice(&body) {
        Ok(review) => review,
        Err(e) => {
            return reply(
                StatusCode::BAD_REQUEST,
                format!("not an AdmissionReview: {e}"),
            );
        }
    };
    reviews.fetch_add(1, Ordering::SeqCst);
    let mut response = reply(StatusCode::OK, handler(&review).to_string());
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    response
}
