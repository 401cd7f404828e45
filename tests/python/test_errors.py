"""Errors: channel exceptions close only the channel; connection exceptions close the connection
with the right reply code; the broker keeps serving other clients afterwards."""

from __future__ import annotations

import struct
import uuid

import kombu
import pika
import pytest

import rawamqp as R
from conftest import assert_broker_healthy, assert_channel_closed, bodies, get_one, settle, uniq

# ---- channel errors (pika) ---------------------------------------------------------------------


def test_publish_to_missing_exchange_closes_the_channel_only(conn):
    ch = conn.channel()
    x = uniq("missing")
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as exc:
        ch.basic_publish(x, "k", b"lost")
        ch.queue_declare("", exclusive=True)  # the close arrives before this one's answer
    assert_channel_closed(exc, 404, f"NOT_FOUND - no exchange '{x}' in vhost '/'")
    assert ch.is_closed
    # the connection is fine: a new channel works
    ch2 = conn.channel()
    q = ch2.queue_declare("", exclusive=True).method.queue
    ch2.basic_publish("", q, b"fine")
    assert bodies(settle(ch2, [q])[q]) == [b"fine"]


def test_consume_from_missing_queue(conn):
    q = uniq("missing")
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as exc:
        conn.channel().basic_consume(q, lambda *a: None)
    assert_channel_closed(exc, 404, f"NOT_FOUND - no queue '{q}' in vhost '/'")
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as exc:
        conn.channel().basic_get(q)
    assert_channel_closed(exc, 404, f"NOT_FOUND - no queue '{q}' in vhost '/'")
    assert conn.channel().is_open


def test_ack_of_unknown_delivery_tag(conn):
    ch = conn.channel()
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as exc:
        ch.basic_ack(42)
        ch.queue_declare("", exclusive=True)
    assert_channel_closed(exc, 406, "PRECONDITION_FAILED - unknown delivery tag 42")
    # acking twice is the same mistake
    ch = conn.channel()
    q = ch.queue_declare("", exclusive=True).method.queue
    ch.basic_publish("", q, b"x")
    method, _, _ = get_one(ch, q, auto_ack=False)
    ch.basic_ack(method.delivery_tag)
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as exc:
        ch.basic_ack(method.delivery_tag)
        ch.queue_declare("", exclusive=True)
    assert_channel_closed(exc, 406, f"PRECONDITION_FAILED - unknown delivery tag {method.delivery_tag}")
    assert conn.channel().is_open


def test_kombu_py_amqp_client_publishes(broker, conn):
    ch = conn.channel()
    q = ch.queue_declare("", exclusive=True).method.queue
    ch.queue_bind(q, "xivo", "config.user.created")
    with kombu.Connection(broker.kombu_url(), connect_timeout=5) as kc:
        kc.connect()
        # py-amqp reports the server's properties it parsed
        assert kc.connection.server_capabilities.get("exchange_exchange_bindings") is True
        producer = kombu.Producer(kc.channel(), exchange=kombu.Exchange("xivo", type="topic"))
        producer.publish({"name": "user_created", "data": {"id": 42}},
                         routing_key="config.user.created",
                         headers={"name": "user_created", "origin_uuid": str(uuid.uuid4())},
                         serializer="json")
    _, props, body = get_one(ch, q)
    assert props.content_type == "application/json"
    assert props.headers["name"] == "user_created"
    assert body == b'{"name": "user_created", "data": {"id": 42}}'


# ---- connection errors (raw frames) --------------------------------------------------------------


def _expect_connection_close(r, code, text_prefix, class_method=None, framing_ok=True):
    close = r.wait_close()
    assert close.kind == "connection", close
    assert close.reply_code == code, close
    assert close.reply_text.startswith(text_prefix), close
    if class_method is not None:
        assert (close.class_id, close.method_id) == class_method, close
    r.send_method(0, R.CONNECTION_CLOSE_OK)
    if framing_ok:
        # we answer close-ok; the broker then closes the socket. (After a framing error RabbitMQ
        # cannot read our close-ok and only closes after a ~3 s timeout: not checked there.)
        assert r.peer_closed(2)
    return close


# The rest of RabbitMQ's FRAME_ERROR texts is Erlang terms, e.g.
#   FRAME_ERROR - type 9, all octets = <<"abcd">>: unknown_frame
#   FRAME_ERROR - type 104, all octets = <<>>: {frame_too_large,1819222135,131064}
#   FRAME_ERROR - type 1, all octets = <<0,10,0,40>>: {invalid_frame_end_marker,0}
# so only the code and the "FRAME_ERROR" prefix are asserted.
@pytest.mark.parametrize("garbage", [
    R.frame(9, 0, b"abcd"),  # an unknown frame type with a well-formed size and frame-end
    b"hello world, this is not AMQP\r\n",  # read as frame type 'h' with an absurd size
    R.frame(1, 0, b"\x00\x0a\x00\x28")[:-1] + b"\x00",  # frame-end octet is not 0xCE
], ids=["unknown-frame-type", "text", "bad-frame-end"])
def test_garbage_after_handshake(broker, garbage):
    with broker.raw() as r:
        r.handshake()
        r.send(garbage)
        _expect_connection_close(r, 501, "FRAME_ERROR", framing_ok=False)
    assert_broker_healthy(broker)


def test_frame_larger_than_negotiated_frame_max(broker):
    with broker.raw() as r:
        r.handshake(frame_max=4096)
        r.open_channel(1)
        r.send(R.method_frame(1, R.BASIC_PUBLISH, struct.pack(">H", 0) + R.shortstr("")
                              + R.shortstr("x") + b"\x00"))
        r.send(R.content_header_frame(1, 8000))
        r.send(R.frame(R.FRAME_BODY, 1, b"a" * 8000))  # 8000 > 4096 - 8
        # RabbitMQ: "FRAME_ERROR - type 3, all octets = <<>>: {frame_too_large,8000,4088}"
        _expect_connection_close(r, 501, "FRAME_ERROR", framing_ok=False)
    assert_broker_healthy(broker)


def test_method_on_a_channel_that_was_never_opened(broker):
    with broker.raw() as r:
        r.handshake()
        r.send_method(5, R.QUEUE_DECLARE, struct.pack(">H", 0) + R.shortstr("") + b"\x00"
                      + R.encode_table({}))
        _expect_connection_close(r, 504, "CHANNEL_ERROR - expected 'channel.open'", (50, 10))
    assert_broker_healthy(broker)


def test_second_channel_open_on_an_open_channel(broker):
    with broker.raw() as r:
        r.handshake()
        r.open_channel(1)
        r.send_method(1, R.CHANNEL_OPEN, R.shortstr(""))
        _expect_connection_close(r, 504, "CHANNEL_ERROR - second 'channel.open' seen", (20, 10))
    assert_broker_healthy(broker)


def test_content_body_without_header(broker):
    with broker.raw() as r:
        r.handshake()
        r.open_channel(1)
        r.send(R.frame(R.FRAME_BODY, 1, b"abc"))
        _expect_connection_close(
            r, 505, "UNEXPECTED_FRAME - expected method frame, got non method frame instead")
    assert_broker_healthy(broker)


def test_wrong_password_pika(broker):
    with pytest.raises(pika.exceptions.ProbableAuthenticationError) as exc:
        broker.connect(credentials=pika.PlainCredentials(broker.user, "wrong-password"))
    # pika announces authentication_failure_close, so it is told why
    assert "ACCESS_REFUSED" in str(exc.value)
    assert_broker_healthy(broker)


def test_wrong_password_raw_with_authentication_failure_close(broker):
    with broker.raw() as r:
        r.start()
        r.start_ok(broker.user, "wrong-password",
                   {"product": "raw", "capabilities": {"authentication_failure_close": True}})
        _expect_connection_close(r, 403, "ACCESS_REFUSED - Login was refused using authentication "
                                         "mechanism PLAIN")
    assert_broker_healthy(broker)


def test_wrong_password_raw_without_the_capability(broker):
    # without authentication_failure_close, RabbitMQ just drops the TCP connection
    with broker.raw() as r:
        r.start()
        r.start_ok(broker.user, "wrong-password", {"product": "raw"})
        with pytest.raises(R.PeerClosed):
            r.read_frame()
    assert_broker_healthy(broker)


def test_unknown_vhost(broker):
    with broker.raw() as r:
        r.start()
        r.start_ok(broker.user, broker.password)
        r.expect_method(R.CONNECTION_TUNE, 0)
        r.send_method(0, R.CONNECTION_TUNE_OK, struct.pack(">HIH", 2047, 131072, 0))
        r.send_method(0, R.CONNECTION_OPEN, R.shortstr("no-such-vhost") + R.shortstr("") + b"\x00")
        _expect_connection_close(r, 530, "NOT_ALLOWED - vhost no-such-vhost not found", (10, 40))
    assert_broker_healthy(broker)


def test_server_channel_close_then_reuse_the_channel_id(broker):
    with broker.raw() as r:
        r.handshake()
        r.open_channel(1)
        x = uniq("missing")
        r.publish(1, x, "k", b"lost")
        close = r.wait_close()
        assert (close.kind, close.channel, close.reply_code) == ("channel", 1, 404), close
        assert close.reply_text == f"NOT_FOUND - no exchange '{x}' in vhost '/'"
        assert (close.class_id, close.method_id) == (60, 40)  # basic.publish
        r.send_method(1, R.CHANNEL_CLOSE_OK)
        r.open_channel(1)  # the id is free again
        q, _, _ = r.queue_declare(1, "", exclusive=True)
        r.publish(1, "", q, b"again")
        assert r.basic_get(1, q)[6] == b"again"
        r.close_connection()


def test_channel_flow(broker):
    # channel.flow active=true is answered; RabbitMQ 3.x refuses active=false (540, hard).
    flow, flow_ok = (20, 20), (20, 21)
    with broker.raw() as r:
        r.handshake()
        r.open_channel(1)
        r.send_method(1, flow, b"\x01")
        reply = r.expect_method(flow_ok, channel=1)
        assert reply.args().octet() == 1
        r.send_method(1, flow, b"\x00")
        _expect_connection_close(r, 540, "NOT_IMPLEMENTED - active=false", flow)
    assert_broker_healthy(broker)


def test_channel_max_limits_how_many_channels_are_open_not_their_ids(broker):
    # RabbitMQ counts open channels against the negotiated channel_max; an id above it is fine.
    with broker.raw() as r:
        r.handshake(channel_max=2)
        r.open_channel(7)
        r.open_channel(1)
        r.send_method(3, R.CHANNEL_OPEN, R.shortstr(""))
        _expect_connection_close(
            r, 530, "NOT_ALLOWED - number of channels opened (2) has reached the negotiated channel_max (2)",
            (0, 0))  # RabbitMQ names no method here
    assert_broker_healthy(broker)
