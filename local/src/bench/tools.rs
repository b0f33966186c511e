//! External tools: running and measuring a command, the rclone (plain and crypt) and openssl
//! comparisons, and moto's S3 server for `--s3`.

use super::disk::{dir_size, hash_tree, remove_dir, sha256_of_file, tree_digest};
use super::proc::Cpu;
use anyhow::{anyhow, bail, ensure, Context as _};
use rand::RngCore;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;

/// Wall time, peak RSS and CPU of an external command.
pub struct External {
    pub seconds: f64,
    pub max_rss_kib: Option<u64>,
    pub cpu: Option<Cpu>,
    pub stdout: String,
}

/// Runs a command, under `/usr/bin/time -v` when it is installed (for the child's peak RSS).
/// Wall time is measured here, which is finer than what `time` prints.
pub async fn run_measured(program: &str, args: &[&str], time_out: &Path) -> anyhow::Result<External> {
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
pub async fn flush_disk() {
    let _ = tokio::process::Command::new("sync").status().await;
}

pub fn have_program(name: &str) -> bool {
    std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|dir| dir.join(name).is_file()))
        .unwrap_or(false)
}

pub fn path_str(path: &Path) -> anyhow::Result<&str> {
    path.to_str().ok_or_else(|| anyhow!("path {} is not UTF-8", path.display()))
}

/// Prints the versions of the tools the comparisons use.
pub fn print_versions() {
    for (program, flag) in [("rclone", "version"), ("openssl", "version")] {
        if let Ok(output) = std::process::Command::new(program).arg(flag).output() {
            let text = String::from_utf8_lossy(&output.stdout);
            println!("{}", text.lines().next().unwrap_or(program));
        }
    }
}

/// What the comparisons copy: one file, or a directory of files, and the digest every
/// copy is checked against.
pub struct Input {
    pub path: PathBuf,
    /// The file's SHA-256, or the directory's `tree_digest`.
    pub digest: String,
    pub is_dir: bool,
}

impl Input {
    /// Checks what a tool wrote into `out` against the input: the file of the same name,
    /// or the whole tree.
    async fn check_copy(&self, out: &Path, what: &str) -> anyhow::Result<()> {
        let digest = if self.is_dir {
            tree_digest(&hash_tree(out).await?)
        } else {
            sha256_of_file(&out.join(self.path.file_name().expect("the input has a file name"))).await?
        };
        ensure!(digest == self.digest, "{what} differs from the input");
        Ok(())
    }
}

/// `rclone copy` from one local directory to another: what moving the files costs with no
/// encryption at all.
pub async fn rclone_plain(input: &Input, work: &Path) -> anyhow::Result<External> {
    let out = work.join("rclone-plain-out");
    let result = rclone_plain_steps(input, work, &out).await;
    remove_dir(&out);
    result
}

async fn rclone_plain_steps(input: &Input, work: &Path, out: &Path) -> anyhow::Result<External> {
    // An empty config of our own, so a user's ~/.config/rclone cannot change the result.
    let config = work.join("rclone-plain.conf");
    std::fs::write(&config, "").context("writing an empty rclone config")?;
    println!("rclone copy (plain) ...");
    let run = run_measured(
        "rclone",
        &["--config", path_str(&config)?, "copy", "--transfers", TRANSFERS, path_str(&input.path)?, path_str(out)?],
        &work.join("time.txt"),
    )
    .await?;
    flush_disk().await;
    input.check_copy(out, "rclone's plain copy").await?;
    Ok(run)
}

/// Files rclone moves at once (its default, written out so the figures say what they measured).
const TRANSFERS: &str = "4";

/// The two halves of an rclone crypt round trip.
pub struct CryptRun {
    pub encrypt: External,
    pub decrypt: External,
    /// What the crypt remote holds after encrypting.
    pub stored_bytes: u64,
}

/// `rclone` through a `crypt` remote over a local directory: rclone's own authenticated
/// encryption (XSalsa20-Poly1305 in 64 KiB blocks), the closest thing a user would pick.
/// Encrypting in is the counterpart of A's publish, decrypting out of B's receive.
pub async fn rclone_crypt(input: &Input, work: &Path) -> anyhow::Result<CryptRun> {
    let store = work.join("rclone-crypt-store");
    let out = work.join("rclone-crypt-out");
    let result = rclone_crypt_steps(input, work, &store, &out).await;
    remove_dir(&store);
    remove_dir(&out);
    result
}

async fn rclone_crypt_steps(input: &Input, work: &Path, store: &Path, out: &Path) -> anyhow::Result<CryptRun> {
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
    let password = obscure(crate::pair::random_secret(32)).await?;
    let salt = obscure(crate::pair::random_secret(32)).await?;
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
    let copy = |from: String, to: String| {
        let config = config.clone();
        let time_out = time_out.clone();
        async move {
            run_measured("rclone", &["--config", &config, "copy", "--transfers", TRANSFERS, &from, &to], &time_out)
                .await
        }
    };

    println!("rclone crypt: encrypting in ...");
    let encrypt = copy(path_str(&input.path)?.to_owned(), "bench-crypt:".into()).await?;
    flush_disk().await;
    let stored_bytes = dir_size(store).0;
    println!("rclone crypt: decrypting out ...");
    let decrypt = copy("bench-crypt:".into(), path_str(out)?.to_owned()).await?;
    flush_disk().await;
    input.check_copy(out, "rclone crypt's round trip").await?;
    Ok(CryptRun { encrypt, decrypt, stored_bytes })
}

/// `openssl enc -aes-256-ctr` in, then decrypt piped through `sha256sum`: the cipher and
/// hash alone with plain file I/O, no authentication and no framing, as a ceiling.
/// Returns the encryption, then the decryption.
pub async fn openssl(input: &Path, input_sha: &str, work: &Path) -> anyhow::Result<(External, External)> {
    let encrypted = work.join("openssl.enc");
    let decrypted = work.join("openssl.out");
    let result = openssl_steps(input, input_sha, work, &encrypted, &decrypted).await;
    for path in [&encrypted, &decrypted] {
        let _ = std::fs::remove_file(path);
    }
    result
}

async fn openssl_steps(
    input: &Path,
    input_sha: &str,
    work: &Path,
    encrypted: &Path,
    decrypted: &Path,
) -> anyhow::Result<(External, External)> {
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
    Ok((encrypt, decrypt))
}

/// moto's S3 server for `--s3`: the one at `AIRLOCK_TEST_S3_ENDPOINT` when it answers, else
/// `moto_server` started on a free port and killed on drop. (The test suites have their own
/// in `airlock_store::testing`, which production builds leave out.)
pub struct MotoServer {
    pub endpoint: String,
    child: Option<std::process::Child>,
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl MotoServer {
    pub fn find_or_start() -> anyhow::Result<Self> {
        if let Ok(endpoint) = std::env::var("AIRLOCK_TEST_S3_ENDPOINT") {
            if std::net::TcpStream::connect(host_of(&endpoint)).is_ok() {
                return Ok(MotoServer { endpoint, child: None });
            }
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .context("finding a free port")?
            .port();
        let port_text = port.to_string();
        let args = ["-H", "127.0.0.1", "-p", port_text.as_str()];
        let spawn = |program: &str, args: &[&str]| {
            std::process::Command::new(program)
                .args(args)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .with_context(|| format!("starting '{program}' failed (is moto[server] installed?)"))
        };
        // The console script may be missing from PATH; the module runs the same server.
        let child = spawn("moto_server", &args)
            .or_else(|_| spawn("python3", &[&["-m", "moto.server"][..], &args[..]].concat()))?;
        let server = MotoServer { endpoint: format!("http://127.0.0.1:{port}"), child: Some(child) };
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            ensure!(Instant::now() < deadline, "moto's server did not listen on port {port} within 30 s");
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(server)
    }

    /// Creates an empty bucket and returns the store settings for it under `label`.
    pub fn new_bucket(&self, label: &str) -> anyhow::Result<airlock_store::StoreConfig> {
        use std::io::{Read, Write};
        let name = format!("airlock-bench-{}", crate::pair::random_secret(12).to_lowercase());
        let host = host_of(&self.endpoint);
        let mut stream = std::net::TcpStream::connect(&host).with_context(|| format!("connecting to {host}"))?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        write!(stream, "PUT /{name} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")?;
        let mut response = String::new();
        let _ = stream.read_to_string(&mut response);
        let status = response.lines().next().unwrap_or_default();
        if !status.split(' ').nth(1).is_some_and(|code| code.starts_with('2')) {
            bail!("{host} answered '{status}' to creating bucket {name}");
        }
        Ok(airlock_store::StoreConfig {
            label: label.into(),
            scheme: airlock_store::Scheme::S3,
            name,
            endpoint_url: Some(self.endpoint.clone()),
            region: Some("us-east-1".into()),
            access_key: Some("testing".into()),
            secret_key: Some("testing".into()),
        })
    }
}

/// `host:port` of an `http://host:port/...` URL.
fn host_of(endpoint: &str) -> String {
    let rest = endpoint.split_once("://").map(|(_, r)| r).unwrap_or(endpoint);
    rest.split('/').next().unwrap_or(rest).to_owned()
}
