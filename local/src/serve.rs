//! `airlock serve`: one platform in one process on the embedded default. Every function
//! and the api share one in-process bus and one context, so the panel's "sync now" and the
//! scheduler drive the same pipeline; all state lives in a data directory.

use crate::data_dir::{DataDir, DataDirError, SecretSource, REGISTRY_STORE};
use crate::{context, LocalError, Platform};
use airlock_api::{ApiConfig, ApiError, RunningApi};
use airlock_bus::InProcessBus;
use airlock_runtime::{Context, Settings};
use airlock_services::platform_file::{self, PlatformFile, PlatformFileError};
use airlock_store::object_store::local::LocalFileSystem;
use airlock_store::NamedStores;
use std::collections::BTreeMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// The first administrator's user id, in the printed sign-in link.
pub const ADMIN_SUB: &str = "admin";
/// How long the printed sign-in token stays valid.
pub const SIGN_IN_TTL: Duration = Duration::from_secs(12 * 3600);
pub const PANEL_PATH: &str = "/admin/secure-connections";

#[derive(Clone, Debug)]
pub struct ServeOptions {
    pub data_dir: PathBuf,
    pub host: String,
    /// 0 picks a free port.
    pub port: u16,
    /// Stores to add or point elsewhere (label, directory), over the data directory's.
    pub stores: Vec<(String, PathBuf)>,
    /// `AIRLOCK_MASTER_SECRET`; when absent, the data directory's (generated on first start).
    pub master_secret: Option<String>,
    pub platform_file: Option<PathBuf>,
    pub schedule_interval: Duration,
}

impl ServeOptions {
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            host: "127.0.0.1".into(),
            port: 8080,
            stores: Vec::new(),
            master_secret: None,
            platform_file: None,
            schedule_interval: Settings::default().schedule_interval,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    DataDir(#[from] DataDirError),
    #[error("'{host}:{port}' is not an address to listen on")]
    Address { host: String, port: u16 },
    #[error("store '{label}' at '{dir}' could not be opened: {why}")]
    Store { label: String, dir: String, why: String },
    #[error(transparent)]
    PlatformFile(#[from] PlatformFileError),
    #[error(transparent)]
    Platform(#[from] LocalError),
    #[error(transparent)]
    Api(#[from] ApiError),
}

/// A running `airlock serve`; everything stops when it is dropped.
pub struct Served {
    /// The api's address, e.g. `http://127.0.0.1:8080`.
    pub url: String,
    pub data_dir: DataDir,
    pub stores: BTreeMap<String, PathBuf>,
    pub master_secret_source: SecretSource,
    /// A token for the first admin (`ADMIN_SUB`, admin role), valid for `SIGN_IN_TTL`.
    pub admin_token: String,
    /// What the platform file changed at this start (empty without one, or when it was
    /// already applied).
    pub platform_file_changes: Vec<String>,
    // Fields drop in order: the api stops taking requests before the pipeline stops.
    api: RunningApi,
    platform: Platform,
}

impl Served {
    pub fn panel_url(&self) -> String {
        format!("{}{PANEL_PATH}", self.url)
    }

    /// The panel with the admin token in its fragment, which the page reads and forgets.
    pub fn sign_in_url(&self) -> String {
        format!("{}#token={}", self.panel_url(), self.admin_token)
    }

    pub fn ctx(&self) -> &Arc<Context> {
        &self.platform.ctx
    }

    /// A token of this platform's issuer.
    pub fn mint(&self, sub: &str, roles: &[&str], ttl: Duration) -> String {
        self.api.mint(sub, roles, ttl)
    }

    /// Serves until the api server fails.
    pub async fn wait(self) -> std::io::Result<()> {
        let Served { api, platform, .. } = self;
        let result = api.wait().await;
        drop(platform);
        result
    }
}

pub async fn start(options: ServeOptions) -> Result<Served, ServeError> {
    // A bad platform file refuses the start before anything is created.
    let platform_file = options.platform_file.as_ref().map(PlatformFile::load).transpose()?;
    let bind = bind_address(&options.host, options.port)?;
    let data_dir = DataDir::create(&options.data_dir)?;
    let (secret, master_secret_source) = data_dir.master_secret(options.master_secret.clone())?;
    let stores = data_dir.resolve_stores(&options.stores)?;
    let registry = open_stores(&stores)?;
    let stores = canonical(stores);
    data_dir.remember_stores(&stores)?;

    let settings = Settings {
        database_url: data_dir.database_url(),
        bus_url: "memory://".into(),
        registry_store: REGISTRY_STORE.into(),
        schedule_interval: options.schedule_interval,
        host: options.host.clone(),
        port: options.port,
        ..Settings::default()
    };
    let ctx = context(settings, &secret, Arc::new(InProcessBus::new()), registry).await?;
    let platform_file_changes = match &platform_file {
        Some(file) => platform_file::apply(&ctx, file, platform_file::FILE_ACTOR).await?.changes,
        None => Vec::new(),
    };
    let mut platform = Platform::start("serve", ctx.clone());
    platform.run_scheduler();
    let api = airlock_api::start(ctx, ApiConfig::local(bind, data_dir.issuer_dir())).await?;
    let admin_token = api.mint(ADMIN_SUB, &[airlock_api::config::DEFAULT_ADMIN_ROLE], SIGN_IN_TTL);
    Ok(Served {
        url: api.url.clone(),
        data_dir,
        stores,
        master_secret_source,
        admin_token,
        platform_file_changes,
        api,
        platform,
    })
}

fn bind_address(host: &str, port: u16) -> Result<SocketAddr, ServeError> {
    (host, port)
        .to_socket_addrs()
        .ok()
        .and_then(|mut addrs| addrs.next())
        .ok_or_else(|| ServeError::Address { host: host.into(), port })
}

fn open_stores(stores: &BTreeMap<String, PathBuf>) -> Result<NamedStores, ServeError> {
    let mut registry = NamedStores::default();
    for (label, dir) in stores {
        let failed = |why: String| ServeError::Store { label: label.clone(), dir: dir.display().to_string(), why };
        std::fs::create_dir_all(dir).map_err(|e| failed(e.to_string()))?;
        let dir = dir.canonicalize().map_err(|e| failed(e.to_string()))?;
        let store = LocalFileSystem::new_with_prefix(&dir).map_err(|e| failed(e.to_string()))?;
        // The directory's path is the bucket name, the same on every platform sharing it.
        registry.insert_named(label, &dir.to_string_lossy(), Arc::new(store.with_automatic_cleanup(true)));
    }
    Ok(registry)
}

/// Paths as remembered: absolute, so a restart from another working directory finds them.
fn canonical(stores: BTreeMap<String, PathBuf>) -> BTreeMap<String, PathBuf> {
    stores.into_iter().map(|(label, dir)| (label, dir.canonicalize().unwrap_or(dir))).collect()
}
