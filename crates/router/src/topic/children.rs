//! `Children`: a trie node's literal-word edges, by interned word.
//!
//! Most nodes have one to a few children (`config.users` has thousands, one per user uuid, but
//! `config.users.<uuid>` has a handful), so a small node keeps its edges in a short vector
//! scanned in one or two cache lines, and only a node with more than [`FEW_MAX`] children pays
//! for a hash table.

use foldhash::{HashMap, HashMapExt};

use super::words::WordId;
use super::NodeId;

/// The most children kept in a scanned vector.
const FEW_MAX: usize = 8;

#[derive(Debug, Clone)]
pub(super) enum Children {
    Few(Vec<(WordId, NodeId)>),
    Many(HashMap<WordId, NodeId>),
}

impl Default for Children {
    fn default() -> Self {
        Children::Few(Vec::new())
    }
}

impl Children {
    pub(super) fn get(&self, word: WordId) -> Option<NodeId> {
        match self {
            Children::Few(edges) => edges.iter().find(|(w, _)| *w == word).map(|&(_, n)| n),
            Children::Many(edges) => edges.get(&word).copied(),
        }
    }

    /// Adds an edge; `word` has none here yet.
    pub(super) fn insert(&mut self, word: WordId, child: NodeId) {
        match self {
            Children::Few(edges) if edges.len() < FEW_MAX => edges.push((word, child)),
            Children::Few(edges) => {
                let mut many = HashMap::with_capacity(FEW_MAX * 2);
                many.extend(edges.drain(..));
                many.insert(word, child);
                *self = Children::Many(many);
            }
            Children::Many(edges) => {
                edges.insert(word, child);
            }
        }
    }

    pub(super) fn remove(&mut self, word: WordId) {
        match self {
            Children::Few(edges) => edges.retain(|(w, _)| *w != word),
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
            Children::Few(edges) => edges.is_empty(),
            Children::Many(edges) => edges.is_empty(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Children, FEW_MAX};

    #[test]
    fn grows_into_a_table_and_shrinks_back() {
        let mut children = Children::default();
        let count = u32::try_from(FEW_MAX * 3).expect("small");
        for word in 0..count {
            children.insert(word, word as usize + 100);
        }
        assert!(matches!(children, Children::Many(_)));
        assert!((0..count).all(|w| children.get(w) == Some(w as usize + 100)));
        assert_eq!(children.get(count), None);
        for word in 0..count {
            children.remove(word);
            assert_eq!(children.get(word), None);
            assert!((word + 1..count).all(|w| children.get(w) == Some(w as usize + 100)));
        }
        assert!(matches!(children, Children::Few(_)));
        assert!(children.is_empty());
    }
}
