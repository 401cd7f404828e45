//! CPU time and memory of a process, from Linux's `/proc`.
//!
//! CPU time is `utime + stime` of `/proc/PID/stat` (fields 14 and 15, in clock ticks), divided
//! by the clock tick rate, `sysconf(_SC_CLK_TCK)`. Calling `sysconf` needs `unsafe` and libc;
//! the same value is in the process's ELF auxiliary vector (`AT_CLKTCK`, readable in
//! `/proc/self/auxv`), which is read instead, with 100 (Linux's USER_HZ on every common
//! architecture) as the fallback. The resolution is therefore 10 ms: runs of a few seconds
//! are needed for meaningful CPU-per-message figures.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// `AT_CLKTCK` in `<elf.h>`.
const AT_CLKTCK: u64 = 17;
const FALLBACK_CLK_TCK: u64 = 100;

/// Clock ticks per second of `/proc/*/stat` times.
pub fn clock_ticks_per_second() -> u64 {
    static TICKS: OnceLock<u64> = OnceLock::new();
    *TICKS.get_or_init(|| auxv_clock_ticks().unwrap_or(FALLBACK_CLK_TCK))
}

fn auxv_clock_ticks() -> Option<u64> {
    let auxv = std::fs::read("/proc/self/auxv").ok()?;
    auxv.chunks_exact(16).find_map(|pair| {
        let key = u64::from_ne_bytes(pair[..8].try_into().ok()?);
        let value = u64::from_ne_bytes(pair[8..].try_into().ok()?);
        (key == AT_CLKTCK && value > 0).then_some(value)
    })
}

/// `/proc/PID` or `/proc/self`.
fn dir(pid: Option<u32>) -> String {
    match pid {
        Some(pid) => format!("/proc/{pid}"),
        None => "/proc/self".to_owned(),
    }
}

/// User plus system CPU seconds the process has used so far.
pub fn cpu_seconds(pid: Option<u32>) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("{}/stat", dir(pid))).ok()?;
    let ticks = parse_stat_ticks(&stat)?;
    Some(ticks as f64 / clock_ticks_per_second() as f64)
}

/// utime + stime from a `stat` line. The command name (field 2) is in parentheses and may hold
/// spaces and parentheses itself, so fields are counted after the last `)`.
fn parse_stat_ticks(stat: &str) -> Option<u64> {
    let after = &stat[stat.rfind(')')? + 1..];
    let mut fields = after.split_whitespace();
    // After the name: state is field 3, so utime (14) is the 12th and stime (15) the 13th.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// Resident memory in KiB: (current `VmRSS`, lifetime peak `VmHWM`).
pub fn memory_kib(pid: Option<u32>) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("{}/status", dir(pid))).ok()?;
    let field = |name: &str| -> Option<u64> {
        let line = status.lines().find(|l| l.starts_with(name))?;
        line[name.len()..]
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// How long the memory runs leave the broker alone before they read its RSS.
pub const SETTLE: Duration = Duration::from_secs(2);

/// The broker's RSS in KiB after it has been left alone for `settle`, if its pid is known.
pub async fn settled_rss(pid: Option<u32>, settle: Duration) -> Option<u64> {
    let pid = pid?;
    tokio::time::sleep(settle).await;
    memory_kib(Some(pid)).map(|(rss, _)| rss)
}

/// `(after - before)` KiB over `count` things, in bytes each: what each connection or message
/// costs the broker, from two readings of its RSS.
pub fn bytes_each(before: Option<u64>, after: Option<u64>, count: u64) -> Option<f64> {
    let (before, after) = (before?, after?);
    (count > 0).then(|| (after as f64 - before as f64) * 1024.0 / count as f64)
}

/// This process's limit on open files: (soft, hard), from `/proc/self/limits` (`None` for
/// "unlimited" or an unreadable file).
pub fn open_files_limit() -> Option<(u64, u64)> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    parse_open_files(&limits)
}

fn parse_open_files(limits: &str) -> Option<(u64, u64)> {
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    let mut values = line["Max open files".len()..].split_whitespace();
    Some((values.next()?.parse().ok()?, values.next()?.parse().ok()?))
}

/// CPU and memory of the broker (when its pid is known) and of this process over a run: CPU is
/// read at [`Meter::start`] and [`Meter::stop`]; the broker's RSS is also sampled every 100 ms
/// in between, for a peak of the run itself (`VmHWM` is the peak of the broker's whole life).
pub struct Meter {
    broker: Option<u32>,
    broker_cpu: Option<f64>,
    own_cpu: Option<f64>,
    peak_rss: Arc<AtomicU64>,
    sampler: Option<tokio::task::JoinHandle<()>>,
}

/// What a [`Meter`] measured.
#[derive(Debug, Clone, Default)]
pub struct Usage {
    pub broker_pid: Option<u32>,
    pub broker_cpu_s: Option<f64>,
    pub broker_rss_kib: Option<u64>,
    pub broker_rss_peak_kib: Option<u64>,
    pub broker_hwm_kib: Option<u64>,
    pub own_cpu_s: Option<f64>,
}

impl Meter {
    pub fn start(broker: Option<u32>) -> Meter {
        let peak_rss = Arc::new(AtomicU64::new(0));
        let sampler = broker.map(|pid| {
            let peak = Arc::clone(&peak_rss);
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(std::time::Duration::from_millis(100));
                loop {
                    tick.tick().await;
                    if let Some((rss, _)) = memory_kib(Some(pid)) {
                        peak.fetch_max(rss, Ordering::Relaxed);
                    }
                }
            })
        });
        Meter {
            broker,
            broker_cpu: broker.and_then(|pid| cpu_seconds(Some(pid))),
            own_cpu: cpu_seconds(None),
            peak_rss,
            sampler,
        }
    }

    pub fn stop(self) -> Usage {
        if let Some(sampler) = &self.sampler {
            sampler.abort();
        }
        let since = |start: Option<f64>, now: Option<f64>| Some(now? - start?);
        let memory = self.broker.and_then(|pid| memory_kib(Some(pid)));
        let peak = self.peak_rss.load(Ordering::Relaxed);
        Usage {
            broker_pid: self.broker,
            broker_cpu_s: since(
                self.broker_cpu,
                self.broker.and_then(|p| cpu_seconds(Some(p))),
            ),
            broker_rss_kib: memory.map(|m| m.0),
            broker_rss_peak_kib: memory.map(|m| m.0.max(peak)),
            broker_hwm_kib: memory.map(|m| m.1),
            own_cpu_s: since(self.own_cpu, cpu_seconds(None)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_after_an_odd_command_name() {
        let stat = "1234 (we (ird) name) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 1 0";
        assert_eq!(parse_stat_ticks(stat), Some(300));
    }

    #[test]
    fn open_files_line() {
        let limits =
            "Max processes             95234                95234                processes\n\
                      Max open files            1024                 20000                files\n";
        assert_eq!(parse_open_files(limits), Some((1024, 20000)));
        assert!(open_files_limit().is_some());
    }

    #[test]
    fn bytes_each_is_the_growth_per_thing() {
        assert_eq!(bytes_each(Some(1000), Some(2000), 1024), Some(1000.0));
        assert_eq!(bytes_each(Some(2000), Some(1000), 1024), Some(-1000.0));
        assert_eq!(bytes_each(None, Some(1), 1), None);
        assert_eq!(bytes_each(Some(1), Some(2), 0), None);
    }

    #[test]
    fn reads_our_own_process() {
        assert!(clock_ticks_per_second() > 0);
        assert!(cpu_seconds(None).is_some());
        let (rss, hwm) = memory_kib(None).expect("status");
        assert!(rss > 0 && hwm >= rss);
    }
}
