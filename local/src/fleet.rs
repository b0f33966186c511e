//! The functions of both platforms as processes of their own, configured through the
//! environment exactly as a deployment configures them, and restarted when they exit (as a
//! container orchestrator would) or after the fault drill killed them. The bench runs its
//! syncs through such a fleet too, to read each process's memory.

use crate::pair::Pair;
use rand::seq::SliceRandom;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::process::{Child, Command};

/// The functions each side runs: A sends (publisher), B receives (validator, ingester);
/// both schedule and record their history.
pub const FUNCTIONS_A: [&str; 3] = ["airlock-scheduler", "airlock-outbox-publisher", "airlock-status-recorder"];
pub const FUNCTIONS_B: [&str; 4] =
    ["airlock-scheduler", "airlock-manifest-validator", "airlock-inbox-ingester", "airlock-status-recorder"];

/// Environment variables of a function process, as name and value.
pub type Environment = Vec<(String, String)>;

/// The environment of each side's functions, as a deployment would set it: the pair's
/// master secret, database and stores (the registry directory `<dir>/registry-<side>`
/// and the exchange directory), the side's bus URL, and `settings` on top.
pub fn environment(
    pair: &Pair,
    dir: &Path,
    master_secret: &str,
    (bus_a, bus_b): (&str, &str),
    settings: &[(&str, &str)],
) -> (Environment, Environment) {
    let exchange = pair.exchange_dir.to_string_lossy().into_owned();
    let env = |side: &str, database: &str, bus: &str, exchange_label: &str| {
        let store = |label: &str, field: &str, value: &str| {
            (format!("FILE_SERVICE_OBJECT_STORES__{label}__{field}"), value.to_owned())
        };
        let registry_dir = dir.join(format!("registry-{side}")).to_string_lossy().into_owned();
        let mut vars = vec![
            ("AIRLOCK_MASTER_SECRET".to_owned(), master_secret.to_owned()),
            ("AIRLOCK_DATABASE_URL".to_owned(), database.to_owned()),
            ("AIRLOCK_BUS_URL".to_owned(), bus.to_owned()),
            store("REGISTRY", "SCHEME", "file"),
            store("REGISTRY", "NAME", &registry_dir),
            store(exchange_label, "SCHEME", "file"),
            store(exchange_label, "NAME", &exchange),
        ];
        vars.extend(settings.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        vars
    };
    (
        env("a", &pair.a.ctx.settings.database_url, bus_a, "OUTBOX"),
        env("b", &pair.b.ctx.settings.database_url, bus_b, "INBOX"),
    )
}

/// Where the function binaries are: the given directory, or the running binary's own
/// (cargo puts every binary of a profile in one).
pub fn bin_dir(given: Option<&Path>) -> anyhow::Result<PathBuf> {
    match given {
        Some(dir) => Ok(dir.to_owned()),
        None => Ok(std::env::current_exe()?.parent().expect("a binary lives in a directory").to_owned()),
    }
}

struct Function {
    side: char,
    binary: String,
    child: Option<Child>,
}

impl Function {
    fn label(&self) -> String {
        format!("{}/{}", self.side, self.binary.trim_start_matches("airlock-"))
    }
}

pub struct Fleet {
    bin_dir: PathBuf,
    log_dir: PathBuf,
    env: BTreeMap<char, Environment>,
    functions: Vec<Function>,
    /// Exits the fleet did not cause (crashes, a function giving up), restarted.
    pub exits: Vec<String>,
}

impl Fleet {
    /// Every function of both sides.
    pub fn new(bin_dir: &Path, log_dir: &Path, env_a: Environment, env_b: Environment) -> Self {
        Self::of(bin_dir, log_dir, (env_a, &FUNCTIONS_A), (env_b, &FUNCTIONS_B))
    }

    /// The named functions of each side, with that side's environment.
    pub fn of(
        bin_dir: &Path,
        log_dir: &Path,
        (env_a, functions_a): (Environment, &[&str]),
        (env_b, functions_b): (Environment, &[&str]),
    ) -> Self {
        let mut functions = Vec::new();
        for (side, names) in [('a', functions_a), ('b', functions_b)] {
            functions.extend(names.iter().map(|n| Function { side, binary: n.to_string(), child: None }));
        }
        Self {
            bin_dir: bin_dir.to_owned(),
            log_dir: log_dir.to_owned(),
            env: BTreeMap::from([('a', env_a), ('b', env_b)]),
            functions,
            exits: Vec::new(),
        }
    }

    /// The running functions, by label ("a/outbox-publisher") and process id.
    pub fn processes(&self) -> Vec<(String, u32)> {
        self.functions.iter().filter_map(|f| Some((f.label(), f.child.as_ref()?.id()?))).collect()
    }

    /// Checks that every binary is there before anything starts.
    pub fn check_binaries(&self) -> anyhow::Result<()> {
        for f in &self.functions {
            let path = self.bin_dir.join(&f.binary);
            anyhow::ensure!(
                path.is_file(),
                "function binary {} is missing (build the functions first, in the same profile: local/drill.sh and local/bench.sh do)",
                path.display()
            );
        }
        Ok(())
    }

    pub fn start_all(&mut self) -> anyhow::Result<()> {
        for i in 0..self.functions.len() {
            self.start(i)?;
        }
        Ok(())
    }

    fn start(&mut self, i: usize) -> anyhow::Result<()> {
        let f = &self.functions[i];
        let log_path = self.log_dir.join(format!("{}-{}.log", f.side, f.binary));
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&log_path)?;
        let mut command = Command::new(self.bin_dir.join(&f.binary));
        command
            .envs(self.env[&f.side].iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true);
        let child = command.spawn().map_err(|e| anyhow::anyhow!("starting {}: {e}", f.label()))?;
        self.functions[i].child = Some(child);
        Ok(())
    }

    /// Restarts what exited on its own since the last look, noting each exit.
    pub fn restart_exited(&mut self) -> anyhow::Result<()> {
        for i in 0..self.functions.len() {
            let exited = match self.functions[i].child.as_mut() {
                Some(child) => child.try_wait()?.map(|status| status.to_string()),
                None => Some("not running".into()),
            };
            if let Some(status) = exited {
                self.exits.push(format!("{} ({status})", self.functions[i].label()));
                self.start(i)?;
            }
        }
        Ok(())
    }

    /// `kill -9` of one random function, restarted after `down`; returns its label.
    pub async fn kill_random(&mut self, down: Duration) -> anyhow::Result<String> {
        let i = *(0..self.functions.len()).collect::<Vec<_>>().choose(&mut rand::thread_rng()).expect("functions");
        if let Some(mut child) = self.functions[i].child.take() {
            child.start_kill()?;
            child.wait().await?;
        }
        tokio::time::sleep(down).await;
        self.start(i)?;
        Ok(self.functions[i].label())
    }

    pub async fn stop_all(&mut self) {
        for f in &mut self.functions {
            if let Some(mut child) = f.child.take() {
                let _ = child.start_kill();
                let _ = child.wait().await;
            }
        }
    }
}
