//! `TopicAutomaton`: the trie's walk compiled, on demand, into a deterministic automaton over the
//! key's words (a lazy DFA, as regex engines build them), with the keys routed last remembered in
//! front of it.
//!
//! A cold route visits every trie node its key reaches: with Wazo's `*` and `#` patterns a word
//! usually meets both a literal edge and a `*` edge, so the live paths multiply with the words,
//! and a route through 100 000 bindings visits dozens of nodes. The automaton's state is the
//! *set* of trie nodes live after some words, so a route makes one step per word, whatever the
//! number of paths: one lookup of the word in the trie's word table, then one lookup of
//! (state, word) in the learnt steps ([`Steps`], one cache line a step). A state's destinations
//! are gathered and de-duplicated once, when it first ends a key, into one arena.
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
//! skips the word table, the steps and the lookup of the wildcard-free patterns.
//!
//! # Correctness and bounds
//! Its states hold trie node ids, valid only for the trie they came from: it remembers the
//! generation of the [`Bindings`] it learnt from (a process-wide counter, so no two states of any
//! two `Bindings` share one) and forgets everything, remembered keys included, when used with
//! another. It holds at most `capacity` states and as many remembered keys (up to 8 192, 1 MiB,
//! allocated when the first key is remembered); when it needs one more state it forgets
//! everything and that route walks the trie, so memory stays bounded whatever the keys.
//!
//! Learning a step costs 2.5 to 3 times a walk's share of it, so an automaton that keeps filling
//! up without reusing what it learnt is a loss: keys that each name another known user reach
//! states of their own. As regex-automata's hybrid DFA does, it then gives up: after
//! [`FILLS_BEFORE_GIVING_UP`] fills with fewer than [`ROUTES_PER_STATE`] routes per state learnt,
//! it walks the trie until the bindings change.
//!
//! The caller owns it (one per exchange behind a lock, or one per publisher), so that routing
//! through [`Bindings`] stays a shared read. The broker does not use it: routing is a few per
//! cent of its CPU, and where every key is new, learning costs more than walking
//! (docs/benchmarks-router.md).

use std::hash::Hash;
use std::sync::Arc;

use foldhash::{HashMap, HashMapExt};

use super::words::{words, WordId, UNKNOWN};
use super::{NodeId, TopicTrie, ROOT};
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

/// Fills of the automaton, since the bindings last changed, after which it may give up.
const FILLS_BEFORE_GIVING_UP: usize = 3;
/// Routes per learnt state below which a filling automaton gives up.
const ROUTES_PER_STATE: usize = 8;

/// Topic routes through a lazily built automaton; see the module doc.
#[derive(Debug, Clone)]
pub struct TopicAutomaton<D> {
    capacity: usize,
    /// The generation of the bindings that the states were built from.
    generation: Option<u64>,
    states: Vec<State>,
    /// The states' destinations, one state's after another.
    dests: Vec<D>,
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
    /// Since the bindings last changed: routes made, times it filled up, and whether it gave up.
    routes: usize,
    fills: usize,
    gave_up: bool,
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
            recent: RecentKeys::new(capacity),
            start: DEAD,
            by_nodes: HashMap::new(),
            transitions: Steps::default(),
            scratch: Vec::new(),
            routes: 0,
            fills: 0,
            gave_up: false,
        }
    }

    /// Forgets everything, and gives back the memory it held.
    pub fn clear(&mut self) {
        *self = TopicAutomaton::new(self.capacity);
    }

    /// Whether it gave up learning and walks the trie until the bindings change.
    pub fn gave_up(&self) -> bool {
        self.gave_up
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
        if self.gave_up || trie.has_no_wildcards() {
            return trie.route(routing_key, out);
        }
        self.routes += 1;
        let hash = self.recent.hash(routing_key);
        let (dests, exact) = match self.recent.get(hash, routing_key) {
            Some((dests, exact)) => (
                dests,
                exact.then(|| trie.exact_dests(routing_key)).flatten(),
            ),
            None => {
                let Some(state) = self.run(trie, routing_key) else {
                    return trie.route(routing_key, out);
                };
                let dests = self.dests(trie, state);
                let exact = trie.exact_dests(routing_key);
                self.recent
                    .insert(hash, routing_key, dests, exact.is_some());
                (dests, exact)
            }
        };
        let dests = dests.of(&self.dests);
        out.extend(dests.iter().cloned());
        // Both lists are distinct; the exact key's is short: add what the state lacks.
        for dest in exact.into_iter().flat_map(|d| d.iter()) {
            if !dests.contains(dest) {
                out.push(dest.clone());
            }
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
                true => trie.words.id(word),
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
            if self.fills >= FILLS_BEFORE_GIVING_UP
                && self.routes < ROUTES_PER_STATE * self.capacity * self.fills
            {
                let generation = self.generation;
                self.clear();
                self.generation = generation;
                self.gave_up = true;
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
        // Each state's destinations are distinct bindings' destinations, and the states are
        // fewer than `capacity`: past u32 the bindings alone would not fit in memory.
        let index = |n: usize| u32::try_from(n).expect("fewer than 2^32 destinations");
        let span = Span {
            start: index(start),
            len: index(self.dests.len() - start),
        };
        state.dests = Some(span);
        span
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

/// Keys up to this long are remembered in [`RecentKeys`], so that a slot is two cache lines.
const RECENT_KEY_BYTES: usize = 110;
/// The most sets of two slots in [`RecentKeys`]: 8 192 keys, 1 MiB.
const MAX_RECENT_SETS: usize = 4096;

/// Where the keys routed last ended, as NATS' sublist caches its results: a key seen again costs
/// one hash of its bytes and a look at two slots, whatever its words. Two-way set-associative:
/// a key's hash picks a set of two slots, the newer key first, and a third key that lands there
/// takes the older one's slot, so that remembering costs no bookkeeping and a flood of new keys
/// only takes slots over.
#[derive(Debug, Clone)]
struct RecentKeys {
    hasher: foldhash::fast::RandomState,
    /// Empty until a key is remembered.
    sets: Vec<[RecentKey; 2]>,
    /// A power of two.
    set_count: usize,
}

#[derive(Debug, Clone, Copy)]
#[repr(C, align(64))]
struct RecentKey {
    hash: u64,
    dests: Span,
    /// Whether a wildcard-free pattern equals the key.
    exact: bool,
    len: u8,
    key: [u8; RECENT_KEY_BYTES],
}

const _: () = assert!(std::mem::size_of::<RecentKey>() == 128);

/// A slot no key has used: no key's hash is 0.
const UNUSED: RecentKey = RecentKey {
    hash: 0,
    dests: Span { start: 0, len: 0 },
    exact: false,
    len: 0,
    key: [0; RECENT_KEY_BYTES],
};

impl RecentKey {
    fn holds(&self, hash: u64, key: &[u8]) -> bool {
        self.hash == hash && usize::from(self.len) == key.len() && self.key[..key.len()] == *key
    }
}

impl RecentKeys {
    /// As many keys as the automaton has states, up to [`MAX_RECENT_SETS`] sets.
    fn new(capacity: usize) -> Self {
        RecentKeys {
            hasher: foldhash::fast::RandomState::default(),
            sets: Vec::new(),
            set_count: (capacity / 2).next_power_of_two().min(MAX_RECENT_SETS),
        }
    }

    fn hash(&self, key: &[u8]) -> u64 {
        std::hash::BuildHasher::hash_one(&self.hasher, key) | 1
    }

    fn set(&self, hash: u64) -> usize {
        (hash >> 1) as usize & (self.set_count - 1)
    }

    /// The destinations of `key`, if it is remembered, and whether a wildcard-free pattern
    /// equals it.
    fn get(&self, hash: u64, key: &[u8]) -> Option<(Span, bool)> {
        let set = self.sets.get(self.set(hash))?;
        let slot = set.iter().find(|slot| slot.holds(hash, key))?;
        Some((slot.dests, slot.exact))
    }

    fn insert(&mut self, hash: u64, key: &[u8], dests: Span, exact: bool) {
        let Some(len) = u8::try_from(key.len())
            .ok()
            .filter(|&len| usize::from(len) <= RECENT_KEY_BYTES)
        else {
            return;
        };
        if self.sets.is_empty() {
            self.sets = vec![[UNUSED; 2]; self.set_count];
        }
        let set = self.set(hash);
        let set = &mut self.sets[set];
        set[1] = set[0];
        let slot = &mut set[0];
        slot.hash = hash;
        slot.dests = dests;
        slot.exact = exact;
        slot.len = len;
        slot.key[..key.len()].copy_from_slice(key);
    }

    fn clear(&mut self) {
        self.sets.clear();
    }
}

#[cfg(test)]
mod tests {
    use warren_wire::{FieldTable, ShortStr};

    use super::{RecentKeys, Span, TopicAutomaton, RECENT_KEY_BYTES};
    use crate::{Bindings, ExchangeKind};

    #[test]
    fn a_routed_key_is_remembered_until_the_bindings_change() {
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
        assert!(remembered(&automaton), "routed once, remembered");
        assert_eq!(route(&mut automaton, &bindings), [1]);
        bindings
            .bind(&ShortStr::from("#"), &no_arguments, 2)
            .expect("topic");
        assert_eq!(route(&mut automaton, &bindings), [1, 2]);
    }

    fn span(start: u32) -> Span {
        Span { start, len: 1 }
    }

    /// Hashes that all pick the first set.
    fn first_set_hash(i: u64) -> u64 {
        i << 40 | 1
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
