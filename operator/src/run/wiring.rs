//! From the operator's [`Config`] to each component's own settings.

use crate::cache::CacheSettings;
use crate::config::{Config, FailurePolicy};
use crate::controller::ControllerSettings;
use crate::leader::LeaseSettings;
use crate::tls::{CertificateFiles, TlsSettings};
use crate::webhook::WebhookSettings;
use crate::webhook_config::{self, WebhookConfigSettings};

/// The leader Lease.
pub fn lease_settings(config: &Config, identity: &str) -> LeaseSettings {
    let mut settings = LeaseSettings::new(
        config.pod_namespace.clone(),
        config.lease_name(),
        identity.to_string(),
        config.lease_duration(),
    );
    settings.request_timeout = config.api_request_timeout();
    settings
}

/// The AutoInstrumentation controller: the served namespaces plus the operator's own, whose
/// resources are the cluster-wide defaults.
pub fn controller_settings(config: &Config, identity: &str) -> ControllerSettings {
    let mut namespaces = config.namespaces();
    if !namespaces.is_empty() {
        namespaces.push(config.pod_namespace.clone());
        namespaces.sort();
        namespaces.dedup();
    }
    ControllerSettings {
        namespaces,
        instance: identity.to_string(),
        request_timeout: config.api_request_timeout(),
    }
}

/// The webhook's resource cache.
pub fn cache_settings(config: &Config) -> CacheSettings {
    let namespaces = config.namespaces();
    CacheSettings {
        operator_namespace: config.pod_namespace.clone(),
        namespaces: (!namespaces.is_empty()).then_some(namespaces),
        image_prefix: config.image_prefix.clone(),
    }
}

/// The webhook server.
pub fn webhook_settings(config: &Config) -> WebhookSettings {
    WebhookSettings {
        inject: config.inject_config(),
        path: config.webhook_path.clone(),
        max_connections: config.webhook_max_connections,
        idle_timeout: std::time::Duration::from_secs(config.webhook_idle_timeout_seconds),
        // Half the API server's deadline: a request that waited that long for a worker is still
        // answered (allowed unchanged) before the API server gives up on it.
        admission_queue_timeout: std::time::Duration::from_millis(
            u64::from(config.webhook_timeout_seconds) * 500,
        ),
        ..WebhookSettings::default()
    }
}

/// The self-managed certificates. `CERT_VALIDITY_DAYS` is the serving certificate's lifetime,
/// renewed `CERT_REFRESH_DAYS` before it expires (a third of the lifetime by default); the CA lives
/// at least three years and never less than the serving certificate.
pub fn tls_settings(config: &Config) -> TlsSettings {
    let mut settings =
        TlsSettings::for_installation(&config.installation_name, &config.pod_namespace);
    settings.secret_name = config.secret_name();
    settings.service_name = config.service_name();
    settings.cert_lifetime = config.cert_validity();
    settings.ca_lifetime = settings.ca_lifetime.max(config.cert_validity());
    settings.renew_before = Some(config.cert_renew_before());
    settings.request_timeout = config.api_request_timeout();
    settings
}

/// Certificates read from `WEBHOOK_CERT_DIR` in files mode.
pub fn certificate_files(config: &Config) -> CertificateFiles {
    CertificateFiles::in_dir(&config.webhook_cert_dir)
}

/// The MutatingWebhookConfiguration.
pub fn webhook_config_settings(config: &Config) -> WebhookConfigSettings {
    let mut settings =
        WebhookConfigSettings::for_installation(&config.installation_name, &config.pod_namespace);
    settings.name = config.webhook_config_name();
    settings.service_name = config.service_name();
    settings.service_port = i32::from(config.webhook_service_port);
    settings.path = config.webhook_path.clone();
    settings.failure_policy = match config.webhook_failure_policy {
        FailurePolicy::Fail => webhook_config::FailurePolicy::Fail,
        FailurePolicy::Ignore => webhook_config::FailurePolicy::Ignore,
    };
    settings.timeout_seconds = i32::try_from(config.webhook_timeout_seconds).unwrap_or(5);
    settings.owner_cluster_role = config.webhook_config_owner.clone();
    settings.request_timeout = config.api_request_timeout();
    let namespaces = config.namespaces();
    settings.namespaces = (!namespaces.is_empty()).then_some(namespaces);
    settings
}
