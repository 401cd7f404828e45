//! Topic matching: RabbitMQ's own cases, edge cases of the word rules, Wazo's patterns. Every
//! case is checked on both `Bindings` (the trie) and `reference::topic_matches`.

use warren_router::reference::topic_matches;
use warren_router::{Bindings, ExchangeKind};
use warren_wire::FieldTable;

use crate::{key, s, table};

/// Routes `routing_key` and returns the destinations sorted, failing on duplicates.
fn routed(bindings: &Bindings<&'static str>, routing_key: &str) -> Vec<&'static str> {
    let mut out = Vec::new();
    bindings.route(routing_key.as_bytes(), None, &mut out);
    let mut sorted = out.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(
        sorted.len(),
        out.len(),
        "{routing_key:?} routed a destination twice: {out:?}"
    );
    sorted
}

/// What the reference matcher says the same bindings route `routing_key` to.
fn expected_by_reference(
    bindings: &Bindings<&'static str>,
    routing_key: &str,
) -> Vec<&'static str> {
    let mut dests: Vec<_> = bindings
        .iter()
        .filter(|(pattern, _, _)| topic_matches(pattern.as_bytes(), routing_key.as_bytes()))
        .map(|(_, _, dest)| *dest)
        .collect();
    dests.sort_unstable();
    dests.dedup();
    dests
}

fn check(bindings: &Bindings<&'static str>, cases: &[(&str, &[&'static str])]) {
    for (routing_key, expected) in cases {
        let mut expected = expected.to_vec();
        expected.sort_unstable();
        assert_eq!(
            routed(bindings, routing_key),
            expected,
            "trie, key {routing_key:?}"
        );
        assert_eq!(
            expected_by_reference(bindings, routing_key),
            expected,
            "reference, key {routing_key:?}"
        );
    }
}

/// Ported from RabbitMQ's `unit_access_control_SUITE:topic_matching1/1`
/// (deps/rabbit/test; formerly `rabbit_tests:test_topic_matching/0`): the bindings, the matches,
/// the removal of bindings 1, 5, 11, 19, 21 and 28, the matches again, then the removal of all.
#[test]
fn rabbitmq_topic_matching_suite() {
    let no_args = FieldTable::new();
    let patterns: [(&str, &str); 26] = [
        ("a.b.c", "t1"),
        ("a.*.c", "t2"),
        ("a.#.b", "t3"),
        ("a.b.b.c", "t4"),
        ("#", "t5"),
        ("#.#", "t6"),
        ("#.b", "t7"),
        ("*.*", "t8"),
        ("a.*", "t9"),
        ("*.b.c", "t10"),
        ("a.#", "t11"),
        ("a.#.#", "t12"),
        ("b.b.c", "t13"),
        ("a.b.b", "t14"),
        ("a.b", "t15"),
        ("b.c", "t16"),
        ("", "t17"),
        ("*.*.*", "t18"),
        ("vodka.martini", "t19"),
        ("a.b.c", "t20"),
        ("*.#", "t21"),
        ("#.*.#", "t22"),
        ("*.#.#", "t23"),
        ("#.#.#", "t24"),
        ("*", "t25"),
        ("#.b.#", "t26"),
    ];
    let args_27 = table(&[("foo", s("bar"))]);
    // "Note aliasing": the same key and queue, other arguments.
    let args_28 = table(&[("foo", s("baz"))]);

    let mut bindings = Bindings::new(ExchangeKind::Topic);
    for (pattern, dest) in patterns {
        assert_eq!(bindings.bind(&key(pattern), &no_args, dest), Ok(true));
    }
    assert_eq!(bindings.bind(&key("args-test"), &args_27, "t27"), Ok(true));
    assert_eq!(bindings.bind(&key("args-test"), &args_28, "t27"), Ok(true));
    assert_eq!(bindings.len(), 28);

    check(
        &bindings,
        &[
            (
                "a.b.c",
                &[
                    "t1", "t2", "t5", "t6", "t10", "t11", "t12", "t18", "t20", "t21", "t22", "t23",
                    "t24", "t26",
                ],
            ),
            (
                "a.b",
                &[
                    "t3", "t5", "t6", "t7", "t8", "t9", "t11", "t12", "t15", "t21", "t22", "t23",
                    "t24", "t26",
                ],
            ),
            (
                "a.b.b",
                &[
                    "t3", "t5", "t6", "t7", "t11", "t12", "t14", "t18", "t21", "t22", "t23", "t24",
                    "t26",
                ],
            ),
            ("", &["t5", "t6", "t17", "t24"]),
            (
                "b.c.c",
                &["t5", "t6", "t18", "t21", "t22", "t23", "t24", "t26"],
            ),
            (
                "a.a.a.a.a",
                &["t5", "t6", "t11", "t12", "t21", "t22", "t23", "t24"],
            ),
            ("vodka.gin", &["t5", "t6", "t8", "t21", "t22", "t23", "t24"]),
            (
                "vodka.martini",
                &["t5", "t6", "t8", "t19", "t21", "t22", "t23", "t24"],
            ),
            (
                "b.b.c",
                &[
                    "t5", "t6", "t10", "t13", "t18", "t21", "t22", "t23", "t24", "t26",
                ],
            ),
            (
                "nothing.here.at.all",
                &["t5", "t6", "t21", "t22", "t23", "t24"],
            ),
            ("oneword", &["t5", "t6", "t21", "t22", "t23", "t24", "t25"]),
            (
                "args-test",
                &["t5", "t6", "t21", "t22", "t23", "t24", "t25", "t27"],
            ),
        ],
    );

    for (pattern, dest) in [
        ("a.b.c", "t1"),
        ("#", "t5"),
        ("a.#", "t11"),
        ("vodka.martini", "t19"),
        ("*.#", "t21"),
    ] {
        assert!(bindings.unbind(&key(pattern), &no_args, &dest));
    }
    assert!(bindings.unbind(&key("args-test"), &args_28, &"t27"));

    check(
        &bindings,
        &[
            (
                "a.b.c",
                &[
                    "t2", "t6", "t10", "t12", "t18", "t20", "t22", "t23", "t24", "t26",
                ],
            ),
            (
                "a.b",
                &[
                    "t3", "t6", "t7", "t8", "t9", "t12", "t15", "t22", "t23", "t24", "t26",
                ],
            ),
            (
                "a.b.b",
                &[
                    "t3", "t6", "t7", "t12", "t14", "t18", "t22", "t23", "t24", "t26",
                ],
            ),
            ("", &["t6", "t17", "t24"]),
            ("b.c.c", &["t6", "t18", "t22", "t23", "t24", "t26"]),
            ("a.a.a.a.a", &["t6", "t12", "t22", "t23", "t24"]),
            ("vodka.gin", &["t6", "t8", "t22", "t23", "t24"]),
            ("vodka.martini", &["t6", "t8", "t22", "t23", "t24"]),
            (
                "b.b.c",
                &["t6", "t10", "t13", "t18", "t22", "t23", "t24", "t26"],
            ),
            ("nothing.here.at.all", &["t6", "t22", "t23", "t24"]),
            ("oneword", &["t6", "t22", "t23", "t24", "t25"]),
            ("args-test", &["t6", "t22", "t23", "t24", "t25", "t27"]),
        ],
    );

    let remaining: Vec<_> = bindings
        .iter()
        .map(|(k, a, d)| (k.clone(), a.clone(), *d))
        .collect();
    for (routing_key, arguments, dest) in remaining {
        assert!(bindings.unbind(&routing_key, &arguments, &dest));
    }
    assert!(bindings.is_empty());
    check(&bindings, &[("a.b.c", &[]), ("b.b.c", &[]), ("", &[])]);
}

/// Ported from RabbitMQ's `exchanges_SUITE:topic_exchange/1` (deps/rabbit/test): one queue, its
/// patterns added in three steps, and which published keys reach it after each.
#[test]
fn rabbitmq_exchanges_suite_topic_exchange() {
    let no_args = FieldTable::new();
    let mut bindings = Bindings::new(ExchangeKind::Topic);
    for pattern in ["this.*.rules", "*.for.*", "simply#carrots"] {
        bindings
            .bind(&key(pattern), &no_args, "q")
            .expect("topic binds");
    }
    check(
        &bindings,
        &[
            ("this.queue.rules", &["q"]),
            ("this.exchange.rules", &["q"]),
            ("another.queue.rules", &[]),
            ("carrots.for.power", &["q"]),
            ("simplycarrots", &[]),
            ("*.queue.rules", &[]),
        ],
    );
    bindings
        .bind(&key("#.noclue"), &no_args, "q")
        .expect("topic binds");
    check(
        &bindings,
        &[("simplycarrots", &[]), ("#.bla", &[]), ("#.noclue", &["q"])],
    );
    bindings
        .bind(&key("#"), &no_args, "q")
        .expect("topic binds");
    check(&bindings, &[("simplycarrots", &["q"])]);
}

/// The word rules, one pattern and one key at a time: (pattern, key, matches).
const WORD_RULES: &[(&str, &str, bool)] = &[
    // The empty key has zero words; the empty pattern matches only it.
    ("", "", true),
    ("", "a", false),
    ("", ".", false),
    ("#", "", true),
    ("#.#", "", true),
    ("#.#.#", "", true),
    ("*", "", false),
    ("a.#", "", false),
    ("#.a", "", false),
    ("#.*", "", false),
    ("*.#", "", false),
    // Empty words are words, and `*` matches one.
    ("a..b", "a..b", true),
    ("a.*.b", "a..b", true),
    ("a.b", "a..b", false),
    ("*", ".", false),
    ("*.*", ".", true),
    ("#", ".", true),
    ("#.", ".", true),
    ("#.", "", false),
    ("a.", "a.", true),
    ("a.", "a", false),
    ("a.*", "a.", true),
    (".a", ".a", true),
    ("*.a", ".a", true),
    // `*` is exactly one word.
    ("*", "a", true),
    ("*", "a.b", false),
    ("*.*", "a", false),
    ("*.*", "a.b", true),
    ("*.*", "a.b.c", false),
    ("a.*", "a", false),
    ("a.*.#", "a", false),
    ("a.*.#", "a.b", true),
    // `#` is zero or more words, anywhere.
    ("#", "a.b.c", true),
    ("a.#", "a", true),
    ("#.a", "a", true),
    ("#.a.#", "a", true),
    ("#.a.#", "b", false),
    ("a.#.b", "a.b", true),
    ("a.#.b", "a.x.b", true),
    ("a.#.b", "a.x.y.b", true),
    ("a.#.b", "a.b.c", false),
    ("a.#.b", "b.a.b", false),
    ("a.#.#.b", "a.b", true),
    ("#.*", "a", true),
    ("#.*.#", "a.b", true),
    ("#.b.#.d", "a.b.c.d", true),
    ("#.b.#.d", "a.b.c.d.e", false),
    ("a.#.a.#.a", "a.a.a", true),
    ("a.#.a.#.a", "a.a", false),
    // Wildcards are whole words; in keys they are literal.
    ("simply#carrots", "simply#carrots", true),
    ("simply#carrots", "simplycarrots", false),
    ("a*", "ab", false),
    ("*", "*", true),
    ("#", "#", true),
    ("a", "*", false),
    ("a.b", "a.#", false),
    ("#.noclue", "#.noclue", true),
    // Case and bytes matter.
    ("A", "a", false),
    ("é.*", "é.x", true),
    // Wazo: routing keys from wazo-bus' event catalog and the bindings its daemons make.
    ("calls.#", "calls.call.created", true),
    ("calls.*", "calls.call.created", false),
    ("calls.*.*", "calls.call.created", true),
    (
        "config.users.*.forwards.#",
        "config.users.4b7d.forwards.busy.updated",
        true,
    ),
    (
        "config.users.*.forwards.#",
        "config.users.4b7d.services.dnd.updated",
        false,
    ),
    (
        "chatd.users.2f4e.rooms.*.messages.created",
        "chatd.users.2f4e.rooms.9a1c.messages.created",
        true,
    ),
    (
        "chatd.users.2f4e.rooms.*.messages.created",
        "chatd.users.77aa.rooms.9a1c.messages.created",
        false,
    ),
    (
        "auth.users.*.tokens.#",
        "auth.users.2f4e.tokens.wazo-client.created",
        true,
    ),
    ("#", "status.agent.pause", true),
];

#[test]
fn word_rules_on_the_trie_and_the_reference() {
    for &(pattern, routing_key, matches) in WORD_RULES {
        assert_eq!(
            topic_matches(pattern.as_bytes(), routing_key.as_bytes()),
            matches,
            "reference: pattern {pattern:?}, key {routing_key:?}"
        );
        let mut bindings = Bindings::new(ExchangeKind::Topic);
        bindings
            .bind(&key(pattern), &FieldTable::new(), "q")
            .expect("topic binds");
        let expected: &[&str] = if matches { &["q"] } else { &[] };
        assert_eq!(
            routed(&bindings, routing_key),
            expected,
            "trie: pattern {pattern:?}, key {routing_key:?}"
        );
    }
}

#[test]
fn all_word_rules_in_one_trie() {
    // The same cases with every pattern in one exchange, each bound to its own destination:
    // patterns sharing prefixes must not leak matches into each other.
    let mut bindings = Bindings::new(ExchangeKind::Topic);
    let mut by_pattern: Vec<(&str, usize)> = Vec::new();
    for &(pattern, _, _) in WORD_RULES {
        if !by_pattern.iter().any(|(p, _)| *p == pattern) {
            by_pattern.push((pattern, by_pattern.len()));
        }
    }
    for &(pattern, dest) in &by_pattern {
        bindings
            .bind(&key(pattern), &FieldTable::new(), dest)
            .expect("topic binds");
    }
    for &(_, routing_key, _) in WORD_RULES {
        let mut out = Vec::new();
        bindings.route(routing_key.as_bytes(), None, &mut out);
        out.sort_unstable();
        let expected: Vec<usize> = by_pattern
            .iter()
            .filter(|(p, _)| topic_matches(p.as_bytes(), routing_key.as_bytes()))
            .map(|&(_, d)| d)
            .collect();
        assert_eq!(out, expected, "key {routing_key:?}");
    }
}

#[test]
fn hash_hash_and_hash_are_distinct_bindings_with_the_same_matches() {
    let no_args = FieldTable::new();
    let mut bindings = Bindings::new(ExchangeKind::Topic);
    assert_eq!(bindings.bind(&key("a.#"), &no_args, "q"), Ok(true));
    assert_eq!(bindings.bind(&key("a.#.#"), &no_args, "q"), Ok(true));
    assert_eq!(bindings.len(), 2);
    assert_eq!(routed(&bindings, "a"), ["q"]);
    // The binding keeps its key as sent.
    let mut keys: Vec<_> = bindings.iter().map(|(k, _, _)| k.to_string()).collect();
    keys.sort();
    assert_eq!(keys, ["a.#", "a.#.#"]);
    assert!(bindings.unbind(&key("a.#"), &no_args, &"q"));
    assert_eq!(routed(&bindings, "a.b.c"), ["q"], "a.#.# still routes");
    assert!(bindings.unbind(&key("a.#.#"), &no_args, &"q"));
    assert_eq!(routed(&bindings, "a.b.c"), Vec::<&str>::new());
}

#[test]
fn route_appends_after_other_exchanges_destinations() {
    let no_args = FieldTable::new();
    let mut bindings = Bindings::new(ExchangeKind::Topic);
    for pattern in ["#", "a.*", "*.b", "a.b"] {
        bindings
            .bind(&key(pattern), &no_args, "q")
            .expect("topic binds");
    }
    bindings
        .bind(&key("a.#"), &no_args, "r")
        .expect("topic binds");
    // "q" is already there from another exchange: it is not ours to dedupe against.
    let mut out = vec!["q", "q"];
    bindings.route(b"a.b", None, &mut out);
    assert_eq!(&out[..2], ["q", "q"]);
    let mut ours = out[2..].to_vec();
    ours.sort_unstable();
    assert_eq!(ours, ["q", "r"]);
}
