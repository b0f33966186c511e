//! The `airlock` command: argument parsing and what each subcommand prints. The work is
//! done by the library (`serve`, `doctor`, `pair`); this layer reports it to a person.

pub mod demo;
pub mod sync;

use crate::data_dir::{parse_store, DataDir};
use crate::doctor::{self, DoctorConfig};
use crate::serve::{self, ServeOptions, Served, ADMIN_SUB};
use airlock_api::{AuthConfig, LocalIssuer};
use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::time::Duration;

pub const DEFAULT_DATA_DIR: &str = "./airlock-data";

#[derive(Parser, Debug)]
#[command(name = "airlock", version, about = "Airlock, the Secure Connection Service")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Runs every function and the api of one platform in this process.
    Serve(ServeArgs),
    /// Checks a deployment's prerequisites (or a serve data directory); exits non-zero on a failure.
    Doctor(DoctorArgs),
    /// Prints a token signed by the embedded issuer.
    Token(TokenArgs),
    /// Two platforms exchanging files, in one process.
    Demo(DemoArgs),
    /// Starts a sync of one connection through a running api and follows it to its end.
    Sync(SyncArgs),
}

#[derive(Args, Debug)]
pub struct SyncArgs {
    /// The connection's id (as the panel and GET /api/v1/connections show it).
    pub connection_id: String,
    /// The api's address.
    #[arg(long, env = "AIRLOCK_API_URL", default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// A bearer token with the service or admin role (following needs the admin role).
    #[arg(long, env = "AIRLOCK_API_TOKEN", hide_env_values = true)]
    pub token: String,
    /// Only start it; do not wait for its end.
    #[arg(long)]
    pub no_wait: bool,
    #[arg(long, default_value_t = 3600)]
    pub timeout_secs: u64,
}

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Holds the database, the stores, the issuer's key and the master secret.
    #[arg(long, default_value = DEFAULT_DATA_DIR)]
    pub data_dir: PathBuf,
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// A directory store, NAME=DIR: adds one or points OUTBOX, INBOX or REGISTRY elsewhere
    /// (e.g. a directory another platform uses as its inbox). Repeatable; remembered.
    #[arg(long = "store", value_name = "NAME=DIR", value_parser = parse_store)]
    pub stores: Vec<(String, PathBuf)>,
    /// Levels, tags, users and feature flags to apply at start (TOML or YAML).
    #[arg(long, env = "AIRLOCK_PLATFORM_FILE")]
    pub platform_file: Option<PathBuf>,
    /// How often the scheduler syncs every active connection.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=86400))]
    pub schedule_interval_secs: u64,
}

#[derive(Args, Debug)]
pub struct DoctorArgs {
    /// Check this `airlock serve` data directory instead of the environment's settings.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct TokenArgs {
    /// The user the token is for (its `sub`).
    #[arg(long)]
    pub sub: String,
    /// A role to grant (repeatable), e.g. airlock_admin.
    #[arg(long = "role")]
    pub roles: Vec<String>,
    #[arg(long, default_value_t = 3600)]
    pub ttl_secs: u64,
    /// Sign with this `airlock serve` data directory's issuer key; without it, the
    /// environment's (AIRLOCK_LOCAL_ISSUER_DIR).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Keep the demo's state in this directory.
    pub dir: Option<PathBuf>,
}

/// Runs a parsed command; the exit code is the process's (doctor: 1 on a failed check).
pub async fn run(cli: Cli) -> anyhow::Result<i32> {
    match cli.command {
        Command::Serve(args) => serve_command(args).await.map(|()| 0),
        Command::Doctor(args) => doctor_command(args).await,
        Command::Token(args) => token_command(args).map(|()| 0),
        Command::Demo(args) => demo::run(args.dir).await.map(|()| 0),
        Command::Sync(args) => {
            sync::run(sync::SyncCommand {
                url: args.url,
                token: args.token,
                connection_id: args.connection_id,
                wait: !args.no_wait,
                timeout: Duration::from_secs(args.timeout_secs),
            })
            .await
        }
    }
}

fn env_master_secret() -> Option<String> {
    std::env::var("AIRLOCK_MASTER_SECRET").ok().filter(|s| !s.is_empty())
}

async fn serve_command(args: ServeArgs) -> anyhow::Result<()> {
    airlock_runtime::init_logging();
    let options = ServeOptions {
        data_dir: args.data_dir,
        host: args.host,
        port: args.port,
        stores: args.stores,
        master_secret: env_master_secret(),
        platform_file: args.platform_file,
        schedule_interval: Duration::from_secs(args.schedule_interval_secs),
    };
    let served = serve::start(options).await?;
    print_started(&served);
    tokio::select! {
        result = served.wait() => result.context("api server stopped")?,
        _ = tokio::signal::ctrl_c() => println!("interrupted, stopping"),
    }
    Ok(())
}

fn print_started(served: &Served) {
    let dir = served.data_dir.root.display();
    println!("Airlock is running; data directory {dir}");
    println!("  master secret: {}", served.master_secret_source);
    for (label, path) in &served.stores {
        println!("  store {label}: {}", path.display());
    }
    if !served.platform_file_changes.is_empty() {
        println!("  platform file applied: {}", served.platform_file_changes.join("; "));
    }
    println!("\nAdmin panel: {}", served.panel_url());
    println!("Sign in as the first admin ('{ADMIN_SUB}', valid 12 h):\n  {}\n", served.sign_in_url());
    println!("Admin pages need the Secure Connections feature: turn it on under Settings > Experimental Features.");
    println!("More tokens: airlock token --data-dir {dir} --sub <user> [--role airlock_admin]");
    println!("Ctrl-C stops every function.");
}

async fn doctor_command(args: DoctorArgs) -> anyhow::Result<i32> {
    let config = match &args.data_dir {
        Some(dir) => {
            anyhow::ensure!(dir.is_dir(), "data directory '{}' does not exist", dir.display());
            DoctorConfig::from_data_dir(&DataDir::new(dir.canonicalize()?), env_master_secret())?
        }
        None => DoctorConfig::from_env(),
    };
    let report = doctor::run(&config).await;
    println!("{report}");
    Ok(if report.passed() { 0 } else { 1 })
}

fn token_command(args: TokenArgs) -> anyhow::Result<()> {
    let auth = match &args.data_dir {
        Some(dir) => {
            let dir = DataDir::new(dir);
            anyhow::ensure!(
                dir.issuer_dir().join(airlock_api::issuer::KEY_FILE).exists(),
                "'{}' holds no issuer key yet: start `airlock serve --data-dir {}` once first",
                dir.issuer_dir().display(),
                dir.root.display()
            );
            airlock_api::ApiConfig::local("127.0.0.1:0".parse().expect("a literal address"), dir.issuer_dir()).auth
        }
        None => AuthConfig::from_env().context("no --data-dir, and the environment names no embedded issuer")?,
    };
    let issuer = LocalIssuer::for_minting(&auth)?;
    let roles: Vec<&str> = args.roles.iter().map(String::as_str).collect();
    println!("{}", issuer.mint(&args.sub, &roles, Duration::from_secs(args.ttl_secs)));
    Ok(())
}
