//! Router benchmarks (issue 4, "Routing and delivery speed"): topic and headers routing with
//! Wazo's bindings, against the one-pattern-at-a-time reference matchers, topic routes through a
//! `TopicAutomaton` (learnt, unseen keys, first pass), and bind/unbind churn.
//!
//! Each route bench cycles through the fixture's 1 024 keys or messages, one route per
//! iteration into a reused vector, so throughput is routes per second. Before timing, the fast
//! route is checked against its naive twin on the fixture's keys (all of them below 10 000
//! bindings, the first 16 above).
//!
//! `cargo bench -p warren-benches --bench router` (see docs/benchmarks-router.md).

use std::collections::HashMap;
use std::hint::black_box;
use std::ops::Range;

use criterion::measurement::WallTime;
use criterion::{
    criterion_group, criterion_main, BatchSize, BenchmarkGroup, BenchmarkId, Criterion, Throughput,
};
use warren_benches::catalog::{HeaderValue, Headers};
use warren_benches::fixtures::{
    fixed_key, keys_with_unseen_values, HeadersFixture, TopicFixture, TopicSet,
};
use warren_router::reference::{headers_match, topic_matches};
use warren_router::{Bindings, ExchangeKind, TopicAutomaton};
use warren_wire::{FieldTable, FieldValue, ShortStr};

const SIZES: [usize; 4] = [10, 1_000, 10_000, 100_000];
const HEADERS_SIZES: [usize; 2] = [1_000, 100_000];
const KEY_WORDS_BINDINGS: usize = 100_000;
const CHURN_BINDINGS: usize = 100_000;
const AUTOMATON_BINDINGS: usize = 100_000;
/// The automatons' capacity, in states.
const AUTOMATON_CAPACITY: usize = 8_192;
/// Keys with unseen values: as many as the fixtures' keys, so that both fit the same caches.
const UNSEEN_KEYS: usize = 1_024;
/// Keys in the streams: 16 times what an automaton remembers of recent keys, so that a key has
/// always been forgotten when it comes round again.
const STREAM_KEYS: usize = 131_072;
/// Keys in the busy rows: half what an automaton remembers, each routed in turn.
const BUSY_KEYS: usize = 4_096;
/// Routes that take milliseconds at this size (the naive matchers, headers routing) get fewer
/// samples, and the naive twin checks only the first keys.
const SLOW_FROM: usize = 10_000;
/// How many keys or messages the naive twin checks at or above `SLOW_FROM`.
const SLOW_NAIVE_CHECKS: usize = 16;

fn short(text: &str) -> ShortStr {
    ShortStr::try_from(text.to_owned()).expect("Wazo's keys and header names are short strings")
}

fn field_table(headers: &Headers) -> FieldTable {
    FieldTable(
        headers
            .iter()
            .map(|(name, value)| {
                let value = match value {
                    HeaderValue::Str(text) => FieldValue::LongStr(text.clone().into()),
                    HeaderValue::Int(int) => FieldValue::I64(*int),
                    HeaderValue::Bool(boolean) => FieldValue::Bool(*boolean),
                };
                (short(name), value)
            })
            .collect(),
    )
}

fn queue(index: usize) -> u32 {
    u32::try_from(index).expect("fixtures have fewer than 2^32 bindings")
}

/// A topic exchange with pattern `i` bound to queue `i`.
fn topic_exchange(patterns: &[ShortStr]) -> Bindings<u32> {
    let mut bindings = Bindings::new(ExchangeKind::Topic);
    let no_arguments = FieldTable::new();
    for (i, pattern) in patterns.iter().enumerate() {
        bindings
            .bind(pattern, &no_arguments, queue(i))
            .expect("topic exchanges take any arguments");
    }
    bindings
}

/// The naive route: every pattern tried with the reference matcher, one at a time.
fn naive_topic_route(patterns: &[ShortStr], key: &[u8], out: &mut Vec<u32>) {
    out.extend(
        patterns
            .iter()
            .enumerate()
            .filter(|(_, pattern)| topic_matches(pattern.as_bytes(), key))
            .map(|(i, _)| queue(i)),
    );
}

fn headers_exchange(fixture: &HeadersFixture) -> Bindings<u32> {
    let mut bindings = Bindings::new(ExchangeKind::Headers);
    let no_key = ShortStr::from_static("");
    for binding in &fixture.bindings {
        bindings
            .bind(&no_key, &field_table(&binding.arguments), binding.queue)
            .expect("websocketd's bindings have no x-match");
    }
    bindings
}

/// The naive route: every binding's arguments tried with the reference matcher, then each queue
/// kept once.
fn naive_headers_route(bindings: &[(FieldTable, u32)], headers: &FieldTable, out: &mut Vec<u32>) {
    out.extend(
        bindings
            .iter()
            .filter(|(arguments, _)| headers_match(arguments, Some(headers)))
            .map(|(_, queue)| *queue),
    );
    out.sort_unstable();
    out.dedup();
}

/// Asserts that `fast` and `naive` route the first `count` inputs to the same queues.
fn check_twins<T>(
    inputs: &[T],
    count: usize,
    mut fast: impl FnMut(&T, &mut Vec<u32>),
    mut naive: impl FnMut(&T, &mut Vec<u32>),
) {
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for input in inputs.iter().take(count) {
        a.clear();
        b.clear();
        fast(input, &mut a);
        naive(input, &mut b);
        a.sort_unstable();
        b.sort_unstable();
        assert_eq!(a, b, "the router and its reference twin disagree");
    }
}

/// Routes `inputs[0]`, `inputs[1]`, … one per iteration, cycling.
fn cycle<'a, T>(
    inputs: &'a [T],
    mut route: impl FnMut(&T, &mut Vec<u32>) + 'a,
) -> impl FnMut() -> usize + 'a {
    let mut out = Vec::new();
    let mut next = 0;
    move || {
        out.clear();
        route(&inputs[next], &mut out);
        // Not `% inputs.len()`: a division by a variable added 3-5 ns to every route measured
        // (the literal set's learnt keys: 30-32 ns with it, 27 without).
        next += 1;
        if next == inputs.len() {
            next = 0;
        }
        black_box(out.len())
    }
}

fn samples(bindings: usize) -> usize {
    if bindings >= SLOW_FROM {
        10
    } else {
        100
    }
}

fn naive_checks(bindings: usize) -> usize {
    if bindings >= SLOW_FROM {
        SLOW_NAIVE_CHECKS
    } else {
        usize::MAX
    }
}

fn topic(c: &mut Criterion) {
    let mut fast = c.benchmark_group("topic");
    fast.throughput(Throughput::Elements(1));
    let mut fixtures = Vec::new();
    for set in [
        TopicSet::Literal,
        TopicSet::Star,
        TopicSet::Hash,
        TopicSet::Mixed,
    ] {
        for bindings in SIZES {
            let fixture = TopicFixture::new(set, bindings);
            let patterns: Vec<ShortStr> = fixture.patterns.iter().map(|p| short(p)).collect();
            let exchange = topic_exchange(&patterns);
            check_twins(
                &fixture.keys,
                naive_checks(bindings),
                |key, out| exchange.route(key.as_bytes(), None, out),
                |key, out| naive_topic_route(&patterns, key.as_bytes(), out),
            );
            fast.bench_function(BenchmarkId::new(set.name(), bindings), |b| {
                b.iter(cycle(&fixture.keys, |key, out| {
                    exchange.route(black_box(key.as_bytes()), None, out)
                }))
            });
            fixtures.push((set, bindings, fixture.keys, patterns));
        }
    }
    fast.finish();

    let mut naive = c.benchmark_group("topic_naive");
    naive.throughput(Throughput::Elements(1));
    for (set, bindings, keys, patterns) in &fixtures {
        naive.sample_size(samples(*bindings));
        naive.bench_function(BenchmarkId::new(set.name(), bindings), |b| {
            b.iter(cycle(keys, |key, out| {
                naive_topic_route(patterns, black_box(key.as_bytes()), out)
            }))
        });
    }
    naive.finish();
}

/// Cost against the key's length at a fixed binding count, and against the binding count for a
/// fixed key.
fn topic_scaling(c: &mut Criterion) {
    let fixture = TopicFixture::new(TopicSet::Mixed, KEY_WORDS_BINDINGS);
    let patterns: Vec<ShortStr> = fixture.patterns.iter().map(|p| short(p)).collect();
    let exchange = topic_exchange(&patterns);
    let mut words = c.benchmark_group("topic_key_words");
    words.throughput(Throughput::Elements(1));
    for count in 1..=10 {
        let keys = fixture.keys_with_words(count);
        check_twins(
            &keys,
            SLOW_NAIVE_CHECKS,
            |key, out| exchange.route(key.as_bytes(), None, out),
            |key, out| naive_topic_route(&patterns, key.as_bytes(), out),
        );
        let id = BenchmarkId::new(format!("wazo_mixed_{KEY_WORDS_BINDINGS}"), count);
        words.bench_function(id, |b| {
            b.iter(cycle(&keys, |key, out| {
                exchange.route(black_box(key.as_bytes()), None, out)
            }))
        });
    }
    words.finish();

    let mut learnt = c.benchmark_group("topic_key_words_automaton");
    learnt.throughput(Throughput::Elements(1));
    for count in 1..=10 {
        let keys = fixture.keys_with_words(count);
        let label = format!("wazo_mixed_{KEY_WORDS_BINDINGS}");
        let mut automaton =
            learnt_automaton(&exchange, &patterns, &keys, &format!("{label}/{count}"));
        let id = BenchmarkId::new(label, count);
        learnt.bench_function(id, |b| {
            b.iter(cycle(&keys, |key, out| {
                automaton.route(&exchange, black_box(key.as_bytes()), None, out)
            }))
        });
    }
    learnt.finish();

    let key = fixed_key();
    let mut sizes = c.benchmark_group("topic_fixed_key");
    sizes.throughput(Throughput::Elements(1));
    for bindings in SIZES {
        let fixture = TopicFixture::new(TopicSet::Mixed, bindings);
        let patterns: Vec<ShortStr> = fixture.patterns.iter().map(|p| short(p)).collect();
        let exchange = topic_exchange(&patterns);
        let mut out = Vec::new();
        sizes.bench_function(BenchmarkId::new(TopicSet::Mixed.name(), bindings), |b| {
            b.iter(|| {
                out.clear();
                exchange.route(black_box(key.as_bytes()), None, &mut out);
                black_box(out.len())
            })
        });
    }
    sizes.finish();
}

fn headers(c: &mut Criterion) {
    let mut fixtures = Vec::new();
    let mut fast = c.benchmark_group("headers");
    fast.throughput(Throughput::Elements(1));
    for size in HEADERS_SIZES {
        let fixture = HeadersFixture::new(size);
        let exchange = headers_exchange(&fixture);
        let messages: Vec<FieldTable> = fixture.messages.iter().map(field_table).collect();
        let arguments: Vec<(FieldTable, u32)> = fixture
            .bindings
            .iter()
            .map(|b| (field_table(&b.arguments), b.queue))
            .collect();
        check_twins(
            &messages,
            naive_checks(size),
            |headers, out| exchange.route(b"", Some(headers), out),
            |headers, out| naive_headers_route(&arguments, headers, out),
        );
        fast.sample_size(samples(size));
        fast.bench_function(BenchmarkId::new("wazo_websocketd", size), |b| {
            b.iter(cycle(&messages, |headers, out| {
                exchange.route(b"", Some(black_box(headers)), out)
            }))
        });
        fixtures.push((size, messages, arguments));
    }
    fast.finish();

    let mut naive = c.benchmark_group("headers_naive");
    naive.throughput(Throughput::Elements(1));
    for (size, messages, arguments) in &fixtures {
        naive.sample_size(samples(*size));
        naive.bench_function(BenchmarkId::new("wazo_websocketd", size), |b| {
            b.iter(cycle(messages, |headers, out| {
                naive_headers_route(arguments, black_box(headers), out)
            }))
        });
    }
    naive.finish();
}

/// Binding then unbinding every binding of a set: one iteration is 2 × 100 000 operations.
fn churn(c: &mut Criterion) {
    let mut group = c.benchmark_group("churn");
    group.sample_size(10);
    group.throughput(Throughput::Elements(2 * CHURN_BINDINGS as u64));
    let no_arguments = FieldTable::new();

    let fixture = TopicFixture::new(TopicSet::Mixed, CHURN_BINDINGS);
    let patterns: Vec<ShortStr> = fixture.patterns.iter().map(|p| short(p)).collect();
    let mut exchange = Bindings::new(ExchangeKind::Topic);
    group.bench_function(BenchmarkId::new("topic_wazo_mixed", CHURN_BINDINGS), |b| {
        b.iter(|| {
            for (i, pattern) in patterns.iter().enumerate() {
                exchange
                    .bind(pattern, &no_arguments, queue(i))
                    .expect("topic exchanges take any arguments");
            }
            assert_eq!(exchange.len(), CHURN_BINDINGS);
            for (i, pattern) in patterns.iter().enumerate() {
                exchange.unbind(pattern, &no_arguments, &queue(i));
            }
            assert!(exchange.is_empty());
        })
    });

    let fixture = HeadersFixture::new(CHURN_BINDINGS);
    let no_key = ShortStr::from_static("");
    let arguments: Vec<(FieldTable, u32)> = fixture
        .bindings
        .iter()
        .map(|b| (field_table(&b.arguments), b.queue))
        .collect();
    let mut exchange = Bindings::new(ExchangeKind::Headers);
    group.bench_function(
        BenchmarkId::new("headers_wazo_websocketd", CHURN_BINDINGS),
        |b| {
            b.iter(|| {
                for (table, queue) in &arguments {
                    exchange
                        .bind(&no_key, table, *queue)
                        .expect("websocketd's bindings have no x-match");
                }
                assert_eq!(exchange.len(), CHURN_BINDINGS);
                for (table, queue) in &arguments {
                    exchange.unbind(&no_key, table, queue);
                }
                assert!(exchange.is_empty());
            })
        },
    );
    group.finish();
}

/// An automaton of the broker's capacity that has routed each of `keys` once (the first checked
/// against the naive twin); prints how many states that taught it.
fn learnt_automaton(
    exchange: &Bindings<u32>,
    patterns: &[ShortStr],
    keys: &[String],
    label: &str,
) -> TopicAutomaton<u32> {
    let mut automaton = TopicAutomaton::new(AUTOMATON_CAPACITY);
    check_twins(
        keys,
        SLOW_NAIVE_CHECKS,
        |key, out| automaton.route(exchange, key.as_bytes(), None, out),
        |key, out| naive_topic_route(patterns, key.as_bytes(), out),
    );
    let mut out = Vec::new();
    for key in keys {
        out.clear();
        automaton.route(exchange, key.as_bytes(), None, &mut out);
    }
    eprintln!(
        "{label}: {} states learnt from {} keys{}",
        automaton.len(),
        keys.len(),
        if automaton.gave_up() { ", gave up" } else { "" }
    );
    automaton
}

/// The keys side by side in one buffer, and where each is: a broker finds a key in the frame it
/// has just read. As 131 072 `String`s, the streams' keys would each wait for their own
/// allocation to come from memory, which no broker pays (the unseen-values streams cost
/// 209–264 ns that way against 101–155 ns packed, docs/benchmarks-router.md).
fn packed(keys: &[String]) -> (Vec<u8>, Vec<Range<usize>>) {
    let mut bytes = Vec::with_capacity(keys.iter().map(String::len).sum());
    let ranges = keys
        .iter()
        .map(|key| {
            let start = bytes.len();
            bytes.extend_from_slice(key.as_bytes());
            start..bytes.len()
        })
        .collect();
    (bytes, ranges)
}

/// `literal_stream_hash_map`: the literal set's stream of keys looked up in the standard
/// library's `HashMap` (SipHash, its default) of its 100 000 patterns, each key once in 131 072:
/// what one lookup of a key not seen lately costs on this machine in a table we did not write,
/// the floor under any route of such a key (the literal set's route is one lookup of the whole
/// key).
fn hash_map_floor(group: &mut BenchmarkGroup<'_, WallTime>, patterns: &[String], keys: &[String]) {
    let table: HashMap<&[u8], u32> = (0..)
        .zip(patterns)
        .map(|(queue, pattern)| (pattern.as_bytes(), queue))
        .collect();
    let (bytes, ranges) = packed(keys);
    let id = BenchmarkId::new("literal_stream_hash_map", AUTOMATON_BINDINGS);
    group.bench_function(id, |b| {
        b.iter(cycle(&ranges, |range, out| {
            out.extend(table.get(black_box(&bytes[range.clone()])).copied())
        }))
    });
}

/// Topic routes through a [`TopicAutomaton`] of the broker's capacity, at 100 000 bindings:
/// - `learnt`: the fixture's keys, once the automaton has routed each of them (so it remembers
///   where each ends);
/// - `unseen_values`: keys whose values no pattern names (the automaton has learnt the set's
///   shapes from them first; since it learns shapes, not keys, it would not learn more from
///   new keys of the same kind, which the router's tests check);
/// - `stream`, `stream_unseen_values`: the same kinds of keys, 131 072 of them, so that every
///   key comes round after the automaton has forgotten it: the cost of keys not seen lately
///   (beside the literal set, `literal_stream_hash_map`: the floor, one lookup of such a key);
/// - `busy`: the stream's first 4 096 keys in turn, as a bus publishes about its busy users and
///   calls: their values are named by patterns, so each key needs states of its own, the
///   automaton gives up learning, and it remembers the keys it walks instead;
/// - `first_pass`: each batch of the fixture's 1 024 keys through a new automaton, so every
///   state is learnt during the batch: the cost of learning, per route.
fn topic_automaton(c: &mut Criterion) {
    let mut group = c.benchmark_group("topic_automaton");
    group.throughput(Throughput::Elements(1));
    let unseen = keys_with_unseen_values(UNSEEN_KEYS);
    let unseen_stream = keys_with_unseen_values(STREAM_KEYS);
    for set in [
        TopicSet::Literal,
        TopicSet::Star,
        TopicSet::Hash,
        TopicSet::Mixed,
    ] {
        let fixture = TopicFixture::new(set, AUTOMATON_BINDINGS);
        let patterns: Vec<ShortStr> = fixture.patterns.iter().map(|p| short(p)).collect();
        let exchange = topic_exchange(&patterns);
        let stream = fixture.stream(STREAM_KEYS);
        let busy = stream[..BUSY_KEYS].to_vec();
        for (name, keys) in [
            ("learnt", &fixture.keys),
            ("unseen_values", &unseen),
            ("stream", &stream),
            ("stream_unseen_values", &unseen_stream),
            ("busy", &busy),
        ] {
            let label = format!("{}/{name}", set.name());
            let mut automaton = learnt_automaton(&exchange, &patterns, keys, &label);
            let (bytes, ranges) = packed(keys);
            let id = BenchmarkId::new(label, AUTOMATON_BINDINGS);
            group.bench_function(id, |b| {
                b.iter(cycle(&ranges, |range, out| {
                    automaton.route(&exchange, black_box(&bytes[range.clone()]), None, out)
                }))
            });
        }
        if set == TopicSet::Literal {
            hash_map_floor(&mut group, &fixture.patterns, &stream);
        }
        let id = BenchmarkId::new(format!("{}/first_pass", set.name()), AUTOMATON_BINDINGS);
        group.throughput(Throughput::Elements(fixture.keys.len() as u64));
        group.bench_function(id, |b| {
            let mut out = Vec::new();
            b.iter_batched_ref(
                || TopicAutomaton::new(AUTOMATON_CAPACITY),
                |automaton| {
                    for key in &fixture.keys {
                        out.clear();
                        automaton.route(&exchange, black_box(key.as_bytes()), None, &mut out);
                    }
                    automaton.len()
                },
                BatchSize::SmallInput,
            )
        });
        group.throughput(Throughput::Elements(1));
    }
    group.finish();
}

criterion_group!(
    benches,
    topic,
    topic_scaling,
    topic_automaton,
    headers,
    churn
);
criterion_main!(benches);
