//! `RouteCache`: it answers as `Bindings::route` does, through binds, unbinds and removals, with
//! evictions, and never for other bindings than those it learnt from.

use warren_router::{Bindings, ExchangeKind, RouteCache};
use warren_wire::{FieldTable, FieldValue as V};

use crate::{key, s, table, Rng};

fn direct(bindings: &Bindings<u8>, routing_key: &str, headers: Option<&FieldTable>) -> Vec<u8> {
    let mut out = Vec::new();
    bindings.route(routing_key.as_bytes(), headers, &mut out);
    out.sort_unstable();
    out
}

fn cached(
    cache: &mut RouteCache<u8>,
    bindings: &Bindings<u8>,
    routing_key: &str,
    headers: Option<&FieldTable>,
) -> Vec<u8> {
    let mut out = vec![200];
    cache.route(bindings, routing_key.as_bytes(), headers, &mut out);
    assert_eq!(out[0], 200, "the caller's entries stay");
    out.remove(0);
    out.sort_unstable();
    out
}

#[test]
fn cached_routes_equal_fresh_ones_through_binds_unbinds_and_removals() {
    let patterns = ["a.b", "a.*", "a.#", "#", "*.b", "", "a..b", "#.b.#", "b"];
    let keys = ["a.b", "a", "b", "", "a.b.c", "a..b", "x.b", "b.b.b"];
    let no_arguments = FieldTable::new();
    let mut hits = 0;
    for seed in 0..40 {
        let mut rng = Rng(seed);
        let mut bindings = Bindings::new(ExchangeKind::Topic);
        // Fewer slots than keys, so that the cache is emptied and refilled too.
        let mut cache = RouteCache::new(5);
        for step in 0..200 {
            let pattern: &&str = rng.pick(&patterns);
            let pattern = key(pattern);
            let dest = u8::try_from(rng.below(6)).expect("small");
            match rng.below(10) {
                0..=4 => {
                    bindings.bind(&pattern, &no_arguments, dest).expect("topic");
                }
                5..=8 => {
                    bindings.unbind(&pattern, &no_arguments, &dest);
                }
                _ => {
                    bindings.remove_destination(&dest);
                }
            }
            for _ in 0..8 {
                let routing_key = *rng.pick(&keys);
                let before = cache.len();
                let got = cached(&mut cache, &bindings, routing_key, None);
                hits += usize::from(cache.len() == before && before > 0);
                assert_eq!(
                    got,
                    direct(&bindings, routing_key, None),
                    "seed {seed} step {step}: key {routing_key:?}"
                );
                assert!(cache.len() <= 5);
            }
        }
    }
    assert!(hits > 1_000, "only {hits} routes came from the cache");
}

#[test]
fn a_cache_never_answers_for_other_bindings() {
    let no_arguments = FieldTable::new();
    let mut first = Bindings::new(ExchangeKind::Topic);
    first.bind(&key("a.*"), &no_arguments, 1).expect("topic");
    let mut second = first.clone();
    let mut cache = RouteCache::new(16);
    assert_eq!(cached(&mut cache, &first, "a.b", None), [1]);
    assert_eq!(
        cached(&mut cache, &second, "a.b", None),
        [1],
        "a clone is equal"
    );
    second.bind(&key("#"), &no_arguments, 2).expect("topic");
    assert_eq!(cached(&mut cache, &second, "a.b", None), [1, 2]);
    assert_eq!(cached(&mut cache, &first, "a.b", None), [1]);
    first.bind(&key("a.b"), &no_arguments, 3).expect("topic");
    assert_eq!(cached(&mut cache, &first, "a.b", None), [1, 3]);
    let third = Bindings::new(ExchangeKind::Topic);
    assert_eq!(cached(&mut cache, &third, "a.b", None), []);
}

#[test]
fn only_topic_routes_are_cached() {
    let mut headers_exchange = Bindings::new(ExchangeKind::Headers);
    headers_exchange
        .bind(&key(""), &table(&[("name", s("x"))]), 1)
        .expect("valid");
    let mut cache = RouteCache::new(16);
    let matching = table(&[("name", s("x"))]);
    let other = table(&[("name", V::Bool(true))]);
    assert_eq!(
        cached(&mut cache, &headers_exchange, "", Some(&matching)),
        [1]
    );
    assert_eq!(cached(&mut cache, &headers_exchange, "", Some(&other)), []);
    assert!(cache.is_empty());

    let mut topic = Bindings::new(ExchangeKind::Topic);
    topic.bind(&key("k"), &FieldTable::new(), 1).expect("topic");
    let mut none = RouteCache::new(0);
    assert_eq!(cached(&mut none, &topic, "k", None), [1]);
    assert!(none.is_empty(), "capacity 0 caches nothing");
}
