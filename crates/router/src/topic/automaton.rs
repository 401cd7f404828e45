//! `TopicAutomaton`: the trie's walk compiled, on demand, into a deterministic automaton over the
//! key's words (a lazy DFA, as regex engines build them).
//!
//! A cold route visits every trie node its key reaches: with Wazo's `*` and `#` patterns a word
//! usually meets both a literal edge and a `*` edge, so the live paths multiply with the words,
//! and a route through 100 000 bindings visits dozens of nodes. The automaton's state is the
//! *set* of trie nodes live after some words, so a route makes one step per word, whatever the
//! number of paths: one lookup of the word in the trie's word table, then one lookup of
//! (state, word) in the transitions. A state's destinations are gathered and de-duplicated once,
//! when it first ends a key.
//!
//! It learns from the routes it makes: a step it has not made yet is computed from the trie
//! (the walk's rules: a `#` node keeps itself, a literal or `*` edge moves on and brings the
//! `#` child of where it lands). Unlike a cache of whole keys, what it learns is shared between
//! keys: `config.users.<uuid>.forwards.busy.updated` for any uuid that no pattern names goes
//! through the same states, because every word that no pattern has is the same word to it
//! ([`UNKNOWN`]).
//!
//! # Correctness and bounds
//! Its states hold trie node ids, valid only for the trie they came from: like the route cache
//! it replaces, it remembers the generation of the [`Bindings`] it learnt from (a process-wide
//! counter, so no two states of any two `Bindings` share one) and forgets everything when used
//! with another. It holds at most `capacity` states; when it needs one more it forgets
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
    states: Vec<State<D>>,
    /// The first state.
    start: StateId,
    /// Each state by its node set, which it shares with `states`.
    by_nodes: HashMap<Arc<[NodeId]>, StateId>,
    /// By [`transition`]: (state, word).
    transitions: HashMap<u64, StateId>,
    /// Reused while a new state's nodes are gathered.
    scratch: Vec<NodeId>,
    /// Since the bindings last changed: routes made, times it filled up, and whether it gave up.
    routes: usize,
    fills: usize,
    gave_up: bool,
}

#[derive(Debug, Clone)]
struct State<D> {
    /// The live trie nodes, sorted.
    nodes: Arc<[NodeId]>,
    /// Every destination bound at those nodes, each once; gathered when the state first ends a
    /// key.
    dests: Option<Box<[D]>>,
}

impl<D: Clone + Eq + Hash> TopicAutomaton<D> {
    /// An automaton of at most `capacity` states (below 2 it learns nothing and every route walks
    /// the trie).
    pub fn new(capacity: usize) -> Self {
        TopicAutomaton {
            capacity,
            generation: None,
            states: Vec::new(),
            start: DEAD,
            by_nodes: HashMap::new(),
            transitions: HashMap::new(),
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
        let Some(state) = self.run(trie, routing_key) else {
            return trie.route(routing_key, out);
        };
        let dests = self.dests(trie, state);
        out.extend(dests.iter().cloned());
        // Both lists are distinct; the exact key's is short: add what the state lacks.
        for dest in trie
            .exact_dests(routing_key)
            .into_iter()
            .flat_map(|d| d.iter())
        {
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
            state = match self.transitions.get(&transition(state, word)) {
                Some(&next) => next,
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
            .filter(|index| index & LITERAL == 0)
            .expect("fewer than 2^31 states");
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
        self.by_nodes.clear();
        self.transitions.clear();
        let mut root = Vec::new();
        push_arrival(trie, ROOT, &mut root);
        self.start = self.add(trie, &root);
        let dead = self.add(trie, &[]);
        debug_assert!(self.start.index() == START_INDEX && dead == DEAD);
    }

    /// The destinations bound at `state`'s nodes, each once.
    fn dests(&mut self, trie: &TopicTrie<D>, state: StateId) -> &[D] {
        let state = &mut self.states[state.index()];
        state.dests.get_or_insert_with(|| {
            let mut dests = Vec::new();
            let mut sets = 0;
            for &id in state.nodes.iter() {
                let bound = &trie.nodes[id].dests;
                if !bound.is_empty() {
                    sets += 1;
                    dests.extend(bound.iter().cloned());
                }
            }
            if sets > 1 {
                dedup_from(&mut dests, 0);
            }
            dests.into()
        })
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
