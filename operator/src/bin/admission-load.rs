//! `admission-load`: sends AdmissionReviews for realistic pods to a webhook over HTTPS with
//! keep-alive, at a fixed concurrency (as fast as possible) or a fixed rate, and prints the
//! throughput, latency percentiles and error count. Only loopback targets are accepted.
//!
//! ```text
//! admission-load serve --listen 127.0.0.1:9443 --cert-dir /tmp/hook   # a target without a cluster
//! admission-load run --url https://localhost:9443/mutate --ca-file /tmp/hook/ca.crt \
//!     --concurrency 32 --requests 50000
//! admission-load run --url https://localhost:9443/mutate --ca-file /tmp/hook/ca.crt --rate 1000 --duration 20
//! ```
//!
//! With `--rate`, latency is measured from the moment each request was due, so a stalled server
//! is not hidden by the client waiting for it.
#![forbid(unsafe_code)]

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use clap::{Parser, Subcommand};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use serde_json::{Value, json};
use tokio::time::Instant;

/// Load generator for the admission webhook.
#[derive(Parser)]
#[command(name = "admission-load", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Send AdmissionReviews and report throughput and latency.
    Run(RunArgs),
    /// Serve the webhook (with the example AutoInstrumentation and a self-issued certificate
    /// for `localhost`) as a target; writes `ca.crt` into `--cert-dir`.
    Serve {
        /// Loopback address to listen on.
        #[arg(long, default_value = "127.0.0.1:9443")]
        listen: SocketAddr,
        /// Where to write `ca.crt`.
        #[arg(long)]
        cert_dir: PathBuf,
        /// Stop after this many seconds (0: until interrupted).
        #[arg(long, default_value_t = 0)]
        seconds: u64,
    },
}

#[derive(clap::Args, Clone)]
struct RunArgs {
    /// The webhook URL (loopback host only).
    #[arg(long, default_value = "https://localhost:9443/mutate")]
    url: String,
    /// PEM file of the CA that signed the webhook's certificate.
    #[arg(long)]
    ca_file: PathBuf,
    /// TLS server name to verify (default: the URL's host).
    #[arg(long)]
    server_name: Option<String>,
    /// Connections, each sending one request at a time with keep-alive.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Requests per second in total (0: as fast as the connections allow).
    #[arg(long, default_value_t = 0)]
    rate: u64,
    /// Stop after this many requests.
    #[arg(long, default_value_t = 20_000)]
    requests: u64,
    /// Stop after this many seconds at most.
    #[arg(long, default_value_t = 60)]
    duration: u64,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => return fail(format!("cannot start the runtime: {e}")),
    };
    let result = match cli.command {
        Command::Run(args) => runtime.block_on(run(args)),
        Command::Serve {
            listen,
            cert_dir,
            seconds,
        } => runtime.block_on(serve(listen, cert_dir, seconds)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => fail(message),
    }
}

fn fail(message: String) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(2)
}

struct Target {
    addr: SocketAddr,
    server_name: ServerName<'static>,
    authority: String,
    path: String,
    tls: Arc<rustls::ClientConfig>,
}

fn target(args: &RunArgs) -> Result<Target, String> {
    let uri: http::Uri = args.url.parse().map_err(|e| format!("--url: {e}"))?;
    if uri.scheme_str() != Some("https") {
        return Err("--url must be https".into());
    }
    let host = uri
        .host()
        .ok_or("--url has no host")?
        .trim_matches(['[', ']']);
    let port = uri.port_u16().unwrap_or(443);
    let addr = (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {host}: {e}"))?
        .find(|a| a.ip().is_loopback())
        .ok_or_else(|| {
            format!("{host} is not a loopback address; only local targets are allowed")
        })?;
    let name = args.server_name.clone().unwrap_or_else(|| host.to_string());
    let server_name = match name.parse::<IpAddr>() {
        Ok(ip) => ServerName::IpAddress(ip.into()),
        Err(_) => ServerName::try_from(name).map_err(|e| format!("server name: {e}"))?,
    };
    let pem = std::fs::read_to_string(&args.ca_file)
        .map_err(|e| format!("{}: {e}", args.ca_file.display()))?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in openlit_operator::tls::certificates(&pem).map_err(|e| e.to_string())? {
        roots.add(cert).map_err(|e| e.to_string())?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Target {
        addr,
        server_name,
        authority: uri.authority().map(ToString::to_string).unwrap_or_default(),
        path: uri
            .path_and_query()
            .map(ToString::to_string)
            .unwrap_or("/mutate".into()),
        tls: Arc::new(tls),
    })
}

/// AdmissionReviews for a few realistic pods: a Deployment's Python pod with a mesh sidecar, a
/// larger pod with many variables, and a pod no resource selects.
fn bodies() -> Vec<Bytes> {
    let mut env: Vec<Value> = (0..40)
        .map(|i| json!({"name": format!("SETTING_{i}"), "value": format!("value-{i}")}))
        .collect();
    env.push(json!({"name": "OTEL_RESOURCE_ATTRIBUTES", "value": "team=search"}));
    let chat = |name: &str, app: &str, env: &[Value]| {
        json!({
            "metadata": {
                "generateName": format!("{name}-7d9f8b6c5d-"),
                "namespace": "shop",
                "labels": {"app": app, "pod-template-hash": "7d9f8b6c5d"},
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": format!("{name}-7d9f8b6c5d"), "uid": "5b1e0c1e-0000-4000-8000-000000000001", "controller": true}],
            },
            "spec": {
                "serviceAccountName": "default",
                "containers": [
                    {"name": "app", "image": "python:3.12-slim", "command": ["python", "-m", name], "env": env,
                     "ports": [{"containerPort": 8080}],
                     "resources": {"requests": {"cpu": "250m", "memory": "256Mi"}},
                     "volumeMounts": [{"name": "kube-api-access-7xq2l", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount", "readOnly": true}],
                     "imagePullPolicy": "IfNotPresent", "terminationMessagePath": "/dev/termination-log"},
                    {"name": "istio-proxy", "image": "docker.io/istio/proxyv2:1.22.0", "args": ["proxy", "sidecar"]},
                ],
                "volumes": [{"name": "kube-api-access-7xq2l", "projected": {"sources": [{"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}}]}}],
                "tolerations": [{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}],
            }
        })
    };
    let pods = [
        chat("chat", "chat", &env[40..]),
        chat("assistant", "chat", &env),
        chat("billing", "billing", &env[..5]),
    ];
    pods.iter()
        .enumerate()
        .map(|(i, pod)| {
            let review = json!({
                "apiVersion": "admission.k8s.io/v1",
                "kind": "AdmissionReview",
                "request": {
                    "uid": format!("00000000-0000-4000-8000-{i:012}"),
                    "kind": {"group": "", "version": "v1", "kind": "Pod"},
                    "resource": {"group": "", "version": "v1", "resource": "pods"},
                    "namespace": "shop",
                    "operation": "CREATE",
                    "userInfo": {"username": "system:serviceaccount:kube-system:replicaset-controller"},
                    "object": pod,
                    "dryRun": false,
                    "options": {"apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions"},
                }
            });
            Bytes::from(serde_json::to_vec(&review).unwrap_or_default())
        })
        .collect()
}

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

async fn connect(target: &Target) -> Result<Sender, String> {
    let tcp = tokio::net::TcpStream::connect(target.addr)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let _ = tcp.set_nodelay(true);
    let tls = tokio_rustls::TlsConnector::from(target.tls.clone())
        .connect(target.server_name.clone(), tcp)
        .await
        .map_err(|e| format!("TLS: {e}"))?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .map_err(|e| format!("HTTP: {e}"))?;
    tokio::spawn(connection);
    Ok(sender)
}

async fn send(target: &Target, sender: &mut Sender, body: Bytes) -> Result<(), String> {
    let request = http::Request::post(&target.path)
        .header("host", &target.authority)
        .header("content-type", "application/json")
        .body(Full::new(body))
        .map_err(|e| e.to_string())?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status();
    let bytes = response
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    if status != 200 {
        return Err(format!("HTTP {status}"));
    }
    let review: Value = serde_json::from_slice(&bytes).map_err(|e| e.to_string())?;
    if review["response"]["allowed"] != true {
        return Err("not allowed".into());
    }
    Ok(())
}

struct Shared {
    target: Target,
    bodies: Vec<Bytes>,
    next: AtomicU64,
    limit: u64,
    start: Instant,
    deadline: Instant,
    interval: Option<Duration>,
}

async fn worker(shared: Arc<Shared>) -> (Vec<u32>, u64, Option<String>) {
    let mut latencies = Vec::new();
    let mut errors = 0u64;
    let mut last_error = None;
    let mut sender: Option<Sender> = None;
    loop {
        let k = shared.next.fetch_add(1, Ordering::Relaxed);
        if k >= shared.limit {
            break;
        }
        // Latency counts from when the request was due when this connection was still busy
        // then (a slow server delays the schedule); when the connection was idle, it counts from
        // the actual send, so the timer's millisecond granularity is not charged to the server.
        let due = match shared.interval {
            Some(interval) => {
                let due = shared.start + interval.mul_f64(k as f64);
                if due >= shared.deadline {
                    break;
                }
                if Instant::now() < due {
                    tokio::time::sleep_until(due).await;
                    Instant::now()
                } else {
                    due
                }
            }
            None => Instant::now(),
        };
        if due >= shared.deadline {
            break;
        }
        let body = shared.bodies[(k % shared.bodies.len() as u64) as usize].clone();
        let outcome = async {
            if sender.as_ref().is_none_or(|s| s.is_closed()) {
                sender = Some(connect(&shared.target).await?);
            }
            let s = sender.as_mut().ok_or("no connection")?;
            s.ready().await.map_err(|e| e.to_string())?;
            send(&shared.target, s, body).await
        }
        .await;
        match outcome {
            Ok(()) => latencies.push(u32::try_from(due.elapsed().as_micros()).unwrap_or(u32::MAX)),
            Err(e) => {
                errors += 1;
                last_error = Some(e);
                sender = None;
            }
        }
    }
    (latencies, errors, last_error)
}

async fn run(args: RunArgs) -> Result<(), String> {
    let target = target(&args)?;
    let start = Instant::now();
    let shared = Arc::new(Shared {
        target,
        bodies: bodies(),
        next: AtomicU64::new(0),
        limit: args.requests,
        start,
        deadline: start + Duration::from_secs(args.duration),
        interval: (args.rate > 0)
            .then(|| Duration::from_secs(1) / u32::try_from(args.rate).unwrap_or(u32::MAX)),
    });
    let workers: Vec<_> = (0..args.concurrency.max(1))
        .map(|_| tokio::spawn(worker(shared.clone())))
        .collect();
    let mut latencies = Vec::new();
    let mut errors = 0;
    let mut last_error = None;
    for w in workers {
        let (l, e, last) = w.await.map_err(|e| e.to_string())?;
        latencies.extend(l);
        errors += e;
        last_error = last.or(last_error);
    }
    let elapsed = start.elapsed().as_secs_f64();
    latencies.sort_unstable();
    let pct = |p: f64| -> f64 {
        if latencies.is_empty() {
            return 0.0;
        }
        let i = ((latencies.len() as f64 * p).ceil() as usize).clamp(1, latencies.len()) - 1;
        f64::from(latencies[i]) / 1000.0
    };
    let mode = if args.rate > 0 {
        format!("rate {}/s", args.rate)
    } else {
        "saturation".into()
    };
    println!(
        "{mode}, {} connections: {} ok, {errors} errors in {elapsed:.2} s = {:.0} admissions/s",
        args.concurrency,
        latencies.len(),
        latencies.len() as f64 / elapsed
    );
    println!(
        "latency ms: p50 {:.3}  p90 {:.3}  p99 {:.3}  max {:.3}",
        pct(0.50),
        pct(0.90),
        pct(0.99),
        pct(1.0)
    );
    if let Some(e) = last_error {
        println!("last error: {e}");
    }
    Ok(())
}

async fn serve(listen: SocketAddr, cert_dir: PathBuf, seconds: u64) -> Result<(), String> {
    use openlit_operator::tls::{
        LoadedCertificate, ServingCertificate, Validity, new_ca, new_leaf,
    };
    if !listen.ip().is_loopback() {
        return Err("--listen must be a loopback address".into());
    }
    let clock: openlit_operator::clock::SharedClock =
        Arc::new(openlit_operator::clock::SystemClock);
    let validity = Validity {
        now: clock.now(),
        backdate: Duration::from_secs(300),
        lifetime: Duration::from_secs(24 * 3600),
        not_after_cap: None,
    };
    let ca = new_ca("admission-load CA", validity).map_err(|e| e.to_string())?;
    let leaf = new_leaf(&ca, &["localhost".to_string()], validity).map_err(|e| e.to_string())?;
    std::fs::create_dir_all(&cert_dir).map_err(|e| e.to_string())?;
    std::fs::write(cert_dir.join("ca.crt"), &ca.cert_pem).map_err(|e| e.to_string())?;
    let certificate = ServingCertificate::new();
    certificate.install(
        LoadedCertificate::from_pem(&leaf.cert_pem, &leaf.key_pem, &ca.cert_pem)
            .map_err(|e| e.to_string())?,
    );
    let resource: openlit_operator::crd::AutoInstrumentation =
        serde_saphyr::from_str(include_str!("../../examples/autoinstrumentation.yaml"))
            .map_err(|e| e.to_string())?;
    let policy = openlit_operator::inject::Policy::compile(&resource, "ghcr.io/openlit");
    let state = openlit_operator::webhook::WebhookState {
        source: Arc::new(openlit_operator::webhook::StaticPolicies(vec![Arc::new(
            policy,
        )])),
        certificate,
        clock,
        metrics: Arc::new(openlit_operator::metrics::Metrics::new()),
        settings: Arc::new(openlit_operator::webhook::WebhookSettings::default()),
    };
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| format!("{listen}: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    println!(
        "serving https://localhost:{}/mutate (CA in {})",
        addr.port(),
        cert_dir.join("ca.crt").display()
    );
    let stop = async move {
        if seconds == 0 {
            let _ = tokio::signal::ctrl_c().await;
        } else {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                () = tokio::time::sleep(Duration::from_secs(seconds)) => {}
            }
        }
    };
    openlit_operator::webhook::serve_tls(listener, state, stop)
        .await
        .map_err(|e| e.to_string())
}
