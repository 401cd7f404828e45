//! `Children`: a trie node's literal-word edges, by interned word.
//!
//! Most nodes have one to a few children (`config.users` has thousands, one per user uuid, but
//! `config.users.<uuid>` has a handful). Up to [`INLINE_MAX`] edges live in the node itself, so
//! that a walk reads them from the node it has just reached rather than following a pointer to
//! another cache line (a walk of a key not seen lately is a chain of such misses); up to
//! [`FEW_MAX`] in a short vector scanned in one or two cache lines; only a node with more pays
//! for a hash table.

use foldhash::HashMap;

use super::words::WordId;
use super::NodeId;

/// The most edges kept in the node itself.
const INLINE_MAX: usize = 4;
/// The most children kept in a scanned vector.
const FEW_MAX: usize = 8;

#[derive(Debug, Clone)]
pub(super) enum Children {
    /// The first `len` of `edges`, with child ids as `u32` (a trie of 2^32 nodes would not fit
    /// in memory; a larger id goes to the vector).
    Inline {
        len: u8,
        edges: [(WordId, u32); INLINE_MAX],
    },
    Few(Vec<(WordId, NodeId)>),
    Many(HashMap<WordId, NodeId>),
}

impl Default for Children {
    fn default() -> Self {
        Children::Inline {
            len: 0,
            edges: [(0, 0); INLINE_MAX],
        }
    }
}

impl Children {
    pub(super) fn get(&self, word: WordId) -> Option<NodeId> {
        match self {
            Children::Inline { len, edges } => edges[..usize::from(*len)]
                .iter()
                .find(|(w, _)| *w == word)
                .map(|&(_, n)| n as NodeId),
            Children::Few(edges) => edges.iter().find(|(w, _)| *w == word).map(|&(_, n)| n),
            Children::Many(edges) => edges.get(&word).copied(),
        }
    }

    /// Adds an edge; `word` has none here yet.
    pub(super) fn insert(&mut self, word: WordId, child: NodeId) {
        match self {
            Children::Inline { len, edges } if usize::from(*len) < INLINE_MAX => {
                if let Ok(child) = u32::try_from(child) {
                    edges[usize::from(*len)] = (word, child);
                    *len += 1;
                    return;
                }
            }
            Children::Few(edges) if edges.len() < FEW_MAX => return edges.push((word, child)),
            Children::Many(edges) => {
                edges.insert(word, child);
                return;
            }
            _ => {}
        }
        // Full, or a child id too large for the node: the next form, with every edge.
        let mut edges = self.edges();
        edges.push((word, child));
        *self = match edges.len() <= FEW_MAX {
            true => Children::Few(edges),
            false => Children::Many(edges.into_iter().collect()),
        };
    }

    pub(super) fn remove(&mut self, word: WordId) {
        match self {
            Children::Inline { len, edges } => {
                let last = usize::from(*len);
                if let Some(i) = edges[..last].iter().position(|(w, _)| *w == word) {
                    edges[i] = edges[last - 1];
                    *len -= 1;
                }
            }
            Children::Few(edges) => {
                edges.retain(|(w, _)| *w != word);
                // Back into the node at half the threshold, so that a node at the threshold does
                // not flap, giving the vector's memory back.
                if edges.len() <= INLINE_MAX / 2 {
                    if let Some(inline) = inline(edges) {
                        *self = inline;
                    }
                }
            }
            Children::Many(edges) => {
                edges.remove(&word);
                if edges.len() <= FEW_MAX / 2 {
                    // Back to a vector, giving the table's memory back: a node that had many
                    // children may not again, and one at the threshold does not flap.
                    *self = Children::Few(edges.drain().collect());
                }
            }
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        match self {
            Children::Inline { len, .. } => *len == 0,
            Children::Few(edges) => edges.is_empty(),
            Children::Many(edges) => edges.is_empty(),
        }
    }

    /// Every edge, in no order.
    fn edges(&self) -> Vec<(WordId, NodeId)> {
        match self {
            Children::Inline { len, edges } => edges[..usize::from(*len)]
                .iter()
                .map(|&(w, n)| (w, n as NodeId))
                .collect(),
            Children::Few(edges) => edges.clone(),
            Children::Many(edges) => edges.iter().map(|(&w, &n)| (w, n)).collect(),
        }
    }
}

/// `edges` kept in the node, if they are few enough and their ids fit.
fn inline(edges: &[(WordId, NodeId)]) -> Option<Children> {
    let fits = edges.len() <= INLINE_MAX && edges.iter().all(|&(_, n)| u32::try_from(n).is_ok());
    fits.then(|| {
        let mut children = Children::default();
        for &(word, child) in edges {
            children.insert(word, child);
        }
        children
    })
}

#[cfg(test)]
mod tests {
    use super::{Children, FEW_MAX, INLINE_MAX};

    #[test]
    fn grows_into_a_vector_and_a_table_and_shrinks_back() {
        let mut children = Children::default();
        let count = u32::try_from(FEW_MAX * 3).expect("small");
        for word in 0..count {
            children.insert(word, word as usize + 100);
            let expected = match word as usize + 1 {
                n if n <= INLINE_MAX => "inline",
                n if n <= FEW_MAX => "few",
                _ => "many",
            };
            assert_eq!(form(&children), expected, "{} edges", word + 1);
        }
        assert!((0..count).all(|w| children.get(w) == Some(w as usize + 100)));
        assert_eq!(children.get(count), None);
        for word in 0..count {
            children.remove(word);
            assert_eq!(children.get(word), None);
            assert!((word + 1..count).all(|w| children.get(w) == Some(w as usize + 100)));
        }
        assert_eq!(form(&children), "inline");
        assert!(children.is_empty());
    }

    #[test]
    fn a_child_id_past_u32_goes_to_the_vector() {
        let mut children = Children::default();
        children.insert(1, 5);
        let far = u32::MAX as usize + 7;
        children.insert(2, far);
        assert_eq!(form(&children), "few");
        assert_eq!(children.get(1), Some(5));
        assert_eq!(children.get(2), Some(far));
        children.remove(1);
        assert_eq!(form(&children), "few", "its id does not fit in the node");
        assert_eq!(children.get(2), Some(far));
    }

    fn form(children: &Children) -> &'static str {
        match children {
            Children::Inline { .. } => "inline",
            Children::Few(_) => "few",
            Children::Many(_) => "many",
        }
    }
}
