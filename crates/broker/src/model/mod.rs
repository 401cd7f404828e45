//! The broker's model: vhosts, exchanges, bindings, queues, consumers and messages. It is the
//! only place that holds shared state and locks; the doors (the AMQP session, and any other)
//! are its clients and never share state with each other.
//!
//! Lock order (never taken the other way round, never held across an `.await`):
//! a vhost's `exchanges` map → its `queues` map → one exchange's bindings → that exchange's
//! automaton (publishers only try it) → one queue's state → a consumer's delivery sink.
//! The connection registry's map and each entry's details are leaves too: nothing is locked
//! while they are held. So are the broker's vhost map, its vhosts' baselines, its users' state
//! (`users.rs`), and a vhost's routing trace (`trace.rs`), taken by a publish after it has
//! routed.
//! A vhost's list of timed queues comes last: no lock is taken while it is held (the sweep
//! copies it and lets it go before it takes any queue's lock; a publish registers its queue
//! there before it takes the queue's lock).
//! Deletions that cascade (a queue's bindings, then an auto-delete exchange that lost its last
//! binding) collect what to delete under a lock and act on it after releasing it; a queue
//! dead-letters what it let go of after releasing its own lock.

pub mod access;
pub mod actor;
pub mod admission;
pub mod arguments;
pub mod baseline;
pub mod changes;
pub mod connections;
pub mod consumer;
pub(crate) mod dead_letter;
pub mod exchange;
pub mod message;
pub(crate) mod names;
pub mod queue;
pub mod snapshot;
pub mod stats;
pub mod trace;
pub mod users;
pub mod vhost;
