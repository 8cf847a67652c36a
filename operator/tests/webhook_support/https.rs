//! The webhook's HTTPS server on a loopback port, and clients that speak to it as the API server
//! (or a misbehaving client) would.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use openlit_operator::webhook::{PolicySource, WebhookSettings, serve_tls};
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio_rustls::client::TlsStream;

use super::{certificate_at, harness};

/// A running server.
pub struct Server {
    pub addr: SocketAddr,
    pub ca: String,
    pub metrics: Arc<openlit_operator::metrics::Metrics>,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Server {
    /// Stops the server and waits (bounded) for it to return.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::timeout(Duration::from_secs(30), &mut self.task)
            .await
            .expect("the server stops")
            .unwrap()
            .unwrap();
    }
}

/// Serves `source` with `settings` (the injection settings of the test harness) on 127.0.0.1.
pub async fn start(source: Arc<dyn PolicySource>, settings: WebhookSettings) -> Server {
    let mut harness = harness(source);
    let now = openlit_operator::clock::Clock::now(harness.state.clock.as_ref());
    let (loaded, ca, ..) = certificate_at(now, Duration::from_secs(3600), &["localhost".into()]);
    harness.state.certificate.install(loaded);
    harness.state.settings = Arc::new(WebhookSettings {
        inject: harness.state.settings.inject.clone(),
        ..settings
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let metrics = harness.metrics.clone();
    let task = tokio::spawn(serve_tls(listener, harness.state, async move {
        let _ = stopped.await;
    }));
    Server {
        addr,
        ca,
        metrics,
        stop: Some(stop),
        task,
    }
}

/// A TLS 1.3 connection offering `alpn`.
pub async fn connect(server: &Server, alpn: &[u8]) -> Result<TlsStream<TcpStream>, String> {
    let tcp = TcpStream::connect(server.addr)
        .await
        .map_err(|e| e.to_string())?;
    handshake(server, tcp, alpn).await
}

/// Completes a TLS handshake on an open TCP connection.
pub async fn handshake(
    server: &Server,
    tcp: TcpStream,
    alpn: &[u8],
) -> Result<TlsStream<TcpStream>, String> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in openlit_operator::tls::certificates(&server.ca).unwrap() {
        roots.add(cert).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![alpn.to_vec()];
    tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .map_err(|e| e.to_string())
}

/// Sends one request on a new HTTP/1.1 connection; returns the status and body.
pub async fn request(
    server: &Server,
    method: &str,
    path: &str,
    body: Vec<u8>,
) -> Result<(u16, Vec<u8>), String> {
    let stream = connect(server, b"http/1.1").await?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(connection);
    let request = http::Request::builder()
        .method(method)
        .uri(format!("https://localhost{path}"))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .unwrap();
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes()
        .to_vec();
    Ok((status, body))
}

/// Waits (bounded by `limit`) until the server closes `stream`: a read returning end of file or
/// an error. Anything the server sends first (a response, a TLS alert) is read and skipped.
/// `false` when the stream was still open at the limit.
pub async fn closed_by_server<S>(stream: &mut S, limit: Duration) -> bool
where
    S: tokio::io::AsyncRead + Unpin,
{
    use tokio::io::AsyncReadExt;
    let deadline = tokio::time::Instant::now() + limit;
    let mut buffer = [0u8; 4096];
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buffer)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
        }
    }
}
