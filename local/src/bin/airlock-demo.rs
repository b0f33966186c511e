//! The demo on its own (`airlock demo` does the same): two organizations exchanging files
//! on the embedded default. An optional argument keeps the state in that directory.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    airlock_runtime::limit_malloc_arenas();
    let keep = std::env::args().nth(1).map(std::path::PathBuf::from);
    airlock_local::cli::demo::run(keep).await?;
    // Spans are exported in batches: send the last ones before the process ends.
    airlock_runtime::telemetry::shutdown();
    Ok(())
}
