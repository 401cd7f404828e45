//! Headers-exchange matching, as RabbitMQ 3.x does it (`rabbit_exchange_type_headers.erl`,
//! 3.10–3.13; read from the RabbitMQ source).
//!
//! # Semantics
//! - The routing key is ignored; a binding's arguments are matched against the message's
//!   `headers` property.
//! - `x-match` selects the mode: `all` (also when absent), `any`, and since 3.10 `all-with-x` and
//!   `any-with-x`. Any other string, or a value that is not a long string (`S`), fails the bind
//!   with RabbitMQ's `validate_binding` text; see [`HeadersMatcher::new`].
//! - The `x-match` argument itself never takes part. Other arguments whose name starts with `x-`
//!   are skipped under `all`/`any` (webhookd's `x-internal: true` relies on it) and count under
//!   the `-with-x` modes. Header names are plain bytes: `user_uuid:*` is no wildcard.
//! - `all`: every counted argument matches, so a binding with none matches every message, even
//!   one without headers. `any`: at least one does, so a binding with none matches nothing.
//! - An argument of type void (`V`) only asks that the header be present, whatever its value.
//!   Any other argument asks for an equal value, where "equal" is Erlang's `==` on the values that
//!   RabbitMQ decoded, type tags ignored (3.x: `PV == DV`; 4.x is said to use `=:=`, which we
//!   have not checked in its source; Wazo's tests run `rabbitmq:3`, so we follow 3.x):
//!   - integers of any width and timestamps compare by value (`I8(1)` equals `I64(1)`), and so do
//!     floats, against each other and against integers (`1` equals `1.0`; an `f` is widened to a
//!     double first);
//!   - `S` (long string) and `x` (byte array) are both binaries: equal when their bytes are;
//!   - booleans equal booleans only (`true` is not `1` nor `"true"`), decimals equal decimals of
//!     the same scale and unscaled value, void equals void;
//!   - nested tables and arrays compare element by element, *with* their type tags (there
//!     RabbitMQ compares `{Type, Value}` tuples), so `[I8(1)]` is not `[I64(1)]`; an empty table
//!     equals an empty array (both decode to `[]`).
//! - Repeated names: RabbitMQ sorts both tables by name (stable) and merges them, so the n-th
//!   argument of a name meets the n-th header of that name. We sort and merge the same way.
//!
//! # Cost
//! [`HeadersMatcher::new`] parses the arguments and sorts them by name once, at bind time.
//! [`SortedHeaders::new`] sorts a message's headers once per route (O(h log h), no work when they
//! are already sorted), and [`HeadersMatcher::matches_sorted`] then merges: each counted argument
//! is found by a binary search in the headers that are left, O(a log h) name comparisons with no
//! allocation, stopping at the first failure (`all`) or success (`any`). A binding of 15 000
//! arguments against a message of 15 000 headers is thus about 2.4 × 10⁵ comparisons, not the
//! 10⁸ of a lookup per argument (issue 5).
//!
//! `HeadersIndex` holds a headers exchange's bindings so that a route need not try each:
//! `all` bindings are bucketed by one of their required (name, string or boolean value) pairs
//! (Wazo's `name`, or a `user_uuid:<uuid>: true`), and a route tries only the buckets of its own
//! headers, plus the bindings that no such pair indexes (`any` modes, void or numeric values).

use std::hash::{BuildHasher, Hash};

use foldhash::{HashMap, HashMapExt};
use warren_wire::{FieldTable, FieldValue, ShortStr};

use crate::dedup::dedup_from;
use crate::erlang::{int_equals_float, Term};
use crate::BindError;

/// One binding's arguments, parsed for matching.
#[derive(Debug, Clone)]
pub struct HeadersMatcher {
    mode: Mode,
    /// The counted arguments, sorted by name with a stable sort, as RabbitMQ sorts them.
    wanted: Vec<Wanted>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    All,
    Any,
}

/// One counted argument.
#[derive(Debug, Clone)]
struct Wanted {
    name: ShortStr,
    /// `None` for a void argument: the header need only be present.
    value: Option<FieldValue>,
}

impl HeadersMatcher {
    /// Parses binding arguments. Fails as RabbitMQ's `validate_binding` does, with its text (the
    /// broker prefixes `PRECONDITION_FAILED - `):
    /// `Invalid x-match field value <<"foo">>; expected all, any, all-with-x, or any-with-x`, or,
    /// for a non-string value, `Invalid x-match field type bool (value true); expected longstr`.
    pub fn new(arguments: &FieldTable) -> Result<Self, BindError> {
        let (mode, with_x) = match arguments.get(b"x-match") {
            None => (Mode::All, false),
            Some(FieldValue::LongStr(text)) => match &text[..] {
                b"all" => (Mode::All, false),
                b"any" => (Mode::Any, false),
                b"all-with-x" => (Mode::All, true),
                b"any-with-x" => (Mode::Any, true),
                _ => {
                    return Err(BindError {
                        text: format!(
                            "Invalid x-match field value {}; \
                             expected all, any, all-with-x, or any-with-x",
                            Term::Binary(text)
                        ),
                    })
                }
            },
            Some(other) => {
                return Err(BindError {
                    text: format!(
                        "Invalid x-match field type {} (value {}); expected longstr",
                        other.type_name(),
                        Term::of(other)
                    ),
                })
            }
        };
        let mut wanted: Vec<Wanted> = arguments
            .iter()
            .filter(|(name, _)| {
                name.as_bytes() != b"x-match" && (with_x || !name.starts_with(b"x-"))
            })
            .map(|(name, value)| Wanted {
                name: name.clone(),
                value: (!matches!(value, FieldValue::Void)).then(|| value.clone()),
            })
            .collect();
        wanted.sort_by(|a, b| compare_names(a.name.as_bytes(), b.name.as_bytes()));
        Ok(HeadersMatcher { mode, wanted })
    }

    /// Whether a message with these headers (`None`: the property is absent) matches. Sorts the
    /// headers first: to try many bindings, sort them once with [`SortedHeaders::new`] and call
    /// [`matches_sorted`](Self::matches_sorted).
    pub fn matches(&self, headers: Option<&FieldTable>) -> bool {
        self.matches_sorted(&SortedHeaders::new(headers))
    }

    /// Whether a message with these headers matches: RabbitMQ's merge of the two sorted tables.
    pub fn matches_sorted(&self, headers: &SortedHeaders<'_>) -> bool {
        let mut rest = &headers.0[..];
        let hit = |wanted: &Wanted| {
            // The headers before `rest` met earlier arguments or sort before this name.
            let at = rest
                .partition_point(|(name, _)| compare_names(name, wanted.name.as_bytes()).is_lt());
            rest = &rest[at..];
            let Some(((name, value), after)) = rest.split_first() else {
                return false;
            };
            if compare_names(name, wanted.name.as_bytes()).is_ne() {
                return false;
            }
            rest = after;
            wanted
                .value
                .as_ref()
                .map_or(true, |want| value_eq(want, value))
        };
        match self.mode {
            Mode::All => self.wanted.iter().all(hit),
            Mode::Any => self.wanted.iter().any(hit),
        }
    }

    /// The (name, value) pairs that every matching message carries as the first header of that
    /// name, with a value that [`IndexValue`] can hash: a required string or boolean. Empty for
    /// `any` bindings, which need none of their arguments.
    fn index_keys(&self) -> impl Iterator<Item = (&[u8], IndexValue<'_>)> {
        let firsts = self
            .wanted
            .iter()
            .enumerate()
            .filter(|(i, wanted)| *i == 0 || self.wanted[i - 1].name != wanted.name);
        firsts
            .filter(|_| self.mode == Mode::All)
            .filter_map(|(_, wanted)| {
                let value = IndexValue::of(wanted.value.as_ref()?)?;
                Some((wanted.name.as_bytes(), value))
            })
    }
}

/// A message's headers sorted by name with a stable sort, as RabbitMQ sorts them before it
/// merges them with a binding's arguments. Made once per route.
#[derive(Debug)]
pub struct SortedHeaders<'a>(Vec<(&'a [u8], &'a FieldValue)>);

impl<'a> SortedHeaders<'a> {
    /// `None` (no headers property) sorts to no headers.
    pub fn new(headers: Option<&'a FieldTable>) -> Self {
        let mut sorted: Vec<(&[u8], &FieldValue)> = headers
            .map(|table| table.iter().map(|(k, v)| (k.as_bytes(), v)).collect())
            .unwrap_or_default();
        sorted.sort_by(|a, b| compare_names(a.0, b.0));
        SortedHeaders(sorted)
    }

    /// The first header of each name: the one that a binding's first argument of that name meets.
    fn firsts(&self) -> impl Iterator<Item = (&'a [u8], &'a FieldValue)> + '_ {
        self.0
            .iter()
            .enumerate()
            .filter(|(i, (name, _))| *i == 0 || self.0[i - 1].0 != *name)
            .map(|(_, &entry)| entry)
    }
}

/// Header and argument names compare as bytes, as Erlang compares binaries. Unit tests count the
/// calls, to prove a bound on the work of a match without timing it.
fn compare_names(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
    #[cfg(test)]
    tests::NAME_COMPARISONS.with(|count| count.set(count.get() + 1));
    a.cmp(b)
}

/// A value that [`HeadersIndex`] can bucket by, because [`value_eq`] finds it equal only to values
/// of the same class: binaries (`S` and `x`) to binaries with the same bytes, booleans to the same
/// boolean. Numbers are left out (`1` equals `1.0`), and so are tables and arrays.
#[derive(Debug, Clone, Copy, Hash)]
enum IndexValue<'a> {
    Binary(&'a [u8]),
    Bool(bool),
}

impl<'a> IndexValue<'a> {
    fn of(value: &'a FieldValue) -> Option<Self> {
        match value {
            FieldValue::Bool(b) => Some(IndexValue::Bool(*b)),
            other => other.as_bytes().map(IndexValue::Binary),
        }
    }
}

/// A bucket of [`HeadersIndex`]: the hash of one (name, [`IndexValue`]) pair. Distinct pairs
/// whose hashes collide share a bucket, which costs time, not correctness: every binding in a
/// bucket is still matched in full.
type BucketKey = u64;

/// A binding's handle in a [`HeadersIndex`], to remove it with.
pub(crate) type HeadersId = usize;

/// A headers exchange's bindings, bucketed so that a route tries only those that can match.
#[derive(Debug, Clone)]
pub(crate) struct HeadersIndex<D> {
    hasher: foldhash::fast::RandomState,
    /// Bindings with no index key, tried on every route.
    always: Vec<Entry<D>>,
    /// `all` bindings, each under one of its index keys.
    buckets: HashMap<BucketKey, Vec<Entry<D>>>,
    /// Where each binding sits, by id; `None` for ids on the free list.
    places: Vec<Option<Place>>,
    free: Vec<HeadersId>,
}

#[derive(Debug, Clone)]
struct Entry<D> {
    matcher: HeadersMatcher,
    dest: D,
    id: HeadersId,
}

/// A bucket (`None`: `always`) and a position in it.
#[derive(Debug, Clone, Copy)]
struct Place {
    bucket: Option<BucketKey>,
    at: usize,
}

impl<D> Default for HeadersIndex<D> {
    fn default() -> Self {
        HeadersIndex {
            hasher: foldhash::fast::RandomState::default(),
            always: Vec::new(),
            buckets: HashMap::new(),
            places: Vec::new(),
            free: Vec::new(),
        }
    }
}

impl<D: Clone + Eq + Hash> HeadersIndex<D> {
    /// Adds a binding. Of its index keys, the one whose bucket is smallest now is used, so that
    /// a shared pair (`user_uuid:*: true` in Wazo) does not make one bucket that every such
    /// message must try.
    pub(crate) fn insert(&mut self, matcher: HeadersMatcher, dest: D) -> HeadersId {
        let bucket = matcher
            .index_keys()
            .map(|(name, value)| self.bucket_key(name, value))
            .min_by_key(|key| self.buckets.get(key).map_or(0, Vec::len));
        let id = self.free.pop().unwrap_or(self.places.len());
        let entries = match bucket {
            Some(key) => self.buckets.entry(key).or_default(),
            None => &mut self.always,
        };
        let place = Place {
            bucket,
            at: entries.len(),
        };
        entries.push(Entry { matcher, dest, id });
        match self.places.get_mut(id) {
            Some(slot) => *slot = Some(place),
            None => self.places.push(Some(place)),
        }
        id
    }

    /// Removes the binding that [`insert`](Self::insert) returned `id` for; false when there is
    /// none.
    pub(crate) fn remove(&mut self, id: HeadersId) -> bool {
        let Some(place) = self.places.get_mut(id).and_then(Option::take) else {
            return false;
        };
        self.free.push(id);
        let entries = match place.bucket {
            Some(key) => match self.buckets.get_mut(&key) {
                Some(entries) => entries,
                None => return false,
            },
            None => &mut self.always,
        };
        entries.swap_remove(place.at);
        if let Some(moved) = entries.get(place.at) {
            if let Some(Some(moved_place)) = self.places.get_mut(moved.id) {
                moved_place.at = place.at;
            }
        }
        if let Some(key) = place.bucket.filter(|_| entries.is_empty()) {
            self.buckets.remove(&key);
        }
        true
    }

    /// Appends to `out` the destination of every binding that matches, each destination once.
    pub(crate) fn route(&self, headers: Option<&FieldTable>, out: &mut Vec<D>) {
        let start = out.len();
        let headers = SortedHeaders::new(headers);
        let mut try_each = |entries: &[Entry<D>]| {
            for entry in entries {
                if entry.matcher.matches_sorted(&headers) {
                    out.push(entry.dest.clone());
                }
            }
        };
        try_each(&self.always);
        if !self.buckets.is_empty() {
            for (name, value) in headers.firsts() {
                let Some(value) = IndexValue::of(value) else {
                    continue;
                };
                if let Some(entries) = self.buckets.get(&self.bucket_key(name, value)) {
                    try_each(entries);
                }
            }
        }
        if out.len() - start > 1 {
            dedup_from(out, start);
        }
    }

    fn bucket_key(&self, name: &[u8], value: IndexValue<'_>) -> BucketKey {
        self.hasher.hash_one((name, value))
    }
}

/// RabbitMQ 3.x's `PV == DV` on two decoded values, type tags ignored (see the module doc).
/// The slow twin in `reference.rs` checks the same thing through an Erlang-term model.
fn value_eq(a: &FieldValue, b: &FieldValue) -> bool {
    use FieldValue as V;
    if let (Some(x), Some(y)) = (Number::of(a), Number::of(b)) {
        return x.eq(y);
    }
    match (a, b) {
        (V::Bool(x), V::Bool(y)) => x == y,
        (V::LongStr(x) | V::Bytes(x), V::LongStr(y) | V::Bytes(y)) => x == y,
        (V::Decimal { .. }, V::Decimal { .. }) | (V::Void, V::Void) => a == b,
        (V::Array(x), V::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| tagged_eq(x, y))
        }
        (V::Table(x), V::Table(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y.iter())
                    .all(|((kx, x), (ky, y))| kx == ky && tagged_eq(x, y))
        }
        // Both decode to the empty list.
        (V::Table(t), V::Array(items)) | (V::Array(items), V::Table(t)) => {
            t.is_empty() && items.is_empty()
        }
        _ => false,
    }
}

/// Inside arrays and tables RabbitMQ compares `{Type, Value}`: the tags must agree as well.
fn tagged_eq(a: &FieldValue, b: &FieldValue) -> bool {
    a.type_name() == b.type_name() && value_eq(a, b)
}

#[derive(Clone, Copy)]
enum Number {
    Int(i128),
    Float(f64),
}

impl Number {
    fn of(value: &FieldValue) -> Option<Number> {
        match value {
            FieldValue::F32(x) => Some(Number::Float((*x).into())),
            FieldValue::F64(x) => Some(Number::Float(*x)),
            other => other.as_i128().map(Number::Int),
        }
    }

    fn eq(self, other: Number) -> bool {
        match (self, other) {
            (Number::Int(a), Number::Int(b)) => a == b,
            (Number::Float(a), Number::Float(b)) => a == b,
            (Number::Int(i), Number::Float(f)) | (Number::Float(f), Number::Int(i)) => {
                int_equals_float(i, f)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use warren_wire::{FieldTable, FieldValue, ShortStr};

    use super::HeadersMatcher;

    thread_local! {
        /// Calls of `compare_names` on this thread.
        pub(super) static NAME_COMPARISONS: Cell<u64> = const { Cell::new(0) };
    }

    /// Issue 5's finding (docs/reliability.md, "Fuzzing"), without the clock: a binding of `n`
    /// void arguments against a message of the same `n` headers in reverse order. A lookup per
    /// argument costs n²/2 comparisons (1.1 × 10⁸ here); sorting both and merging costs
    /// O(n log n). The bound below, 4 n log₂ n, is about 8 × 10⁵.
    #[test]
    fn many_arguments_against_many_headers_take_n_log_n_comparisons() {
        let n: u32 = 15_000;
        let names: Vec<ShortStr> = (0..n)
            .map(|i| ShortStr::try_from(format!("k{i:05}")).expect("short"))
            .collect();
        let arguments = FieldTable(
            names
                .iter()
                .map(|k| (k.clone(), FieldValue::Void))
                .collect(),
        );
        let headers = FieldTable(
            names
                .iter()
                .rev()
                .map(|k| (k.clone(), FieldValue::Void))
                .collect(),
        );
        let matcher = HeadersMatcher::new(&arguments).expect("no x-match");
        NAME_COMPARISONS.with(|count| count.set(0));
        assert!(matcher.matches(Some(&headers)));
        let comparisons = NAME_COMPARISONS.with(Cell::get);
        let n = f64::from(n);
        let bound = 4.0 * n * n.log2();
        assert!(
            (comparisons as f64) < bound,
            "{comparisons} name comparisons, more than {bound}"
        );
    }
}
