//! What every Airlock function shares: settings from the environment, the `Context` of
//! ports, the `Handler` trait with the consumer loop that runs it, trace context, and the
//! built-in registry and connection services the functions and the demo call.

pub mod connections;
pub mod consumer;
pub mod context;
pub mod registry;
pub mod settings;
pub mod trace;

pub use consumer::{publish_json, run_consumer, serve, Handler, HandlerError, MessageMeta};
pub use context::Context;
pub use settings::{Settings, SettingsError};
pub use trace::TraceContext;

/// Logs as plain text lines filtered by `AIRLOCK_LOG_LEVEL` (or `RUST_LOG`), default info.
pub fn init_logging() {
    let filter = std::env::var("AIRLOCK_LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| "info".into())
        .to_ascii_lowercase();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_target(false)
        .try_init();
}
