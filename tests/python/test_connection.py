"""Connection-level behaviour: protocol header, connection.start, tune/heartbeats, channels,
content framing (empty and multi-frame bodies), probes and clean close."""

from __future__ import annotations

import os
import socket
import time

import pika
import pytest

import rawamqp as R
from conftest import assert_broker_healthy, bodies, settle

RABBITMQ_CAPABILITIES = [
    "publisher_confirms", "exchange_exchange_bindings", "basic.nack", "consumer_cancel_notify",
    "connection.blocked", "consumer_priorities", "authentication_failure_close",
    "per_consumer_qos", "direct_reply_to",
]


@pytest.mark.parametrize("header", [
    b"AMQP\x00\x00\x09\x00",   # a version we do not speak
    b"AMQP\x00\x00\x08\x00",
    b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",  # not AMQP at all
], ids=["amqp-0-9-0", "amqp-0-8-0", "http"])
def test_wrong_protocol_header_gets_our_header_and_close(broker, header):
    with broker.raw() as r:
        r.send(header)
        assert r.recv_exact(8) == b"AMQP\x00\x00\x09\x01"
        assert r.peer_closed(5)
    assert_broker_healthy(broker)


def test_amqp_0_9_header_is_served_as_0_9_1(broker):
    # aioamqp (wazo-websocketd's client) opens with the AMQP 0-9 header; RabbitMQ serves it as
    # 0-9-1 (rabbit_reader:handshake({1, 1, 0, 9}, ...)).
    with broker.raw() as r:
        start = r.start(header=b"AMQP\x01\x01\x00\x09")
        assert start.version == (0, 9)


def test_connection_start(broker):
    with broker.raw() as r:
        start = r.start()
        assert start.version == (0, 9)
        assert "PLAIN" in start.mechanisms
        assert "en_US" in start.locales
        props = start.server_properties
        caps = props["capabilities"]
        for cap in RABBITMQ_CAPABILITIES:
            assert caps.get(cap) is True, f"capability {cap} missing: {caps}"
        # Celery/kombu read these
        for key in ("product", "version"):
            assert isinstance(props.get(key), bytes) and props[key], key


def test_tune_proposal_and_pika_negotiation(broker):
    with broker.raw() as r:
        hs = r.handshake()
        channel_max, frame_max, _heartbeat = hs.tune
        assert channel_max >= 2047
        assert frame_max == 131072
    c = broker.connect(heartbeat=7)
    try:
        assert c._impl.params.heartbeat == 7  # pika puts its own value in tune-ok
        assert c._impl.params.frame_max == 131072
        assert c._impl.params.channel_max >= 2047
        assert c.channel().is_open
    finally:
        c.close()


@pytest.mark.timeout(20)
def test_broker_sends_heartbeats_at_half_the_tune_ok_interval(broker):
    # tune-ok heartbeat=2 (the server proposed something else): the broker must send a heartbeat
    # frame about every second while nothing else is sent; we send ours every second too.
    with broker.raw() as r:
        r.handshake(heartbeat=2)
        start = time.monotonic()
        next_send = start
        received = []
        while time.monotonic() - start < 5.5:
            if time.monotonic() >= next_send:
                r.send(R.heartbeat_frame())
                next_send += 1.0
            try:
                f = r.read_frame(timeout=0.1)
            except TimeoutError:
                continue
            assert (f.type, f.channel, f.payload) == (R.FRAME_HEARTBEAT, 0, b""), f
            received.append(time.monotonic() - start)
        # RabbitMQ: at 1, 2, 3, 4, 5 s
        assert len(received) >= 4, received
        # and the connection is still fine
        r.open_channel(1)
        r.close_connection()


def test_2047_channels_on_one_connection(broker, conn):
    channels = [conn.channel() for _ in range(2047)]
    assert sorted(c.channel_number for c in channels) == list(range(1, 2048))
    last = channels[-1]
    q = last.queue_declare("", exclusive=True).method.queue
    last.basic_publish("", q, b"on channel 2047")
    assert bodies(settle(last, [q])[q]) == [b"on channel 2047"]
    for c in channels[:1000]:
        c.close()
    assert conn.channel().is_open


def test_channel_id_reused_after_close(broker, conn):
    first = conn.channel()
    number = first.channel_number
    first.close()
    again = conn.channel()
    assert again.channel_number == number
    assert again.queue_declare("", exclusive=True).method.queue.startswith("amq.gen-")
    # and at the frame level: open 1, close 1, open 1
    with broker.raw() as r:
        r.handshake()
        r.open_channel(1)
        r.close_channel(1)
        r.open_channel(1)
        r.close_connection()


def test_zero_length_body(broker, ch):
    q = ch.queue_declare("", exclusive=True).method.queue
    ch.basic_publish("", q, b"", pika.BasicProperties(message_id="empty"))
    got = settle(ch, [q])[q]
    assert [(p.message_id, b) for _, p, b in got] == [("empty", b"")]


def test_zero_length_body_has_no_body_frame(broker):
    # a publisher sends method + header(size 0) and no body frame; a getter gets the same
    with broker.raw() as r:
        r.handshake()
        r.open_channel(1)
        q, _, _ = r.queue_declare(1, "", exclusive=True)
        r.publish(1, "", q, b"", {"message_id": "empty"})
        r.publish(1, "", q, b"x", {"message_id": "one"})
        tag, redelivered, exchange, rk, count, props, body = r.basic_get(1, q)
        assert (props["message_id"], body, count) == ("empty", b"", 1)
        # the very next frame is the next method (get-ok of "one"), not an empty body frame
        got = r.basic_get(1, q)
        assert (got[5]["message_id"], got[6]) == ("one", b"x")
        r.close_connection()


def test_one_megabyte_body_round_trip(broker, ch):
    body = os.urandom(1024 * 1024)
    q = ch.queue_declare("", exclusive=True).method.queue
    ch.basic_publish("", q, body)
    got = settle(ch, [q])[q]
    assert len(got) == 1 and got[0][2] == body


def test_multi_frame_body_at_small_frame_max(broker):
    # tune-ok frame_max 4096: the body comes back split in frames of at most 4088 payload bytes
    body = os.urandom(20000)
    with broker.raw() as r:
        r.handshake(frame_max=4096)
        r.open_channel(1)
        q, _, _ = r.queue_declare(1, "", exclusive=True)
        r.publish(1, "", q, body)
        r.send_method(1, R.BASIC_GET, b"\x00\x00" + R.shortstr(q) + b"\x01")
        r.expect_method(R.BASIC_GET_OK, 1)
        header = r.read_frame()
        assert header.type == R.FRAME_HEADER
        chunks = []
        while sum(map(len, chunks)) < len(body):
            f = r.read_frame()
            assert f.type == R.FRAME_BODY and f.channel == 1
            assert len(f.payload) <= 4096 - 8
            chunks.append(f.payload)
        assert b"".join(chunks) == body
        assert len(chunks) == 5
        r.close_connection()


def test_tcp_probe_that_closes_immediately(broker):
    for _ in range(3):
        socket.create_connection((broker.host, broker.port), timeout=5).close()
    # a probe that sends half a protocol header and goes away
    s = socket.create_connection((broker.host, broker.port), timeout=5)
    s.sendall(b"AMQ")
    s.close()
    assert_broker_healthy(broker)


def test_client_initiated_close(broker):
    with broker.raw() as r:
        r.handshake()
        r.open_channel(1)
        r.close_connection()  # close -> close-ok
    c = broker.connect()
    c.channel()
    c.close()
    assert c.is_closed
    assert_broker_healthy(broker)


def test_amqplain_login_with_py_amqp(broker):
    import amqp

    c = amqp.Connection(f"{broker.host}:{broker.port}", userid=broker.user, password=broker.password,
                        virtual_host=broker.vhost, login_method="AMQPLAIN")
    c.connect()
    try:
        ch = c.channel()
        q, _, _ = ch.queue_declare("", exclusive=True)
        ch.basic_publish(amqp.Message(b"via AMQPLAIN"), "", q)
        msg = None
        for _ in range(50):
            msg = ch.basic_get(q, no_ack=True)
            if msg is not None:
                break
        assert msg is not None and msg.body == b"via AMQPLAIN"
    finally:
        c.close()
    bad = amqp.Connection(f"{broker.host}:{broker.port}", userid=broker.user, password="wrong",
                          virtual_host=broker.vhost, login_method="AMQPLAIN")
    with pytest.raises(amqp.exceptions.AccessRefused) as exc:
        bad.connect()
    assert "Login was refused using authentication mechanism AMQPLAIN" in str(exc.value)
