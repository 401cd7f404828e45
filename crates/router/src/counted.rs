//! `CountedSet`: the destinations bound at one direct key or one topic-trie node, each with the
//! number of bindings that put it there, so that a destination stays until its last binding goes
//! (two bindings may differ only by their arguments, or by `#.#` versus `#`).
//!
//! Cost: one destination in place, more in a plain vector searched linearly on bind and unbind,
//! O(destinations at this key). Routing only iterates it, and each destination appears once, so
//! a route never dedupes within one set.

/// One destination is kept in place, since most keys and trie nodes have one: a route reads it
/// where it read the node or the map's entry, instead of following a pointer to another cache
/// line (a walk of a key not seen lately is a chain of such misses).
#[derive(Debug, Clone)]
pub(crate) enum CountedSet<D> {
    /// Any number, none included.
    Many(Vec<(D, usize)>),
    One((D, usize)),
}

impl<D> Default for CountedSet<D> {
    fn default() -> Self {
        CountedSet::Many(Vec::new())
    }
}

impl<D: Eq> CountedSet<D> {
    pub(crate) fn add(&mut self, dest: D) {
        match self {
            CountedSet::One((d, count)) if *d == dest => *count += 1,
            CountedSet::Many(claims) if claims.is_empty() => *self = CountedSet::One((dest, 1)),
            CountedSet::Many(claims) => match claims.iter_mut().find(|(d, _)| *d == dest) {
                Some((_, count)) => *count += 1,
                None => claims.push((dest, 1)),
            },
            CountedSet::One(_) => {
                if let CountedSet::One(first) = std::mem::take(self) {
                    *self = CountedSet::Many(vec![first, (dest, 1)]);
                }
            }
        }
    }

    /// Drops one binding's claim on `dest`; false when `dest` is not here.
    pub(crate) fn remove(&mut self, dest: &D) -> bool {
        match self {
            CountedSet::One((d, count)) if d == dest => {
                *count -= 1;
                if *count == 0 {
                    *self = CountedSet::default();
                }
                true
            }
            CountedSet::One(_) => false,
            CountedSet::Many(claims) => {
                let Some(i) = claims.iter().position(|(d, _)| d == dest) else {
                    return false;
                };
                claims[i].1 -= 1;
                if claims[i].1 == 0 {
                    claims.swap_remove(i);
                    if claims.len() == 1 {
                        if let Some(last) = claims.pop() {
                            *self = CountedSet::One(last);
                        }
                    }
                }
                true
            }
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        matches!(self, CountedSet::Many(claims) if claims.is_empty())
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &D> {
        let claims = match self {
            CountedSet::One(claim) => std::slice::from_ref(claim),
            CountedSet::Many(claims) => claims.as_slice(),
        };
        claims.iter().map(|(d, _)| d)
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
        assert!(
            matches!(set, CountedSet::One(("q", 2))),
            "one destination, in place"
        );
        set.add("r");
        assert_eq!(set.iter().count(), 2, "each destination is listed once");
        assert!(set.remove(&"q"));
        assert!(set.iter().any(|d| *d == "q"));
        assert!(set.remove(&"q"));
        assert!(!set.iter().any(|d| *d == "q"));
        assert!(matches!(set, CountedSet::One(("r", 1))), "back in place");
        assert!(!set.remove(&"q"));
        assert!(set.remove(&"r"));
        assert!(set.is_empty());
    }
}
