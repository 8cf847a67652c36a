//! `openlit-operator run` refuses bad configuration before starting anything: exit status 2 and
//! one line naming the setting, whether it came from a flag or an environment variable.

use std::process::{Command, Output};

fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_openlit-operator"));
    command.env_clear().arg("run").args(args);
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().unwrap()
}

/// Asserts exit status 2 and one stderr line mentioning every `needle`; returns the line.
fn refused(output: &Output, needles: &[&str]) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    assert_eq!(output.status.code(), Some(2), "stderr: {stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
    for needle in needles {
        assert!(stderr.contains(needle), "{needle} not in: {stderr}");
    }
    assert!(output.stdout.is_empty());
    stderr
}

#[test]
fn port_zero_is_refused_naming_the_port_setting() {
    refused(&run(&["--webhook-port", "0"], &[]), &["WEBHOOK_PORT", "0"]);
    refused(&run(&[], &[("HEALTH_PORT", "0")]), &["HEALTH_PORT"]);
    refused(&run(&[], &[("METRICS_PORT", "70000")]), &["METRICS_PORT"]);
}

#[test]
fn an_unknown_failure_policy_is_refused_with_the_accepted_values() {
    let line = refused(
        &run(&[], &[("WEBHOOK_FAILURE_POLICY", "Sometimes")]),
        &["WEBHOOK_FAILURE_POLICY", "Sometimes"],
    );
    assert!(line.contains("Fail") && line.contains("Ignore"), "{line}");
}

#[test]
fn a_validity_shorter_than_the_renewal_window_is_refused() {
    refused(
        &run(
            &[],
            &[("CERT_VALIDITY_DAYS", "20"), ("CERT_REFRESH_DAYS", "30")],
        ),
        &["CERT_REFRESH_DAYS", "CERT_VALIDITY_DAYS"],
    );
    refused(
        &run(&["--cert-validity-days", "0"], &[]),
        &["CERT_VALIDITY_DAYS"],
    );
}

#[test]
fn other_bad_values_name_their_setting() {
    for (key, value) in [
        ("WEBHOOK_TIMEOUT_SECONDS", "45"),
        ("LEASE_DURATION_SECONDS", "1"),
        ("VOLUME_SIZE_LIMIT", "plenty"),
        ("WATCH_NAMESPACE", "apps,Not_A_Namespace"),
        ("POD_NAMESPACE", "UPPER"),
        ("LOG_FORMAT", "xml"),
        ("LOG_LEVEL", "verbose"),
        ("CERT_MODE", "magic"),
        ("IMAGE_PREFIX", "ghcr.io/openlit/"),
        ("WEBHOOK_PATH", "inject"),
        ("WEBHOOK_PATH", "/healthz"),
        ("WEBHOOK_PATH", "/mutate?x=1"),
    ] {
        refused(&run(&[], &[(key, value)]), &[key]);
    }
}

#[test]
fn the_openlit_variable_names_are_read_and_empty_values_mean_the_default() {
    // Every OpenLIT variable set to a valid value (WATCH_NAMESPACE empty, as Helm renders it),
    // plus one bad new setting: the error names only that one, so all the others were accepted.
    let output = run(
        &[],
        &[
            ("WEBHOOK_PORT", "8443"),
            ("WEBHOOK_PATH", "/mutate"),
            ("WEBHOOK_CERT_DIR", "/certs"),
            ("CERT_VALIDITY_DAYS", "365"),
            ("CERT_REFRESH_DAYS", "30"),
            ("POD_NAMESPACE", "openlit"),
            ("WEBHOOK_SERVICE_NAME", "openlit-webhook-service"),
            ("WEBHOOK_SECRET_NAME", "webhook-server-certs"),
            (
                "WEBHOOK_CONFIG_NAME",
                "openlit-mutating-webhook-configuration",
            ),
            ("HEALTH_PORT", "8081"),
            ("LOG_LEVEL", "debug"),
            ("WATCH_NAMESPACE", ""),
            ("WEBHOOK_FAILURE_POLICY", "Fail"),
            ("WEBHOOK_REINVOCATION_POLICY", "IfNeeded"),
            ("LEASE_DURATION_SECONDS", "2"),
        ],
    );
    refused(&output, &["LEASE_DURATION_SECONDS"]);
}

#[test]
fn a_flag_wins_over_its_environment_variable() {
    // The environment's bad port is overridden by a valid flag; the error then names the next
    // bad setting instead.
    refused(
        &run(
            &["--webhook-port", "9443", "--webhook-timeout-seconds", "0"],
            &[("WEBHOOK_PORT", "0")],
        ),
        &["WEBHOOK_TIMEOUT_SECONDS"],
    );
}
