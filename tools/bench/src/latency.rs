//! A fixed-size log-linear latency histogram (HDR-like): exact below 128 ns, then 64 buckets
//! per power of two, so a percentile is within 1.6 % of the true value. Recording is an index
//! computation and an increment; histograms of several consumers merge by addition.

const LINEAR: u64 = 128;
const SUB_BUCKETS: u64 = 64;
const BUCKETS: usize = (58 * SUB_BUCKETS + SUB_BUCKETS) as usize;

#[derive(Clone)]
pub struct Histogram {
    counts: Box<[u64; BUCKETS]>,
    total: u64,
    max: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: Box::new([0; BUCKETS]),
            total: 0,
            max: 0,
        }
    }
}

impl std::fmt::Debug for Histogram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Histogram({} samples, max {})", self.total, self.max)
    }
}

fn index(v: u64) -> usize {
    if v < LINEAR {
        return v as usize;
    }
    let msb = 63 - u64::from(v.leading_zeros());
    let shift = msb - 6;
    ((shift + 1) * SUB_BUCKETS + ((v >> shift) - SUB_BUCKETS)) as usize
}

/// The smallest value that falls into bucket `i`.
fn lower_bound(i: usize) -> u64 {
    let i = i as u64;
    if i < LINEAR {
        return i;
    }
    let shift = i / SUB_BUCKETS - 1;
    (i % SUB_BUCKETS + SUB_BUCKETS) << shift
}

impl Histogram {
    pub fn record(&mut self, nanos: u64) {
        self.counts[index(nanos)] += 1;
        self.total += 1;
        self.max = self.max.max(nanos);
    }

    pub fn merge(&mut self, other: &Histogram) {
        for (mine, theirs) in self.counts.iter_mut().zip(other.counts.iter()) {
            *mine += theirs;
        }
        self.total += other.total;
        self.max = self.max.max(other.max);
    }

    pub fn count(&self) -> u64 {
        self.total
    }

    pub fn max(&self) -> u64 {
        self.max
    }

    /// The value at quantile `q` (0..=1), as the lower bound of its bucket (never above max).
    pub fn quantile(&self, q: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let rank = ((q * self.total as f64).ceil() as u64).clamp(1, self.total);
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return lower_bound(i).min(self.max);
            }
        }
        self.max
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_contiguous_and_tight() {
        let mut previous = 0;
        for v in (0..100_000u64).chain([u64::MAX / 2, u64::MAX]) {
            let i = index(v);
            assert!(i >= previous && i < BUCKETS, "v {v}");
            previous = i;
            let low = lower_bound(i);
            assert!(low <= v, "v {v} low {low}");
            assert!((v - low) as f64 <= v as f64 / 64.0 + 1.0, "v {v} low {low}");
        }
    }

    #[test]
    fn quantiles() {
        let mut h = Histogram::default();
        for v in 1..=1000u64 {
            h.record(v * 1000);
        }
        let p50 = h.quantile(0.5);
        assert!((490_000..=500_000).contains(&p50), "{p50}");
        let p99 = h.quantile(0.99);
        assert!((975_000..=990_000).contains(&p99), "{p99}");
        assert_eq!(h.max(), 1_000_000);
        assert_eq!(
            h.quantile(1.0),
            1_000_000u64.min(lower_bound(index(1_000_000)))
        );
        let mut other = Histogram::default();
        other.record(5_000_000);
        h.merge(&other);
        assert_eq!((h.count(), h.max()), (1001, 5_000_000));
    }
}
