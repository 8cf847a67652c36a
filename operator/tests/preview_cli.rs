//! `openlit-operator preview` as a user runs it: the example files, and bad files.

use std::process::Command;

fn preview(pod: &str, resources: &[&str]) -> (i32, String, String) {
    let root = env!("CARGO_MANIFEST_DIR");
    let mut command = Command::new(env!("CARGO_BIN_EXE_openlit-operator"));
    command.current_dir(root).args(["preview", "--pod", pod]);
    for resource in resources {
        command.args(["--resource", resource]);
    }
    let output = command.output().expect("the binary runs");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn the_example_pod_is_shown_instrumented() {
    let (code, out, err) = preview("examples/pod.yaml", &["examples/autoinstrumentation.yaml"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("Chosen resource: shop/chat selects the pod"),
        "{out}"
    );
    assert!(
        out.contains("Decision: instrumented containers app"),
        "{out}"
    );
    assert!(
        out.contains("  - istio-proxy: a known sidecar (istio-proxy), never instrumented"),
        "{out}"
    );
    assert!(out.contains("\"path\": \"/spec/initContainers\""), "{out}");
    let after = out
        .split("Pod after the patch:\n")
        .nth(1)
        .expect("the patched pod");
    let pod: serde_json::Value = serde_saphyr::from_str(after).expect("the patched pod is YAML");
    assert_eq!(
        pod["spec"]["initContainers"][0]["args"][5],
        "langchain>=0.1.0"
    );
    assert_eq!(
        pod["metadata"]["annotations"]["openlit.io/instrumented-by"],
        "shop/chat"
    );
}

#[test]
fn bad_files_give_one_line_naming_the_file_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken.yaml");
    std::fs::write(&broken, "spec: [").unwrap();
    let broken = broken.to_str().unwrap();
    let cases = [
        (
            "examples/missing.yaml",
            "examples/autoinstrumentation.yaml",
            "examples/missing.yaml: cannot read the file",
        ),
        ("examples/pod.yaml", broken, broken),
        (
            "examples/autoinstrumentation.yaml",
            "examples/autoinstrumentation.yaml",
            "expected a Pod object",
        ),
    ];
    for (pod, resource, expected) in cases {
        let (code, out, err) = preview(pod, &[resource]);
        assert_eq!(code, 2, "{pod} {resource}: {out}{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.starts_with("error: ") && err.contains(expected),
            "{err}"
        );
        assert!(out.is_empty());
    }
}
