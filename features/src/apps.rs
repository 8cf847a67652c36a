//! Simulated application images: a Python interpreter that, like CPython's `site` module, runs
//! the first `sitecustomize.py` found on `PYTHONPATH` and reports what it loaded.

use kubesim::{Exit, Image, Process};

/// Images that behave like `python:<tag>` application containers.
pub const PYTHON_IMAGES: &[&str] = &[
    "python:3.12-slim",
    "python:3.12-alpine",
    "python:3.11",
    "python:3.13-slim",
];

use crate::provider_images::FAILURE_MARKER;

/// The application the scenarios' Python containers run on a real cluster: it reports its
/// instrumentation on stdout exactly as the simulated [`python_app`] does, then waits for
/// SIGTERM (as PID 1 it would otherwise ignore it). The simulated image ignores the command.
pub fn app_command() -> Vec<String> {
    let script = format!(
        r#"import os, signal, sys
def describe():
    for d in filter(None, os.environ.get("PYTHONPATH", "").split(":")):
        d = d.rstrip("/")
        sc = os.path.join(d, "sitecustomize.py")
        if not os.path.isfile(sc):
            continue
        marker = os.path.join(d, "{FAILURE_MARKER}")
        if os.path.isfile(marker):
            return "instrumentation disabled: " + open(marker).read().strip()
        text = open(sc).read()
        provider = text.split('bootstrap.run("', 1)[1].split('"', 1)[0] if 'bootstrap.run("' in text else "unknown"
        return "instrumentation loaded: %s (exporting to %s)" % (provider, os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", ""))
    return "no instrumentation"
print(describe(), flush=True)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
signal.pause()
"#
    );
    vec!["python3".into(), "-c".into(), script]
}

/// Gives every container of a pod spec that runs one of the [`PYTHON_IMAGES`] and has no command
/// of its own the [`app_command`], so the same manifest runs on both backends.
pub fn with_app_command(spec: &mut serde_json::Value) {
    let Some(containers) = spec["containers"].as_array_mut() else {
        return;
    };
    for container in containers {
        let python = container["image"]
            .as_str()
            .is_some_and(|image| PYTHON_IMAGES.contains(&image));
        if python && container.get("command").is_none() {
            container["command"] = serde_json::json!(app_command());
        }
    }
}

/// A long-running Python application that reports its instrumentation on stdout:
/// `instrumentation loaded: <provider>`, `instrumentation disabled: <reason>` or `no instrumentation`.
pub fn python_app(name: &str) -> Image {
    Image::new(name)
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .program(|process: &mut Process| {
            let line = describe_startup(process);
            process.println(line);
            Exit::Running
        })
}

fn describe_startup(process: &Process) -> String {
    let pythonpath = process.env.get("PYTHONPATH").cloned().unwrap_or_default();
    for dir in pythonpath.split(':').filter(|d| !d.is_empty()) {
        let dir = dir.trim_end_matches('/');
        if process
            .read_to_string(&format!("{dir}/sitecustomize.py"))
            .is_none()
        {
            continue;
        }
        if let Some(reason) = process.read_to_string(&format!("{dir}/{FAILURE_MARKER}")) {
            return format!("instrumentation disabled: {}", reason.trim());
        }
        let provider = process
            .read_to_string(&format!("{dir}/sitecustomize.py"))
            .as_deref()
            .and_then(provider_of)
            .unwrap_or_else(|| "unknown".into());
        let endpoint = process
            .env
            .get("OTEL_EXPORTER_OTLP_ENDPOINT")
            .cloned()
            .unwrap_or_default();
        return format!("instrumentation loaded: {provider} (exporting to {endpoint})");
    }
    "no instrumentation".to_string()
}

/// The provider a delivered `sitecustomize.py` starts: the name it passes to `bootstrap.run`.
fn provider_of(sitecustomize: &str) -> Option<String> {
    let call = sitecustomize.split("bootstrap.run(\"").nth(1)?;
    Some(call.split('"').next()?.to_string())
}
