//! `TopicTrie`: topic-exchange matching, RabbitMQ's semantics exactly
//! (`rabbit_exchange_type_topic` / `rabbit_db_topic_exchange`, `split_topic_key/1`).
//!
//! # Semantics
//! - Keys and patterns are `.`-separated words. Words are bytes and may be empty: `a..b` has three
//!   words, the middle one empty, and `a.` has two. **The empty key has zero words** (RabbitMQ's
//!   `split_topic_key(<<>>)` is `[]`), whereas Rust's `split` would yield one empty word.
//! - In a pattern, the word `*` matches exactly one word (an empty one too) and the word `#` zero
//!   or more words, anywhere: `a.#.b` matches `a.b` and `a.x.y.b`. A `*` or `#` *inside* a word
//!   (`simply#carrots`) is literal, and so is a `*` or `#` word in a routing key.
//! - Consequences: `""` matches the patterns `#` and `""` but not `*`, and `a.#` does not match
//!   `""`; the pattern `""` matches only `""`; `#.#` matches what `#` matches.
//!
//! # Shape
//! Patterns with no `*` or `#` word match a key exactly when their bytes are equal (empty words
//! and the empty key included), so they live in one hash map keyed by the whole pattern, and a
//! route looks the whole key up once. The other patterns live in a trie: an arena of nodes; each
//! has its literal-word edges (`children.rs`) plus separate `*` and `#` children (as in NATS'
//! `sublist.go`), and the destinations bound at it with a count of the bindings that put each one
//! there. Edges are labelled by interned word ids (`words.rs`), not by bytes. Runs of `#` are
//! collapsed when a pattern is inserted, so a `#` node never has a `#` child. Removing a pattern
//! prunes the nodes it leaves empty and puts them on a free list, so bind/unbind churn does not
//! grow the arena.
//!
//! # Cost
//! Insert and remove: O(words in the pattern) map operations, plus O(destinations at the final
//! node or key). Route: one hash of the whole key for the wildcard-free patterns, then, only if
//! any wildcard pattern is bound, the trie walk, which compares integers: a key word is looked up
//! in the word table at most once, when a node with literal edges first needs it. The walk visits each (node, word position) state at most once, so it
//! is bounded by O(nodes reachable × words in the key) even for patterns like `#.a.#.a.#.a` (a
//! naive backtracking walk is exponential there). A route allocates nothing unless its key has
//! more than 16 words or it passes through more than `INLINE_HASH_MARKS` `#` nodes. Matches are
//! appended to the caller's vector; only when destinations came from two or more nodes is the
//! appended range de-duplicated (a linear scan when small, a hash set when large).
//!
//! The walk recurses once per trie level; patterns are AMQP short strings (≤ 255 bytes, so at
//! most 256 words), which bounds the depth.

mod automaton;
mod children;
mod words;

use foldhash::{HashMap, HashMapExt};
use std::hash::Hash;

use warren_wire::ShortStr;

use crate::counted::CountedSet;
use crate::dedup::dedup_from;
use children::Children;
use words::{words, KeyWords, WordTable, UNKNOWN};

pub use automaton::TopicAutomaton;

type NodeId = usize;
const ROOT: NodeId = 0;

/// A set of topic patterns, each bound to destinations of type `D`.
#[derive(Debug, Clone)]
pub struct TopicTrie<D> {
    /// The patterns without a `*` or `#` word, by their bytes.
    exact: HashMap<ShortStr, CountedSet<D>>,
    /// The trie of the other patterns.
    nodes: Vec<Node<D>>,
    /// Slots of `nodes` pruned away, for reuse.
    free: Vec<NodeId>,
    /// The literal words on the trie's edges.
    words: WordTable,
}

#[derive(Debug, Clone)]
struct Node<D> {
    /// Whether this is a `#` node, which stays live while it absorbs words.
    absorbs: bool,
    children: Children,
    star: Option<NodeId>,
    hash: Option<NodeId>,
    dests: CountedSet<D>,
}

impl<D> Default for Node<D> {
    fn default() -> Self {
        Node {
            absorbs: false,
            children: Children::default(),
            star: None,
            hash: None,
            dests: CountedSet::default(),
        }
    }
}

impl<D: Eq> Node<D> {
    fn is_unused(&self) -> bool {
        self.children.is_empty()
            && self.star.is_none()
            && self.hash.is_none()
            && self.dests.is_empty()
    }
}

/// One edge of the trie, as a pattern word reads.
#[derive(Debug, Clone, Copy)]
enum Step<'a> {
    Word(&'a [u8]),
    Star,
    Hash,
}

/// Whether a pattern has no `*` or `#` word, so that it matches only a key with its bytes.
fn is_exact(pattern: &ShortStr) -> bool {
    steps(pattern.as_bytes()).all(|step| matches!(step, Step::Word(_)))
}

/// The steps of a pattern, with runs of `#` collapsed into one.
fn steps(pattern: &[u8]) -> impl Iterator<Item = Step<'_>> {
    let mut after_hash = false;
    words(pattern).filter_map(move |word| {
        let step = match word {
            b"*" => Step::Star,
            b"#" => Step::Hash,
            _ => Step::Word(word),
        };
        let repeated = after_hash && matches!(step, Step::Hash);
        after_hash = matches!(step, Step::Hash);
        (!repeated).then_some(step)
    })
}

impl<D> Default for TopicTrie<D> {
    fn default() -> Self {
        TopicTrie {
            exact: HashMap::new(),
            nodes: vec![Node::default()],
            free: Vec::new(),
            words: WordTable::default(),
        }
    }
}

impl<D: Clone + Eq + Hash> TopicTrie<D> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Binds `pattern` to `dest`. Inserting the same pair twice needs two removes.
    pub fn insert(&mut self, pattern: &ShortStr, dest: D) {
        if is_exact(pattern) {
            self.exact.entry(pattern.clone()).or_default().add(dest);
            return;
        }
        let mut node = ROOT;
        for step in steps(pattern.as_bytes()) {
            node = match self.child(node, step) {
                Some(child) => child,
                None => {
                    let child = self.alloc();
                    self.link(node, step, child);
                    child
                }
            };
        }
        self.nodes[node].dests.add(dest);
    }

    /// Undoes one [`insert`](Self::insert) of the pair; false when there was none.
    pub fn remove(&mut self, pattern: &ShortStr, dest: &D) -> bool {
        if is_exact(pattern) {
            let Some(dests) = self.exact.get_mut(pattern.as_bytes()) else {
                return false;
            };
            let removed = dests.remove(dest);
            if dests.is_empty() {
                self.exact.remove(pattern.as_bytes());
            }
            return removed;
        }
        let mut path = Vec::new();
        let mut node = ROOT;
        for step in steps(pattern.as_bytes()) {
            let Some(child) = self.child(node, step) else {
                return false;
            };
            path.push((node, step));
            node = child;
        }
        if !self.nodes[node].dests.remove(dest) {
            return false;
        }
        while let Some((parent, step)) = path.pop() {
            if !self.nodes[node].is_unused() {
                break;
            }
            self.unlink(parent, step);
            self.nodes[node] = Node::default();
            self.free.push(node);
            node = parent;
        }
        true
    }

    /// Appends to `out` every destination bound to a pattern that matches `key`, each once.
    pub fn route(&self, key: &[u8], out: &mut Vec<D>) {
        let start = out.len();
        let mut sets = self.walk(key, out);
        if let Some(dests) = self.exact_dests(key) {
            sets += 1;
            out.extend(dests.iter().cloned());
        }
        if sets > 1 {
            dedup_from(out, start);
        }
    }

    /// The destinations of the wildcard-free pattern equal to `key`.
    fn exact_dests(&self, key: &[u8]) -> Option<&CountedSet<D>> {
        self.exact.get(key)
    }

    /// Appends the destinations of the wildcard patterns that match `key`, walking the trie;
    /// returns how many nodes they came from (with one, they are distinct).
    fn walk(&self, key: &[u8], out: &mut Vec<D>) -> usize {
        if self.has_no_wildcards() {
            return 0;
        }
        let mut walk = Walk {
            key: KeyWords::new(key),
            out,
            marks: HashMarks::default(),
            nodes_matched: 0,
        };
        self.visit(ROOT, 0, &mut walk);
        walk.nodes_matched
    }

    /// True when every bound pattern is wildcard-free, so that the trie is empty.
    fn has_no_wildcards(&self) -> bool {
        self.nodes[ROOT].is_unused()
    }

    /// True when no pattern is bound.
    pub fn is_empty(&self) -> bool {
        self.exact.is_empty() && self.has_no_wildcards()
    }

    /// Trie nodes in use, the root included: 1 when no wildcard pattern is bound. For leak tests
    /// and metrics.
    pub fn node_count(&self) -> usize {
        self.nodes.len() - self.free.len()
    }

    fn child(&self, node: NodeId, step: Step<'_>) -> Option<NodeId> {
        let node = &self.nodes[node];
        match step {
            Step::Word(word) => match self.words.id(word) {
                UNKNOWN => None,
                id => node.children.get(id),
            },
            Step::Star => node.star,
            Step::Hash => node.hash,
        }
    }

    fn alloc(&mut self) -> NodeId {
        match self.free.pop() {
            Some(id) => id,
            None => {
                self.nodes.push(Node::default());
                self.nodes.len() - 1
            }
        }
    }

    fn link(&mut self, parent: NodeId, step: Step<'_>, child: NodeId) {
        match step {
            Step::Word(word) => {
                let id = self.words.acquire(word);
                self.nodes[parent].children.insert(id, child);
            }
            Step::Star => self.nodes[parent].star = Some(child),
            Step::Hash => {
                self.nodes[parent].hash = Some(child);
                self.nodes[child].absorbs = true;
            }
        }
    }

    fn unlink(&mut self, parent: NodeId, step: Step<'_>) {
        match step {
            Step::Word(word) => {
                self.nodes[parent].children.remove(self.words.id(word));
                self.words.release(word);
            }
            Step::Star => self.nodes[parent].star = None,
            Step::Hash => self.nodes[parent].hash = None,
        }
    }

    /// `node` has been reached with the key's first `pos` words consumed.
    fn visit(&self, id: NodeId, pos: usize, walk: &mut Walk<'_, D>) {
        let node = &self.nodes[id];
        if let Some(hash) = node.hash {
            self.visit_hash(hash, pos, walk);
        }
        if pos == walk.key.len() {
            if !node.dests.is_empty() {
                walk.nodes_matched += 1;
                walk.out.extend(node.dests.iter().cloned());
            }
            return;
        }
        if !node.children.is_empty() {
            let word = walk.key.id(&self.words, pos);
            if let Some(child) = (word != UNKNOWN).then(|| node.children.get(word)).flatten() {
                self.visit(child, pos + 1, walk);
            }
        }
        if let Some(star) = node.star {
            self.visit(star, pos + 1, walk);
        }
    }

    /// The `#` node `id` is entered at `from`: it absorbs zero or more words, so it is visited at
    /// `from` and at every later position. Only its first entry does this: the walk visits each
    /// node at increasing positions (every hash loop runs forward and every other edge consumes
    /// one word), so the first entry is the earliest and covers all later ones. This is what
    /// keeps each (node, position) state to one visit.
    fn visit_hash(&self, id: NodeId, from: usize, walk: &mut Walk<'_, D>) {
        if !walk.marks.first_entry(id, from) {
            return;
        }
        for pos in from..=walk.key.len() {
            self.visit(id, pos, walk);
        }
    }
}

/// The state of one route call.
struct Walk<'a, D> {
    key: KeyWords<'a>,
    out: &'a mut Vec<D>,
    marks: HashMarks,
    /// Nodes whose destinations were appended; each node is reached at the key's end at most
    /// once, so with one the appended destinations are already distinct.
    nodes_matched: usize,
}

/// How many `#` nodes one route call tracks without allocating.
const INLINE_HASH_MARKS: usize = 8;

/// The `#` nodes entered during one route call, with the position of their first entry.
#[derive(Default)]
struct HashMarks {
    inline: [(NodeId, usize); INLINE_HASH_MARKS],
    len: usize,
    spilled: Vec<(NodeId, usize)>,
}

impl HashMarks {
    /// Records an entry into `node` at `pos`; true when it is the first.
    fn first_entry(&mut self, node: NodeId, pos: usize) -> bool {
        let known = self.inline[..self.len]
            .iter()
            .chain(&self.spilled)
            .find(|(n, _)| *n == node);
        if let Some(&(_, first)) = known {
            debug_assert!(first <= pos, "a node is visited at increasing positions");
            return false;
        }
        if self.len < INLINE_HASH_MARKS {
            self.inline[self.len] = (node, pos);
            self.len += 1;
        } else {
            self.spilled.push((node, pos));
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use warren_wire::ShortStr;

    use super::{steps, Step, TopicTrie, INLINE_HASH_MARKS};

    #[test]
    fn runs_of_hash_collapse_into_one_step() {
        let shape = |p: &'static str| {
            steps(p.as_bytes())
                .map(|s| match s {
                    Step::Word(w) => String::from_utf8_lossy(w).into_owned(),
                    Step::Star => "*".into(),
                    Step::Hash => "#".into(),
                })
                .collect::<Vec<_>>()
                .join(".")
        };
        assert_eq!(shape("#.#.#"), "#");
        assert_eq!(shape("a.#.#.*.#.#"), "a.#.*.#");
        assert_eq!(shape("simply#carrots.#"), "simply#carrots.#");
    }

    #[test]
    fn removing_every_pattern_frees_every_node() {
        let mut trie = TopicTrie::new();
        let patterns = [
            "a.b.c",
            "a.*.c",
            "a.#.b",
            "#",
            "#.#",
            "*.*",
            "",
            "a..b",
            "x.#.y.#.z",
        ];
        let mut peak = None;
        for round in 0..3 {
            for (i, p) in patterns.iter().enumerate() {
                trie.insert(&ShortStr::from(*p), i);
                trie.insert(&ShortStr::from(*p), i + round);
            }
            let arena = *peak.get_or_insert(trie.nodes.len());
            assert_eq!(trie.nodes.len(), arena, "freed nodes are reused");
            for (i, p) in patterns.iter().enumerate() {
                assert!(trie.remove(&ShortStr::from(*p), &i));
                assert!(trie.remove(&ShortStr::from(*p), &(i + round)));
            }
            assert!(trie.is_empty());
            assert_eq!(trie.node_count(), 1, "only the root is left");
            assert_eq!(trie.words.len(), 0, "no edge uses a word any more");
        }
    }

    #[test]
    fn remove_of_an_unknown_binding_changes_nothing() {
        let mut trie = TopicTrie::new();
        trie.insert(&ShortStr::from("a.b"), 1);
        assert!(!trie.remove(&ShortStr::from("a.b"), &2));
        assert!(!trie.remove(&ShortStr::from("a.c"), &1));
        assert!(!trie.remove(&ShortStr::from("a"), &1));
        let mut out = Vec::new();
        trie.route(b"a.b", &mut out);
        assert_eq!(out, [1]);
    }

    #[test]
    fn many_hash_segments_route_in_polynomial_time() {
        // A backtracking walk takes exponential time on this; the memoised walk does not.
        let mut trie = TopicTrie::new();
        let pattern = ShortStr::try_from(vec!["#"; 40].join(".a.")).expect("157 bytes");
        trie.insert(&pattern, ());
        trie.insert(&ShortStr::from("#.b"), ());
        let key = vec!["a"; 100].join(".");
        let mut out = Vec::new();
        trie.route(key.as_bytes(), &mut out);
        assert_eq!(out, [()]);
    }

    #[test]
    fn more_hash_nodes_than_the_inline_marks() {
        // `#`, `*.#`, `*.*.#`, …: a ten-word key enters every one of these `#` nodes.
        let mut trie = TopicTrie::new();
        for stars in 0..=INLINE_HASH_MARKS + 2 {
            let pattern = ["*"; 16][..stars]
                .iter()
                .chain(&["#"])
                .copied()
                .collect::<Vec<_>>();
            trie.insert(
                &ShortStr::try_from(pattern.join(".")).expect("short"),
                stars,
            );
        }
        let mut out = Vec::new();
        trie.route(["w"; INLINE_HASH_MARKS + 2].join(".").as_bytes(), &mut out);
        out.sort_unstable();
        assert_eq!(out, (0..=INLINE_HASH_MARKS + 2).collect::<Vec<_>>());
    }
}
