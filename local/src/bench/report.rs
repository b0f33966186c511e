//! The report: rows of the large-file table and how each figure is written.

use super::disk::Staged;
use super::proc::{mib_of_kib, Cpu, Phase};
use super::run::AirlockFigures;
use super::tools::{CryptRun, External};

pub struct Row {
    pub tool: String,
    pub mib_per_s: f64,
    pub peak_rss_mib: Option<f64>,
    pub notes: String,
}

pub fn throughput(size_mib: u64, seconds: f64) -> f64 {
    size_mib as f64 / seconds
}

pub fn print_table(rows: &[Row]) {
    let width = rows.iter().map(|r| r.tool.len()).max().unwrap_or(4).max(4);
    println!("\n{:<width$}  {:>8}  {:>13}  notes", "tool", "MiB/s", "peak RSS MiB");
    println!("{}", "-".repeat(width + 2 + 8 + 2 + 13 + 2 + 40));
    for row in rows {
        let rss = row.peak_rss_mib.map(|m| format!("{m:.1}")).unwrap_or_else(|| "n/a".into());
        println!("{:<width$}  {:>8.1}  {:>13}  {}", row.tool, row.mib_per_s, rss, row.notes);
    }
}

pub fn cpu_note(cpu: Option<Cpu>, seconds: f64) -> String {
    match cpu {
        Some(cpu) => format!("{seconds:.1} s wall, CPU {:.1} s user + {:.1} s sys", cpu.user, cpu.sys),
        None => format!("{seconds:.1} s wall"),
    }
}

pub fn disturbed(staged: &Staged) -> &'static str {
    if staged.files > 0 {
        "; DISTURBED by a redelivered duplicate"
    } else {
        ""
    }
}

pub fn airlock_rows(size: u64, f: &AirlockFigures, rows: &mut Vec<Row>) {
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

pub fn rss_mib(e: &External) -> Option<f64> {
    e.max_rss_kib.map(mib_of_kib)
}

pub fn rclone_plain_row(size: u64, run: &External) -> Row {
    Row {
        tool: "rclone copy (plain)".into(),
        mib_per_s: throughput(size, run.seconds),
        peak_rss_mib: rss_mib(run),
        notes: format!("{}; no encryption; SHA-256 verified", cpu_note(run.cpu, run.seconds)),
    }
}

pub fn rclone_crypt_rows(size: u64, crypt: &CryptRun, rows: &mut Vec<Row>) {
    let (encrypt, decrypt) = (&crypt.encrypt, &crypt.decrypt);
    rows.push(Row {
        tool: "rclone crypt encrypt".into(),
        mib_per_s: throughput(size, encrypt.seconds),
        peak_rss_mib: rss_mib(encrypt),
        notes: format!(
            "{}; {:.1} MiB stored",
            cpu_note(encrypt.cpu, encrypt.seconds),
            crypt.stored_bytes as f64 / super::MIB as f64
        ),
    });
    rows.push(Row {
        tool: "rclone crypt decrypt".into(),
        mib_per_s: throughput(size, decrypt.seconds),
        peak_rss_mib: rss_mib(decrypt),
        notes: cpu_note(decrypt.cpu, decrypt.seconds),
    });
    let total = encrypt.seconds + decrypt.seconds;
    rows.push(Row {
        tool: "rclone crypt end to end".into(),
        mib_per_s: throughput(size, total),
        peak_rss_mib: encrypt.max_rss_kib.max(decrypt.max_rss_kib).map(mib_of_kib),
        notes: format!("{}; SHA-256 verified", cpu_note(encrypt.cpu.zip(decrypt.cpu).map(|(a, b)| a + b), total)),
    });
}

pub fn openssl_rows(size: u64, encrypt: &External, decrypt: &External, rows: &mut Vec<Row>) {
    rows.push(Row {
        tool: "openssl aes-256-ctr enc".into(),
        mib_per_s: throughput(size, encrypt.seconds),
        peak_rss_mib: rss_mib(encrypt),
        notes: format!("{}; no MAC, no hash", cpu_note(encrypt.cpu, encrypt.seconds)),
    });
    rows.push(Row {
        tool: "openssl dec | sha256sum".into(),
        mib_per_s: throughput(size, decrypt.seconds),
        peak_rss_mib: rss_mib(decrypt),
        notes: format!("{}; no MAC; SHA-256 verified", cpu_note(decrypt.cpu, decrypt.seconds)),
    });
}
