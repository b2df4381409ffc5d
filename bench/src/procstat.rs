//! CPU and memory figures from /proc (Linux): the service's (by pid), the bench's own, and the machine's.

use std::time::{Duration, Instant};

/// Ticks per second of /proc's utime/stime.
pub fn clock_ticks() -> f64 {
    // SAFETY: sysconf has no preconditions; it only reads a constant of the running system.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 { ticks as f64 } else { 100.0 }
}

/// utime + stime of a process, in ticks.
pub fn process_cpu_ticks(pid: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command (which may contain spaces) start at field 3 (state).
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// Resident set size of a process in KiB (VmRSS).
pub fn rss_kib(pid: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// (busy, total) jiffies of all CPUs together, from the first line of /proc/stat.
pub fn machine_ticks() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().next()?;
    let values: Vec<u64> = line.split_whitespace().skip(1).take(8).filter_map(|v| v.parse().ok()).collect();
    if values.len() < 5 {
        return None;
    }
    let total: u64 = values.iter().sum();
    let idle = values[3] + values[4];
    Some((total - idle, total))
}

#[derive(Debug, Default, Clone)]
pub struct Usage {
    /// Percent of one core (100 = one core fully busy), over the measured window.
    pub bench_cpu_pct: Option<f64>,
    pub service_cpu_pct: Option<f64>,
    pub service_max_rss_kib: Option<u64>,
    /// Percent of the whole machine (all cores) that was busy.
    pub machine_busy_pct: Option<f64>,
    pub service_exited: bool,
}

/// Samples from `start` to `end` on a thread of its own: CPU at both ends, the service's RSS every 100 ms.
pub fn sample(service_pid: Option<u32>, start: Instant, end: Instant) -> std::thread::JoinHandle<Usage> {
    std::thread::spawn(move || {
        let ticks = clock_ticks();
        std::thread::sleep(start.saturating_duration_since(Instant::now()));
        let pid = service_pid.map(|p| p.to_string());
        let began = Instant::now();
        let bench0 = process_cpu_ticks("self");
        let service0 = pid.as_deref().and_then(process_cpu_ticks);
        let machine0 = machine_ticks();
        let mut usage = Usage::default();
        let mut max_rss = pid.as_deref().and_then(rss_kib);
        loop {
            let now = Instant::now();
            if now >= end {
                break;
            }
            std::thread::sleep((end - now).min(Duration::from_millis(100)));
            if let Some(pid) = pid.as_deref() {
                match rss_kib(pid) {
                    Some(rss) => max_rss = Some(max_rss.map_or(rss, |m| m.max(rss))),
                    None => usage.service_exited = true,
                }
            }
        }
        let wall = began.elapsed().as_secs_f64().max(1e-6);
        let pct = |a: Option<u64>, b: Option<u64>| match (a, b) {
            (Some(a), Some(b)) => Some((b.saturating_sub(a)) as f64 / ticks / wall * 100.0),
            _ => None,
        };
        usage.bench_cpu_pct = pct(bench0, process_cpu_ticks("self"));
        usage.service_cpu_pct = pct(service0, pid.as_deref().and_then(process_cpu_ticks));
        usage.service_max_rss_kib = max_rss;
        usage.machine_busy_pct = match (machine0, machine_ticks()) {
            (Some((busy0, total0)), Some((busy1, total1))) if total1 > total0 => {
                Some((busy1 - busy0) as f64 / (total1 - total0) as f64 * 100.0)
            }
            _ => None,
        };
        usage
    })
}
