//! `airlock-api [serve]` runs the api from the environment, applying the platform file
//! `AIRLOCK_PLATFORM_FILE` first when one is named;
//! `airlock-api mint-token --sub X --role R [--role R2] [--ttl-secs N]` prints a token of
//! the embedded issuer (`AIRLOCK_LOCAL_ISSUER_DIR`).

use airlock_api::{ApiConfig, AuthConfig, LocalIssuer};
use airlock_services::platform_file;
use anyhow::{bail, Context as _};
use std::time::Duration;

const USAGE: &str = "usage: airlock-api [serve]\n       \
    airlock-api mint-token --sub <user> [--role <role>]... [--ttl-secs <seconds>]";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    airlock_runtime::limit_malloc_arenas();
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        None | Some("serve") => serve().await,
        Some("mint-token") => mint_token(&args[1..]),
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            Ok(())
        }
        Some(other) => bail!("unknown command '{other}'\n{USAGE}"),
    }
}

async fn serve() -> anyhow::Result<()> {
    airlock_runtime::init_logging();
    // The issuer settings first: refusing to run without authentication shouldn't wait
    // for a database to answer.
    AuthConfig::from_env()?;
    // Likewise a bad platform file: read and checked before the database is opened.
    let platform_file = platform_file::load_from_env()?;
    let ctx = airlock_runtime::Context::from_env().await?;
    let config = ApiConfig::from_env(&ctx.settings)?;
    if let Some(file) = &platform_file {
        let summary = platform_file::apply(&ctx, file, platform_file::FILE_ACTOR).await?;
        tracing::info!(changes = summary.changes.len(), "platform file applied");
        for change in &summary.changes {
            tracing::info!(change, "platform file");
        }
    }
    let api = airlock_api::start(ctx, config).await?;
    tokio::select! {
        result = api.wait() => result.context("api server stopped")?,
        _ = tokio::signal::ctrl_c() => tracing::info!("interrupted, stopping"),
    }
    Ok(())
}

fn mint_token(args: &[String]) -> anyhow::Result<()> {
    let mut sub = None;
    let mut roles = Vec::new();
    let mut ttl = Duration::from_secs(3600);
    let mut rest = args.iter();
    while let Some(flag) = rest.next() {
        let mut value = || rest.next().with_context(|| format!("{flag} needs a value\n{USAGE}"));
        match flag.as_str() {
            "--sub" => sub = Some(value()?.clone()),
            "--role" => roles.push(value()?.clone()),
            "--ttl-secs" => {
                let text = value()?;
                let secs: u64 =
                    text.parse().with_context(|| format!("--ttl-secs '{text}' is not a whole number of seconds"))?;
                ttl = Duration::from_secs(secs);
            }
            other => bail!("unknown option '{other}'\n{USAGE}"),
        }
    }
    let sub = sub.with_context(|| format!("--sub is required\n{USAGE}"))?;
    let issuer = LocalIssuer::for_minting(&AuthConfig::from_env()?)?;
    let roles: Vec<&str> = roles.iter().map(String::as_str).collect();
    println!("{}", issuer.mint(&sub, &roles, ttl));
    Ok(())
}
