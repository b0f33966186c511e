//! Speed and memory of moving one large file through the whole pipeline on the embedded
//! default (A: registry → encrypt → outbox; B: inbox → decrypt+verify → registry), next to
//! what a user would use instead, on the same file and disk in the same run: a plain
//! `rclone copy`, `rclone` through a `crypt` remote, and `openssl enc` as a raw-cipher
//! reference.
//!
//! Figures are printed, never asserted: the machines this runs on are shared and noisy.
//!
//! ```sh
//! cargo run --release -p airlock-local --bin airlock-bench -- --size-mib 1024 --chunk-kib 1024
//! ```

use airlock_bus::InProcessBus;
use airlock_domain::pipeline::ResourceOutcome;
use airlock_domain::Health;
use airlock_local::pair::{Pair, PairSetup, BOB};
use airlock_repo::{SyncEvent, SyncState};
use anyhow::{anyhow, bail, ensure, Context as _};
use rand::{RngCore, SeedableRng};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const MIB: u64 = 1 << 20;

const USAGE: &str =
    "usage: airlock-bench [--size-mib N] [--chunk-kib K] [--dir PATH] [--ack-wait-secs S] [--no-compare] [--s3]

  --size-mib N   size of the generated file in MiB (default 1024)
  --chunk-kib K  plaintext bytes per encrypted chunk, in KiB (default 1024, at most 16384)
  --dir PATH     where to put the working directory (default: the system temp dir, unless
                 it is a RAM file system, then the current directory); it must hold about
                 4 x the file size
  --ack-wait-secs S
                 ack deadline of both platforms' in-process buses (default: the bus's own,
                 30 s); a stage that runs longer has its message redelivered and started
                 again next to the first run, which the bench reports
  --no-compare   skip the rclone and openssl comparisons
  --s3           the exchange bucket is on moto's S3 server (started if none is running),
                 so the outbox write is a multipart upload and the inbox read a ranged GET";

struct Args {
    size_mib: u64,
    chunk_kib: usize,
    dir: Option<PathBuf>,
    ack_wait: Option<Duration>,
    compare: bool,
    /// The exchange is a bucket on moto's S3 server instead of a directory.
    s3: bool,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut args = Args { size_mib: 1024, chunk_kib: 1024, dir: None, ack_wait: None, compare: true, s3: false };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().ok_or_else(|| anyhow!("{name} needs a value\n\n{USAGE}"));
        match arg.as_str() {
            "--size-mib" => {
                let v = value("--size-mib")?;
                args.size_mib = v.parse().map_err(|e| anyhow!("--size-mib '{v}' is not a whole number: {e}"))?;
            }
            "--chunk-kib" => {
                let v = value("--chunk-kib")?;
                args.chunk_kib = v.parse().map_err(|e| anyhow!("--chunk-kib '{v}' is not a whole number: {e}"))?;
            }
            "--dir" => args.dir = Some(PathBuf::from(value("--dir")?)),
            "--ack-wait-secs" => {
                let v = value("--ack-wait-secs")?;
                let secs: u64 =
                    v.parse().map_err(|e| anyhow!("--ack-wait-secs '{v}' is not a whole number of seconds: {e}"))?;
                ensure!(secs >= 1, "--ack-wait-secs must be at least 1");
                args.ack_wait = Some(Duration::from_secs(secs));
            }
            "--no-compare" => args.compare = false,
            "--s3" => args.s3 = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => bail!("unknown argument '{other}'\n\n{USAGE}"),
        }
    }
    ensure!(args.size_mib >= 1, "--size-mib must be at least 1");
    let max_kib = airlock_protocol::MAX_CHUNK_SIZE / 1024;
    ensure!(
        (1..=max_kib).contains(&args.chunk_kib),
        "--chunk-kib {} is outside 1..={max_kib} (the protocol's chunk size limit)",
        args.chunk_kib
    );
    Ok(args)
}

// ---------------------------------------------------------------------------------------
// Measuring this process and others

/// A `kB` field of /proc/self/status, in KiB.
fn status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field) && l[field.len()..].starts_with(':'))?;
    line[field.len() + 1..].trim().trim_end_matches("kB").trim().parse().ok()
}

fn mib_of_kib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// Resets VmHWM to the current RSS, so the next reading is the peak of one phase rather
/// than of everything before it (Linux ≥ 4.0). False when the kernel refuses.
fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// CPU seconds, split so that time spent in the kernel (copies, thread wake-ups) shows.
#[derive(Clone, Copy)]
struct Cpu {
    user: f64,
    sys: f64,
}

impl std::ops::Add for Cpu {
    type Output = Cpu;
    fn add(self, other: Cpu) -> Cpu {
        Cpu { user: self.user + other.user, sys: self.sys + other.sys }
    }
}

impl std::ops::Sub for Cpu {
    type Output = Cpu;
    fn sub(self, other: Cpu) -> Cpu {
        Cpu { user: self.user - other.user, sys: self.sys - other.sys }
    }
}

/// User and system CPU seconds of this whole process (all threads). /proc reports clock
/// ticks of USER_HZ, which is 100 on every Linux architecture this runs on.
fn cpu_seconds() -> Option<Cpu> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name may contain spaces and parentheses; fields are counted after its ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some(Cpu { user: utime / 100.0, sys: stime / 100.0 })
}

/// Memory and time of one in-process phase.
struct Phase {
    seconds: f64,
    cpu: Option<Cpu>,
    /// VmRSS when the phase started (KiB).
    start_rss: Option<u64>,
    /// VmHWM at the end: the phase's own peak if the reset worked (KiB).
    peak: Option<u64>,
}

struct PhaseClock {
    started: Instant,
    cpu: Option<Cpu>,
    start_rss: Option<u64>,
}

impl PhaseClock {
    fn start(peak_resets: bool) -> Self {
        if peak_resets {
            reset_peak_rss();
        }
        Self { started: Instant::now(), cpu: cpu_seconds(), start_rss: status_kib("VmRSS") }
    }

    fn stop(self) -> Phase {
        let seconds = self.started.elapsed().as_secs_f64();
        let cpu = match (cpu_seconds(), self.cpu) {
            (Some(end), Some(start)) => Some(end - start),
            _ => None,
        };
        Phase { seconds, cpu, start_rss: self.start_rss, peak: status_kib("VmHWM") }
    }
}

/// Wall time, peak RSS and CPU of an external command.
struct External {
    seconds: f64,
    max_rss_kib: Option<u64>,
    cpu: Option<Cpu>,
    stdout: String,
}

/// Runs a command, under `/usr/bin/time -v` when it is installed (for the child's peak RSS).
/// Wall time is measured here, which is finer than what `time` prints.
async fn run_measured(program: &str, args: &[&str], time_out: &Path) -> anyhow::Result<External> {
    let have_time = Path::new("/usr/bin/time").exists();
    let mut command = if have_time {
        let mut c = tokio::process::Command::new("/usr/bin/time");
        c.arg("-v").arg("-o").arg(time_out).arg(program);
        c
    } else {
        tokio::process::Command::new(program)
    };
    // Killed if the bench is interrupted, so nothing keeps writing into a deleted directory.
    command.args(args).stdin(Stdio::null()).kill_on_drop(true);
    let started = Instant::now();
    let output = command.output().await.with_context(|| format!("could not start {program}"))?;
    let seconds = started.elapsed().as_secs_f64();
    if !output.status.success() {
        bail!(
            "{program} {} failed ({}): {}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let (mut max_rss_kib, mut cpu) = (None, None);
    if have_time {
        let report = std::fs::read_to_string(time_out)
            .with_context(|| format!("reading /usr/bin/time's report {}", time_out.display()))?;
        let field = |name: &str| {
            report.lines().find_map(|l| l.trim().strip_prefix(name).and_then(|v| v.trim().parse::<f64>().ok()))
        };
        max_rss_kib = field("Maximum resident set size (kbytes):").map(|v| v as u64);
        cpu = match (field("User time (seconds):"), field("System time (seconds):")) {
            (Some(user), Some(sys)) => Some(Cpu { user, sys }),
            _ => None,
        };
    }
    Ok(External { seconds, max_rss_kib, cpu, stdout: String::from_utf8_lossy(&output.stdout).into_owned() })
}

/// Flushes dirty pages so one phase's writeback is not charged to the next one.
async fn flush_disk() {
    let _ = tokio::process::Command::new("sync").status().await;
}

fn have_program(name: &str) -> bool {
    std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|dir| dir.join(name).is_file()))
        .unwrap_or(false)
}

// ---------------------------------------------------------------------------------------
// Disk

struct Disk {
    fs_type: String,
    available: u64,
    mount: String,
}

fn disk_of(path: &Path) -> anyhow::Result<Disk> {
    let output = std::process::Command::new("df")
        .args(["-P", "-T", "-k"])
        .arg(path)
        .output()
        .with_context(|| format!("could not run df on {}", path.display()))?;
    ensure!(output.status.success(), "df {} failed: {}", path.display(), String::from_utf8_lossy(&output.stderr));
    let text = String::from_utf8_lossy(&output.stdout);
    let line = text.lines().nth(1).ok_or_else(|| anyhow!("df printed no line for {}", path.display()))?;
    let fields: Vec<&str> = line.split_whitespace().collect();
    ensure!(fields.len() >= 7, "unexpected df output for {}: {line}", path.display());
    Ok(Disk {
        fs_type: fields[1].into(),
        available: fields[4].parse::<u64>().with_context(|| format!("df's available column in: {line}"))? * 1024,
        mount: fields[6..].join(" "),
    })
}

fn is_ram_fs(fs_type: &str) -> bool {
    matches!(fs_type, "tmpfs" | "ramfs")
}

/// The directory the working directory goes in: a disk-backed one, because a RAM file
/// system would measure memory copies and count the files against RAM.
fn choose_base(requested: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    if let Some(dir) = requested {
        std::fs::create_dir_all(&dir).with_context(|| format!("creating --dir {}", dir.display()))?;
        let disk = disk_of(&dir)?;
        if is_ram_fs(&disk.fs_type) {
            eprintln!(
                "warning: --dir {} is on {} (RAM): the figures will not reflect a disk",
                dir.display(),
                disk.fs_type
            );
        }
        return Ok(dir);
    }
    let temp = std::env::temp_dir();
    if !is_ram_fs(&disk_of(&temp)?.fs_type) {
        return Ok(temp);
    }
    let here = std::env::current_dir().context("reading the current directory")?;
    eprintln!("note: {} is a RAM file system; working in {} instead", temp.display(), here.display());
    Ok(here)
}

// ---------------------------------------------------------------------------------------
// Files

/// Writes `size` pseudo-random bytes one block at a time (never the whole file in memory)
/// and returns their SHA-256. Random bytes, so that nothing along the way can compress them.
async fn generate(path: &Path, size: u64) -> anyhow::Result<String> {
    let mut file =
        tokio::fs::File::create(path).await.with_context(|| format!("creating the input file {}", path.display()))?;
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x4149_524c_4f43_4b21);
    let mut hasher = Sha256::new();
    let mut block = vec![0u8; MIB as usize];
    let mut left = size;
    while left > 0 {
        let n = left.min(MIB) as usize;
        rng.fill_bytes(&mut block[..n]);
        hasher.update(&block[..n]);
        file.write_all(&block[..n]).await.with_context(|| format!("writing the input file {}", path.display()))?;
        left -= n as u64;
    }
    file.flush().await?;
    Ok(hex::encode(hasher.finalize()))
}

async fn sha256_of(mut reader: impl tokio::io::AsyncRead + Unpin) -> std::io::Result<(String, u64)> {
    let mut hasher = Sha256::new();
    let mut block = vec![0u8; MIB as usize];
    let mut size = 0u64;
    loop {
        let n = reader.read(&mut block).await?;
        if n == 0 {
            return Ok((hex::encode(hasher.finalize()), size));
        }
        hasher.update(&block[..n]);
        size += n as u64;
    }
}

async fn sha256_of_file(path: &Path) -> anyhow::Result<String> {
    let file = tokio::fs::File::open(path).await.with_context(|| format!("opening {}", path.display()))?;
    Ok(sha256_of(file).await.with_context(|| format!("reading {}", path.display()))?.0)
}

fn remove_dir(path: &Path) {
    if let Err(e) = std::fs::remove_dir_all(path) {
        if e.kind() != std::io::ErrorKind::NotFound {
            eprintln!("warning: could not remove {}: {e}", path.display());
        }
    }
}

// ---------------------------------------------------------------------------------------
// Results

struct Row {
    tool: String,
    mib_per_s: f64,
    peak_rss_mib: Option<f64>,
    notes: String,
}

fn throughput(size_mib: u64, seconds: f64) -> f64 {
    size_mib as f64 / seconds
}

fn print_table(rows: &[Row]) {
    let width = rows.iter().map(|r| r.tool.len()).max().unwrap_or(4).max(4);
    println!("\n{:<width$}  {:>8}  {:>13}  notes", "tool", "MiB/s", "peak RSS MiB");
    println!("{}", "-".repeat(width + 2 + 8 + 2 + 13 + 2 + 40));
    for row in rows {
        let rss = row.peak_rss_mib.map(|m| format!("{m:.1}")).unwrap_or_else(|| "n/a".into());
        println!("{:<width$}  {:>8.1}  {:>13}  {}", row.tool, row.mib_per_s, rss, row.notes);
    }
}

fn cpu_note(cpu: Option<Cpu>, seconds: f64) -> String {
    match cpu {
        Some(cpu) => format!("{seconds:.1} s wall, CPU {:.1} s user + {:.1} s sys", cpu.user, cpu.sys),
        None => format!("{seconds:.1} s wall"),
    }
}

// ---------------------------------------------------------------------------------------
// Airlock

fn check_event(side: &str, events: Vec<SyncEvent>) -> anyhow::Result<SyncEvent> {
    ensure!(events.len() == 1, "platform {side} started {} sync(s), expected one", events.len());
    let event = events.into_iter().next().expect("one event");
    let rows: Vec<String> = event.resources.iter().map(|r| format!("{:?}: {}", r.outcome, r.message)).collect();
    ensure!(
        matches!(event.state, SyncState::Finished(Health::Success))
            && event.updated == 1
            && event.resources.iter().all(|r| r.outcome == ResourceOutcome::Updated),
        "platform {side}'s sync did not move the file: {:?}, {} update(s), message '{}', rows {rows:?}",
        event.state,
        event.updated,
        event.message
    );
    Ok(event)
}

struct AirlockFigures {
    upload: Phase,
    publish: Phase,
    receive: Phase,
    /// VmRSS after setup (both platforms started, file uploaded and shared), KiB.
    baseline: Option<u64>,
    /// VmHWM of the whole run up to the end of setup, KiB.
    setup_peak: Option<u64>,
    outbox_bytes: u64,
    /// Partial uploads still being written when A's, then B's sync had reported finished.
    publish_leftover: Staged,
    receive_leftover: Staged,
}

async fn run_airlock(args: &Args, input: &Path, input_sha: &str, state: &Path) -> anyhow::Result<AirlockFigures> {
    let size = args.size_mib * MIB;
    // Generous: the point is to measure, not to fail on a slow shared machine.
    let timeout = Duration::from_secs(600 + args.size_mib * 2);
    let peak_resets = reset_peak_rss();
    if !peak_resets {
        eprintln!("note: this kernel refuses to reset VmHWM; each phase's peak includes the phases before it");
    }

    let mut setup = PairSetup::embedded(state);
    setup.settings.chunk_size = args.chunk_kib * 1024;
    if let Some(ack_wait) = args.ack_wait {
        setup.bus_a = Arc::new(InProcessBus::with_ack_wait(ack_wait));
        setup.bus_b = Arc::new(InProcessBus::with_ack_wait(ack_wait));
    }
    // Kept alive for the whole run when the exchange is an S3 bucket (multipart uploads).
    let mut _s3_server = None;
    if args.s3 {
        let server = airlock_store::testing::LocalServer::s3().map_err(anyhow::Error::msg)?;
        let config = server.new_bucket("EXCHANGE").map_err(anyhow::Error::msg)?;
        setup.exchange = Some(airlock_store::StoreRegistry::from_configs(&[config])?.get("EXCHANGE")?);
        _s3_server = Some(server);
    }
    let pair = Pair::start(setup).await.context("starting platforms A and B")?;

    let clock = PhaseClock::start(peak_resets);
    let file = tokio::fs::File::open(input).await.with_context(|| format!("opening {}", input.display()))?;
    let (resource, revision) =
        airlock_services::registry::upload(&pair.a.ctx, "alice", "large.bin", "INTERNAL", Default::default(), file)
            .await
            .context("uploading the input into A's registry")?;
    let upload = clock.stop();
    ensure!(
        revision.size == size && revision.sha256 == input_sha,
        "A's registry stored {} bytes with SHA-256 {}, expected {size} bytes with {input_sha}",
        revision.size,
        revision.sha256
    );
    pair.share(&resource.id).await.context("sharing the file with A's sending connection")?;
    flush_disk().await;
    let setup_peak = status_kib("VmHWM");
    let baseline = status_kib("VmRSS");

    println!("A: publishing (registry -> encrypt -> outbox) ...");
    let clock = PhaseClock::start(peak_resets);
    let sent = pair.a.sync(timeout).await.context("A's publish")?;
    let publish = clock.stop();
    check_event("A", sent)?;
    let (outbox_bytes, publish_leftover) =
        if args.s3 { (bucket_size(&pair.exchange).await?, Staged::default()) } else { dir_size(&pair.exchange_dir) };
    warn_leftover("A's publish", "outbox", &publish_leftover);
    flush_disk().await;

    println!("B: receiving (inbox -> decrypt+verify -> registry) ...");
    let clock = PhaseClock::start(peak_resets);
    let received = pair.b.sync(timeout).await.context("B's poll and ingest")?;
    let receive = clock.stop();
    check_event("B", received)?;
    // The pair keeps B's registry in registry-b under its directory.
    let receive_leftover = dir_size(&state.join("registry-b")).1;
    warn_leftover("B's receive", "registry", &receive_leftover);

    // Verified outside the pipeline: hash B's stored copy ourselves rather than trust its checks.
    let at_b = airlock_services::registry::files_visible_to(&pair.b.ctx, BOB).await.context("listing B's files")?;
    let arrived =
        at_b.iter().find(|r| r.name == "large.bin").ok_or_else(|| anyhow!("large.bin is not visible at B"))?;
    let stored =
        pair.b.ctx.repo.latest_revision(&arrived.id).await?.ok_or_else(|| anyhow!("large.bin at B has no revision"))?;
    let reader = airlock_store::reader(&pair.b.ctx.registry_store()?, &stored.blob_key)
        .await
        .with_context(|| format!("opening B's copy {}", stored.blob_key))?;
    let (sha, got) = sha256_of(reader).await.context("reading B's copy")?;
    ensure!(
        got == size && sha == input_sha,
        "B's copy differs from the input: {got} bytes with SHA-256 {sha}, expected {size} bytes with {input_sha}"
    );
    println!("B's copy: {got} bytes, SHA-256 {sha} = input's");

    Ok(AirlockFigures {
        upload,
        publish,
        receive,
        baseline,
        setup_peak,
        outbox_bytes,
        publish_leftover,
        receive_leftover,
    })
}

/// Partial multipart uploads of the local-file store (`<object>#<n>` files).
#[derive(Default)]
struct Staged {
    files: usize,
    bytes: u64,
}

/// Bytes of committed objects under `path`, and the partial uploads beside them.
/// Bytes of every object in a bucket (in-progress multipart uploads are not listed).
async fn bucket_size(store: &Arc<dyn airlock_store::object_store::ObjectStore>) -> anyhow::Result<u64> {
    use futures::TryStreamExt;
    let objects: Vec<_> = store.list(None).try_collect().await.context("listing the exchange bucket")?;
    Ok(objects.iter().map(|o| o.size).sum())
}

fn dir_size(path: &Path) -> (u64, Staged) {
    let mut committed = 0;
    let mut staged = Staged::default();
    let Ok(entries) = std::fs::read_dir(path) else { return (committed, staged) };
    for entry in entries.flatten() {
        match entry.file_type() {
            Ok(t) if t.is_dir() => {
                let (c, s) = dir_size(&entry.path());
                committed += c;
                staged.files += s.files;
                staged.bytes += s.bytes;
            }
            _ => {
                let len = entry.metadata().map(|m| m.len()).unwrap_or(0);
                if entry.file_name().to_string_lossy().contains('#') {
                    staged.files += 1;
                    staged.bytes += len;
                } else {
                    committed += len;
                }
            }
        }
    }
    (committed, staged)
}

/// A partial upload left after a sync reported finished means a second run of the same
/// stage is still going: the bus redelivered the message when the first run outlived its
/// ack deadline. That run competes for CPU and disk with what is measured next.
fn warn_leftover(phase: &str, place: &str, staged: &Staged) {
    if staged.files > 0 {
        eprintln!(
            "warning: after {phase} reported finished, {} partial upload(s) ({:.1} MiB) were still being written \
             in the {place}: the stage outlived the bus's ack deadline and was redelivered, so a duplicate run \
             is going on (see the WARN lines); figures measured after this are disturbed (--ack-wait-secs \
             raises the deadline)",
            staged.files,
            staged.bytes as f64 / MIB as f64
        );
    }
}

fn disturbed(staged: &Staged) -> &'static str {
    if staged.files > 0 {
        "; DISTURBED by a redelivered duplicate"
    } else {
        ""
    }
}

fn airlock_rows(args: &Args, f: &AirlockFigures, rows: &mut Vec<Row>) {
    let size = args.size_mib;
    let over = |phase: &Phase| match (phase.peak, f.baseline) {
        (Some(peak), Some(base)) => format!(
            "+{:.1} MiB over the {:.1} MiB after setup",
            mib_of_kib(peak.saturating_sub(base)),
            mib_of_kib(base)
        ),
        _ => "growth unknown".into(),
    };
    rows.push(Row {
        tool: "airlock A publish".into(),
        mib_per_s: throughput(size, f.publish.seconds),
        peak_rss_mib: f.publish.peak.map(mib_of_kib),
        notes: format!(
            "{}; {}{}",
            cpu_note(f.publish.cpu, f.publish.seconds),
            over(&f.publish),
            disturbed(&f.publish_leftover)
        ),
    });
    rows.push(Row {
        tool: "airlock B receive".into(),
        mib_per_s: throughput(size, f.receive.seconds),
        peak_rss_mib: f.receive.peak.map(mib_of_kib),
        notes: format!(
            "{}; {}{}",
            cpu_note(f.receive.cpu, f.receive.seconds),
            over(&f.receive),
            // A duplicate publish still running slows B down as much as its own duplicate.
            if f.publish_leftover.files > 0 { disturbed(&f.publish_leftover) } else { disturbed(&f.receive_leftover) }
        ),
    });
    let total = f.publish.seconds + f.receive.seconds;
    let total_cpu = f.publish.cpu.zip(f.receive.cpu).map(|(a, b)| a + b);
    rows.push(Row {
        tool: "airlock end to end".into(),
        mib_per_s: throughput(size, total),
        peak_rss_mib: f.publish.peak.max(f.receive.peak).map(mib_of_kib),
        notes: format!(
            "{}; SHA-256 verified{}",
            cpu_note(total_cpu, total),
            if f.publish_leftover.files > 0 { disturbed(&f.publish_leftover) } else { disturbed(&f.receive_leftover) }
        ),
    });
}

// ---------------------------------------------------------------------------------------
// Comparisons

async fn run_comparisons(args: &Args, input: &Path, input_sha: &str, work: &Path, rows: &mut Vec<Row>) {
    let size = args.size_mib;
    for (program, flag) in [("rclone", "version"), ("openssl", "version")] {
        if let Ok(output) = std::process::Command::new(program).arg(flag).output() {
            let text = String::from_utf8_lossy(&output.stdout);
            println!("{}", text.lines().next().unwrap_or(program));
        }
    }
    if have_program("rclone") {
        if let Err(e) = rclone_plain(size, input, input_sha, work, rows).await {
            eprintln!("rclone copy comparison failed: {e:#}");
        }
        if let Err(e) = rclone_crypt(size, input, input_sha, work, rows).await {
            eprintln!("rclone crypt comparison failed: {e:#}");
        }
    } else {
        eprintln!("rclone is not installed (apt-get install rclone): skipping its comparisons");
    }
    if have_program("openssl") && have_program("sha256sum") {
        if let Err(e) = openssl(size, input, input_sha, work, rows).await {
            eprintln!("openssl comparison failed: {e:#}");
        }
    } else {
        eprintln!("openssl or sha256sum is not installed: skipping the raw-cipher reference");
    }
}

fn rss_mib(e: &External) -> Option<f64> {
    e.max_rss_kib.map(mib_of_kib)
}

fn path_str(path: &Path) -> anyhow::Result<&str> {
    path.to_str().ok_or_else(|| anyhow!("path {} is not UTF-8", path.display()))
}

/// `rclone copy` from one local directory to another: what moving the file costs with no
/// encryption at all.
async fn rclone_plain(
    size: u64,
    input: &Path,
    input_sha: &str,
    work: &Path,
    rows: &mut Vec<Row>,
) -> anyhow::Result<()> {
    let out = work.join("rclone-plain-out");
    let result = rclone_plain_steps(size, input, input_sha, work, &out, rows).await;
    remove_dir(&out);
    result
}

async fn rclone_plain_steps(
    size: u64,
    input: &Path,
    input_sha: &str,
    work: &Path,
    out: &Path,
    rows: &mut Vec<Row>,
) -> anyhow::Result<()> {
    // An empty config of our own, so a user's ~/.config/rclone cannot change the result.
    let config = work.join("rclone-plain.conf");
    std::fs::write(&config, "").context("writing an empty rclone config")?;
    println!("rclone copy (plain) ...");
    let run = run_measured(
        "rclone",
        &["--config", path_str(&config)?, "copy", path_str(input)?, path_str(out)?],
        &work.join("time.txt"),
    )
    .await?;
    flush_disk().await;
    let copied = out.join(input.file_name().expect("the input has a file name"));
    ensure!(sha256_of_file(&copied).await? == input_sha, "rclone's plain copy differs from the input");
    rows.push(Row {
        tool: "rclone copy (plain)".into(),
        mib_per_s: throughput(size, run.seconds),
        peak_rss_mib: rss_mib(&run),
        notes: format!("{}; no encryption; SHA-256 verified", cpu_note(run.cpu, run.seconds)),
    });
    Ok(())
}

/// `rclone` through a `crypt` remote over a local directory: rclone's own authenticated
/// encryption (XSalsa20-Poly1305 in 64 KiB blocks), the closest thing a user would pick.
/// Encrypting in is the counterpart of A's publish, decrypting out of B's receive.
async fn rclone_crypt(
    size: u64,
    input: &Path,
    input_sha: &str,
    work: &Path,
    rows: &mut Vec<Row>,
) -> anyhow::Result<()> {
    let store = work.join("rclone-crypt-store");
    let out = work.join("rclone-crypt-out");
    let result = rclone_crypt_steps(size, input, input_sha, work, &store, &out, rows).await;
    remove_dir(&store);
    remove_dir(&out);
    result
}

async fn rclone_crypt_steps(
    size: u64,
    input: &Path,
    input_sha: &str,
    work: &Path,
    store: &Path,
    out: &Path,
    rows: &mut Vec<Row>,
) -> anyhow::Result<()> {
    // The config holds only obscured passwords (rclone's format), and only in the work dir.
    let obscure = |secret: String| async move {
        let mut child = tokio::process::Command::new("rclone")
            .args(["obscure", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .context("could not start rclone obscure")?;
        // From stdin, so the password never appears in a process listing.
        child.stdin.take().expect("piped").write_all(secret.as_bytes()).await?;
        let output = child.wait_with_output().await?;
        ensure!(output.status.success(), "rclone obscure failed: {}", String::from_utf8_lossy(&output.stderr).trim());
        anyhow::Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
    };
    let password = obscure(airlock_local::pair::random_secret(32)).await?;
    let salt = obscure(airlock_local::pair::random_secret(32)).await?;
    let config = work.join("rclone-crypt.conf");
    std::fs::write(
        &config,
        format!(
            "[bench-crypt]\ntype = crypt\nremote = {}\npassword = {password}\npassword2 = {salt}\n",
            path_str(store)?
        ),
    )
    .context("writing the rclone crypt config")?;
    let config = path_str(&config)?.to_owned();
    let time_out = work.join("time.txt");

    println!("rclone crypt: encrypting in ...");
    let encrypt =
        run_measured("rclone", &["--config", &config, "copy", path_str(input)?, "bench-crypt:"], &time_out).await?;
    flush_disk().await;
    let stored_bytes = dir_size(store).0;
    println!("rclone crypt: decrypting out ...");
    let decrypt =
        run_measured("rclone", &["--config", &config, "copy", "bench-crypt:", path_str(out)?], &time_out).await?;
    flush_disk().await;
    let copied = out.join(input.file_name().expect("the input has a file name"));
    ensure!(sha256_of_file(&copied).await? == input_sha, "rclone crypt's round trip differs from the input");

    rows.push(Row {
        tool: "rclone crypt encrypt".into(),
        mib_per_s: throughput(size, encrypt.seconds),
        peak_rss_mib: rss_mib(&encrypt),
        notes: format!(
            "{}; {:.1} MiB stored",
            cpu_note(encrypt.cpu, encrypt.seconds),
            stored_bytes as f64 / MIB as f64
        ),
    });
    rows.push(Row {
        tool: "rclone crypt decrypt".into(),
        mib_per_s: throughput(size, decrypt.seconds),
        peak_rss_mib: rss_mib(&decrypt),
        notes: cpu_note(decrypt.cpu, decrypt.seconds),
    });
    let total = encrypt.seconds + decrypt.seconds;
    rows.push(Row {
        tool: "rclone crypt end to end".into(),
        mib_per_s: throughput(size, total),
        peak_rss_mib: encrypt.max_rss_kib.max(decrypt.max_rss_kib).map(mib_of_kib),
        notes: format!("{}; SHA-256 verified", cpu_note(encrypt.cpu.zip(decrypt.cpu).map(|(a, b)| a + b), total)),
    });
    Ok(())
}

/// `openssl enc -aes-256-ctr` in, then decrypt piped through `sha256sum`: the cipher and
/// hash alone with plain file I/O, no authentication and no framing, as a ceiling.
async fn openssl(size: u64, input: &Path, input_sha: &str, work: &Path, rows: &mut Vec<Row>) -> anyhow::Result<()> {
    let encrypted = work.join("openssl.enc");
    let decrypted = work.join("openssl.out");
    let result = openssl_steps(size, input, input_sha, work, &encrypted, &decrypted, rows).await;
    for path in [&encrypted, &decrypted] {
        let _ = std::fs::remove_file(path);
    }
    result
}

async fn openssl_steps(
    size: u64,
    input: &Path,
    input_sha: &str,
    work: &Path,
    encrypted: &Path,
    decrypted: &Path,
    rows: &mut Vec<Row>,
) -> anyhow::Result<()> {
    let mut key = [0u8; 32];
    let mut iv = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut key);
    rand::thread_rng().fill_bytes(&mut iv);
    let (key, iv) = (hex::encode(key), hex::encode(iv));
    let time_out = work.join("time.txt");

    println!("openssl: encrypting ...");
    let encrypt = run_measured(
        "openssl",
        &["enc", "-e", "-aes-256-ctr", "-K", &key, "-iv", &iv, "-in", path_str(input)?, "-out", path_str(encrypted)?],
        &time_out,
    )
    .await?;
    flush_disk().await;
    println!("openssl: decrypting through sha256sum ...");
    let decrypt = run_measured(
        "bash",
        &[
            "-c",
            r#"set -o pipefail; openssl enc -d -aes-256-ctr -K "$1" -iv "$2" -in "$3" | tee "$4" | sha256sum"#,
            "bash",
            &key,
            &iv,
            path_str(encrypted)?,
            path_str(decrypted)?,
        ],
        &time_out,
    )
    .await?;
    flush_disk().await;
    let sha = decrypt.stdout.split_whitespace().next().unwrap_or_default();
    ensure!(sha == input_sha, "openssl's round trip differs from the input (SHA-256 {sha})");

    rows.push(Row {
        tool: "openssl aes-256-ctr enc".into(),
        mib_per_s: throughput(size, encrypt.seconds),
        peak_rss_mib: rss_mib(&encrypt),
        notes: format!("{}; no MAC, no hash", cpu_note(encrypt.cpu, encrypt.seconds)),
    });
    rows.push(Row {
        tool: "openssl dec | sha256sum".into(),
        mib_per_s: throughput(size, decrypt.seconds),
        peak_rss_mib: rss_mib(&decrypt),
        notes: format!("{}; no MAC; SHA-256 verified", cpu_note(decrypt.cpu, decrypt.seconds)),
    });
    Ok(())
}

// ---------------------------------------------------------------------------------------

async fn run(args: &Args, work: &Path) -> anyhow::Result<()> {
    let size = args.size_mib * MIB;
    let disk = disk_of(work)?;
    // Input + A's registry + outbox + B's registry exist at once; the comparisons need less.
    let needed = 4 * size + 512 * MIB;
    ensure!(
        disk.available >= needed,
        "{} ({} on {}) has {:.1} GiB free, the bench needs about {:.1} GiB (4 x the file size)",
        work.display(),
        disk.fs_type,
        disk.mount,
        disk.available as f64 / (1u64 << 30) as f64,
        needed as f64 / (1u64 << 30) as f64
    );
    println!(
        "airlock-bench: {} MiB file, {} KiB chunks, bus ack deadline {}, {} CPU(s), working in {} ({} on {}, {:.1} GiB free)",
        args.size_mib,
        args.chunk_kib,
        args.ack_wait.map(|d| format!("{} s", d.as_secs())).unwrap_or_else(|| "default".into()),
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        work.display(),
        disk.fs_type,
        disk.mount,
        disk.available as f64 / (1u64 << 30) as f64
    );

    let input_dir = work.join("input");
    std::fs::create_dir_all(&input_dir)?;
    let input = input_dir.join("large.bin");
    let started = Instant::now();
    let input_sha = generate(&input, size).await?;
    flush_disk().await;
    println!("input: {} ({:.1} s to generate), SHA-256 {input_sha}", input.display(), started.elapsed().as_secs_f64());

    let state = work.join("airlock");
    let figures = run_airlock(args, &input, &input_sha, &state).await;
    // The platforms are stopped (dropped) by now; their files go before the comparisons
    // so that the disk holds at most about 4 x the file size at any time.
    remove_dir(&state);
    let figures = figures?;

    let mut rows = Vec::new();
    airlock_rows(args, &figures, &mut rows);
    if args.compare {
        run_comparisons(args, &input, &input_sha, work, &mut rows).await;
    }

    println!("\nAirlock setup (not part of the pipeline figures):");
    println!(
        "  upload into A's registry: {:.1} MiB/s ({})",
        throughput(args.size_mib, figures.upload.seconds),
        cpu_note(figures.upload.cpu, figures.upload.seconds)
    );
    if let (Some(start), Some(peak)) = (figures.upload.start_rss, figures.upload.peak) {
        println!("  RSS before upload {:.1} MiB, peak during upload {:.1} MiB", mib_of_kib(start), mib_of_kib(peak));
    }
    if let (Some(base), Some(peak)) = (figures.baseline, figures.setup_peak) {
        println!(
            "  RSS after setup (baseline) {:.1} MiB; peak of the whole run until then {:.1} MiB",
            mib_of_kib(base),
            mib_of_kib(peak)
        );
    }
    for (name, phase) in [("publish", &figures.publish), ("receive", &figures.receive)] {
        if let (Some(start), Some(peak)) = (phase.start_rss, phase.peak) {
            println!(
                "  {name}: RSS {:.1} MiB at start, peak {:.1} MiB (+{:.1} MiB within the phase)",
                mib_of_kib(start),
                mib_of_kib(peak),
                mib_of_kib(peak.saturating_sub(start))
            );
        }
    }
    println!(
        "  outbox: {} bytes for a {size}-byte file ({} KiB chunks; header, 16-byte tags and manifest add {} bytes)",
        figures.outbox_bytes,
        args.chunk_kib,
        figures.outbox_bytes.saturating_sub(size)
    );
    print_table(&rows);
    println!("\nwarm page cache: every input was just written and fits in RAM; `sync` runs between steps, outside the timings");
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = parse_args()?;
    if std::env::var("AIRLOCK_LOG_LEVEL").is_err() {
        std::env::set_var("AIRLOCK_LOG_LEVEL", "warn");
    }
    airlock_runtime::init_logging();
    let base = choose_base(args.dir.clone())?;
    let work = tempfile::Builder::new()
        .prefix("airlock-bench-")
        .tempdir_in(&base)
        .with_context(|| format!("creating a working directory in {}", base.display()))?;
    // On Ctrl-C the run is dropped (stopping the platforms and killing child processes)
    // and the working directory with its large files is removed below.
    let result = tokio::select! {
        result = run(&args, work.path()) => result,
        _ = tokio::signal::ctrl_c() => Err(anyhow!("interrupted")),
    };
    let path = work.path().to_owned();
    if let Err(e) = work.close() {
        eprintln!("warning: could not remove the working directory {}: {e}", path.display());
    }
    result
}
