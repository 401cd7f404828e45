//! Wazo-shaped fixtures for the criterion benchmarks in `benches/benches/`.
//!
//! [`catalog`] holds wazo-bus's 385 event classes (routing-key templates, ACLs, header keys) and
//! fills them from a generated Wazo stack; [`fixtures`] turns them into binding sets and messages.
//! [`memory`] makes the working sets that measure what a cache miss costs on the machine.
//! Everything is seeded: a fixture is the same on every run. The types are plain strings and
//! values, so that the benches decide how they become `ShortStr`s and `FieldTable`s.

pub mod catalog;
pub mod fixtures;
pub mod memory;
mod rng;
