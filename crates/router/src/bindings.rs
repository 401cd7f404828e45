//! `Bindings`: all bindings whose source is one exchange, and the routing its kind implies.
//!
//! # Semantics (RabbitMQ 3.x)
//! - A binding is identified by (routing key, arguments, destination). The arguments are kept as
//!   `rabbit_binding:binding_action/3` keeps them: sorted by name with a stable sort
//!   (`rabbit_misc:sort_field_table/1` is `lists:keysort(1, _)`), so their order on the wire does
//!   not matter, but the order of repeated names does; values are compared exactly (type and
//!   value; floats bit for bit). [`Bindings::iter`] lists them in that sorted form, as RabbitMQ
//!   lists them.
//! - Binding what is already bound is a no-op; two bindings that differ only by arguments are two
//!   bindings, and a destination stays routed until the last of them is gone.
//! - direct: the routing key equals the binding key, byte for byte. fanout: every destination,
//!   keys and arguments ignored. topic: see [`crate::topic`]. headers: see [`crate::headers`];
//!   only headers exchanges validate arguments (`x-match`), the other kinds accept anything.
//! - A route lists each destination at most once, however many of its bindings match.
//!
//! # Storage and cost
//! Bindings are grouped by destination: a vector of destinations (in binding order, with
//! swap-removal) and a hash index into it, each destination with a hash set of its bindings.
//! bind/unbind: O(arguments) to sort and hash the arguments, plus the kind's index update
//! (direct: a hash map from key to destinations; topic: [`TopicTrie`]; headers: the bucketed
//! index of [`crate::headers`]). `remove_destination`: O(that destination's bindings). route:
//! direct O(1) lookup; fanout O(destinations); topic see the trie; headers: one sort of the
//! message's headers, then the [`HeadersMatcher`] of each binding in the buckets that the headers
//! name and of each unindexed binding (RabbitMQ tries every binding).

use std::collections::hash_map::Entry;
use std::sync::atomic::{AtomicU64, Ordering};

use foldhash::{HashMap, HashMapExt};
use std::fmt;
use std::hash::{Hash, Hasher};

use warren_wire::{FieldTable, FieldValue, ShortStr};

use crate::counted::CountedSet;
use crate::headers::{HeadersId, HeadersIndex, HeadersMatcher};
use crate::topic::TopicTrie;

/// The exchange types that route (`x-*` plugin types are not supported).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExchangeKind {
    Direct,
    Fanout,
    Topic,
    Headers,
}

impl ExchangeKind {
    /// The kind that `exchange.declare` names, exactly (RabbitMQ's type names are case-sensitive).
    pub fn from_name(name: &[u8]) -> Option<ExchangeKind> {
        Some(match name {
            b"direct" => ExchangeKind::Direct,
            b"fanout" => ExchangeKind::Fanout,
            b"topic" => ExchangeKind::Topic,
            b"headers" => ExchangeKind::Headers,
            _ => return None,
        })
    }

    pub fn name(&self) -> &'static str {
        match self {
            ExchangeKind::Direct => "direct",
            ExchangeKind::Fanout => "fanout",
            ExchangeKind::Topic => "topic",
            ExchangeKind::Headers => "headers",
        }
    }

    /// Whether one binding of this kind matches a message: to tell afterwards which bindings
    /// a message went through (the routing trace). It builds the kind's matcher for that one
    /// binding each time, so it is slow; routing goes through [`Bindings::route`].
    pub fn binding_matches(
        self,
        binding_key: &ShortStr,
        arguments: &FieldTable,
        routing_key: &[u8],
        headers: Option<&FieldTable>,
    ) -> bool {
        match self {
            ExchangeKind::Direct => binding_key.as_bytes() == routing_key,
            ExchangeKind::Fanout => true,
            ExchangeKind::Topic => {
                let mut trie = TopicTrie::new();
                trie.insert(binding_key, ());
                let mut matched = Vec::new();
                trie.route(routing_key, &mut matched);
                !matched.is_empty()
            }
            ExchangeKind::Headers => {
                HeadersMatcher::new(arguments).is_ok_and(|matcher| matcher.matches(headers))
            }
        }
    }
}

/// A binding RabbitMQ refuses (the broker closes the channel with 406 PRECONDITION_FAILED).
/// `text` is RabbitMQ's wording, without the `PRECONDITION_FAILED - ` prefix.
#[derive(Debug, Clone, PartialEq)]
pub struct BindError {
    pub text: String,
}

impl fmt::Display for BindError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::error::Error for BindError {}

/// All bindings whose source is one exchange, and the matching that its kind implies.
/// Binding identity is (routing_key, arguments compared as an order-insensitive table,
/// destination), as in RabbitMQ.
#[derive(Debug, Clone)]
pub struct Bindings<D> {
    /// One entry per bound destination.
    dests: Vec<DestBindings<D>>,
    /// Where each destination sits in `dests`.
    slots: HashMap<D, usize>,
    index: Index<D>,
    len: usize,
    /// Changes on every change of the bindings; see [`crate::TopicAutomaton`].
    generation: u64,
}

/// Where every [`Bindings`] draws its generations from, so that no two states share one.
static GENERATIONS: AtomicU64 = AtomicU64::new(0);

fn next_generation() -> u64 {
    GENERATIONS.fetch_add(1, Ordering::Relaxed)
}

#[derive(Debug, Clone)]
struct DestBindings<D> {
    dest: D,
    /// Each binding of this destination, with its handle in the index on a headers exchange.
    bindings: HashMap<BindingKey, Option<HeadersId>>,
}

/// What routing looks up, by exchange kind.
#[derive(Debug, Clone)]
enum Index<D> {
    Direct(HashMap<ShortStr, CountedSet<D>>),
    /// Routes to every entry of `dests`.
    Fanout,
    Topic(TopicTrie<D>),
    Headers(HeadersIndex<D>),
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct BindingKey {
    routing_key: ShortStr,
    arguments: SortedArgs,
}

impl BindingKey {
    fn new(routing_key: &ShortStr, arguments: &FieldTable) -> Self {
        let mut sorted = arguments.clone();
        sorted.0.sort_by(|(a, _), (b, _)| a.cmp(b));
        BindingKey {
            routing_key: routing_key.clone(),
            arguments: SortedArgs(sorted),
        }
    }
}

impl<D: Clone + Eq + Hash> Bindings<D> {
    pub fn new(kind: ExchangeKind) -> Self {
        let index = match kind {
            ExchangeKind::Direct => Index::Direct(HashMap::new()),
            ExchangeKind::Fanout => Index::Fanout,
            ExchangeKind::Topic => Index::Topic(TopicTrie::new()),
            ExchangeKind::Headers => Index::Headers(HeadersIndex::default()),
        };
        Bindings {
            dests: Vec::new(),
            slots: HashMap::new(),
            index,
            len: 0,
            generation: next_generation(),
        }
    }

    pub fn kind(&self) -> ExchangeKind {
        match self.index {
            Index::Direct(_) => ExchangeKind::Direct,
            Index::Fanout => ExchangeKind::Fanout,
            Index::Topic(_) => ExchangeKind::Topic,
            Index::Headers(_) => ExchangeKind::Headers,
        }
    }

    /// Ok(true) when added, Ok(false) when an identical binding already exists (a no-op, as in
    /// RabbitMQ). Err for invalid headers arguments (x-match not all/any/all-with-x/any-with-x),
    /// checked first, as RabbitMQ validates before it looks for the binding.
    pub fn bind(
        &mut self,
        routing_key: &ShortStr,
        arguments: &FieldTable,
        destination: D,
    ) -> Result<bool, BindError> {
        let matcher = match self.index {
            Index::Headers(_) => Some(HeadersMatcher::new(arguments)?),
            _ => None,
        };
        let slot = match self.slots.get(&destination) {
            Some(&slot) => slot,
            None => {
                self.dests.push(DestBindings {
                    dest: destination.clone(),
                    bindings: HashMap::new(),
                });
                self.slots.insert(destination.clone(), self.dests.len() - 1);
                self.dests.len() - 1
            }
        };
        let Entry::Vacant(entry) = self.dests[slot]
            .bindings
            .entry(BindingKey::new(routing_key, arguments))
        else {
            return Ok(false);
        };
        entry.insert(self.index.add(routing_key, destination, matcher));
        self.len += 1;
        self.generation = next_generation();
        Ok(true)
    }

    /// true when that exact binding existed and was removed.
    pub fn unbind(
        &mut self,
        routing_key: &ShortStr,
        arguments: &FieldTable,
        destination: &D,
    ) -> bool {
        let Some(&slot) = self.slots.get(destination) else {
            return false;
        };
        let bindings = &mut self.dests[slot].bindings;
        let Some(headers_id) = bindings.remove(&BindingKey::new(routing_key, arguments)) else {
            return false;
        };
        if bindings.is_empty() {
            self.remove_slot(slot);
        }
        self.index.remove(routing_key, destination, headers_id);
        self.len -= 1;
        self.generation = next_generation();
        true
    }

    /// Whether that exact binding exists.
    pub fn contains(
        &self,
        routing_key: &ShortStr,
        arguments: &FieldTable,
        destination: &D,
    ) -> bool {
        self.slots.get(destination).is_some_and(|&slot| {
            self.dests[slot]
                .bindings
                .contains_key(&BindingKey::new(routing_key, arguments))
        })
    }

    /// Removes every binding to `destination` (its queue or exchange was deleted); returns how
    /// many.
    pub fn remove_destination(&mut self, destination: &D) -> usize {
        let Some(&slot) = self.slots.get(destination) else {
            return 0;
        };
        let removed = self.remove_slot(slot);
        for (key, &headers_id) in &removed.bindings {
            self.index.remove(&key.routing_key, destination, headers_id);
        }
        self.len -= removed.bindings.len();
        self.generation = next_generation();
        removed.bindings.len()
    }

    /// Appends to `out` every destination that a message with this routing key and headers
    /// reaches, each at most once per call. Entries already in `out` (from other exchanges) are
    /// neither inspected nor removed.
    pub fn route(&self, routing_key: &[u8], headers: Option<&FieldTable>, out: &mut Vec<D>) {
        match &self.index {
            Index::Direct(keys) => {
                if let Some(dests) = keys.get(routing_key) {
                    out.extend(dests.iter().cloned());
                }
            }
            Index::Fanout => out.extend(self.dests.iter().map(|d| d.dest.clone())),
            Index::Topic(trie) => trie.route(routing_key, out),
            Index::Headers(index) => index.route(headers, out),
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// The trie of a topic exchange.
    pub(crate) fn topic(&self) -> Option<&TopicTrie<D>> {
        match &self.index {
            Index::Topic(trie) => Some(trie),
            _ => None,
        }
    }

    /// Identifies the current state: it changes whenever a binding is added or removed, and no
    /// other `Bindings` in the process has had the same one.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn contains_destination(&self, destination: &D) -> bool {
        self.slots.contains_key(destination)
    }

    /// Every binding, for listings: (routing key as bound, arguments sorted by name as RabbitMQ
    /// stores them, destination). Grouped by destination; the order is otherwise unspecified.
    pub fn iter(&self) -> impl Iterator<Item = (&ShortStr, &FieldTable, &D)> {
        self.dests.iter().flat_map(|d| {
            d.bindings
                .keys()
                .map(move |key| (&key.routing_key, &key.arguments.0, &d.dest))
        })
    }

    /// Takes the destination at `slot` out of `dests`, moving the last one into its place.
    fn remove_slot(&mut self, slot: usize) -> DestBindings<D> {
        let removed = self.dests.swap_remove(slot);
        self.slots.remove(&removed.dest);
        if let Some(moved) = self.dests.get(slot) {
            if let Some(moved_slot) = self.slots.get_mut(&moved.dest) {
                *moved_slot = slot;
            }
        }
        removed
    }
}

impl<D: Clone + Eq + Hash> Index<D> {
    /// A new binding of `dest` with `key` (each binding adds once; see [`CountedSet`]), and on a
    /// headers exchange its `matcher`; returns the binding's handle in a headers index.
    fn add(
        &mut self,
        key: &ShortStr,
        dest: D,
        matcher: Option<HeadersMatcher>,
    ) -> Option<HeadersId> {
        match self {
            Index::Direct(keys) => keys.entry(key.clone()).or_default().add(dest),
            Index::Topic(trie) => trie.insert(key, dest),
            Index::Headers(index) => return matcher.map(|m| index.insert(m, dest)),
            Index::Fanout => {}
        }
        None
    }

    /// Undoes one [`add`](Self::add), given what it returned.
    fn remove(&mut self, key: &ShortStr, dest: &D, headers_id: Option<HeadersId>) {
        match self {
            Index::Direct(keys) => {
                if let Some(dests) = keys.get_mut(key.as_bytes()) {
                    dests.remove(dest);
                    if dests.is_empty() {
                        keys.remove(key.as_bytes());
                    }
                }
            }
            Index::Topic(trie) => {
                let removed = trie.remove(key, dest);
                debug_assert!(removed, "every binding was inserted in the trie");
            }
            Index::Headers(index) => {
                let removed = headers_id.is_some_and(|id| index.remove(id));
                debug_assert!(removed, "every binding was inserted in the headers index");
            }
            Index::Fanout => {}
        }
    }
}

/// Binding arguments sorted by name, compared and hashed exactly: same names in the same order,
/// same types, same values, floats bit for bit (so that a NaN argument can still be unbound).
#[derive(Debug, Clone)]
struct SortedArgs(FieldTable);

impl PartialEq for SortedArgs {
    fn eq(&self, other: &Self) -> bool {
        tables_identical(&self.0, &other.0)
    }
}

impl Eq for SortedArgs {}

impl Hash for SortedArgs {
    fn hash<H: Hasher>(&self, state: &mut H) {
        hash_table(&self.0, state);
    }
}

fn tables_identical(a: &FieldTable, b: &FieldTable) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b.iter())
            .all(|((ka, va), (kb, vb))| ka == kb && values_identical(va, vb))
}

fn values_identical(a: &FieldValue, b: &FieldValue) -> bool {
    use FieldValue as V;
    match (a, b) {
        (V::F32(x), V::F32(y)) => x.to_bits() == y.to_bits(),
        (V::F64(x), V::F64(y)) => x.to_bits() == y.to_bits(),
        (V::Array(x), V::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| values_identical(x, y))
        }
        (V::Table(x), V::Table(y)) => tables_identical(x, y),
        // Any other pair holds no float: the derived equality is exact.
        _ => a == b,
    }
}

fn hash_table<H: Hasher>(table: &FieldTable, state: &mut H) {
    table.len().hash(state);
    for (name, value) in table.iter() {
        name.hash(state);
        hash_value(value, state);
    }
}

fn hash_value<H: Hasher>(value: &FieldValue, state: &mut H) {
    use FieldValue as V;
    std::mem::discriminant(value).hash(state);
    match value {
        V::Bool(x) => x.hash(state),
        V::I8(x) => x.hash(state),
        V::U8(x) => x.hash(state),
        V::I16(x) => x.hash(state),
        V::U16(x) => x.hash(state),
        V::I32(x) => x.hash(state),
        V::U32(x) => x.hash(state),
        V::I64(x) => x.hash(state),
        V::F32(x) => x.to_bits().hash(state),
        V::F64(x) => x.to_bits().hash(state),
        V::Decimal { scale, value } => (scale, value).hash(state),
        V::LongStr(b) | V::Bytes(b) => b.hash(state),
        V::Array(items) => {
            items.len().hash(state);
            for item in items {
                hash_value(item, state);
            }
        }
        V::Timestamp(x) => x.hash(state),
        V::Table(table) => hash_table(table, state),
        V::Void => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(text: &'static str) -> ShortStr {
        ShortStr::from_static(text)
    }

    #[test]
    fn one_binding_matches_as_its_kind_routes() {
        let none = FieldTable::new();
        let topic = ExchangeKind::Topic;
        assert!(topic.binding_matches(&key("calls.*.created"), &none, b"calls.call.created", None));
        assert!(topic.binding_matches(&key("#"), &none, b"", None));
        assert!(!topic.binding_matches(&key("calls.*"), &none, b"calls.call.created", None));
        assert!(ExchangeKind::Direct.binding_matches(&key("q"), &none, b"q", None));
        assert!(!ExchangeKind::Direct.binding_matches(&key("q"), &none, b"q2", None));
        assert!(ExchangeKind::Fanout.binding_matches(&key("x"), &none, b"y", None));
        let mut arguments = FieldTable::new();
        arguments.insert(key("x-match"), FieldValue::LongStr(b"all".to_vec().into()));
        arguments.insert(
            key("name"),
            FieldValue::LongStr(b"call_created".to_vec().into()),
        );
        let mut headers = FieldTable::new();
        headers.insert(
            key("name"),
            FieldValue::LongStr(b"call_created".to_vec().into()),
        );
        let kind = ExchangeKind::Headers;
        assert!(kind.binding_matches(&key(""), &arguments, b"", Some(&headers)));
        assert!(!kind.binding_matches(&key(""), &arguments, b"", None));
    }
}
