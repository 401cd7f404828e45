//! The memory high watermark, as RabbitMQ's `vm_memory_high_watermark`: when the process's
//! resident memory passes it, the broker raises its memory alarm and publishing connections are
//! blocked (see `connection.rs`) until memory falls back under it. Consumers keep flowing, so
//! the queues can drain.

use std::fmt;

/// Where the alarm goes off.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Watermark {
    /// A fraction of the machine's memory (RabbitMQ's default is 0.4).
    Fraction(f64),
    Bytes(u64),
}

impl Default for Watermark {
    fn default() -> Self {
        Watermark::Fraction(0.4)
    }
}

impl Watermark {
    /// Reads `0.4` (a fraction of RAM), `536870912` (bytes), or `512MiB` / `2GB` / `100kB`.
    pub fn parse(text: &str) -> Result<Watermark, String> {
        let text = text.trim();
        let explain = || {
            format!("'{text}' is not a memory watermark: give a fraction of RAM such as 0.4, or a size such as 512MiB")
        };
        if text.contains('.') {
            let fraction: f64 = text.parse().map_err(|_| explain())?;
            return if fraction > 0.0 && fraction <= 1.0 {
                Ok(Watermark::Fraction(fraction))
            } else {
                Err(explain())
            };
        }
        parse_size(text).map(Watermark::Bytes).ok_or_else(explain)
    }

    /// The limit in bytes on this machine; None where memory cannot be read (not Linux).
    pub fn limit(&self) -> Option<u64> {
        match *self {
            Watermark::Bytes(bytes) => Some(bytes),
            Watermark::Fraction(fraction) => {
                total_memory().map(|total| (total as f64 * fraction) as u64)
            }
        }
    }
}

impl fmt::Display for Watermark {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Watermark::Fraction(fraction) => write!(f, "{fraction} of RAM"),
            Watermark::Bytes(bytes) => write!(f, "{bytes} bytes"),
        }
    }
}

/// Reads a size in bytes: `536870912`, or with a unit, `512MiB` / `2GB` / `100kB`.
pub fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    let number: u64 = text[..digits].parse().ok()?;
    let unit: u64 = match text[digits..].trim() {
        "" | "B" => 1,
        "kB" | "KB" => 1000,
        "KiB" => 1 << 10,
        "MB" => 1000 * 1000,
        "MiB" => 1 << 20,
        "GB" => 1000 * 1000 * 1000,
        "GiB" => 1 << 30,
        _ => return None,
    };
    number.checked_mul(unit)
}

/// The process's resident set size, from `/proc/self/statm` (Linux).
pub fn resident_memory() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    // The page size is 4 KiB on the platforms Warren runs on; reading it would need libc.
    Some(pages * 4096)
}

fn total_memory() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watermarks_read_like_rabbitmq_settings() {
        assert_eq!(Watermark::parse("0.4"), Ok(Watermark::Fraction(0.4)));
        assert_eq!(
            Watermark::parse("536870912"),
            Ok(Watermark::Bytes(536_870_912))
        );
        assert_eq!(Watermark::parse("512MiB"), Ok(Watermark::Bytes(512 << 20)));
        assert_eq!(Watermark::parse("2GB"), Ok(Watermark::Bytes(2_000_000_000)));
        assert!(Watermark::parse("1.5").is_err());
        assert!(Watermark::parse("lots")
            .expect_err("refused")
            .contains("such as 512MiB"));
    }

    #[test]
    fn resident_memory_is_read_on_linux() {
        if cfg!(target_os = "linux") {
            assert!(resident_memory().is_some_and(|rss| rss > 0));
            assert!(Watermark::default().limit().is_some_and(|limit| limit > 0));
        }
    }
}
