//! `airlock doctor`: the debugging guide's prerequisites, checked against a deployment
//! from the same settings its functions read (or against an `airlock serve` data
//! directory). Each check is one line, pass or fail, and a failure carries the guide's
//! resolution.

mod checks;

use crate::data_dir::{DataDir, DataDirError, REGISTRY_STORE};
use airlock_store::{Scheme, StoreConfig};
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// How long one network step (a connection, a request, a store operation) may take.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(10);

/// What the doctor checks, as the functions would see it.
#[derive(Clone, Debug)]
pub struct DoctorConfig {
    /// The master secret and where it came from (`None`: not set anywhere).
    pub master_secret: Option<String>,
    pub master_source: String,
    pub database_url: String,
    pub bus_url: String,
    /// The configured stores, or why their configuration can't be read.
    pub stores: Result<Vec<StoreConfig>, String>,
    pub registry_store: String,
    pub issuer: IssuerConfig,
}

#[derive(Clone, Debug)]
pub enum IssuerConfig {
    /// The embedded issuer, with its key in this directory.
    Local {
        key_dir: PathBuf,
    },
    Oidc {
        issuer: String,
        jwks_url: String,
    },
    /// No issuer configured (the api refuses to start; the pipeline needs none).
    None,
}

impl DoctorConfig {
    /// From `AIRLOCK_*` and `FILE_SERVICE_OBJECT_STORES__*` variables.
    pub fn from_env() -> Self {
        Self::from_lookup(|name| std::env::var(name).ok(), std::env::vars())
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>, vars: impl IntoIterator<Item = (String, String)>) -> Self {
        let get = |name: &str| get(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let defaults = airlock_runtime::Settings::default();
        let issuer = match (get("AIRLOCK_LOCAL_ISSUER_DIR"), get("AIRLOCK_OIDC_JWKS_URL")) {
            (_, Some(jwks_url)) => {
                IssuerConfig::Oidc { issuer: get("AIRLOCK_OIDC_ISSUER").unwrap_or_default(), jwks_url }
            }
            (Some(dir), None) => IssuerConfig::Local { key_dir: dir.into() },
            (None, None) => IssuerConfig::None,
        };
        Self {
            master_secret: get("AIRLOCK_MASTER_SECRET"),
            master_source: "AIRLOCK_MASTER_SECRET".into(),
            database_url: get("AIRLOCK_DATABASE_URL").unwrap_or(defaults.database_url),
            bus_url: get("AIRLOCK_BUS_URL").unwrap_or(defaults.bus_url),
            stores: airlock_store::configs_from_vars(vars).map_err(|e| e.to_string()),
            registry_store: get("AIRLOCK_REGISTRY_STORE").unwrap_or(defaults.registry_store),
            issuer,
        }
    }

    /// An `airlock serve` data directory; `AIRLOCK_MASTER_SECRET` overrides its secret as
    /// it does for `airlock serve`.
    pub fn from_data_dir(dir: &DataDir, env_secret: Option<String>) -> Result<Self, DataDirError> {
        let (master_secret, master_source) = match env_secret.filter(|s| !s.is_empty()) {
            Some(secret) => (Some(secret), "AIRLOCK_MASTER_SECRET".to_string()),
            None => (dir.stored_master_secret()?, dir.master_secret_file().display().to_string()),
        };
        let stores = dir
            .resolve_stores(&[])?
            .into_iter()
            .map(|(label, path)| StoreConfig {
                label,
                scheme: Scheme::File,
                name: path.display().to_string(),
                endpoint_url: None,
                region: None,
                access_key: None,
                secret_key: None,
            })
            .collect();
        Ok(Self {
            master_secret,
            master_source,
            // Read-only: a data directory without a database is reported, not created.
            database_url: format!("{}?mode=rw", dir.database_url()),
            bus_url: "memory://".into(),
            stores: Ok(stores),
            registry_store: REGISTRY_STORE.into(),
            issuer: IssuerConfig::Local { key_dir: dir.issuer_dir() },
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Pass,
    Fail,
    /// Not checked because something it needs failed (that failure is reported).
    Skip,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Check {
    pub name: String,
    pub outcome: Outcome,
    pub detail: String,
    pub resolution: Option<String>,
}

impl Check {
    fn pass(name: impl Into<String>, detail: impl Into<String>) -> Self {
        Self { name: name.into(), outcome: Outcome::Pass, detail: detail.into(), resolution: None }
    }

    fn fail(name: impl Into<String>, detail: impl Into<String>, resolution: &str) -> Self {
        Self { name: name.into(), outcome: Outcome::Fail, detail: detail.into(), resolution: Some(resolution.into()) }
    }

    fn skip(name: impl Into<String>, detail: impl Into<String>) -> Self {
        Self { name: name.into(), outcome: Outcome::Skip, detail: detail.into(), resolution: None }
    }
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let word = match self.outcome {
            Outcome::Pass => "PASS",
            Outcome::Fail => "FAIL",
            Outcome::Skip => "SKIP",
        };
        write!(f, "{word} {}: {}", self.name, self.detail)?;
        if let Some(resolution) = &self.resolution {
            write!(f, " -> {resolution}")?;
        }
        Ok(())
    }
}

#[derive(Clone, Debug, Default)]
pub struct Report {
    pub checks: Vec<Check>,
}

impl Report {
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|c| c.outcome != Outcome::Fail)
    }

    pub fn failures(&self) -> usize {
        self.checks.iter().filter(|c| c.outcome == Outcome::Fail).count()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for check in &self.checks {
            writeln!(f, "{check}")?;
        }
        match self.failures() {
            0 => write!(f, "all {} checks passed", self.checks.len()),
            n => write!(f, "{n} of {} checks failed", self.checks.len()),
        }
    }
}

/// Runs every check; never stops at the first failure, so one run shows everything wrong.
pub async fn run(config: &DoctorConfig) -> Report {
    let mut report = Report::default();
    let master = checks::master_key(config, &mut report);
    let stores = checks::stores(config, &mut report).await;
    let repo = checks::database(config, &mut report).await;
    checks::bus(config, &mut report).await;
    checks::issuer(config, &mut report).await;
    match repo {
        Some(repo) => {
            checks::connections(repo.as_ref(), master.as_ref(), &stores, &mut report).await;
        }
        None => report.checks.push(Check::skip(
            "connections",
            "stored secrets, connection stores and inbox manifests not checked: the database is not usable",
        )),
    }
    report
}
