"""Publisher confirms as RabbitMQ sends them: publishes confirmed together are acked together,
by one `basic.ack` with `multiple=true` (amqplib's own tests expect such acks under load), and
every publish is confirmed exactly once, in order."""

from __future__ import annotations

import struct

import rawamqp as R

CONFIRM_SELECT = (85, 10)
CONFIRM_SELECT_OK = (85, 11)
BASIC_NACK = (60, 120)


def read_confirms(conn: R.RawAMQP, last: int) -> list[tuple[str, int, bool]]:
    """(ack|nack, delivery tag, multiple) until `last` is confirmed."""
    confirms = []
    while not confirms or confirms[-1][1] < last:
        f = conn.read_method()
        assert f.method in (R.BASIC_ACK, BASIC_NACK), f"expected a confirm, got {f.method}"
        tag, = struct.unpack(">Q", f.payload[4:12])
        kind = "ack" if f.method == R.BASIC_ACK else "nack"
        confirms.append((kind, tag, bool(f.payload[12] & 1)))
    return confirms


def confirmed_tags(confirms: list[tuple[str, int, bool]]) -> list[int]:
    """The publishes each confirm settles, in the order they were settled."""
    tags, done = [], 0
    for _, tag, multiple in confirms:
        assert tag > done, f"tag {tag} confirmed again (after {done})"
        tags.extend(range(done + 1, tag + 1) if multiple else [tag])
        done = tag
    return tags


def test_amqplib_a_burst_of_publishes_is_confirmed_by_multiple_acks(broker):
    burst = 500
    with broker.raw() as conn:
        conn.handshake()
        conn.open_channel(1)
        queue, _, _ = conn.queue_declare(1, "", exclusive=True)
        conn.send_method(1, CONFIRM_SELECT, b"\x00")
        conn.expect_method(CONFIRM_SELECT_OK, 1)
        conn.send(b"".join(R.publish_frames(1, "", queue, b"event") for _ in range(burst)))
        confirms = read_confirms(conn, burst)
        assert confirmed_tags(confirms) == list(range(1, burst + 1))
        assert all(kind == "ack" for kind, _, _ in confirms)
        assert any(multiple for _, _, multiple in confirms), "no ack with multiple=true"
        assert len(confirms) < burst / 2, f"{len(confirms)} acks for {burst} publishes"
        conn.close_connection()
