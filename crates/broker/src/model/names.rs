//! Server-generated names, shaped like RabbitMQ's: `amq.gen-` + 22 URL-safe base64 characters
//! for queues, `amq.ctag-` + 22 for consumer tags, `amq.rabbitmq.reply-to.` + 22 for direct
//! reply-to. They need to be unique, not secret: a
//! process-wide counter mixed by the standard library's randomly seeded hasher is enough.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use warren_wire::ShortStr;

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

pub fn generated_queue_name() -> ShortStr {
    generated("amq.gen-")
}

pub fn generated_consumer_tag() -> ShortStr {
    generated("amq.ctag-")
}

const REPLY_TO_PREFIX: &str = "amq.rabbitmq.reply-to.";

/// The queue behind a direct reply-to consumer: `amq.rabbitmq.reply-to.` + 22 characters.
pub fn generated_reply_to() -> ShortStr {
    generated(REPLY_TO_PREFIX)
}

/// Whether a queue is a direct reply-to consumer's (RabbitMQ has no queue there).
pub fn is_reply_to(queue: &[u8]) -> bool {
    queue.starts_with(REPLY_TO_PREFIX.as_bytes())
}

fn generated(prefix: &str) -> ShortStr {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    static SEED: OnceLock<RandomState> = OnceLock::new();
    let seed = SEED.get_or_init(RandomState::new);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    // 128 bits: two hashes of the counter; 22 base64 characters carry 132 bits.
    let bits = (u128::from(seed.hash_one((n, 0u8))) << 64) | u128::from(seed.hash_one((n, 1u8)));
    let mut name = String::with_capacity(prefix.len() + 22);
    name.push_str(prefix);
    name.extend((0..22).map(|i| char::from(ALPHABET[((bits >> (i * 6)) & 63) as usize])));
    ShortStr::try_from(name).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_rabbitmq_shaped_and_distinct() {
        let a = generated_queue_name();
        let b = generated_queue_name();
        assert_ne!(a, b);
        assert!(a.starts_with(b"amq.gen-"));
        assert_eq!(a.len(), "amq.gen-".len() + 22);
        assert!(generated_consumer_tag().starts_with(b"amq.ctag-"));
    }
}
