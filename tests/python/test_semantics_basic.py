"""basic.* semantics and extensions: publisher confirms, mandatory/immediate, QoS (per consumer,
global, both), basic.recover, consumer priorities, exclusive consumers, consumer tags, tx.

Every expectation here was recorded against RabbitMQ 3.10 (tests/rabbitmq-reference.sh)."""

from __future__ import annotations

import struct

import pika
import pytest

import rawamqp as R
from conftest import (Collector, assert_channel_closed, bodies, counts, get_one, settle, uniq,
                      wait_for)

BASIC_CONSUME, BASIC_CONSUME_OK = (60, 20), (60, 21)
BASIC_QOS = (60, 10)
BASIC_RETURN = (60, 50)
BASIC_NACK = (60, 120)
BASIC_RECOVER, BASIC_RECOVER_OK = (60, 110), (60, 111)
CONFIRM_SELECT, CONFIRM_SELECT_OK = (85, 10), (85, 11)
TX_SELECT, TX_SELECT_OK, TX_COMMIT, TX_ROLLBACK = (90, 10), (90, 11), (90, 20), (90, 30)


def _queue(ch, **arguments):
    return ch.queue_declare("", exclusive=True, arguments=arguments or None).method.queue


def _raw_publish(r, channel, exchange, routing_key, body, mandatory=False, immediate=False):
    bits = (1 if mandatory else 0) | (2 if immediate else 0)
    r.send(R.method_frame(channel, R.BASIC_PUBLISH, b"\x00\x00" + R.shortstr(exchange)
                          + R.shortstr(routing_key) + bytes([bits]))
           + R.content_header_frame(channel, len(body))
           + (R.frame(R.FRAME_BODY, channel, body) if body else b""))


def _raw_consume(r, channel, queue, tag="", exclusive=False, arguments=None):
    bits = 4 if exclusive else 0  # no-local, no-ack, exclusive, no-wait
    r.send_method(channel, BASIC_CONSUME, b"\x00\x00" + R.shortstr(queue) + R.shortstr(tag)
                  + bytes([bits]) + R.encode_table(arguments or {}))


def _expect_connection_close(r, code, text, class_method):
    close = r.wait_close()
    assert (close.kind, close.reply_code, close.reply_text) == ("connection", code, text), close
    assert (close.class_id, close.method_id) == class_method, close
    r.send_method(0, R.CONNECTION_CLOSE_OK)
    assert r.peer_closed(2)


def _expect_channel_close(r, channel, code, text, class_method):
    close = r.wait_close()
    assert (close.kind, close.channel, close.reply_code, close.reply_text) == \
        ("channel", channel, code, text), close
    assert (close.class_id, close.method_id) == class_method, close
    r.send_method(channel, R.CHANNEL_CLOSE_OK)


def _read_confirms(r, channel, n):
    """Read frames until tags 1..n are all confirmed. Returns (events, outcome): events are
    ("ack"/"nack", tag, multiple) and ("return", code, text, exchange, rk, body) in arrival order,
    outcome is {tag: "ack"/"nack"}. Asserts every confirm names an outstanding tag, so each tag is
    confirmed exactly once."""
    outstanding = set(range(1, n + 1))
    events = []
    outcome = {}
    while outstanding:
        f = r.read_method()
        assert f.channel == channel, f
        if f.method in (R.BASIC_ACK, BASIC_NACK):
            a = f.args()
            tag, multiple = a.longlong(), bool(a.octet() & 1)
            assert tag in outstanding, (tag, events)
            covered = {t for t in outstanding if t <= tag} if multiple else {tag}
            outstanding -= covered
            kind = "ack" if f.method == R.BASIC_ACK else "nack"
            events.append((kind, tag, multiple))
            outcome.update((t, kind) for t in covered)
        elif f.method == BASIC_RETURN:
            a = f.args()
            code, text, exchange, rk = a.short(), a.shortstr(), a.shortstr(), a.shortstr()
            _, body = r.read_content()
            events.append(("return", code, text, exchange, rk, body))
        else:
            raise AssertionError(f"unexpected {f.method}: {R.decode_close(f)}")
    return events, outcome


# ---- publisher confirms ------------------------------------------------------------------------


def _confirming_queue(r):
    """Handshake, channel 1 in confirm mode, and an exclusive queue to publish to."""
    r.handshake()
    r.open_channel(1)
    q, _, _ = r.queue_declare(1, "", exclusive=True)
    r.send_method(1, CONFIRM_SELECT, b"\x00")
    r.expect_method(CONFIRM_SELECT_OK, 1)
    return q


def test_confirms_ack_every_publish_with_tags_1_to_n(broker):
    n = 200
    with broker.raw() as r:
        q = _confirming_queue(r)
        for i in range(n):
            _raw_publish(r, 1, "", q, b"%d" % i)
        _raw_publish(r, 1, "amq.direct", uniq("unbound-key"), b"x")  # unroutable: acked too
        _, outcome = _read_confirms(r, 1, n + 1)
        # only acks (maybe with multiple=true, maybe not in tag order), each tag exactly once
        assert outcome == {t: "ack" for t in range(1, n + 2)}
        r.close_connection()


def test_amqplib_a_burst_of_publishes_is_confirmed_by_multiple_acks(broker):
    """Publishes confirmed together are acked together, by one basic.ack with multiple=true, as
    RabbitMQ coalesces them (amqplib's own tests expect such acks under load)."""
    burst = 500
    with broker.raw() as r:
        q = _confirming_queue(r)
        r.send(b"".join(R.publish_frames(1, "", q, b"event") for _ in range(burst)))
        events, outcome = _read_confirms(r, 1, burst)
        assert outcome == {t: "ack" for t in range(1, burst + 1)}
        assert any(multiple for _, _, multiple in events), "no ack with multiple=true"
        assert len(events) < burst / 2, f"{len(events)} acks for {burst} publishes"
        r.close_connection()


def test_confirm_unroutable_mandatory_is_returned_then_acked(broker):
    with broker.raw() as r:
        q = _confirming_queue(r)
        _raw_publish(r, 1, "", q, b"routed", mandatory=True)
        nowhere = uniq("unbound-key")
        _raw_publish(r, 1, "amq.direct", nowhere, b"unroutable", mandatory=True)
        _raw_publish(r, 1, "", q, b"routed too", mandatory=True)
        events, outcome = _read_confirms(r, 1, 3)
        assert outcome == {1: "ack", 2: "ack", 3: "ack"}
        ret = events.index(("return", 312, "NO_ROUTE", "amq.direct", nowhere, b"unroutable"))
        ack_2 = next(i for i, e in enumerate(events)
                     if e[0] == "ack" and (e[1] == 2 or (e[2] and e[1] > 2)))
        assert ret < ack_2, events  # basic.return first, then the basic.ack for it
        r.close_connection()


def test_confirm_nack_when_reject_publish_refuses(broker):
    with broker.raw() as r:
        r.handshake()
        r.open_channel(1)
        r.send_method(1, R.QUEUE_DECLARE, b"\x00\x00" + R.shortstr("") + bytes([4])
                      + R.encode_table({"x-max-length": 1, "x-overflow": "reject-publish"}))
        q = r.expect_method(R.QUEUE_DECLARE_OK, 1).args().shortstr()
        r.send_method(1, CONFIRM_SELECT, b"\x00")
        r.expect_method(CONFIRM_SELECT_OK, 1)
        for i in range(3):
            _raw_publish(r, 1, "", q, b"%d" % i)
        _, outcome = _read_confirms(r, 1, 3)
        assert outcome == {1: "ack", 2: "nack", 3: "nack"}
        r.close_connection()


def test_confirm_select_nowait(broker):
    with broker.raw() as r:
        r.handshake()
        r.open_channel(1)
        q, _, _ = r.queue_declare(1, "", exclusive=True)
        r.send_method(1, CONFIRM_SELECT, b"\x01")  # nowait: no select-ok
        _raw_publish(r, 1, "", q, b"a")
        _raw_publish(r, 1, "", q, b"b")
        _, outcome = _read_confirms(r, 1, 2)  # would fail on a select-ok frame
        assert outcome == {1: "ack", 2: "ack"}
        # a second confirm.select (with a reply) is fine and keeps counting
        r.send_method(1, CONFIRM_SELECT, b"\x00")
        r.expect_method(CONFIRM_SELECT_OK, 1)
        _raw_publish(r, 1, "", q, b"c")
        f = r.expect_method(R.BASIC_ACK, 1)
        assert f.args().longlong() == 3
        r.close_connection()


# ---- mandatory / immediate ---------------------------------------------------------------------


def test_mandatory_unroutable_is_returned_with_312_no_route(conn):
    ch = conn.channel()
    returned = []
    ch.add_on_return_callback(lambda _c, m, p, b: returned.append((m, p, b)))
    missing_q = uniq("no-such-queue")
    props = pika.BasicProperties(message_id="r1", headers={"h": 1}, content_type="text/plain")
    nowhere = uniq("unbound-key")
    ch.basic_publish("amq.direct", nowhere, b"back to sender", props, mandatory=True)
    ch.basic_publish("", missing_q, b"default exchange, no queue", mandatory=True)
    ch.basic_publish("amq.direct", nowhere, b"not mandatory: dropped")
    settle(ch, [_queue(ch)])
    conn.process_data_events(time_limit=0)
    assert [(m.reply_code, m.reply_text, m.exchange, m.routing_key, b) for m, _, b in returned] == [
        (312, "NO_ROUTE", "amq.direct", nowhere, b"back to sender"),
        (312, "NO_ROUTE", "", missing_q, b"default exchange, no queue"),
    ]
    p = returned[0][1]
    assert (p.message_id, p.headers, p.content_type) == ("r1", {"h": 1}, "text/plain")


@pytest.mark.parametrize("mandatory", [False, True])
def test_immediate_publish_is_not_implemented(broker, mandatory):
    # RabbitMQ 3.x dropped immediate: a connection error, even when the message would be routable
    with broker.raw() as r:
        r.handshake()
        r.open_channel(1)
        q, _, _ = r.queue_declare(1, "", exclusive=True)
        _raw_publish(r, 1, "", q, b"x", mandatory=mandatory, immediate=True)
        _expect_connection_close(r, 540, "NOT_IMPLEMENTED - immediate=true", (60, 40))


# ---- QoS ---------------------------------------------------------------------------------------


def _fill(pub, q, n, prefix=b""):
    for i in range(n):
        pub.basic_publish("", q, prefix + b"%d" % i)
    wait_for(lambda: counts(pub, q) == (n, 0), what=f"{n} messages")


def test_qos_per_consumer_and_global_on_one_channel(conn):
    pub = conn.channel()
    q1, q2, q3, q4 = (_queue(pub) for _ in range(4))
    for q in (q1, q2, q3, q4):
        _fill(pub, q, 5)
    # global=false: each consumer of the channel gets its own 2
    per = conn.channel()
    per.basic_qos(prefetch_count=2)
    c1, c2 = Collector(per), Collector(per)
    per.basic_consume(q1, c1)
    per.basic_consume(q2, c2)
    c1.until(conn, lambda: len(c1.deliveries) == 2 and len(c2.deliveries) == 2)
    # global=true: the two consumers share 3
    shared = conn.channel()
    shared.basic_qos(prefetch_count=3, global_qos=True)
    c3, c4 = Collector(shared), Collector(shared)
    shared.basic_consume(q3, c3)
    shared.basic_consume(q4, c4)
    c3.until(conn, lambda: len(c3.deliveries) + len(c4.deliveries) == 3)
    wait_for(lambda: counts(pub, q3)[0] + counts(pub, q4)[0] == 7, what="7 ready")
    conn.process_data_events(time_limit=0.1)
    assert (len(c1.deliveries), len(c2.deliveries)) == (2, 2)
    assert len(c3.deliveries) + len(c4.deliveries) == 3


def test_qos_per_consumer_and_global_limits_at_once(conn):
    pub = conn.channel()
    q1, q2 = _queue(pub), _queue(pub)
    _fill(pub, q1, 5, b"a")
    ch = conn.channel()
    ch.basic_qos(prefetch_count=2)  # per consumer
    ch.basic_qos(prefetch_count=3, global_qos=True)  # per channel
    c1, c2 = Collector(ch), Collector(ch)
    ch.basic_consume(q1, c1)
    ch.basic_consume(q2, c2)
    c1.until(conn, lambda: len(c1.deliveries) == 2)
    wait_for(lambda: counts(pub, q1) == (3, 1), what="3 ready in q1")
    conn.process_data_events(time_limit=0.1)
    assert bodies(c1.deliveries) == [b"a0", b"a1"]  # the consumer limit, not the channel's 3
    for i in range(5):
        pub.basic_publish("", q2, b"b%d" % i)
    c2.until(conn, lambda: len(c2.deliveries) == 1)
    wait_for(lambda: counts(pub, q2) == (4, 1), what="4 ready in q2")
    conn.process_data_events(time_limit=0.1)
    assert bodies(c2.deliveries) == [b"b0"]  # the channel limit: 2 + 1 = 3
    ch.basic_ack(c1.deliveries[0][0].delivery_tag)  # one slot on the channel and on c1
    c1.until(conn, lambda: len(c1.deliveries) + len(c2.deliveries) == 4)
    conn.process_data_events(time_limit=0.1)
    assert len(c1.deliveries) + len(c2.deliveries) == 4


@pytest.mark.parametrize("global_qos", [False, True])
def test_qos_prefetch_size_is_not_implemented(broker, global_qos):
    with broker.raw() as r:
        r.handshake()
        r.open_channel(1)
        r.send_method(1, BASIC_QOS, struct.pack(">IH", 1000, 10) + bytes([global_qos]))
        _expect_connection_close(r, 540, "NOT_IMPLEMENTED - prefetch_size!=0 (1000)", BASIC_QOS)


# ---- recover / redelivered -------------------------------------------------------------------


def test_recover_requeue_true_redelivers_with_redelivered_set(conn):
    ch = conn.channel()
    q = _queue(ch)
    for i in range(3):
        ch.basic_publish("", q, b"%d" % i)
    collector = Collector(ch)
    tag = ch.basic_consume(q, collector, auto_ack=False)
    collector.until(conn, lambda: len(collector.deliveries) == 3)
    ch.basic_ack(1)
    ch.basic_recover(requeue=True)
    collector.until(conn, lambda: len(collector.deliveries) == 5)
    again = collector.deliveries[3:]
    assert bodies(again) == [b"1", b"2"]
    assert [m.redelivered for m, _, _ in again] == [True, True]
    ch.basic_ack(0, multiple=True)
    ch.basic_cancel(tag)
    # and after basic.nack requeue=true, a basic.get sees redelivered too
    ch.basic_publish("", q, b"nacked")
    m, _, _ = get_one(ch, q, auto_ack=False)
    assert m.redelivered is False
    ch.basic_nack(m.delivery_tag, requeue=True)
    m, _, body = get_one(ch, q)
    assert (body, m.redelivered) == (b"nacked", True)


@pytest.mark.parametrize("method", [BASIC_RECOVER, (60, 100)], ids=["recover", "recover-async"])
def test_recover_requeue_false_is_not_implemented(broker, method):
    with broker.raw() as r:
        r.handshake()
        r.open_channel(1)
        r.send_method(1, method, b"\x00")
        _expect_connection_close(r, 540, "NOT_IMPLEMENTED - requeue=false", method)


# ---- consumers -----------------------------------------------------------------------------------


def test_consumer_priorities(conn):
    pub = conn.channel()
    q = _queue(pub)
    high, low = conn.channel(), conn.channel()
    high.basic_qos(prefetch_count=2)
    low.basic_qos(prefetch_count=10)
    ch_, cl = Collector(high), Collector(low)
    low.basic_consume(q, cl, arguments={"x-priority": 0})  # first, so not just "first wins"
    high.basic_consume(q, ch_, arguments={"x-priority": 10})
    for i in range(5):
        pub.basic_publish("", q, b"%d" % i)
    cl.until(conn, lambda: len(ch_.deliveries) + len(cl.deliveries) == 5)
    # the high-priority consumer takes what its credit allows, the rest goes to the low one
    assert bodies(ch_.deliveries) == [b"0", b"1"]
    assert bodies(cl.deliveries) == [b"2", b"3", b"4"]
    high.basic_ack(2, multiple=True)  # credit again: the high one is served first again
    high.basic_qos(prefetch_count=2)  # a round trip on that channel: the ack has been handled
    for i in range(5, 8):
        pub.basic_publish("", q, b"%d" % i)
    cl.until(conn, lambda: len(ch_.deliveries) + len(cl.deliveries) == 8)
    assert bodies(ch_.deliveries) == [b"0", b"1", b"5", b"6"]
    assert bodies(cl.deliveries) == [b"2", b"3", b"4", b"7"]


def test_exclusive_consumer(conn):
    ch = conn.channel()
    q = uniq("excl-consumer")
    ch.queue_declare(q, exclusive=True)
    ch.basic_consume(q, lambda *a: None, exclusive=True)
    text = f"ACCESS_REFUSED - queue '{q}' in vhost '/' in exclusive use"
    for exclusive in (False, True):
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as exc:
            conn.channel().basic_consume(q, lambda *a: None, exclusive=exclusive)
        assert_channel_closed(exc, 403, text)
    # an exclusive consume on a queue that already has a consumer
    q2 = uniq("excl-consumer")
    ch.queue_declare(q2, exclusive=True)
    ch.basic_consume(q2, lambda *a: None)
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as exc:
        conn.channel().basic_consume(q2, lambda *a: None, exclusive=True)
    assert_channel_closed(exc, 403, f"ACCESS_REFUSED - queue '{q2}' in vhost '/' in exclusive use")
    assert ch.is_open


def test_generated_consumer_tags(broker):
    with broker.raw() as r:
        r.handshake()
        tags = []
        for channel in (1, 2):
            r.open_channel(channel)
            q, _, _ = r.queue_declare(channel, "", exclusive=True)
            for _ in range(2):
                _raw_consume(r, channel, q, "")
                tags.append(r.expect_method(BASIC_CONSUME_OK, channel).args().shortstr())
        assert all(t.startswith("amq.ctag-") and len(t) > len("amq.ctag-") for t in tags), tags
        assert len(set(tags)) == 4, tags
        r.close_connection()


def test_consumer_tag_reuse_on_one_channel_closes_the_connection(broker):
    with broker.raw() as r:
        r.handshake()
        r.open_channel(1)
        r.open_channel(2)
        q, _, _ = r.queue_declare(1, "", exclusive=True)
        q2, _, _ = r.queue_declare(1, "", exclusive=True)
        _raw_consume(r, 1, q, "dup")
        r.expect_method(BASIC_CONSUME_OK, 1)
        _raw_consume(r, 2, q, "dup")  # the same tag on another channel is fine
        r.expect_method(BASIC_CONSUME_OK, 2)
        _raw_consume(r, 1, q2, "dup")  # reused on its channel (even for another queue): hard error
        _expect_connection_close(r, 530, "NOT_ALLOWED - attempt to reuse consumer tag 'dup'",
                                 BASIC_CONSUME)


# ---- transactions ----------------------------------------------------------------------------


def test_tx_publishes_are_visible_on_commit_and_discarded_on_rollback(conn):
    check = conn.channel()
    tx = conn.channel()
    tx.tx_select()
    q = _queue(check)
    tx.basic_publish("", q, b"in tx")
    assert bodies(settle(check, [q])[q]) == []  # (not on the tx channel: it would be queued too)
    tx.tx_commit()
    assert bodies(settle(check, [q])[q]) == [b"in tx"]
    tx.basic_publish("", q, b"rolled back")
    tx.tx_rollback()
    tx.basic_publish("", q, b"second tx")
    tx.tx_commit()
    assert bodies(settle(check, [q])[q]) == [b"second tx"]
    tx.tx_select()  # again on a transactional channel: Select-Ok
    tx.tx_commit()  # an empty transaction
    assert tx.is_open


def test_tx_acks_take_effect_on_commit_and_rollback_forgets_them(conn):
    pub = conn.channel()
    q = _queue(pub)
    for i in range(3):
        pub.basic_publish("", q, b"%d" % i)
    tx = conn.channel()
    tx.tx_select()
    tags = [get_one(tx, q, auto_ack=False)[0].delivery_tag for _ in range(3)]
    assert tags == [1, 2, 3]
    tx.basic_ack(1)
    tx.tx_rollback()  # the ack is forgotten: "0" stays unacked (not requeued)
    assert bodies(settle(pub, [q])[q]) == []
    tx.basic_ack(2)
    tx.tx_commit()
    tx.basic_ack(1)  # acking "0" again after the rollback is allowed
    tx.basic_ack(3)
    tx.tx_rollback()
    tx.basic_ack(1)  # in a transaction that is never committed
    tx.close()  # unacked -> requeued: "0" and "2"; "1" was committed
    got = settle(pub, [q])[q]
    assert bodies(got) == [b"0", b"2"]
    assert all(m.redelivered for m, _, _ in got)


@pytest.mark.parametrize("method", [TX_COMMIT, TX_ROLLBACK], ids=["commit", "rollback"])
def test_tx_commit_or_rollback_without_select(broker, method):
    with broker.raw() as r:
        r.handshake()
        r.open_channel(1)
        r.send_method(1, method)
        _expect_channel_close(r, 1, 406, "PRECONDITION_FAILED - channel is not transactional",
                              method)
        r.close_connection()


def test_tx_and_confirm_modes_exclude_each_other(broker):
    with broker.raw() as r:
        r.handshake()
        r.open_channel(1)
        r.send_method(1, TX_SELECT)
        r.expect_method(TX_SELECT_OK, 1)
        r.send_method(1, CONFIRM_SELECT, b"\x00")
        _expect_channel_close(r, 1, 406, "PRECONDITION_FAILED - cannot switch from tx to confirm mode",
                              CONFIRM_SELECT)
        r.open_channel(1)
        r.send_method(1, CONFIRM_SELECT, b"\x00")
        r.expect_method(CONFIRM_SELECT_OK, 1)
        r.send_method(1, TX_SELECT)
        _expect_channel_close(r, 1, 406, "PRECONDITION_FAILED - cannot switch from confirm to tx mode",
                              TX_SELECT)
        r.close_connection()
