"""Exchange semantics: alternate exchanges, internal exchanges, the reserved `amq.` prefix, every
redeclare-equivalence rule, headers-matching corner cases at the wire-type level, deep e2e chains.

Every expectation here was recorded against RabbitMQ 3.10 (tests/rabbitmq-reference.sh)."""

from __future__ import annotations

import time
import uuid

import pika
import pytest

import rawamqp as R
from conftest import assert_channel_closed, bodies, settle, uniq

T = R.Typed


def _queues(ch, n):
    return [ch.queue_declare("", exclusive=True).method.queue for _ in range(n)]


def _returns(ch):
    """Record basic.return on a pika channel: [(reply_code, reply_text, exchange, rk, body)]."""
    got = []
    ch.add_on_return_callback(
        lambda _ch, m, _p, body: got.append((m.reply_code, m.reply_text, m.exchange, m.routing_key,
                                             body)))
    return got


def _dispatch(conn):
    """pika's BlockingChannel queues basic.return events until the connection processes events:
    after a round trip (settle) every return sent before it has been received; dispatch them."""
    conn.process_data_events(time_limit=0)


# ---- alternate exchanges ---------------------------------------------------------------------


def test_alternate_exchange_receives_unroutable_messages(conn, cleanup):
    ch = conn.channel()
    main, ae = cleanup.exchange(uniq("main")), cleanup.exchange(uniq("ae"))
    ch.exchange_declare(ae, "fanout")
    ch.exchange_declare(main, "direct", arguments={"alternate-exchange": ae})
    q, q_ae = _queues(ch, 2)
    ch.queue_bind(q, main, "k")
    ch.queue_bind(q_ae, ae)
    props = pika.BasicProperties(message_id="m-other", headers={"h": "v"})
    ch.basic_publish(main, "k", b"routed")
    ch.basic_publish(main, "other", b"unroutable", props)
    got = settle(ch, [q, q_ae])
    assert bodies(got[q]) == [b"routed"]  # a routed message does not also go to the AE
    assert bodies(got[q_ae]) == [b"unroutable"]
    method, p, _ = got[q_ae][0]
    # the delivery names the exchange and routing key it was published with, not the AE
    assert (method.exchange, method.routing_key) == (main, "other")
    assert p.message_id == "m-other" and p.headers == {"h": "v"}


def test_mandatory_publish_routed_by_the_alternate_exchange_is_not_returned(conn, cleanup):
    ch = conn.channel()
    main, ae = cleanup.exchange(uniq("main")), cleanup.exchange(uniq("ae"))
    ch.exchange_declare(ae, "fanout")
    ch.exchange_declare(main, "direct", arguments={"alternate-exchange": ae})
    (q_ae,) = _queues(ch, 1)
    ch.queue_bind(q_ae, ae)
    returned = _returns(ch)
    ch.confirm_delivery()
    # with confirms a basic.return would precede the ack (pika raises UnroutableError then)
    ch.basic_publish(main, "nobody", b"via the AE", mandatory=True)
    assert returned == []
    assert bodies(settle(ch, [q_ae])[q_ae]) == [b"via the AE"]


def test_alternate_exchange_chain(conn, cleanup):
    ch = conn.channel()
    main, ae1, ae2 = (cleanup.exchange(uniq(n)) for n in ("main", "ae1", "ae2"))
    ch.exchange_declare(ae2, "fanout")
    ch.exchange_declare(ae1, "direct", arguments={"alternate-exchange": ae2})
    ch.exchange_declare(main, "direct", arguments={"alternate-exchange": ae1})
    q_main, q_ae1, q_ae2 = _queues(ch, 3)
    ch.queue_bind(q_main, main, "k")
    ch.queue_bind(q_ae1, ae1, "k2")
    ch.queue_bind(q_ae2, ae2)
    returned = _returns(ch)
    for key in ("k", "k2", "k3"):
        ch.basic_publish(main, key, key.encode(), mandatory=True)
    got = settle(ch, [q_main, q_ae1, q_ae2])
    _dispatch(conn)
    # main routes k; its AE ae1 routes k2 (ae1's own bindings apply); ae1's AE ae2 takes the rest
    assert bodies(got[q_main]) == [b"k"]
    assert bodies(got[q_ae1]) == [b"k2"]
    assert bodies(got[q_ae2]) == [b"k3"]
    assert [(m.exchange, m.routing_key) for m, _, _ in got[q_ae2]] == [(main, "k3")]
    assert returned == []


def test_missing_alternate_exchange_drops_or_returns(conn, cleanup):
    ch = conn.channel()
    main, ae = cleanup.exchange(uniq("main")), cleanup.exchange(uniq("ae-later"))
    # declaring with an AE that does not exist is fine (no 404): it is looked up at publish time
    ch.exchange_declare(main, "direct", arguments={"alternate-exchange": ae})
    returned = _returns(ch)
    ch.basic_publish(main, "k", b"dropped")
    ch.basic_publish(main, "k", b"returned", mandatory=True)
    (probe,) = _queues(ch, 1)
    settle(ch, [probe])  # round trip: the return (if any) precedes the get-ok
    _dispatch(conn)
    assert returned == [(312, "NO_ROUTE", main, "k", b"returned")]
    assert ch.is_open  # a dangling AE is not an error
    # once the AE exists, unroutable messages go there
    ch.exchange_declare(ae, "fanout")
    (q_ae,) = _queues(ch, 1)
    ch.queue_bind(q_ae, ae)
    ch.basic_publish(main, "k", b"now routed")
    assert bodies(settle(ch, [q_ae])[q_ae]) == [b"now routed"]


def test_alternate_exchange_that_routes_nowhere_cycles_or_is_internal(conn, cleanup):
    ch = conn.channel()
    empty_ae, m1 = cleanup.exchange(uniq("empty-ae")), cleanup.exchange(uniq("m1"))
    ch.exchange_declare(empty_ae, "fanout")
    ch.exchange_declare(m1, "direct", arguments={"alternate-exchange": empty_ae})
    loop = cleanup.exchange(uniq("self-ae"))
    ch.exchange_declare(loop, "direct", arguments={"alternate-exchange": loop})  # AE = itself
    internal_ae, m2 = cleanup.exchange(uniq("internal-ae")), cleanup.exchange(uniq("m2"))
    ch.exchange_declare(internal_ae, "fanout", internal=True)
    ch.exchange_declare(m2, "direct", arguments={"alternate-exchange": internal_ae})
    (q_int,) = _queues(ch, 1)
    ch.queue_bind(q_int, internal_ae)
    returned = _returns(ch)
    ch.basic_publish(m1, "k", b"AE has no bindings", mandatory=True)
    ch.basic_publish(loop, "k", b"AE cycle", mandatory=True)
    ch.basic_publish(m2, "k", b"internal AE", mandatory=True)
    got = settle(ch, [q_int])
    _dispatch(conn)
    # an AE that routes nowhere (or a cycle of AEs) is just unroutable: returned, nothing hangs
    assert returned == [(312, "NO_ROUTE", m1, "k", b"AE has no bindings"),
                        (312, "NO_ROUTE", loop, "k", b"AE cycle")]
    # an internal exchange can serve as an AE (only direct publishes to it are refused)
    assert bodies(got[q_int]) == [b"internal AE"]


# ---- internal exchanges ------------------------------------------------------------------------


def test_publish_to_internal_exchange_is_refused(conn, cleanup):
    x = cleanup.exchange(uniq("internal"))
    ch = conn.channel()
    ch.exchange_declare(x, "fanout", internal=True)
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as exc:
        ch.basic_publish(x, "", b"refused")
        ch.queue_declare("", exclusive=True)  # the close arrives before this one's answer
    assert_channel_closed(exc, 403,
                          f"ACCESS_REFUSED - cannot publish to internal exchange '{x}' in vhost '/'")
    assert conn.channel().is_open


def test_exchange_binding_through_an_internal_exchange_routes(conn, cleanup):
    ch = conn.channel()
    public, internal = cleanup.exchange(uniq("public")), cleanup.exchange(uniq("internal"))
    ch.exchange_declare(public, "topic")
    ch.exchange_declare(internal, "direct", internal=True)
    ch.exchange_bind(destination=internal, source=public, routing_key="calls.#")
    (q,) = _queues(ch, 1)
    ch.queue_bind(q, internal, "calls.created")
    ch.basic_publish(public, "calls.created", b"through")
    ch.basic_publish(public, "calls.ended", b"filtered by the internal direct exchange")
    got = settle(ch, [q])[q]
    assert bodies(got) == [b"through"]
    assert got[0][0].exchange == public


# ---- amq.* -------------------------------------------------------------------------------------


def test_amq_prefix_is_reserved_for_new_exchanges(conn):
    name = f"amq.warren-test.{uuid.uuid4().hex[:8]}"
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as exc:
        conn.channel().exchange_declare(name, "direct")
    assert_channel_closed(exc, 403,
                          f"ACCESS_REFUSED - exchange name '{name}' contains reserved prefix 'amq.*'")
    # passive declare is only a lookup: 404, not 403
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as exc:
        conn.channel().exchange_declare(name, passive=True)
    assert_channel_closed(exc, 404, f"NOT_FOUND - no exchange '{name}' in vhost '/'")
    # redeclaring a predeclared amq.* exchange with its own properties is fine ...
    ch = conn.channel()
    ch.exchange_declare("amq.direct", "direct", durable=True)
    ch.exchange_declare("amq.topic", "topic", durable=True)
    # ... with other properties it is the usual equivalence error, not the prefix one
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as exc:
        conn.channel().exchange_declare("amq.direct", "direct", durable=False)
    assert_channel_closed(
        exc, 406, "PRECONDITION_FAILED - inequivalent arg 'durable' for exchange 'amq.direct' in "
                  "vhost '/': received 'false' but current is 'true'")


def test_delete_of_amq_exchanges_is_refused(conn):
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as exc:
        conn.channel().exchange_delete("amq.direct")
    assert_channel_closed(
        exc, 403, "ACCESS_REFUSED - deletion of system exchange 'amq.direct' in vhost '/' not allowed")
    # surprise: the check is on the name alone, so deleting an amq.* that does not exist is a 403
    # too (deleting any other missing exchange is Delete-Ok)
    missing = f"amq.warren-test.{uuid.uuid4().hex[:8]}"
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as exc:
        conn.channel().exchange_delete(missing)
    assert_channel_closed(
        exc, 403, f"ACCESS_REFUSED - deletion of system exchange '{missing}' in vhost '/' not allowed")
    conn.channel().exchange_declare("amq.direct", passive=True)  # still there


# ---- redeclare equivalence ---------------------------------------------------------------------


def test_redeclare_equivalence_every_rule(conn, cleanup):
    x, ae = cleanup.exchange(uniq("equiv")), cleanup.exchange(uniq("ae"))
    base = dict(exchange_type="fanout", durable=False, auto_delete=False, internal=False)
    args = {"alternate-exchange": ae, "x-other": 1}
    conn.channel().exchange_declare(x, arguments=args, **base)

    def refused(text_tail, arguments=args, **changes):
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as exc:
            conn.channel().exchange_declare(x, arguments=arguments, **dict(base, **changes))
        assert_channel_closed(exc, 406, "PRECONDITION_FAILED - inequivalent arg " + text_tail)

    where = f"for exchange '{x}' in vhost '/'"
    refused(f"'type' {where}: received 'direct' but current is 'fanout'", exchange_type="direct")
    refused(f"'durable' {where}: received 'true' but current is 'false'", durable=True)
    refused(f"'auto_delete' {where}: received 'true' but current is 'false'", auto_delete=True)
    refused(f"'internal' {where}: received 'true' but current is 'false'", internal=True)
    refused(f"'alternate-exchange' {where}: received none but current is the value '{ae}' of "
            "type 'longstr'", arguments={})
    refused(f"'alternate-exchange' {where}: received 'other-ae' but current is '{ae}'",
            arguments={"alternate-exchange": "other-ae"})
    # other arguments are not compared at all: changed, added or dropped, still Declare-Ok
    ch = conn.channel()
    ch.exchange_declare(x, arguments={"alternate-exchange": ae, "x-other": "changed", "new": 2},
                        **base)
    ch.exchange_declare(x, arguments={"alternate-exchange": ae}, **base)
    # the AE compares by value across string types: pika sends bytes as 'x' (byte array)
    ch.exchange_declare(x, arguments={"alternate-exchange": ae.encode()}, **base)
    # passive ignores everything
    ch.exchange_declare(x, "direct", passive=True, durable=True)
    # and an exchange without an AE refuses a redeclare that adds one
    plain = cleanup.exchange(uniq("no-ae"))
    ch.exchange_declare(plain, "fanout")
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as exc:
        conn.channel().exchange_declare(plain, "fanout", arguments={"alternate-exchange": ae})
    assert_channel_closed(
        exc, 406, f"PRECONDITION_FAILED - inequivalent arg 'alternate-exchange' for exchange "
                  f"'{plain}' in vhost '/': received the value '{ae}' of type 'longstr' but "
                  "current is none")


# ---- headers matching at the wire-type level (raw frames) --------------------------------------


def _raw_route_headers(broker, bindings, messages):
    """Declare a headers exchange, bind one exclusive queue per binding (typed args), publish the
    messages (typed headers), and return {binding label: [message labels]} (all raw frames)."""
    x = uniq("headers-raw")
    with broker.raw() as r:
        r.handshake()
        r.open_channel(1)
        r.send_method(1, R.EXCHANGE_DECLARE, b"\x00\x00" + R.shortstr(x) + R.shortstr("headers")
                      + b"\x00" + R.encode_table({}))
        r.expect_method((40, 11), 1)
        queues = {}
        try:
            for label, args in bindings.items():
                q, _, _ = r.queue_declare(1, "", exclusive=True)
                r.send_method(1, (50, 20), b"\x00\x00" + R.shortstr(q) + R.shortstr(x)
                              + R.shortstr("") + b"\x00" + R.encode_table(args))
                r.expect_method((50, 21), 1)
                queues[label] = q
            for label, headers in messages:
                r.publish(1, x, "", label.encode(), {"headers": headers})
            out = {}
            for label, q in queues.items():
                # settle, raw: a marker published after the messages comes out after them
                marker = uuid.uuid4().hex
                r.publish(1, "", q, b"", {"message_id": marker})
                got, deadline = [], time.monotonic() + 5
                while True:
                    g = r.basic_get(1, q)
                    if g is None:
                        assert time.monotonic() < deadline, f"marker never reached {label}"
                        time.sleep(0.01)
                        continue
                    if g[5].get("message_id") == marker:
                        break
                    got.append(g[6].decode())
                out[label] = got
        finally:
            r.send_method(1, (40, 20), b"\x00\x00" + R.shortstr(x) + b"\x00")
            r.expect_method((40, 21), 1)
            r.close_connection()
    return out


def test_headers_integer_signedness_and_width(broker):
    res = _raw_route_headers(broker, {
        "B255": {"n": T("B", 255)},          # unsigned 8-bit 255
        "i4e9": {"n": T("i", 4000000000)},   # unsigned 32-bit
        "I5": {"n": T("I", 5)},
        "T5": {"n": T("T", 5)},              # a timestamp is an integer too
    }, [
        ("b-1", {"n": T("b", -1)}),          # same bits as B 255, other value
        ("B255", {"n": T("B", 255)}),
        ("u255", {"n": T("u", 255)}),
        ("l4e9", {"n": T("l", 4000000000)}),
        ("I-wrapped", {"n": T("I", 4000000000 - 2**32)}),  # same 32 bits as i 4e9
        ("b5", {"n": T("b", 5)}),
        ("T5", {"n": T("T", 5)}),
        ("t-true", {"n": T("t", True)}),
    ])
    # values compare as numbers, whatever the width or signedness of the encoding; the bit
    # pattern does not matter
    assert res["B255"] == ["B255", "u255"]
    assert res["i4e9"] == ["l4e9"]
    assert res["I5"] == ["b5", "T5"]
    assert res["T5"] == ["b5", "T5"]


def test_headers_void_values(broker):
    res = _raw_route_headers(broker, {
        "void": {"n": T("V", None)},               # presence test
        "empty-string": {"n": T("S", b"")},
        "void-any": {"x-match": "any", "n": T("V", None), "m": T("I", 1)},
    }, [
        ("V", {"n": T("V", None)}),
        ("S-empty", {"n": T("S", b"")}),
        ("I0", {"n": T("I", 0)}),
        ("absent", {"other": T("V", None)}),
        ("m1", {"m": T("I", 1)}),
    ])
    assert res["void"] == ["V", "S-empty", "I0"]  # any value, even void, but the key must be there
    assert res["empty-string"] == ["S-empty"]     # void is not the empty string
    assert res["void-any"] == ["V", "S-empty", "I0", "m1"]


def test_headers_arrays_and_nested_tables_compare_exactly(broker):
    res = _raw_route_headers(broker, {
        "array": {"n": T("A", [T("I", 1), T("I", 2)])},
        "table": {"n": T("F", {"a": T("I", 1), "b": T("S", b"x")})},
        "decimal": {"n": T("D", (1, 50))},
        "bytes": {"n": T("x", b"ab")},
    }, [
        ("A12", {"n": T("A", [T("I", 1), T("I", 2)])}),
        ("A21", {"n": T("A", [T("I", 2), T("I", 1)])}),
        ("A12-b", {"n": T("A", [T("b", 1), T("b", 2)])}),
        ("A1", {"n": T("A", [T("I", 1)])}),
        ("F", {"n": T("F", {"a": T("I", 1), "b": T("S", b"x")})}),
        ("F-reordered", {"n": T("F", {"b": T("S", b"x"), "a": T("I", 1)})}),
        ("F-b", {"n": T("F", {"a": T("b", 1), "b": T("S", b"x")})}),
        ("F-x", {"n": T("F", {"a": T("I", 1), "b": T("x", b"x")})}),
        ("D50", {"n": T("D", (1, 50))}),
        ("D500", {"n": T("D", (2, 500))}),
        ("S-ab", {"n": T("S", b"ab")}),
    ])
    # Surprise (RabbitMQ 3.10 compares the decoded Erlang terms with ==): at the top level an
    # integer matches any integer type, but inside arrays and tables each element keeps its type
    # tag, so [b 1, b 2] != [I 1, I 2]; arrays are ordered; nested tables are NOT sorted, so the
    # same keys in another order do not match; inside a table 'x' and 'S' differ too.
    assert res["array"] == ["A12"]
    assert res["table"] == ["F"]
    # a decimal is (scale, unscaled): 5.0 written as (1, 50) is not (2, 500)
    assert res["decimal"] == ["D50"]
    # at the top level a byte array equals the same long string
    assert res["bytes"] == ["S-ab"]


# ---- deep exchange-to-exchange chains --------------------------------------------------------


def _chain(ch, cleanup, n=10):
    """e0 -> e1 -> ... -> e(n-1) of mixed types; every hop passes routing key 'a.b' with header
    hdr=yes."""
    kinds = ["direct", "topic", "fanout", "headers"]
    names = [cleanup.exchange(uniq(f"chain{i}")) for i in range(n)]
    for i, x in enumerate(names):
        ch.exchange_declare(x, kinds[i % 4])
    for i in range(n - 1):
        src, dst, kind = names[i], names[i + 1], kinds[i % 4]
        if kind == "direct":
            ch.exchange_bind(destination=dst, source=src, routing_key="a.b")
        elif kind == "topic":
            ch.exchange_bind(destination=dst, source=src, routing_key="a.*")
        elif kind == "fanout":
            ch.exchange_bind(destination=dst, source=src)
        else:
            ch.exchange_bind(destination=dst, source=src, arguments={"hdr": "yes"})
    return names


def test_deep_chain_of_ten_exchanges(conn, cleanup):
    ch = conn.channel()
    chain = _chain(ch, cleanup)
    (q,) = _queues(ch, 1)
    ch.queue_bind(q, chain[-1], "a.b")  # chain[9] is a topic exchange
    yes = pika.BasicProperties(headers={"hdr": "yes"})
    ch.basic_publish(chain[0], "a.b", b"all the way", yes)
    ch.basic_publish(chain[0], "a.c", b"stopped at hop 0 (direct)", yes)
    ch.basic_publish(chain[0], "a.b", b"stopped at a headers hop",
                     pika.BasicProperties(headers={"hdr": "no"}))
    ch.basic_publish(chain[5], "a.b", b"from the middle", yes)
    got = settle(ch, [q])[q]
    assert bodies(got) == [b"all the way", b"from the middle"]
    assert [m.exchange for m, _, _ in got] == [chain[0], chain[5]]


def test_queue_reached_by_chain_and_direct_binding_gets_one_copy(conn, cleanup):
    ch = conn.channel()
    chain = _chain(ch, cleanup)
    (q,) = _queues(ch, 1)
    # bound at the start, in the middle and at the end of the chain: one message, one copy
    ch.queue_bind(q, chain[0], "a.b")
    ch.queue_bind(q, chain[4], "a.b")
    ch.queue_bind(q, chain[-1], "a.b")
    ch.basic_publish(chain[0], "a.b", b"once", pika.BasicProperties(headers={"hdr": "yes"}))
    assert bodies(settle(ch, [q])[q]) == [b"once"]


def test_unbinding_what_does_not_exist_is_ok(conn):
    # RabbitMQ 3.x answers unbind-ok when the binding, the queue, or either exchange is missing
    # (binding *to* something missing is 404, see test_exchanges).
    ch = conn.channel()
    q = ch.queue_declare("", exclusive=True).method.queue
    x = uniq("x")
    ch.exchange_declare(x, "direct", auto_delete=False)
    try:
        ch.queue_unbind(q, uniq("missing-exchange"), "k")
        ch.queue_unbind(uniq("missing-queue"), x, "k")
        ch.exchange_unbind(destination=uniq("missing-destination"), source=x, routing_key="k")
        ch.exchange_unbind(destination=x, source=uniq("missing-source"), routing_key="k")
        assert ch.is_open
    finally:
        ch.exchange_delete(x)
