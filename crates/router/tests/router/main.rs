//! warren-router's tests, through its public API: RabbitMQ's own cases as tables, Wazo's binding
//! shapes, and randomized agreement between the fast matchers and the reference twins.

mod agreement;
mod automaton;
mod bindings;
mod headers;
mod topic;

use bytes::Bytes;
use warren_wire::{FieldTable, FieldValue, ShortStr};

/// A short string from test text (all of it well under 255 bytes).
fn key(text: &str) -> ShortStr {
    ShortStr::try_from(text.to_owned()).expect("test keys are short")
}

/// A long string (`S`) value.
fn s(text: &str) -> FieldValue {
    FieldValue::LongStr(Bytes::copy_from_slice(text.as_bytes()))
}

/// A byte-array (`x`) value.
fn x(bytes: &[u8]) -> FieldValue {
    FieldValue::Bytes(Bytes::copy_from_slice(bytes))
}

/// A table with these entries, in this order (repeated names kept).
fn table(entries: &[(&str, FieldValue)]) -> FieldTable {
    FieldTable(
        entries
            .iter()
            .map(|(name, value)| (key(name), value.clone()))
            .collect(),
    )
}

/// A small deterministic generator (SplitMix64), so that a failing seed can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (n > 0).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}
