//! The HTTPS server itself: TLS versions, HTTP/1.1 and h2, keep-alive, graceful shutdown.

mod webhook_support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::{TokioExecutor, TokioIo};
use openlit_operator::inject::Policy;
use openlit_operator::webhook::{PolicySource, serve_tls};
use rustls::pki_types::ServerName;
use tokio::sync::oneshot;
use webhook_support::cluster::eventually;
use webhook_support::*;

struct Server {
    addr: std::net::SocketAddr,
    ca: String,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

async fn start(source: Arc<dyn PolicySource>) -> Server {
    let harness = harness(source);
    let now = openlit_operator::clock::Clock::now(harness.state.clock.as_ref());
    let (loaded, ca, ..) = certificate_at(now, Duration::from_secs(3600), &["localhost".into()]);
    harness.state.certificate.install(loaded);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(serve_tls(listener, harness.state, async move {
        let _ = stopped.await;
    }));
    Server {
        addr,
        ca,
        stop,
        task,
    }
}

async fn tls(
    server: &Server,
    versions: &[&'static rustls::SupportedProtocolVersion],
    alpn: &[u8],
) -> Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>, String> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in openlit_operator::tls::certificates(&server.ca).unwrap() {
        roots.add(cert).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![alpn.to_vec()];
    let tcp = tokio::net::TcpStream::connect(server.addr)
        .await
        .map_err(|e| e.to_string())?;
    tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .map_err(|e| e.to_string())
}

fn request() -> http::Request<Full<Bytes>> {
    let body = serde_json::to_vec(&review(chat_pod(), "shop", "CREATE", false)).unwrap();
    http::Request::post("https://localhost/mutate")
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .unwrap()
}

#[tokio::test]
async fn serves_http1_with_keep_alive_and_h2_over_tls_12_and_13() {
    let server = start(chat_source()).await;
    for version in [&rustls::version::TLS12, &rustls::version::TLS13] {
        let stream = tls(&server, &[version], b"http/1.1").await.unwrap();
        assert_eq!(stream.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        tokio::spawn(conn);
        for _ in 0..3 {
            // Three requests on one kept-alive connection.
            sender.ready().await.unwrap();
            let response = sender.send_request(request()).await.unwrap();
            assert_eq!(response.status(), 200);
            let body = response.into_body().collect().await.unwrap().to_bytes();
            assert!(decode(&body).1.is_some());
        }
    }
    let stream = tls(&server, &[&rustls::version::TLS13], b"h2")
        .await
        .unwrap();
    assert_eq!(stream.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(conn);
    let response = sender.send_request(request()).await.unwrap();
    assert_eq!(response.status(), 200);
    server.stop.send(()).unwrap();
    server.task.await.unwrap().unwrap();
}

/// A source that holds the first admission until released.
struct Gate {
    entered: Mutex<Option<oneshot::Sender<()>>>,
    release: Mutex<Option<std::sync::mpsc::Receiver<()>>>,
}

impl PolicySource for Gate {
    fn candidates(&self, _: &str, _: &str) -> Vec<Arc<Policy>> {
        if let Some(entered) = self.entered.lock().unwrap().take() {
            let _ = entered.send(());
            if let Some(release) = self.release.lock().unwrap().take() {
                let _ = release.recv_timeout(Duration::from_secs(10));
            }
        }
        vec![chat_policy()]
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_finishes_the_request_in_flight_and_stops_accepting() {
    let (entered_tx, entered) = oneshot::channel();
    let (release, release_rx) = std::sync::mpsc::channel();
    let gate = Arc::new(Gate {
        entered: Mutex::new(Some(entered_tx)),
        release: Mutex::new(Some(release_rx)),
    });
    let server = start(gate).await;
    let stream = tls(&server, &[&rustls::version::TLS13], b"http/1.1")
        .await
        .unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let in_flight = tokio::spawn(async move { sender.send_request(request()).await });
    entered.await.unwrap();

    server.stop.send(()).unwrap();
    // New connections are refused once the listener is closed.
    eventually("the listener to close", Duration::from_secs(10), || async {
        tokio::net::TcpStream::connect(server.addr).await.is_err()
    })
    .await;
    assert!(
        !server.task.is_finished(),
        "waits for the request in flight"
    );

    release.send(()).unwrap();
    let response = in_flight.await.unwrap().unwrap();
    assert_eq!(response.status(), 200);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert!(decode(&body).1.is_some());
    tokio::time::timeout(Duration::from_secs(10), server.task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn without_a_certificate_handshakes_fail_and_the_server_keeps_running() {
    let mut harness = harness(chat_source());
    harness.state.certificate = openlit_operator::tls::ServingCertificate::new();
    let certificate = harness.state.certificate.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(serve_tls(listener, harness.state, async move {
        let _ = stopped.await;
    }));
    let now = openlit_operator::clock::Clock::now(&harness.clock);
    let (loaded, ca, ..) = certificate_at(now, Duration::from_secs(3600), &["localhost".into()]);
    let server = Server {
        addr,
        ca,
        stop,
        task,
    };
    assert!(
        tls(&server, &[&rustls::version::TLS13], b"http/1.1")
            .await
            .is_err()
    );
    // Once a certificate is installed the next handshake succeeds, without a restart.
    certificate.install(loaded);
    assert!(
        tls(&server, &[&rustls::version::TLS13], b"http/1.1")
            .await
            .is_ok()
    );
    server.stop.send(()).unwrap();
    server.task.await.unwrap().unwrap();
}
