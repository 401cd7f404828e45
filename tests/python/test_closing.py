"""Closing handshakes that cross or come late, seen frame by frame: what RabbitMQ answers when a
client's close meets the broker's, when a channel is reopened before its close is finished, and
who closes the socket after `connection.close-ok`.

Each case comes from a client library whose own tests tripped on it (named in the test).
"""

from __future__ import annotations

import rawamqp as R
from conftest import uniq


def frames_within(conn: R.RawAMQP, seconds: float) -> list[R.Frame]:
    """Every frame the broker sends within `seconds` (heartbeats skipped)."""
    out = []
    while True:
        try:
            out.append(conn.read_method(timeout=seconds))
        except TimeoutError:
            return out


def test_amqp091_go_close_crossing_the_brokers_close_is_answered(broker):
    """The broker closes channel 1 (404: a publish to a missing exchange) while the client, at
    the same moment, closes it too, then sends the close-ok for the broker's close. RabbitMQ
    answers the client's close with close-ok and ignores the late close-ok; channel 2 and the
    connection carry on."""
    with broker.raw() as conn:
        conn.handshake()
        conn.open_channel(1)
        conn.open_channel(2)
        conn.send(R.publish_frames(1, uniq("missing"), "k", b"hi")
                  + R.method_frame(1, R.CHANNEL_CLOSE, R.close_args()))
        close = R.decode_close(conn.read_method())
        assert close is not None and (close.kind, close.channel, close.reply_code) == \
            ("channel", 1, 404)
        conn.expect_method(R.CHANNEL_CLOSE_OK, 1)
        conn.send_method(1, R.CHANNEL_CLOSE_OK)
        assert frames_within(conn, 0.3) == [], "the late close-ok is not answered"
        name, _, _ = conn.queue_declare(2, "", exclusive=True)
        assert name.startswith("amq.gen-")
        conn.open_channel(1)  # free again
        conn.close_connection()


def test_amqp091_go_channel_open_before_the_close_ok_is_a_connection_error(broker):
    """A channel the broker is closing is not free until its close-ok comes: opening it again
    before that is a connection error, as RabbitMQ words it (not silence)."""
    with broker.raw() as conn:
        conn.handshake()
        conn.open_channel(1)
        conn.publish(1, uniq("missing"), "k", b"hi")
        close = R.decode_close(conn.read_method())
        assert close is not None and (close.kind, close.reply_code) == ("channel", 404)
        conn.send_method(1, R.CHANNEL_OPEN, R.shortstr(""))
        close = conn.wait_close()
        assert (close.kind, close.reply_code, close.reply_text) == \
            ("connection", 504, "CHANNEL_ERROR - second 'channel.open' seen")
        assert (close.class_id, close.method_id) == R.CHANNEL_OPEN


def test_close_ok_for_a_channel_never_opened_is_a_connection_error(broker):
    with broker.raw() as conn:
        conn.handshake()
        conn.send_method(5, R.CHANNEL_CLOSE_OK)
        close = conn.wait_close()
        assert (close.kind, close.reply_code, close.reply_text) == \
            ("connection", 504, "CHANNEL_ERROR - expected 'channel.open'")


def test_aiormq_the_client_closes_the_socket_after_close_ok(broker):
    """close-ok tells its recipient that it may release the connection and close the socket:
    RabbitMQ leaves that to the client rather than racing it with an early EOF (aiormq and
    aio-pika close while publishing and read on after close-ok)."""
    with broker.raw() as conn:
        conn.handshake()
        conn.open_channel(1)
        conn.send_method(0, R.CONNECTION_CLOSE, R.close_args())
        conn.expect_method(R.CONNECTION_CLOSE_OK, 0)
        assert not conn.peer_closed(timeout=1.0), "the broker closed the socket first"
