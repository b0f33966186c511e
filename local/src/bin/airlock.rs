//! `airlock serve | doctor | token | demo`: see `airlock --help`.

use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    airlock_runtime::limit_malloc_arenas();
    let cli = airlock_local::cli::Cli::parse();
    let code = airlock_local::cli::run(cli).await?;
    // Spans are exported in batches: send the last ones before the process ends.
    airlock_runtime::telemetry::shutdown();
    std::process::exit(code)
}
