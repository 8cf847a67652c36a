//! The HTTPS server under hostile clients and hostile pods: huge pods are answered promptly,
//! probes answer while an admission is being decided, idle and slow connections neither delay an
//! admission nor stay open, and every timeout closes what it should.

mod webhook_support;

use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::{TokioExecutor, TokioIo};
use openlit_operator::webhook::WebhookSettings;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use webhook_support::gate::Gate;
use webhook_support::https::{self, Server, closed_by_server};
use webhook_support::*;

/// Generous bound for anything that should take milliseconds: a failure, not a benchmark.
const ANSWERED_WITHIN: Duration = Duration::from_secs(30);

fn admission_body(pod: Value) -> Vec<u8> {
    serde_json::to_vec(&review(pod, "shop", "CREATE", false)).unwrap()
}

/// Posts an admission for `pod` on a new connection and decodes the answer.
async fn admit(server: &Server, pod: Value) -> (Value, Option<json_patch::Patch>) {
    let (status, body) = tokio::time::timeout(
        ANSWERED_WITHIN,
        https::request(server, "POST", "/mutate", admission_body(pod)),
    )
    .await
    .expect("the admission is answered in time")
    .expect("the admission is answered");
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let (response, patch) = decode(&body);
    assert_eq!(response["allowed"], true);
    (response, patch)
}

/// The pod after the patch carries only the skip annotation, whose reason starts with `reason`.
fn assert_skipped(pod: &Value, patch: Option<json_patch::Patch>, reason: &str) {
    let mut after = pod.clone();
    json_patch::patch(&mut after, &patch.expect("a patch")).unwrap();
    assert_eq!(after["spec"], pod["spec"], "the pod is not instrumented");
    let skipped = after["metadata"]["annotations"]["openlit.io/instrumentation-skipped"]
        .as_str()
        .unwrap_or_default();
    assert!(skipped.starts_with(reason), "{skipped}");
}

fn long_timeouts() -> WebhookSettings {
    WebhookSettings {
        idle_timeout: Duration::from_secs(120),
        header_read_timeout: Duration::from_secs(120),
        handshake_timeout: Duration::from_secs(120),
        ..WebhookSettings::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_pods_are_answered_promptly_and_left_unchanged_with_the_reason() {
    let server = https::start(chat_source(), WebhookSettings::default()).await;

    // Over a mebibyte of distinct keys: a merge comparing every pair with every other would
    // take minutes.
    let value: String = (0..120_000).map(|i| format!("key{i}=v,")).collect();
    assert!(value.len() > 1024 * 1024);
    let mut attributes = chat_pod();
    attributes["spec"]["containers"][0]["env"] = json!([
        {"name": "OTEL_RESOURCE_ATTRIBUTES", "value": value}
    ]);
    let (_, patch) = admit(&server, attributes.clone()).await;
    assert_skipped(
        &attributes,
        patch,
        &format!(
            "container app sets OTEL_RESOURCE_ATTRIBUTES to {} bytes",
            value.len()
        ),
    );

    let mut containers = chat_pod();
    containers["spec"]["containers"] = Value::Array(
        (0..5000)
            .map(|i| json!({"name": format!("c{i}"), "image": "python:3.12-slim"}))
            .collect(),
    );
    let (_, patch) = admit(&server, containers.clone()).await;
    assert_skipped(&containers, patch, "the pod has 5000 containers");

    // The server is unharmed: a normal pod is still instrumented.
    let (_, patch) = admit(&server, chat_pod()).await;
    assert!(patch.is_some());
    server.stop().await;
}

// One async worker: were the admission decided on it, nothing else could be served meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn probes_answer_while_an_admission_is_being_decided() {
    let (gate, entered, release) = Gate::new();
    // The held decision stands for a long one, which only a review larger than the inline limit
    // can be (smaller ones are decided where they were read): send every review to the workers.
    let settings = WebhookSettings {
        inline_review_bytes: 0,
        ..WebhookSettings::default()
    };
    let server = Arc::new(https::start(gate.clone(), settings).await);
    let in_flight = {
        let server = server.clone();
        tokio::spawn(async move {
            https::request(&server, "POST", "/mutate", admission_body(chat_pod())).await
        })
    };
    entered.await.unwrap();

    let healthz = tokio::time::timeout(
        Duration::from_secs(10),
        https::request(&server, "GET", "/healthz", Vec::new()),
    )
    .await;
    release.send(()).unwrap();
    let (status, body) = healthz
        .expect("/healthz answers while the admission is decided")
        .unwrap();
    assert_eq!((status, body.as_slice()), (200, b"ok\n".as_slice()));

    let (status, body) = tokio::time::timeout(ANSWERED_WITHIN, in_flight)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(status, 200);
    assert!(decode(&body).1.is_some(), "the held admission completes");
    assert!(
        gate.was_released(),
        "the probe was answered before the admission was released"
    );
    Arc::into_inner(server).unwrap().stop().await;
}

/// A client that sends a request header one byte at a time, a second apart, until the server
/// closes the connection; returns how many bytes it got to send (`None`: it sent them all).
async fn trickle_header(server: &Server) -> Option<usize> {
    let header = b"POST /mutate HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n";
    let mut stream = match https::connect(server, b"http/1.1").await {
        Ok(stream) => stream,
        Err(_) => return Some(0),
    };
    for (sent, byte) in header.iter().enumerate() {
        if stream.write_all(&[*byte]).await.is_err() || stream.flush().await.is_err() {
            return Some(sent);
        }
        // The pause between bytes doubles as the wait for the server to close.
        if closed_by_server(&mut stream, Duration::from_secs(1)).await {
            return Some(sent + 1);
        }
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_and_slow_connections_do_not_delay_an_admission_and_make_room() {
    // Timeouts far longer than the test: only the connection cap can make room.
    let server = Arc::new(
        https::start(
            chat_source(),
            WebhookSettings {
                max_connections: 64,
                ..long_timeouts()
            },
        )
        .await,
    );
    let slow = {
        let server = server.clone();
        tokio::spawn(async move { trickle_header(&server).await })
    };
    // 300 idle connections, oldest first: every other one completes its TLS handshake.
    let mut idle = Vec::new();
    for i in 0..300 {
        let tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
        let server = server.clone();
        idle.push(tokio::spawn(async move {
            if i % 2 == 0 {
                let mut tcp = tcp;
                return closed_by_server(&mut tcp, Duration::from_secs(60)).await;
            }
            match https::handshake(&server, tcp, b"http/1.1").await {
                Ok(mut stream) => closed_by_server(&mut stream, Duration::from_secs(60)).await,
                Err(_) => true,
            }
        }));
    }

    let (_, patch) = admit(&server, chat_pod()).await;
    assert!(
        patch.is_some(),
        "the admission is answered and instrumented"
    );

    // To make room the server closed the connections idle the longest.
    let mut idle = idle.into_iter();
    for (i, connection) in idle.by_ref().take(200).enumerate() {
        assert!(
            connection.await.unwrap(),
            "idle connection {i} was closed by the server"
        );
    }
    for connection in idle {
        connection.abort();
        let _ = connection.await;
    }
    let sent = slow.await.unwrap();
    assert!(sent.is_some(), "the trickling client was cut off");
    let metrics = server.metrics.encode();
    assert!(
        metrics.contains("openlit_operator_webhook_connections_closed_total{reason=\"evicted\"}"),
        "{metrics}"
    );
    Arc::into_inner(server).unwrap().stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_slow_and_stalled_connections_are_closed_after_their_timeouts() {
    let server = Arc::new(
        https::start(
            chat_source(),
            WebhookSettings {
                handshake_timeout: Duration::from_secs(1),
                header_read_timeout: Duration::from_secs(1),
                body_read_timeout: Duration::from_secs(1),
                idle_timeout: Duration::from_secs(2),
                ..WebhookSettings::default()
            },
        )
        .await,
    );
    let bound = Duration::from_secs(20);

    // A TCP connection that never starts TLS.
    let mut tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    // A TLS connection that never sends a request.
    let mut tls = https::connect(&server, b"http/1.1").await.unwrap();
    // An h2 connection that sent nothing.
    let mut h2_silent = https::connect(&server, b"h2").await.unwrap();

    // A client trickling its header is cut off long before it finishes.
    let slow = {
        let server = server.clone();
        tokio::spawn(async move { trickle_header(&server).await })
    };

    // A client that stops sending its body gets 408 and the connection is closed.
    let mut stalled = https::connect(&server, b"http/1.1").await.unwrap();
    stalled
        .write_all(b"POST /mutate HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{\"apiVersion\"")
        .await
        .unwrap();
    stalled.flush().await.unwrap();

    // Kept-alive HTTP/1.1 and h2 connections that answered a request, then went quiet.
    let body = admission_body(chat_pod());
    let request = || {
        http::Request::post("https://localhost/mutate")
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body.clone())))
            .unwrap()
    };
    let stream = https::connect(&server, b"http/1.1").await.unwrap();
    let (mut h1, h1_connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    let h1_connection = tokio::spawn(h1_connection);
    let response = h1.send_request(request()).await.unwrap();
    assert_eq!(response.status(), 200);
    response.into_body().collect().await.unwrap();
    let stream = https::connect(&server, b"h2").await.unwrap();
    let (mut h2, h2_connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .unwrap();
    let h2_connection = tokio::spawn(h2_connection);
    let response = h2.send_request(request()).await.unwrap();
    assert_eq!(response.status(), 200);
    response.into_body().collect().await.unwrap();

    assert!(closed_by_server(&mut tcp, bound).await, "no TLS handshake");
    assert!(closed_by_server(&mut tls, bound).await, "TLS, no request");
    assert!(
        closed_by_server(&mut h2_silent, bound).await,
        "h2, no request"
    );
    let sent = slow.await.unwrap();
    assert!(
        sent.is_some_and(|n| n < 30),
        "the trickling client was cut off early, after {sent:?} bytes"
    );

    let mut answer = Vec::new();
    let read = tokio::time::timeout(bound, async {
        use tokio::io::AsyncReadExt;
        let mut buffer = [0u8; 1024];
        loop {
            match stalled.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buffer[..n]),
            }
        }
    })
    .await;
    assert!(read.is_ok(), "the stalled body's connection was closed");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");

    tokio::time::timeout(bound, h1_connection)
        .await
        .expect("the idle HTTP/1.1 connection is closed")
        .unwrap()
        .ok();
    tokio::time::timeout(bound, h2_connection)
        .await
        .expect("the idle h2 connection is closed")
        .unwrap()
        .ok();

    // And the server still answers.
    let (_, patch) = admit(&server, chat_pod()).await;
    assert!(patch.is_some());
    Arc::into_inner(server).unwrap().stop().await;
}
