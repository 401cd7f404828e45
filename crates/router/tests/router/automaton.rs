//! `TopicAutomaton`: it answers as `Bindings::route` does, through binds, unbinds and removals,
//! when it fills up and forgets, and never for other bindings than those it learnt from.

use warren_router::{Bindings, ExchangeKind, TopicAutomaton};
use warren_wire::{FieldTable, FieldValue as V};

use crate::{key, s, table, Rng};

fn direct(bindings: &Bindings<u8>, routing_key: &str, headers: Option<&FieldTable>) -> Vec<u8> {
    let mut out = Vec::new();
    bindings.route(routing_key.as_bytes(), headers, &mut out);
    out.sort_unstable();
    out
}

fn learnt(
    automaton: &mut TopicAutomaton<u8>,
    bindings: &Bindings<u8>,
    routing_key: &str,
    headers: Option<&FieldTable>,
) -> Vec<u8> {
    let mut out = vec![200];
    automaton.route(bindings, routing_key.as_bytes(), headers, &mut out);
    assert_eq!(out[0], 200, "the caller's entries stay");
    out.remove(0);
    out.sort_unstable();
    out
}

#[test]
fn learnt_routes_equal_fresh_ones_through_binds_unbinds_and_removals() {
    let patterns = ["a.b", "a.*", "a.#", "#", "*.b", "", "a..b", "#.b.#", "b"];
    let keys = ["a.b", "a", "b", "", "a.b.c", "a..b", "x.b", "b.b.b"];
    let no_arguments = FieldTable::new();
    let (mut hits, mut walked) = (0, 0);
    for seed in 0..40 {
        let mut rng = Rng(seed);
        let mut bindings = Bindings::new(ExchangeKind::Topic);
        // Fewer slots than keys, so that the automaton is emptied and refilled too.
        let mut automaton = TopicAutomaton::new(5);
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
                let before = automaton.len();
                let got = learnt(&mut automaton, &bindings, routing_key, None);
                hits += usize::from(automaton.len() == before && before > 0);
                walked += usize::from(automaton.gave_up());
                assert_eq!(
                    got,
                    direct(&bindings, routing_key, None),
                    "seed {seed} step {step}: key {routing_key:?}"
                );
                assert!(automaton.len() <= 5);
            }
        }
    }
    assert!(hits > 1_000, "only {hits} routes added no state");
    // Routes made after it gave up learning, through the keys it walked and remembered.
    assert!(walked > 1_000, "only {walked} routes while it walked");
}

#[test]
fn a_key_routed_again_keeps_its_wildcard_free_pattern_and_follows_changes() {
    let no_arguments = FieldTable::new();
    let mut bindings = Bindings::new(ExchangeKind::Topic);
    bindings.bind(&key("a.b"), &no_arguments, 1).expect("topic");
    bindings.bind(&key("a.*"), &no_arguments, 2).expect("topic");
    bindings.bind(&key("#"), &no_arguments, 1).expect("topic");
    let mut automaton = TopicAutomaton::new(16);
    for _ in 0..3 {
        assert_eq!(learnt(&mut automaton, &bindings, "a.b", None), [1, 2]);
        assert_eq!(learnt(&mut automaton, &bindings, "a.c", None), [1, 2]);
    }
    bindings.unbind(&key("#"), &no_arguments, &1);
    for _ in 0..3 {
        assert_eq!(learnt(&mut automaton, &bindings, "a.b", None), [1, 2]);
        assert_eq!(learnt(&mut automaton, &bindings, "a.c", None), [2]);
    }
    bindings.unbind(&key("a.b"), &no_arguments, &1);
    assert_eq!(learnt(&mut automaton, &bindings, "a.b", None), [2]);
}

#[test]
fn an_automaton_never_answers_for_other_bindings() {
    let no_arguments = FieldTable::new();
    let mut first = Bindings::new(ExchangeKind::Topic);
    first.bind(&key("a.*"), &no_arguments, 1).expect("topic");
    let mut second = first.clone();
    let mut automaton = TopicAutomaton::new(16);
    assert_eq!(learnt(&mut automaton, &first, "a.b", None), [1]);
    assert_eq!(
        learnt(&mut automaton, &second, "a.b", None),
        [1],
        "a clone is equal"
    );
    second.bind(&key("#"), &no_arguments, 2).expect("topic");
    assert_eq!(learnt(&mut automaton, &second, "a.b", None), [1, 2]);
    assert_eq!(learnt(&mut automaton, &first, "a.b", None), [1]);
    first.bind(&key("a.b"), &no_arguments, 3).expect("topic");
    assert_eq!(learnt(&mut automaton, &first, "a.b", None), [1, 3]);
    let third = Bindings::new(ExchangeKind::Topic);
    assert_eq!(learnt(&mut automaton, &third, "a.b", None), []);
}

#[test]
fn only_topic_routes_are_learnt() {
    let mut headers_exchange = Bindings::new(ExchangeKind::Headers);
    headers_exchange
        .bind(&key(""), &table(&[("name", s("x"))]), 1)
        .expect("valid");
    let mut automaton = TopicAutomaton::new(16);
    let matching = table(&[("name", s("x"))]);
    let other = table(&[("name", V::Bool(true))]);
    assert_eq!(
        learnt(&mut automaton, &headers_exchange, "", Some(&matching)),
        [1]
    );
    assert_eq!(
        learnt(&mut automaton, &headers_exchange, "", Some(&other)),
        []
    );
    assert!(automaton.is_empty());

    let mut topic = Bindings::new(ExchangeKind::Topic);
    topic.bind(&key("k"), &FieldTable::new(), 1).expect("topic");
    let mut none = TopicAutomaton::new(0);
    assert_eq!(learnt(&mut none, &topic, "k", None), [1]);
    assert!(none.is_empty(), "capacity 0 learns nothing");
}

#[test]
fn it_learns_shapes_not_keys() {
    let no_arguments = FieldTable::new();
    let mut bindings = Bindings::new(ExchangeKind::Topic);
    let patterns = [
        "config.users.*.forwards.*.updated",
        "config.users.u1.#",
        "config.#.updated",
        "#.created",
        "calls.*.*",
    ];
    for (dest, pattern) in (0..).zip(patterns) {
        bindings
            .bind(&key(pattern), &no_arguments, dest)
            .expect("topic");
    }
    let mut automaton = TopicAutomaton::new(1_000);
    let mut rng = Rng(7);
    let mut states_after = Vec::new();
    for round in 0..2_000 {
        // A user and a call that no pattern names, new every time.
        let (user, call) = (rng.below(1 << 40), rng.below(1 << 40));
        for routing_key in [
            format!("config.users.{user}.forwards.busy.updated"),
            format!("calls.{call}.created"),
            format!("config.users.u1.forwards.{call}.updated"),
        ] {
            assert_eq!(
                learnt(&mut automaton, &bindings, &routing_key, None),
                direct(&bindings, &routing_key, None),
                "{routing_key}"
            );
        }
        if round == 0 || round == 1_999 {
            states_after.push(automaton.len());
        }
    }
    assert!(!automaton.gave_up());
    assert!(states_after[0] > 2, "the first round taught it states");
    assert_eq!(
        states_after[0], states_after[1],
        "2 000 rounds of new values taught it no new state"
    );
    automaton.clear();
    assert!(automaton.is_empty());
    assert_eq!(learnt(&mut automaton, &bindings, "calls.x.y", None), [4]);
}

#[test]
fn it_gives_up_on_keys_that_each_need_new_states_for_a_while() {
    let no_arguments = FieldTable::new();
    let mut bindings = Bindings::new(ExchangeKind::Topic);
    // Every user is named by a pattern, so each user's keys reach states of their own.
    for user in 0..250u8 {
        let pattern = format!("config.users.{user}.*");
        bindings
            .bind(&key(&pattern), &no_arguments, user)
            .expect("topic");
    }
    let mut automaton = TopicAutomaton::new(16);
    let route = |automaton: &mut TopicAutomaton<u8>, user: u8| {
        let routing_key = format!("config.users.{user}.updated");
        assert_eq!(learnt(automaton, &bindings, &routing_key, None), [user]);
    };
    let mut routes = 0;
    while !automaton.gave_up() {
        route(&mut automaton, (routes % 250) as u8);
        routes += 1;
    }
    assert!(
        routes < 250,
        "it filled up with states it never reused, and gave up"
    );
    assert!(automaton.is_empty(), "and let their memory go");
    let mut walks = 0;
    while automaton.gave_up() {
        route(&mut automaton, ((routes + walks) % 250) as u8);
        walks += 1;
    }
    // A key that it walked and remembered and that is still there when it comes back is found
    // without a walk: with 250 keys in turn and 16 slots, a few are.
    assert!(
        (64 * 16..64 * 17).contains(&walks),
        "it walks 64 routes per state of its capacity, then learns again: {walks} routes"
    );
    bindings.bind(&key("#"), &no_arguments, 0).expect("topic");
    assert_eq!(
        learnt(&mut automaton, &bindings, "config.users.1.x", None),
        [0, 1]
    );
    assert!(!automaton.gave_up(), "new bindings, a new start");

    // Keys that come back are worth learning.
    let mut automaton = TopicAutomaton::new(16);
    for round in 0..200u8 {
        for user in 0..2u8 {
            let routing_key = format!("config.users.{}.updated", user + round % 3);
            learnt(&mut automaton, &bindings, &routing_key, None);
        }
    }
    assert!(!automaton.gave_up());
}
