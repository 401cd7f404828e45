"""Connection semantics: the exact server capabilities table, connection.blocked announced by a
client, connection.update-secret.

Every expectation here was recorded against RabbitMQ 3.10 (tests/rabbitmq-reference.sh)."""

from __future__ import annotations

import pytest

import rawamqp as R
from conftest import assert_broker_healthy, bodies, settle

UPDATE_SECRET, UPDATE_SECRET_OK = (10, 70), (10, 71)

# What RabbitMQ 3.10.8 sends in connection.start server-properties.capabilities, in wire order,
# every value a boolean true ('t').
RABBITMQ_3_10_CAPABILITIES = [
    "publisher_confirms",
    "exchange_exchange_bindings",
    "basic.nack",
    "consumer_cancel_notify",
    "connection.blocked",
    "consumer_priorities",
    "authentication_failure_close",
    "per_consumer_qos",
    "direct_reply_to",
]


def test_server_capabilities_table_is_exactly_rabbitmqs(broker):
    with broker.raw() as r:
        r.send(R.PROTOCOL_HEADER)
        f = r.expect_method(R.CONNECTION_START, 0)
        a = f.args()
        a.octet(), a.octet()
        props = a.table(typed=True)
        caps = props["capabilities"]
        assert caps.kind == "F"
        assert sorted(caps.value) == sorted(RABBITMQ_3_10_CAPABILITIES), "key set"
        assert list(caps.value) == RABBITMQ_3_10_CAPABILITIES, "key order"
        assert all(v == R.Typed("t", True) for v in caps.value.values()), caps


@pytest.mark.parametrize("capabilities", [
    {"connection.blocked": True},
    {"connection.blocked": False},
    {},
], ids=["announced", "announced-false", "absent"])
def test_client_announcing_connection_blocked_connects(broker, capabilities):
    # a real connection.blocked needs a memory/disk alarm; here: the handshake is unaffected
    with broker.raw() as r:
        r.handshake(client_properties={"product": "raw", "capabilities": capabilities})
        r.open_channel(1)
        q, _, _ = r.queue_declare(1, "", exclusive=True)
        r.publish(1, "", q, b"fine")
        got = None
        for _ in range(100):
            got = r.basic_get(1, q)
            if got:
                break
        assert got is not None and got[6] == b"fine"
        r.close_connection()


def test_pika_with_blocked_callbacks_connects(broker):
    # pika announces connection.blocked (and honours blocked_connection_timeout)
    c = broker.connect(blocked_connection_timeout=5)
    try:
        events = []
        c.add_on_connection_blocked_callback(lambda *a: events.append("blocked"))
        c.add_on_connection_unblocked_callback(lambda *a: events.append("unblocked"))
        ch = c.channel()
        q = ch.queue_declare("", exclusive=True).method.queue
        ch.basic_publish("", q, b"not blocked")
        assert bodies(settle(ch, [q])[q]) == [b"not blocked"]
        assert events == []  # no alarm: never blocked
    finally:
        c.close()


@pytest.mark.parametrize("secret", ["guest", "not-the-password"], ids=["same", "other"])
def test_update_secret(broker, secret):
    # With PLAIN and the internal user database RabbitMQ 3.10 answers update-secret-ok whatever
    # the new secret is (surprise: it is not checked against the password), and the connection
    # goes on working.
    with broker.raw() as r:
        r.handshake(user=broker.user, password=broker.password, vhost=broker.vhost)
        r.send_method(0, UPDATE_SECRET, R.longstr(secret) + R.shortstr("token refresh"))
        f = r.expect_method(UPDATE_SECRET_OK, 0)
        assert f.payload == b"\x00\x0a\x00\x47"  # no arguments
        r.open_channel(1)
        q, _, _ = r.queue_declare(1, "", exclusive=True)
        r.publish(1, "", q, b"after update-secret")
        got = None
        for _ in range(100):
            got = r.basic_get(1, q)
            if got:
                break
        assert got is not None and got[6] == b"after update-secret"
        r.close_connection()


def test_update_secret_on_a_channel_is_a_connection_error(broker):
    # connection.* methods on a channel other than 0: 503 COMMAND_INVALID (RabbitMQ's generic
    # "unimplemented method" for a method that makes no sense there)
    with broker.raw() as r:
        r.handshake()
        r.open_channel(1)
        r.send_method(1, UPDATE_SECRET, R.longstr("guest") + R.shortstr("wrong channel"))
        close = r.wait_close()
        assert (close.kind, close.reply_code, close.reply_text) == \
            ("connection", 503, "COMMAND_INVALID - unimplemented method"), close
        assert (close.class_id, close.method_id) == UPDATE_SECRET
        r.send_method(0, R.CONNECTION_CLOSE_OK)
        assert r.peer_closed(2)
    assert_broker_healthy(broker)
