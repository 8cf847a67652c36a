//! Certificates issued by someone else (cert-manager or any issuer), read from files and
//! reloaded when their content changes.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::TlsError;
use super::resolver::{LoadedCertificate, ServingCertificate};
use crate::clock::SharedClock;
use crate::metrics::Metrics;

/// Where the certificate files are.
#[derive(Clone, Debug)]
pub struct CertificateFiles {
    /// The serving certificate chain (PEM), e.g. `/certs/tls.crt`.
    pub cert: PathBuf,
    /// Its private key (PEM), e.g. `/certs/tls.key`.
    pub key: PathBuf,
    /// The CA bundle clients should trust (PEM), e.g. `/certs/ca.crt`; when absent the
    /// webhook configuration's `caBundle` is left to the issuer (cert-manager's CA injector).
    pub ca: Option<PathBuf>,
    /// How often the files are read again (default 10 seconds, on the clock).
    pub poll_interval: Duration,
}

impl CertificateFiles {
    /// The usual names `tls.crt`, `tls.key` and `ca.crt` in `dir`, polled every 10 seconds.
    pub fn in_dir(dir: impl Into<PathBuf>) -> Self {
        let dir = dir.into();
        CertificateFiles {
            cert: dir.join("tls.crt"),
            key: dir.join("tls.key"),
            ca: Some(dir.join("ca.crt")),
            poll_interval: Duration::from_secs(10),
        }
    }

    fn read(&self) -> Result<(String, String, String), TlsError> {
        let read = |path: &PathBuf| {
            std::fs::read_to_string(path).map_err(|source| TlsError::Io {
                path: path.display().to_string(),
                source,
            })
        };
        let ca = match &self.ca {
            Some(path) if path.exists() => read(path)?,
            _ => String::new(),
        };
        Ok((read(&self.cert)?, read(&self.key)?, ca))
    }

    /// Reads the files once and installs them into `serving`.
    pub fn load_into(
        &self,
        serving: &ServingCertificate,
        metrics: &Metrics,
    ) -> Result<(), TlsError> {
        let (cert, key, ca) = self.read()?;
        let loaded = LoadedCertificate::from_pem(&cert, &key, &ca)?;
        metrics.set_certificate_expiry(loaded.info.not_after.as_second());
        serving.install(loaded);
        Ok(())
    }
}

/// Loads the files into `serving` and reloads them whenever their content changes (checked every
/// `poll_interval` on `clock`), until `shutdown` completes. Kubernetes updates a mounted Secret
/// by swapping a symlink, which re-reading the paths follows. A read or parse failure keeps the
/// certificate being served and is retried at the next poll.
pub async fn watch_certificate_files(
    files: CertificateFiles,
    clock: SharedClock,
    metrics: Arc<Metrics>,
    serving: ServingCertificate,
    shutdown: impl Future<Output = ()> + Send,
) {
    tokio::pin!(shutdown);
    let mut seen: Option<(String, String, String)> = None;
    loop {
        match files.read() {
            Ok(content) if seen.as_ref() != Some(&content) => {
                let (cert, key, ca) = &content;
                match LoadedCertificate::from_pem(cert, key, ca) {
                    Ok(loaded) => {
                        tracing::info!(serial = %loaded.info.serial, not_after = %loaded.info.not_after, "serving the certificate from files");
                        metrics.set_certificate_expiry(loaded.info.not_after.as_second());
                        serving.install(loaded);
                        seen = Some(content);
                    }
                    Err(e) => tracing::warn!(error = %e, "the certificate files are unusable"),
                }
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "reading the certificate files"),
        }
        tokio::select! {
            () = &mut shutdown => return,
            () = clock.sleep(files.poll_interval) => {}
        }
    }
}
