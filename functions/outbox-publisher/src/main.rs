use std::sync::Arc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    airlock_runtime::init_logging();
    let ctx = airlock_runtime::Context::from_env().await?;
    let handler = Arc::new(airlock_outbox_publisher::OutboxPublisher::new(ctx.clone()));
    airlock_runtime::run_consumer(handler, ctx.bus.clone(), ctx.settings.max_attempts, 4).await?;
    Ok(())
}
