//! `TopicAutomaton`: the trie's walk compiled, on demand, into a deterministic automaton over the
//! key's words (a lazy DFA, as regex engines build them), with the keys routed last remembered in
//! front of it.
//!
//! A cold route visits every trie node its key reaches: with Wazo's `*` and `#` patterns a word
//! usually meets both a literal edge and a `*` edge, so the live paths multiply with the words,
//! and a route through 100 000 bindings visits dozens of nodes. The automaton's state is the
//! *set* of trie nodes live after some words, so a route makes one step per word, whatever the
//! number of paths: one lookup of the word (in a [`WordCache`] of the known words met last, else
//! in the trie's word table), then one lookup of (state, word) in the learnt steps ([`Steps`],
//! one cache line a step). A state's destinations are gathered and de-duplicated once, when it
//! first ends a key, into one arena.
//!
//! It learns from the routes it makes: a step it has not made yet is computed from the trie
//! (the walk's rules: a `#` node keeps itself, a literal or `*` edge moves on and brings the
//! `#` child of where it lands). What it learns is shared between keys:
//! `config.users.<uuid>.forwards.busy.updated` for any uuid that no pattern names goes through
//! the same states, because every word that no pattern has is the same word to it ([`UNKNOWN`]).
//!
//! In front of the steps, [`RecentKeys`] remembers where the last keys ended (as NATS' sublist
//! caches subjects): a key routed again costs one hash of its bytes and a look at two slots. A bus
//! publishes the same keys over and over (each user's, each call's events), and a remembered key
//! skips the word table, the steps and the lookup of the wildcard-free patterns. It remembers a
//! key when the key comes a second time: one bit per key seen lately ([`SeenKeys`]) keeps the
//! keys that come once (a new call's, a new user's) from taking slots and cache lines.
//!
//! # Correctness and bounds
//! Its states hold trie node ids, valid only for the trie they came from: it remembers the
//! generation of the [`Bindings`] it learnt from (a process-wide counter, so no two states of any
//! two `Bindings` share one) and forgets everything, remembered keys included, when used with
//! another. It holds at most `capacity` states and as many remembered keys (up to 8 192 in
//! 1 MiB; it starts with room for 32 and doubles while new keys keep replacing remembered ones,
//! so that an exchange routing a few keys stays small); when it needs one more state it forgets
//! everything and that route walks the trie, so memory stays bounded whatever the keys.
//!
//! Learning a step costs 2.5 to 3 times a walk's share of it, so an automaton that keeps filling
//! up without reusing what it learnt is a loss: keys that each name another known user reach
//! states of their own. As regex-automata's hybrid DFA does, it then gives up: when it fills
//! with fewer than [`ROUTES_PER_STATE`] routes per state learnt, it walks the trie for the keys
//! it does not remember (and remembers them: a bus's busy users' keys come again), for
//! [`WALKS_PER_STATE`] walks per state of its capacity or until the bindings change, and then
//! tries again. Learning in vain is so bounded to one fill per that many walks (about 3 % of
//! their time).
//!
//! The caller owns it (the broker: one per topic exchange, behind a lock that publishers only
//! try), so that routing through [`Bindings`] stays a shared read.

use std::cmp::Reverse;
use std::hash::Hash;
use std::sync::Arc;

use foldhash::{HashMap, HashMapExt};

use super::words::{words, WordCache, WordId, UNKNOWN};
use super::{NodeId, TopicTrie, ROOT};
use crate::counted::CountedSet;
use crate::dedup::dedup_from;
use crate::Bindings;

/// A state: its index, and in the top bit whether any of its nodes has a literal edge. If
/// none does, every word steps alike and a route need not look the word up, nor read the state
/// to know it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct StateId(u32);

const LITERAL: u32 = 1 << 31;

impl StateId {
    fn index(self) -> usize {
        (self.0 & !LITERAL) as usize
    }

    fn has_literal_edges(self) -> bool {
        self.0 & LITERAL != 0
    }
}

/// The state of the key's first word, the root and its `#` child, is the first one learnt.
const START_INDEX: usize = 0;
/// The state with no live node: nothing after it can match.
const DEAD: StateId = StateId(1);

/// Routes per learnt state below which a filling automaton gives up.
const ROUTES_PER_STATE: usize = 8;
/// Routes per state of its capacity that an automaton that gave up walks before it tries again.
const WALKS_PER_STATE: usize = 64;
/// Destinations per state of its capacity that remembered keys' own routes may hold before they
/// are emptied, with the keys remembered.
const KEY_DESTS_PER_STATE: usize = 8;

/// Topic routes through a lazily built automaton; see the module doc.
#[derive(Debug, Clone)]
pub struct TopicAutomaton<D> {
    capacity: usize,
    /// The generation of the bindings that the states were built from.
    generation: Option<u64>,
    states: Vec<State>,
    /// The states' destinations, one state's after another.
    dests: Vec<D>,
    /// The destinations of remembered keys whose route is not one state's alone: keys walked
    /// after it gave up, and keys that a wildcard-free pattern equals too.
    key_dests: Vec<D>,
    /// Where the keys routed last ended.
    recent: RecentKeys,
    /// The first state.
    start: StateId,
    /// Each state by its node set, which it shares with `states`.
    by_nodes: HashMap<Arc<[NodeId]>, StateId>,
    /// By [`transition`]: (state, word).
    transitions: Steps,
    /// Reused while a new state's nodes are gathered.
    scratch: Vec<NodeId>,
    /// The ids of the words met last (the trie's ids: the automaton is replaced when the
    /// bindings change).
    words: WordCache,
    /// Since it last started learning: routes made, and times it filled up.
    routes: usize,
    fills: usize,
    /// Routes left to walk before it learns again; 0 while it learns.
    walks_left: usize,
    /// How often the keys remembered are routed again.
    hits: HitRate,
}

/// Routes in a window of [`HitRate`].
const HIT_WINDOW: u32 = 32_768;

/// How often keys are found among those remembered, per window of [`HIT_WINDOW`] routes. A
/// window where fewer than one in eight are found (keys that come once: each costs a hash of its
/// bytes and a look at its bit in [`SeenKeys`] for nothing) is followed by seven where keys are
/// neither looked up nor remembered.
#[derive(Debug, Clone, Copy, Default)]
struct HitRate {
    routes: u32,
    hits: u32,
    /// Routes left not to look keys up.
    skipping: u32,
}

impl HitRate {
    fn worth_looking(&mut self) -> bool {
        if self.skipping == 0 {
            return true;
        }
        self.skipping -= 1;
        false
    }

    fn record(&mut self, hit: bool) {
        self.routes += 1;
        self.hits += u32::from(hit);
        if self.routes == HIT_WINDOW {
            if self.hits * 8 < self.routes {
                self.skipping = 7 * HIT_WINDOW;
            }
            *self = HitRate {
                skipping: self.skipping,
                ..HitRate::default()
            };
        }
    }
}

#[derive(Debug, Clone)]
struct State {
    /// The live trie nodes, sorted.
    nodes: Arc<[NodeId]>,
    /// Where, in the automaton's `dests`, every destination bound at those nodes is, each once;
    /// gathered when the state first ends a key.
    dests: Option<Span>,
}

/// A range of the automaton's `dests`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Span {
    start: u32,
    len: u32,
}

impl Span {
    fn of<D>(self, dests: &[D]) -> &[D] {
        &dests[self.start as usize..][..self.len as usize]
    }
}

impl<D: Clone + Eq + Hash> TopicAutomaton<D> {
    /// An automaton of at most `capacity` states (below 2 it learns nothing and every route walks
    /// the trie).
    pub fn new(capacity: usize) -> Self {
        TopicAutomaton {
            capacity,
            generation: None,
            states: Vec::new(),
            dests: Vec::new(),
            key_dests: Vec::new(),
            recent: RecentKeys::new(capacity),
            start: DEAD,
            by_nodes: HashMap::new(),
            transitions: Steps::default(),
            scratch: Vec::new(),
            words: WordCache::default(),
            routes: 0,
            fills: 0,
            walks_left: 0,
            hits: HitRate::default(),
        }
    }

    /// Forgets everything, and gives back the memory it held, but for the hashes of the keys
    /// seen lately (16 KiB at most), which no binding changes.
    pub fn clear(&mut self) {
        let mut recent = std::mem::replace(&mut self.recent, RecentKeys::new(0));
        recent.clear();
        *self = TopicAutomaton {
            recent,
            ..TopicAutomaton::new(self.capacity)
        };
    }

    /// Whether it gave up learning, for now, and walks the trie.
    pub fn gave_up(&self) -> bool {
        self.walks_left > 0
    }

    /// How many states it has learnt.
    pub fn len(&self) -> usize {
        self.states.len()
    }

    pub fn is_empty(&self) -> bool {
        self.states.is_empty()
    }

    /// [`Bindings::route`], with the topic trie's walk replaced by the automaton's steps.
    pub fn route(
        &mut self,
        bindings: &Bindings<D>,
        routing_key: &[u8],
        headers: Option<&warren_wire::FieldTable>,
        out: &mut Vec<D>,
    ) {
        let trie = match bindings.topic() {
            Some(trie) if self.capacity >= 2 => trie,
            _ => return bindings.route(routing_key, headers, out),
        };
        if self.generation != Some(bindings.generation()) {
            self.clear();
            self.forget(trie);
            self.generation = Some(bindings.generation());
        }
        self.routes += 1;
        // A key too long to be remembered is not looked for either; were it walked as one worth
        // remembering, its destinations would fill `key_dests` in vain, and every key
        // remembered would be forgotten each time they filled it.
        if !RecentKeys::fits(routing_key) || !self.hits.worth_looking() {
            return self.route_unremembered(trie, routing_key, out);
        }
        let hash = self.recent.hash(routing_key);
        let recall = self.recent.recall(hash, routing_key);
        self.hits.record(matches!(recall, Recall::Remembered(..)));
        let (dests, own) = match recall {
            Recall::Remembered(dests, own) => (dests, own),
            Recall::New => return self.route_unremembered(trie, routing_key, out),
            Recall::SeenLately => {
                let found = match self.walks_left {
                    0 => match self.run(trie, routing_key) {
                        Some(state) => (self.dests(trie, state), false),
                        None => return trie.route(routing_key, out),
                    },
                    _ => (self.walked(trie, routing_key), true),
                };
                let (dests, own) = self.with_exact(trie.exact_dests(routing_key), found);
                self.recent.insert(hash, routing_key, dests, own);
                (dests, own)
            }
        };
        let arena = if own { &self.key_dests } else { &self.dests };
        out.extend(dests.of(arena).iter().cloned());
    }

    /// A route that is neither looked up among the keys remembered nor remembered: by the learnt
    /// steps, or by a walk while it has given up learning.
    fn route_unremembered(&mut self, trie: &TopicTrie<D>, key: &[u8], out: &mut Vec<D>) {
        if self.walks_left > 0 {
            self.count_walk(trie);
            return trie.route(key, out);
        }
        let state = match trie.has_no_wildcards() {
            true => None,
            false => self.run(trie, key),
        };
        let Some(state) = state else {
            return trie.route(key, out);
        };
        let dests = self.dests(trie, state);
        let start = out.len();
        out.extend(dests.of(&self.dests).iter().cloned());
        push_missing(out, start, trie.exact_dests(key));
    }

    /// A route's destinations (in `key_dests` if `own`, else a state's in `dests`) with those of
    /// the wildcard-free pattern equal to the key, if any, merged into `key_dests`: so a
    /// remembered key needs no second lookup.
    fn with_exact(
        &mut self,
        exact: Option<&CountedSet<D>>,
        (dests, own): (Span, bool),
    ) -> (Span, bool) {
        let Some(exact) = exact else {
            return (dests, own);
        };
        let start = match own {
            // A walk's, just added at the end of `key_dests`.
            true => dests.start as usize,
            false => {
                self.make_room_for_keys();
                let start = self.key_dests.len();
                self.key_dests.extend_from_slice(dests.of(&self.dests));
                start
            }
        };
        push_missing(&mut self.key_dests, start, Some(exact));
        (span(start, self.key_dests.len()), true)
    }

    /// Empties `key_dests`, and forgets the keys remembered, when it has outgrown its budget.
    fn make_room_for_keys(&mut self) {
        if self.key_dests.len() > KEY_DESTS_PER_STATE * self.capacity {
            self.key_dests.clear();
            self.recent.forget_keys();
        }
    }

    /// While it has given up learning: the destinations of the wildcard patterns that match
    /// `key`, by a walk of the trie, added to `key_dests` so that the key can be remembered.
    fn walked(&mut self, trie: &TopicTrie<D>, key: &[u8]) -> Span {
        self.count_walk(trie);
        self.make_room_for_keys();
        let start = self.key_dests.len();
        if trie.walk(key, &mut self.key_dests) > 1 {
            dedup_from(&mut self.key_dests, start);
        }
        span(start, self.key_dests.len())
    }

    /// Counts a walk while it has given up learning; after the last one it learns again, and
    /// forgets the arena and the keys remembered.
    fn count_walk(&mut self, trie: &TopicTrie<D>) {
        self.walks_left -= 1;
        if self.walks_left == 0 {
            self.routes = 0;
            self.fills = 0;
            self.hits = HitRate::default();
            self.forget(trie);
        }
    }

    /// The state after the key's words, or `None` when the automaton was full and forgot.
    fn run(&mut self, trie: &TopicTrie<D>, key: &[u8]) -> Option<StateId> {
        let mut state = self.start;
        for word in words(key) {
            if state == DEAD {
                break;
            }
            let word = match state.has_literal_edges() {
                true => self.words.id(&trie.words, word),
                false => UNKNOWN,
            };
            state = match self.transitions.get(transition(state, word)) {
                Some(next) => next,
                None => {
                    let next = self.step(trie, state, word)?;
                    self.transitions.insert(transition(state, word), next);
                    next
                }
            };
        }
        Some(state)
    }

    /// The state that `word` leads to from `state`, learnt now; `None` when a new state would
    /// pass the capacity (everything is forgotten then).
    fn step(&mut self, trie: &TopicTrie<D>, state: StateId, word: WordId) -> Option<StateId> {
        let mut next = std::mem::take(&mut self.scratch);
        next.clear();
        for &id in self.states[state.index()].nodes.iter() {
            let node = &trie.nodes[id];
            if node.absorbs {
                next.push(id);
            }
            if word != UNKNOWN {
                if let Some(child) = node.children.get(word) {
                    push_arrival(trie, child, &mut next);
                }
            }
            if let Some(star) = node.star {
                push_arrival(trie, star, &mut next);
            }
        }
        next.sort_unstable();
        next.dedup();
        let found = self.state_of(trie, &next);
        self.scratch = next;
        found
    }

    /// The id of the state with these live nodes, added if new.
    fn state_of(&mut self, trie: &TopicTrie<D>, nodes: &[NodeId]) -> Option<StateId> {
        if let Some(&id) = self.by_nodes.get(nodes) {
            return Some(id);
        }
        if self.states.len() >= self.capacity {
            self.fills += 1;
            if self.routes < ROUTES_PER_STATE * self.capacity * self.fills {
                let generation = self.generation;
                self.clear();
                self.generation = generation;
                self.walks_left = WALKS_PER_STATE * self.capacity;
            } else {
                self.forget(trie);
            }
            return None;
        }
        Some(self.add(trie, nodes))
    }

    fn add(&mut self, trie: &TopicTrie<D>, nodes: &[NodeId]) -> StateId {
        // Fewer than `capacity` states, and the capacity is a `usize` the caller chose: ids past
        // `u32` would need more memory than any broker has.
        let index = u32::try_from(self.states.len())
            .ok()
            // Below 2^31 - 1, so that no step's key is the steps table's `EMPTY`.
            .filter(|&index| index < LITERAL - 1)
            .expect("fewer than 2^31 - 1 states");
        let literal = nodes.iter().any(|&n| !trie.nodes[n].children.is_empty());
        let id = StateId(if literal { index | LITERAL } else { index });
        let nodes: Arc<[NodeId]> = nodes.into();
        self.by_nodes.insert(Arc::clone(&nodes), id);
        self.states.push(State { nodes, dests: None });
        id
    }

    /// Forgets every state, keeping only the start and dead states of `trie`.
    fn forget(&mut self, trie: &TopicTrie<D>) {
        self.states.clear();
        self.dests.clear();
        self.key_dests.clear();
        self.recent.clear();
        self.by_nodes.clear();
        self.transitions.clear();
        let mut root = Vec::new();
        push_arrival(trie, ROOT, &mut root);
        self.start = self.add(trie, &root);
        let dead = self.add(trie, &[]);
        debug_assert!(self.start.index() == START_INDEX && dead == DEAD);
    }

    /// Where the destinations bound at `state`'s nodes are, each once.
    fn dests(&mut self, trie: &TopicTrie<D>, state: StateId) -> Span {
        let state = &mut self.states[state.index()];
        if let Some(span) = state.dests {
            return span;
        }
        let start = self.dests.len();
        let mut sets = 0;
        for &id in state.nodes.iter() {
            let bound = &trie.nodes[id].dests;
            if !bound.is_empty() {
                sets += 1;
                self.dests.extend(bound.iter().cloned());
            }
        }
        if sets > 1 {
            dedup_from(&mut self.dests, start);
        }
        let span = span(start, self.dests.len());
        state.dests = Some(span);
        span
    }
}

/// Appends to `out` the destinations of `exact` (the wildcard-free pattern equal to the key)
/// that `out[start..]` lacks: both lists are distinct, and the exact key's is short.
fn push_missing<D: Clone + Eq>(out: &mut Vec<D>, start: usize, exact: Option<&CountedSet<D>>) {
    for dest in exact.into_iter().flat_map(|dests| dests.iter()) {
        if !out[start..].contains(dest) {
            out.push(dest.clone());
        }
    }
}

/// The arena's `start..end`. Its destinations are distinct bindings' destinations, each state's
/// or walked key's once, and the states and walked keys are bounded: past `u32` the bindings
/// alone would not fit in memory.
fn span(start: usize, end: usize) -> Span {
    let index = |n: usize| u32::try_from(n).expect("fewer than 2^32 destinations");
    Span {
        start: index(start),
        len: index(end - start),
    }
}

/// The key of a step in `transitions`: one integer hashes faster than a pair.
fn transition(state: StateId, word: WordId) -> u64 {
    u64::from(state.0) << 32 | u64::from(word)
}

/// Node `id` has just been reached by a word: it is live, and so is its `#` child, which may
/// absorb zero words.
fn push_arrival<D>(trie: &TopicTrie<D>, id: NodeId, live: &mut Vec<NodeId>) {
    live.push(id);
    live.extend(trie.nodes[id].hash);
}

/// The learnt steps, by [`transition`]: an open-addressing table whose slots hold the key and the
/// next state side by side, so that a found step costs one cache line (a SwissTable reads its
/// control bytes, then the bucket).
#[derive(Debug, Clone, Default)]
struct Steps {
    slots: Vec<(u64, StateId)>,
    len: usize,
}

/// No key: `transition` never makes it, since a state's index is below 2^31 - 1 (`add`).
const EMPTY: u64 = u64::MAX;

impl Steps {
    fn get(&self, key: u64) -> Option<StateId> {
        if self.slots.is_empty() {
            return None;
        }
        let mask = self.slots.len() - 1;
        let mut index = slot_of(key, mask);
        loop {
            let (found, next) = self.slots[index];
            if found == key {
                return Some(next);
            }
            if found == EMPTY {
                return None;
            }
            index = (index + 1) & mask;
        }
    }

    /// Adds a step that is not in the table.
    fn insert(&mut self, key: u64, next: StateId) {
        if (self.len + 1) * 2 > self.slots.len() {
            self.grow();
        }
        let mask = self.slots.len() - 1;
        let mut index = slot_of(key, mask);
        while self.slots[index].0 != EMPTY {
            index = (index + 1) & mask;
        }
        self.slots[index] = (key, next);
        self.len += 1;
    }

    fn grow(&mut self) {
        let size = (self.slots.len() * 2).max(64);
        let old = std::mem::replace(&mut self.slots, vec![(EMPTY, DEAD); size]);
        self.len = 0;
        for (key, next) in old {
            if key != EMPTY {
                self.insert(key, next);
            }
        }
    }

    fn clear(&mut self) {
        self.slots.clear();
        self.len = 0;
    }
}

/// A slot for `key` in a table of `mask + 1` slots: Fibonacci hashing, the product's high bits.
fn slot_of(key: u64, mask: usize) -> usize {
    (key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) as usize & mask
}

/// Keys up to this long are remembered in [`RecentKeys`], so that a slot is two cache lines: the
/// longest of Wazo's keys, `chatd.users.<uuid>.rooms.<uuid>.messages.created`, has 108 bytes.
const RECENT_KEY_BYTES: usize = 110;
/// The most sets of two slots in [`RecentKeys`]: 8 192 keys, 1 MiB.
const MAX_RECENT_SETS: usize = 4096;
/// The sets [`RecentKeys`] starts with: 32 keys, 4 KiB.
const FIRST_RECENT_SETS: usize = 16;

/// Where the keys routed last ended, as NATS' sublist caches its results: a key seen again costs
/// one hash of its bytes and a look at a few slots, whatever its words.
///
/// A key may sit in either of two sets of two slots, both picked by its hash (skewed
/// associativity, as in a two-choice hash table), and a new key takes the free or the oldest of
/// its four slots, so that remembering costs no bookkeeping and a flood of new keys only takes
/// slots over. With one set per key, keys routed in turn that outnumber half the slots keep
/// evicting each other (a simulation of 5 500 keys in 8 192 slots: 38 % misses); with two, they
/// fit (0.1 %).
///
/// It doubles when it has remembered twice as many keys as it has slots since it last grew
/// (most of its keys were replaced), up to its most sets.
#[derive(Debug, Clone)]
struct RecentKeys {
    hasher: foldhash::fast::SeedableRandomState,
    /// Empty until a key is remembered, then a power of two of them.
    sets: Vec<[RecentKey; 2]>,
    /// The most sets it grows to, a power of two.
    max_sets: usize,
    /// Keys remembered since it last grew.
    inserted: usize,
    /// Stamps the keys remembered, in order (wrapping: then one eviction picks the wrong key).
    clock: u32,
    /// The keys seen lately, for [`recall`](Self::recall).
    seen: SeenKeys,
}

/// What [`RecentKeys::recall`] knows of a key.
enum Recall {
    /// Remembered: where its destinations are, and whether they are its own.
    Remembered(Span, bool),
    /// Seen lately, not remembered: worth remembering.
    SeenLately,
    /// Not seen lately.
    New,
}

/// The hashes of the keys seen lately, a doorkeeper as TinyLFU's: two bits per key, in one 64-bit
/// word (one load), in each of two generations of a bit set. A key seen sets its bits in the
/// newer generation; when that one holds one key for every eight bits (as many keys as can be
/// remembered), the older one is dropped and a new one begins. A key is so known for at least
/// one generation's keys after it was last seen, and a new key finds both its bits set by others
/// about one time in twenty per full generation (with one bit, one in nine: each such key is
/// looked for among the remembered keys, and remembered, in vain).
#[derive(Debug, Clone)]
struct SeenKeys {
    /// Empty until a key is seen; then two generations of as many bits, newer first.
    generations: [Vec<u64>; 2],
    /// Keys that a generation takes.
    keys_per_generation: usize,
    /// Keys the newer generation took.
    taken: usize,
}

impl SeenKeys {
    /// Generations of `keys_per_generation` keys, allocated when the first key is seen.
    fn new(keys_per_generation: usize) -> Self {
        SeenKeys {
            generations: [Vec::new(), Vec::new()],
            keys_per_generation,
            taken: 0,
        }
    }

    /// Whether a key of this hash was seen lately (it is now).
    fn saw(&mut self, hash: u64) -> bool {
        if self.generations[0].is_empty() {
            let words = (8 * self.keys_per_generation)
                .div_ceil(64)
                .next_power_of_two();
            self.generations = [vec![0; words], vec![0; words]];
        }
        // Parts of the hash that pick no set of `RecentKeys`: the top 16 bits pick the word,
        // bits 14-19 and 20-25 its two bits.
        let word = (hash >> 48) as usize & (self.generations[0].len() - 1);
        let mask = 1 << (hash >> 14 & 63) | 1 << (hash >> 20 & 63);
        if self.generations[0][word] & mask == mask {
            return true;
        }
        let seen = self.generations[1][word] & mask == mask;
        self.generations[0][word] |= mask;
        self.taken += 1;
        if self.taken == self.keys_per_generation {
            self.generations.swap(0, 1);
            self.generations[0].fill(0);
            self.taken = 0;
        }
        seen
    }
}

#[derive(Debug, Clone, Copy)]
#[repr(C, align(64))]
struct RecentKey {
    /// The low half of the key's hash, never 0; 0 in a slot that no key has used.
    tag: u32,
    dests: Span,
    /// The clock when it was remembered.
    stamp: u32,
    /// Whether `dests` are in the automaton's `key_dests` (else a state's, in `dests`).
    own: bool,
    len: u8,
    key: [u8; RECENT_KEY_BYTES],
}

const _: () = assert!(std::mem::size_of::<RecentKey>() == 128);

/// A slot no key has used: no key's tag is 0 (its hash is odd).
const UNUSED: RecentKey = RecentKey {
    tag: 0,
    dests: Span { start: 0, len: 0 },
    stamp: 0,
    own: false,
    len: 0,
    key: [0; RECENT_KEY_BYTES],
};

impl RecentKey {
    fn holds(&self, hash: u64, key: &[u8]) -> bool {
        self.tag == tag_of(hash) && self.key() == key
    }

    fn key(&self) -> &[u8] {
        &self.key[..usize::from(self.len)]
    }
}

/// What a slot keeps of a key's hash: its low half, where [`RecentKeys::sets_of`] picks sets.
fn tag_of(hash: u64) -> u32 {
    hash as u32
}

impl RecentKeys {
    /// Growing to as many keys as the automaton has states, up to [`MAX_RECENT_SETS`] sets.
    fn new(capacity: usize) -> Self {
        let max_sets = (capacity / 2).next_power_of_two().min(MAX_RECENT_SETS);
        RecentKeys {
            hasher: foldhash::fast::SeedableRandomState::random(),
            sets: Vec::new(),
            max_sets,
            inserted: 0,
            clock: 0,
            // As many keys a generation as it can remember.
            seen: SeenKeys::new(2 * max_sets),
        }
    }

    /// The same with a fixed hash seed, so that which keys share slots is the same every run.
    #[cfg(test)]
    fn with_fixed_seed(capacity: usize) -> Self {
        RecentKeys {
            hasher: foldhash::fast::SeedableRandomState::fixed(),
            ..RecentKeys::new(capacity)
        }
    }

    fn hash(&self, key: &[u8]) -> u64 {
        std::hash::BuildHasher::hash_one(&self.hasher, key) | 1
    }

    /// The indexes of `hash`'s two sets (the same one at times), from two parts of the hash;
    /// the sets are not empty.
    fn sets_of(&self, hash: u64) -> [usize; 2] {
        let mask = self.sets.len() - 1;
        [(hash >> 1) as usize & mask, (hash >> 33) as usize & mask]
    }

    /// Where the destinations of `key` are, if it is remembered, and whether they are its own.
    fn get(&self, hash: u64, key: &[u8]) -> Option<(Span, bool)> {
        if self.sets.is_empty() {
            return None;
        }
        let slot = self
            .sets_of(hash)
            .into_iter()
            .flat_map(|set| &self.sets[set])
            .find(|slot| slot.holds(hash, key))?;
        Some((slot.dests, slot.own))
    }

    /// What it knows of `key`. It looks for the key among those remembered only when it was seen
    /// lately, and remembers a key only when it comes a second time. Keys that come once (each
    /// naming a new uuid, a new call) so cost one bit each: they neither look at slots that are
    /// not in cache nor take a slot from a key that comes again, nor make the table grow.
    fn recall(&mut self, hash: u64, key: &[u8]) -> Recall {
        if !self.seen.saw(hash) {
            return Recall::New;
        }
        match self.get(hash, key) {
            Some((dests, own)) => Recall::Remembered(dests, own),
            None => Recall::SeenLately,
        }
    }

    /// Whether `key` is short enough to be remembered.
    fn fits(key: &[u8]) -> bool {
        key.len() <= RECENT_KEY_BYTES
    }

    fn insert(&mut self, hash: u64, key: &[u8], dests: Span, own: bool) {
        let Some(len) = u8::try_from(key.len()).ok().filter(|_| Self::fits(key)) else {
            return;
        };
        if self.sets.is_empty() {
            self.sets = vec![[UNUSED; 2]; FIRST_RECENT_SETS.min(self.max_sets)];
        } else if self.inserted >= 4 * self.sets.len() && self.sets.len() < self.max_sets {
            self.grow();
        }
        self.inserted += 1;
        self.clock = self.clock.wrapping_add(1);
        let mut slot = UNUSED;
        slot.tag = tag_of(hash);
        slot.dests = dests;
        slot.stamp = self.clock;
        slot.own = own;
        slot.len = len;
        slot.key[..key.len()].copy_from_slice(key);
        self.put(hash, slot);
    }

    /// Puts `slot`, of a key of this hash, in the first unused of its four slots, or else over
    /// the oldest.
    fn put(&mut self, hash: u64, slot: RecentKey) {
        let [first, second] = self.sets_of(hash);
        let candidates = [(first, 0), (first, 1), (second, 0), (second, 1)];
        let age = |&(set, way): &(usize, usize)| {
            let taken = &self.sets[set][way];
            (
                taken.tag != 0,
                Reverse(self.clock.wrapping_sub(taken.stamp)),
            )
        };
        if let Some((set, way)) = candidates.into_iter().min_by_key(age) {
            self.sets[set][way] = slot;
        }
    }

    /// Doubles the sets, putting the keys back oldest first: each key's two sets become two of
    /// four, so that keys stay unless more than four crowd the same ones.
    fn grow(&mut self) {
        let doubled = vec![[UNUSED; 2]; self.sets.len() * 2];
        let old = std::mem::replace(&mut self.sets, doubled);
        self.inserted = 0;
        let mut kept: Vec<RecentKey> = old
            .into_iter()
            .flatten()
            .filter(|slot| slot.tag != 0)
            .collect();
        kept.sort_by_key(|slot| Reverse(self.clock.wrapping_sub(slot.stamp)));
        for slot in kept {
            // The slot keeps half the hash; growing is rare enough to hash the key again.
            self.put(self.hash(slot.key()), slot);
        }
    }

    /// Forgets every key but keeps its size: the keys that filled it are likely to again.
    fn forget_keys(&mut self) {
        self.inserted = 0;
        self.sets.fill([UNUSED; 2]);
    }

    /// Forgets every key remembered and gives their memory back, but keeps the keys seen lately.
    fn clear(&mut self) {
        self.inserted = 0;
        self.sets.clear();
    }
}

#[cfg(test)]
mod tests {
    use warren_wire::{FieldTable, ShortStr};

    use super::{
        RecentKeys, SeenKeys, Span, TopicAutomaton, FIRST_RECENT_SETS, MAX_RECENT_SETS,
        RECENT_KEY_BYTES,
    };
    use crate::{Bindings, ExchangeKind};

    #[test]
    fn a_key_routed_again_is_remembered_until_the_bindings_change() {
        let mut bindings = Bindings::new(ExchangeKind::Topic);
        let no_arguments = FieldTable::new();
        bindings
            .bind(&ShortStr::from("a.*"), &no_arguments, 1)
            .expect("topic");
        let mut automaton = TopicAutomaton::new(16);
        let route = |automaton: &mut TopicAutomaton<u8>, bindings: &Bindings<u8>| {
            let mut out = Vec::new();
            automaton.route(bindings, b"a.b", None, &mut out);
            out.sort_unstable();
            out
        };
        let remembered = |automaton: &TopicAutomaton<u8>| {
            let hash = automaton.recent.hash(b"a.b");
            automaton.recent.get(hash, b"a.b").is_some()
        };
        assert!(!remembered(&automaton));
        assert_eq!(route(&mut automaton, &bindings), [1]);
        assert!(!remembered(&automaton), "routed once, only seen");
        assert_eq!(route(&mut automaton, &bindings), [1]);
        assert!(remembered(&automaton), "routed again, remembered");
        assert_eq!(route(&mut automaton, &bindings), [1]);
        bindings
            .bind(&ShortStr::from("#"), &no_arguments, 2)
            .expect("topic");
        assert_eq!(route(&mut automaton, &bindings), [1, 2]);
    }

    fn span(start: u32) -> Span {
        Span { start, len: 1 }
    }

    /// Hashes that all pick the first set as both of their sets (in up to 2^15 sets), and differ
    /// in the half that a slot keeps.
    fn first_set_hash(i: u64) -> u64 {
        i << 16 | 1
    }

    #[test]
    fn a_remembered_key_is_found_by_its_bytes_not_its_hash() {
        let mut recent = RecentKeys::new(16);
        let hash = first_set_hash(1);
        recent.insert(hash, b"a.b", span(3), true);
        assert_eq!(recent.get(hash, b"a.b"), Some((span(3), true)));
        assert_eq!(recent.get(hash, b"a.c"), None, "same hash, other key");
        assert_eq!(recent.get(hash, b"a.bb"), None);
        assert_eq!(recent.get(first_set_hash(2), b"a.b"), None);
    }

    #[test]
    fn a_third_key_in_a_set_takes_the_older_ones_slot() {
        let mut recent = RecentKeys::new(16);
        let keys: [&[u8]; 3] = [b"k1", b"k2", b"k3"];
        for (i, key) in (0..).zip(keys) {
            recent.insert(first_set_hash(i), key, span(i as u32), false);
        }
        assert_eq!(recent.get(first_set_hash(0), b"k1"), None);
        assert_eq!(recent.get(first_set_hash(1), b"k2"), Some((span(1), false)));
        assert_eq!(recent.get(first_set_hash(2), b"k3"), Some((span(2), false)));
    }

    #[test]
    fn grows_while_new_keys_replace_remembered_ones_up_to_its_most() {
        let mut recent = RecentKeys::new(1 << 20);
        let key = |i: u64| i.to_string().into_bytes();
        let remember = |recent: &mut RecentKeys, i: u64| {
            let hash = recent.hash(&key(i));
            recent.insert(hash, &key(i), span(i as u32), false);
        };
        for i in 0..8 {
            remember(&mut recent, i);
        }
        assert_eq!(
            recent.sets.len(),
            FIRST_RECENT_SETS,
            "a few keys keep it small"
        );
        for i in 8..1_000_000 {
            remember(&mut recent, i);
            if recent.sets.len() == MAX_RECENT_SETS {
                break;
            }
        }
        assert_eq!(recent.sets.len(), MAX_RECENT_SETS);
        let last = 1_000_000;
        for i in last..last + 100_000 {
            remember(&mut recent, i);
        }
        assert_eq!(recent.sets.len(), MAX_RECENT_SETS, "never past its most");
        let hits = (last + 99_000..last + 100_000)
            .filter(|&i| recent.get(recent.hash(&key(i)), &key(i)).is_some())
            .count();
        assert!(
            hits > 900,
            "the last 1 000 keys are mostly remembered: {hits}"
        );
    }

    #[test]
    fn growing_keeps_every_remembered_key() {
        // Which keys crowd each other depends on the hash's seed: a random one made this test
        // fail one run in fifteen, where more than four keys shared two sets after growing.
        let mut recent = RecentKeys::with_fixed_seed(1 << 20);
        // As many keys as slots: most fit, a few crowd each other out.
        let keys: Vec<(u64, Vec<u8>)> = (0..2 * FIRST_RECENT_SETS)
            .map(|i| i.to_string().into_bytes())
            .map(|key| (recent.hash(&key), key))
            .collect();
        for (i, (hash, key)) in keys.iter().enumerate() {
            recent.insert(*hash, key, span(i as u32), false);
        }
        let remembered = |recent: &RecentKeys| -> Vec<bool> {
            keys.iter()
                .map(|(hash, key)| recent.get(*hash, key).is_some())
                .collect()
        };
        let before = remembered(&recent);
        assert!(before.iter().filter(|&&kept| kept).count() > keys.len() / 2);
        recent.grow();
        assert_eq!(recent.sets.len(), 2 * FIRST_RECENT_SETS);
        assert_eq!(
            remembered(&recent),
            before,
            "the same keys, found by their hash"
        );
    }

    #[test]
    fn a_key_crowded_out_of_its_first_set_takes_its_second() {
        let mut recent = RecentKeys::new(16);
        // Three keys whose first set is set 0 and whose second sets differ.
        let hashes = [1u64, 1 | 1 << 33, 1 | 2 << 33];
        let keys: [&[u8]; 3] = [b"k1", b"k2", b"k3"];
        for (i, (hash, key)) in hashes.iter().zip(keys).enumerate() {
            recent.insert(*hash, key, span(i as u32), false);
        }
        for (i, (hash, key)) in hashes.iter().zip(keys).enumerate() {
            assert_eq!(recent.get(*hash, key), Some((span(i as u32), false)));
        }
    }

    #[test]
    fn a_key_is_seen_lately_for_a_generation_at_least() {
        let mut seen = SeenKeys::new(64);
        // Hashes that pick one bit each (a key's two bits the same), no two keys the same one:
        // a word by the top bits, a bit in it by bits 14-19 and 20-25.
        let hash = |i: u64| (i % 8) << 48 | (i / 8) << 14 | (i / 8) << 20;
        assert!(!seen.saw(hash(1)), "first seen");
        assert!(seen.saw(hash(1)), "seen again");
        // 63 other keys fill the newer generation, which becomes the older: key 1 is still seen.
        for i in 2..65 {
            assert!(!seen.saw(hash(i)));
        }
        assert!(
            seen.saw(hash(1)),
            "in the older generation, and now the newer again"
        );
        for i in 65..65 + 2 * 64 {
            seen.saw(hash(i));
        }
        assert!(!seen.saw(hash(1)), "two generations later, forgotten");
    }

    #[test]
    fn keys_that_come_once_are_not_remembered_and_busy_keys_are() {
        let mut bindings = Bindings::new(ExchangeKind::Topic);
        bindings
            .bind(&ShortStr::from("calls.*.#"), &FieldTable::new(), 1)
            .expect("topic");
        let mut automaton = TopicAutomaton::new(8192);
        let mut out = Vec::new();
        let mut route = |automaton: &mut TopicAutomaton<u8>, key: &str| {
            out.clear();
            automaton.route(&bindings, key.as_bytes(), None, &mut out);
            assert_eq!(out, [1], "{key}");
        };
        for i in 0..50_000 {
            route(&mut automaton, &format!("calls.{i}.created"));
            route(&mut automaton, &format!("calls.busy-{}.updated", i % 100));
        }
        let remembered = |automaton: &TopicAutomaton<u8>, key: &str| {
            let hash = automaton.recent.hash(key.as_bytes());
            automaton.recent.get(hash, key.as_bytes()).is_some()
        };
        let busy = (0..100)
            .filter(|i| remembered(&automaton, &format!("calls.busy-{i}.updated")))
            .count();
        assert!(busy >= 95, "{busy} busy keys remembered");
        // A key seen once is remembered only when others' bits stood for both of its own: about
        // one time in twenty per full generation of the keys seen, so 72-99 in 1 000 in runs
        // here (with one bit a key, 188-195).
        let once = (49_000..50_000)
            .filter(|i| remembered(&automaton, &format!("calls.{i}.created")))
            .count();
        assert!(
            once < 150,
            "{once} of the last 1 000 keys seen once remembered"
        );
    }

    #[test]
    fn a_key_too_long_to_remember_leaves_the_remembered_keys_alone() {
        let mut bindings = Bindings::new(ExchangeKind::Topic);
        for user in 0..100 {
            let pattern = ShortStr::try_from(format!("u.{user}.*")).expect("short");
            bindings
                .bind(&pattern, &FieldTable::new(), user)
                .expect("topic");
        }
        let mut automaton = TopicAutomaton::new(8);
        let mut out = Vec::new();
        let mut route = |automaton: &mut TopicAutomaton<u8>, key: &str| {
            out.clear();
            automaton.route(&bindings, key.as_bytes(), None, &mut out);
            out.clone()
        };
        // Each user's key reaches states of its own: the automaton fills and gives up.
        for user in 0..20 {
            route(&mut automaton, &format!("u.{user}.x"));
        }
        assert!(automaton.gave_up());
        let busy = "u.1.busy";
        for _ in 0..2 {
            assert_eq!(route(&mut automaton, busy), [1]);
        }
        let walked = automaton.key_dests.len();
        // More routes than `key_dests` takes destinations before it is emptied.
        let long = format!("u.2.{}", "x".repeat(RECENT_KEY_BYTES));
        for _ in 0..100 {
            assert_eq!(route(&mut automaton, &long), [2]);
        }
        let hash = automaton.recent.hash(busy.as_bytes());
        assert!(automaton.recent.get(hash, busy.as_bytes()).is_some());
        assert_eq!(automaton.key_dests.len(), walked);
    }

    #[test]
    fn forgetting_the_keys_keeps_the_size() {
        let mut recent = RecentKeys::new(1 << 20);
        for i in 0..10_000u64 {
            let key = i.to_string().into_bytes();
            recent.insert(recent.hash(&key), &key, span(0), false);
        }
        let size = recent.sets.len();
        assert!(size > FIRST_RECENT_SETS);
        recent.forget_keys();
        assert_eq!(recent.sets.len(), size);
        let key = b"9999";
        assert_eq!(recent.get(recent.hash(key), key), None);
    }

    #[test]
    fn long_keys_are_not_remembered() {
        let mut recent = RecentKeys::new(16);
        let long = [b'w'; RECENT_KEY_BYTES + 1];
        recent.insert(first_set_hash(1), &long, span(0), false);
        assert_eq!(recent.get(first_set_hash(1), &long), None);
        let longest = &long[..RECENT_KEY_BYTES];
        recent.insert(first_set_hash(1), longest, span(0), false);
        assert_eq!(
            recent.get(first_set_hash(1), longest),
            Some((span(0), false))
        );
    }
}
