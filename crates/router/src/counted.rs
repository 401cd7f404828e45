//! `CountedSet`: the destinations bound at one direct key or one topic-trie node, each with the
//! number of bindings that put it there, so that a destination stays until its last binding goes
//! (two bindings may differ only by their arguments, or by `#.#` versus `#`).
//!
//! Cost: a plain vector searched linearly on bind and unbind, O(destinations at this key). Routing
//! only iterates it, and each destination appears once, so a route never dedupes within one set.

#[derive(Debug, Clone)]
pub(crate) struct CountedSet<D>(Vec<(D, usize)>);

impl<D> Default for CountedSet<D> {
    fn default() -> Self {
        CountedSet(Vec::new())
    }
}

impl<D: Eq> CountedSet<D> {
    pub(crate) fn add(&mut self, dest: D) {
        match self.0.iter_mut().find(|(d, _)| *d == dest) {
            Some((_, count)) => *count += 1,
            None => self.0.push((dest, 1)),
        }
    }

    /// Drops one binding's claim on `dest`; false when `dest` is not here.
    pub(crate) fn remove(&mut self, dest: &D) -> bool {
        let Some(i) = self.0.iter().position(|(d, _)| d == dest) else {
            return false;
        };
        self.0[i].1 -= 1;
        if self.0[i].1 == 0 {
            self.0.swap_remove(i);
        }
        true
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &D> {
        self.0.iter().map(|(d, _)| d)
    }
}

#[cfg(test)]
mod tests {
    use super::CountedSet;

    #[test]
    fn a_destination_stays_until_its_last_claim_goes() {
        let mut set = CountedSet::default();
        set.add("q");
        set.add("q");
        set.add("r");
        assert_eq!(set.iter().count(), 2, "each destination is listed once");
        assert!(set.remove(&"q"));
        assert!(set.iter().any(|d| *d == "q"));
        assert!(set.remove(&"q"));
        assert!(!set.iter().any(|d| *d == "q"));
        assert!(!set.remove(&"q"));
        assert!(set.remove(&"r"));
        assert!(set.is_empty());
    }
}
