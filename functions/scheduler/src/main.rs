#[tokio::main]
async fn main() -> anyhow::Result<()> {
    airlock_runtime::init_logging();
    let ctx = airlock_runtime::Context::from_env().await?;
    airlock_scheduler::run(&ctx).await;
    Ok(())
}
