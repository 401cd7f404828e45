//! Words: how keys and patterns split (RabbitMQ's `split_topic_key/1`), and the table that turns
//! the literal words of the trie's patterns into small integers.
//!
//! A route looks each word of its key up once in [`WordTable`] and then walks the trie comparing
//! integers: the same word is met at many nodes (every `#` node the walk enters looks at every
//! later word), and comparing bytes there cost a hash and a `memcmp` each time. A word that no
//! pattern uses becomes [`UNKNOWN`], which only `*` and `#` accept, so a fresh call id or user
//! uuid in a key costs one failed lookup and then nothing.

use foldhash::HashMap;

/// A literal word of a bound pattern, interned.
pub(super) type WordId = u32;

/// A key word that no bound pattern has as a literal word.
pub(super) const UNKNOWN: WordId = WordId::MAX;

/// How many key words a route splits without allocating; Wazo's keys have 2 to 7.
const INLINE_KEY_WORDS: usize = 16;

/// The words of a key or pattern, RabbitMQ's way: `.`-separated, empty words included, and zero
/// words for the empty key (where Rust's `split` would yield one empty word).
pub(super) fn words(key: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = (!key.is_empty()).then_some(key);
    std::iter::from_fn(move || {
        let text = rest?;
        Some(match memchr::memchr(b'.', text) {
            Some(dot) => {
                rest = Some(&text[dot + 1..]);
                &text[..dot]
            }
            None => {
                rest = None;
                text
            }
        })
    })
}

/// The literal words of the trie's patterns, each with the number of trie edges that use it, so
/// that a word leaves the table with its last edge and bind/unbind churn does not grow it.
#[derive(Debug, Clone, Default)]
pub(super) struct WordTable {
    ids: HashMap<Box<[u8]>, WordId>,
    /// Edges using each id; the ids whose count fell to zero wait in `free`.
    uses: Vec<u32>,
    free: Vec<WordId>,
}

impl WordTable {
    /// The id of `word`, or [`UNKNOWN`] when no edge uses it.
    pub(super) fn id(&self, word: &[u8]) -> WordId {
        self.ids.get(word).copied().unwrap_or(UNKNOWN)
    }

    /// The id of `word` for a new edge, which now uses it.
    pub(super) fn acquire(&mut self, word: &[u8]) -> WordId {
        if let Some(&id) = self.ids.get(word) {
            self.uses[id as usize] += 1;
            return id;
        }
        let id = match self.free.pop() {
            Some(id) => id,
            None => {
                self.uses.push(0);
                // Every id is a live edge or a freed one: the trie would need billions of
                // nodes, far beyond any memory the broker admits, to run out.
                WordId::try_from(self.uses.len() - 1).expect("fewer than 2^32 - 1 words")
            }
        };
        self.uses[id as usize] = 1;
        self.ids.insert(word.into(), id);
        id
    }

    /// An edge labelled `word` is gone.
    pub(super) fn release(&mut self, word: &[u8]) {
        let Some(&id) = self.ids.get(word) else {
            return;
        };
        let uses = &mut self.uses[id as usize];
        *uses -= 1;
        if *uses == 0 {
            self.ids.remove(word);
            self.free.push(id);
        }
    }

    /// How many distinct words the table holds.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.ids.len()
    }

    /// The ids of `key`'s words, in order.
    pub(super) fn key(&self, key: &[u8]) -> KeyIds {
        let mut ids = KeyIds::Inline([UNKNOWN; INLINE_KEY_WORDS], 0);
        for word in words(key) {
            ids.push(self.id(word));
        }
        ids
    }
}

/// A key's word ids, on the stack unless the key is long.
pub(super) enum KeyIds {
    Inline([WordId; INLINE_KEY_WORDS], usize),
    Spilled(Vec<WordId>),
}

impl KeyIds {
    fn push(&mut self, id: WordId) {
        match self {
            KeyIds::Inline(ids, len) if *len < INLINE_KEY_WORDS => {
                ids[*len] = id;
                *len += 1;
            }
            KeyIds::Inline(ids, _) => {
                let mut spilled = ids.to_vec();
                spilled.push(id);
                *self = KeyIds::Spilled(spilled);
            }
            KeyIds::Spilled(ids) => ids.push(id),
        }
    }

    pub(super) fn as_slice(&self) -> &[WordId] {
        match self {
            KeyIds::Inline(ids, len) => &ids[..*len],
            KeyIds::Spilled(ids) => ids,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{words, WordTable, INLINE_KEY_WORDS, UNKNOWN};

    #[test]
    fn the_empty_key_has_zero_words_and_empty_words_count() {
        let split = |k: &'static str| words(k.as_bytes()).collect::<Vec<_>>();
        assert!(split("").is_empty());
        assert_eq!(split("a"), [&b"a"[..]]);
        assert_eq!(split("a..b"), [&b"a"[..], b"", b"b"]);
        assert_eq!(split("a."), [&b"a"[..], b""]);
        assert_eq!(split("."), [&b""[..], b""]);
    }

    #[test]
    fn a_word_leaves_with_its_last_edge_and_its_id_is_reused() {
        let mut table = WordTable::default();
        let a = table.acquire(b"a");
        assert_eq!(table.acquire(b"a"), a);
        let b = table.acquire(b"b");
        assert_ne!(a, b);
        table.release(b"a");
        assert_eq!(table.id(b"a"), a, "one edge still uses it");
        table.release(b"a");
        assert_eq!(table.id(b"a"), UNKNOWN);
        assert_eq!(table.acquire(b"c"), a, "the freed id is reused");
        assert_eq!(table.len(), 2);
    }

    #[test]
    fn long_keys_spill_to_the_heap_in_order() {
        let mut table = WordTable::default();
        let known = table.acquire(b"k");
        let key = (0..INLINE_KEY_WORDS + 3)
            .map(|i| if i % 2 == 0 { "k" } else { "x" })
            .collect::<Vec<_>>()
            .join(".");
        let ids = table.key(key.as_bytes());
        let expected: Vec<_> = (0..INLINE_KEY_WORDS + 3)
            .map(|i| if i % 2 == 0 { known } else { UNKNOWN })
            .collect();
        assert_eq!(ids.as_slice(), expected);
        assert!(table.key(b"").as_slice().is_empty());
    }
}
