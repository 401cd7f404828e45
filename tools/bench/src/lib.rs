//! warren-bench: a load tool for AMQP 0-9-1 brokers, in the spirit of RabbitMQ's PerfTest and
//! LavinMQ's lavinmqperf, lean enough that the broker, not the tool, is what it measures: it
//! speaks the protocol with Warren's own codec (`warren-wire`) on plain tokio sockets, copies
//! pre-encoded publishes into large write batches, reads with 256 KiB buffers and acks with
//! `multiple=true` once per read.
//!
//! Modules: [`args`] (the command line), [`url`] (AMQP URLs, loopback only), [`client`] (the
//! minimal client), [`payload`] (stamped Wazo-shaped bodies), [`accounting`] (loss,
//! duplicates, order), [`latency`] (histogram), [`procfs`] (CPU and memory from /proc),
//! [`report`] (the JSON line), [`scenario`] (the runs), [`sink`] (the fake broker for
//! `selftest`). Deliveries are checked against their topic patterns with the router's
//! reference matcher (`warren_router::reference`), the definition rather than the broker's trie.

pub mod accounting;
pub mod args;
pub mod client;
pub mod error;
pub mod latency;
pub mod payload;
pub mod procfs;
pub mod report;
pub mod scenario;
pub mod sink;
pub mod url;
