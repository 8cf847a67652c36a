//! The operator's configuration: command-line flags, each with a matching environment variable.
//!
//! Decisions:
//! - Every setting has a flag and an environment variable; the flag wins. The OpenLIT operator's
//!   variable names keep working (`WEBHOOK_PORT`, `WEBHOOK_PATH`, `WEBHOOK_CERT_DIR`,
//!   `CERT_VALIDITY_DAYS`, `CERT_REFRESH_DAYS`, `POD_NAMESPACE`, `WEBHOOK_SERVICE_NAME`,
//!   `WEBHOOK_SECRET_NAME`, `WEBHOOK_CONFIG_NAME`, `HEALTH_PORT`, `LOG_LEVEL`, `WATCH_NAMESPACE`,
//!   `WEBHOOK_FAILURE_POLICY`, `WEBHOOK_REINVOCATION_POLICY`), and as there an empty variable means
//!   "use the default" (Helm charts often render unset values as `""`).
//! - Cluster-scoped and shared names derive from the installation name (`--installation-name`,
//!   default `openlit`) unless set explicitly: the webhook configuration
//!   `<installation>-mutating-webhook-configuration`, the Secret `<installation>-webhook-server-certs`,
//!   the Lease `<installation>-operator-leader` and the Service `<installation>-webhook-service`.
//!   With the default installation name the configuration and Service names equal OpenLIT's defaults.
//! - Defaults that changed from OpenLIT, as the behaviour contract asks: `WEBHOOK_FAILURE_POLICY`
//!   is `Ignore` and `WEBHOOK_REINVOCATION_POLICY` is `IfNeeded`. `CERT_REFRESH_DAYS` is optional:
//!   unset, a certificate is renewed when less than a third of its lifetime is left.
//! - Everything is checked before anything starts; a bad setting ends the process with exit status
//!   2 and one line naming the setting ([`ConfigError`]).
//! - `WEBHOOK_PATH` (default `/mutate`) is where the webhook answers and what the webhook
//!   configuration names; `WEBHOOK_REINVOCATION_POLICY=Never` is accepted and ignored with a warning, because
//!   the webhook is reinvocation-safe and always registered with `IfNeeded`.
//! - The webhook server's connection cap (`WEBHOOK_MAX_CONNECTIONS`) and idle timeout
//!   (`WEBHOOK_IDLE_TIMEOUT_SECONDS`) are settings because they depend on what sits between the
//!   API server and the webhook; its other timeouts and limits are constants
//!   ([`crate::webhook::WebhookSettings`]). An admission waits for a worker at most half of
//!   `WEBHOOK_TIMEOUT_SECONDS`, so a busy replica still answers before the API server gives up.
//! - `/metrics` is served on `METRICS_PORT` (default 8080); when it equals `HEALTH_PORT`, one
//!   listener serves the probes and the metrics.

use std::time::Duration;

use clap::{Args, Command, Parser, ValueEnum};

use crate::crd::image_ref::parse_image_reference;
use crate::crd::labels::check_dns_subdomain;
use crate::crd::quantity::parse_quantity;
use crate::inject::{DEFAULT_IMAGE_PREFIX, InjectConfig};

/// Default `--installation-name`.
pub const DEFAULT_INSTALLATION_NAME: &str = "openlit";
/// Default HTTPS port of the admission webhook.
pub const DEFAULT_WEBHOOK_PORT: u16 = 9443;
/// Default port of `/healthz` and `/readyz`.
pub const DEFAULT_HEALTH_PORT: u16 = 8081;
/// Default port of `/metrics`.
pub const DEFAULT_METRICS_PORT: u16 = 8080;
/// Default webhook path.
pub const DEFAULT_WEBHOOK_PATH: &str = "/mutate";
/// Default directory of `tls.crt` and `tls.key`.
pub const DEFAULT_CERT_DIR: &str = "/tmp/k8s-webhook-server/serving-certs";
/// Default certificate lifetime in days.
pub const DEFAULT_CERT_VALIDITY_DAYS: u32 = 365;
/// Default namespace of the operator.
pub const DEFAULT_NAMESPACE: &str = "openlit";
/// Default `timeoutSeconds` of the webhook.
pub const DEFAULT_WEBHOOK_TIMEOUT_SECONDS: u32 = 5;
/// Default port the webhook's Service exposes.
pub const DEFAULT_SERVICE_PORT: u16 = 443;
/// Default `sizeLimit` of the shared volume.
pub const DEFAULT_VOLUME_SIZE_LIMIT: &str = "500Mi";
/// Default leader lease duration in seconds.
pub const DEFAULT_LEASE_DURATION_SECONDS: u64 = 15;
/// Default cap on open webhook connections.
pub const DEFAULT_WEBHOOK_MAX_CONNECTIONS: usize = crate::webhook::DEFAULT_MAX_CONNECTIONS;
/// Default seconds after which a webhook connection without a request in flight is closed.
pub const DEFAULT_WEBHOOK_IDLE_TIMEOUT_SECONDS: u64 =
    crate::webhook::DEFAULT_IDLE_TIMEOUT.as_secs();
/// Default `API_REQUEST_TIMEOUT_SECONDS`.
pub const DEFAULT_API_REQUEST_TIMEOUT_SECONDS: u64 = 30;

/// `failurePolicy` of the webhook.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum FailurePolicy {
    /// A failed or timed-out call refuses the pod.
    #[value(name = "Fail")]
    Fail,
    /// A failed or timed-out call lets the pod through unchanged.
    #[value(name = "Ignore")]
    Ignore,
}

impl FailurePolicy {
    /// The value as the API writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            FailurePolicy::Fail => "Fail",
            FailurePolicy::Ignore => "Ignore",
        }
    }
}

/// `reinvocationPolicy` of the webhook.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ReinvocationPolicy {
    /// Called once.
    #[value(name = "Never")]
    Never,
    /// Called again when a later webhook changed the pod.
    #[value(name = "IfNeeded")]
    IfNeeded,
}

impl ReinvocationPolicy {
    /// The value as the API writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            ReinvocationPolicy::Never => "Never",
            ReinvocationPolicy::IfNeeded => "IfNeeded",
        }
    }
}

/// Where the webhook's serving certificate comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum CertMode {
    /// The operator keeps its own CA and serving certificate in a Secret and renews them.
    SelfManaged,
    /// `tls.crt` and `tls.key` are read from `WEBHOOK_CERT_DIR` (cert-manager or another issuer)
    /// and reloaded when they change.
    Files,
}

/// Log line format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// One JSON object per line.
    Json,
    /// Human-readable lines.
    Text,
}

/// Least severe level logged (unless `RUST_LOG` says otherwise).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogLevel {
    /// Everything.
    Trace,
    /// Debugging detail.
    Debug,
    /// Normal operation.
    Info,
    /// Problems the operator works around.
    Warn,
    /// Failures.
    Error,
}

impl LogLevel {
    /// The level as a `tracing` filter directive.
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Trace => "trace",
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
        }
    }
}

/// A setting that cannot be used; its message names the setting and fits on one line.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    /// The command line or an environment variable could not be parsed.
    #[error("{0}")]
    Parse(String),
    /// A value parsed but is not acceptable.
    #[error("invalid {setting}: {reason}")]
    Invalid {
        /// The setting, as `ENV_VAR (--flag)`.
        setting: &'static str,
        /// Why the value is refused.
        reason: String,
    },
}

fn invalid(setting: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        setting,
        reason: reason.into(),
    }
}

/// Settings of `openlit-operator run`.
#[derive(Args, Clone, Debug, PartialEq)]
pub struct Config {
    /// Name of this installation; the webhook configuration, Secret, Lease and Service names derive from it.
    #[arg(long, env = "INSTALLATION_NAME", value_name = "INSTALLATION_NAME", default_value = DEFAULT_INSTALLATION_NAME)]
    pub installation_name: String,
    /// Namespace the operator runs in; its resources apply to every namespace.
    #[arg(long, env = "POD_NAMESPACE", value_name = "POD_NAMESPACE", default_value = DEFAULT_NAMESPACE)]
    pub pod_namespace: String,
    /// Identity of this replica in the leader Lease (default: `HOSTNAME`, the pod name).
    #[arg(long, env = "POD_NAME", value_name = "POD_NAME")]
    pub pod_name: Option<String>,
    /// Namespaces to serve (comma-separated); empty means every namespace.
    #[arg(
        long,
        env = "WATCH_NAMESPACE",
        value_name = "WATCH_NAMESPACE",
        value_delimiter = ','
    )]
    pub watch_namespace: Vec<String>,
    /// HTTPS port of the admission webhook.
    #[arg(long, env = "WEBHOOK_PORT", value_name = "WEBHOOK_PORT", default_value_t = DEFAULT_WEBHOOK_PORT, value_parser = port)]
    pub webhook_port: u16,
    /// URL path of the admission webhook (not `/healthz` or `/readyz`).
    #[arg(long, env = "WEBHOOK_PATH", value_name = "WEBHOOK_PATH", default_value = DEFAULT_WEBHOOK_PATH)]
    pub webhook_path: String,
    /// Directory of `tls.crt` and `tls.key` (written in self-managed mode, read in files mode).
    #[arg(long, env = "WEBHOOK_CERT_DIR", value_name = "WEBHOOK_CERT_DIR", default_value = DEFAULT_CERT_DIR)]
    pub webhook_cert_dir: String,
    /// Where the serving certificate comes from.
    #[arg(long, env = "CERT_MODE", value_name = "CERT_MODE", value_enum, default_value_t = CertMode::SelfManaged)]
    pub cert_mode: CertMode,
    /// Lifetime of self-managed certificates, in days (1 to 3650).
    #[arg(long, env = "CERT_VALIDITY_DAYS", value_name = "CERT_VALIDITY_DAYS", default_value_t = DEFAULT_CERT_VALIDITY_DAYS)]
    pub cert_validity_days: u32,
    /// Renew a certificate when fewer than this many days are left (default: a third of its lifetime).
    #[arg(long, env = "CERT_REFRESH_DAYS", value_name = "CERT_REFRESH_DAYS")]
    pub cert_refresh_days: Option<u32>,
    /// Service in front of the webhook (default `<installation>-webhook-service`).
    #[arg(
        long,
        env = "WEBHOOK_SERVICE_NAME",
        value_name = "WEBHOOK_SERVICE_NAME"
    )]
    pub webhook_service_name: Option<String>,
    /// Port of that Service.
    #[arg(long, env = "WEBHOOK_SERVICE_PORT", value_name = "WEBHOOK_SERVICE_PORT", default_value_t = DEFAULT_SERVICE_PORT, value_parser = port)]
    pub webhook_service_port: u16,
    /// Secret holding the CA and serving certificate (default `<installation>-webhook-server-certs`).
    #[arg(long, env = "WEBHOOK_SECRET_NAME", value_name = "WEBHOOK_SECRET_NAME")]
    pub webhook_secret_name: Option<String>,
    /// MutatingWebhookConfiguration name (default `<installation>-mutating-webhook-configuration`).
    #[arg(long, env = "WEBHOOK_CONFIG_NAME", value_name = "WEBHOOK_CONFIG_NAME")]
    pub webhook_config_name: Option<String>,
    /// ClusterRole that owns the webhook configuration: deleting it (uninstalling the manifests
    /// or the chart) lets the garbage collector remove the configuration. Unset: no owner.
    #[arg(long, env = "WEBHOOK_CONFIG_OWNER", value_name = "CLUSTER_ROLE")]
    pub webhook_config_owner: Option<String>,
    /// `failurePolicy` of the webhook: `Fail` or `Ignore`.
    #[arg(long, env = "WEBHOOK_FAILURE_POLICY", value_name = "WEBHOOK_FAILURE_POLICY", value_enum, default_value_t = FailurePolicy::Ignore)]
    pub webhook_failure_policy: FailurePolicy,
    /// `reinvocationPolicy` of the webhook: `Never` or `IfNeeded`.
    #[arg(long, env = "WEBHOOK_REINVOCATION_POLICY", value_name = "WEBHOOK_REINVOCATION_POLICY", value_enum, default_value_t = ReinvocationPolicy::IfNeeded)]
    pub webhook_reinvocation_policy: ReinvocationPolicy,
    /// `timeoutSeconds` of the webhook (1 to 30).
    #[arg(long, env = "WEBHOOK_TIMEOUT_SECONDS", value_name = "WEBHOOK_TIMEOUT_SECONDS", default_value_t = DEFAULT_WEBHOOK_TIMEOUT_SECONDS)]
    pub webhook_timeout_seconds: u32,
    /// Most webhook connections open at once (1 to 65536); at the cap the one idle the longest is closed.
    #[arg(long, env = "WEBHOOK_MAX_CONNECTIONS", value_name = "WEBHOOK_MAX_CONNECTIONS", default_value_t = DEFAULT_WEBHOOK_MAX_CONNECTIONS)]
    pub webhook_max_connections: usize,
    /// Seconds after which a webhook connection without a request in flight is closed (1 to 3600).
    #[arg(long, env = "WEBHOOK_IDLE_TIMEOUT_SECONDS", value_name = "WEBHOOK_IDLE_TIMEOUT_SECONDS", default_value_t = DEFAULT_WEBHOOK_IDLE_TIMEOUT_SECONDS)]
    pub webhook_idle_timeout_seconds: u64,
    /// `sizeLimit` of the `instrumentation-packages` volume.
    #[arg(long, env = "VOLUME_SIZE_LIMIT", value_name = "VOLUME_SIZE_LIMIT", default_value = DEFAULT_VOLUME_SIZE_LIMIT)]
    pub volume_size_limit: String,
    /// Registry path of the provider images (`<prefix>/<provider>-ai-instrumentation:<version>`).
    #[arg(long, env = "IMAGE_PREFIX", value_name = "IMAGE_PREFIX", default_value = DEFAULT_IMAGE_PREFIX)]
    pub image_prefix: String,
    /// Leader Lease name (default `<installation>-operator-leader`).
    #[arg(long, env = "LEASE_NAME", value_name = "LEASE_NAME")]
    pub lease_name: Option<String>,
    /// Leader Lease duration in seconds (3 to 3600); a new leader takes over within this time.
    #[arg(long, env = "LEASE_DURATION_SECONDS", value_name = "LEASE_DURATION_SECONDS", default_value_t = DEFAULT_LEASE_DURATION_SECONDS)]
    pub lease_duration_seconds: u64,
    /// Bound of one Kubernetes API request in seconds (1 to 300); watches are bounded separately.
    #[arg(long, env = "API_REQUEST_TIMEOUT_SECONDS", value_name = "API_REQUEST_TIMEOUT_SECONDS", default_value_t = DEFAULT_API_REQUEST_TIMEOUT_SECONDS)]
    pub api_request_timeout_seconds: u64,
    /// Port of `/healthz` and `/readyz` (plain HTTP).
    #[arg(long, env = "HEALTH_PORT", value_name = "HEALTH_PORT", default_value_t = DEFAULT_HEALTH_PORT, value_parser = port)]
    pub health_port: u16,
    /// Port of `/metrics` (plain HTTP); may equal `HEALTH_PORT`.
    #[arg(long, env = "METRICS_PORT", value_name = "METRICS_PORT", default_value_t = DEFAULT_METRICS_PORT, value_parser = port)]
    pub metrics_port: u16,
    /// Least severe level logged; `RUST_LOG`, when set, takes precedence.
    #[arg(long, env = "LOG_LEVEL", value_name = "LOG_LEVEL", value_enum, default_value_t = LogLevel::Info)]
    pub log_level: LogLevel,
    /// Log format: `json` (default) or `text`.
    #[arg(long, env = "LOG_FORMAT", value_name = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Json)]
    pub log_format: LogFormat,
}

fn port(text: &str) -> Result<u16, String> {
    let value: u16 = text
        .trim()
        .parse()
        .map_err(|_| format!("'{text}' is not a port number"))?;
    if value == 0 {
        return Err("must be between 1 and 65535".to_string());
    }
    Ok(value)
}

impl Default for Config {
    fn default() -> Self {
        Config {
            installation_name: DEFAULT_INSTALLATION_NAME.into(),
            pod_namespace: DEFAULT_NAMESPACE.into(),
            pod_name: None,
            watch_namespace: Vec::new(),
            webhook_port: DEFAULT_WEBHOOK_PORT,
            webhook_path: DEFAULT_WEBHOOK_PATH.into(),
            webhook_cert_dir: DEFAULT_CERT_DIR.into(),
            cert_mode: CertMode::SelfManaged,
            cert_validity_days: DEFAULT_CERT_VALIDITY_DAYS,
            cert_refresh_days: None,
            webhook_service_name: None,
            webhook_service_port: DEFAULT_SERVICE_PORT,
            webhook_secret_name: None,
            webhook_config_name: None,
            webhook_config_owner: None,
            webhook_failure_policy: FailurePolicy::Ignore,
            webhook_reinvocation_policy: ReinvocationPolicy::IfNeeded,
            webhook_timeout_seconds: DEFAULT_WEBHOOK_TIMEOUT_SECONDS,
            webhook_max_connections: DEFAULT_WEBHOOK_MAX_CONNECTIONS,
            webhook_idle_timeout_seconds: DEFAULT_WEBHOOK_IDLE_TIMEOUT_SECONDS,
            volume_size_limit: DEFAULT_VOLUME_SIZE_LIMIT.into(),
            image_prefix: DEFAULT_IMAGE_PREFIX.into(),
            lease_name: None,
            lease_duration_seconds: DEFAULT_LEASE_DURATION_SECONDS,
            api_request_timeout_seconds: DEFAULT_API_REQUEST_TIMEOUT_SECONDS,
            health_port: DEFAULT_HEALTH_PORT,
            metrics_port: DEFAULT_METRICS_PORT,
            log_level: LogLevel::Info,
            log_format: LogFormat::Json,
        }
    }
}

/// Stand-alone parser of [`Config`], for tests and tools.
#[derive(Parser, Debug)]
#[command(name = "openlit-operator run")]
struct ConfigOnly {
    #[command(flatten)]
    config: Config,
}

impl Config {
    /// Parses flags (the first item is the program name) and the environment, then validates.
    pub fn from_args<I, T>(args: I) -> Result<Config, ConfigError>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        use clap::{CommandFactory, FromArgMatches};
        let matches = ignore_empty_env(ConfigOnly::command())
            .try_get_matches_from(args)
            .map_err(|e| parse_error(&e))?;
        let parsed = ConfigOnly::from_arg_matches(&matches).map_err(|e| parse_error(&e))?;
        parsed.config.validate()?;
        Ok(parsed.config)
    }

    /// Checks every setting and the rules between them.
    pub fn validate(&self) -> Result<(), ConfigError> {
        check_name(
            "INSTALLATION_NAME (--installation-name)",
            &self.installation_name,
            40,
        )?;
        check_label("POD_NAMESPACE (--pod-namespace)", &self.pod_namespace)?;
        for namespace in &self.watch_namespace {
            check_label("WATCH_NAMESPACE (--watch-namespace)", namespace)?;
        }
        if !is_admission_path(&self.webhook_path) {
            return Err(invalid(
                "WEBHOOK_PATH (--webhook-path)",
                format!(
                    "'{}' is not a usable path: it must start with '/', hold only letters, digits and '-._~/', and not be /healthz or /readyz",
                    self.webhook_path
                ),
            ));
        }
        if self.webhook_port == self.health_port || self.webhook_port == self.metrics_port {
            return Err(invalid(
                "WEBHOOK_PORT (--webhook-port)",
                format!(
                    "{} is also the health or metrics port; the webhook needs its own port",
                    self.webhook_port
                ),
            ));
        }
        if !(1..=3650).contains(&self.cert_validity_days) {
            return Err(invalid(
                "CERT_VALIDITY_DAYS (--cert-validity-days)",
                format!("{} must be between 1 and 3650", self.cert_validity_days),
            ));
        }
        if let Some(refresh) = self.cert_refresh_days
            && (refresh == 0 || refresh >= self.cert_validity_days)
        {
            return Err(invalid(
                "CERT_REFRESH_DAYS (--cert-refresh-days)",
                format!(
                    "{refresh} must be at least 1 and less than CERT_VALIDITY_DAYS ({}), or the certificate would be renewed all the time",
                    self.cert_validity_days
                ),
            ));
        }
        check_label(
            "WEBHOOK_SERVICE_NAME (--webhook-service-name)",
            &self.service_name(),
        )?;
        check_subdomain(
            "WEBHOOK_SECRET_NAME (--webhook-secret-name)",
            &self.secret_name(),
        )?;
        check_subdomain(
            "WEBHOOK_CONFIG_NAME (--webhook-config-name)",
            &self.webhook_config_name(),
        )?;
        check_subdomain("LEASE_NAME (--lease-name)", &self.lease_name())?;
        if let Some(owner) = &self.webhook_config_owner {
            check_subdomain("WEBHOOK_CONFIG_OWNER (--webhook-config-owner)", owner)?;
        }
        if !(1..=30).contains(&self.webhook_timeout_seconds) {
            return Err(invalid(
                "WEBHOOK_TIMEOUT_SECONDS (--webhook-timeout-seconds)",
                format!(
                    "{} must be between 1 and 30 (the API server's limit)",
                    self.webhook_timeout_seconds
                ),
            ));
        }
        if !(1..=65_536).contains(&self.webhook_max_connections) {
            return Err(invalid(
                "WEBHOOK_MAX_CONNECTIONS (--webhook-max-connections)",
                format!(
                    "{} must be between 1 and 65536",
                    self.webhook_max_connections
                ),
            ));
        }
        if !(1..=3600).contains(&self.webhook_idle_timeout_seconds) {
            return Err(invalid(
                "WEBHOOK_IDLE_TIMEOUT_SECONDS (--webhook-idle-timeout-seconds)",
                format!(
                    "{} must be between 1 and 3600",
                    self.webhook_idle_timeout_seconds
                ),
            ));
        }
        if parse_quantity(&self.volume_size_limit).is_none_or(|v| v <= 0.0) {
            return Err(invalid(
                "VOLUME_SIZE_LIMIT (--volume-size-limit)",
                format!(
                    "'{}' is not a positive quantity such as 500Mi",
                    self.volume_size_limit
                ),
            ));
        }
        let example = format!("{}/openlit-ai-instrumentation:latest", self.image_prefix);
        if self.image_prefix.is_empty()
            || self.image_prefix.ends_with('/')
            || parse_image_reference(&example).is_err()
        {
            return Err(invalid(
                "IMAGE_PREFIX (--image-prefix)",
                format!(
                    "'{}' is not a registry path such as ghcr.io/openlit",
                    self.image_prefix
                ),
            ));
        }
        if !(3..=3600).contains(&self.lease_duration_seconds) {
            return Err(invalid(
                "LEASE_DURATION_SECONDS (--lease-duration-seconds)",
                format!("{} must be between 3 and 3600", self.lease_duration_seconds),
            ));
        }
        if !(1..=300).contains(&self.api_request_timeout_seconds) {
            return Err(invalid(
                "API_REQUEST_TIMEOUT_SECONDS (--api-request-timeout-seconds)",
                format!(
                    "{} must be between 1 and 300",
                    self.api_request_timeout_seconds
                ),
            ));
        }
        if let Some(name) = &self.pod_name
            && (name.is_empty() || name.len() > 253 || name.contains(char::is_whitespace))
        {
            return Err(invalid(
                "POD_NAME (--pod-name)",
                format!("'{name}' is not a usable identity"),
            ));
        }
        Ok(())
    }

    /// Name of the Service in front of the webhook.
    pub fn service_name(&self) -> String {
        self.webhook_service_name
            .clone()
            .unwrap_or_else(|| format!("{}-webhook-service", self.installation_name))
    }

    /// Name of the Secret holding the certificates.
    pub fn secret_name(&self) -> String {
        self.webhook_secret_name
            .clone()
            .unwrap_or_else(|| format!("{}-webhook-server-certs", self.installation_name))
    }

    /// Name of the MutatingWebhookConfiguration.
    pub fn webhook_config_name(&self) -> String {
        self.webhook_config_name
            .clone()
            .unwrap_or_else(|| format!("{}-mutating-webhook-configuration", self.installation_name))
    }

    /// Name of the leader Lease.
    pub fn lease_name(&self) -> String {
        self.lease_name
            .clone()
            .unwrap_or_else(|| format!("{}-operator-leader", self.installation_name))
    }

    /// This replica's identity: `POD_NAME`, else `HOSTNAME`, else the installation name.
    pub fn identity(&self) -> String {
        self.pod_name
            .clone()
            .or_else(|| std::env::var("HOSTNAME").ok().filter(|h| !h.is_empty()))
            .unwrap_or_else(|| format!("{}-operator", self.installation_name))
    }

    /// Certificate lifetime.
    pub fn cert_validity(&self) -> Duration {
        Duration::from_secs(u64::from(self.cert_validity_days) * 86_400)
    }

    /// How long before expiry a certificate is renewed.
    pub fn cert_renew_before(&self) -> Duration {
        match self.cert_refresh_days {
            Some(days) => Duration::from_secs(u64::from(days) * 86_400),
            None => self.cert_validity() / 3,
        }
    }

    /// The leader Lease duration.
    pub fn lease_duration(&self) -> Duration {
        Duration::from_secs(self.lease_duration_seconds)
    }

    /// The bound of one Kubernetes API request.
    pub fn api_request_timeout(&self) -> Duration {
        Duration::from_secs(self.api_request_timeout_seconds)
    }

    /// The namespaces served; empty means all.
    pub fn namespaces(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .watch_namespace
            .iter()
            .map(|n| n.trim().to_string())
            .filter(|n| !n.is_empty())
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// The injection settings derived from this configuration.
    pub fn inject_config(&self) -> InjectConfig {
        InjectConfig {
            operator_namespace: self.pod_namespace.clone(),
            volume_size_limit: self.volume_size_limit.clone(),
            ..InjectConfig::default()
        }
    }
}

fn check_label(setting: &'static str, value: &str) -> Result<(), ConfigError> {
    check_name(setting, value, 63)
}

fn check_name(setting: &'static str, value: &str, max: usize) -> Result<(), ConfigError> {
    let bytes = value.as_bytes();
    let edge = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let ok = !bytes.is_empty()
        && bytes.len() <= max
        && bytes.first().is_some_and(edge)
        && bytes.last().is_some_and(edge)
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-');
    if ok {
        Ok(())
    } else {
        Err(invalid(
            setting,
            format!(
                "'{value}' must be a lower-case DNS label of at most {max} characters (letters, digits, '-')"
            ),
        ))
    }
}

fn check_subdomain(setting: &'static str, value: &str) -> Result<(), ConfigError> {
    check_dns_subdomain(value).map_err(|reason| invalid(setting, format!("'{value}' {reason}")))
}

/// Makes an empty environment variable count as unset, so its default applies (as in OpenLIT).
pub fn ignore_empty_env(command: Command) -> Command {
    let command = command.mut_args(|arg| {
        let empty = arg
            .get_env()
            .and_then(std::env::var_os)
            .is_some_and(|v| v.is_empty());
        if empty { arg.env(None::<&str>) } else { arg }
    });
    let names: Vec<String> = command
        .get_subcommands()
        .map(|s| s.get_name().to_string())
        .collect();
    names.into_iter().fold(command, |command, name| {
        command.mut_subcommand(name, ignore_empty_env)
    })
}

/// Whether `path` can be served as the admission path beside `/healthz` and `/readyz`.
fn is_admission_path(path: &str) -> bool {
    path.starts_with('/')
        && path.len() > 1
        && path.len() <= 256
        && !path.contains("//")
        && path
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._~/".contains(c))
        && !matches!(path.trim_end_matches('/'), "/healthz" | "/readyz")
}

/// Renders a clap error as one line, or the full text for `--help` and `--version`.
pub fn parse_error(error: &clap::Error) -> ConfigError {
    let text = error.to_string();
    if matches!(
        error.kind(),
        clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion
    ) {
        return ConfigError::Parse(text);
    }
    // The first paragraph holds the message and any list of possible values.
    let line = text
        .trim_start()
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(" ");
    let line = line.trim_start_matches("error: ").to_string();
    ConfigError::Parse(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Config, ConfigError> {
        Config::from_args(std::iter::once("run").chain(args.iter().copied()))
    }

    #[test]
    fn defaults_validate_and_derive_names_from_the_installation() {
        let config = Config::default();
        config.validate().unwrap();
        assert_eq!(
            config.webhook_config_name(),
            "openlit-mutating-webhook-configuration"
        );
        assert_eq!(config.service_name(), "openlit-webhook-service");
        assert_eq!(config.secret_name(), "openlit-webhook-server-certs");
        assert_eq!(config.lease_name(), "openlit-operator-leader");
        assert_eq!(config.cert_renew_before(), config.cert_validity() / 3);
    }

    #[test]
    fn flags_override_defaults_and_lists_split_on_commas() {
        let config = parse(&[
            "--installation-name",
            "team-a",
            "--watch-namespace",
            "b,a",
            "--webhook-failure-policy",
            "Fail",
        ])
        .unwrap();
        assert_eq!(config.namespaces(), vec!["a", "b"]);
        assert_eq!(config.webhook_failure_policy, FailurePolicy::Fail);
        assert_eq!(config.lease_name(), "team-a-operator-leader");
    }

    #[test]
    fn bad_values_name_the_setting_on_one_line() {
        for (args, needle) in [
            (vec!["--webhook-port", "0"], "WEBHOOK_PORT"),
            (
                vec!["--webhook-failure-policy", "Sometimes"],
                "WEBHOOK_FAILURE_POLICY",
            ),
            (
                vec!["--cert-validity-days", "10", "--cert-refresh-days", "30"],
                "CERT_REFRESH_DAYS",
            ),
            (
                vec!["--webhook-timeout-seconds", "31"],
                "WEBHOOK_TIMEOUT_SECONDS",
            ),
            (vec!["--volume-size-limit", "lots"], "VOLUME_SIZE_LIMIT"),
            (
                vec!["--webhook-max-connections", "0"],
                "WEBHOOK_MAX_CONNECTIONS",
            ),
            (
                vec!["--webhook-idle-timeout-seconds", "0"],
                "WEBHOOK_IDLE_TIMEOUT_SECONDS",
            ),
            (vec!["--health-port", "9443"], "WEBHOOK_PORT"),
        ] {
            let message = parse(&args).unwrap_err().to_string();
            assert!(message.contains(needle), "{args:?}: {message}");
            assert!(!message.contains('\n'), "{args:?}: {message}");
        }
    }
}
