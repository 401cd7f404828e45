"""The management API's node-level answers: overview, whoami, nodes, cluster-name, the health
checks, and the lists a node without plugins answers (never 404). Values that depend on the broker
(product name, versions, node names) are checked for their form, not their value."""

from __future__ import annotations

import re

import pytest

import mgmt
from mgmt import api_path

VERSION = re.compile(r"^\d+\.\d+\.\d+")


def test_overview(management, broker):
    o = management.json("/api/overview")
    assert o["rabbitmq_version"].startswith("3."), o["rabbitmq_version"]
    assert o["management_version"].startswith("3.")
    assert VERSION.match(o["product_version"]), o["product_version"]
    assert isinstance(o["product_name"], str) and o["product_name"]
    assert isinstance(o["node"], str) and "@" in o["node"]
    assert isinstance(o["cluster_name"], str) and o["cluster_name"]
    assert {"basic", "detailed", "none"} >= {o["rates_mode"]}
    for key in ("channels", "connections", "consumers", "exchanges", "queues"):
        assert isinstance(o["object_totals"][key], int) and o["object_totals"][key] >= 0
    for key in ("messages", "messages_ready", "messages_unacknowledged"):
        assert isinstance(o["queue_totals"][key], int)
        assert isinstance(o["queue_totals"][key + "_details"]["rate"], (int, float))
    # the default exchanges exist, so the vhost has at least the amq.* ones
    assert o["object_totals"]["exchanges"] >= 7
    types = {t["name"] for t in o["exchange_types"]}
    assert {"direct", "fanout", "topic", "headers"} <= types
    amqp = [x for x in o["listeners"] if x["protocol"] == "amqp"]
    assert broker.port in [x["port"] for x in amqp], o["listeners"]


def test_overview_object_totals_count_ours(management, made, conn):
    # other tests come and go beside this one: while ours exist, each total is at least 1
    q = made.queue("/", mgmt.uniq_name("overview"))
    management.declare_queue("/", q)
    ch = conn.channel()
    ch.basic_consume(q, lambda *a: None)
    mgmt.eventually(lambda: management.json("/api/overview")["object_totals"],
                    lambda t: min(t["connections"], t["channels"], t["consumers"], t["queues"]) >= 1,
                    what="object_totals counting our connection, channel, consumer and queue")


def test_overview_message_stats_follow_traffic(management, made, ch):
    q = made.queue("/", mgmt.uniq_name("overview"))
    management.declare_queue("/", q)
    start = management.json("/api/overview").get("message_stats", {}).get("publish", 0)
    for i in range(3):  # over AMQP, the channel open until its stats are out
        ch.basic_publish("", q, f"m{i}".encode())
    o = mgmt.eventually(lambda: management.json("/api/overview"),
                        lambda o: o["message_stats"]["publish"] >= start + 3,
                        what="overview message_stats.publish up by 3")
    assert isinstance(o["message_stats"]["publish_details"]["rate"], (int, float))


def test_whoami(management, broker):
    assert management.json("/api/whoami") == {"name": broker.user, "tags": ["administrator"]}


def test_nodes(management):
    node = management.json("/api/overview")["node"]
    nodes = management.json("/api/nodes")
    assert node in [n["name"] for n in nodes]
    one = management.json(api_path("nodes", node))
    assert one["name"] == node
    assert one["running"] is True
    assert one["type"] == "disc"
    for key in ("mem_used", "mem_limit", "fd_used", "fd_total", "proc_used", "uptime",
                "disk_free", "sockets_used", "sockets_total"):
        assert isinstance(one[key], int) and one[key] >= 0, key
    assert one["mem_alarm"] is False and one["disk_free_alarm"] is False


def test_cluster_name(management):
    name = management.json("/api/cluster-name")
    assert list(name) == ["name"] and isinstance(name["name"], str) and name["name"]
    assert name["name"] == management.json("/api/overview")["cluster_name"]


def test_aliveness_test(management):
    assert management.json(api_path("aliveness-test", "/")) == {"status": "ok"}
    r = management.get(api_path("aliveness-test", mgmt.uniq_name("no-vhost")))
    assert r.status_code == 404 and r.json() == mgmt.NOT_FOUND


@pytest.mark.parametrize("path", ["/api/healthchecks/node", "/api/health/checks/alarms",
                                  "/api/health/checks/local-alarms",
                                  "/api/health/checks/virtual-hosts"])
def test_health_checks_ok(management, path):
    assert management.json(path) == {"status": "ok"}


def test_port_listener_check(management, broker):
    assert management.json(f"/api/health/checks/port-listener/{broker.port}") == \
        {"status": "ok", "port": broker.port}
    # a port nobody listens on: 503 with the ports that are listened on
    r = management.get("/api/health/checks/port-listener/1")
    assert r.status_code == 503
    body = r.json()
    assert body["status"] == "failed" and body["reason"] == "No active listener"
    assert body["missing"] == 1 and broker.port in body["ports"]
    mgmt.assert_error(management.get("/api/health/checks/port-listener/abc"), 400,
                      "bad_request", "Invalid port")


@pytest.mark.parametrize("path", ["/api/policies", "/api/policies/%2F", "/api/operator-policies",
                                  "/api/operator-policies/%2F", "/api/parameters"])
def test_empty_lists(management, path):
    assert management.json(path) == []


@pytest.mark.parametrize("path", ["/api/global-parameters", "/api/extensions",
                                  "/api/feature-flags"])
def test_lists_never_404(management, path):
    assert isinstance(management.json(path), list)


def test_feature_flags_entries(management):
    for flag in management.json("/api/feature-flags"):
        assert {"name", "desc", "state", "stability", "provided_by"} <= set(flag), flag
        assert flag["state"] in ("enabled", "disabled", "unavailable")


def test_global_parameters_have_the_cluster_id(management):
    params = management.json("/api/global-parameters")
    assert all(set(p) == {"name", "value"} for p in params), params
    ids = [p["value"] for p in params if p["name"] == "internal_cluster_id"]
    assert len(ids) == 1 and ids[0].startswith("rabbitmq-cluster-id-"), params
