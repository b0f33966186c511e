//! Readings from /proc of this process or of the function processes it started: memory
//! (VmRSS, VmHWM) and CPU time.

use std::time::Instant;

/// A file of /proc for this process (`None`) or another.
fn proc_file(pid: Option<u32>, name: &str) -> String {
    match pid {
        Some(pid) => format!("/proc/{pid}/{name}"),
        None => format!("/proc/self/{name}"),
    }
}

/// A `kB` field of /proc/self/status, in KiB.
pub fn status_kib(field: &str) -> Option<u64> {
    status_kib_of(None, field)
}

fn status_kib_of(pid: Option<u32>, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(proc_file(pid, "status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(field) && l[field.len()..].starts_with(':'))?;
    line[field.len() + 1..].trim().trim_end_matches("kB").trim().parse().ok()
}

pub fn mib_of_kib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// Resets a process's VmHWM to its current RSS, so the next reading is the peak of one
/// phase rather than of everything before it (Linux ≥ 4.0). False when the kernel refuses.
fn reset_peak_rss_of(pid: Option<u32>) -> bool {
    std::fs::write(proc_file(pid, "clear_refs"), "5").is_ok()
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

/// User and system CPU seconds of a whole process (all threads). /proc reports clock
/// ticks of USER_HZ, which is 100 on every Linux architecture this runs on.
fn cpu_seconds_of(pid: Option<u32>) -> Option<Cpu> {
    let stat = std::fs::read_to_string(proc_file(pid, "stat")).ok()?;
    // The command name may contain spaces and parentheses; fields are counted after its ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some(Cpu { user: utime / 100.0, sys: stime / 100.0 })
}

/// Whose memory and CPU a phase counts: this process, which runs both platforms'
/// functions as tasks, or the function processes of a fleet, each on its own.
#[derive(Clone)]
pub enum Meter {
    ThisProcess {
        peak_resets: bool,
    },
    /// Labels and process ids.
    Processes(Vec<(String, u32)>),
}

impl Meter {
    /// This process, resetting its peak between phases when the kernel allows.
    pub fn this_process() -> Self {
        let peak_resets = reset_peak_rss_of(None);
        if !peak_resets {
            eprintln!("note: this kernel refuses to reset VmHWM; each step's peak includes the steps before it");
        }
        Meter::ThisProcess { peak_resets }
    }

    /// The counted processes, by label and id (`None`: this one).
    fn counted(&self) -> Vec<(&str, Option<u32>)> {
        match self {
            Meter::ThisProcess { .. } => vec![("this process", None)],
            Meter::Processes(processes) => processes.iter().map(|(label, pid)| (label.as_str(), Some(*pid))).collect(),
        }
    }

    /// The CPU time of every counted process together.
    fn cpu(&self) -> Option<Cpu> {
        self.counted().into_iter().map(|(_, pid)| cpu_seconds_of(pid)).sum()
    }
}

impl std::iter::Sum for Cpu {
    fn sum<I: Iterator<Item = Cpu>>(iter: I) -> Cpu {
        iter.fold(Cpu { user: 0.0, sys: 0.0 }, |a, b| a + b)
    }
}

/// Memory and time of one phase.
pub struct Phase {
    pub seconds: f64,
    pub cpu: Option<Cpu>,
    /// VmRSS of this process when the phase started (KiB); none for a fleet.
    pub start_rss: Option<u64>,
    /// VmHWM at the end: the phase's own peak if the reset worked (KiB), of the process
    /// that peaked highest.
    pub peak: Option<u64>,
    /// Each counted process's peak, by label, highest first.
    pub peaks: Vec<(String, u64)>,
}

pub struct PhaseClock {
    meter: Meter,
    started: Instant,
    cpu: Option<Cpu>,
    start_rss: Option<u64>,
}

impl PhaseClock {
    pub fn start(meter: &Meter) -> Self {
        let resets = match meter {
            Meter::ThisProcess { peak_resets } => *peak_resets,
            Meter::Processes(_) => true,
        };
        if resets {
            for (_, pid) in meter.counted() {
                reset_peak_rss_of(pid);
            }
        }
        let start_rss = match meter {
            Meter::ThisProcess { .. } => status_kib("VmRSS"),
            Meter::Processes(_) => None,
        };
        Self { meter: meter.clone(), started: Instant::now(), cpu: meter.cpu(), start_rss }
    }

    pub fn stop(self) -> Phase {
        let seconds = self.started.elapsed().as_secs_f64();
        let cpu = match (self.meter.cpu(), self.cpu) {
            (Some(end), Some(start)) => Some(end - start),
            _ => None,
        };
        let mut peaks: Vec<(String, u64)> = self
            .meter
            .counted()
            .into_iter()
            .filter_map(|(label, pid)| Some((label.to_owned(), status_kib_of(pid, "VmHWM")?)))
            .collect();
        peaks.sort_by_key(|(_, kib)| std::cmp::Reverse(*kib));
        Phase { seconds, cpu, start_rss: self.start_rss, peak: peaks.first().map(|p| p.1), peaks }
    }
}
