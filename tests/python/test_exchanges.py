"""Exchanges: predeclared ones, declare/equivalence/passive/delete, auto-delete, routing by type,
exchange-to-exchange bindings, headers matching (RabbitMQ 3.x semantics)."""

from __future__ import annotations

import pika
import pytest

import rawamqp as R
from conftest import assert_channel_closed, bodies, exchange_exists, settle, uniq, wait_for

PREDECLARED = [
    ("amq.direct", "direct"), ("amq.fanout", "fanout"), ("amq.topic", "topic"),
    ("amq.headers", "headers"), ("amq.match", "headers"),
    ("xivo", "topic"), ("wazo-headers", "headers"),
]
OTHER_TYPE = {"direct": "fanout", "fanout": "direct", "topic": "headers", "headers": "topic"}


@pytest.mark.parametrize("name,kind", PREDECLARED, ids=[n for n, _ in PREDECLARED])
def test_predeclared_exchange(conn, name, kind):
    ch = conn.channel()
    ch.exchange_declare(name, passive=True)
    ch.exchange_declare(name, kind, durable=True)  # same type and flags: Declare-Ok
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as exc:
        conn.channel().exchange_declare(name, OTHER_TYPE[kind], durable=True)
    assert_channel_closed(
        exc, 406, f"PRECONDITION_FAILED - inequivalent arg 'type' for exchange '{name}' in vhost '/'")


def test_default_exchange_cannot_be_declared(conn):
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as exc:
        conn.channel().exchange_declare("", "direct")
    assert_channel_closed(exc, 403, "ACCESS_REFUSED - operation not permitted on the default exchange")


def test_declare_is_idempotent_and_checks_equivalence(conn, cleanup):
    x = cleanup.exchange(uniq("x"))
    ch = conn.channel()
    ch.exchange_declare(x, "topic", durable=True)
    ch.exchange_declare(x, "topic", durable=True)
    ch.exchange_declare(x, passive=True)
    for kwargs, arg in [
        (dict(exchange_type="topic", durable=False), "durable"),
        (dict(exchange_type="topic", durable=True, auto_delete=True), "auto_delete"),
        (dict(exchange_type="direct", durable=True), "type"),
    ]:
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as exc:
            conn.channel().exchange_declare(x, **kwargs)
        assert_channel_closed(
            exc, 406, f"PRECONDITION_FAILED - inequivalent arg '{arg}' for exchange '{x}' in vhost '/'")
    # still usable after the failed redeclarations
    conn.channel().exchange_declare(x, passive=True)


def test_passive_declare_of_missing_exchange(conn):
    x = uniq("missing")
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as exc:
        conn.channel().exchange_declare(x, passive=True)
    assert_channel_closed(exc, 404, f"NOT_FOUND - no exchange '{x}' in vhost '/'")


def test_delete_of_missing_exchange_is_ok(conn):
    ch = conn.channel()
    ch.exchange_delete(uniq("missing"))
    ch.exchange_delete(uniq("missing"), if_unused=True)
    assert ch.is_open


def test_delete_if_unused(conn, cleanup):
    x = cleanup.exchange(uniq("x"))
    ch = conn.channel()
    ch.exchange_declare(x, "fanout")
    q = ch.queue_declare("", exclusive=True).method.queue
    ch.queue_bind(q, x)
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as exc:
        ch.exchange_delete(x, if_unused=True)
    assert_channel_closed(exc, 406, f"PRECONDITION_FAILED - exchange '{x}' in vhost '/' in use")
    ch = conn.channel()
    ch.exchange_delete(x)
    assert not exchange_exists_on(conn, x)


def exchange_exists_on(conn, x):
    try:
        conn.channel().exchange_declare(x, passive=True)
        return True
    except pika.exceptions.ChannelClosedByBroker as exc:
        assert exc.reply_code == 404
        return False


def test_auto_delete_exchange_goes_with_its_last_binding_as_source(broker, conn, cleanup):
    x = cleanup.exchange(uniq("autodel"))
    ch = conn.channel()
    ch.exchange_declare(x, "fanout", auto_delete=True)
    assert exchange_exists(broker, x)  # not deleted at declare time
    q1 = ch.queue_declare("", exclusive=True).method.queue
    q2 = ch.queue_declare("", exclusive=True).method.queue
    ch.queue_bind(q1, x)
    ch.queue_bind(q2, x)
    ch.queue_unbind(q1, x)
    assert exchange_exists(broker, x)  # one binding left
    ch.queue_unbind(q2, x)
    wait_for(lambda: not exchange_exists(broker, x), what="auto-delete")


def test_auto_delete_exchange_with_exchange_binding_as_source(broker, conn, cleanup):
    src = cleanup.exchange(uniq("autodel-src"))
    dst = cleanup.exchange(uniq("dst"))
    ch = conn.channel()
    ch.exchange_declare(src, "fanout", auto_delete=True)
    ch.exchange_declare(dst, "fanout")
    ch.exchange_bind(destination=dst, source=src)
    ch.exchange_unbind(destination=dst, source=src)
    wait_for(lambda: not exchange_exists(broker, src), what="auto-delete")
    assert exchange_exists(broker, dst)


def test_auto_delete_when_queue_deleted(broker, conn, cleanup):
    x = cleanup.exchange(uniq("autodel"))
    ch = conn.channel()
    ch.exchange_declare(x, "direct", auto_delete=True)
    q = ch.queue_declare(uniq("q")).method.queue
    ch.queue_bind(q, x, "k")
    ch.queue_delete(q)  # deleting the queue removes its bindings -> the exchange goes
    wait_for(lambda: not exchange_exists(broker, x), what="auto-delete")


def _queues(ch, n):
    return [ch.queue_declare("", exclusive=True).method.queue for _ in range(n)]


def test_direct_routing(conn, cleanup):
    ch = conn.channel()
    x = cleanup.exchange(uniq("direct"))
    ch.exchange_declare(x, "direct")
    a, b, c = _queues(ch, 3)
    ch.queue_bind(a, x, "calls")
    ch.queue_bind(b, x, "calls")
    ch.queue_bind(b, x, "users")
    ch.queue_bind(c, x, "")
    for key in ("calls", "users", "", "Calls", "calls.x", "nothing"):
        ch.basic_publish(x, key, key.encode() or b"<empty>")
    got = settle(ch, [a, b, c])
    assert bodies(got[a]) == [b"calls"]
    assert bodies(got[b]) == [b"calls", b"users"]
    assert bodies(got[c]) == [b"<empty>"]


def test_topic_routes_of_a_repeated_key_follow_every_binding_change(conn, cleanup):
    """A key published again and again (Warren remembers where such keys went) must follow each
    bind, unbind and queue deletion at once."""
    ch = conn.channel()
    x = cleanup.exchange(uniq("topic"))
    ch.exchange_declare(x, "topic")
    a, b, gone = _queues(ch, 3)
    key = "config.users.42.forwards.busy.updated"

    def publish(tag: str):
        for i in range(3):
            ch.basic_publish(x, key, f"{tag}{i}".encode())

    ch.queue_bind(a, x, "config.users.*.#")
    ch.queue_bind(gone, x, "config.#")
    publish("one-")
    ch.queue_bind(b, x, "#.updated")
    publish("two-")
    ch.queue_unbind(a, x, "config.users.*.#")
    ch.queue_delete(gone)
    publish("three-")
    got = settle(ch, [a, b])
    assert bodies(got[a]) == [b"one-0", b"one-1", b"one-2", b"two-0", b"two-1", b"two-2"]
    assert bodies(got[b]) == [b"two-0", b"two-1", b"two-2", b"three-0", b"three-1", b"three-2"]


def test_default_exchange_routes_by_queue_name(conn):
    ch = conn.channel()
    (q,) = _queues(ch, 1)
    ch.basic_publish("", q, b"direct to queue")
    ch.basic_publish("", q + "-nope", b"dropped")
    got = settle(ch, [q])
    assert bodies(got[q]) == [b"direct to queue"]
    assert got[q][0][0].exchange == "" and got[q][0][0].routing_key == q


def test_fanout_routing_ignores_key(conn, cleanup):
    ch = conn.channel()
    x = cleanup.exchange(uniq("fanout"))
    ch.exchange_declare(x, "fanout")
    a, b = _queues(ch, 2)
    ch.queue_bind(a, x, "whatever")
    ch.queue_bind(b, x, "")
    ch.basic_publish(x, "some.key", b"1")
    ch.basic_publish(x, "", b"2")
    got = settle(ch, [a, b])
    assert bodies(got[a]) == bodies(got[b]) == [b"1", b"2"]


def test_duplicate_bind_is_a_no_op(conn, cleanup):
    ch = conn.channel()
    x = cleanup.exchange(uniq("topic"))
    ch.exchange_declare(x, "topic")
    (q,) = _queues(ch, 1)
    ch.queue_bind(q, x, "a.*")
    ch.queue_bind(q, x, "a.*")
    ch.queue_bind(q, x, "a.#")  # a different binding; still one copy per publish
    ch.basic_publish(x, "a.b", b"once")
    assert bodies(settle(ch, [q])[q]) == [b"once"]
    ch.queue_unbind(q, x, "a.*")
    ch.basic_publish(x, "a.b", b"via a.#")
    ch.queue_unbind(q, x, "a.#")
    ch.basic_publish(x, "a.b", b"unbound")
    assert bodies(settle(ch, [q])[q]) == [b"via a.#"]


# ---- exchange-to-exchange ----------------------------------------------------------------------


def test_exchange_to_exchange_topic_to_headers(conn, cleanup):
    ch = conn.channel()
    topic = cleanup.exchange(uniq("topic"))
    headers = cleanup.exchange(uniq("headers"))
    ch.exchange_declare(topic, "topic")
    ch.exchange_declare(headers, "headers")
    ch.exchange_bind(destination=headers, source=topic, routing_key="calls.#")
    (q,) = _queues(ch, 1)
    ch.queue_bind(q, headers, "", arguments={"name": "call_created"})
    hdr = pika.BasicProperties(headers={"name": "call_created"})
    ch.basic_publish(topic, "calls.call.created", b"routed", hdr)
    ch.basic_publish(topic, "users.created", b"wrong key", hdr)
    ch.basic_publish(topic, "calls.call.ended", b"wrong header",
                     pika.BasicProperties(headers={"name": "call_ended"}))
    got = settle(ch, [q])[q]
    assert bodies(got) == [b"routed"]
    assert got[0][0].exchange == topic  # deliveries name the exchange published to


def test_exchange_to_exchange_unbind(conn, cleanup):
    ch = conn.channel()
    a = cleanup.exchange(uniq("a"))
    b = cleanup.exchange(uniq("b"))
    ch.exchange_declare(a, "fanout")
    ch.exchange_declare(b, "fanout")
    (q,) = _queues(ch, 1)
    ch.queue_bind(q, b)
    ch.exchange_bind(destination=b, source=a)
    ch.basic_publish(a, "", b"bound")
    ch.exchange_unbind(destination=b, source=a)
    ch.exchange_unbind(destination=b, source=a)  # again: Unbind-Ok
    ch.basic_publish(a, "", b"unbound")
    assert bodies(settle(ch, [q])[q]) == [b"bound"]


def test_message_reaches_a_queue_once_via_two_paths(conn, cleanup):
    ch = conn.channel()
    e1, e2, e3 = (cleanup.exchange(uniq(n)) for n in ("e1", "e2", "e3"))
    for x in (e1, e2, e3):
        ch.exchange_declare(x, "fanout")
    (q,) = _queues(ch, 1)
    # diamond e1 -> e2 -> q, e1 -> e3 -> q, plus e1 -> q directly
    ch.exchange_bind(destination=e2, source=e1)
    ch.exchange_bind(destination=e3, source=e1)
    ch.queue_bind(q, e2)
    ch.queue_bind(q, e3)
    ch.queue_bind(q, e1)
    ch.basic_publish(e1, "", b"once")
    assert bodies(settle(ch, [q])[q]) == [b"once"]


def test_exchange_binding_cycle_terminates(conn, cleanup):
    ch = conn.channel()
    e1, e2 = (cleanup.exchange(uniq(n)) for n in ("c1", "c2"))
    ch.exchange_declare(e1, "topic")
    ch.exchange_declare(e2, "fanout")
    ch.exchange_bind(destination=e2, source=e1, routing_key="#")
    ch.exchange_bind(destination=e1, source=e2)
    ch.exchange_bind(destination=e2, source=e2)  # a self-loop too
    q1, q2 = _queues(ch, 2)
    ch.queue_bind(q1, e1, "#")
    ch.queue_bind(q2, e2)
    ch.basic_publish(e1, "a.b", b"from e1")
    ch.basic_publish(e2, "", b"from e2")
    got = settle(ch, [q1, q2])
    assert bodies(got[q1]) == [b"from e1", b"from e2"]
    assert bodies(got[q2]) == [b"from e1", b"from e2"]


def test_exchange_bind_to_missing_exchange(conn, cleanup):
    x = cleanup.exchange(uniq("x"))
    conn.channel().exchange_declare(x, "fanout")
    missing = uniq("missing")
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as exc:
        conn.channel().exchange_bind(destination=missing, source=x)
    assert_channel_closed(exc, 404, f"NOT_FOUND - no exchange '{missing}' in vhost '/'")
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as exc:
        conn.channel().exchange_bind(destination=x, source=missing)
    assert_channel_closed(exc, 404, f"NOT_FOUND - no exchange '{missing}' in vhost '/'")


# ---- headers matching ----------------------------------------------------------------------------


@pytest.fixture
def headers_x(conn, cleanup):
    x = cleanup.exchange(uniq("headers"))
    conn.channel().exchange_declare(x, "headers")
    return x


def _route_headers(ch, x, bindings, messages):
    """bindings: {label: args}; messages: [(label, headers)] -> {binding label: [message labels]}"""
    queues = {}
    for label, args in bindings.items():
        (q,) = _queues(ch, 1)
        ch.queue_bind(q, x, "ignored", arguments=args)
        queues[label] = q
    for label, headers in messages:
        ch.basic_publish(x, "any.key", label.encode(), pika.BasicProperties(headers=headers))
    got = settle(ch, list(queues.values()))
    return {label: [b.decode() for b in bodies(got[q])] for label, q in queues.items()}


def test_headers_x_match_all_and_any(conn, headers_x):
    ch = conn.channel()
    res = _route_headers(ch, headers_x, {
        "all": {"x-match": "all", "a": "1", "b": "2"},
        "default-all": {"a": "1", "b": "2"},
        "any": {"x-match": "any", "a": "1", "b": "2"},
        "all-empty": {"x-match": "all"},
        "any-empty": {"x-match": "any"},
        "all-only-x": {"x-match": "all", "x-internal": True},
        "any-only-x": {"x-match": "any", "x-internal": True},
    }, [
        ("ab", {"a": "1", "b": "2"}),
        ("ab-extra", {"a": "1", "b": "2", "c": "3"}),
        ("a", {"a": "1"}),
        ("a-wrong", {"a": "1", "b": "3"}),
        ("none", None),
        ("empty", {}),
        ("with-x", {"x-internal": True}),
    ])
    assert res["all"] == ["ab", "ab-extra"]
    assert res["default-all"] == ["ab", "ab-extra"]
    assert res["any"] == ["ab", "ab-extra", "a", "a-wrong"]
    # no non-x- args: all matches everything, any matches nothing (x- args are skipped)
    everything = ["ab", "ab-extra", "a", "a-wrong", "none", "empty", "with-x"]
    assert res["all-empty"] == everything
    assert res["any-empty"] == []
    assert res["all-only-x"] == everything
    assert res["any-only-x"] == []


def test_headers_x_args_skipped_webhookd_style(conn, headers_x):
    # wazo-webhookd binds {'name': ..., 'x-internal': True}: the x- key must not be compared
    ch = conn.channel()
    res = _route_headers(ch, headers_x, {
        "webhookd": {"name": "user_created", "x-internal": True},
    }, [
        ("plain", {"name": "user_created"}),
        ("with-x-false", {"name": "user_created", "x-internal": False}),
        ("other", {"name": "user_deleted", "x-internal": True}),
    ])
    assert res["webhookd"] == ["plain", "with-x-false"]


def test_headers_x_match_with_x(conn, headers_x):
    # RabbitMQ 3.10 also has all-with-x / any-with-x, which do compare x- keys
    ch = conn.channel()
    res = _route_headers(ch, headers_x, {
        "all-with-x": {"x-match": "all-with-x", "name": "e", "x-k": "v"},
        "any-with-x": {"x-match": "any-with-x", "x-k": "v"},
    }, [
        ("both", {"name": "e", "x-k": "v"}),
        ("name-only", {"name": "e"}),
        ("x-only", {"x-k": "v"}),
    ])
    assert res["all-with-x"] == ["both"]
    assert res["any-with-x"] == ["both", "x-only"]


def test_headers_invalid_x_match_refused(conn, headers_x):
    (q,) = _queues(conn.channel(), 1)
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as exc:
        conn.channel().queue_bind(q, headers_x, "", arguments={"x-match": "most", "a": 1})
    assert_channel_closed(exc, 406, "PRECONDITION_FAILED - Invalid x-match field value")


def test_headers_boolean_and_void_values(conn, headers_x):
    ch = conn.channel()
    user = "user_uuid:3f0d1c9e-0000-4000-8000-000000000001"
    res = _route_headers(ch, headers_x, {
        "true": {user: True},
        "false": {"flag": False},
        "present": {"required_acl": None},  # void binding value: presence check
        "literal-star": {"user_uuid:*": True},  # no wildcard meaning
    }, [
        ("t", {user: True}),
        ("f", {user: False}),
        ("one", {user: 1}),
        ("str", {user: "true"}),
        ("flag-f", {"flag": False}),
        ("acl-none", {"required_acl": None}),
        ("acl-str", {"required_acl": "events.calls.x"}),
        ("star", {"user_uuid:*": True}),
    ])
    assert res["true"] == ["t"]
    assert res["false"] == ["flag-f"]
    assert res["present"] == ["acl-none", "acl-str"]
    assert res["literal-star"] == ["star"]


def test_headers_string_values(conn, headers_x):
    ch = conn.channel()
    res = _route_headers(ch, headers_x, {
        "name": {"name": "call_created"},
    }, [
        ("S", {"name": "call_created"}),
        ("x-bytes", {"name": b"call_created"}),  # pika sends bytes as type 'x' (byte array)
        ("case", {"name": "Call_Created"}),
        ("prefix", {"name": "call_created2"}),
    ])
    # RabbitMQ 3.10 compares decoded values with ==: a byte array equals the same longstr
    assert res["name"] == ["S", "x-bytes"]


INT_WIDTHS = ["b", "B", "s", "u", "I", "i", "l"]


def test_headers_integers_match_across_widths(broker, conn, headers_x):
    ch = conn.channel()
    (q,) = _queues(ch, 1)
    ch.queue_bind(q, headers_x, "", arguments={"n": 5})  # pika encodes 5 as 'I' (signed 32)
    (q_big,) = _queues(ch, 1)
    ch.queue_bind(q_big, headers_x, "", arguments={"n": 2**40})  # 'l' (signed 64)
    with broker.raw() as r:
        r.handshake()
        r.open_channel(1)
        for kind in INT_WIDTHS:
            r.publish(1, headers_x, "", f"int-{kind}".encode(), {"headers": {"n": R.Typed(kind, 5)}})
        for kind, value in (("f", 5.0), ("d", 5.0), ("S", "5"), ("I", 6), ("t", True)):
            r.publish(1, headers_x, "", f"other-{kind}-{value}".encode(),
                      {"headers": {"n": R.Typed(kind, value)}})
        r.publish(1, headers_x, "", b"big-l", {"headers": {"n": R.Typed("l", 2**40)}})
        r.publish(1, headers_x, "", b"big-L", {"headers": {"n": R.Typed("L", 2**40)}})
        r.publish(1, headers_x, "", b"big-d", {"headers": {"n": R.Typed("d", float(2**40))}})
        r.close_connection()  # close-ok: everything published before it has been routed
    got = settle(ch, [q, q_big])
    # every integer width matches; surprise: RabbitMQ 3.10 compares with Erlang ==, so the floats
    # 5.0 ('f' and 'd') match the integer 5 as well (4.x uses =:=); "5" and true do not
    assert [b.decode() for b in bodies(got[q])] == \
        [f"int-{k}" for k in INT_WIDTHS] + ["other-f-5.0", "other-d-5.0"]
    # 'L' is not in the 0-9-1 errata table; RabbitMQ 3.10 reads it as a 64-bit integer
    assert [b.decode() for b in bodies(got[q_big])] == ["big-l", "big-L", "big-d"]
