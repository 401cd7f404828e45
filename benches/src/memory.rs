//! A working set for measuring what a load costs when it misses the caches: the floor under
//! every route of a key whose data the router has not touched lately.

use crate::rng::Rng;

/// Bytes in a cache line: the chain puts one link in each.
pub const LINE: usize = 64;
const LINKS_PER_LINE: usize = LINE / std::mem::size_of::<usize>();

/// A chain of dependent loads through every cache line of `bytes` (at least two lines), in a
/// random order: the first `usize` of each line holds the index of the next line's, and the
/// links form a single cycle (Sattolo's shuffle). Each load's address is the value of the one
/// before, so no two loads overlap and no prefetcher guesses the next one.
pub fn pointer_chain(bytes: usize) -> Vec<usize> {
    let lines = (bytes / LINE).max(2);
    let mut next: Vec<usize> = (0..lines).collect();
    let mut rng = Rng::new(lines as u64);
    for i in (1..lines).rev() {
        next.swap(i, rng.below(i));
    }
    let mut chain = vec![0; lines * LINKS_PER_LINE];
    for (line, &to) in next.iter().enumerate() {
        chain[line * LINKS_PER_LINE] = to * LINKS_PER_LINE;
    }
    chain
}

#[cfg(test)]
mod tests {
    use super::{pointer_chain, LINKS_PER_LINE};

    #[test]
    fn the_chain_visits_every_line_once_per_cycle() {
        let chain = pointer_chain(64 * 1000);
        let mut seen = vec![false; 1000];
        let mut at = 0;
        for _ in 0..1000 {
            assert!(
                !seen[at / LINKS_PER_LINE],
                "line {} twice",
                at / LINKS_PER_LINE
            );
            seen[at / LINKS_PER_LINE] = true;
            at = chain[at];
        }
        assert_eq!(at, 0, "back where it started");
        assert!(seen.iter().all(|&s| s));
    }
}
