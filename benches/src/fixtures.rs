//! Binding sets and messages shaped like a Wazo stack's, for the router benchmarks.
//!
//! Every binding is made from a publication drawn from the catalog (a random event class filled
//! from the stack's pools), and every set holds distinct patterns, each bound to its own queue, so
//! that a broad pattern such as `calls.#` is bound once, as one consumer would bind it, and a
//! route's destinations are the patterns that match.

use std::collections::HashSet;

use crate::catalog::{events, user_uuid, Event, HeaderValue, Headers, Publication, USERS};
use crate::rng::Rng;

/// How many routing keys or messages a fixture cycles through: half are the keys of publications
/// that some binding was made for (they match it), half fresh publications (they match what
/// wildcards or chance make them match).
pub const MESSAGES_PER_FIXTURE: usize = 1_024;

/// The shape of a topic binding set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopicSet {
    /// Full routing keys, as a consumer binds one event of one user:
    /// `config.users.<uuid>.forwards.busy.updated`.
    Literal,
    /// Some words but the first replaced by `*`, placeholder words more often than fixed ones:
    /// `config.users.*.forwards.*.updated`, `calls.*.*`, `applications.<uuid>.calls.*.updated`.
    Star,
    /// A prefix, a suffix or both around one `#`: `calls.#`, `config.users.<uuid>.#`,
    /// `#.created`, `config.users.#.updated`.
    Hash,
    /// A third of each.
    Mixed,
}

impl TopicSet {
    /// The set's name in benchmark ids.
    pub fn name(self) -> &'static str {
        match self {
            TopicSet::Literal => "wazo_literal",
            TopicSet::Star => "wazo_star",
            TopicSet::Hash => "wazo_hash",
            TopicSet::Mixed => "wazo_mixed",
        }
    }

    /// The pattern a consumer of `publication` binds, in this set's shape.
    fn pattern(self, publication: &Publication, rng: &mut Rng) -> String {
        let words = publication.routing_key_words();
        match self {
            TopicSet::Literal => publication.routing_key(),
            TopicSet::Star => star_pattern(&words, rng),
            TopicSet::Hash => hash_pattern(&words, rng),
            TopicSet::Mixed => {
                let shape = *rng.pick(&[TopicSet::Literal, TopicSet::Star, TopicSet::Hash]);
                shape.pattern(publication, rng)
            }
        }
    }
}

/// Each placeholder word becomes `*` one time in two and each fixed word but the first (the
/// publisher's namespace, which consumers name) one time in eight, leaving at least one `*`.
fn star_pattern(words: &[(String, bool)], rng: &mut Rng) -> String {
    loop {
        let pattern: Vec<&str> = words
            .iter()
            .enumerate()
            .map(|(i, (word, is_value))| {
                let starred = match (i, is_value) {
                    (0, _) => false,
                    (_, true) => rng.one_in(2),
                    (_, false) => rng.one_in(8),
                };
                if starred {
                    "*"
                } else {
                    word
                }
            })
            .collect();
        if pattern.contains(&"*") {
            return pattern.join(".");
        }
    }
}

/// `prefix.#`, `#.suffix` or `prefix.#.suffix`, with at least one word kept.
fn hash_pattern(words: &[(String, bool)], rng: &mut Rng) -> String {
    let words: Vec<&str> = words.iter().map(|(word, _)| word.as_str()).collect();
    let n = words.len();
    let (prefix, suffix) = match rng.below(if n >= 3 { 3 } else { 2 }) {
        0 => (&words[..1 + rng.below(n - 1)], &[][..]),
        1 => (&[][..], &words[1 + rng.below(n - 1)..]),
        _ => {
            let cut = 1 + rng.below(n - 2);
            (&words[..cut], &words[cut + 1 + rng.below(n - 1 - cut)..])
        }
    };
    prefix
        .iter()
        .chain(&["#"])
        .chain(suffix)
        .copied()
        .collect::<Vec<_>>()
        .join(".")
}

/// A topic exchange's binding patterns (binding `i` goes to queue `i`) and the routing keys that
/// are published to it.
#[derive(Debug, Clone)]
pub struct TopicFixture {
    pub patterns: Vec<String>,
    pub keys: Vec<String>,
    /// The key of the publication each pattern was made from.
    bound_keys: Vec<String>,
    set: TopicSet,
}

impl TopicFixture {
    pub fn new(set: TopicSet, bindings: usize) -> Self {
        let mut rng = Rng::new(seed(set.name(), bindings));
        let mut seen = HashSet::with_capacity(bindings);
        let mut patterns = Vec::with_capacity(bindings);
        let mut bound_keys = Vec::with_capacity(bindings);
        while patterns.len() < bindings {
            let publication = Publication::draw(rng.pick(events()), None, &mut rng);
            let pattern = set.pattern(&publication, &mut rng);
            if seen.insert(pattern.clone()) {
                patterns.push(pattern);
                bound_keys.push(publication.routing_key());
            }
        }
        let keys = draw_keys(&bound_keys, MESSAGES_PER_FIXTURE, &mut rng);
        TopicFixture {
            patterns,
            keys,
            bound_keys,
            set,
        }
    }

    /// `count` keys made as [`keys`](Self::keys) are (half of them a bound publication's, half
    /// fresh publications'), with a seed of their own: a stream longer than any cache of keys.
    pub fn stream(&self, count: usize) -> Vec<String> {
        let mut rng = Rng::new(seed(&format!("{} stream", self.set.name()), count));
        draw_keys(&self.bound_keys, count, &mut rng)
    }

    /// The fixture's keys cut to `words` words, or lengthened with the words of the keys that
    /// follow: Wazo's keys have 2 to 7 words, and this spans 1 to 10 with the same vocabulary.
    pub fn keys_with_words(&self, words: usize) -> Vec<String> {
        (0..self.keys.len())
            .map(|i| {
                self.keys
                    .iter()
                    .cycle()
                    .skip(i)
                    .flat_map(|key| key.split('.'))
                    .take(words)
                    .collect::<Vec<_>>()
                    .join(".")
            })
            .collect()
    }
}

/// `count` keys, alternately a bound publication's and a fresh publication's.
fn draw_keys(bound_keys: &[String], count: usize, rng: &mut Rng) -> Vec<String> {
    (0..count)
        .map(|i| match i % 2 {
            0 => rng.pick(bound_keys).clone(),
            _ => Publication::draw(rng.pick(events()), None, rng).routing_key(),
        })
        .collect()
}

/// `count` keys of fresh publications whose values (uuids, call ids, names) no stack object has,
/// as a bus publishes about objects created after its consumers bound: no key repeats, and no
/// pattern names their values.
pub fn keys_with_unseen_values(count: usize) -> Vec<String> {
    let mut rng = Rng::new(seed("unseen values", count));
    (0..count)
        .map(|_| {
            let publication = Publication::draw(rng.pick(events()), None, &mut rng);
            let words: Vec<String> = publication
                .routing_key_words()
                .into_iter()
                .map(|(word, is_value)| match is_value {
                    true => format!("new-{:016x}", rng.next_u64()),
                    false => word,
                })
                .collect();
            words.join(".")
        })
        .collect()
}

/// A key for the fixed-key curves: user 0 changes a call forward.
pub fn fixed_key() -> String {
    format!("config.users.{}.forwards.busy.updated", user_uuid(0))
}

/// Events a wazo-websocketd session subscribes to.
pub const SUBSCRIPTIONS_PER_SESSION: usize = 10;

/// One headers-exchange binding: its arguments and its queue.
#[derive(Debug, Clone)]
pub struct HeadersBinding {
    pub arguments: Headers,
    pub queue: u32,
}

/// The `wazo-headers` exchange as wazo-websocketd binds it, and messages published to it.
///
/// Session `s` is user `s`'s websocket with its own queue; for each event it subscribes to it
/// binds `{name: <event>, user_uuid:<uuid>: true}` and `{name: <event>, user_uuid:*: true}`
/// (wazo-websocketd's `_generate_bindings` for a plain user; no `x-match`, so `all`).
#[derive(Debug, Clone)]
pub struct HeadersFixture {
    pub bindings: Vec<HeadersBinding>,
    pub messages: Vec<Headers>,
}

impl HeadersFixture {
    /// About `bindings` bindings: whole sessions of [`SUBSCRIPTIONS_PER_SESSION`] subscriptions.
    pub fn new(bindings: usize) -> Self {
        let mut rng = Rng::new(seed("wazo_websocketd", bindings));
        let user_events: Vec<&'static Event> =
            events().iter().filter(|e| e.has_user_headers()).collect();
        let sessions = (bindings / (2 * SUBSCRIPTIONS_PER_SESSION)).clamp(1, USERS);
        let subscriptions: Vec<Vec<&'static Event>> = (0..sessions)
            .map(|_| {
                let mut chosen: Vec<&'static Event> = Vec::new();
                while chosen.len() < SUBSCRIPTIONS_PER_SESSION {
                    let event = *rng.pick(&user_events);
                    if !chosen.iter().any(|e| e.name == event.name) {
                        chosen.push(event);
                    }
                }
                chosen
            })
            .collect();
        let bindings = subscriptions
            .iter()
            .enumerate()
            .flat_map(|(session, events)| {
                let queue = u32::try_from(session).expect("sessions fit in u32");
                let user = format!("user_uuid:{}", user_uuid(session));
                events.iter().flat_map(move |event| {
                    [user.clone(), "user_uuid:*".to_owned()].map(|user_key| HeadersBinding {
                        arguments: vec![
                            ("name".to_owned(), HeaderValue::Str(event.name.to_owned())),
                            (user_key, HeaderValue::Bool(true)),
                        ],
                        queue,
                    })
                })
            })
            .collect();
        let messages = (0..MESSAGES_PER_FIXTURE)
            .map(|i| {
                if i % 2 == 0 {
                    let session = rng.below(sessions);
                    let event = *rng.pick(&subscriptions[session]);
                    Publication::draw(event, Some(session), &mut rng).headers()
                } else {
                    let event = *rng.pick(&user_events);
                    Publication::draw(event, None, &mut rng).headers()
                }
            })
            .collect();
        HeadersFixture { bindings, messages }
    }
}

fn seed(set: &str, bindings: usize) -> u64 {
    set.bytes().fold(bindings as u64, |seed, byte| {
        seed.rotate_left(8) ^ u64::from(byte)
    })
}

#[cfg(test)]
mod tests {
    use warren_router::reference::{headers_match, topic_matches};
    use warren_wire::{FieldTable, FieldValue, ShortStr};

    use super::{HeadersFixture, TopicFixture, TopicSet, MESSAGES_PER_FIXTURE};
    use crate::catalog::{HeaderValue, Headers};

    fn matching(fixture: &TopicFixture, key: &str) -> usize {
        let key = key.as_bytes();
        fixture
            .patterns
            .iter()
            .filter(|p| topic_matches(p.as_bytes(), key))
            .count()
    }

    #[test]
    fn topic_sets_have_their_shape_and_distinct_patterns() {
        for set in [TopicSet::Literal, TopicSet::Star, TopicSet::Hash] {
            let fixture = TopicFixture::new(set, 1_000);
            assert_eq!(fixture.patterns.len(), 1_000);
            let distinct: std::collections::HashSet<_> = fixture.patterns.iter().collect();
            assert_eq!(distinct.len(), 1_000, "{set:?}");
            for pattern in &fixture.patterns {
                let words: Vec<&str> = pattern.split('.').collect();
                let (stars, hashes) = (
                    words.iter().filter(|w| **w == "*").count(),
                    words.iter().filter(|w| **w == "#").count(),
                );
                match set {
                    TopicSet::Literal => assert_eq!((stars, hashes), (0, 0), "{pattern}"),
                    TopicSet::Star => assert!(stars > 0 && hashes == 0, "{pattern}"),
                    _ => assert!(stars == 0 && hashes == 1, "{pattern}"),
                }
                assert!(ShortStr::try_from(pattern.clone()).is_ok());
            }
        }
    }

    #[test]
    fn half_the_keys_were_bound_and_not_every_key_matches() {
        for set in [TopicSet::Literal, TopicSet::Star, TopicSet::Hash] {
            let fixture = TopicFixture::new(set, 300);
            assert_eq!(fixture.keys.len(), MESSAGES_PER_FIXTURE);
            for key in fixture.keys.iter().step_by(2) {
                assert!(matching(&fixture, key) > 0, "{set:?} {key}");
            }
            let misses = fixture
                .keys
                .iter()
                .filter(|key| matching(&fixture, key) == 0)
                .count();
            // In the `#` set, broad patterns such as `#.updated` catch almost every key.
            assert!(
                misses > 0 || set == TopicSet::Hash,
                "{set:?}: every key matched"
            );
        }
    }

    #[test]
    fn fixtures_are_deterministic() {
        let a = TopicFixture::new(TopicSet::Mixed, 500);
        let b = TopicFixture::new(TopicSet::Mixed, 500);
        assert_eq!((a.patterns, a.keys), (b.patterns, b.keys));
        let a = HeadersFixture::new(200);
        let b = HeadersFixture::new(200);
        assert_eq!(a.messages, b.messages);
    }

    #[test]
    fn keys_with_words_have_that_many_words() {
        let fixture = TopicFixture::new(TopicSet::Mixed, 100);
        for words in 1..=10 {
            for key in fixture.keys_with_words(words) {
                assert_eq!(key.split('.').count(), words, "{key}");
            }
        }
    }

    fn table(headers: &Headers) -> FieldTable {
        FieldTable(
            headers
                .iter()
                .map(|(name, value)| {
                    let value = match value {
                        HeaderValue::Str(s) => FieldValue::LongStr(s.clone().into()),
                        HeaderValue::Int(i) => FieldValue::I64(*i),
                        HeaderValue::Bool(b) => FieldValue::Bool(*b),
                    };
                    (ShortStr::try_from(name.clone()).expect("short"), value)
                })
                .collect(),
        )
    }

    #[test]
    fn bound_sessions_receive_their_messages() {
        let fixture = HeadersFixture::new(1_000);
        assert_eq!(fixture.bindings.len(), 1_000);
        let bindings: Vec<FieldTable> = fixture
            .bindings
            .iter()
            .map(|b| table(&b.arguments))
            .collect();
        let hits = |message: &Headers| {
            let message = table(message);
            bindings
                .iter()
                .filter(|arguments| headers_match(arguments, Some(&message)))
                .count()
        };
        for message in fixture.messages.iter().take(256).step_by(2) {
            assert!(hits(message) > 0, "{message:?}");
        }
        assert!(fixture.messages.iter().any(|m| hits(m) == 0));
    }
}
