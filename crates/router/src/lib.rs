//! warren-router: which destinations a published message reaches. Pure data: no I/O, no async,
//! no locks (the broker wraps each exchange's [`Bindings`] in its own lock).
//!
//! - [`Bindings`] holds every binding whose source is one exchange, keyed the way RabbitMQ keys
//!   them, and routes with the matching that the exchange's [`ExchangeKind`] implies.
//! - [`topic`] is the trie behind topic exchanges, [`headers`] the matcher behind headers
//!   exchanges.
//! - [`TopicAutomaton`] learns a topic exchange's routes as a lazy automaton over the key's
//!   words, and remembers where the last keys ended, for callers that route many keys through
//!   the same bindings.
//! - [`reference`](mod@reference) holds slow, obviously-correct twins of both, written from RabbitMQ's source,
//!   that the tests (and later benches and fuzz targets) check the fast paths against.
//!
//! The semantics are RabbitMQ 3.x's, and each module says at its top what they are, where they
//! were verified and what they cost.

mod bindings;
mod counted;
mod dedup;
mod erlang;
pub mod headers;
pub mod reference;
pub mod topic;

pub use bindings::{BindError, Bindings, ExchangeKind};
pub use topic::TopicAutomaton;
