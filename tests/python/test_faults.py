"""Faults: clients that go silent, vanish mid-frame, mid-publish or mid-confirm, stop
reading their socket, or flood; the broker loses nothing it took, half-received publishes are
never delivered, and everyone else goes on.

Clients are killed with an RST (SO_LINGER 0), as a crashed process or a dead host behind a
firewall looks. Every expectation holds on RabbitMQ 3.10 (tests/rabbitmq-reference.sh)."""

from __future__ import annotations

import socket
import struct
import threading
import time

import pika
import pytest

import rawamqp as R
from conftest import (Collector, bodies, counts, queue_exists, settle, uniq, wait_for)


def _kill(r: R.RawAMQP) -> None:
    """Drop the TCP connection with an RST: no close frame, no FIN handshake."""
    r.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    r.close()


def _raw_client(broker, heartbeat: int = 0) -> R.RawAMQP:
    r = broker.raw()
    r.handshake(heartbeat=heartbeat)
    r.open_channel(1)
    return r


def _basic_get_unacked(r: R.RawAMQP, queue: str) -> bytes:
    got = r.basic_get(1, queue, no_ack=False)
    assert got is not None, f"{queue} is empty"
    return got[-1]


@pytest.mark.timeout(30)
def test_a_silent_client_is_dropped_and_its_state_released(broker, conn, cleanup):
    # heartbeat=1: the broker gives up after two missed intervals, then requeues the unacked
    # message with `redelivered` and deletes the exclusive queue.
    q = cleanup.queue(uniq("heartbeat"))
    ch = conn.channel()
    ch.queue_declare(q)
    ch.basic_publish("", q, b"taken by the silent client")
    wait_for(lambda: counts(ch, q)[0] == 1, what="the message in the queue")

    r = _raw_client(broker, heartbeat=1)
    exclusive = uniq("silent-exclusive")
    r.queue_declare(1, exclusive, exclusive=True)
    assert _basic_get_unacked(r, q) == b"taken by the silent client"
    started = time.monotonic()
    # From now on the client neither sends nor acks (the socket stays open).
    try:
        assert r.peer_closed(timeout=10), "the broker kept a silent connection for 10 s"
        elapsed = time.monotonic() - started
    finally:
        r.close()
    assert 1.0 <= elapsed <= 5.0, f"dropped after {elapsed:.1f} s, expected about 2 to 3"

    method, props, body = _get(ch, q)
    assert (body, method.redelivered) == (b"taken by the silent client", True)
    wait_for(lambda: not queue_exists(broker, exclusive), what="the exclusive queue's deletion")


def _get(ch, queue: str):
    deadline = time.monotonic() + 5
    while True:
        method, props, body = ch.basic_get(queue, auto_ack=True)
        if method is not None:
            return method, props, body
        assert time.monotonic() < deadline, f"nothing came back to {queue}"
        time.sleep(0.02)


@pytest.mark.parametrize("cut", ["in the method frame", "after the method", "in the header",
                                 "after the header", "in the first body frame",
                                 "after the first body frame"])
def test_a_publish_cut_short_by_a_dying_client_is_never_delivered(broker, conn, cut):
    ch = conn.channel()
    q = ch.queue_declare("", exclusive=True).method.queue
    body = b"x" * 200_000  # two body frames at frame_max 131072
    r = _raw_client(broker)
    frames = R.publish_frames(1, "", q, body, None, r.frame_max)
    method_len = 7 + struct.unpack(">I", frames[3:7])[0] + 1
    header_end = method_len + 7 + struct.unpack(">I", frames[method_len + 3:method_len + 7])[0] + 1
    first_body_end = header_end + 7 + r.frame_max - 8 + 1
    offset = {"in the method frame": method_len // 2, "after the method": method_len,
              "in the header": method_len + 10, "after the header": header_end,
              "in the first body frame": header_end + 1000,
              "after the first body frame": first_body_end}[cut]
    assert offset < len(frames)
    r.send(frames[:offset])
    time.sleep(0.1)  # let the broker read what was sent before the reset
    _kill(r)

    # A whole publish on the same queue afterwards: only it arrives.
    ch.basic_publish("", q, b"whole")
    assert bodies(settle(ch, [q])[q]) == [b"whole"]


def test_publishes_received_before_the_publisher_died_are_kept_and_routed(broker, conn):
    # The publisher dies with its confirms unread: every publish the broker had read in full
    # is routed, confirmed or not.
    ch = conn.channel()
    q = ch.queue_declare("", exclusive=True).method.queue
    r = _raw_client(broker)
    r.send_method(1, (85, 10), b"\x00")  # confirm.select
    r.expect_method((85, 11), 1)
    r.send(b"".join(R.publish_frames(1, "", q, b"%d" % i, None, r.frame_max) for i in range(100)))
    # The first confirm proves the broker is reading; then the publisher dies mid-confirms.
    r.expect_method((60, 80), 1)
    time.sleep(0.2)
    _kill(r)
    wait_for(lambda: counts(ch, q)[0] == 100, what="100 messages in the queue")
    got = settle(ch, [q])[q]
    assert bodies(got) == [b"%d" % i for i in range(100)]


def test_unacked_deliveries_of_a_killed_consumer_come_back_redelivered(broker, conn):
    ch = conn.channel()
    q = ch.queue_declare(uniq("killed-consumer"), auto_delete=False).method.queue
    try:
        for i in range(3):
            ch.basic_publish("", q, b"%d" % i)
        wait_for(lambda: counts(ch, q)[0] == 3, what="3 messages in the queue")
        r = _raw_client(broker)
        taken = [_basic_get_unacked(r, q) for _ in range(3)]
        assert taken == [b"0", b"1", b"2"]
        _kill(r)
        wait_for(lambda: counts(ch, q)[0] == 3, what="the 3 messages back in the queue")
        again = [_get(ch, q) for _ in range(3)]
        assert [(body, m.redelivered) for m, _, body in again] == \
            [(b"0", True), (b"1", True), (b"2", True)]
    finally:
        ch.queue_delete(q)


@pytest.mark.timeout(60)
def test_a_consumer_that_stops_reading_stalls_nobody_else(broker, conn):
    # Consumer A takes deliveries with autoack but never reads its socket; 40 MB go its way.
    # Consumer B, on another queue, is served at once all along, and A's backlog waits in
    # its queue or its socket, not in the publisher.
    ch = conn.channel()
    qb = ch.queue_declare("", exclusive=True).method.queue
    stalled = _raw_client(broker)
    qa, _, _ = stalled.queue_declare(1, "", exclusive=True)
    stalled.send_method(1, (60, 20), struct.pack(">H", 0) + R.shortstr(qa) + R.shortstr("stalled")
                        + bytes([0b10]) + R.encode_table({}))  # basic.consume no-ack
    stalled.expect_method((60, 21), 1)
    try:
        chunk = b"a" * 100_000
        for _ in range(400):
            ch.basic_publish("", qa, chunk)
        for i in range(20):
            ch.basic_publish("", qb, b"b%d" % i)
        started = time.monotonic()
        got = settle(ch, [qb])[qb]
        assert bodies(got) == [b"b%d" % i for i in range(20)]
        assert time.monotonic() - started < 10
    finally:
        _kill(stalled)


@pytest.mark.timeout(60)
def test_a_flooding_publisher_does_not_starve_another_publishers_consumer(broker, conn):
    # One connection publishes as fast as it can to a queue nobody reads, in a thread; on
    # another connection, a publisher and its consumer exchange 200 messages within seconds.
    flood_q = uniq("flood")
    setup = conn.channel()
    setup.queue_declare(flood_q, arguments={"x-max-length": 10_000})
    stop = threading.Event()

    def flood():
        c = broker.connect()
        fch = c.channel()
        body = b"f" * 1000
        while not stop.is_set():
            for _ in range(500):
                fch.basic_publish("", flood_q, body)
            c.process_data_events(time_limit=0)
        c.close()

    flooder = threading.Thread(target=flood, daemon=True)
    flooder.start()
    try:
        time.sleep(0.5)
        ch = conn.channel()
        q = ch.queue_declare("", exclusive=True).method.queue
        collector = Collector(ch)
        ch.basic_consume(q, collector, auto_ack=True)
        started = time.monotonic()
        for i in range(200):
            ch.basic_publish("", q, b"%d" % i)
        collector.until(conn, lambda: len(collector.messages()) == 200, timeout=20,
                        what="200 deliveries beside the flood")
        assert bodies(collector.messages()) == [b"%d" % i for i in range(200)]
        assert time.monotonic() - started < 20
    finally:
        stop.set()
        flooder.join(timeout=10)
        setup.queue_delete(flood_q)
