//! The disk the bench works on, and the files it generates, hashes and measures there.

use super::MIB;
use anyhow::{anyhow, ensure, Context as _};
use rand::{RngCore, SeedableRng};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub struct Disk {
    pub fs_type: String,
    pub available: u64,
    pub mount: String,
}

pub fn disk_of(path: &Path) -> anyhow::Result<Disk> {
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

/// The disk under `work`, refused when it has less than `needed` bytes free (`why` says
/// what the bound is made of).
pub fn disk_with_room(work: &Path, needed: u64, why: &str) -> anyhow::Result<Disk> {
    let disk = disk_of(work)?;
    ensure!(
        disk.available >= needed,
        "{} ({} on {}) has {:.1} GiB free, the bench needs about {:.1} GiB{why}",
        work.display(),
        disk.fs_type,
        disk.mount,
        disk.available as f64 / (1u64 << 30) as f64,
        needed as f64 / (1u64 << 30) as f64
    );
    Ok(disk)
}

pub fn is_ram_fs(fs_type: &str) -> bool {
    matches!(fs_type, "tmpfs" | "ramfs")
}

/// The directory the working directory goes in: a disk-backed one, because a RAM file
/// system would measure memory copies and count the files against RAM.
pub fn choose_base(requested: Option<PathBuf>) -> anyhow::Result<PathBuf> {
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

/// Writes `size` pseudo-random bytes one block at a time (never the whole file in memory)
/// and returns their SHA-256. Random bytes, so that nothing along the way can compress them.
pub async fn generate(path: &Path, size: u64) -> anyhow::Result<String> {
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

pub async fn sha256_of(mut reader: impl tokio::io::AsyncRead + Unpin) -> std::io::Result<(String, u64)> {
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

pub async fn sha256_of_file(path: &Path) -> anyhow::Result<String> {
    let file = tokio::fs::File::open(path).await.with_context(|| format!("opening {}", path.display()))?;
    Ok(sha256_of(file).await.with_context(|| format!("reading {}", path.display()))?.0)
}

pub fn remove_dir(path: &Path) {
    if let Err(e) = std::fs::remove_dir_all(path) {
        if e.kind() != std::io::ErrorKind::NotFound {
            eprintln!("warning: could not remove {}: {e}", path.display());
        }
    }
}

/// Partial multipart uploads of the local-file store (`<object>#<n>` files).
#[derive(Default)]
pub struct Staged {
    pub files: usize,
    pub bytes: u64,
}

/// Bytes of committed objects under `path`, and the partial uploads beside them.
pub fn dir_size(path: &Path) -> (u64, Staged) {
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

/// The name of the many-files mode's file number `index`: fixed width, so names sort in order.
pub fn file_name(index: u64) -> String {
    format!("f{index:06}.bin")
}

/// Writes `count` pseudo-random files of `kib` KiB each into `dir` and returns their names
/// with their SHA-256s, sorted by name.
pub async fn generate_files(dir: &Path, count: u64, kib: u64) -> anyhow::Result<Vec<(String, String)>> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x4149_524c_4f43_4b21);
    let mut content = vec![0u8; (kib * 1024) as usize];
    let mut files = Vec::with_capacity(count as usize);
    for index in 0..count {
        rng.fill_bytes(&mut content);
        let name = file_name(index);
        let path = dir.join(&name);
        tokio::fs::write(&path, &content).await.with_context(|| format!("writing {}", path.display()))?;
        files.push((name, hex::encode(Sha256::digest(&content))));
    }
    Ok(files)
}

/// One digest over a set of files' names and contents: SHA-256 of their sorted
/// `name sha256` lines, so two sets compare equal only when every file does.
pub fn tree_digest(files: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = files.iter().collect();
    sorted.sort();
    let mut hasher = Sha256::new();
    for (name, sha) in sorted {
        hasher.update(format!("{name} {sha}\n").as_bytes());
    }
    hex::encode(hasher.finalize())
}

/// Every file under `dir`, named by its path relative to `dir`, with its SHA-256.
pub async fn hash_tree(dir: &Path) -> anyhow::Result<Vec<(String, String)>> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(current) = pending.pop() {
        let entries = std::fs::read_dir(&current).with_context(|| format!("listing {}", current.display()))?;
        for entry in entries {
            let entry = entry.with_context(|| format!("listing {}", current.display()))?;
            let path = entry.path();
            if entry.file_type()?.is_dir() {
                pending.push(path);
                continue;
            }
            let name = path.strip_prefix(dir).expect("under dir").to_string_lossy().into_owned();
            files.push((name, sha256_of_file(&path).await?));
        }
    }
    Ok(files)
}
