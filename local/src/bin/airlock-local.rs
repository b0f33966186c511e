//! Runs every function of one platform in this process, configured from the environment
//! like the deployed functions (AIRLOCK_* and FILE_SERVICE_OBJECT_STORES__* variables).

use airlock_local::Platform;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    airlock_runtime::limit_malloc_arenas();
    airlock_runtime::init_logging();
    let ctx = airlock_runtime::Context::from_env().await?;
    let mut platform = Platform::start("local", ctx);
    platform.run_scheduler();
    tracing::info!("all functions running; ctrl-c stops them");
    tokio::signal::ctrl_c().await?;
    // Spans are exported in batches: send the last ones before the process ends.
    airlock_runtime::telemetry::shutdown();
    Ok(())
}
