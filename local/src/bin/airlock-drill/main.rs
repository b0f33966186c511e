//! The fault drill: two platforms with every function as a process of its own, over
//! PostgreSQL (fresh databases) and NATS JetStream (fresh stream prefixes), a directory
//! as the exchange. A few hundred files are shared, then each drill injects its fault
//! while syncs run, waits for B to converge and checks the outcome, printing one line:
//!
//!   drill kill: 300 files, 30 kills, exact=ok newest=ok orphans=0 ... (95 s)
//!
//! Not part of `cargo test` (it takes minutes); `local/drill.sh` builds and runs it.

mod check;
mod faults;
mod workload;

use airlock_bus::{NatsBus, Topic};
use airlock_local::fleet::{self, Fleet};
use airlock_local::pair::{Pair, PairSetup};
use clap::Parser;
use faults::{Capture, Databases, StoreOutage};
use rand::Rng;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use workload::Workload;

#[derive(Parser, Debug)]
#[command(about = "Fault drill over separate function processes, PostgreSQL, NATS and a directory exchange")]
struct Args {
    /// Files shared before the drills.
    #[arg(long, default_value_t = 300)]
    files: usize,
    /// kill -9 of random functions in the kill drill.
    #[arg(long, default_value_t = 30)]
    kills: usize,
    /// Seconds B's database stays unreachable.
    #[arg(long, default_value_t = 15)]
    db_outage_secs: u64,
    /// Seconds the exchange directory stays away.
    #[arg(long, default_value_t = 10)]
    store_outage_secs: u64,
    /// Drills to run, in order.
    #[arg(long, value_delimiter = ',', default_value = "kill,db-outage,store-outage,republish")]
    drills: Vec<String>,
    /// Longest wait for B to converge after a fault.
    #[arg(long, default_value_t = 300)]
    converge_secs: u64,
    /// PostgreSQL server (no database; trust or .pgpass authentication).
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432")]
    postgres: String,
    #[arg(long, default_value = "nats://127.0.0.1:4222")]
    nats: String,
    /// Where the function binaries are; the directory of this binary by default.
    #[arg(long)]
    bin_dir: Option<PathBuf>,
    /// Keep the state directory (logs, exchange, registries) and say where it is.
    #[arg(long)]
    keep: bool,
}

/// Short settings so faults heal within a drill: leases of killed processes expire in
/// seconds, superseded objects go after 20 s, staging files after 10 s. The sync deadline
/// is longer than any drill, so an event the drill finds running is really stuck.
const FUNCTION_SETTINGS: [(&str, &str); 7] = [
    ("AIRLOCK_SCHEDULE_INTERVAL_SECS", "2"),
    ("AIRLOCK_LEASE_SECS", "10"),
    ("AIRLOCK_OBJECT_GRACE_SECS", "20"),
    ("AIRLOCK_STAGING_MAX_AGE_SECS", "10"),
    ("AIRLOCK_SYNC_DEADLINE_SECS", "3600"),
    ("AIRLOCK_CHUNK_SIZE", "65536"),
    ("RUST_LOG", "warn"),
];

/// Messages of each bus replayed besides B's ingests.
const REPLAYED_SAMPLE: usize = 150;

struct Run {
    pair: Pair,
    workload: Workload,
    fleet: Fleet,
    bus_a: Arc<NatsBus>,
    bus_b: Arc<NatsBus>,
    capture_a: Capture,
    capture_b: Capture,
    databases: Databases,
    args: Args,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    airlock_runtime::limit_malloc_arenas();
    let args = Args::parse();
    for drill in &args.drills {
        anyhow::ensure!(
            ["kill", "db-outage", "store-outage", "republish"].contains(&drill.as_str()),
            "unknown drill '{drill}' (kill, db-outage, store-outage, republish)"
        );
    }
    let keep = args.keep;
    let state = tempfile::Builder::new().prefix("airlock-drill-").tempdir()?;
    let id = format!("{:08x}", rand::thread_rng().gen::<u32>());
    let databases =
        Databases::create(&args.postgres, vec![format!("airlock_drill_{id}_a"), format!("airlock_drill_{id}_b")])
            .await?;
    let result = drive(args, &id, state.path().to_owned(), databases).await;
    if let Err(e) = &result {
        eprintln!("drill: {e:#}");
    }
    if keep {
        println!("state kept in {}", state.keep().display());
    }
    match result {
        Ok(true) => Ok(()),
        Ok(false) => std::process::exit(1),
        Err(_) => std::process::exit(2),
    }
}

async fn drive(args: Args, id: &str, dir: PathBuf, databases: Databases) -> anyhow::Result<bool> {
    let (prefix_a, prefix_b) = (format!("drill{id}a"), format!("drill{id}b"));
    let bus_a = Arc::new(NatsBus::connect(&args.nats, &prefix_a).await?);
    let bus_b = Arc::new(NatsBus::connect(&args.nats, &prefix_b).await?);
    let outcome = async {
        let run = setup(args, &dir, &databases, bus_a.clone(), bus_b.clone(), (&prefix_a, &prefix_b)).await?;
        run.drills().await
    }
    .await;
    bus_a.delete_streams().await;
    bus_b.delete_streams().await;
    databases.drop_all().await;
    outcome
}

async fn setup(
    args: Args,
    dir: &std::path::Path,
    databases: &Databases,
    bus_a: Arc<NatsBus>,
    bus_b: Arc<NatsBus>,
    prefixes: (&str, &str),
) -> anyhow::Result<Run> {
    let started = Instant::now();
    let mut setup = PairSetup::embedded(dir);
    setup.database_a = databases.url(&databases.names[0]);
    setup.database_b = databases.url(&databases.names[1]);
    setup.bus_a = bus_a.clone();
    setup.bus_b = bus_b.clone();
    setup.functions_in_process = false;
    let master = setup.master_secret.clone();
    let pair = Pair::start(setup).await?;

    let buses = (format!("{}?prefix={}", args.nats, prefixes.0), format!("{}?prefix={}", args.nats, prefixes.1));
    let (env_a, env_b) = fleet::environment(&pair, dir, &master, (&buses.0, &buses.1), &FUNCTION_SETTINGS);
    let bin_dir = fleet::bin_dir(args.bin_dir.as_deref())?;
    let logs = dir.join("logs");
    std::fs::create_dir_all(&logs)?;
    let mut fleet = Fleet::new(&bin_dir, &logs, env_a, env_b);
    fleet.check_binaries()?;
    let capture_a = Capture::start(&args.nats, prefixes.0).await?;
    let capture_b = Capture::start(&args.nats, prefixes.1).await?;

    let mut workload = Workload::default();
    workload.add(&pair, args.files).await?;
    fleet.start_all()?;
    let mut run = Run { pair, workload, fleet, bus_a, bus_b, capture_a, capture_b, databases: databases.clone(), args };
    let timeout = run.converge();
    let converged = check::wait_converged(&run.pair, &run.workload, &mut run.fleet, timeout).await?;
    match converged {
        Ok(_) => println!(
            "drill setup: {} files shared and received by B, {} function processes ({} s)",
            run.workload.shared.len(),
            fleet::FUNCTIONS_A.len() + fleet::FUNCTIONS_B.len(),
            started.elapsed().as_secs()
        ),
        Err(why) => anyhow::bail!("the first sync did not bring B the shared files: {why}"),
    }
    Ok(run)
}

impl Run {
    fn converge(&self) -> Duration {
        Duration::from_secs(self.args.converge_secs)
    }

    async fn drills(mut self) -> anyhow::Result<bool> {
        let mut passed = true;
        for drill in self.args.drills.clone() {
            let started = Instant::now();
            let since = airlock_domain::now_millis();
            let exits_before = self.fleet.exits.len();
            let what = match drill.as_str() {
                "kill" => self.kill().await?,
                "db-outage" => self.db_outage().await?,
                "store-outage" => self.store_outage().await?,
                _ => self.republish().await?,
            };
            let timeout = self.converge();
            let converged = check::wait_converged(&self.pair, &self.workload, &mut self.fleet, timeout).await?;
            let verdict = check::verdict(&self.pair, &self.workload, &mut self.fleet, &converged, since).await?;
            let exits = self.fleet.exits.len() - exits_before;
            println!(
                "drill {drill}: {} files, {what}, {} exits, {} ({} s)",
                self.workload.shared.len(),
                exits,
                verdict.line(),
                started.elapsed().as_secs()
            );
            for note in verdict.notes.iter().chain(&self.fleet.exits[exits_before..]) {
                println!("  {note}");
            }
            passed &= verdict.passed();
        }
        self.fleet.stop_all().await;
        Ok(passed)
    }

    /// Random `kill -9` of random functions while files change and syncs run.
    async fn kill(&mut self) -> anyhow::Result<String> {
        let mut victims = std::collections::BTreeMap::<String, usize>::new();
        for i in 0..self.args.kills {
            if i % 5 == 0 {
                self.workload.churn(&self.pair).await?;
            }
            let (wait, down) = {
                let mut rng = rand::thread_rng();
                (rng.gen_range(500..3000), rng.gen_range(200..1500))
            };
            tokio::time::sleep(Duration::from_millis(wait)).await;
            self.fleet.restart_exited()?;
            let victim = self.fleet.kill_random(Duration::from_millis(down)).await?;
            *victims.entry(victim).or_default() += 1;
        }
        let spread: Vec<String> = victims.iter().map(|(v, n)| format!("{v}×{n}")).collect();
        Ok(format!("{} kills [{}]", self.args.kills, spread.join(" ")))
    }

    /// B's database unreachable for a while in the middle of a sync.
    async fn db_outage(&mut self) -> anyhow::Result<String> {
        self.workload.churn(&self.pair).await?;
        self.workload.revise(&self.pair, self.workload.shared.len() / 10).await?;
        tokio::time::sleep(Duration::from_secs(3)).await;
        let name = self.databases.names[1].clone();
        self.databases.cut_off(&name).await?;
        let cut = Instant::now();
        while cut.elapsed() < Duration::from_secs(self.args.db_outage_secs) {
            tokio::time::sleep(Duration::from_secs(1)).await;
            self.fleet.restart_exited()?;
        }
        self.databases.restore(&name).await?;
        Ok(format!("B's database away {} s", cut.elapsed().as_secs()))
    }

    /// The exchange directory away for a while as both sides sync.
    async fn store_outage(&mut self) -> anyhow::Result<String> {
        self.workload.churn(&self.pair).await?;
        self.workload.revise(&self.pair, self.workload.shared.len() / 10).await?;
        tokio::time::sleep(Duration::from_secs(2)).await;
        let outage = StoreOutage::begin(&self.pair.exchange_dir)?;
        let away = Instant::now();
        while away.elapsed() < Duration::from_secs(self.args.store_outage_secs) {
            tokio::time::sleep(Duration::from_secs(1)).await;
            self.fleet.restart_exited()?;
        }
        outage.end()?;
        Ok(format!("exchange away {} s", away.elapsed().as_secs()))
    }

    /// Everything seen on both buses published again, and one file replaced quickly twice:
    /// a large revision, then a small one while the large one may still be on its way.
    async fn republish(&mut self) -> anyhow::Result<String> {
        let name = self.workload.pick(1).pop().expect("a shared file");
        self.workload.revise_one(&self.pair, &name, 24 << 20).await?;
        tokio::time::sleep(Duration::from_secs(3)).await;
        self.workload.revise_one(&self.pair, &name, 2 << 10).await?;
        // Every old ingest B's validator sent (each older than what B applied since), and a
        // sample of the rest: each replayed poll or publish is a whole run.
        let b_ingests = self.capture_b.republish(self.bus_b.as_ref(), &[Topic::Ingest], usize::MAX).await?;
        let rest = [Topic::Publish, Topic::Poll, Topic::Status];
        let a = self.capture_a.republish(self.bus_a.as_ref(), &rest, REPLAYED_SAMPLE).await?;
        let b = self.capture_b.republish(self.bus_b.as_ref(), &rest, REPLAYED_SAMPLE).await? + b_ingests;
        self.workload.churn(&self.pair).await?;
        self.fleet.restart_exited()?;
        Ok(format!("{} old messages republished, one file replaced large then small", a + b))
    }
}
