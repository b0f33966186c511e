//! Every function of both platforms as a process of its own, configured through the
//! environment exactly as a deployment configures them, and restarted when it exits (as a
//! container orchestrator would) or after the drill killed it.

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
    env: BTreeMap<char, Vec<(String, String)>>,
    functions: Vec<Function>,
    /// Exits the fleet did not cause (crashes, a function giving up), restarted.
    pub exits: Vec<String>,
}

impl Fleet {
    pub fn new(bin_dir: &Path, log_dir: &Path, env_a: Vec<(String, String)>, env_b: Vec<(String, String)>) -> Self {
        let mut functions = Vec::new();
        for (side, names) in [('a', &FUNCTIONS_A[..]), ('b', &FUNCTIONS_B[..])] {
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

    /// Checks that every binary is there before anything starts.
    pub fn check_binaries(&self) -> anyhow::Result<()> {
        for f in &self.functions {
            let path = self.bin_dir.join(&f.binary);
            anyhow::ensure!(
                path.is_file(),
                "function binary {} is missing (build it first: local/drill.sh does)",
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
