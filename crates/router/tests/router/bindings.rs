//! Binding identity, direct and fanout routing, destination removal, listings.

use warren_router::{Bindings, ExchangeKind};
use warren_wire::{FieldTable, FieldValue as V};

use crate::{key, s, table};

fn routed(
    bindings: &Bindings<&'static str>,
    routing_key: &str,
    headers: Option<&FieldTable>,
) -> Vec<&'static str> {
    let mut out = Vec::new();
    bindings.route(routing_key.as_bytes(), headers, &mut out);
    out.sort_unstable();
    out
}

const KINDS: [ExchangeKind; 4] = [
    ExchangeKind::Direct,
    ExchangeKind::Fanout,
    ExchangeKind::Topic,
    ExchangeKind::Headers,
];

#[test]
fn exchange_kind_names_round_trip() {
    for kind in KINDS {
        assert_eq!(ExchangeKind::from_name(kind.name().as_bytes()), Some(kind));
        assert_eq!(Bindings::<u8>::new(kind).kind(), kind);
    }
    assert_eq!(
        ExchangeKind::from_name(b"Direct"),
        None,
        "type names are case-sensitive"
    );
    assert_eq!(ExchangeKind::from_name(b"x-delayed-message"), None);
    assert_eq!(ExchangeKind::from_name(b""), None);
}

#[test]
fn binding_twice_is_a_no_op_on_every_kind() {
    for kind in KINDS {
        let mut bindings = Bindings::new(kind);
        let args = table(&[("a", s("1"))]);
        assert_eq!(bindings.bind(&key("k"), &args, "q"), Ok(true), "{kind:?}");
        assert_eq!(bindings.bind(&key("k"), &args, "q"), Ok(false), "{kind:?}");
        assert_eq!(bindings.len(), 1);
        assert!(bindings.unbind(&key("k"), &args, &"q"));
        assert!(
            !bindings.unbind(&key("k"), &args, &"q"),
            "{kind:?}: already gone"
        );
        assert!(bindings.is_empty());
        assert!(!bindings.contains_destination(&"q"));
    }
}

#[test]
fn argument_order_does_not_matter_for_identity() {
    for kind in KINDS {
        let mut bindings = Bindings::new(kind);
        let ab = table(&[("a", s("1")), ("b", V::I8(2))]);
        let ba = table(&[("b", V::I8(2)), ("a", s("1"))]);
        assert_eq!(bindings.bind(&key("k"), &ab, "q"), Ok(true));
        assert_eq!(bindings.bind(&key("k"), &ba, "q"), Ok(false), "{kind:?}");
        // Listed sorted by name, as RabbitMQ stores them.
        let listed: Vec<_> = bindings.iter().map(|(_, args, _)| args.clone()).collect();
        assert_eq!(listed, std::slice::from_ref(&ab));
        assert!(bindings.unbind(&key("k"), &ba, &"q"), "{kind:?}");
        assert!(bindings.is_empty());
    }
}

#[test]
fn identity_compares_types_and_repeated_names_exactly() {
    let mut bindings = Bindings::new(ExchangeKind::Direct);
    let variants = [
        table(&[("n", V::I8(1))]),
        table(&[("n", V::I64(1))]), // equal for headers matching, another binding for identity
        table(&[("n", V::F64(0.0))]),
        table(&[("n", V::F64(-0.0))]),
        table(&[("n", V::F64(f64::NAN))]),
        table(&[("n", s("1")), ("n", s("2"))]),
        table(&[("n", s("2")), ("n", s("1"))]), // repeated names keep their order
        table(&[("t", V::Table(table(&[("a", V::I8(1)), ("b", V::I8(1))])))]),
        table(&[("t", V::Table(table(&[("b", V::I8(1)), ("a", V::I8(1))])))]), // nested tables are not sorted
        FieldTable::new(),
    ];
    for args in &variants {
        assert_eq!(bindings.bind(&key("k"), args, "q"), Ok(true), "{args:?}");
    }
    for args in &variants {
        assert_eq!(bindings.bind(&key("k"), args, "q"), Ok(false), "{args:?}");
    }
    assert_eq!(bindings.len(), variants.len());
    assert_eq!(routed(&bindings, "k", None), ["q"]);
    for args in &variants {
        assert!(
            bindings.unbind(&key("k"), args, &"q"),
            "{args:?} can be unbound, NaN included"
        );
    }
    assert!(bindings.is_empty());
}

#[test]
fn same_key_and_destination_with_other_arguments_are_two_bindings() {
    for kind in KINDS {
        let mut bindings = Bindings::new(kind);
        let one = table(&[("v", s("1"))]);
        let two = table(&[("v", s("2"))]);
        assert_eq!(bindings.bind(&key("k"), &one, "q"), Ok(true));
        assert_eq!(bindings.bind(&key("k"), &two, "q"), Ok(true));
        assert_eq!(bindings.len(), 2);
        let headers = table(&[("v", s("2"))]);
        assert_eq!(
            routed(&bindings, "k", Some(&headers)),
            ["q"],
            "{kind:?}: once"
        );
        assert!(bindings.unbind(&key("k"), &one, &"q"));
        assert_eq!(
            routed(&bindings, "k", Some(&headers)),
            ["q"],
            "{kind:?}: still bound"
        );
        assert!(bindings.contains_destination(&"q"));
        assert!(bindings.unbind(&key("k"), &two, &"q"));
        assert_eq!(
            routed(&bindings, "k", Some(&headers)),
            Vec::<&str>::new(),
            "{kind:?}"
        );
    }
}

#[test]
fn unbind_needs_the_exact_binding() {
    let mut bindings = Bindings::new(ExchangeKind::Direct);
    let args = table(&[("a", s("1"))]);
    bindings.bind(&key("k"), &args, "q").expect("direct binds");
    assert!(
        !bindings.unbind(&key("k"), &FieldTable::new(), &"q"),
        "other arguments"
    );
    assert!(!bindings.unbind(&key("K"), &args, &"q"), "other key");
    assert!(
        !bindings.unbind(&key("k"), &args, &"r"),
        "other destination"
    );
    assert_eq!(bindings.len(), 1);
    assert_eq!(routed(&bindings, "k", None), ["q"]);
}

#[test]
fn direct_routes_on_key_equality() {
    let no_args = FieldTable::new();
    let mut bindings = Bindings::new(ExchangeKind::Direct);
    bindings.bind(&key("a"), &no_args, "qa").expect("binds");
    bindings.bind(&key("a"), &no_args, "qa2").expect("binds");
    bindings.bind(&key("b"), &no_args, "qb").expect("binds");
    bindings.bind(&key(""), &no_args, "qempty").expect("binds");
    bindings
        .bind(&key("a.*"), &no_args, "qstar")
        .expect("binds");
    assert_eq!(routed(&bindings, "a", None), ["qa", "qa2"]);
    assert_eq!(routed(&bindings, "b", None), ["qb"]);
    assert_eq!(routed(&bindings, "", None), ["qempty"]);
    assert_eq!(
        routed(&bindings, "a.b", None),
        Vec::<&str>::new(),
        "no wildcards"
    );
    assert_eq!(routed(&bindings, "a.*", None), ["qstar"]);
    assert_eq!(routed(&bindings, "A", None), Vec::<&str>::new());
}

#[test]
fn fanout_routes_every_destination_once() {
    let no_args = FieldTable::new();
    let mut bindings = Bindings::new(ExchangeKind::Fanout);
    bindings.bind(&key("x"), &no_args, "q1").expect("binds");
    bindings.bind(&key("y"), &no_args, "q1").expect("binds");
    bindings
        .bind(&key(""), &table(&[("a", V::I8(1))]), "q2")
        .expect("binds");
    assert_eq!(bindings.len(), 3);
    assert_eq!(routed(&bindings, "anything", None), ["q1", "q2"]);
    assert!(bindings.unbind(&key("x"), &no_args, &"q1"));
    assert_eq!(routed(&bindings, "", None), ["q1", "q2"]);
    assert!(bindings.unbind(&key("y"), &no_args, &"q1"));
    assert_eq!(routed(&bindings, "", None), ["q2"]);
}

#[test]
fn remove_destination_removes_all_its_bindings() {
    for kind in KINDS {
        let mut bindings = Bindings::new(kind);
        let no_args = FieldTable::new();
        bindings.bind(&key("a"), &no_args, "gone").expect("binds");
        bindings.bind(&key("#"), &no_args, "gone").expect("binds");
        bindings
            .bind(&key("a"), &table(&[("v", s("1"))]), "gone")
            .expect("binds");
        bindings.bind(&key("a"), &no_args, "kept").expect("binds");
        bindings.bind(&key("b"), &no_args, "kept").expect("binds");
        assert_eq!(bindings.remove_destination(&"gone"), 3, "{kind:?}");
        assert_eq!(bindings.remove_destination(&"gone"), 0, "{kind:?}");
        assert_eq!(bindings.remove_destination(&"never-bound"), 0);
        assert!(!bindings.contains_destination(&"gone"));
        assert!(bindings.contains_destination(&"kept"));
        assert_eq!(bindings.len(), 2);
        assert_eq!(routed(&bindings, "a", None), ["kept"], "{kind:?}");
        assert!(bindings.iter().all(|(_, _, dest)| *dest == "kept"));
        // The remaining bindings still unbind one by one.
        assert!(bindings.unbind(&key("a"), &no_args, &"kept"));
        assert!(bindings.unbind(&key("b"), &no_args, &"kept"));
        assert!(bindings.is_empty());
    }
}

#[test]
fn topic_route_dedupes_a_destination_bound_by_several_matching_patterns() {
    let no_args = FieldTable::new();
    let mut bindings = Bindings::new(ExchangeKind::Topic);
    for pattern in [
        "calls.#",
        "#",
        "calls.call.created",
        "*.call.*",
        "calls.*.created",
    ] {
        bindings.bind(&key(pattern), &no_args, "q").expect("binds");
    }
    bindings
        .bind(&key("calls.#"), &no_args, "r")
        .expect("binds");
    let mut out = Vec::new();
    bindings.route(b"calls.call.created", None, &mut out);
    out.sort_unstable();
    assert_eq!(out, ["q", "r"]);
}

#[test]
fn iter_lists_every_binding() {
    let mut bindings = Bindings::new(ExchangeKind::Topic);
    bindings
        .bind(&key("a.#.#"), &FieldTable::new(), 1)
        .expect("binds");
    bindings
        .bind(&key("b"), &table(&[("z", V::I8(1)), ("a", V::I8(2))]), 2)
        .expect("binds");
    bindings
        .bind(&key("b"), &FieldTable::new(), 2)
        .expect("binds");
    let mut listed: Vec<_> = bindings
        .iter()
        .map(|(k, args, dest)| {
            (
                k.to_string(),
                args.iter().map(|(n, _)| n.to_string()).collect::<Vec<_>>(),
                *dest,
            )
        })
        .collect();
    listed.sort();
    assert_eq!(
        listed,
        [
            ("a.#.#".to_string(), vec![], 1),
            ("b".to_string(), vec![], 2),
            ("b".to_string(), vec!["a".to_string(), "z".to_string()], 2),
        ]
    );
}
