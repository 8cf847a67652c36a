//! Helpers for the `providers_*` tests: the Python tool chain (python3, a pinned uv installed from
//! PyPI into a cache), provider images laid out on disk exactly as their Dockerfiles build them,
//! loopback HTTP servers (a fake chat-completions API and an OTLP/HTTP receiver), a decoder of
//! OTLP trace requests, and the kubelet's resolution of an injected container's environment.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The uv release the Dockerfiles install (`build-tools.txt`, checked by `providers_contract`).
pub const UV_VERSION: &str = "0.13.9";
/// Providers with an image folder in `operator/providers`.
pub const PROVIDERS: [&str; 4] = ["base", "openlit", "openinference", "openllmetry"];

/// `operator/providers`.
pub fn providers_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("providers")
}

/// `operator/tests/providers_support`.
pub fn support_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/providers_support")
}

/// How to get the interpreter these tests need, said when it is missing.
pub const PYTHON_MISSING: &str = "python3 (CPython 3.11 or newer, with pip) is needed to exercise \
the provider images and was not found on PATH: install it (Debian/Ubuntu: \
apt-get install python3 python3-pip)";

/// The absolute path of the real `python3` interpreter (not a version-manager shim); panics with
/// [`PYTHON_MISSING`] when there is none, so a machine without Python fails these tests.
pub fn python() -> PathBuf {
    static PYTHON: OnceLock<Option<PathBuf>> = OnceLock::new();
    PYTHON
        .get_or_init(|| {
            let output = Command::new("python3")
                .args(["-c", "import sys; print(sys.executable)"])
                .stdin(Stdio::null())
                .output()
                .ok()?;
            let path = String::from_utf8(output.stdout).ok()?.trim().to_string();
            (output.status.success() && !path.is_empty()).then(|| PathBuf::from(path))
        })
        .clone()
        .unwrap_or_else(|| panic!("{PYTHON_MISSING}"))
}

/// `python3 -c "import sys; print('3.11')"`.
pub fn python_minor() -> String {
    let python = python();
    let output = Command::new(python)
        .args([
            "-c",
            "import sys; print(f'{sys.version_info[0]}.{sys.version_info[1]}')",
        ])
        .output()
        .expect("python3 runs");
    String::from_utf8(output.stdout).unwrap().trim().to_string()
}

/// Where downloads are kept between runs: `$XDG_CACHE_HOME` or `~/.cache`, else the target dir.
pub fn cache_dir() -> PathBuf {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")));
    base.join("openlit-operator-tests")
}

/// The pinned uv, installed from PyPI with pip into the cache on first use, from the hashed lock
/// the images install it from (`operator/providers/build-tools.txt`).
pub fn uv() -> PathBuf {
    static UV: OnceLock<PathBuf> = OnceLock::new();
    UV.get_or_init(|| {
        let home = cache_dir().join(format!("uv-{UV_VERSION}"));
        let binary = home.join("bin/uv");
        if binary.is_file() {
            return binary;
        }
        std::fs::create_dir_all(cache_dir()).unwrap();
        let staging = cache_dir().join(format!("uv-{UV_VERSION}.partial-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&staging);
        let output = Command::new(python())
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
            ])
            .arg("--require-hashes")
            .arg("--target")
            .arg(&staging)
            .arg("--requirement")
            .arg(providers_dir().join("build-tools.txt"))
            .stdin(Stdio::null())
            .output()
            .expect("pip runs");
        assert!(
            output.status.success(),
            "installing uv {UV_VERSION} from PyPI (operator/providers/build-tools.txt) with pip failed \
             (python3 needs pip: apt-get install python3-pip, or python3 -m ensurepip):\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        if std::fs::rename(&staging, &home).is_err() {
            // Another process installed it meanwhile.
            let _ = std::fs::remove_dir_all(&staging);
        }
        assert!(
            binary.is_file(),
            "uv was installed without {}",
            binary.display()
        );
        binary
    })
    .clone()
}

/// Runs `uv pip install` with these arguments for the test's python3; panics with uv's output.
pub fn uv_pip_install(arguments: &[&std::ffi::OsStr]) {
    let output = Command::new(uv())
        .args(["pip", "install", "--quiet", "--python"])
        .arg(python())
        .args(arguments)
        .stdin(Stdio::null())
        .output()
        .expect("uv runs");
    assert!(
        output.status.success(),
        "uv pip install {arguments:?} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A provider image's files laid out on disk: `<root>/opt/instrumentation/<provider>/...`.
#[derive(Clone, Debug)]
pub struct ProviderImage {
    /// The provider.
    pub provider: String,
    /// Stands for the image's `/opt/instrumentation/<provider>` (INSTRUMENTATION_SOURCE).
    pub source: PathBuf,
}

/// Builds (once per test run) the layout a provider's Dockerfile produces: its `requirements.txt`
/// installed with the Dockerfile's uv command (`--no-deps --compile-bytecode --target`), then
/// `sitecustomize.py` and `_instrumentation_bootstrap.py` next to the packages.
pub fn provider_image(provider: &str) -> ProviderImage {
    static IMAGES: OnceLock<Mutex<BTreeMap<String, Arc<OnceLock<ProviderImage>>>>> =
        OnceLock::new();
    let cell = IMAGES
        .get_or_init(Default::default)
        .lock()
        .unwrap()
        .entry(provider.to_string())
        .or_default()
        .clone();
    cell.get_or_init(|| build_provider_image(provider)).clone()
}

fn build_provider_image(provider: &str) -> ProviderImage {
    let folder = providers_dir().join(provider);
    let root = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("provider-images")
        .join(provider);
    let _ = std::fs::remove_dir_all(&root);
    let source = root.join("opt/instrumentation").join(provider);
    let packages = source.join("site-packages");
    std::fs::create_dir_all(&source).unwrap();
    let requirements = source.join("requirements.txt");
    std::fs::copy(folder.join("requirements.txt"), &requirements).unwrap();
    let started = Instant::now();
    uv_pip_install(&[
        "--no-deps".as_ref(),
        "--require-hashes".as_ref(),
        "--compile-bytecode".as_ref(),
        "--target".as_ref(),
        packages.as_os_str(),
        "--requirement".as_ref(),
        requirements.as_os_str(),
    ]);
    let _ = std::fs::remove_dir_all(packages.join("bin"));
    let _ = std::fs::remove_file(packages.join(".lock"));
    std::fs::copy(
        providers_dir().join("base/_instrumentation_bootstrap.py"),
        source.join("_instrumentation_bootstrap.py"),
    )
    .unwrap();
    std::fs::copy(
        folder.join("sitecustomize.py"),
        source.join("sitecustomize.py"),
    )
    .unwrap();
    println!(
        "installed the {provider} lock into {} in {:.1} s",
        packages.display(),
        started.elapsed().as_secs_f64()
    );
    ProviderImage {
        provider: provider.to_string(),
        source,
    }
}

/// The example application's folder: `app.py`, and `deps/` with its pinned packages and its own
/// `sitecustomize.py`. Built once per test run.
pub fn application() -> PathBuf {
    static APP: OnceLock<PathBuf> = OnceLock::new();
    APP.get_or_init(|| {
        let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("provider-app");
        let _ = std::fs::remove_dir_all(&root);
        let deps = root.join("deps");
        std::fs::create_dir_all(&deps).unwrap();
        uv_pip_install(&[
            "--no-deps".as_ref(),
            "--target".as_ref(),
            deps.as_os_str(),
            "--requirement".as_ref(),
            support_dir().join("app-requirements.txt").as_os_str(),
        ]);
        std::fs::copy(support_dir().join("app.py"), root.join("app.py")).unwrap();
        std::fs::copy(
            support_dir().join("app_sitecustomize.py"),
            deps.join("sitecustomize.py"),
        )
        .unwrap();
        root
    })
    .clone()
}

/// A finished process.
#[derive(Debug)]
pub struct Outcome {
    /// Exit code (-1 when killed by a signal or the deadline).
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
    /// How long it ran.
    pub elapsed: Duration,
}

/// Runs a program with exactly `env` (plus PATH, HOME and LANG), killing it after `limit`.
pub fn run(
    program: &Path,
    args: &[String],
    env: &BTreeMap<String, String>,
    cwd: &Path,
    limit: Duration,
) -> Outcome {
    let started = Instant::now();
    let mut child = Command::new(program)
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", cwd)
        .env("LANG", "C.UTF-8")
        .envs(env)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()));
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    let err = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let code = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.code().unwrap_or(-1);
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            break -1;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Outcome {
        code,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
        elapsed: started.elapsed(),
    }
}

/// One HTTP request a test server received.
#[derive(Clone, Debug)]
pub struct Received {
    /// Method.
    pub method: String,
    /// Path.
    pub path: String,
    /// Headers, names lower-cased.
    pub headers: BTreeMap<String, String>,
    /// Body.
    pub body: Vec<u8>,
}

type Handler = dyn Fn(&Received) -> (u16, &'static str, Vec<u8>) + Send + Sync;

/// A loopback HTTP/1.1 server recording every request; tests wait on it with a deadline.
pub struct Server {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    requests: Arc<(Mutex<Vec<Received>>, Condvar)>,
}

impl Server {
    /// Starts a server answering every request with `handler`.
    pub fn start(
        handler: impl Fn(&Received) -> (u16, &'static str, Vec<u8>) + Send + Sync + 'static,
    ) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let requests: Arc<(Mutex<Vec<Received>>, Condvar)> = Arc::default();
        let handler: Arc<Handler> = Arc::new(handler);
        let shared = requests.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let shared = shared.clone();
                let handler = handler.clone();
                std::thread::spawn(move || serve(stream, &shared, handler.as_ref()));
            }
        });
        Server { url, requests }
    }

    /// A fake OpenAI chat-completions API answering every completion with "Hello from the fake LLM".
    pub fn fake_llm() -> Server {
        Server::start(|request| {
            if request.method == "POST" && request.path.ends_with("/chat/completions") {
                let body = serde_json::json!({
                    "id": "chatcmpl-test",
                    "object": "chat.completion",
                    "created": 1_700_000_000,
                    "model": "gpt-4o-mini",
                    "choices": [{"index": 0, "finish_reason": "stop",
                        "message": {"role": "assistant", "content": "Hello from the fake LLM"}}],
                    "usage": {"prompt_tokens": 9, "completion_tokens": 5, "total_tokens": 14}
                });
                (200, "application/json", body.to_string().into_bytes())
            } else {
                (
                    404,
                    "application/json",
                    br#"{"error":{"message":"not found"}}"#.to_vec(),
                )
            }
        })
    }

    /// An OTLP/HTTP receiver accepting `/v1/traces`, `/v1/metrics` and `/v1/logs`.
    pub fn otlp_receiver() -> Server {
        Server::start(|request| match request.path.as_str() {
            "/v1/traces" | "/v1/metrics" | "/v1/logs" => {
                (200, "application/x-protobuf", Vec::new())
            }
            _ => (404, "text/plain", b"unknown OTLP path".to_vec()),
        })
    }

    /// Every request so far.
    pub fn received(&self) -> Vec<Received> {
        self.requests.0.lock().unwrap().clone()
    }

    /// Waits until `done` holds for the requests received so far, or the deadline passes; returns
    /// the requests either way.
    pub fn wait_until(&self, limit: Duration, done: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        let deadline = Instant::now() + limit;
        let (lock, signal) = &*self.requests;
        let mut requests = lock.lock().unwrap();
        while !done(&requests) {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            requests = signal.wait_timeout(requests, deadline - now).unwrap().0;
        }
        requests.clone()
    }
}

fn serve(stream: TcpStream, shared: &(Mutex<Vec<Received>>, Condvar), handler: &Handler) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let mut writer = match stream.try_clone() {
        Ok(writer) => writer,
        Err(_) => return,
    };
    let mut reader = BufReader::new(stream);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let (Some(method), Some(path)) = (parts.next(), parts.next()) else {
            return;
        };
        let (method, path) = (method.to_string(), path.to_string());
        let mut headers = BTreeMap::new();
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).unwrap_or(0) == 0 {
                return;
            }
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_string());
            }
        }
        let body = if headers
            .get("transfer-encoding")
            .is_some_and(|t| t.eq_ignore_ascii_case("chunked"))
        {
            read_chunked(&mut reader)
        } else {
            let length = headers
                .get("content-length")
                .and_then(|l| l.parse::<usize>().ok())
                .unwrap_or(0);
            let mut body = vec![0; length];
            if reader.read_exact(&mut body).is_err() {
                return;
            }
            body
        };
        let request = Received {
            method,
            path,
            headers,
            body,
        };
        let (status, content_type, response) = handler(&request);
        {
            let (lock, signal) = shared;
            lock.lock().unwrap().push(request);
            signal.notify_all();
        }
        let head = format!(
            "HTTP/1.1 {status} {}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\n\r\n",
            if status == 200 { "OK" } else { "Not Found" },
            response.len()
        );
        if writer.write_all(head.as_bytes()).is_err() || writer.write_all(&response).is_err() {
            return;
        }
    }
}

fn read_chunked(reader: &mut BufReader<TcpStream>) -> Vec<u8> {
    let mut body = Vec::new();
    loop {
        let mut size = String::new();
        if reader.read_line(&mut size).unwrap_or(0) == 0 {
            return body;
        }
        let size =
            usize::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16).unwrap_or(0);
        let mut chunk = vec![0; size + 2];
        if reader.read_exact(&mut chunk).is_err() || size == 0 {
            return body;
        }
        chunk.truncate(size);
        body.extend(chunk);
    }
}

// ---------------------------------------------------------------------------------------------
// OTLP trace requests (opentelemetry/proto/collector/trace/v1), decoded from the protobuf wire
// format by hand: only the fields the tests read.

/// A span with its resource.
#[derive(Clone, Debug)]
pub struct SpanRecord {
    /// Resource attributes, values rendered as text.
    pub resource: BTreeMap<String, String>,
    /// Instrumentation scope name.
    pub scope: String,
    /// Span name.
    pub name: String,
    /// Span attributes, values rendered as text.
    pub attributes: BTreeMap<String, String>,
}

enum Wire<'a> {
    Varint(u64),
    Fixed64(u64),
    Bytes(&'a [u8]),
    Fixed32(u32),
}

fn varint(buf: &[u8], pos: &mut usize) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *buf.get(*pos)?;
        *pos += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

fn fields(buf: &[u8]) -> Option<Vec<(u64, Wire<'_>)>> {
    let mut pos = 0;
    let mut out = Vec::new();
    while pos < buf.len() {
        let key = varint(buf, &mut pos)?;
        let value = match key & 7 {
            0 => Wire::Varint(varint(buf, &mut pos)?),
            1 => {
                let bytes: [u8; 8] = buf.get(pos..pos + 8)?.try_into().ok()?;
                pos += 8;
                Wire::Fixed64(u64::from_le_bytes(bytes))
            }
            2 => {
                let length = usize::try_from(varint(buf, &mut pos)?).ok()?;
                let bytes = buf.get(pos..pos + length)?;
                pos += length;
                Wire::Bytes(bytes)
            }
            5 => {
                let bytes: [u8; 4] = buf.get(pos..pos + 4)?.try_into().ok()?;
                pos += 4;
                Wire::Fixed32(u32::from_le_bytes(bytes))
            }
            _ => return None,
        };
        out.push((key >> 3, value));
    }
    Some(out)
}

fn bytes_fields(buf: &[u8], number: u64) -> Vec<&[u8]> {
    fields(buf)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(n, v)| match v {
            Wire::Bytes(b) if n == number => Some(b),
            _ => None,
        })
        .collect()
}

fn text(buf: &[u8], number: u64) -> String {
    bytes_fields(buf, number)
        .first()
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .unwrap_or_default()
}

/// AnyValue rendered as text: strings as they are, numbers and booleans in decimal, arrays as
/// JSON-ish lists.
fn any_value(buf: &[u8]) -> String {
    let Some((number, value)) = fields(buf).unwrap_or_default().into_iter().next() else {
        return String::new();
    };
    match (number, value) {
        (1, Wire::Bytes(b)) => String::from_utf8_lossy(b).into_owned(),
        (2, Wire::Varint(v)) => (v != 0).to_string(),
        (3, Wire::Varint(v)) => (v as i64).to_string(),
        (4, Wire::Fixed64(v)) => f64::from_bits(v).to_string(),
        (5, Wire::Bytes(b)) => format!(
            "[{}]",
            bytes_fields(b, 1)
                .into_iter()
                .map(any_value)
                .collect::<Vec<_>>()
                .join(",")
        ),
        (_, Wire::Bytes(b)) => String::from_utf8_lossy(b).into_owned(),
        _ => String::new(),
    }
}

fn attributes(buf: &[u8], number: u64) -> BTreeMap<String, String> {
    bytes_fields(buf, number)
        .into_iter()
        .map(|kv| {
            let value = bytes_fields(kv, 2)
                .first()
                .map(|v| any_value(v))
                .unwrap_or_default();
            (text(kv, 1), value)
        })
        .collect()
}

/// Decodes an `ExportTraceServiceRequest`; `None` when the bytes are not one.
pub fn decode_traces(body: &[u8]) -> Option<Vec<SpanRecord>> {
    fields(body)?;
    let mut spans = Vec::new();
    for resource_spans in bytes_fields(body, 1) {
        fields(resource_spans)?;
        let resource = bytes_fields(resource_spans, 1)
            .first()
            .map(|r| attributes(r, 1))
            .unwrap_or_default();
        for scope_spans in bytes_fields(resource_spans, 2) {
            let scope = bytes_fields(scope_spans, 1)
                .first()
                .map(|s| text(s, 1))
                .unwrap_or_default();
            for span in bytes_fields(scope_spans, 2) {
                spans.push(SpanRecord {
                    resource: resource.clone(),
                    scope: scope.clone(),
                    name: text(span, 5),
                    attributes: attributes(span, 9),
                });
            }
        }
    }
    Some(spans)
}

/// Every span in the `/v1/traces` requests received.
pub fn spans(requests: &[Received]) -> Vec<SpanRecord> {
    requests
        .iter()
        .filter(|r| r.path == "/v1/traces")
        .flat_map(|r| decode_traces(&r.body).unwrap_or_default())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The kubelet's view of a container.

/// Values the downward API gives for a pod.
pub struct Downward<'a> {
    /// `metadata.name`.
    pub pod_name: &'a str,
    /// `metadata.namespace`.
    pub namespace: &'a str,
    /// `spec.nodeName`.
    pub node_name: &'a str,
}

/// Expands `$(VAR)` references to variables defined earlier; `$$` escapes a `$`; an unknown
/// reference stays as written (Kubernetes semantics).
pub fn expand(text: &str, defined: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(index) = rest.find('$') {
        out.push_str(&rest[..index]);
        let after = &rest[index + 1..];
        if let Some(stripped) = after.strip_prefix('$') {
            out.push('$');
            rest = stripped;
        } else if let Some(inner) = after.strip_prefix('(')
            && let Some(end) = inner.find(')')
        {
            let name = &inner[..end];
            match defined.get(name) {
                Some(value) => out.push_str(value),
                None => out.push_str(&format!("$({name})")),
            }
            rest = &inner[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// The environment a kubelet gives a container: `image_env` first, then the container's `env`
/// list in order (later entries win), with `$(VAR)` expansion and downward API values.
pub fn resolve_env(
    container: &Value,
    image_env: &[(&str, String)],
    downward: &Downward<'_>,
) -> BTreeMap<String, String> {
    let mut env: BTreeMap<String, String> = image_env
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    for entry in container["env"].as_array().into_iter().flatten() {
        let name = entry["name"].as_str().expect("env name").to_string();
        let value = if let Some(value) = entry.get("value") {
            expand(value.as_str().unwrap_or_default(), &env)
        } else if let Some(field) = entry["valueFrom"]["fieldRef"]["fieldPath"].as_str() {
            match field {
                "metadata.name" => downward.pod_name.to_string(),
                "metadata.namespace" => downward.namespace.to_string(),
                "spec.nodeName" => downward.node_name.to_string(),
                other => panic!("the test supplies no downward API value for {other}"),
            }
        } else {
            panic!("the test cannot resolve {entry}");
        };
        env.insert(name, value);
    }
    env
}

/// Container paths and the test directories standing for them (mounts and image files).
pub struct Mounts(pub Vec<(String, PathBuf)>);

impl Mounts {
    /// Rewrites every container path in `text` to its host directory (`:`-separated lists too).
    pub fn map(&self, text: &str) -> String {
        text.split(':')
            .map(|part| {
                for (container, host) in &self.0 {
                    if part == container {
                        return host.display().to_string();
                    }
                    if let Some(rest) = part.strip_prefix(&format!("{container}/")) {
                        return host.join(rest).display().to_string();
                    }
                }
                part.to_string()
            })
            .collect::<Vec<_>>()
            .join(":")
    }
}
