//! `--processes`: the many-files mode with each platform's functions as processes of their
//! own, as deployed — A's publisher and status recorder, B's validator, ingester and status
//! recorder — over NATS JetStream (fresh stream prefixes, deleted at the end), each side's
//! functions sharing its SQLite file. This process only uploads, asks for syncs and reads
//! the history, so the memory the table shows is each function's own.

use super::args::Args;
use super::proc::Meter;
use crate::fleet::{self, Fleet};
use crate::pair::{Pair, PairSetup};
use airlock_bus::NatsBus;
use anyhow::Context as _;
use rand::Rng;
use std::path::Path;
use std::sync::Arc;

const FUNCTIONS_A: [&str; 2] = ["airlock-outbox-publisher", "airlock-status-recorder"];
const FUNCTIONS_B: [&str; 3] = ["airlock-manifest-validator", "airlock-inbox-ingester", "airlock-status-recorder"];

pub struct Processes {
    fleet: Fleet,
    buses: [Arc<NatsBus>; 2],
}

/// Both platforms over NATS at `nats`, and their functions started.
pub async fn start(args: &Args, nats: &str, state: &Path) -> anyhow::Result<(Pair, Processes)> {
    let id = format!("{:08x}", rand::thread_rng().gen::<u32>());
    let prefixes = [format!("bench{id}a"), format!("bench{id}b")];
    let connect = |prefix: &str| {
        let prefix = prefix.to_owned();
        async move {
            NatsBus::connect(nats, &prefix).await.with_context(|| format!("connecting to NATS at {nats} (--nats)"))
        }
    };
    let buses = [Arc::new(connect(&prefixes[0]).await?), Arc::new(connect(&prefixes[1]).await?)];
    let mut setup = PairSetup::embedded(state);
    setup.settings.chunk_size = args.chunk_kib * 1024;
    setup.bus_a = buses[0].clone();
    setup.bus_b = buses[1].clone();
    setup.functions_in_process = false;
    let master = setup.master_secret.clone();
    let pair = Pair::start(setup).await.context("starting platforms A and B")?;

    let bus_urls = prefixes.map(|prefix| format!("{nats}?prefix={prefix}"));
    let chunk_size = (args.chunk_kib * 1024).to_string();
    // The processes log at the bench's own `AIRLOCK_LOG_LEVEL`, inherited: warn unless asked
    // (see `bench::main`), as a line per file would cost more than the file.
    let settings = [("AIRLOCK_CHUNK_SIZE", chunk_size.as_str())];
    let (env_a, env_b) = fleet::environment(&pair, state, &master, (&bus_urls[0], &bus_urls[1]), &settings);
    let logs = state.join("logs");
    std::fs::create_dir_all(&logs).with_context(|| format!("creating {}", logs.display()))?;
    let bin_dir = fleet::bin_dir(args.bin_dir.as_deref())?;
    let mut fleet = Fleet::of(&bin_dir, &logs, (env_a, &FUNCTIONS_A), (env_b, &FUNCTIONS_B));
    fleet.check_binaries()?;
    fleet.start_all()?;
    println!("functions: {} processes from {}, logs in {}", fleet.processes().len(), bin_dir.display(), logs.display());
    Ok((pair, Processes { fleet, buses }))
}

impl Processes {
    /// What A's steps and B's steps count: each side's own function processes.
    pub fn meters(&self) -> (Meter, Meter) {
        let side = |prefix: &str| {
            Meter::Processes(
                self.fleet.processes().into_iter().filter(|(label, _)| label.starts_with(prefix)).collect(),
            )
        };
        (side("a/"), side("b/"))
    }

    /// Stops the functions and deletes the streams; says which function exited on its own
    /// meanwhile (a crash would make its figures those of a restarted process).
    pub async fn stop(mut self) {
        if let Err(e) = self.fleet.restart_exited() {
            eprintln!("warning: looking for exited functions failed: {e:#}");
        }
        for exit in &self.fleet.exits {
            eprintln!("warning: function {exit} exited during the run and was restarted");
        }
        self.fleet.stop_all().await;
        for bus in &self.buses {
            bus.delete_streams().await;
        }
    }
}
