//! The whole `main` of a consumer function, choosing between the container loop and Lambda.

use crate::consumer::{run_consumer, Handler};
use crate::context::{Context, StartupError};
use crate::lambda::{is_lambda, serve_sqs, ServeError};
use crate::telemetry;
use std::sync::Arc;

/// The whole `main` of a consumer function: logging, context from the environment, and
/// `concurrency` competing consumers of the handler's topic — or, under Lambda, the
/// handler serving the function's SQS batches.
pub async fn serve<H: Handler>(make: impl FnOnce(Arc<Context>) -> H, concurrency: usize) -> Result<(), ServeError> {
    // Under Lambda the same handler serves the function's SQS batches instead.
    if is_lambda() {
        return serve_sqs(make).await;
    }
    telemetry::init_function(H::NAME);
    let ctx = Context::from_env().await?;
    tracing::info!(function = H::NAME, topic = H::TOPIC.as_str(), "consuming");
    run_consumer(Arc::new(make(ctx.clone())), ctx.bus.clone(), ctx.settings.max_attempts, concurrency)
        .await
        .map_err(StartupError::from)?;
    Ok(())
}
