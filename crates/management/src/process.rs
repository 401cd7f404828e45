//! What the operating system says of the broker's process and the disk it runs on, for the
//! node's page and metrics.

/// RabbitMQ's default `disk_free_limit` (50 MB), shown beside `disk_free`. Warren keeps its
/// messages in memory: it writes nothing there, so no disk alarm ever goes off.
pub const DISK_FREE_LIMIT: u64 = 50_000_000;

/// What Linux says of this process (zeros elsewhere).
#[derive(Debug, Default, Clone, Copy)]
pub struct Process {
    pub resident_bytes: u64,
    pub open_files: u64,
    pub max_files: u64,
    /// Threads, where RabbitMQ counts Erlang processes (`proc_used`), and their limit.
    pub threads: u64,
    pub max_threads: u64,
    /// The space left to unprivileged users on the disk of the working directory (RabbitMQ
    /// measures its data directory's; Warren has none).
    pub disk_free: u64,
}

impl Process {
    pub fn read() -> Self {
        let page = 4096;
        let resident_bytes = std::fs::read_to_string("/proc/self/statm")
            .ok()
            .and_then(|statm| statm.split_whitespace().nth(1)?.parse::<u64>().ok())
            .map_or(0, |pages| pages * page);
        let open_files = std::fs::read_dir("/proc/self/fd").map_or(0, |dir| dir.count() as u64);
        let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
        // "Max open files            1024                 1048576              files"
        let soft_limit = |name: &str| -> u64 {
            let line = limits.lines().find(|l| l.starts_with(name));
            let value = line.and_then(|l| l[name.len()..].split_whitespace().next());
            value.and_then(|v| v.parse().ok()).unwrap_or(0)
        };
        let threads = std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|status| {
                let line = status.lines().find(|l| l.starts_with("Threads:"))?;
                line["Threads:".len()..].trim().parse().ok()
            })
            .unwrap_or(0);
        Process {
            resident_bytes,
            open_files,
            max_files: soft_limit("Max open files"),
            threads,
            max_threads: soft_limit("Max processes"),
            disk_free: disk_free(),
        }
    }
}

/// What `df` shows as available: the blocks free to unprivileged users.
fn disk_free() -> u64 {
    rustix::fs::statvfs(".").map_or(0, |disk| disk.f_bavail.saturating_mul(disk.f_frsize))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_disk_has_free_space() {
        assert!(Process::read().disk_free > 0);
    }
}
