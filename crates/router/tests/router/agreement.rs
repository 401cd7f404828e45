//! Randomized agreement between the fast paths and the reference twins, on seeded runs: random
//! bindings over small alphabets (empty words, `*`, `#`, repeated header names, every value
//! type), random binds, unbinds and destination removals, and after each step random messages,
//! routed directly and through a small `TopicAutomaton`. A failure names its seed; the runs are
//! deterministic.

use warren_router::headers::HeadersMatcher;
use warren_router::reference::{headers_match, topic_matches};
use warren_router::topic::TopicTrie;
use warren_router::{Bindings, ExchangeKind, TopicAutomaton};
use warren_wire::{FieldTable, FieldValue as V, ShortStr};

use crate::{key, s, table, x, Rng};

const SEEDS: u64 = 40;

/// Words of patterns and keys: literal, empty, wildcards (literal in keys), a prefix of another.
const WORDS: &[&str] = &["a", "b", "ab", "", "*", "#"];

fn random_words(rng: &mut Rng, max_words: usize) -> ShortStr {
    let count = rng.below(max_words + 1);
    let words: Vec<&str> = (0..count).map(|_| *rng.pick(WORDS)).collect();
    key(&words.join("."))
}

/// Values of every type, with pairs that RabbitMQ 3.x finds equal across types.
fn values() -> Vec<V> {
    vec![
        V::I8(1),
        V::U8(1),
        V::I64(1),
        V::Timestamp(1),
        V::I16(-1),
        V::F64(1.0),
        V::F32(0.5),
        V::F64(0.5),
        V::F64(1.5),
        s("1"),
        x(b"1"),
        s(""),
        V::Bool(true),
        V::Bool(false),
        V::Void,
        V::Decimal {
            scale: 1,
            value: 10,
        },
        V::Decimal {
            scale: 2,
            value: 100,
        },
        V::Table(FieldTable::new()),
        V::Array(vec![]),
        V::Array(vec![V::I8(1)]),
        V::Array(vec![V::I64(1)]),
        V::Table(table(&[("k", V::I8(1))])),
    ]
}

fn random_table(rng: &mut Rng, names: &[&str], values: &[V], max_len: usize) -> FieldTable {
    let len = rng.below(max_len + 1);
    table(
        &(0..len)
            .map(|_| (*rng.pick(names), rng.pick(values).clone()))
            .collect::<Vec<_>>(),
    )
}

/// Every `x-match` a binding can have, and none.
const MODES: [Option<&str>; 5] = [
    None,
    Some("all"),
    Some("any"),
    Some("all-with-x"),
    Some("any-with-x"),
];

#[test]
fn headers_matcher_agrees_with_the_reference() {
    let values = values();
    let mut matched = 0;
    for seed in 0..SEEDS {
        let mut rng = Rng(seed);
        for _ in 0..500 {
            let mut args = random_table(&mut rng, &["a", "b", "x-a"], &values, 4);
            if let Some(mode) = rng.pick(&MODES) {
                let at = rng.below(args.len() + 1);
                args.0.insert(at, (key("x-match"), s(mode)));
            }
            let headers = (rng.below(10) > 0)
                .then(|| random_table(&mut rng, &["a", "b", "x-a", "x-match"], &values, 5));
            let matcher = HeadersMatcher::new(&args).expect("valid x-match");
            let fast = matcher.matches(headers.as_ref());
            assert_eq!(
                fast,
                headers_match(&args, headers.as_ref()),
                "seed {seed}: args {args:?}, headers {headers:?}"
            );
            matched += usize::from(fast);
        }
    }
    // The generator must exercise both outcomes.
    let total = usize::try_from(SEEDS).expect("small") * 500;
    assert!(
        matched > total / 10 && matched < total * 9 / 10,
        "{matched} of {total} matched"
    );
}

/// A binding of the model: (routing key, identity of its argument table, destination).
type ModelBinding = (ShortStr, usize, u8);

/// Argument tables for bindings, valid on every kind. Entries with the same identity (equal up to
/// order) share the number in `.1`.
fn argument_pool() -> Vec<(FieldTable, usize)> {
    vec![
        (FieldTable::new(), 0),
        (table(&[("a", V::I8(1))]), 1),
        (table(&[("a", V::I64(1))]), 2),
        (
            table(&[("x-match", s("any")), ("a", s("1")), ("b", V::Bool(true))]),
            3,
        ),
        (
            table(&[("b", V::Bool(true)), ("x-match", s("any")), ("a", s("1"))]),
            3,
        ),
        (table(&[("x-match", s("all-with-x")), ("x-a", V::Void)]), 4),
        (
            table(&[
                ("x-match", s("any-with-x")),
                ("x-a", V::I8(1)),
                ("b", V::Void),
            ]),
            5,
        ),
        (
            table(&[("x-internal", V::Bool(true)), ("b", V::Bool(true))]),
            6,
        ),
        (
            table(&[("b", V::Bool(true)), ("x-internal", V::Bool(true))]),
            6,
        ),
        (table(&[("a", V::F64(1.0)), ("b", V::Bool(true))]), 7),
    ]
}

/// Where the model says a message goes, from the reference matchers.
fn model_route(
    kind: ExchangeKind,
    model: &[ModelBinding],
    pool: &[(FieldTable, usize)],
    routing_key: &[u8],
    headers: Option<&FieldTable>,
) -> Vec<u8> {
    let mut dests: Vec<u8> = model
        .iter()
        .filter(|(binding_key, identity, _)| match kind {
            ExchangeKind::Direct => binding_key.as_bytes() == routing_key,
            ExchangeKind::Fanout => true,
            ExchangeKind::Topic => topic_matches(binding_key.as_bytes(), routing_key),
            ExchangeKind::Headers => pool
                .iter()
                .filter(|(_, id)| id == identity)
                .all(|(args, _)| headers_match(args, headers)),
        })
        .map(|&(_, _, dest)| dest)
        .collect();
    dests.sort_unstable();
    dests.dedup();
    dests
}

#[test]
fn bindings_agree_with_the_reference_through_binds_unbinds_and_removals() {
    let pool = argument_pool();
    let values = values();
    for kind in [
        ExchangeKind::Direct,
        ExchangeKind::Fanout,
        ExchangeKind::Topic,
        ExchangeKind::Headers,
    ] {
        for seed in 0..SEEDS {
            let mut rng = Rng(seed);
            let mut bindings = Bindings::new(kind);
            // Small, so that it is emptied and refilled as well as invalidated.
            let mut automaton = TopicAutomaton::new(3);
            let mut model: Vec<ModelBinding> = Vec::new();
            for step in 0..150 {
                let context = format!("{kind:?} seed {seed} step {step}");
                match rng.below(10) {
                    0..=5 => {
                        let binding_key = random_words(&mut rng, 4);
                        let args = rng.below(pool.len());
                        let dest = u8::try_from(rng.below(8)).expect("small");
                        let identity = (binding_key.clone(), pool[args].1, dest);
                        let new = !model.contains(&identity);
                        if new {
                            model.push(identity);
                        }
                        assert_eq!(
                            bindings.bind(&binding_key, &pool[args].0, dest),
                            Ok(new),
                            "{context}"
                        );
                    }
                    6..=8 => {
                        // Unbind an existing binding (through any argument table with its
                        // identity) or, one time in four, a random one.
                        let (binding_key, args, dest) = match model.len() {
                            0 => (random_words(&mut rng, 4), rng.below(pool.len()), 0),
                            n if rng.below(4) > 0 => {
                                let (k, identity, d) = model[rng.below(n)].clone();
                                let same: Vec<usize> =
                                    (0..pool.len()).filter(|&i| pool[i].1 == identity).collect();
                                (k, *rng.pick(&same), d)
                            }
                            _ => (
                                random_words(&mut rng, 4),
                                rng.below(pool.len()),
                                u8::try_from(rng.below(8)).expect("small"),
                            ),
                        };
                        let identity = (binding_key.clone(), pool[args].1, dest);
                        let existed = model.contains(&identity);
                        model.retain(|b| *b != identity);
                        assert_eq!(
                            bindings.unbind(&binding_key, &pool[args].0, &dest),
                            existed,
                            "{context}"
                        );
                    }
                    _ => {
                        let dest = u8::try_from(rng.below(8)).expect("small");
                        let before = model.len();
                        model.retain(|b| b.2 != dest);
                        assert_eq!(
                            bindings.remove_destination(&dest),
                            before - model.len(),
                            "{context}"
                        );
                    }
                }
                assert_eq!(bindings.len(), model.len(), "{context}");
                for dest in 0..8u8 {
                    assert_eq!(
                        bindings.contains_destination(&dest),
                        model.iter().any(|b| b.2 == dest),
                        "{context}"
                    );
                }
                for _ in 0..10 {
                    let routing_key = random_words(&mut rng, 5);
                    let headers = (rng.below(5) > 0)
                        .then(|| random_table(&mut rng, &["a", "b", "x-a"], &values, 3));
                    let mut out = vec![255];
                    bindings.route(routing_key.as_bytes(), headers.as_ref(), &mut out);
                    assert_eq!(out[0], 255, "{context}: the caller's entries stay");
                    let mut routed = out[1..].to_vec();
                    routed.sort_unstable();
                    let len = routed.len();
                    routed.dedup();
                    assert_eq!(len, routed.len(), "{context}: a destination routed twice");
                    assert_eq!(
                        routed,
                        model_route(
                            kind,
                            &model,
                            &pool,
                            routing_key.as_bytes(),
                            headers.as_ref()
                        ),
                        "{context}: key {routing_key:?}, headers {headers:?}"
                    );
                    let mut through_automaton = Vec::new();
                    automaton.route(
                        &bindings,
                        routing_key.as_bytes(),
                        headers.as_ref(),
                        &mut through_automaton,
                    );
                    through_automaton.sort_unstable();
                    assert_eq!(
                        through_automaton, routed,
                        "{context}: cached route of {routing_key:?}"
                    );
                }
            }
            for dest in 0..8u8 {
                bindings.remove_destination(&dest);
            }
            assert!(bindings.is_empty());
        }
    }
}

#[test]
fn trie_frees_every_node_after_random_churn() {
    for seed in 0..SEEDS {
        let mut rng = Rng(seed);
        let mut trie = TopicTrie::new();
        let mut bound: Vec<(ShortStr, u8)> = Vec::new();
        for _ in 0..300 {
            if bound.is_empty() || rng.below(3) > 0 {
                let pattern = random_words(&mut rng, 6);
                let dest = u8::try_from(rng.below(4)).expect("small");
                trie.insert(&pattern, dest);
                bound.push((pattern, dest));
            } else {
                let (pattern, dest) = bound.swap_remove(rng.below(bound.len()));
                assert!(trie.remove(&pattern, &dest), "seed {seed}");
            }
            let routing_key = random_words(&mut rng, 7);
            let mut out = Vec::new();
            trie.route(routing_key.as_bytes(), &mut out);
            out.sort_unstable();
            let mut expected: Vec<u8> = bound
                .iter()
                .filter(|(p, _)| topic_matches(p.as_bytes(), routing_key.as_bytes()))
                .map(|&(_, d)| d)
                .collect();
            expected.sort_unstable();
            expected.dedup();
            assert_eq!(out, expected, "seed {seed}: key {routing_key:?}");
        }
        for (pattern, dest) in bound.drain(..) {
            assert!(trie.remove(&pattern, &dest));
        }
        assert!(trie.is_empty(), "seed {seed}");
        assert_eq!(trie.node_count(), 1, "seed {seed}: only the root is left");
    }
}

/// Many headers bindings at once, so that the index has buckets of different sizes, bindings
/// that share a destination, and unindexed ones: after binding, and again after unbinding half
/// of them, every random message reaches what the reference matcher says.
#[test]
fn headers_index_agrees_with_the_reference_on_many_bindings() {
    let values = values();
    let names = ["a", "b", "c", "x-a"];
    for seed in 0..SEEDS {
        let mut rng = Rng(seed);
        let mut bindings = Bindings::new(ExchangeKind::Headers);
        let mut bound: Vec<(FieldTable, u8)> = Vec::new();
        for _ in 0..200 {
            let mut args = random_table(&mut rng, &names, &values, 4);
            if let Some(mode) = rng.pick(&MODES) {
                args.0.push((key("x-match"), s(mode)));
            }
            let dest = u8::try_from(rng.below(16)).expect("small");
            if bindings.bind(&key(""), &args, dest) == Ok(true) {
                bound.push((args, dest));
            }
        }
        for round in 0..2 {
            for _ in 0..100 {
                let headers =
                    (rng.below(10) > 0).then(|| random_table(&mut rng, &names, &values, 6));
                let mut routed = Vec::new();
                bindings.route(b"", headers.as_ref(), &mut routed);
                routed.sort_unstable();
                let len = routed.len();
                routed.dedup();
                assert_eq!(len, routed.len(), "seed {seed}: a destination routed twice");
                let mut expected: Vec<u8> = bound
                    .iter()
                    .filter(|(args, _)| headers_match(args, headers.as_ref()))
                    .map(|&(_, dest)| dest)
                    .collect();
                expected.sort_unstable();
                expected.dedup();
                assert_eq!(
                    routed, expected,
                    "seed {seed} round {round}: headers {headers:?}"
                );
            }
            for _ in 0..bound.len() / 2 {
                let (args, dest) = bound.swap_remove(rng.below(bound.len()));
                assert!(bindings.unbind(&key(""), &args, &dest), "seed {seed}");
            }
        }
    }
}
