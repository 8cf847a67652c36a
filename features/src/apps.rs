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
