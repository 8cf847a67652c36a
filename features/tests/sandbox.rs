//! The README's run command: the sandbox reports the instrumented pod and `kubectl` sees it
//! through the kubeconfig it prints.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

#[test]
fn the_sandbox_shows_the_instrumented_pod_to_kubectl() {
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

    let kubectl = Command::new("kubectl")
        .args(["get", "pods", "-n", "shop", "-o", "yaml"])
        .env("KUBECONFIG", &kubeconfig)
        .output();
    let _ = child.kill();
    let _ = child.wait();
    match kubectl {
        Ok(output) => {
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
        Err(e) => println!("kubectl is not installed ({e}); checked the sandbox report only"),
    }
}
