"""Connections, channels and consumers through the management API, and closing a connection from
outside: DELETE /api/connections/{name} with an X-Reason header (amqp091-go's test helper does
this) reaches a real client as connection.close 320 with reply text "CONNECTION_FORCED - <reason>",
or "CONNECTION_FORCED - Closed via management plugin" without the header."""

from __future__ import annotations

import time

import amqp
import pika
import pytest

import mgmt
from conftest import assert_broker_healthy
from mgmt import NOT_FOUND, api_path, connection_named, eventually


@pytest.fixture
def named(broker):
    """A pika connection named by client_properties.connection_name, with one channel."""
    name = mgmt.uniq_name("conn")
    c = broker.connect(client_properties={"connection_name": name})
    ch = c.channel()
    yield name, c, ch
    if c.is_open:
        c.close()


def test_list_and_one(management, named, broker):
    name, c, _ = named
    listed = connection_named(management, name)
    assert listed["user"] == broker.user and listed["vhost"] == "/"
    assert listed["protocol"] == "AMQP 0-9-1" and listed["auth_mechanism"] == "PLAIN"
    assert listed["user_provided_name"] == name
    assert listed["client_properties"]["product"] == "Pika Python Client Library"
    assert listed["client_properties"]["capabilities"]["publisher_confirms"] is True
    assert listed["port"] == broker.port and listed["peer_host"] == "127.0.0.1"
    assert listed["name"] == f"127.0.0.1:{listed['peer_port']} -> 127.0.0.1:{broker.port}"
    one = eventually(lambda: management.json(api_path("connections", listed["name"])),
                     lambda x: x.get("channels") == 1, what="the connection with 1 channel")
    assert one["name"] == listed["name"] and one["state"] == "running"
    assert one["frame_max"] == 131072 and one["channel_max"] == 2047
    assert isinstance(one["connected_at"], int) and one["connected_at"] > 1_500_000_000_000
    in_vhost = management.json(api_path("vhosts", "/", "connections"))
    assert listed["name"] in [x["name"] for x in in_vhost]


def test_unknown_connection_and_channel(management):
    for path in (api_path("connections", "127.0.0.1:1 -> 127.0.0.1:2"),
                 api_path("channels", "127.0.0.1:1 -> 127.0.0.1:2 (1)")):
        r = management.get(path)
        assert r.status_code == 404 and r.json() == NOT_FOUND
    r = management.delete(api_path("connections", "127.0.0.1:1 -> 127.0.0.1:2"))
    assert r.status_code == 404 and r.json() == NOT_FOUND


def test_channels(management, named):
    name, c, ch = named
    ch2 = c.channel()
    ch2.confirm_delivery()
    ch2.basic_qos(prefetch_count=7)
    conn = connection_named(management, name)
    channels = eventually(lambda: management.json(api_path("connections", conn["name"],
                                                           "channels")),
                          lambda cs: len(cs) == 2 and any(x["number"] == ch2.channel_number
                                                          and x["confirm"] is True
                                                          and x["prefetch_count"] == 7
                                                          for x in cs),
                          what="two channels, the second in confirm mode with prefetch 7")
    by_number = {x["number"]: x for x in channels}
    assert set(by_number) == {ch.channel_number, ch2.channel_number}
    second = by_number[ch2.channel_number]
    assert second["name"] == f"{conn['name']} ({ch2.channel_number})"
    assert second["confirm"] is True and second["prefetch_count"] == 7
    assert by_number[ch.channel_number]["confirm"] is False
    assert second["connection_details"] == {"name": conn["name"], "peer_host": conn["peer_host"],
                                            "peer_port": conn["peer_port"]}
    assert second["user"] == conn["user"] and second["vhost"] == "/"
    one = management.json(api_path("channels", second["name"]))
    assert one["name"] == second["name"] and one["number"] == ch2.channel_number
    for path in ("/api/channels", api_path("vhosts", "/", "channels")):
        assert second["name"] in [x["name"] for x in management.json(path)], path


def test_consumers(management, named, made):
    name, c, ch = named
    q = made.queue("/", mgmt.uniq_name("cq"))
    management.declare_queue("/", q)
    ch.basic_qos(prefetch_count=3)
    tag = ch.basic_consume(q, lambda *a: None, consumer_tag=q + ".tag")
    conn = connection_named(management, name)

    def ours(path):
        return [x for x in management.json(path) if x["queue"]["name"] == q]

    for path in ("/api/consumers", api_path("consumers", "/")):
        found = eventually(lambda: ours(path), lambda xs: len(xs) == 1, what=f"{path} has it")[0]
        assert found["consumer_tag"] == tag and found["queue"] == {"name": q, "vhost": "/"}
        assert found["ack_required"] is True and found["exclusive"] is False
        assert found["prefetch_count"] == 3 and found["active"] is True
        assert found["channel_details"]["connection_name"] == conn["name"]
        assert found["channel_details"]["number"] == ch.channel_number
    r = management.get(api_path("consumers", mgmt.uniq_name("nov")))
    assert r.status_code == 404 and r.json() == NOT_FOUND


def close_from_outside(management, name, reason=None):
    conn = connection_named(management, name)
    headers = {"X-Reason": reason} if reason is not None else {}
    r = management.delete(api_path("connections", conn["name"]), headers=headers)
    assert r.status_code == 204 and r.content == b""
    return conn


def pika_closed(c: pika.BlockingConnection, timeout: float = 10):
    deadline = time.monotonic() + timeout
    with pytest.raises(pika.exceptions.ConnectionClosedByBroker) as excinfo:
        while time.monotonic() < deadline:
            c.process_data_events(time_limit=0.1)
    return excinfo.value


def test_delete_with_x_reason_closes_with_320(management, named):
    name, c, _ = named
    conn = close_from_outside(management, name, "closed by the test suite")
    exc = pika_closed(c)
    assert (exc.reply_code, exc.reply_text) == (320, "CONNECTION_FORCED - closed by the test suite")
    eventually(lambda: management.get(api_path("connections", conn["name"])).status_code,
               lambda s: s == 404, what="the connection gone from the API")


def test_delete_without_reason(management, named):
    name, c, _ = named
    close_from_outside(management, name)
    exc = pika_closed(c)
    assert (exc.reply_code, exc.reply_text) == \
        (320, "CONNECTION_FORCED - Closed via management plugin")


def test_delete_seen_by_py_amqp(management, broker):
    name = mgmt.uniq_name("conn")
    c = amqp.Connection(f"{broker.host}:{broker.port}", userid=broker.user,
                        password=broker.password, virtual_host=broker.vhost,
                        client_properties={"connection_name": name})
    c.connect()
    try:
        close_from_outside(management, name, "kombu, go away")
        with pytest.raises(amqp.exceptions.ConnectionForced) as excinfo:
            c.drain_events(timeout=10)
        assert excinfo.value.code == 320
        assert excinfo.value.reply_text == "CONNECTION_FORCED - kombu, go away"
    finally:
        c.collect()


def test_the_broker_goes_on_after_a_forced_close(management, named, broker):
    name, c, _ = named
    close_from_outside(management, name, "one of many")
    pika_closed(c)
    assert_broker_healthy(broker)


def test_consumers_of_a_vhost_without_permissions_are_none(management, made):
    """RabbitMQ answers a user's GET /api/consumers/{vhost} in a vhost it has no permissions in
    with what it may see there (200 `[]`), where the queue list is 401."""
    user, vhost = made.user(mgmt.uniq_name("cons")), made.vhost(mgmt.uniq_name("elsewhere"))
    mgmt.expect(management.put(api_path("users", user), {"password": "pw", "tags": "management"}),
                201, 204)
    mgmt.expect(management.put(api_path("vhosts", vhost)), 201, 204)
    theirs = management.as_user(user, "pw")
    assert theirs.json(api_path("consumers", vhost)) == []
    assert theirs.get(api_path("queues", vhost)).status_code == 401
