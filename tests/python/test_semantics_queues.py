"""Queue semantics: message TTL corners, per-message expiration, max-length / max-length-bytes and
overflow modes, dead-lettering with x-death, priority queues, single active consumer, argument
validation, exclusive-queue locking, auto-delete, and consumer cancellation on queue deletion.

Every expectation here was recorded against RabbitMQ 3.10 (tests/rabbitmq-reference.sh).

Bounded queues (max-length, TTL 0) would drop settle()'s marker too, so those tests publish on a
channel in confirm mode (the ack means the queue has taken or dropped the message) and then drain
with basic.get until get-empty."""

from __future__ import annotations

import datetime
import struct
import time

import pika
import pytest

import rawamqp as R
from conftest import (Collector, assert_channel_closed, bodies, counts, get_one, queue_exists,
                      settle, uniq, wait_for)


def _queue(ch, **arguments):
    return ch.queue_declare("", exclusive=True, arguments=arguments or None).method.queue


def _dead_letter_to(sink):
    return {"x-dead-letter-exchange": "", "x-dead-letter-routing-key": sink}


def _drain(ch, q) -> list[tuple]:
    out = []
    while True:
        method, props, body = ch.basic_get(q, auto_ack=True)
        if method is None:
            return out
        out.append((method, props, body))


def _confirming(conn):
    ch = conn.channel()
    ch.confirm_delivery()
    return ch


def _get_n(ch, q, n, timeout=5.0):
    """n messages from a queue fed asynchronously (dead-lettering), then check nothing else came."""
    got = [get_one(ch, q, timeout=timeout) for _ in range(n)]
    assert settle(ch, [q])[q] == []
    return got


# ---- TTL and expiration ----------------------------------------------------------------------


def test_ttl_zero_expires_unless_a_consumer_is_waiting(conn):
    pub = _confirming(conn)
    sink = _queue(pub)
    q = _queue(pub, **{"x-message-ttl": 0}, **_dead_letter_to(sink))
    # no consumer: expired on arrival
    pub.basic_publish("", q, b"nobody waiting")
    assert pub.basic_get(q) == (None, None, None)
    ((_, props, body),) = _get_n(pub, sink, 1)
    assert body == b"nobody waiting"
    assert props.headers["x-death"][0]["reason"] == "expired"
    # a consumer with credit: delivered
    cch = conn.channel()
    cch.basic_qos(prefetch_count=1)
    collector = Collector(cch)
    cch.basic_consume(q, collector, auto_ack=False)
    pub.basic_publish("", q, b"delivered")
    pub.basic_publish("", q, b"consumer busy")  # consumer at its prefetch limit: expires
    collector.until(conn, lambda: len(collector.deliveries) == 1)
    ((_, props, body),) = _get_n(pub, sink, 1)
    assert body == b"consumer busy"
    cch.basic_ack(collector.deliveries[0][0].delivery_tag)
    conn.process_data_events(time_limit=0.05)
    assert bodies(collector.deliveries) == [b"delivered"]


def test_requeued_message_keeps_its_original_ttl(conn):
    ch = conn.channel()
    sink = _queue(ch)
    q = _queue(ch, **{"x-message-ttl": 200}, **_dead_letter_to(sink))
    ch.basic_publish("", q, b"old")
    method, _, _ = get_one(ch, q, auto_ack=False)
    time.sleep(0.3)  # past its TTL while unacked (unacked messages do not expire)
    ch.basic_nack(method.delivery_tag, requeue=True)
    # back in the queue it is already expired: it does not get a fresh TTL
    ((_, props, body),) = _get_n(ch, sink, 1)
    assert body == b"old"
    assert props.headers["x-death"][0]["reason"] == "expired"
    assert ch.basic_get(q) == (None, None, None)


def test_per_message_expiration(conn):
    ch = conn.channel()
    sink = _queue(ch)
    q = _queue(ch, **_dead_letter_to(sink))
    ch.basic_publish("", q, b"200ms", pika.BasicProperties(expiration="200"))
    ch.basic_publish("", q, b"zero", pika.BasicProperties(expiration="0"))
    ch.basic_publish("", q, b"day", pika.BasicProperties(expiration="86400000"))
    start = time.monotonic()
    got = _get_n(ch, sink, 2)
    assert time.monotonic() - start >= 0.15
    # "0" expires at once, "200" after 200 ms; the dead-lettered copy loses its expiration
    # property, which x-death keeps as original-expiration
    assert sorted(bodies(got)) == [b"200ms", b"zero"]
    by_body = {b: p for _, p, b in got}
    assert by_body[b"200ms"].expiration is None
    assert by_body[b"200ms"].headers["x-death"][0]["original-expiration"] == "200"
    assert by_body[b"200ms"].headers["x-death"][0]["reason"] == "expired"
    assert by_body[b"zero"].headers["x-death"][0]["original-expiration"] == "0"
    (m,) = _drain(ch, q)
    assert m[2] == b"day" and m[1].expiration == "86400000"


def test_per_message_expiration_only_applies_at_the_head(conn):
    # RabbitMQ only expires per-message TTLs when they reach the head of the queue (documented):
    # an expired message behind a live one is still counted and goes when the head moves
    ch = conn.channel()
    sink = _queue(ch)
    q = _queue(ch, **_dead_letter_to(sink))
    ch.basic_publish("", q, b"no ttl")
    ch.basic_publish("", q, b"short", pika.BasicProperties(expiration="20"))
    time.sleep(0.2)
    wait_for(lambda: counts(ch, q) == (2, 0), what="both still counted")
    assert bodies(settle(ch, [sink])[sink]) == []
    assert get_one(ch, q)[2] == b"no ttl"
    assert get_one(ch, sink)[2] == b"short"  # expired once it became the head
    assert ch.basic_get(q) == (None, None, None)


@pytest.mark.parametrize("expiration,detail", [
    ("abc", "no_integer"),
    ("", "no_integer"),
    ("-1", "{value_negative,-1}"),
    ("1.5", '{leftover_string,".5"}'),
], ids=["abc", "empty", "negative", "fraction"])
def test_invalid_expiration_closes_the_channel(conn, expiration, detail):
    ch = conn.channel()
    q = _queue(ch)
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as exc:
        ch.basic_publish("", q, b"x", pika.BasicProperties(expiration=expiration))
        ch.queue_declare(q, passive=True)  # the close arrives before this one's answer
    # the text ends with an Erlang term
    assert_channel_closed(exc, 406,
                          f"PRECONDITION_FAILED - invalid expiration '{expiration}': {detail}")
    assert conn.channel().is_open


# ---- max-length and overflow -----------------------------------------------------------------


def test_max_length_drops_the_oldest(conn):
    ch = _confirming(conn)
    sink = _queue(ch)
    q = _queue(ch, **{"x-max-length": 2}, **_dead_letter_to(sink))
    for i in range(5):
        ch.basic_publish("", q, b"%d" % i)  # every publish is acked (drop-head is the default)
    assert bodies(_drain(ch, q)) == [b"3", b"4"]
    dropped = _get_n(ch, sink, 3)
    assert bodies(dropped) == [b"0", b"1", b"2"]
    assert {p.headers["x-death"][0]["reason"] for _, p, _ in dropped} == {"maxlen"}


def test_max_length_bytes_counts_body_bytes(conn):
    ch = _confirming(conn)
    q = _queue(ch, **{"x-max-length-bytes": 10})
    big_headers = pika.BasicProperties(headers={"pad": "x" * 500})  # headers do not count
    for body in (b"aaaa", b"bbbb", b"cccc", b"", b"dd"):
        ch.basic_publish("", q, body, big_headers)
    assert bodies(_drain(ch, q)) == [b"bbbb", b"cccc", b"", b"dd"]  # 10 bytes
    q2 = _queue(ch, **{"x-max-length-bytes": 3})
    ch.basic_publish("", q2, b"12345")  # bigger than the limit on its own: dropped at once
    assert _drain(ch, q2) == []


def test_overflow_reject_publish_nacks_with_confirms(conn):
    ch = _confirming(conn)
    sink = _queue(ch)
    q = _queue(ch, **{"x-max-length": 2, "x-overflow": "reject-publish"}, **_dead_letter_to(sink))
    ch.basic_publish("", q, b"0")
    ch.basic_publish("", q, b"1")
    with pytest.raises(pika.exceptions.NackError):
        ch.basic_publish("", q, b"refused")
    assert ch.is_open
    assert bodies(_drain(ch, q)) == [b"0", b"1"]  # the head stays
    ch.basic_publish("", q, b"room again")  # acked
    assert bodies(_drain(ch, q)) == [b"room again"]
    assert settle(ch, [sink])[sink] == []  # reject-publish does not dead-letter


def test_overflow_reject_publish_without_confirms_drops_silently(conn):
    ch = conn.channel()
    sink = _queue(ch)
    q = _queue(ch, **{"x-max-length": 2, "x-overflow": "reject-publish"}, **_dead_letter_to(sink))
    returned = []
    ch.add_on_return_callback(lambda *a: returned.append(a))
    for i in range(4):
        ch.basic_publish("", q, b"%d" % i, mandatory=True)
    # same channel: basic.get is handled after the publishes
    assert bodies(_drain(ch, q)) == [b"0", b"1"]
    assert settle(ch, [sink])[sink] == []
    conn.process_data_events(time_limit=0)
    assert returned == []  # routed, just refused by the queue: no basic.return
    assert ch.is_open


def test_overflow_reject_publish_dlx_dead_letters_the_refused(conn):
    ch = _confirming(conn)
    sink = _queue(ch)
    q = _queue(ch, **{"x-max-length": 1, "x-overflow": "reject-publish-dlx"},
               **_dead_letter_to(sink))
    ch.basic_publish("", q, b"kept")
    with pytest.raises(pika.exceptions.NackError):
        ch.basic_publish("", q, b"refused")
    assert bodies(_drain(ch, q)) == [b"kept"]
    ((_, props, body),) = _get_n(ch, sink, 1)
    assert body == b"refused"
    death = props.headers["x-death"][0]
    assert (death["reason"], death["queue"], death["count"]) == ("maxlen", q, 1)


# ---- dead-lettering ---------------------------------------------------------------------------


def test_dead_letter_on_reject_and_nack(conn, cleanup):
    ch = conn.channel()
    dlx = cleanup.exchange(uniq("dlx"))
    ch.exchange_declare(dlx, "direct")
    sink, sink_orig = _queue(ch), _queue(ch)
    ch.queue_bind(sink, dlx, "dead")
    key = uniq("orig-key")  # amq.direct is shared with other tests: a key of our own
    ch.queue_bind(sink_orig, dlx, key)
    q = _queue(ch, **{"x-dead-letter-exchange": dlx, "x-dead-letter-routing-key": "dead"})
    q_keep_key = _queue(ch, **{"x-dead-letter-exchange": dlx})  # no routing key: the original
    ch.queue_bind(q, "amq.direct", key)
    ch.queue_bind(q_keep_key, "amq.direct", key)
    props = pika.BasicProperties(message_id="m1", headers={"app": "kept"})
    ch.basic_publish("amq.direct", key, b"dl", props)
    before = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    m1, _, _ = get_one(ch, q, auto_ack=False)
    m2, _, _ = get_one(ch, q_keep_key, auto_ack=False)
    ch.basic_reject(m1.delivery_tag, requeue=False)
    ch.basic_nack(m2.delivery_tag, requeue=False)
    (method, got, body), = _get_n(ch, sink, 1)
    assert body == b"dl" and got.message_id == "m1"
    # the delivery names the DLX and the dead-letter routing key
    assert (method.exchange, method.routing_key) == (dlx, "dead")
    assert got.headers["app"] == "kept"
    (death,) = got.headers["x-death"]
    assert death["count"] == 1
    assert death["reason"] == "rejected"
    assert death["queue"] == q
    assert death["exchange"] == "amq.direct"
    assert death["routing-keys"] == [key]
    assert abs((death["time"] - before).total_seconds()) < 60
    assert got.headers["x-first-death-reason"] == "rejected"
    assert got.headers["x-first-death-queue"] == q
    assert got.headers["x-first-death-exchange"] == "amq.direct"
    # basic.nack dead-letters as "rejected" too, with the original routing key kept
    (method, got, body), = _get_n(ch, sink_orig, 1)
    assert (method.exchange, method.routing_key) == (dlx, key)
    assert got.headers["x-death"][0]["reason"] == "rejected"
    assert got.headers["x-death"][0]["queue"] == q_keep_key
    # requeue=true does not dead-letter
    ch.basic_publish("", q, b"requeued")
    m, _, _ = get_one(ch, q, auto_ack=False)
    ch.basic_reject(m.delivery_tag, requeue=True)
    assert bodies(settle(ch, [sink])[sink]) == []
    assert get_one(ch, q)[2] == b"requeued"


def test_dead_letter_on_ttl_expiry(conn):
    ch = conn.channel()
    sink = _queue(ch)
    q = _queue(ch, **{"x-message-ttl": 50}, **_dead_letter_to(sink))
    ch.basic_publish("", q, b"expires", pika.BasicProperties(headers={"k": 1}))
    (method, props, body), = _get_n(ch, sink, 1)
    assert (body, method.routing_key) == (b"expires", sink)
    death = props.headers["x-death"][0]
    assert (death["reason"], death["queue"], death["exchange"], death["routing-keys"]) == \
        ("expired", q, "", [q])
    assert "original-expiration" not in death  # only for a per-message expiration
    assert props.headers["x-first-death-reason"] == "expired"


def test_dead_letter_on_max_length_drop_head(conn):
    ch = _confirming(conn)
    sink = _queue(ch)
    q = _queue(ch, **{"x-max-length": 1}, **_dead_letter_to(sink))
    ch.basic_publish("", q, b"first")
    ch.basic_publish("", q, b"second")
    (_, props, body), = _get_n(ch, sink, 1)
    assert body == b"first"
    assert props.headers["x-death"][0]["reason"] == "maxlen"
    assert props.headers["x-first-death-reason"] == "maxlen"
    assert bodies(_drain(ch, q)) == [b"second"]


def test_x_death_count_increments_in_a_cycle(conn):
    # a -> (reject) -> b -> (expire) -> a -> ... ; each death updates the entry of its
    # (queue, reason) and moves it to the front; x-first-death-* never change
    ch = conn.channel()
    a, b = uniq("cycle-a"), uniq("cycle-b")
    ch.queue_declare(a, exclusive=True, arguments=_dead_letter_to(b))
    ch.queue_declare(b, exclusive=True, arguments={"x-message-ttl": 20, **_dead_letter_to(a)})
    start = uniq("start")  # amq.direct is shared with other tests: a key of our own
    ch.queue_bind(a, "amq.direct", start)
    ch.basic_publish("amq.direct", start, b"cycling")
    for rnd in range(1, 4):
        method, props, _ = get_one(ch, a, auto_ack=False)
        if rnd == 1:
            assert (method.exchange, method.routing_key) == ("amq.direct", start)
            assert "x-death" not in (props.headers or {})
        else:
            assert (method.exchange, method.routing_key) == ("", a)
            deaths = props.headers["x-death"]
            assert [(d["queue"], d["reason"], d["count"]) for d in deaths] == \
                [(b, "expired", rnd - 1), (a, "rejected", rnd - 1)]
            # an entry keeps the exchange and routing keys of its first death
            assert (deaths[1]["exchange"], deaths[1]["routing-keys"]) == ("amq.direct", [start])
            assert (deaths[0]["exchange"], deaths[0]["routing-keys"]) == ("", [b])
            assert props.headers["x-first-death-queue"] == a
            assert props.headers["x-first-death-reason"] == "rejected"
            assert props.headers["x-first-death-exchange"] == "amq.direct"
        ch.basic_reject(method.delivery_tag, requeue=False)
    # a cycle with no rejection in it (expiry -> itself) is detected and the message dropped
    c = uniq("self-expire")
    ch.queue_declare(c, exclusive=True,
                     arguments={"x-message-ttl": 10, "x-dead-letter-exchange": ""})
    confirming = _confirming(conn)
    confirming.basic_publish("", c, b"loops once")  # acked: it is in the queue
    wait_for(lambda: counts(ch, c) == (0, 0), what="expiry")
    # were it to loop, it would be back in the queue most of the time: sample for 100 ms
    deadline = time.monotonic() + 0.1
    while time.monotonic() < deadline:
        assert counts(ch, c) == (0, 0)
        time.sleep(0.01)
    assert ch.basic_get(c) == (None, None, None)
    assert get_one(ch, a, auto_ack=True)[2] == b"cycling"


def test_x_death_wire_types(broker):
    # clients read these with exact types: count is a signed 64-bit 'l', time a timestamp 'T',
    # strings longstr 'S', routing-keys an array of 'S'
    with broker.raw() as r:
        r.handshake()
        r.open_channel(1)
        sink, _, _ = r.queue_declare(1, "", exclusive=True)
        r.send_method(1, R.QUEUE_DECLARE, b"\x00\x00" + R.shortstr("") + bytes([4])
                      + R.encode_table(_dead_letter_to(sink)))
        q = r.expect_method(R.QUEUE_DECLARE_OK, 1).args().shortstr()
        r.publish(1, "", q, b"typed")
        got = None
        deadline = time.monotonic() + 5
        while got is None and time.monotonic() < deadline:
            got = r.basic_get(1, q, no_ack=False)
        assert got is not None
        r.send_method(1, (60, 90), struct.pack(">Q", got[0]) + b"\x00")  # reject requeue=false
        dead = None
        while dead is None and time.monotonic() < deadline:
            dead = r.basic_get(1, sink)
        assert dead is not None
        headers = dead[5]["headers"]
        (death,) = headers["x-death"].value
        death = death.value
        assert death["count"] == R.Typed("l", 1)
        assert death["reason"] == R.Typed("S", b"rejected")
        assert death["queue"] == R.Typed("S", q.encode())
        assert death["exchange"] == R.Typed("S", b"")
        assert death["routing-keys"] == R.Typed("A", [R.Typed("S", q.encode())])
        assert death["time"].kind == "T"
        assert headers["x-death"].kind == "A" and headers["x-death"].value[0].kind == "F"
        for key in ("x-first-death-reason", "x-first-death-queue", "x-first-death-exchange"):
            assert headers[key].kind == "S", key
        r.close_connection()


# ---- priorities, single active consumer --------------------------------------------------------


def test_priority_queue(conn):
    ch = _confirming(conn)
    q = _queue(ch, **{"x-max-priority": 5})
    for body, priority in [(b"none", None), (b"p1", 1), (b"p5", 5), (b"p9", 9), (b"p3", 3),
                           (b"p255", 255), (b"p5-again", 5), (b"p0", 0)]:
        ch.basic_publish("", q, body, pika.BasicProperties(priority=priority))
    got = _drain(ch, q)
    # highest first; above the maximum counts as the maximum (FIFO among them); no priority = 0;
    # the property itself is delivered unchanged
    assert bodies(got) == [b"p5", b"p9", b"p255", b"p5-again", b"p3", b"p1", b"none", b"p0"]
    assert [p.priority for _, p, _ in got] == [5, 9, 255, 5, 3, 1, None, 0]


def test_single_active_consumer(conn):
    pub = conn.channel()
    q = _queue(pub, **{"x-single-active-consumer": True})
    a, b = conn.channel(), conn.channel()
    ca, cb = Collector(a), Collector(b)
    tag_a = a.basic_consume(q, ca, auto_ack=False)
    b.basic_consume(q, cb, auto_ack=False)
    for i in range(4):
        pub.basic_publish("", q, b"%d" % i)
    ca.until(conn, lambda: len(ca.deliveries) == 4)
    assert cb.deliveries == []
    wait_for(lambda: counts(pub, q) == (0, 2), what="both consumers registered")
    a.basic_ack(3, multiple=True)  # "3" stays unacked on a
    a.basic_cancel(tag_a)
    pub.basic_publish("", q, b"4")
    a.basic_nack(4, requeue=True)  # a's unacked message goes back: to b now
    cb.until(conn, lambda: len(cb.deliveries) == 2)
    assert sorted(bodies(cb.deliveries)) == [b"3", b"4"]
    assert len(ca.deliveries) == 4


@pytest.mark.parametrize("args,detail", [
    ({"x-max-length": -1}, "{value_negative,-1}"),
    ({"x-max-length": "5"}, '"expected integer, got longstr"'),
    ({"x-max-length-bytes": -1}, "{value_negative,-1}"),
    ({"x-overflow": "bogus"}, "invalid_overflow"),
    ({"x-max-priority": 300}, "{max_value_exceeded,300}"),
    ({"x-max-priority": -1}, "{value_negative,-1}"),
    ({"x-message-ttl": "abc"}, '"expected integer, got longstr"'),
    ({"x-message-ttl": -1}, "{value_negative,-1}"),
    ({"x-expires": 0}, "{value_zero,0}"),
    ({"x-single-active-consumer": "yes"}, "{unacceptable_type,longstr}"),
    ({"x-dead-letter-routing-key": "k"}, "routing_key_but_no_dlx_defined"),
], ids=lambda v: str(v) if not isinstance(v, dict) else "-".join(f"{k}={v}" for k, v in v.items()))
def test_invalid_queue_argument(broker, conn, args, detail):
    q = uniq("badarg")
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as exc:
        conn.channel().queue_declare(q, exclusive=True, arguments=args)
    (name,) = args
    # the text ends with an Erlang term
    assert_channel_closed(
        exc, 406, f"PRECONDITION_FAILED - invalid arg '{name}' for queue '{q}' in vhost '/': {detail}")
    assert not queue_exists(broker, q)


def test_invalid_queue_argument_type(conn):
    # a wrong type for the DLX has its own text shape
    q = uniq("badarg")
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as exc:
        conn.channel().queue_declare(q, exclusive=True, arguments={"x-dead-letter-exchange": 1})
    assert_channel_closed(
        exc, 406, f"PRECONDITION_FAILED - invalid type 'signedint' for arg 'x-dead-letter-exchange' "
                  f"in queue '{q}' in vhost '/'")
    # edge values that are accepted: max-priority 0 and 255, max-length 0, unknown x- args
    ch = conn.channel()
    for arguments in ({"x-max-priority": 255}, {"x-max-priority": 0}, {"x-max-length": 0},
                      {"x-warren-unknown": "anything"}):
        _queue(ch, **arguments)


# ---- exclusive queues --------------------------------------------------------------------------


LOCKED_OPS = {
    "consume": lambda ch, q: ch.basic_consume(q, lambda *a: None),
    "declare": lambda ch, q: ch.queue_declare(q),
    "declare-passive": lambda ch, q: ch.queue_declare(q, passive=True),
    "bind": lambda ch, q: ch.queue_bind(q, "amq.direct", "k"),
    "purge": lambda ch, q: ch.queue_purge(q),
    "delete": lambda ch, q: ch.queue_delete(q),
    "get": lambda ch, q: ch.basic_get(q),
}


@pytest.mark.parametrize("op", list(LOCKED_OPS))
def test_exclusive_queue_locked_for_other_connections(broker, conn, op):
    q = uniq("exclusive")
    conn.channel().queue_declare(q, exclusive=True)
    other = broker.connect()
    try:
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as exc:
            LOCKED_OPS[op](other.channel(), q)
        # the text goes on: ". It could be originally declared on another connection or the
        # exclusive property value does not match that of the original declaration."
        assert_channel_closed(
            exc, 405,
            f"RESOURCE_LOCKED - cannot obtain exclusive access to locked queue '{q}' in vhost '/'")
    finally:
        other.close()
    assert conn.channel().queue_declare(q, passive=True).method.queue == q  # still there


def test_exclusive_queue_unbind_from_another_connection(broker, conn):
    ch = conn.channel()
    q = uniq("exclusive")
    ch.queue_declare(q, exclusive=True)
    ch.queue_bind(q, "amq.direct", q)
    other = broker.connect()
    try:
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as exc:
            other.channel().queue_unbind(q, "amq.direct", q)
        assert_channel_closed(
            exc, 405,
            f"RESOURCE_LOCKED - cannot obtain exclusive access to locked queue '{q}' in vhost '/'")
        # surprise: unbinding a binding that does not exist is Unbind-Ok even from another
        # connection (RabbitMQ looks the binding up before it checks exclusivity)
        other.channel().queue_unbind(q, "amq.direct", "never-bound")
    finally:
        other.close()
    ch.basic_publish("amq.direct", q, b"still bound")
    assert bodies(settle(ch, [q])[q]) == [b"still bound"]


def test_exclusive_queue_vanishes_when_the_tcp_connection_drops(broker):
    q = uniq("exclusive")
    r = broker.raw()
    r.handshake()
    r.open_channel(1)
    r.queue_declare(1, q, exclusive=True)
    assert _exclusive_queue_state(broker, q) == "locked"
    r.close()  # no connection.close: just the socket
    wait_for(lambda: _exclusive_queue_state(broker, q) == "gone", what="exclusive queue deletion")


def _exclusive_queue_state(broker, q):
    """Passive declare from a new connection: 405 while its owner lives, 404 once deleted."""
    c = broker.connect()
    try:
        c.channel().queue_declare(q, passive=True)
        return "declared"
    except pika.exceptions.ChannelClosedByBroker as exc:
        return {405: "locked", 404: "gone"}[exc.reply_code]
    finally:
        if c.is_open:
            c.close()


def test_auto_delete_queue_with_consumers_on_two_connections(broker, conn, cleanup):
    q = cleanup.queue(uniq("autodel"))
    ch = conn.channel()
    ch.queue_declare(q, auto_delete=True)
    ch.basic_publish("", q, b"x")
    get_one(ch, q)  # basic.get is not a consumer: the queue stays
    assert queue_exists(broker, q)
    tag = ch.basic_consume(q, lambda *a: None)
    r = broker.raw()
    try:
        r.handshake()
        r.open_channel(1)
        r.send_method(1, (60, 20), b"\x00\x00" + R.shortstr(q) + R.shortstr("raw") + b"\x00"
                      + R.encode_table({}))
        r.expect_method((60, 21), 1)
        ch.basic_cancel(tag)
        assert queue_exists(broker, q)  # the raw consumer is left
    finally:
        r.close()  # dropping the socket removes the last consumer
    wait_for(lambda: not queue_exists(broker, q), what="auto-delete queue deletion")


# ---- consumer cancellation on queue deletion ------------------------------------------------


@pytest.mark.parametrize("capabilities,cancel_sent", [
    ({"consumer_cancel_notify": True}, True),
    ({"consumer_cancel_notify": False}, False),
    ({}, False),
], ids=["announced", "announced-false", "not-announced"])
def test_queue_delete_cancels_consumers_only_for_clients_that_asked(broker, capabilities,
                                                                      cancel_sent):
    with broker.raw() as r:
        r.handshake(client_properties={"product": "raw", "capabilities": capabilities})
        r.open_channel(1)
        r.open_channel(2)
        q, _, _ = r.queue_declare(1, "", exclusive=True)
        r.send_method(1, (60, 20), b"\x00\x00" + R.shortstr(q) + R.shortstr("the-tag") + b"\x00"
                      + R.encode_table({}))
        r.expect_method((60, 21), 1)
        r.send_method(2, (50, 40), b"\x00\x00" + R.shortstr(q) + b"\x00")  # queue.delete
        # then a synchronous method on the consumer's channel: basic.qos -> qos-ok
        frames = []
        while (2, (50, 41)) not in [(f.channel, f.method) for f in frames]:
            frames.append(r.read_method())
        r.send_method(1, (60, 10), struct.pack(">IH", 0, 0) + b"\x00")
        while (1, (60, 11)) not in [(f.channel, f.method) for f in frames]:
            frames.append(r.read_method())
        cancels = [f for f in frames if f.method == (60, 30)]
        if cancel_sent:
            (cancel,) = cancels
            a = cancel.args()
            assert cancel.channel == 1
            assert (a.shortstr(), a.octet()) == ("the-tag", 1)  # nowait=true: no cancel-ok expected
        else:
            assert cancels == []  # the consumer is silently gone
        assert [(f.channel, f.method) for f in frames if f.method != (60, 30)] == \
            [(2, (50, 41)), (1, (60, 11))]
        r.close_connection()
