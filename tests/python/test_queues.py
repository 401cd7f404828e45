"""Queues: server-named, passive, exclusive, auto-delete, bind/unbind, purge, delete."""

from __future__ import annotations

import pika
import pytest

from conftest import (assert_channel_closed, bodies, counts, get_one, queue_exists, settle, uniq,
                      wait_for)


def test_server_named_queue(ch):
    ok = ch.queue_declare("", exclusive=True)
    assert ok.method.queue.startswith("amq.gen-")
    assert len(ok.method.queue) > len("amq.gen-")
    assert (ok.method.message_count, ok.method.consumer_count) == (0, 0)
    other = ch.queue_declare("", exclusive=True).method.queue
    assert other != ok.method.queue


def test_amq_queue_names_are_reserved_even_when_the_queue_exists(conn):
    ch = conn.channel()
    generated = ch.queue_declare("", exclusive=True).method.queue
    assert ch.queue_declare(generated, passive=True).method.queue == generated
    # RabbitMQ checks the name before looking the queue up: a non-passive redeclare of the
    # server-named queue by its name is refused, as is a new `amq.` name.
    for name in (generated, "amq.mine." + uniq()):
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as exc:
            conn.channel().queue_declare(name, exclusive=True)
        assert_channel_closed(
            exc, 403, f"ACCESS_REFUSED - queue name '{name}' contains reserved prefix 'amq.*'")


def test_exclusive_queues_are_never_durable(conn):
    # RabbitMQ: `Durable = DurableDeclare andalso not ExclusiveDeclare`, so a durable redeclare
    # of a transient exclusive queue is equivalent.
    q = uniq("exclusive")
    ch = conn.channel()
    ch.queue_declare(q, exclusive=True)
    assert ch.queue_declare(q, exclusive=True, durable=True).method.queue == q


def test_passive_declare_of_missing_queue(conn):
    q = uniq("missing")
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as exc:
        conn.channel().queue_declare(q, passive=True)
    assert_channel_closed(exc, 404, f"NOT_FOUND - no queue '{q}' in vhost '/'")


def test_declare_ok_counts(broker, conn, cleanup):
    q = cleanup.queue(uniq("counts"))
    ch = conn.channel()
    ok = ch.queue_declare(q)
    assert (ok.method.message_count, ok.method.consumer_count) == (0, 0)
    for i in range(3):
        ch.basic_publish("", q, b"%d" % i)
    # a non-passive redeclare reports the counts too (polled: see conftest.counts)
    wait_for(lambda: counts(ch, q, passive=False) == (3, 0), what="3 ready messages")
    ch.basic_qos(prefetch_count=1)
    ch.basic_consume(q, lambda *a: None, auto_ack=False)
    other = broker.connect()
    try:
        # one delivered (unacked, not counted), two ready, one consumer
        och = other.channel()
        wait_for(lambda: counts(och, q) == (2, 1), what="2 ready messages, 1 consumer")
    finally:
        other.close()


def test_redeclare_with_other_flags_is_refused(conn, cleanup):
    q = cleanup.queue(uniq("q"))
    conn.channel().queue_declare(q, durable=True)
    conn.channel().queue_declare(q, durable=True)  # same: Declare-Ok
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as exc:
        conn.channel().queue_declare(q, durable=False)
    assert_channel_closed(
        exc, 406, f"PRECONDITION_FAILED - inequivalent arg 'durable' for queue '{q}' in vhost '/'")
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as exc:
        conn.channel().queue_declare(q, durable=True, arguments={"x-message-ttl": 1000})
    assert_channel_closed(
        exc, 406,
        f"PRECONDITION_FAILED - inequivalent arg 'x-message-ttl' for queue '{q}' in vhost '/'")


def test_exclusive_queue_is_locked_to_its_connection(broker, conn):
    q = uniq("exclusive")
    conn.channel().queue_declare(q, exclusive=True)
    other = broker.connect()
    try:
        locked = (f"RESOURCE_LOCKED - cannot obtain exclusive access to locked queue '{q}' "
                  "in vhost '/'")
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as exc:
            other.channel().basic_consume(q, lambda *a: None)
        assert_channel_closed(exc, 405, locked)
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as exc:
            other.channel().queue_declare(q, passive=True)
        assert_channel_closed(exc, 405, locked)
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as exc:
            other.channel().queue_declare(q, exclusive=True)
        assert_channel_closed(exc, 405, locked)
        # publishing to it from elsewhere is fine
        other.channel().basic_publish("", q, b"from another connection")
    finally:
        other.close()
    ch = conn.channel()
    assert get_one(ch, q)[2] == b"from another connection"


def test_exclusive_queue_vanishes_with_its_connection(broker):
    c = broker.connect()
    q = c.channel().queue_declare(uniq("exclusive"), exclusive=True).method.queue
    assert queue_exists_from_owner(c, q)
    c.close()
    wait_for(lambda: not queue_exists(broker, q), what="exclusive queue deletion")


def queue_exists_from_owner(conn, q):
    return conn.channel().queue_declare(q, passive=True).method.queue == q


def test_auto_delete_queue_after_last_consumer_cancels(broker, conn, cleanup):
    q = cleanup.queue(uniq("autodel"))
    ch = conn.channel()
    ch.queue_declare(q, auto_delete=True)
    # never had a consumer: stays
    assert queue_exists(broker, q)
    t1 = ch.basic_consume(q, lambda *a: None)
    t2 = ch.basic_consume(q, lambda *a: None)
    ch.basic_cancel(t1)
    assert queue_exists(broker, q)  # one consumer left
    ch.basic_cancel(t2)
    wait_for(lambda: not queue_exists(broker, q), what="auto-delete queue deletion")


def test_auto_delete_queue_when_consumer_channel_closes(broker, conn, cleanup):
    q = cleanup.queue(uniq("autodel"))
    ch = conn.channel()
    ch.queue_declare(q, auto_delete=True)
    ch.basic_consume(q, lambda *a: None)
    ch.close()
    wait_for(lambda: not queue_exists(broker, q), what="auto-delete queue deletion")


def test_auto_delete_queue_when_consumer_connection_closes(broker, cleanup):
    q = cleanup.queue(uniq("autodel"))
    c = broker.connect()
    ch = c.channel()
    ch.queue_declare(q, auto_delete=True)
    ch.basic_consume(q, lambda *a: None)
    assert queue_exists(broker, q)
    c.close()
    wait_for(lambda: not queue_exists(broker, q), what="auto-delete queue deletion")


def test_bind_unbind(conn, cleanup):
    ch = conn.channel()
    q = ch.queue_declare("", exclusive=True).method.queue
    ch.queue_bind(q, "amq.direct", "k1")
    ch.basic_publish("amq.direct", "k1", b"bound")
    ch.queue_unbind(q, "amq.direct", "k1")
    ch.basic_publish("amq.direct", "k1", b"unbound")
    assert bodies(settle(ch, [q])[q]) == [b"bound"]
    # unbinding something that was never bound: Unbind-Ok
    ch.queue_unbind(q, "amq.direct", "never-bound")
    ch.queue_unbind(q, "amq.headers", "", arguments={"a": 1})
    assert ch.is_open


def test_bind_to_missing_exchange_or_queue(conn):
    ch = conn.channel()
    q = ch.queue_declare("", exclusive=True).method.queue
    missing_x, missing_q = uniq("missing-x"), uniq("missing-q")
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as exc:
        ch.queue_bind(q, missing_x, "k")
    assert_channel_closed(exc, 404, f"NOT_FOUND - no exchange '{missing_x}' in vhost '/'")
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as exc:
        conn.channel().queue_bind(missing_q, "amq.direct", "k")
    assert_channel_closed(exc, 404, f"NOT_FOUND - no queue '{missing_q}' in vhost '/'")


def test_purge_returns_count(ch):
    q = ch.queue_declare("", exclusive=True).method.queue
    for i in range(5):
        ch.basic_publish("", q, b"%d" % i)
    assert ch.queue_purge(q).method.message_count == 5
    assert ch.queue_purge(q).method.message_count == 0
    assert settle(ch, [q])[q] == []


def test_delete_returns_message_count(conn):
    ch = conn.channel()
    q = ch.queue_declare(uniq("del")).method.queue
    for i in range(4):
        ch.basic_publish("", q, b"%d" % i)
    wait_for(lambda: counts(ch, q) == (4, 0), what="4 messages")
    assert ch.queue_delete(q).method.message_count == 4
    # deleting a queue that does not exist: Delete-Ok with 0
    assert ch.queue_delete(q).method.message_count == 0


def test_delete_if_unused_and_if_empty(conn, cleanup):
    q = cleanup.queue(uniq("del"))
    ch = conn.channel()
    ch.queue_declare(q)
    ch.basic_consume(q, lambda *a: None)
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as exc:
        conn.channel().queue_delete(q, if_unused=True)
    assert_channel_closed(exc, 406, f"PRECONDITION_FAILED - queue '{q}' in vhost '/' in use")
    ch.close()  # no consumer any more
    ch = conn.channel()
    ch.basic_publish("", q, b"x")
    wait_for(lambda: counts(ch, q) == (1, 0), what="1 message")
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as exc:
        ch.queue_delete(q, if_empty=True)
    assert_channel_closed(exc, 406, f"PRECONDITION_FAILED - queue '{q}' in vhost '/' not empty")
    ch = conn.channel()
    assert ch.queue_delete(q, if_unused=True).method.message_count == 1


def test_queue_delete_removes_bindings(conn):
    ch = conn.channel()
    q = ch.queue_declare(uniq("q")).method.queue
    ch.queue_bind(q, "amq.direct", q)
    ch.queue_delete(q)
    ch.queue_declare(q, exclusive=True)  # same name again: no old binding comes back
    ch.basic_publish("amq.direct", q, b"after re-declare")
    assert bodies(settle(ch, [q])[q]) == []
    ch.queue_bind(q, "amq.direct", q)
    ch.basic_publish("amq.direct", q, b"bound again")
    assert bodies(settle(ch, [q])[q]) == [b"bound again"]


# ---- arguments Celery relies on (wazo-webhookd, wazo-call-logd workers) --------------------------


def test_x_message_ttl_expires_messages(conn):
    ch = conn.channel()
    q = ch.queue_declare("", exclusive=True, arguments={"x-message-ttl": 1000}).method.queue
    ch.basic_publish("", q, b"short-lived")
    wait_for(lambda: counts(ch, q) == (1, 0), what="the message")
    wait_for(lambda: counts(ch, q) == (0, 0), what="message expiry")
    assert ch.basic_get(q) == (None, None, None)


def test_x_expires_deletes_an_unused_queue(broker, conn, cleanup):
    q = cleanup.queue(uniq("expires"))
    conn.channel().queue_declare(q, arguments={"x-expires": 200})
    assert queue_exists(broker, q)
    # a passive declare counts as use and restarts the expiry timer: poll slower than it
    wait_for(lambda: not queue_exists(broker, q), interval=0.5, what="queue expiry")
