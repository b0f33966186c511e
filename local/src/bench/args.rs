//! The command line.

use anyhow::{anyhow, bail, ensure};
use std::path::PathBuf;
use std::time::Duration;

const USAGE: &str =
    "usage: airlock-bench [--size-mib N] [--chunk-kib K] [--dir PATH] [--ack-wait-secs S] [--no-compare] [--s3]
       airlock-bench --files N [--file-kib K] [--processes [--nats URL] [--bin-dir PATH]] [same options]

  --size-mib N   size of the generated file in MiB (default 1024)
  --files N      many-files mode: N generated files instead of one large file, timed through
                 a first sync, an idle sync and a sync with one file changed
  --file-kib K   size of each file in the many-files mode, in KiB (default 4)
  --processes    many-files mode: each platform's functions run as processes of their own
                 over NATS JetStream (as deployed), sharing the side's SQLite file, and the
                 peak RSS of each process is read instead of this one's
  --nats URL     the NATS server of --processes (default nats://127.0.0.1:4222)
  --bin-dir PATH where the function binaries are (default: beside this binary)
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

pub struct Args {
    pub size_mib: u64,
    /// The many-files mode: this many files of `file_kib` each.
    pub files: Option<u64>,
    pub file_kib: u64,
    pub chunk_kib: usize,
    pub dir: Option<PathBuf>,
    pub ack_wait: Option<Duration>,
    pub compare: bool,
    /// The exchange is a bucket on moto's S3 server instead of a directory.
    pub s3: bool,
    /// The many-files mode with each function a process of its own over this NATS server.
    pub processes: Option<String>,
    pub bin_dir: Option<PathBuf>,
}

fn whole_number(name: &str, v: &str) -> anyhow::Result<u64> {
    v.parse().map_err(|e| anyhow!("{name} '{v}' is not a whole number: {e}"))
}

pub fn parse_args() -> anyhow::Result<Args> {
    let mut args = Args {
        size_mib: 1024,
        files: None,
        file_kib: 4,
        chunk_kib: 1024,
        dir: None,
        ack_wait: None,
        compare: true,
        s3: false,
        processes: None,
        bin_dir: None,
    };
    let mut nats = None;
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().ok_or_else(|| anyhow!("{name} needs a value\n\n{USAGE}"));
        match arg.as_str() {
            "--size-mib" => {
                let v = value("--size-mib")?;
                args.size_mib = v.parse().map_err(|e| anyhow!("--size-mib '{v}' is not a whole number: {e}"))?;
            }
            "--files" => args.files = Some(whole_number("--files", &value("--files")?)?),
            "--file-kib" => args.file_kib = whole_number("--file-kib", &value("--file-kib")?)?,
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
            "--processes" => args.processes = Some(String::new()),
            "--nats" => nats = Some(value("--nats")?),
            "--bin-dir" => args.bin_dir = Some(PathBuf::from(value("--bin-dir")?)),
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => bail!("unknown argument '{other}'\n\n{USAGE}"),
        }
    }
    ensure!(args.size_mib >= 1, "--size-mib must be at least 1");
    match (&mut args.processes, nats) {
        (Some(url), nats) => *url = nats.unwrap_or_else(|| "nats://127.0.0.1:4222".into()),
        (None, Some(_)) => bail!("--nats goes with --processes"),
        (None, None) => {}
    }
    if args.processes.is_some() {
        ensure!(args.files.is_some(), "--processes goes with --files (the many-files mode)");
        ensure!(!args.s3, "--processes exchanges through a directory; it does not go with --s3");
    }
    if let Some(files) = args.files {
        ensure!(files >= 1, "--files must be at least 1");
        ensure!(args.file_kib >= 1, "--file-kib must be at least 1");
    }
    let max_kib = airlock_protocol::MAX_CHUNK_SIZE / 1024;
    ensure!(
        (1..=max_kib).contains(&args.chunk_kib),
        "--chunk-kib {} is outside 1..={max_kib} (the protocol's chunk size limit)",
        args.chunk_kib
    );
    Ok(args)
}
