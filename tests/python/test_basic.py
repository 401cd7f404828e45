"""basic.*: publish/consume/cancel, tags, ack/nack/reject, qos, get, requeue on close,
round-robin, ordering, and every message property round-tripping."""

from __future__ import annotations

import datetime
import decimal
import time

import pika
import pytest

import rawamqp as R
from conftest import (Collector, assert_channel_closed, bodies, counts, get_one, settle, uniq,
                      wait_for)


def _queue(ch):
    return ch.queue_declare("", exclusive=True).method.queue


def test_publish_consume_cancel(conn):
    ch = conn.channel()
    pub = conn.channel()
    q = _queue(ch)
    collector = Collector(ch)
    tag = ch.basic_consume(q, collector, auto_ack=True, consumer_tag="my-tag")
    assert tag == "my-tag"
    pub.basic_publish("", q, b"one")
    got = collector.until_marker(conn, pub, q)
    assert bodies(got) == [b"one"]
    assert got[0][0].consumer_tag == "my-tag"
    ch.basic_cancel(tag)
    pub.basic_publish("", q, b"after cancel")
    # no consumer any more: the message waits in the queue
    assert bodies(settle(pub, [q])[q]) == [b"after cancel"]
    assert bodies(collector.messages()) == [b"one"]


def test_consumer_tag_generated_when_empty(broker):
    # pika always sends a tag of its own; an empty one must be filled in by the broker: go raw
    with broker.raw() as r:
        r.handshake()
        r.open_channel(1)
        q2, _, _ = r.queue_declare(1, "", exclusive=True)
        r.send_method(1, (60, 20), b"\x00\x00" + R.shortstr(q2) + R.shortstr("") + b"\x00"
                      + R.encode_table({}))
        f = r.expect_method((60, 21), 1)
        tag = f.args().shortstr()
        assert tag.startswith("amq.ctag-"), tag
        r.send_method(1, (60, 20), b"\x00\x00" + R.shortstr(q2) + R.shortstr("") + b"\x00"
                      + R.encode_table({}))
        tag2 = r.expect_method((60, 21), 1).args().shortstr()
        assert tag2.startswith("amq.ctag-") and tag2 != tag
        r.close_connection()


def test_delivery_tags_start_at_1_per_channel(conn):
    pub = conn.channel()
    ch1, ch2 = conn.channel(), conn.channel()
    q1, q2 = _queue(pub), _queue(pub)
    c1, c2 = Collector(ch1), Collector(ch2)
    ch1.basic_consume(q1, c1, auto_ack=True)
    ch2.basic_consume(q2, c2, auto_ack=True)
    for i in range(3):
        pub.basic_publish("", q1, b"a%d" % i)
        pub.basic_publish("", q2, b"b%d" % i)
    c1.until_marker(conn, pub, q1)
    c2.until_marker(conn, pub, q2)
    # 3 messages + the marker on each channel
    assert [d[0].delivery_tag for d in c1.deliveries] == [1, 2, 3, 4]
    assert [d[0].delivery_tag for d in c2.deliveries] == [1, 2, 3, 4]
    # basic.get shares the channel's counter
    ch1.basic_cancel(c1.deliveries[0][0].consumer_tag)
    pub.basic_publish("", q1, b"x")
    method, _, _ = get_one(ch1, q1)
    assert method.delivery_tag == 5


def test_ack_and_ack_multiple(conn):
    ch = conn.channel()
    q = _queue(ch)
    for i in range(5):
        ch.basic_publish("", q, b"%d" % i)
    collector = Collector(ch)
    ch.basic_consume(q, collector, auto_ack=False)
    collector.until(conn, lambda: len(collector.deliveries) == 5)
    ch.basic_ack(2)                  # just tag 2
    ch.basic_ack(4, multiple=True)   # 1, 3, 4
    ch.basic_ack(5)
    ch.basic_cancel(collector.deliveries[0][0].consumer_tag)
    ch.close()  # nothing unacked: nothing comes back
    check = conn.channel()
    assert settle(check, [q])[q] == []


def test_nack_multiple_requeue_redelivers(conn):
    ch = conn.channel()
    q = _queue(ch)
    for i in range(3):
        ch.basic_publish("", q, b"%d" % i)
    collector = Collector(ch)
    tag = ch.basic_consume(q, collector, auto_ack=False)
    collector.until(conn, lambda: len(collector.deliveries) == 3)
    assert all(d[0].redelivered is False for d in collector.deliveries)
    ch.basic_nack(3, multiple=True, requeue=True)
    collector.until(conn, lambda: len(collector.deliveries) == 6)
    again = collector.deliveries[3:]
    assert bodies(again) == [b"0", b"1", b"2"]  # back in their original order
    assert all(d[0].redelivered is True for d in again)
    assert [d[0].delivery_tag for d in again] == [4, 5, 6]
    ch.basic_ack(6, multiple=True)
    ch.basic_cancel(tag)


def test_reject_without_requeue_drops(conn):
    ch = conn.channel()
    q = _queue(ch)
    ch.basic_publish("", q, b"drop me")
    ch.basic_publish("", q, b"keep me")
    method, _, _ = get_one(ch, q, auto_ack=False)
    ch.basic_reject(method.delivery_tag, requeue=False)
    method, _, body = ch.basic_get(q, auto_ack=False)
    assert body == b"keep me"
    ch.basic_reject(method.delivery_tag, requeue=True)
    _, props, body = ch.basic_get(q, auto_ack=True)
    assert body == b"keep me"
    assert settle(ch, [q])[q] == []


def test_qos_prefetch_limits_unacked(conn):
    ch = conn.channel()
    pub = conn.channel()
    q = _queue(pub)
    for i in range(10):
        pub.basic_publish("", q, b"%d" % i)
    wait_for(lambda: counts(pub, q) == (10, 0), what="10 messages")
    ch.basic_qos(prefetch_count=3)
    collector = Collector(ch)
    tag = ch.basic_consume(q, collector, auto_ack=False)
    collector.until(conn, lambda: len(collector.deliveries) == 3)
    # 3 unacked, 7 ready: the broker holds the rest back
    wait_for(lambda: counts(pub, q) == (7, 1), what="7 ready")
    conn.process_data_events(time_limit=0.1)
    assert len(collector.deliveries) == 3
    ch.basic_ack(1)
    collector.until(conn, lambda: len(collector.deliveries) == 4)
    wait_for(lambda: counts(pub, q) == (6, 1), what="6 ready")
    ch.basic_ack(4, multiple=True)
    collector.until(conn, lambda: len(collector.deliveries) == 7)
    assert bodies(collector.deliveries) == [b"%d" % i for i in range(7)]
    ch.basic_cancel(tag)


def test_basic_get_and_get_empty(conn):
    ch = conn.channel()
    q = _queue(ch)
    assert ch.basic_get(q) == (None, None, None)  # get-empty
    for i in range(3):
        ch.basic_publish("", q, b"%d" % i)
    counts_seen = []
    for i in range(3):
        method, _, body = get_one(ch, q)
        assert body == b"%d" % i
        assert method.exchange == "" and method.routing_key == q
        assert method.redelivered is False
        counts_seen.append(method.message_count)
    assert counts_seen == [2, 1, 0]  # messages left after this one
    assert ch.basic_get(q) == (None, None, None)


@pytest.mark.parametrize("what", ["channel", "connection"])
def test_unacked_messages_requeued_on_close(broker, conn, cleanup, what):
    q = cleanup.queue(uniq("requeue"))
    owner = conn.channel()
    owner.queue_declare(q)
    for i in range(5):
        owner.basic_publish("", q, b"%d" % i)
    c = broker.connect()
    try:
        ch = c.channel()
        ch.basic_qos(prefetch_count=3)
        collector = Collector(ch)
        ch.basic_consume(q, collector, auto_ack=False)
        collector.until(c, lambda: len(collector.deliveries) == 3)
        ch.basic_ack(1)  # "0" is done, which lets "3" be delivered
        collector.until(c, lambda: len(collector.deliveries) == 4)
        # now "1", "2", "3" are unacked and "4" was never delivered
        if what == "channel":
            ch.close()  # the connection stays open
        else:
            c.close()
        wait_for(lambda: counts(owner, q) == (4, 0), what="requeued messages")
        got = settle(owner, [q])[q]
        # back at the head of the queue, in their original order, flagged redelivered
        assert bodies(got) == [b"1", b"2", b"3", b"4"]
        assert [m.redelivered for m, _, _ in got] == [True, True, True, False]
    finally:
        if c.is_open:
            c.close()


def test_round_robin_between_consumers(conn):
    pub = conn.channel()
    q = _queue(pub)
    ch1, ch2 = conn.channel(), conn.channel()
    c1, c2 = Collector(ch1), Collector(ch2)
    ch1.basic_consume(q, c1, auto_ack=True)
    ch2.basic_consume(q, c2, auto_ack=True)
    for i in range(10):
        pub.basic_publish("", q, b"%d" % i)
    c1.until(conn, lambda: len(c1.deliveries) + len(c2.deliveries) == 10)
    one, two = bodies(c1.deliveries), bodies(c2.deliveries)
    assert sorted(one + two, key=int) == [b"%d" % i for i in range(10)]
    assert len(one) == len(two) == 5
    # strictly alternating, each consumer in publish order
    assert one == sorted(one, key=int) and two == sorted(two, key=int)
    assert {int(b) % 2 for b in one} in ({0}, {1})


def test_messages_keep_their_order(conn):
    ch = conn.channel()
    q = _queue(ch)
    n = 500
    for i in range(n):
        ch.basic_publish("", q, b"%d" % i)
    collector = Collector(ch)
    ch.basic_consume(q, collector, auto_ack=True)
    collector.until(conn, lambda: len(collector.deliveries) == n)
    assert bodies(collector.deliveries) == [b"%d" % i for i in range(n)]


def test_all_properties_round_trip(broker, conn):
    ch = conn.channel()
    q = _queue(ch)
    headers = {
        "str": "Québec ☎",
        "int": 42,
        "negative": -7,
        "big": 2**40,
        "bool_t": True,
        "bool_f": False,
        "none": None,
        "bytes": b"\x00\x01\xfe\xff",
        "decimal": decimal.Decimal("3.14"),
        "when": datetime.datetime(2024, 5, 17, 14, 3, 27),
        "nested": {"a": {"b": [1, "two", {"three": 3}]}, "empty": {}},
        "array": [1, "x", True, None, [], {"k": "v"}],
        "user_uuid:3f0d1c9e-0000-4000-8000-000000000001": True,
    }
    props = pika.BasicProperties(
        content_type="application/json",
        content_encoding="utf-8",
        headers=headers,
        delivery_mode=2,
        priority=5,
        correlation_id="corr-1",
        reply_to="amq.gen-reply",
        expiration="86400000",  # a day: the message does not expire during the test
        message_id="msg-1",
        timestamp=1715954607,
        type="call_created",
        user_id=broker.user,  # must be the authenticated user (guest)
        app_id="wazo-calld",
        cluster_id="cluster-1",
    )
    ch.basic_publish("", q, b'{"k": "v"}', props)
    (m, got, body), = settle(ch, [q])[q]
    assert body == b'{"k": "v"}'
    for name in ("content_type", "content_encoding", "delivery_mode", "priority",
                 "correlation_id", "reply_to", "expiration", "message_id", "timestamp", "type",
                 "user_id", "app_id", "cluster_id"):
        assert getattr(got, name) == getattr(props, name), name
    # pika decodes timestamps as aware UTC datetimes
    expected = dict(headers, when=headers["when"].replace(tzinfo=datetime.timezone.utc))
    assert got.headers == expected


def test_header_field_types_are_kept_on_the_wire(broker):
    """Every RabbitMQ field type comes back with the same type letter and value."""
    headers = {
        "t": R.Typed("t", True), "b": R.Typed("b", -5), "B": R.Typed("B", 250),
        "s": R.Typed("s", -300), "u": R.Typed("u", 65000), "I": R.Typed("I", -70000),
        "i": R.Typed("i", 4000000000), "l": R.Typed("l", -2**40), "L": R.Typed("L", 2**40),
        "f": R.Typed("f", 1.5), "d": R.Typed("d", 2.25), "D": R.Typed("D", (2, 314)),
        "S": R.Typed("S", b"long string"), "x": R.Typed("x", b"\x00bytes\xff"),
        "T": R.Typed("T", 1715954607), "V": R.Typed("V", None),
        "F": R.Typed("F", {"inner": R.Typed("b", 1)}),
        "A": R.Typed("A", [R.Typed("s", 7), R.Typed("S", b"x"), R.Typed("V", None)]),
    }
    with broker.raw() as r:
        r.handshake()
        r.open_channel(1)
        q, _, _ = r.queue_declare(1, "", exclusive=True)
        r.publish(1, "", q, b"typed", {"headers": headers})
        got = None
        deadline = time.monotonic() + 5
        while got is None and time.monotonic() < deadline:
            got = r.basic_get(1, q)
        assert got is not None
        props, body = got[5], got[6]
        assert body == b"typed"
        assert props["headers"] == headers
        r.close_connection()


def test_wrong_user_id_refused(broker, conn):
    ch = conn.channel()
    q = _queue(ch)
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as exc:
        ch.basic_publish("", q, b"x", pika.BasicProperties(user_id="admin"))
        ch.queue_declare(q, passive=True)  # the close arrives on the next synchronous call
    assert_channel_closed(
        exc, 406, "PRECONDITION_FAILED - user_id property set to 'admin' but authenticated user "
                  f"was '{broker.user}'")
    assert conn.channel().is_open


def test_qos_global_limits_the_whole_channel(conn):
    # Celery sends basic.qos global=True to a broker that says it is RabbitMQ >= 3.3
    pub = conn.channel()
    q1, q2 = _queue(pub), _queue(pub)
    for i in range(5):
        pub.basic_publish("", q1, b"a%d" % i)
        pub.basic_publish("", q2, b"b%d" % i)
    wait_for(lambda: counts(pub, q1) == (5, 0) and counts(pub, q2) == (5, 0), what="10 messages")
    ch = conn.channel()
    ch.basic_qos(prefetch_count=3, global_qos=True)
    collector = Collector(ch)
    ch.basic_consume(q1, collector, auto_ack=False)
    ch.basic_consume(q2, collector, auto_ack=False)
    collector.until(conn, lambda: len(collector.deliveries) == 3)
    # 3 unacked in all on the channel, 7 ready across both queues
    wait_for(lambda: counts(pub, q1)[0] + counts(pub, q2)[0] == 7, what="7 ready")
    conn.process_data_events(time_limit=0.1)
    assert len(collector.deliveries) == 3
    ch.basic_ack(3, multiple=True)
    collector.until(conn, lambda: len(collector.deliveries) == 6)


def test_consumer_cancelled_by_the_broker_when_its_queue_is_deleted(conn):
    # pika announces consumer_cancel_notify: deleting the queue sends it a basic.cancel
    ch = conn.channel()
    q = _queue(ch)
    cancelled = []
    ch.add_on_cancel_callback(lambda frame: cancelled.append(frame.method.consumer_tag))
    tag = ch.basic_consume(q, lambda *a: None)
    conn.channel().queue_delete(q)
    deadline = time.monotonic() + 5
    while not cancelled:
        assert time.monotonic() < deadline, "no basic.cancel from the broker"
        conn.process_data_events(time_limit=0.02)
    assert cancelled == [tag]
    assert ch.is_open
