//! Logging: one JSON object per line by default (`timestamp`, `level`, `target`, the event's
//! `message` and fields at the top level, and the names and fields of the enclosing spans), or
//! human-readable text with `--log-format text`.
//!
//! The level comes from `--log-level` (`LOG_LEVEL`), unless `RUST_LOG` is set: then `RUST_LOG` is
//! used as written, so per-module directives such as `info,kube=debug` work. Log lines go to
//! standard output; configuration errors, which happen before logging starts, go to standard error.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::{LogFormat, LogLevel};

/// Logging could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// `RUST_LOG` is not a valid filter.
    #[error("invalid RUST_LOG: {0}")]
    Filter(String),
    /// A global subscriber was already installed.
    #[error("logging is already initialised: {0}")]
    AlreadyInitialised(String),
}

/// The filter for a level and an optional `RUST_LOG` value (which wins when non-empty).
pub fn filter(level: LogLevel, rust_log: Option<&str>) -> Result<EnvFilter, TelemetryError> {
    match rust_log.map(str::trim).filter(|v| !v.is_empty()) {
        Some(directives) => {
            EnvFilter::try_new(directives).map_err(|e| TelemetryError::Filter(e.to_string()))
        }
        None => Ok(EnvFilter::new(level.as_str())),
    }
}

/// Installs the process-wide subscriber.
pub fn init(format: LogFormat, level: LogLevel) -> Result<(), TelemetryError> {
    let rust_log = std::env::var("RUST_LOG").ok();
    let filter = filter(level, rust_log.as_deref())?;
    let registry = tracing_subscriber::registry().with(filter);
    let result = match format {
        LogFormat::Json => registry
            .with(
                fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(false)
                    .with_span_list(true)
                    .with_target(true),
            )
            .try_init(),
        LogFormat::Text => registry.with(fmt::layer().with_target(true)).try_init(),
    };
    result.map_err(|e| TelemetryError::AlreadyInitialised(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rust_log_wins_over_the_level_when_set() {
        assert_eq!(filter(LogLevel::Warn, None).unwrap().to_string(), "warn");
        assert_eq!(
            filter(LogLevel::Warn, Some("  ")).unwrap().to_string(),
            "warn"
        );
        assert_eq!(
            filter(LogLevel::Warn, Some("info,kube=debug"))
                .unwrap()
                .to_string(),
            "kube=debug,info"
        );
        assert!(filter(LogLevel::Info, Some("a=b=c")).is_err());
    }
}
