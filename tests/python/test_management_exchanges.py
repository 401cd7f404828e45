"""Exchanges through the management API: list, one, PUT/DELETE (with if-unused), the amq.* names
refused, POST publish (`routed`, encodings, properties), bindings/source and bindings/destination,
and `amq.default` as the default exchange's name in paths."""

from __future__ import annotations

import base64

import pytest

import mgmt
from conftest import exchange_exists, get_one
from mgmt import NOT_FOUND, api_path, assert_error, expect

DEFAULTS = {"amq.direct": "direct", "amq.fanout": "fanout", "amq.topic": "topic",
            "amq.headers": "headers", "amq.match": "headers", "": "direct"}


@pytest.fixture
def exchange(management, made):
    name = made.exchange("/", mgmt.uniq_name("mx"))
    management.declare_exchange("/", name, "topic")
    return name


def test_list_has_the_default_exchanges(management):
    for path in ("/api/exchanges", api_path("exchanges", "/")):
        listed = {(x["vhost"], x["name"]): x for x in management.json(path)}
        for name, type in DEFAULTS.items():
            x = listed[("/", name)]
            assert (x["type"], x["durable"], x["auto_delete"], x["internal"]) == \
                (type, True, False, False), x


def test_put_get_delete(management, made, broker):
    name = made.exchange("/", mgmt.uniq_name("mx"))
    r = management.put(api_path("exchanges", "/", name),
                       {"type": "topic", "durable": False, "auto_delete": False, "internal": False,
                        "arguments": {"alternate-exchange": "amq.fanout"}})
    assert r.status_code == 201 and r.content == b""
    r = management.put(api_path("exchanges", "/", name),
                       {"type": "topic", "arguments": {"alternate-exchange": "amq.fanout"}})
    assert r.status_code == 204
    x = management.json(api_path("exchanges", "/", name))
    assert {k: x[k] for k in ("name", "vhost", "type", "durable", "auto_delete", "internal",
                              "arguments")} == \
        {"name": name, "vhost": "/", "type": "topic", "durable": False, "auto_delete": False,
         "internal": False, "arguments": {"alternate-exchange": "amq.fanout"}}
    assert name in [e["name"] for e in management.json(api_path("exchanges", "/"))]
    assert exchange_exists(broker, name)
    r = management.delete(api_path("exchanges", "/", name))
    assert r.status_code == 204 and r.content == b""
    assert not exchange_exists(broker, name)
    r = management.delete(api_path("exchanges", "/", name))
    assert r.status_code == 404 and r.json() == NOT_FOUND
    r = management.get(api_path("exchanges", "/", name))
    assert r.status_code == 404 and r.json() == NOT_FOUND


def test_put_errors(management, exchange):
    assert_error(management.put(api_path("exchanges", "/", exchange), {"type": "direct"}), 400,
                 "bad_request", f"inequivalent arg 'type' for exchange '{exchange}' in vhost '/': "
                                "received 'direct' but current is 'topic'")
    other = mgmt.uniq_name("mx")
    assert_error(management.put(api_path("exchanges", "/", other), {"type": "nosuch"}), 400,
                 "bad_request", "unknown exchange type 'nosuch'")
    assert_error(management.put(api_path("exchanges", mgmt.uniq_name("nov"), other),
                                {"type": "direct"}), 404, "not_found", "vhost_not_found")
    for name in ("amq." + other, "amq.default"):
        assert_error(management.put(api_path("exchanges", "/", name), {"type": "direct"}), 401,
                     "not_authorised", "Access refused.")
    for name in ("amq.direct", "amq.default"):
        assert_error(management.delete(api_path("exchanges", "/", name)), 401,
                     "not_authorised", "Access refused.")


def test_put_without_type_declares_a_direct_exchange(management, made):
    name = made.exchange("/", mgmt.uniq_name("mx"))
    assert management.put(api_path("exchanges", "/", name), {}).status_code == 201
    assert management.json(api_path("exchanges", "/", name))["type"] == "direct"


def test_delete_if_unused(management, exchange, made):
    q = made.queue("/", exchange + ".q")
    management.declare_queue("/", q)
    expect(management.post(api_path("bindings", "/", "e", exchange, "q", q), {"routing_key": "k"}),
           201)
    assert_error(management.delete(api_path("exchanges", "/", exchange) + "?if-unused=true"), 400,
                 "bad_request", f"exchange '{exchange}' in vhost '/' in use")
    assert management.delete(api_path("exchanges", "/", exchange)).status_code == 204


def test_the_default_exchange_is_amq_default(management):
    x = management.json(api_path("exchanges", "/", "amq.default"))
    assert (x["name"], x["type"], x["durable"]) == ("", "direct", True)
    # the empty name segment (a double slash) names it too
    assert management.json(api_path("exchanges", "/") + "//")["name"] == ""


def test_publish_routed(management, exchange, made, ch):
    q = made.queue("/", exchange + ".q")
    management.declare_queue("/", q)
    expect(management.post(api_path("bindings", "/", "e", exchange, "q", q),
                           {"routing_key": "a.*"}), 201)
    r = management.post(api_path("exchanges", "/", exchange, "publish"),
                        {"routing_key": "a.b", "payload": "über", "payload_encoding": "string",
                         "properties": {"delivery_mode": 2, "content_type": "text/plain",
                                        "headers": {"h": "v", "n": 7}, "correlation_id": "c1",
                                        "priority": 3}})
    assert r.status_code == 200 and r.json() == {"routed": True}
    assert management.publish("/", exchange, "z.z", "lost") is False
    method, props, body = get_one(ch, q)
    assert body == "über".encode() and method.exchange == exchange and method.routing_key == "a.b"
    assert (props.delivery_mode, props.content_type, props.correlation_id, props.priority) == \
        (2, "text/plain", "c1", 3)
    assert props.headers == {"h": "v", "n": 7}
    assert ch.basic_get(q, auto_ack=True) == (None, None, None)


def test_publish_base64_and_default_exchange(management, made, ch):
    q = made.queue("/", mgmt.uniq_name("mx"))
    management.declare_queue("/", q)
    raw = b"\x00\x01\xfe\xff"
    assert management.publish("/", "amq.default", q, base64.b64encode(raw).decode(),
                              encoding="base64") is True
    assert get_one(ch, q)[2] == raw


def test_publish_seen_by_an_amqp_consumer(management, made, broker):
    q = made.queue("/", mgmt.uniq_name("mx"))
    management.declare_queue("/", q)
    c = broker.connect()
    try:
        got = []
        ch = c.channel()
        ch.basic_consume(q, lambda ch_, m, p, b: got.append(b), auto_ack=True)
        assert management.publish("/", "", q, "to the consumer") is True
        mgmt.eventually(lambda: (c.process_data_events(time_limit=0.05), got)[1], bool,
                        timeout=5, interval=0, what="the delivery")
        assert got == [b"to the consumer"]
    finally:
        c.close()


def test_publish_errors(management, exchange):
    path = api_path("exchanges", "/", exchange, "publish")
    assert_error(management.post(path, {"routing_key": "k", "payload": "x",
                                        "payload_encoding": "nope", "properties": {}}), 400,
                 "bad_request", ["unsupported_encoding", "nope"])
    assert_error(management.post(path, {"routing_key": "k", "payload": "x"}), 400, "bad_request",
                 "[{key_missing,properties},{key_missing,payload_encoding}]")
    none = mgmt.uniq_name("none")
    assert_error(management.post(api_path("exchanges", "/", none, "publish"),
                                 {"routing_key": "k", "payload": "x", "payload_encoding": "string",
                                  "properties": {}}), 400, "bad_request",
                 f"404 NOT_FOUND - no exchange '{none}' in vhost '/'")


def test_bindings_source_and_destination(management, exchange, made):
    q = made.queue("/", exchange + ".q")
    up = made.exchange("/", exchange + ".up")
    management.declare_queue("/", q)
    management.declare_exchange("/", up, "fanout")
    expect(management.post(api_path("bindings", "/", "e", exchange, "q", q),
                           {"routing_key": "a.#", "arguments": {}}), 201)
    expect(management.post(api_path("bindings", "/", "e", up, "e", exchange),
                           {"routing_key": "", "arguments": {}}), 201)
    to_q = {"source": exchange, "vhost": "/", "destination": q, "destination_type": "queue",
            "routing_key": "a.#", "arguments": {}, "properties_key": "a.%23"}
    from_up = {"source": up, "vhost": "/", "destination": exchange,
               "destination_type": "exchange", "routing_key": "", "arguments": {},
               "properties_key": "~"}
    assert management.json(api_path("exchanges", "/", exchange, "bindings", "source")) == [to_q]
    assert management.json(api_path("exchanges", "/", exchange, "bindings", "destination")) == \
        [from_up]
    assert management.json(api_path("exchanges", "/", up, "bindings", "source")) == [from_up]
    assert management.json(api_path("exchanges", "/", up, "bindings", "destination")) == []


def test_exchange_message_stats(management, exchange, made, ch):
    q = made.queue("/", exchange + ".q")
    management.declare_queue("/", q)
    expect(management.post(api_path("bindings", "/", "e", exchange, "q", q),
                           {"routing_key": "k"}), 201)
    for _ in range(3):  # over AMQP: the channel stays open until the stats are out
        ch.basic_publish(exchange, "k", b"x")
    x = mgmt.eventually(lambda: management.json(api_path("exchanges", "/", exchange)),
                        lambda x: x["message_stats"]["publish_in"] == 3
                        and x["message_stats"]["publish_out"] == 3,
                        what="publish_in and publish_out 3")
    assert isinstance(x["message_stats"]["publish_in_details"]["rate"], (int, float))
