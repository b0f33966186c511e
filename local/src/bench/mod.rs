//! Speed and memory of moving files through the whole pipeline on the embedded default
//! (A: registry → encrypt → outbox; B: inbox → decrypt+verify → registry), next to what a
//! user would use instead, on the same files and disk in the same run: a plain
//! `rclone copy`, `rclone` through a `crypt` remote, and (for one large file) `openssl enc`
//! as a raw-cipher reference. Two modes: one large file (the default), and many small files
//! (`--files N`), which also times an idle sync and a sync with one file changed.
//!
//! Figures are printed, never asserted: the machines this runs on are shared and noisy.
//!
//! ```sh
//! cargo run --release -p airlock-local --bin airlock-bench -- --size-mib 1024 --chunk-kib 1024
//! cargo run --release -p airlock-local --bin airlock-bench -- --files 1000 --file-kib 64
//! ```
//!
//! `args` reads the command line, `proc` the readings of /proc, `disk` the working
//! disk and the files on it, `tools` the external commands (rclone, openssl, moto), `run`
//! the Airlock run of one large file, `many` the many-files mode, `processes`
//! its functions as processes of their own, `report` the table.

mod args;
mod disk;
mod many;
mod proc;
mod processes;
mod report;
mod run;
mod tools;

use anyhow::{anyhow, Context as _};
use args::Args;
use disk::{choose_base, disk_with_room, generate, remove_dir};
use proc::mib_of_kib;
use report::{cpu_note, print_table, throughput, Row};
use std::path::Path;
use std::time::Instant;
use tools::{flush_disk, have_program, Input};

const MIB: u64 = 1 << 20;

/// The whole bench: arguments, a working directory removed at the end (also on Ctrl-C),
/// and the mode the arguments ask for.
pub async fn main() -> anyhow::Result<()> {
    let args = args::parse_args()?;
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

async fn run(args: &Args, work: &Path) -> anyhow::Result<()> {
    match args.files {
        Some(count) => many::run(args, count, work).await,
        None => large_file(args, work).await,
    }
}

async fn run_comparisons(args: &Args, input: &Path, input_sha: &str, work: &Path, rows: &mut Vec<Row>) {
    let size = args.size_mib;
    tools::print_versions();
    if have_program("rclone") {
        let input = Input { path: input.to_owned(), digest: input_sha.to_owned(), is_dir: false };
        match tools::rclone_plain(&input, work).await {
            Ok(run) => rows.push(report::rclone_plain_row(size, &run)),
            Err(e) => eprintln!("rclone copy comparison failed: {e:#}"),
        }
        match tools::rclone_crypt(&input, work).await {
            Ok(crypt) => report::rclone_crypt_rows(size, &crypt, rows),
            Err(e) => eprintln!("rclone crypt comparison failed: {e:#}"),
        }
    } else {
        eprintln!("rclone is not installed (apt-get install rclone): skipping its comparisons");
    }
    if have_program("openssl") && have_program("sha256sum") {
        match tools::openssl(input, input_sha, work).await {
            Ok((encrypt, decrypt)) => report::openssl_rows(size, &encrypt, &decrypt, rows),
            Err(e) => eprintln!("openssl comparison failed: {e:#}"),
        }
    } else {
        eprintln!("openssl or sha256sum is not installed: skipping the raw-cipher reference");
    }
}

/// One large file through Airlock, then through the comparisons.
async fn large_file(args: &Args, work: &Path) -> anyhow::Result<()> {
    let size = args.size_mib * MIB;
    // Input + A's registry + outbox + B's registry exist at once; the comparisons need less.
    let disk = disk_with_room(work, 4 * size + 512 * MIB, " (4 x the file size)")?;
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
    let figures = run::run_airlock(args, &input, &input_sha, &state).await;
    // The platforms are stopped (dropped) by now; their files go before the comparisons
    // so that the disk holds at most about 4 x the file size at any time.
    remove_dir(&state);
    let figures = figures?;

    let mut rows = Vec::new();
    report::airlock_rows(args.size_mib, &figures, &mut rows);
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
