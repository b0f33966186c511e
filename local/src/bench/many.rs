//! The many-files mode: N files of K KiB each, uploaded and shared at A, then three syncs
//! timed on both sides — the first (every file moves), an idle one (nothing changed) and
//! one with a single file changed — beside rclone copy and rclone crypt on the same files.
//!
//! A side's time runs from asking for the sync (what `POST …/sync` does) to the moment its
//! sync event was recorded finished; B's first sync is also timed until B holds every file,
//! which can be well before its event has folded every status report.

use super::args::Args;
use super::disk::{dir_size, disk_with_room, file_name, generate_files, remove_dir, sha256_of, tree_digest};
use super::proc::{mib_of_kib, Cpu, Meter, Phase, PhaseClock};
use super::processes;
use super::report::cpu_note;
use super::run::{bucket_size, start_pair};
use super::tools::{self, flush_disk, have_program, External, Input};
use super::MIB;
use crate::pair::{Pair, ALICE, BOB};
use crate::progress::{Bar, Progress};
use airlock_domain::{now_millis, Connection, Health, Millis};
use airlock_repo::{SyncEvent, SyncState};
use airlock_runtime::Context;
use anyhow::{anyhow, ensure, Context as _};
use rand::RngCore;
use std::path::Path;
use std::time::{Duration, Instant};

/// How often the bench looks at the database while a sync runs: soon at first, then less
/// often. Each look reads the event's counters only. Times come from the database's own
/// timestamps, so this only bounds how late the bench notices.
const FIRST_POLL: Duration = Duration::from_millis(10);
const LAST_POLL: Duration = Duration::from_millis(500);

/// One side of one sync.
struct Timed {
    /// When the sync was asked for.
    asked: Millis,
    /// From asking for the sync to its event finishing, from the event's timestamps.
    seconds: f64,
    phase: Phase,
    event: SyncEvent,
}

/// One line of the table.
struct Line {
    step: String,
    seconds: f64,
    /// Files moved in this step, for a rate (none for the steps that move nothing).
    files: Option<u64>,
    bytes: Option<u64>,
    peak_kib: Option<u64>,
    notes: String,
}

pub async fn run(args: &Args, count: u64, work: &Path) -> anyhow::Result<()> {
    let file_bytes = args.file_kib * 1024;
    let total = count * file_bytes;
    // Input + A's registry + outbox + B's registry, then rclone's copies, with room for
    // the file system's blocks (a 4 KiB file takes at least one).
    let disk = disk_with_room(work, 5 * (total + count * 4096) + 512 * MIB, "")?;
    println!(
        "airlock-bench: {count} files x {} KiB ({:.1} MiB), {} KiB chunks, bus ack deadline {}, {} CPU(s), working in {} ({} on {})",
        args.file_kib,
        total as f64 / MIB as f64,
        args.chunk_kib,
        args.ack_wait.map(|d| format!("{} s", d.as_secs())).unwrap_or_else(|| "default".into()),
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        work.display(),
        disk.fs_type,
        disk.mount,
    );

    let input_dir = work.join("input");
    let started = Instant::now();
    let files = generate_files(&input_dir, count, args.file_kib).await?;
    flush_disk().await;
    let input = Input { path: input_dir.clone(), digest: tree_digest(&files), is_dir: true };
    println!("input: {count} files in {} ({:.1} s to generate)", input_dir.display(), started.elapsed().as_secs_f64());

    let state = work.join("airlock");
    let lines = airlock(args, count, file_bytes, &input, &state).await;
    // The platforms are stopped by now; their files go before the comparisons.
    remove_dir(&state);
    let mut lines = lines?;
    if args.compare {
        lines.extend(comparisons(&input, count, total, work).await);
    }
    print_lines(&lines);
    let whose = match args.processes {
        Some(_) => "the highest of that side's function processes within the step (each one's in the notes)",
        None => "this process's (both platforms) within the step",
    };
    println!(
        "\nseconds: wall time; a sync's runs from asking for it to its event's finish time. Peak RSS is {whose}, \
         or the tool's own."
    );
    Ok(())
}

/// Both platforms, their functions in this process or (`--processes`) in processes of
/// their own, through every step; the processes are stopped whatever happened.
async fn airlock(args: &Args, count: u64, file_bytes: u64, input: &Input, state: &Path) -> anyhow::Result<Vec<Line>> {
    let this = Meter::this_process();
    match &args.processes {
        Some(nats) => {
            let (pair, processes) = processes::start(args, nats, state).await?;
            let (meter_a, meter_b) = processes.meters();
            let lines = steps(args, &pair, (&this, &meter_a, &meter_b), count, file_bytes, input).await;
            processes.stop().await;
            lines
        }
        None => {
            // Kept alive as long as the pair when the exchange is an S3 bucket.
            let (pair, _s3_server) = start_pair(args, state).await?;
            steps(args, &pair, (&this, &this, &this), count, file_bytes, input).await
        }
    }
}

/// The setup and the three syncs. The meters count the setup (this process) and A's and
/// B's steps.
async fn steps(
    args: &Args,
    pair: &Pair,
    (this, meter_a, meter_b): (&Meter, &Meter, &Meter),
    count: u64,
    file_bytes: u64,
    input: &Input,
) -> anyhow::Result<Vec<Line>> {
    let total = count * file_bytes;
    let timeout = Duration::from_secs(600 + count / 10);
    println!("setup: uploading and sharing {count} files at A ...");
    let clock = PhaseClock::start(this);
    let mut first_resource = None;
    for index in 0..count {
        let name = file_name(index);
        let path = input.path.join(&name);
        let file = tokio::fs::File::open(&path).await.with_context(|| format!("opening {}", path.display()))?;
        let (resource, _) =
            airlock_services::registry::upload(&pair.a.ctx, ALICE, &name, "INTERNAL", Default::default(), file)
                .await
                .with_context(|| format!("uploading {name} into A's registry"))?;
        pair.share(&resource.id).await.with_context(|| format!("sharing {name} with A's sending connection"))?;
        first_resource.get_or_insert(resource.id);
    }
    let setup = clock.stop();
    println!("setup: {}", cpu_note(setup.cpu, setup.seconds));
    flush_disk().await;

    let mut lines = Vec::new();
    println!("first sync: A publishing {count} files ...");
    let sent = sync(&pair.a.ctx, &pair.sending, meter_a, timeout).await.context("A's first publish")?;
    check("A's first sync", &sent.event, count)?;
    let outbox_bytes = if args.s3 { bucket_size(&pair.exchange).await? } else { dir_size(&pair.exchange_dir).0 };
    flush_disk().await;
    println!("first sync: B receiving ...");
    let received = receive_all(pair, count, meter_b, timeout).await.context("B's first receive")?;
    check("B's first sync", &received.event, count)?;
    let last_arrival = verify_b(pair, input, count).await?;
    let held = (last_arrival - received.asked).max(0) as f64 / 1000.0;
    flush_disk().await;

    let rate = |t: f64| format!("{:.0} files/s", count as f64 / t);
    lines.push(sync_line(
        "airlock A publish",
        &sent,
        Some((count, total)),
        format!("outbox {:.1} MiB", mib(outbox_bytes)),
    ));
    lines.push(Line {
        step: "airlock B receive (every file held)".into(),
        seconds: held,
        files: Some(count),
        bytes: Some(total),
        peak_kib: received.phase.peak,
        notes: "until the last file's record at B; names and SHA-256 of every file checked".into(),
    });
    lines.push(sync_line("airlock B receive (event finished)", &received, Some((count, total)), String::new()));
    lines.push(Line {
        step: "airlock end to end".into(),
        seconds: sent.seconds + held,
        files: Some(count),
        bytes: Some(total),
        peak_kib: sent.phase.peak.max(received.phase.peak),
        notes: format!("A publish + B every file held; {}", rate(sent.seconds + held)),
    });

    println!("idle sync: nothing changed ...");
    let idle_a = sync(&pair.a.ctx, &pair.sending, meter_a, timeout).await.context("A's idle sync")?;
    check("A's idle sync", &idle_a.event, 0)?;
    let idle_b = sync(&pair.b.ctx, &pair.receiving, meter_b, timeout).await.context("B's idle sync")?;
    check("B's idle sync", &idle_b.event, 0)?;
    lines.push(sync_line("airlock idle sync A", &idle_a, None, String::new()));
    lines.push(sync_line("airlock idle sync B", &idle_b, None, String::new()));

    println!("1-file change: a new revision of one file ...");
    let changed = first_resource.ok_or_else(|| anyhow!("no file was uploaded"))?;
    let mut content = vec![0u8; file_bytes as usize];
    rand::thread_rng().fill_bytes(&mut content);
    airlock_services::registry::upload_revision(&pair.a.ctx, ALICE, &changed, content.as_slice())
        .await
        .context("a new revision of one file at A")?;
    let change_a = sync(&pair.a.ctx, &pair.sending, meter_a, timeout).await.context("A's 1-file sync")?;
    check("A's 1-file sync", &change_a.event, 1)?;
    let change_b = sync(&pair.b.ctx, &pair.receiving, meter_b, timeout).await.context("B's 1-file sync")?;
    check("B's 1-file sync", &change_b.event, 1)?;
    verify_changed(pair, &content).await?;
    lines.push(sync_line("airlock 1-file change A", &change_a, Some((1, file_bytes)), String::new()));
    lines.push(sync_line(
        "airlock 1-file change B",
        &change_b,
        Some((1, file_bytes)),
        "new content checked at B".into(),
    ));
    Ok(lines)
}

/// Asks for a sync of one connection as the api's "sync now" does and waits for its event
/// to finish.
async fn sync(ctx: &Context, connection: &Connection, meter: &Meter, timeout: Duration) -> anyhow::Result<Timed> {
    let clock = PhaseClock::start(meter);
    let asked = now_millis();
    let sync_id = airlock_scheduler::start_sync(ctx, connection).await?;
    let event = finished(ctx, &sync_id, timeout).await?;
    Ok(timed(asked, event, clock.stop()))
}

/// B's first sync: waits until B holds every file, then until its event finished.
async fn receive_all(pair: &Pair, count: u64, meter: &Meter, timeout: Duration) -> anyhow::Result<Timed> {
    let ctx = &pair.b.ctx;
    let clock = PhaseClock::start(meter);
    let asked = now_millis();
    let started = Instant::now();
    let sync_id = airlock_scheduler::start_sync(ctx, &pair.receiving).await?;
    let mut poll = FIRST_POLL;
    let mut bar: Option<Bar> = None;
    loop {
        // The event's counters, not the files: a look costs the same at any size.
        let head = ctx.repo.sync_event_head(&sync_id).await?;
        let held = head.as_ref().map_or(0, |e| u64::from(e.rows - e.failed));
        if held >= count {
            if let Some(bar) = bar {
                bar.finish();
            }
            break;
        }
        if let Some(head) = &head {
            draw_progress(ctx, head, &mut bar).await?;
        }
        ensure!(started.elapsed() < timeout, "B held {held} of {count} files after {} s", timeout.as_secs());
        tokio::time::sleep(poll).await;
        poll = (poll * 2).min(LAST_POLL);
    }
    let event = finished(ctx, &sync_id, timeout).await?;
    Ok(timed(asked, event, clock.stop()))
}

/// The progress bar of a long sync, from what the API shows (a fanned-out publish's
/// copies, a receiving sync's ingests); none for a sync too short to have totals.
async fn draw_progress(ctx: &Context, head: &SyncEvent, bar: &mut Option<Bar>) -> anyhow::Result<()> {
    let now = now_millis();
    let since = |started: Millis| Duration::from_millis((now - started).max(0) as u64);
    let progress = if let Some(run) = ctx.repo.run_progress(&head.sync_id).await? {
        Some((
            "A publish",
            Progress {
                files_done: run.settled,
                files_total: run.planned,
                bytes_done: run.settled_bytes,
                bytes_total: run.planned_bytes,
                elapsed: since(run.started_at),
            },
        ))
    } else {
        ctx.repo.receive_progress(&head.sync_id).await?.map(|p| {
            (
                "B receive",
                Progress {
                    files_done: u64::from(head.rows).min(p.files_total),
                    files_total: p.files_total,
                    bytes_done: p.bytes_done,
                    bytes_total: p.bytes_total,
                    elapsed: since(p.started_at),
                },
            )
        })
    };
    if let Some((label, progress)) = progress {
        bar.get_or_insert_with(|| Bar::new(label)).draw(&progress);
    }
    Ok(())
}

fn timed(asked: Millis, event: SyncEvent, phase: Phase) -> Timed {
    let finished_at = event.finished_at.unwrap_or(asked);
    Timed { asked, seconds: (finished_at - asked).max(0) as f64 / 1000.0, phase, event }
}

async fn finished(ctx: &Context, sync_id: &str, timeout: Duration) -> anyhow::Result<SyncEvent> {
    let deadline = Instant::now() + timeout;
    let mut poll = FIRST_POLL;
    let mut bar: Option<Bar> = None;
    loop {
        if let Some(head) = ctx.repo.sync_event_head(sync_id).await? {
            if matches!(head.state, SyncState::Finished(_)) {
                if let Some(bar) = bar {
                    bar.finish();
                }
                return ctx.repo.sync_event(sync_id).await?.ok_or_else(|| anyhow!("sync {sync_id} vanished"));
            }
            draw_progress(ctx, &head, &mut bar).await?;
        }
        ensure!(Instant::now() < deadline, "sync {sync_id} did not finish within {} s", timeout.as_secs());
        tokio::time::sleep(poll).await;
        poll = (poll * 2).min(LAST_POLL);
    }
}

fn check(what: &str, event: &SyncEvent, updated: u64) -> anyhow::Result<()> {
    ensure!(
        matches!(event.state, SyncState::Finished(Health::Success)) && u64::from(event.updated) == updated,
        "{what} did not do what was asked: {:?}, {} update(s) where {updated} were expected, {} failed, message '{}'",
        event.state,
        event.updated,
        event.failed,
        event.message
    );
    Ok(())
}

/// Hashes every file B holds ourselves rather than trust its checks, and compares names and
/// contents with the input. Returns when the last of them was recorded at B.
async fn verify_b(pair: &Pair, input: &Input, count: u64) -> anyhow::Result<Millis> {
    let at_b = airlock_services::registry::files_visible_to(&pair.b.ctx, BOB).await.context("listing B's files")?;
    ensure!(at_b.len() as u64 == count, "B shows {} files to {BOB}, expected {count}", at_b.len());
    let store = pair.b.ctx.registry_store()?;
    let mut files = Vec::with_capacity(at_b.len());
    for resource in &at_b {
        let stored = pair
            .b
            .ctx
            .repo
            .latest_revision(&resource.id)
            .await?
            .ok_or_else(|| anyhow!("{} at B has no revision", resource.name))?;
        let reader = airlock_store::reader(&store, &stored.blob_key).await?;
        files.push((resource.name.clone(), sha256_of(reader).await?.0));
    }
    ensure!(tree_digest(&files) == input.digest, "the files at B differ from the input");
    println!("B holds all {count} files, names and SHA-256 as the input's");
    Ok(at_b.iter().map(|r| r.created_at).max().unwrap_or_default())
}

async fn verify_changed(pair: &Pair, content: &[u8]) -> anyhow::Result<()> {
    let name = file_name(0);
    let at_b = airlock_services::registry::files_visible_to(&pair.b.ctx, BOB).await?;
    let resource = at_b.iter().find(|r| r.name == name).ok_or_else(|| anyhow!("{name} is not visible at B"))?;
    let bytes = airlock_services::registry::read_file(&pair.b.ctx, BOB, &resource.id).await?;
    ensure!(bytes == content, "{name} at B is not its new revision");
    Ok(())
}

fn sync_line(step: &str, timed: &Timed, moved: Option<(u64, u64)>, notes: String) -> Line {
    let cpu = cpu_note(timed.phase.cpu, timed.phase.seconds);
    let cpu = format!("{cpu}{}", peaks_note(&timed.phase));
    Line {
        step: step.into(),
        seconds: timed.seconds,
        files: moved.map(|m| m.0),
        bytes: moved.map(|m| m.1),
        peak_kib: timed.phase.peak,
        notes: if notes.is_empty() { cpu } else { format!("{cpu}; {notes}") },
    }
}

/// rclone on the same files: a plain copy, and through a crypt remote.
async fn comparisons(input: &Input, count: u64, total: u64, work: &Path) -> Vec<Line> {
    let mut lines = Vec::new();
    tools::print_versions();
    if !have_program("rclone") {
        eprintln!("rclone is not installed (apt-get install rclone): skipping its comparisons");
        return lines;
    }
    let line = |step: &str, run: &External, notes: &str| Line {
        step: step.into(),
        seconds: run.seconds,
        files: Some(count),
        bytes: Some(total),
        peak_kib: run.max_rss_kib,
        notes: format!("{}{notes}", cpu_note(run.cpu, run.seconds)),
    };
    match tools::rclone_plain(input, work).await {
        Ok(run) => lines.push(line("rclone copy (4 transfers)", &run, "; no encryption; checked")),
        Err(e) => eprintln!("rclone copy comparison failed: {e:#}"),
    }
    match tools::rclone_crypt(input, work).await {
        Ok(crypt) => {
            let (encrypt, decrypt) = (&crypt.encrypt, &crypt.decrypt);
            lines.push(line("rclone crypt encrypt", encrypt, &format!("; {:.1} MiB stored", mib(crypt.stored_bytes))));
            lines.push(line("rclone crypt decrypt", decrypt, "; checked"));
            let cpu = encrypt.cpu.zip(decrypt.cpu).map(|(a, b): (Cpu, Cpu)| a + b);
            let seconds = encrypt.seconds + decrypt.seconds;
            lines.push(Line {
                step: "rclone crypt encrypt + decrypt".into(),
                seconds,
                files: Some(count),
                bytes: Some(total),
                peak_kib: encrypt.max_rss_kib.max(decrypt.max_rss_kib),
                notes: cpu_note(cpu, seconds),
            });
        }
        Err(e) => eprintln!("rclone crypt comparison failed: {e:#}"),
    }
    lines
}

/// Each function process's peak within the step, when the step counted processes.
fn peaks_note(phase: &Phase) -> String {
    match &phase.peaks[..] {
        [] | [_] => String::new(),
        peaks => {
            let each: Vec<String> =
                peaks.iter().map(|(label, kib)| format!("{label} {:.1}", mib_of_kib(*kib))).collect();
            format!("; peak RSS MiB {}", each.join(", "))
        }
    }
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / MIB as f64
}

fn print_lines(lines: &[Line]) {
    let width = lines.iter().map(|l| l.step.len()).max().unwrap_or(4).max(4);
    println!("\n{:<width$}  {:>9}  {:>9}  {:>8}  {:>13}  notes", "step", "seconds", "files/s", "MiB/s", "peak RSS MiB");
    println!("{}", "-".repeat(width + 2 + 9 + 2 + 9 + 2 + 8 + 2 + 13 + 2 + 40));
    for line in lines {
        let per_second = |amount: Option<f64>| match amount {
            Some(amount) if line.seconds > 0.0 => format!("{:.1}", amount / line.seconds),
            _ => "-".into(),
        };
        let rss = line.peak_kib.map(|k| format!("{:.1}", mib_of_kib(k))).unwrap_or_else(|| "n/a".into());
        println!(
            "{:<width$}  {:>9.3}  {:>9}  {:>8}  {:>13}  {}",
            line.step,
            line.seconds,
            per_second(line.files.map(|f| f as f64)),
            per_second(line.bytes.map(mib)),
            rss,
            line.notes
        );
    }
}
