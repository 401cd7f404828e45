//! De-duplication of the destinations that one route appended, when they came from more than
//! one set (trie nodes, headers buckets) and may repeat.

use std::hash::Hash;

use foldhash::{HashSet, HashSetExt};

/// Above this many appended destinations, de-duplicate with a hash set instead of a scan.
const DEDUP_SCAN_MAX: usize = 32;

/// Removes repeats from `out[start..]`, keeping first occurrences in order; `out[..start]` is
/// left alone (it holds other exchanges' destinations).
pub(crate) fn dedup_from<D: Eq + Hash>(out: &mut Vec<D>, start: usize) {
    let appended = out.len() - start;
    if appended <= DEDUP_SCAN_MAX {
        let mut kept = start;
        for i in start..out.len() {
            if !out[start..kept].contains(&out[i]) {
                out.swap(kept, i);
                kept += 1;
            }
        }
        out.truncate(kept);
    } else {
        let mut seen = HashSet::with_capacity(appended);
        let keep: Vec<bool> = out[start..].iter().map(|d| seen.insert(d)).collect();
        let mut index = 0;
        out.retain(|_| {
            let kept = index < start || keep[index - start];
            index += 1;
            kept
        });
    }
}

#[cfg(test)]
mod tests {
    use super::{dedup_from, DEDUP_SCAN_MAX};

    #[test]
    fn dedup_keeps_the_prefix_and_first_occurrences() {
        let mut small = vec![9, 9, 1, 2, 1, 3, 2];
        dedup_from(&mut small, 2);
        assert_eq!(small, [9, 9, 1, 2, 3]);

        let mut large: Vec<usize> = vec![7];
        large.extend((0..DEDUP_SCAN_MAX * 2).map(|i| i % (DEDUP_SCAN_MAX + 5)));
        dedup_from(&mut large, 1);
        let expected: Vec<usize> = std::iter::once(7).chain(0..DEDUP_SCAN_MAX + 5).collect();
        assert_eq!(large, expected);
    }
}
