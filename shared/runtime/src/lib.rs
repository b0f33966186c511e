//! What every Airlock function shares: settings from the environment, the `Context` of
//! ports, trace context, the `Handler` trait with the consumer loop that runs it, the
//! Lambda entry, and `serve`, which picks one of the two. Modules import only downward:
//! settings → context → trace → consumer → lambda → serve (telemetry stands beside trace).
//! Application services (registry, connections, platform) live in `airlock-services`.

pub mod allocator;
pub mod consumer;
pub mod context;
pub mod lambda;
pub mod serve;
pub mod settings;
pub mod telemetry;
pub mod trace;

pub use allocator::{limit_malloc_arenas, release_free_memory};
pub use consumer::{publish_json, run_consumer, Handler, HandlerError, MessageMeta};
pub use context::Context;
pub use serve::serve;
pub use settings::{Settings, SettingsError};
pub use telemetry::init_logging;
pub use trace::TraceContext;
