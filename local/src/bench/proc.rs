//! Readings of this process from /proc: memory (VmRSS, VmHWM) and CPU time.

use std::time::Instant;

/// A `kB` field of /proc/self/status, in KiB.
pub fn status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field) && l[field.len()..].starts_with(':'))?;
    line[field.len() + 1..].trim().trim_end_matches("kB").trim().parse().ok()
}

pub fn mib_of_kib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// Resets VmHWM to the current RSS, so the next reading is the peak of one phase rather
/// than of everything before it (Linux ≥ 4.0). False when the kernel refuses.
pub fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// CPU seconds, split so that time spent in the kernel (copies, thread wake-ups) shows.
#[derive(Clone, Copy)]
pub struct Cpu {
    pub user: f64,
    pub sys: f64,
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
pub fn cpu_seconds() -> Option<Cpu> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name may contain spaces and parentheses; fields are counted after its ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some(Cpu { user: utime / 100.0, sys: stime / 100.0 })
}

/// Memory and time of one in-process phase.
pub struct Phase {
    pub seconds: f64,
    pub cpu: Option<Cpu>,
    /// VmRSS when the phase started (KiB).
    pub start_rss: Option<u64>,
    /// VmHWM at the end: the phase's own peak if the reset worked (KiB).
    pub peak: Option<u64>,
}

pub struct PhaseClock {
    started: Instant,
    cpu: Option<Cpu>,
    start_rss: Option<u64>,
}

impl PhaseClock {
    pub fn start(peak_resets: bool) -> Self {
        if peak_resets {
            reset_peak_rss();
        }
        Self { started: Instant::now(), cpu: cpu_seconds(), start_rss: status_kib("VmRSS") }
    }

    pub fn stop(self) -> Phase {
        let seconds = self.started.elapsed().as_secs_f64();
        let cpu = match (cpu_seconds(), self.cpu) {
            (Some(end), Some(start)) => Some(end - start),
            _ => None,
        };
        Phase { seconds, cpu, start_rss: self.start_rss, peak: status_kib("VmHWM") }
    }
}
