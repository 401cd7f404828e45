//! Words: how keys and patterns split (RabbitMQ's `split_topic_key/1`), and the table that turns
//! the literal words of the trie's patterns into small integers.
//!
//! A route looks each word of its key up once in [`WordTable`] and then walks the trie comparing
//! integers: the same word is met at many nodes (every `#` node the walk enters looks at every
//! later word), and comparing bytes there cost a hash and a `memcmp` each time. A word that no
//! pattern uses becomes [`UNKNOWN`], which only `*` and `#` accept, so a fresh call id or user
//! uuid in a key costs one failed lookup and then nothing.

use std::borrow::Borrow;
use std::hash::{Hash, Hasher};

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
    ids: HashMap<StoredWord, WordId>,
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
        self.ids.insert(StoredWord::new(word), id);
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
}

/// Words up to this long (a uuid is 36 bytes) are kept inline in the table's entries.
const INLINE_WORD: usize = 38;

/// A word as the table keeps it: inline when short, so that a lookup compares it where the
/// probe already is instead of following a pointer to it (a cache miss per known word).
#[derive(Debug, Clone)]
enum StoredWord {
    Inline(u8, [u8; INLINE_WORD]),
    Boxed(Box<[u8]>),
}

impl StoredWord {
    fn new(word: &[u8]) -> Self {
        match u8::try_from(word.len()) {
            Ok(len) if word.len() <= INLINE_WORD => {
                let mut bytes = [0; INLINE_WORD];
                bytes[..word.len()].copy_from_slice(word);
                StoredWord::Inline(len, bytes)
            }
            _ => StoredWord::Boxed(word.into()),
        }
    }
}

impl Borrow<[u8]> for StoredWord {
    fn borrow(&self) -> &[u8] {
        match self {
            StoredWord::Inline(len, bytes) => &bytes[..usize::from(*len)],
            StoredWord::Boxed(bytes) => bytes,
        }
    }
}

// Hashed and compared as the bytes they borrow as, which `Borrow` requires.
impl Hash for StoredWord {
    fn hash<H: Hasher>(&self, state: &mut H) {
        Borrow::<[u8]>::borrow(self).hash(state);
    }
}

impl PartialEq for StoredWord {
    fn eq(&self, other: &Self) -> bool {
        Borrow::<[u8]>::borrow(self) == Borrow::<[u8]>::borrow(other)
    }
}

impl Eq for StoredWord {}

/// Words up to this long are kept in a [`WordCache`] slot: Wazo's fixed words (`config`,
/// `users`, `forwards`, `participants`…) are, a uuid (36 bytes) is not.
const CACHED_WORD: usize = 19;
/// Slots of a [`WordCache`]: 16 KiB.
const CACHE_SLOTS: usize = 512;

/// The ids of the known words routed last, in front of the [`WordTable`]. The table holds every
/// literal word of the patterns (with 100 000 bindings, tens of thousands, over megabytes), so
/// even the few words that most keys share (`config`, `users`, `updated`) have their entries
/// spread over as many cache lines, which the rest of a route evicts: a third of the route of a
/// key not seen lately went to those lookups. Here they sit together, one 32-byte slot each,
/// picked by the word's hash. Unknown words are not kept, so a stream of fresh values (uuids,
/// call ids) does not push the known words out.
///
/// Its ids are the table's at the time: whoever owns it replaces it when the table changes.
#[derive(Debug, Clone, Default)]
pub(super) struct WordCache {
    hasher: foldhash::fast::RandomState,
    /// Empty until a word is looked up, then [`CACHE_SLOTS`].
    slots: Vec<CachedWord>,
}

#[derive(Debug, Clone, Copy)]
#[repr(C, align(32))]
struct CachedWord {
    /// The word's hash, never 0; 0 in a slot that no word has used.
    hash: u64,
    id: WordId,
    len: u8,
    bytes: [u8; CACHED_WORD],
}

const _: () = assert!(std::mem::size_of::<CachedWord>() == 32);

impl WordCache {
    /// [`WordTable::id`] of `word`, from the cache when it is there.
    pub(super) fn id(&mut self, table: &WordTable, word: &[u8]) -> WordId {
        let Some(len) = u8::try_from(word.len())
            .ok()
            .filter(|&len| usize::from(len) <= CACHED_WORD)
        else {
            return table.id(word);
        };
        if self.slots.is_empty() {
            self.slots = vec![CachedWord::UNUSED; CACHE_SLOTS];
        }
        let hash = std::hash::BuildHasher::hash_one(&self.hasher, word) | 1;
        // The hash's top bits: `CACHE_SLOTS` is 2^9.
        let slot = &mut self.slots[(hash >> 55) as usize];
        if slot.hash == hash && slot.len == len && same_short(&slot.bytes[..word.len()], word) {
            return slot.id;
        }
        let id = table.id(word);
        if id != UNKNOWN {
            *slot = CachedWord {
                hash,
                id,
                len,
                ..CachedWord::UNUSED
            };
            slot.bytes[..word.len()].copy_from_slice(word);
        }
        id
    }
}

/// `a == b` for two slices of the same length, at most 24 bytes, by two or three overlapping
/// loads of 8 (or 4) bytes: `==` on slices calls `memcmp`, a third of a cached word's lookup.
fn same_short(a: &[u8], b: &[u8]) -> bool {
    /// Whether `a` and `b` have the same `N` bytes at each of `starts`: fixed-size arrays
    /// compare as integers.
    fn same_at<const N: usize>(a: &[u8], b: &[u8], starts: &[usize]) -> bool {
        let at = |bytes: &[u8], start: usize| {
            let mut chunk = [0; N];
            chunk.copy_from_slice(&bytes[start..start + N]);
            chunk
        };
        starts.iter().all(|&start| at(a, start) == at(b, start))
    }
    debug_assert!(a.len() == b.len() && a.len() <= 24);
    let n = a.len();
    match n {
        0..=3 => a.iter().zip(b).all(|(x, y)| x == y),
        4..=7 => same_at::<4>(a, b, &[0, n - 4]),
        8..=16 => same_at::<8>(a, b, &[0, n - 8]),
        _ => same_at::<8>(a, b, &[0, 8, n - 8]),
    }
}

impl CachedWord {
    const UNUSED: CachedWord = CachedWord {
        hash: 0,
        id: UNKNOWN,
        len: 0,
        bytes: [0; CACHED_WORD],
    };
}

/// A key's words, each looked up in the table only when the walk first needs its id: a route
/// through `config.users.<uuid>.#` needs the first three, whatever follows.
pub(super) struct KeyWords<'k> {
    words: Inline<&'k [u8]>,
    /// [`NOT_LOOKED_UP`] until the walk asks.
    ids: Inline<WordId>,
}

const NOT_LOOKED_UP: WordId = UNKNOWN - 1;

impl<'k> KeyWords<'k> {
    pub(super) fn new(key: &'k [u8]) -> Self {
        let mut split = Inline::Stack([&[][..]; INLINE_KEY_WORDS], 0);
        for word in words(key) {
            split.push(word);
        }
        let len = split.as_slice().len();
        KeyWords {
            words: split,
            ids: Inline::filled(NOT_LOOKED_UP, len),
        }
    }

    pub(super) fn len(&self) -> usize {
        self.words.as_slice().len()
    }

    /// The id of the word at `pos` (below [`len`](Self::len)).
    pub(super) fn id(&mut self, table: &WordTable, pos: usize) -> WordId {
        let id = &mut self.ids.as_mut_slice()[pos];
        if *id == NOT_LOOKED_UP {
            *id = table.id(self.words.as_slice()[pos]);
        }
        *id
    }
}

/// A short vector on the stack, on the heap past [`INLINE_KEY_WORDS`].
enum Inline<T> {
    Stack([T; INLINE_KEY_WORDS], usize),
    Heap(Vec<T>),
}

impl<T: Copy> Inline<T> {
    fn filled(value: T, len: usize) -> Self {
        match len <= INLINE_KEY_WORDS {
            true => Inline::Stack([value; INLINE_KEY_WORDS], len),
            false => Inline::Heap(vec![value; len]),
        }
    }

    fn push(&mut self, value: T) {
        match self {
            Inline::Stack(items, len) if *len < INLINE_KEY_WORDS => {
                items[*len] = value;
                *len += 1;
            }
            Inline::Stack(items, _) => {
                let mut heap = items.to_vec();
                heap.push(value);
                *self = Inline::Heap(heap);
            }
            Inline::Heap(items) => items.push(value),
        }
    }

    fn as_slice(&self) -> &[T] {
        match self {
            Inline::Stack(items, len) => &items[..*len],
            Inline::Heap(items) => items,
        }
    }

    fn as_mut_slice(&mut self) -> &mut [T] {
        match self {
            Inline::Stack(items, len) => &mut items[..*len],
            Inline::Heap(items) => items,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{
        same_short, words, KeyWords, WordCache, WordTable, CACHED_WORD, INLINE_KEY_WORDS, UNKNOWN,
    };

    #[test]
    fn short_words_are_equal_when_every_byte_is() {
        let word: Vec<u8> = (b'a'..).take(24).collect();
        for len in 0..=24 {
            let word = &word[..len];
            assert!(same_short(word, word), "{len}");
            for at in 0..len {
                let mut other = word.to_vec();
                other[at] ^= 1;
                assert!(!same_short(word, &other), "length {len}, byte {at}");
            }
        }
    }

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
        let long = [b'w'; 200];
        let id = table.acquire(&long);
        assert_eq!(table.id(&long), id, "long words are kept too");
        assert_eq!(table.id(&long[..199]), UNKNOWN);
    }

    #[test]
    fn the_cache_gives_the_tables_ids_and_keeps_only_known_words() {
        let mut table = WordTable::default();
        let mut cache = WordCache::default();
        let words: Vec<Vec<u8>> = (0..2_000).map(|i| format!("w{i}").into_bytes()).collect();
        let ids: Vec<_> = words.iter().map(|w| table.acquire(w)).collect();
        let long = [b'l'; CACHED_WORD + 1];
        let long_id = table.acquire(&long);
        // Twice each: once from the table, once (for most) from the cache; more words than
        // slots, so that some evict others.
        for _ in 0..2 {
            for (word, &id) in words.iter().zip(&ids) {
                assert_eq!(cache.id(&table, word), id);
            }
            assert_eq!(cache.id(&table, &long), long_id);
            assert_eq!(cache.id(&table, b"w"), UNKNOWN);
            assert_eq!(cache.id(&table, b""), UNKNOWN);
        }
        assert!(
            cache
                .slots
                .iter()
                .all(|slot| slot.id != UNKNOWN || slot.hash == 0),
            "no unknown word takes a slot"
        );
        // The word looked up last is answered from its slot, without the table.
        let empty = WordTable::default();
        assert_eq!(
            cache.id(&empty, &words[1_999]),
            ids[1_999],
            "from the cache"
        );
        assert_eq!(cache.id(&empty, &long), UNKNOWN, "too long to be kept");
        // Its owner replaces it when the table changes: the ids are the new table's.
        table.release(&words[0]);
        let reused = table.acquire(b"fresh");
        assert_eq!(reused, ids[0]);
        let mut cache = WordCache::default();
        assert_eq!(cache.id(&table, &words[0]), UNKNOWN);
        assert_eq!(cache.id(&table, b"fresh"), reused);
    }

    #[test]
    fn long_keys_spill_to_the_heap_in_order() {
        let mut table = WordTable::default();
        let known = table.acquire(b"k");
        let key = (0..INLINE_KEY_WORDS + 3)
            .map(|i| if i % 2 == 0 { "k" } else { "x" })
            .collect::<Vec<_>>()
            .join(".");
        let mut split = KeyWords::new(key.as_bytes());
        let ids: Vec<_> = (0..split.len()).map(|i| split.id(&table, i)).collect();
        let expected: Vec<_> = (0..INLINE_KEY_WORDS + 3)
            .map(|i| if i % 2 == 0 { known } else { UNKNOWN })
            .collect();
        assert_eq!(ids, expected);
        assert_eq!(KeyWords::new(b"").len(), 0);
    }
}
