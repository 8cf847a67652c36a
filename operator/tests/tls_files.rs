//! Certificates issued by someone else (cert-manager's mounted Secret), reloaded on change.

mod webhook_support;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::jiff::Timestamp;
use openlit_operator::clock::{Clock, ManualClock, SharedClock};
use openlit_operator::metrics::Metrics;
use openlit_operator::tls::{CertificateFiles, ServingCertificate, watch_certificate_files};
use webhook_support::cluster::eventually;
use webhook_support::tls_client::{SERVER_NAME, presented};

/// Writes a kubelet-style projected Secret: files are symlinks into `..data`, which is swapped
/// atomically on update.
fn project(dir: &Path, generation: u32, files: &[(&str, &str)]) {
    let target = dir.join(format!("..{generation}"));
    std::fs::create_dir(&target).unwrap();
    for (name, content) in files {
        std::fs::write(target.join(name), content).unwrap();
    }
    let tmp = dir.join("..data_tmp");
    std::os::unix::fs::symlink(&target, &tmp).unwrap();
    std::fs::rename(&tmp, dir.join("..data")).unwrap();
    for (name, _) in files {
        let link = dir.join(name);
        if !link.exists() {
            std::os::unix::fs::symlink(Path::new("..data").join(name), &link).unwrap();
        }
    }
}

#[tokio::test]
async fn certificate_files_are_served_and_reloaded_when_they_change() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(Timestamp::now());
    let names = vec![SERVER_NAME.to_string()];
    let (first, ca1, crt1, key1) =
        webhook_support::certificate_at(clock.now(), Duration::from_secs(3600), &names);
    project(
        dir.path(),
        1,
        &[("tls.crt", &crt1), ("tls.key", &key1), ("ca.crt", &ca1)],
    );

    let serving = ServingCertificate::new();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let shared: SharedClock = Arc::new(clock.clone());
    let task = tokio::spawn(watch_certificate_files(
        CertificateFiles::in_dir(dir.path()),
        shared,
        Arc::new(Metrics::new()),
        serving.clone(),
        async move {
            let _ = stopped.await;
        },
    ));
    eventually("the files to load", Duration::from_secs(10), || async {
        serving.current().is_some()
    })
    .await;
    assert_eq!(serving.current().unwrap().info.serial, first.info.serial);
    assert_eq!(serving.current().unwrap().ca_bundle, ca1);

    // Served over TLS.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut harness = webhook_support::harness(webhook_support::chat_source());
    harness.state.certificate = serving.clone();
    let (stop_server, server_stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(openlit_operator::webhook::serve_tls(
        listener,
        harness.state,
        async move {
            let _ = server_stopped.await;
        },
    ));
    assert_eq!(
        presented(addr, &ca1).await.unwrap().serial,
        first.info.serial
    );

    // The issuer renews: the mounted Secret changes; the next poll picks it up.
    let (second, ca2, crt2, key2) =
        webhook_support::certificate_at(clock.now(), Duration::from_secs(7200), &names);
    project(
        dir.path(),
        2,
        &[("tls.crt", &crt2), ("tls.key", &key2), ("ca.crt", &ca2)],
    );
    eventually("the renewed files to load", Duration::from_secs(10), || {
        clock.advance(Duration::from_secs(10));
        let serving = serving.clone();
        let wanted = second.info.serial.clone();
        async move { serving.current().unwrap().info.serial == wanted }
    })
    .await;
    assert_eq!(
        presented(addr, &ca2).await.unwrap().serial,
        second.info.serial
    );

    // A broken update (a key that does not match) keeps the working certificate.
    project(
        dir.path(),
        3,
        &[("tls.crt", &crt1), ("tls.key", &key2), ("ca.crt", &ca2)],
    );
    for _ in 0..3 {
        clock.advance(Duration::from_secs(10));
        tokio::task::yield_now().await;
    }
    assert_eq!(serving.current().unwrap().info.serial, second.info.serial);

    stop.send(()).unwrap();
    task.await.unwrap();
    stop_server.send(()).unwrap();
    server.await.unwrap().unwrap();
}
