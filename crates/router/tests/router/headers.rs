//! Headers matching: every case is checked on `HeadersMatcher`, on a headers `Bindings` and on
//! `reference::headers_match` (the transcription of RabbitMQ 3.x's `headers_match/2`).

use warren_router::headers::HeadersMatcher;
use warren_router::reference::headers_match;
use warren_router::{BindError, Bindings, ExchangeKind};
use warren_wire::{FieldTable, FieldValue as V};

use crate::{key, s, table, x};

struct Case {
    what: &'static str,
    args: FieldTable,
    headers: Option<FieldTable>,
    matches: bool,
}

fn case(
    what: &'static str,
    args: &[(&str, V)],
    headers: Option<&[(&str, V)]>,
    matches: bool,
) -> Case {
    Case {
        what,
        args: table(args),
        headers: headers.map(table),
        matches,
    }
}

/// The `x-match` argument.
fn mode(x_match: &str) -> (&'static str, V) {
    ("x-match", s(x_match))
}

fn cases() -> Vec<Case> {
    let foo_fuu = [("foo", s("bar")), ("fuu", s("ber"))];
    let wazo_event = [
        ("name", s("call_created")),
        ("origin_uuid", s("0c1b")),
        ("tenant_uuid", s("7e5a")),
        ("required_acl", s("events.calls.2f4e")),
        ("user_uuid:2f4e", V::Bool(true)),
        ("user_uuid:77aa", V::Bool(true)),
    ];
    vec![
        // Ported from RabbitMQ's exchanges_SUITE:headers_exchange/1 (deps/rabbit/test).
        case(
            "suite: all, both headers",
            &[mode("all"), foo_fuu[0].clone(), foo_fuu[1].clone()],
            Some(&foo_fuu),
            true,
        ),
        case(
            "suite: all, one header",
            &[mode("all"), foo_fuu[0].clone(), foo_fuu[1].clone()],
            Some(&foo_fuu[..1]),
            false,
        ),
        case(
            "suite: all, no headers",
            &[mode("all"), foo_fuu[0].clone(), foo_fuu[1].clone()],
            None,
            false,
        ),
        case(
            "suite: any, both headers",
            &[mode("any"), foo_fuu[0].clone(), foo_fuu[1].clone()],
            Some(&foo_fuu),
            true,
        ),
        case(
            "suite: any, one header",
            &[mode("any"), foo_fuu[0].clone(), foo_fuu[1].clone()],
            Some(&foo_fuu[..1]),
            true,
        ),
        case(
            "suite: any, no headers",
            &[mode("any"), foo_fuu[0].clone(), foo_fuu[1].clone()],
            None,
            false,
        ),
        // Mode and argument order.
        case(
            "absent x-match is all",
            &foo_fuu,
            Some(&foo_fuu[..1]),
            false,
        ),
        case(
            "absent x-match is all (match)",
            &foo_fuu,
            Some(&[("fuu", s("ber")), ("z", s("")), ("foo", s("bar"))]),
            true,
        ),
        case(
            "any: wrong value",
            &[mode("any"), ("foo", s("nope"))],
            Some(&foo_fuu),
            false,
        ),
        case(
            "extra headers are ignored",
            &[("foo", s("bar"))],
            Some(&foo_fuu),
            true,
        ),
        // No counted arguments.
        case("no args: all matches everything", &[], Some(&foo_fuu), true),
        case("no args: all matches no headers", &[], None, true),
        case("no args: all matches empty headers", &[], Some(&[]), true),
        case(
            "no args: any matches nothing",
            &[mode("any")],
            Some(&foo_fuu),
            false,
        ),
        case(
            "no args: any-with-x matches nothing",
            &[mode("any-with-x")],
            Some(&foo_fuu),
            false,
        ),
        case(
            "no args: all-with-x matches no headers",
            &[mode("all-with-x")],
            None,
            true,
        ),
        // x- arguments.
        case(
            "all skips x- args",
            &[("x-internal", V::Bool(true)), ("foo", s("bar"))],
            Some(&foo_fuu),
            true,
        ),
        case(
            "all with only x- args matches all",
            &[("x-internal", V::Bool(true))],
            None,
            true,
        ),
        case(
            "any with only x- args matches none",
            &[mode("any"), ("x-internal", V::Bool(true))],
            Some(&[("x-internal", V::Bool(true))]),
            false,
        ),
        case(
            "all-with-x counts x- args (missing)",
            &[
                mode("all-with-x"),
                ("x-internal", V::Bool(true)),
                ("foo", s("bar")),
            ],
            Some(&foo_fuu),
            false,
        ),
        case(
            "all-with-x counts x- args (present)",
            &[
                mode("all-with-x"),
                ("x-internal", V::Bool(true)),
                ("foo", s("bar")),
            ],
            Some(&[("foo", s("bar")), ("x-internal", V::Bool(true))]),
            true,
        ),
        case(
            "any-with-x counts x- args",
            &[
                mode("any-with-x"),
                ("x-internal", V::Bool(true)),
                ("foo", s("nope")),
            ],
            Some(&[("x-internal", V::Bool(true))]),
            true,
        ),
        case(
            "x-match itself never counts",
            &[mode("all-with-x")],
            Some(&[("x-match", s("other"))]),
            true,
        ),
        case(
            "a header named x-match is just a header",
            &[("x-match", s("all")), ("k", s("v"))],
            Some(&[("x-match", s("any")), ("k", s("v"))]),
            true,
        ),
        // Void arguments ask for presence.
        case(
            "void: present as string",
            &[("k", V::Void)],
            Some(&[("k", s("anything"))]),
            true,
        ),
        case(
            "void: present as int",
            &[("k", V::Void)],
            Some(&[("k", V::I8(3))]),
            true,
        ),
        case(
            "void: present as void",
            &[("k", V::Void)],
            Some(&[("k", V::Void)]),
            true,
        ),
        case(
            "void: absent",
            &[("k", V::Void)],
            Some(&[("other", V::Void)]),
            false,
        ),
        case(
            "void header is not a string",
            &[("k", s(""))],
            Some(&[("k", V::Void)]),
            false,
        ),
        // Numbers compare by value across widths and kinds.
        case(
            "b 1 = l 1",
            &[("n", V::I8(1))],
            Some(&[("n", V::I64(1))]),
            true,
        ),
        case(
            "B 1 = I 1",
            &[("n", V::U8(1))],
            Some(&[("n", V::I32(1))]),
            true,
        ),
        case(
            "u 65535 = i 65535",
            &[("n", V::U16(65535))],
            Some(&[("n", V::U32(65535))]),
            true,
        ),
        case(
            "s -1 = l -1",
            &[("n", V::I16(-1))],
            Some(&[("n", V::I64(-1))]),
            true,
        ),
        case(
            "b -1 != B 255",
            &[("n", V::I8(-1))],
            Some(&[("n", V::U8(255))]),
            false,
        ),
        case(
            "T 5 = I 5",
            &[("n", V::Timestamp(5))],
            Some(&[("n", V::I32(5))]),
            true,
        ),
        case(
            "b 1 = d 1.0",
            &[("n", V::I8(1))],
            Some(&[("n", V::F64(1.0))]),
            true,
        ),
        case(
            "b 1 != d 1.5",
            &[("n", V::I8(1))],
            Some(&[("n", V::F64(1.5))]),
            false,
        ),
        case(
            "f 0.5 = d 0.5",
            &[("n", V::F32(0.5))],
            Some(&[("n", V::F64(0.5))]),
            true,
        ),
        case(
            "f 0.1 != d 0.1 (f widens inexactly)",
            &[("n", V::F32(0.1))],
            Some(&[("n", V::F64(0.1))]),
            false,
        ),
        case(
            "l 2^53+1 != d 2^53",
            &[("n", V::I64(9_007_199_254_740_993))],
            Some(&[("n", V::F64(9_007_199_254_740_992.0))]),
            false,
        ),
        case(
            "int != string",
            &[("n", V::I8(1))],
            Some(&[("n", s("1"))]),
            false,
        ),
        // Booleans, strings, decimals.
        case(
            "t true = t true",
            &[("b", V::Bool(true))],
            Some(&[("b", V::Bool(true))]),
            true,
        ),
        case(
            "t false = t false",
            &[("b", V::Bool(false))],
            Some(&[("b", V::Bool(false))]),
            true,
        ),
        case(
            "t true != t false",
            &[("b", V::Bool(true))],
            Some(&[("b", V::Bool(false))]),
            false,
        ),
        case(
            "t true != b 1",
            &[("b", V::Bool(true))],
            Some(&[("b", V::I8(1))]),
            false,
        ),
        case(
            "t true != S true",
            &[("b", V::Bool(true))],
            Some(&[("b", s("true"))]),
            false,
        ),
        case(
            "S = x with the same bytes",
            &[("k", s("abc"))],
            Some(&[("k", x(b"abc"))]),
            true,
        ),
        case(
            "S is case-sensitive",
            &[("k", s("abc"))],
            Some(&[("k", s("ABC"))]),
            false,
        ),
        case(
            "S empty = S empty",
            &[("k", s(""))],
            Some(&[("k", s(""))]),
            true,
        ),
        case(
            "D = D",
            &[(
                "d",
                V::Decimal {
                    scale: 2,
                    value: 100,
                },
            )],
            Some(&[(
                "d",
                V::Decimal {
                    scale: 2,
                    value: 100,
                },
            )]),
            true,
        ),
        case(
            "D scale matters",
            &[(
                "d",
                V::Decimal {
                    scale: 2,
                    value: 100,
                },
            )],
            Some(&[(
                "d",
                V::Decimal {
                    scale: 1,
                    value: 10,
                },
            )]),
            false,
        ),
        case(
            "D != int",
            &[("d", V::Decimal { scale: 0, value: 1 })],
            Some(&[("d", V::I8(1))]),
            false,
        ),
        // Nested values keep their type tags.
        case(
            "A [b 1] = A [b 1]",
            &[("a", V::Array(vec![V::I8(1)]))],
            Some(&[("a", V::Array(vec![V::I8(1)]))]),
            true,
        ),
        case(
            "A [b 1] != A [l 1]",
            &[("a", V::Array(vec![V::I8(1)]))],
            Some(&[("a", V::Array(vec![V::I64(1)]))]),
            false,
        ),
        case(
            "A [S a] != A [x a]",
            &[("a", V::Array(vec![s("a")]))],
            Some(&[("a", V::Array(vec![x(b"a")]))]),
            false,
        ),
        case(
            "F = F in order",
            &[("t", V::Table(table(&[("a", V::I8(1)), ("b", V::I8(2))])))],
            Some(&[("t", V::Table(table(&[("a", V::I8(1)), ("b", V::I8(2))])))]),
            true,
        ),
        case(
            "F order matters inside",
            &[("t", V::Table(table(&[("a", V::I8(1)), ("b", V::I8(2))])))],
            Some(&[("t", V::Table(table(&[("b", V::I8(2)), ("a", V::I8(1))])))]),
            false,
        ),
        case(
            "empty F = empty A",
            &[("t", V::Table(FieldTable::new()))],
            Some(&[("t", V::Array(vec![]))]),
            true,
        ),
        // Repeated names: the n-th argument meets the n-th header of that name.
        case(
            "repeats: all, same order",
            &[("a", V::I8(1)), ("a", V::I8(2))],
            Some(&[("a", V::I8(1)), ("a", V::I8(2))]),
            true,
        ),
        case(
            "repeats: all, other order",
            &[("a", V::I8(1)), ("a", V::I8(2))],
            Some(&[("a", V::I8(2)), ("a", V::I8(1))]),
            false,
        ),
        case(
            "repeats: any, other order",
            &[mode("any"), ("a", V::I8(1)), ("a", V::I8(2))],
            Some(&[("a", V::I8(2)), ("a", V::I8(1))]),
            false,
        ),
        case(
            "repeats: any, fewer headers",
            &[mode("any"), ("a", V::I8(1)), ("a", V::I8(2))],
            Some(&[("a", V::I8(1))]),
            true,
        ),
        case(
            "repeats: all, fewer headers",
            &[("a", V::I8(1)), ("a", V::I8(2))],
            Some(&[("a", V::I8(1))]),
            false,
        ),
        case(
            "repeated header: the first one counts",
            &[("a", V::I8(1))],
            Some(&[("a", V::I8(9)), ("a", V::I8(1))]),
            false,
        ),
        // Wazo: websocketd's user bindings (x-match absent, boolean `t` values), the
        // `event_name == '*'` binding without `name`, the tenant exchange-to-exchange binding,
        // and webhookd's `x-internal`.
        case(
            "wazo: user binding",
            &[
                ("name", s("call_created")),
                ("user_uuid:2f4e", V::Bool(true)),
            ],
            Some(&wazo_event),
            true,
        ),
        case(
            "wazo: other user",
            &[
                ("name", s("call_created")),
                ("user_uuid:9999", V::Bool(true)),
            ],
            Some(&wazo_event),
            false,
        ),
        case(
            "wazo: other event",
            &[("name", s("call_ended")), ("user_uuid:2f4e", V::Bool(true))],
            Some(&wazo_event),
            false,
        ),
        case(
            "wazo: user_uuid:* is a literal name",
            &[("name", s("call_created")), ("user_uuid:*", V::Bool(true))],
            Some(&wazo_event),
            false,
        ),
        case(
            "wazo: broadcast to every user",
            &[("name", s("call_created")), ("user_uuid:*", V::Bool(true))],
            Some(&[("name", s("call_created")), ("user_uuid:*", V::Bool(true))]),
            true,
        ),
        case(
            "wazo: all events of a user",
            &[("user_uuid:77aa", V::Bool(true))],
            Some(&wazo_event),
            true,
        ),
        case(
            "wazo: admin binding",
            &[("name", s("call_created")), ("origin_uuid", s("0c1b"))],
            Some(&wazo_event),
            true,
        ),
        case(
            "wazo: tenant exchange binding",
            &[("origin_uuid", s("0c1b")), ("tenant_uuid", s("7e5a"))],
            Some(&wazo_event),
            true,
        ),
        case(
            "wazo: other tenant",
            &[("origin_uuid", s("0c1b")), ("tenant_uuid", s("0000"))],
            Some(&wazo_event),
            false,
        ),
        case(
            "wazo: webhookd x-internal",
            &[("name", s("call_created")), ("x-internal", V::Bool(true))],
            Some(&wazo_event),
            true,
        ),
    ]
}

#[test]
fn cases_agree_on_matcher_bindings_and_reference() {
    for case in cases() {
        let headers = case.headers.as_ref();
        let matcher = HeadersMatcher::new(&case.args).expect("valid x-match");
        assert_eq!(
            matcher.matches(headers),
            case.matches,
            "matcher: {}",
            case.what
        );
        assert_eq!(
            headers_match(&case.args, headers),
            case.matches,
            "reference: {}",
            case.what
        );

        let mut bindings = Bindings::new(ExchangeKind::Headers);
        assert_eq!(bindings.bind(&key("ignored"), &case.args, "q"), Ok(true));
        let mut out = Vec::new();
        bindings.route(b"the routing key is ignored", headers, &mut out);
        let expected: &[&str] = if case.matches { &["q"] } else { &[] };
        assert_eq!(out, expected, "bindings: {}", case.what);
    }
}

#[test]
fn invalid_x_match_is_refused_in_rabbitmqs_words() {
    let refused = |value: V| {
        let args = table(&[("x-match", value), ("k", s("v"))]);
        let mut bindings = Bindings::new(ExchangeKind::Headers);
        let error = bindings
            .bind(&key(""), &args, "q")
            .expect_err("invalid x-match");
        assert!(bindings.is_empty(), "nothing was bound");
        assert!(HeadersMatcher::new(&args).is_err());
        error.text
    };
    let expected_values = "expected all, any, all-with-x, or any-with-x";
    assert_eq!(
        refused(s("foo")),
        format!(r#"Invalid x-match field value <<"foo">>; {expected_values}"#)
    );
    assert_eq!(
        refused(s("ALL")),
        format!(r#"Invalid x-match field value <<"ALL">>; {expected_values}"#)
    );
    assert_eq!(
        refused(s("")),
        format!("Invalid x-match field value <<>>; {expected_values}")
    );
    assert_eq!(
        refused(x(b"all")),
        r#"Invalid x-match field type binary (value <<"all">>); expected longstr"#
    );
    assert_eq!(
        refused(V::Bool(true)),
        "Invalid x-match field type bool (value true); expected longstr"
    );
    assert_eq!(
        refused(V::I8(1)),
        "Invalid x-match field type byte (value 1); expected longstr"
    );
    assert_eq!(
        refused(V::Void),
        "Invalid x-match field type void (value undefined); expected longstr"
    );
}

#[test]
fn only_headers_exchanges_validate_x_match() {
    let args = table(&[("x-match", s("foo"))]);
    for kind in [
        ExchangeKind::Direct,
        ExchangeKind::Fanout,
        ExchangeKind::Topic,
    ] {
        let mut bindings = Bindings::new(kind);
        assert_eq!(bindings.bind(&key("k"), &args, "q"), Ok(true), "{kind:?}");
    }
    let error = Bindings::new(ExchangeKind::Headers)
        .bind(&key("k"), &args, "q")
        .expect_err("headers validates");
    assert_eq!(error.to_string(), error.text);
    let _: &dyn std::error::Error = &BindError { text: error.text };
}

#[test]
fn a_destination_is_routed_once_however_many_bindings_match() {
    let mut bindings = Bindings::new(ExchangeKind::Headers);
    let headers = table(&[
        ("name", s("call_created")),
        ("user_uuid:2f4e", V::Bool(true)),
    ]);
    // websocketd binds each event twice per user: for the user and for `user_uuid:*`.
    for args in [
        table(&[
            ("name", s("call_created")),
            ("user_uuid:2f4e", V::Bool(true)),
        ]),
        table(&[("name", s("call_created")), ("user_uuid:*", V::Bool(true))]),
        table(&[("name", s("call_created"))]),
    ] {
        assert_eq!(bindings.bind(&key(""), &args, "ws-queue"), Ok(true));
    }
    bindings
        .bind(&key(""), &table(&[("name", s("other"))]), "other-queue")
        .expect("valid");
    let mut out = Vec::new();
    bindings.route(b"", Some(&headers), &mut out);
    assert_eq!(out, ["ws-queue"]);
}
