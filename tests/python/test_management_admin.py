"""Administration through the management API: vhosts, users (password and password_hash, tags),
permissions, topic permissions, users/bulk-delete, and definitions export and import (the same JSON
as `warren --definitions`), with what each does on the AMQP side."""

from __future__ import annotations

import pika
import pytest

from conftest import get_one, uniq
from mgmt import NOT_FOUND, api_path, assert_error, expect

# "sec-app"'s password is "app-pw" (tests/python/security_definitions.json); the hash below is
# the one that file gives it, reused for a user whose password the test knows.
APP_HASH = "d5GKJPuu27+ybbYgivLpXJZ1DOy754TuJi7k4nYFJe/tDfsp"
APP_PASSWORD = "app-pw"


def login(broker, user, password, vhost="/") -> pika.BlockingConnection:
    return pika.BlockingConnection(pika.ConnectionParameters(
        broker.host, broker.port, vhost, pika.PlainCredentials(user, password),
        connection_attempts=1, socket_timeout=5))


def amqp_login(broker, user, password, vhost="/"):
    """Open and close an AMQP connection (raises if refused)."""
    login(broker, user, password, vhost).close()


def test_vhosts(management, made, broker):
    v = made.vhost(uniq("vh"))
    r = management.put(api_path("vhosts", v), {"description": "for a test", "tags": "a,b"})
    assert r.status_code == 201 and r.content == b""
    one = management.json(api_path("vhosts", v))
    assert (one["name"], one["description"], one["tags"], one["tracing"]) == \
        (v, "for a test", ["a", "b"], False)
    assert one["metadata"] == {"description": "for a test", "tags": ["a", "b"]}
    # PUT again: 204, and what the body leaves out is reset
    assert management.put(api_path("vhosts", v), {}).status_code == 204
    one = management.json(api_path("vhosts", v))
    assert (one["description"], one["tags"]) == ("", [])
    assert v in [x["name"] for x in management.json("/api/vhosts")]
    # the creating user gets every permission on the new vhost
    perms = management.json(api_path("vhosts", v, "permissions"))
    assert perms == [{"vhost": v, "user": broker.user, "configure": ".*", "write": ".*",
                      "read": ".*"}]
    amqp_login(broker, broker.user, broker.password, v)
    assert management.delete(api_path("vhosts", v)).status_code == 204
    r = management.get(api_path("vhosts", v))
    assert r.status_code == 404 and r.json() == NOT_FOUND
    assert management.delete(api_path("vhosts", v)).status_code == 404


def test_users(management, made, broker):
    u = made.user(uniq("user"))
    r = management.put(api_path("users", u), {"password": "pw1", "tags": "monitoring,management"})
    assert r.status_code == 201 and r.content == b""
    one = management.json(api_path("users", u))
    assert one["name"] == u and sorted(one["tags"]) == ["management", "monitoring"]
    assert one["hashing_algorithm"] == "rabbit_password_hashing_sha256"
    assert isinstance(one["password_hash"], str) and len(one["password_hash"]) == 48
    assert one["limits"] == {}
    assert u in [x["name"] for x in management.json("/api/users")]
    # changing it: 204; tags as a list work too
    assert management.put(api_path("users", u), {"password_hash": APP_HASH,
                                                 "tags": ["management"]}).status_code == 204
    one = management.json(api_path("users", u))
    assert (one["password_hash"], one["tags"]) == (APP_HASH, ["management"])
    expect(management.put(api_path("permissions", "/", u),
                          {"configure": ".*", "write": ".*", "read": ".*"}), 201)
    amqp_login(broker, u, APP_PASSWORD)
    assert management.as_user(u, APP_PASSWORD).json("/api/whoami") == \
        {"name": u, "tags": ["management"]}
    assert management.delete(api_path("users", u)).status_code == 204
    r = management.get(api_path("users", u))
    assert r.status_code == 404 and r.json() == NOT_FOUND


def test_user_errors(management, made):
    u = made.user(uniq("user"))
    assert_error(management.put(api_path("users", u), {"password": "x"}), 400, "bad_request",
                 "tags_not_present")
    r = management.delete(api_path("users", u))
    assert r.status_code == 404 and r.json() == NOT_FOUND


def test_user_without_password_cannot_log_in(management, made, broker):
    u = made.user(uniq("user"))
    assert management.put(api_path("users", u), {"tags": ""}).status_code == 201
    expect(management.put(api_path("permissions", "/", u),
                          {"configure": ".*", "write": ".*", "read": ".*"}), 201)
    with pytest.raises(pika.exceptions.ProbableAuthenticationError):
        amqp_login(broker, u, "")


def test_permissions(management, made, broker, cleanup):
    u = made.user(uniq("user"))
    management.put(api_path("users", u), {"password": "pw", "tags": ""})
    path = api_path("permissions", "/", u)
    r = management.put(path, {"configure": "^mine\\.", "write": ".*", "read": ".*"})
    assert r.status_code == 201 and r.content == b""
    assert management.put(path, {"configure": "^own\\.", "write": ".*", "read": ".*"}) \
        .status_code == 204
    want = {"user": u, "vhost": "/", "configure": "^own\\.", "write": ".*", "read": ".*"}
    assert management.json(path) == want
    assert management.json(api_path("users", u, "permissions")) == [want]
    assert want in management.json(api_path("vhosts", "/", "permissions"))
    assert want in management.json("/api/permissions")
    # enforced on the AMQP side
    c = login(broker, u, "pw")
    try:
        ch = c.channel()
        ch.queue_declare(cleanup.queue("own." + uniq("q")))
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as excinfo:
            ch.queue_declare("other." + uniq("q"))
        assert excinfo.value.reply_code == 403
    finally:
        if c.is_open:
            c.close()
    r = management.delete(path)
    assert r.status_code == 204
    r = management.get(path)
    assert r.status_code == 404 and r.json() == NOT_FOUND
    with pytest.raises(pika.exceptions.ProbableAccessDeniedError):
        amqp_login(broker, u, "pw")


def test_permission_errors(management, made):
    u = made.user(uniq("user"))
    management.put(api_path("users", u), {"password": "pw", "tags": ""})
    full = {"configure": ".*", "write": ".*", "read": ".*"}
    assert_error(management.put(api_path("permissions", "/", uniq("nouser")), full), 400,
                 "bad_request", "vhost_or_user_not_found")
    assert_error(management.put(api_path("permissions", uniq("novhost"), u), full), 400,
                 "bad_request", "vhost_or_user_not_found")
    assert_error(management.put(api_path("permissions", "/", u), {"configure": ".*"}), 400,
                 "bad_request", "[{key_missing,write},{key_missing,read}]")


def test_topic_permissions(management, made):
    u = made.user(uniq("user"))
    management.put(api_path("users", u), {"password": "pw", "tags": ""})
    path = api_path("topic-permissions", "/", u)
    r = management.put(path, {"exchange": "amq.topic", "write": "^w", "read": "^r"})
    assert r.status_code == 201
    want = {"user": u, "vhost": "/", "exchange": "amq.topic", "write": "^w", "read": "^r"}
    assert management.json(path) == [want]
    assert management.json(api_path("users", u, "topic-permissions")) == [want]
    assert want in management.json(api_path("vhosts", "/", "topic-permissions"))
    assert want in management.json("/api/topic-permissions")
    assert management.delete(path).status_code == 204
    r = management.get(path)
    assert r.status_code == 404 and r.json() == NOT_FOUND


def test_bulk_delete(management, made):
    users = [made.user(uniq("bulk")) for _ in range(3)]
    for u in users:
        management.put(api_path("users", u), {"password": "pw", "tags": ""})
    r = management.post("/api/users/bulk-delete", {"users": users[:2]})
    assert r.status_code == 204 and r.content == b""
    assert [management.get(api_path("users", u)).status_code for u in users] == [404, 404, 200]
    assert management.post("/api/users/bulk-delete", {"users": []}).status_code == 204
    assert_error(management.post("/api/users/bulk-delete", {}), 400, "bad_request",
                 "[{key_missing,users}]")
    missing = uniq("nouser")
    assert_error(management.post("/api/users/bulk-delete", {"users": [missing]}), 400,
                 "bad_request", ["no_such_user", missing])


def test_definitions_export(management):
    d = management.json("/api/definitions")
    for key in ("users", "vhosts", "permissions", "topic_permissions", "queues", "exchanges",
                "bindings", "policies", "parameters", "global_parameters"):
        assert isinstance(d[key], list), key
    assert d["rabbit_version"].startswith("3.") and d["rabbitmq_version"].startswith("3.")
    assert isinstance(d["product_name"], str) and isinstance(d["product_version"], str)
    guest = [u for u in d["users"] if u["name"] == "guest"][0]
    assert set(guest) >= {"name", "password_hash", "hashing_algorithm", "tags", "limits"}
    assert {"name": "/"} in [{"name": v["name"]} for v in d["vhosts"]]
    # the predeclared amq.* exchanges and the default one are not exported
    assert not [x for x in d["exchanges"] if x["name"] == "" or x["name"].startswith("amq.")]


def test_definitions_of_a_vhost(management, made):
    v = made.vhost(uniq("vh"))
    management.put(api_path("vhosts", v), {})
    management.declare_queue(v, "q1", durable=True, arguments={"x-max-length": 5})
    management.declare_exchange(v, "x1", "fanout", durable=True)
    expect(management.post(api_path("bindings", v, "e", "x1", "q", "q1"), {"routing_key": "k"}),
           201)
    d = management.json(api_path("definitions", v))
    assert sorted(d) == ["bindings", "exchanges", "parameters", "policies", "queues",
                         "rabbit_version"]
    assert d["queues"] == [{"name": "q1", "durable": True, "auto_delete": False,
                            "arguments": {"x-max-length": 5}}]
    assert d["exchanges"] == [{"name": "x1", "type": "fanout", "durable": True,
                               "auto_delete": False, "internal": False, "arguments": {}}]
    assert d["bindings"] == [{"source": "x1", "destination": "q1", "destination_type": "queue",
                              "routing_key": "k", "arguments": {}}]
    assert_error(management.get(api_path("definitions", uniq("nov"))), 400, "bad_request",
                 "vhost_not_found")


def test_definitions_import_round_trip(management, made, broker):
    tag = uniq("defs")
    v, u = made.vhost(tag + ".vh"), made.user(tag + ".user")
    defs = {
        "users": [{"name": u, "password_hash": APP_HASH,
                   "hashing_algorithm": "rabbit_password_hashing_sha256", "tags": ["management"],
                   "limits": {}}],
        "vhosts": [{"name": v}],
        "permissions": [{"user": u, "vhost": v, "configure": ".*", "write": ".*", "read": ".*"}],
        "topic_permissions": [{"user": u, "vhost": v, "exchange": "amq.topic", "write": "^a",
                               "read": "^b"}],
        "queues": [{"name": "in", "vhost": v, "durable": True, "auto_delete": False,
                    "arguments": {"x-max-length": 7}}],
        "exchanges": [{"name": "events", "vhost": v, "type": "topic", "durable": True,
                       "auto_delete": False, "internal": False, "arguments": {}}],
        "bindings": [{"source": "events", "vhost": v, "destination": "in",
                      "destination_type": "queue", "routing_key": "user.#", "arguments": {}}],
    }
    r = management.post("/api/definitions", defs)
    assert r.status_code == 204 and r.content == b""
    exported = management.json("/api/definitions")
    mine = {k: [x for x in exported[k] if x.get("name") in (v, u)] for k in ("users", "vhosts")}
    mine.update({k: [x for x in exported[k] if x.get("user") == u]
                 for k in ("permissions", "topic_permissions")})
    mine.update({k: [x for x in exported[k] if x.get("vhost") == v]
                 for k in ("queues", "exchanges", "bindings")})
    assert mine["users"][0]["password_hash"] == APP_HASH
    assert mine["users"][0]["tags"] == ["management"]
    assert [x["name"] for x in mine["vhosts"]] == [v]
    assert mine["permissions"] == defs["permissions"]
    # as with PUT /api/vhosts, the importing user gets every permission on the new vhost
    assert {"user": broker.user, "vhost": v, "configure": ".*", "write": ".*", "read": ".*"} in \
        exported["permissions"]
    assert mine["topic_permissions"] == defs["topic_permissions"]
    assert mine["queues"] == defs["queues"]
    assert mine["exchanges"] == defs["exchanges"]
    assert mine["bindings"] == defs["bindings"]
    # and it is live on the AMQP side: the user logs in to the vhost and the binding routes
    c = login(broker, u, APP_PASSWORD, v)
    try:
        ch = c.channel()
        ch.basic_publish("events", "user.created", b"imported")
        assert get_one(ch, "in")[2] == b"imported"
    finally:
        c.close()
    # importing the same file again changes nothing
    assert management.post("/api/definitions", defs).status_code == 204
    assert management.json(api_path("definitions", v))["queues"] == \
        [{k: q[k] for k in ("name", "durable", "auto_delete", "arguments")}
         for q in defs["queues"]]


def test_definitions_import_into_a_vhost(management, made):
    v = made.vhost(uniq("vh"))
    management.put(api_path("vhosts", v), {})
    r = management.post(api_path("definitions", v),
                        {"queues": [{"name": "only-here", "durable": True, "auto_delete": False,
                                     "arguments": {}}]})
    assert r.status_code == 204
    assert management.queue(v, "only-here")["vhost"] == v


def test_definitions_import_malformed(management):
    r = management.post("/api/definitions", data=b"{not json",
                        headers={"content-type": "application/json"})
    assert_error(r, 400, "bad_request", "failed_to_parse_json")
