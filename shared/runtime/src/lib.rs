//! What every Airlock function shares: settings from the environment, the `Context` of
//! ports, the `Handler` trait with the consumer loop that runs it, trace context, and the
//! built-in registry and connection services the functions and the demo call.

pub mod connections;
pub mod consumer;
pub mod context;
pub mod lambda;
pub mod registry;
pub mod settings;
pub mod telemetry;
pub mod trace;

pub use consumer::{publish_json, run_consumer, serve, Handler, HandlerError, MessageMeta};
pub use context::Context;
pub use settings::{Settings, SettingsError};
pub use telemetry::init_logging;
pub use trace::TraceContext;
