"""Bindings through the management API: the lists, POST e/q and e/e answering 201 with a relative
Location (destination/properties_key), GET and DELETE by properties_key, and the errors. A binding's
properties_key is its routing key URL-quoted, followed by "~" and a hash of its arguments when it
has any ("~" alone for an empty key without arguments); the hash is RabbitMQ's own, so tests take
it from the answers rather than computing it."""

from __future__ import annotations

import json
from urllib.parse import quote, unquote

import pytest

import mgmt
from conftest import settle
from mgmt import NOT_FOUND, api_path, assert_error


@pytest.fixture
def pair(management, made):
    base = mgmt.uniq_name("mb")
    x, x2, q = made.exchange("/", base + ".x"), made.exchange("/", base + ".x2"), \
        made.queue("/", base + ".q")
    management.declare_exchange("/", x, "topic")
    management.declare_exchange("/", x2, "topic")
    management.declare_queue("/", q)
    return x, x2, q


def binding(vhost, source, dest, dtype, key, props, args=None):
    return {"source": source, "vhost": vhost, "destination": dest, "destination_type": dtype,
            "routing_key": key, "arguments": args or {}, "properties_key": props}


def canonical(item: dict) -> str:
    """A sort key that ignores the order of an object's keys (which JSON does not fix)."""
    return json.dumps(item, sort_keys=True)


def test_post_exchange_to_queue(management, pair, ch):
    x, _, q = pair
    r = management.post(api_path("bindings", "/", "e", x, "q", q), {"routing_key": "a.*"})
    assert r.status_code == 201 and r.content == b""
    assert r.headers["location"] == f"{q}/a.%252A"  # relative: the properties_key quoted again
    assert management.json(api_path("bindings", "/", "e", x, "q", q)) == \
        [binding("/", x, q, "queue", "a.*", "a.%2A")]
    # routing over AMQP follows it
    ch.basic_publish(x, "a.b", b"routed")
    ch.basic_publish(x, "b.b", b"not routed")
    assert [m[2] for m in settle(ch, [q])[q]] == [b"routed"]


def test_post_exchange_to_exchange(management, pair, ch):
    x, x2, q = pair
    r = management.post(api_path("bindings", "/", "e", x2, "e", x), {"routing_key": "z.#"})
    assert r.status_code == 201 and r.headers["location"] == f"{x}/z.%2523"
    mgmt.expect(management.post(api_path("bindings", "/", "e", x, "q", q), {"routing_key": "#"}),
                201)
    assert management.json(api_path("bindings", "/", "e", x2, "e", x)) == \
        [binding("/", x2, x, "exchange", "z.#", "z.%23")]
    ch.basic_publish(x2, "z.1", b"through two exchanges")
    assert [m[2] for m in settle(ch, [q])[q]] == [b"through two exchanges"]


def test_properties_key_forms(management, pair):
    x, _, q = pair
    path = api_path("bindings", "/", "e", x, "q", q)
    plain = management.post(path, {})
    assert plain.headers["location"] == f"{q}/~"
    with_args = management.post(path, {"routing_key": "k", "arguments": {"a": "1"}})
    assert with_args.status_code == 201
    prop = with_args.headers["location"].split("/", 1)[1]
    assert prop.startswith("k~") and len(prop) > 2
    listed = {b["properties_key"]: b for b in management.json(path)}
    assert set(listed) == {"~", unquote(prop)}  # Location quotes the properties_key once more
    arg_key = next(k for k in listed if k != "~")
    assert listed[arg_key]["arguments"] == {"a": "1"} and listed["~"]["routing_key"] == ""
    # posting the same binding again is idempotent: same Location, one binding
    assert management.post(path, {"routing_key": "k", "arguments": {"a": "1"}}).headers[
        "location"] == with_args.headers["location"]
    assert len(management.json(path)) == 2


def test_get_and_delete_by_properties_key(management, pair):
    x, _, q = pair
    path = api_path("bindings", "/", "e", x, "q", q)
    mgmt.expect(management.post(path, {"routing_key": "b.*"}), 201)
    one = binding("/", x, q, "queue", "b.*", "b.%2A")
    assert management.json(path + "/b.%2A") == one
    assert management.json(path + "/b.*") == one  # the key unquoted in the path works as well
    assert management.get(path + "/nope").json() == NOT_FOUND
    r = management.delete(path + "/b.%2A")
    assert r.status_code == 204 and r.content == b""
    r = management.delete(path + "/b.%2A")
    assert r.status_code == 404 and r.json() == NOT_FOUND
    assert management.json(path) == []


def test_binding_lists(management, pair):
    x, x2, q = pair
    mgmt.expect(management.post(api_path("bindings", "/", "e", x, "q", q), {"routing_key": "r"}),
                201)
    mgmt.expect(management.post(api_path("bindings", "/", "e", x2, "e", x), {"routing_key": "s"}),
                201)
    ours = [binding("/", "", q, "queue", q, quote(q, safe="")),
            binding("/", x, q, "queue", "r", "r"),
            binding("/", x2, x, "exchange", "s", "s")]
    for path in ("/api/bindings", api_path("bindings", "/")):
        listed = [b for b in management.json(path) if q in (b["destination"],) or b["source"] == x2]
        assert sorted(listed, key=canonical) == sorted(ours, key=canonical), path


def test_binding_errors(management, pair):
    x, _, q = pair
    none = mgmt.uniq_name("none")
    assert_error(management.post(api_path("bindings", "/", "e", x, "q", none),
                                 {"routing_key": "z"}), 404, "not_found",
                 f"no queue '{none}' in vhost '/'")
    assert_error(management.post(api_path("bindings", "/", "e", none, "q", q),
                                 {"routing_key": "z"}), 404, "not_found",
                 f"no exchange '{none}' in vhost '/'")
    assert_error(management.post(api_path("bindings", "/", "e", "amq.default", "q", q),
                                 {"routing_key": "z"}), 401, "not_authorised", "Access refused.")
    r = management.get(api_path("bindings", mgmt.uniq_name("nov")))
    assert r.status_code == 404 and r.json() == NOT_FOUND


def test_bindings_between_what_does_not_exist_are_none(management, pair):
    """RabbitMQ lists no bindings (200 `[]`, not 404) between a vhost, exchange or queue that does
    not exist, and the default exchange's implicit binding to any queue the path names."""
    x, _, q = pair
    none = mgmt.uniq_name("none")
    for path in (api_path("bindings", "/", "e", x, "q", none),
                 api_path("bindings", "/", "e", none, "q", q),
                 api_path("bindings", "/", "e", x, "e", none),
                 api_path("bindings", none, "e", x, "q", q)):
        assert management.json(path) == [], path
    implicit = management.json(api_path("bindings", "/", "e", "amq.default", "q", none))
    assert implicit == [{"source": "", "vhost": "/", "destination": none,
                         "destination_type": "queue", "routing_key": none, "arguments": {},
                         "properties_key": none}]
    assert management.json(api_path("bindings", "/", "e", "amq.default", "e", x)) == []
