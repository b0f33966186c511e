//! A progress bar for long phases, drawn on standard error: redrawn in place on a
//! terminal, a plain line every few seconds otherwise (a log, CI).

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// How far something is: files and bytes done out of their totals, since `started`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Progress {
    pub files_done: u64,
    pub files_total: u64,
    pub bytes_done: u64,
    pub bytes_total: u64,
    pub elapsed: Duration,
}

impl Progress {
    /// `[#######.............]  35%  3,500/10,000 files  13.7/39.1 MiB  1,250 files/s`
    pub fn line(&self, label: &str) -> String {
        const WIDTH: u64 = 20;
        let fraction = if self.files_total == 0 { 0.0 } else { self.files_done as f64 / self.files_total as f64 };
        let filled = ((fraction * WIDTH as f64).round() as u64).min(WIDTH);
        let bar: String = (0..WIDTH).map(|i| if i < filled { '#' } else { '.' }).collect();
        let secs = self.elapsed.as_secs_f64().max(0.001);
        format!(
            "{label} [{bar}] {:>3.0}%  {}/{} files  {:.1}/{:.1} MiB  {} files/s",
            fraction * 100.0,
            thousands(self.files_done),
            thousands(self.files_total),
            self.bytes_done as f64 / (1 << 20) as f64,
            self.bytes_total as f64 / (1 << 20) as f64,
            thousands((self.files_done as f64 / secs) as u64),
        )
    }
}

fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Draws `Progress` lines for one phase.
pub struct Bar {
    label: String,
    terminal: bool,
    last_line: Option<Instant>,
    drawn: bool,
}

/// How often a bar writes a line when standard error is not a terminal.
const PLAIN_EVERY: Duration = Duration::from_secs(5);

impl Bar {
    pub fn new(label: &str) -> Self {
        Self { label: label.into(), terminal: std::io::stderr().is_terminal(), last_line: None, drawn: false }
    }

    pub fn draw(&mut self, progress: &Progress) {
        let line = progress.line(&self.label);
        let mut err = std::io::stderr().lock();
        if self.terminal {
            let _ = write!(err, "\r\x1b[2K{line}");
            let _ = err.flush();
            self.drawn = true;
        } else if self.last_line.is_none_or(|t| t.elapsed() >= PLAIN_EVERY) {
            let _ = writeln!(err, "{line}");
            self.last_line = Some(Instant::now());
        }
    }

    /// Ends the phase: the terminal's line is closed so what follows starts fresh.
    pub fn finish(self) {
        if self.terminal && self.drawn {
            let _ = writeln!(std::io::stderr());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_shows_the_share_done_and_the_rate() {
        let p = Progress {
            files_done: 3_500,
            files_total: 10_000,
            bytes_done: 14 << 20,
            bytes_total: 40 << 20,
            elapsed: Duration::from_secs(2),
        };
        assert_eq!(
            p.line("A publish"),
            "A publish [#######.............]  35%  3,500/10,000 files  14.0/40.0 MiB  1,750 files/s"
        );
        let none = Progress { files_done: 0, files_total: 0, bytes_done: 0, bytes_total: 0, elapsed: Duration::ZERO };
        assert!(none.line("x").starts_with("x [....................]   0%  0/0 files"));
    }
}
