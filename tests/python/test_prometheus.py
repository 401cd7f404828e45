"""The Prometheus endpoint (WARREN_TEST_PROMETHEUS_URL): /metrics (aggregated: one series per
metric, no per-object labels) and /metrics/per-object (per-queue series labelled vhost and queue),
with the metric names, TYPEs and labels that RabbitMQ's Grafana dashboard "RabbitMQ-Overview"
(rabbitmq-server v3.10.8, deps/rabbitmq_prometheus/docker/grafana/dashboards) queries. Values are
refreshed on the stats interval, so counts are polled with a deadline."""

from __future__ import annotations

import pytest
import requests

import mgmt
from mgmt import eventually, parse_metrics

GAUGES = ["rabbitmq_connections", "rabbitmq_channels", "rabbitmq_consumers", "rabbitmq_queues",
          "rabbitmq_queue_messages_ready", "rabbitmq_queue_messages_unacked",
          "rabbitmq_process_resident_memory_bytes", "rabbitmq_resident_memory_limit_bytes",
          "rabbitmq_disk_space_available_bytes", "rabbitmq_process_open_fds",
          "rabbitmq_process_max_fds", "rabbitmq_process_open_tcp_sockets",
          "rabbitmq_process_max_tcp_sockets", "rabbitmq_channel_consumers"]
COUNTERS = ["rabbitmq_connections_opened_total", "rabbitmq_connections_closed_total",
            "rabbitmq_channels_opened_total", "rabbitmq_channels_closed_total",
            "rabbitmq_queues_declared_total", "rabbitmq_queues_created_total",
            "rabbitmq_queues_deleted_total", "rabbitmq_channel_messages_published_total"]
GLOBAL = ["received", "received_confirm", "routed", "confirmed", "delivered",
          "delivered_consume_auto_ack", "delivered_consume_manual_ack", "delivered_get_auto_ack",
          "delivered_get_manual_ack", "redelivered", "acknowledged", "get_empty",
          "unroutable_dropped", "unroutable_returned"]
# the global counters that RabbitMQ splits by queue type as well as by protocol
BY_QUEUE_TYPE = {"delivered", "delivered_consume_auto_ack", "delivered_consume_manual_ack",
                 "delivered_get_auto_ack", "delivered_get_manual_ack", "redelivered",
                 "acknowledged", "get_empty"}


def scrape(url: str, path: str = "/metrics") -> mgmt.Metrics:
    r = requests.get(url + path, timeout=15)
    assert r.status_code == 200, r.text[:300]
    assert r.headers["content-type"].startswith("text/plain"), r.headers
    return parse_metrics(r.text)


def test_content_type(prometheus_url):
    r = requests.get(prometheus_url + "/metrics", timeout=15)
    assert r.headers["content-type"] == "text/plain; version=0.0.4"


@pytest.mark.parametrize("path", ["/metrics", "/metrics/per-object"])
def test_dashboard_metrics_have_their_types(prometheus_url, path):
    m = scrape(prometheus_url, path)
    wanted = {**{g: "gauge" for g in GAUGES}, **{c: "counter" for c in COUNTERS},
              **{f"rabbitmq_global_messages_{g}_total": "counter" for g in GLOBAL},
              "rabbitmq_global_publishers": "gauge", "rabbitmq_global_consumers": "gauge",
              "rabbitmq_identity_info": "untyped", "rabbitmq_build_info": "untyped"}
    missing = {n: t for n, t in wanted.items() if m.types.get(n) != t}
    assert not missing, {n: (t, m.types.get(n)) for n, t in missing.items()}
    for name in ("rabbitmq_connections", "rabbitmq_queues", "rabbitmq_identity_info",
                 "rabbitmq_global_messages_received_total", "rabbitmq_process_resident_memory_bytes"):
        assert m.samples.get(name), f"{name} has no sample"


def test_global_counters_labels(prometheus_url):
    m = scrape(prometheus_url)
    for g in GLOBAL:
        name = f"rabbitmq_global_messages_{g}_total"
        labels = [ls for ls, _ in m.samples[name]]
        assert {"protocol": "amqp091"}.items() <= labels[0].items(), (name, labels)
        if g in BY_QUEUE_TYPE:
            assert "rabbit_classic_queue" in {ls.get("queue_type") for ls in labels}, (name, labels)


def test_identity_and_build_info(prometheus_url, management):
    m = scrape(prometheus_url)
    [(identity, value)] = m.samples["rabbitmq_identity_info"]
    assert value == 1
    overview = management.json("/api/overview")
    assert identity["rabbitmq_node"] == overview["node"]
    assert identity["rabbitmq_cluster"] == overview["cluster_name"]
    assert identity["rabbitmq_cluster_permanent_id"]
    [(build, value)] = m.samples["rabbitmq_build_info"]
    assert value == 1
    assert build["rabbitmq_version"] == overview["rabbitmq_version"]
    assert "erlang_version" in build and "prometheus_plugin_version" in build


def test_process_memory_is_real(prometheus_url):
    m = scrape(prometheus_url)
    rss = m.value("rabbitmq_process_resident_memory_bytes")
    assert rss and rss > 1_000_000
    assert m.value("rabbitmq_resident_memory_limit_bytes") > 0
    assert m.value("rabbitmq_process_max_fds") >= m.value("rabbitmq_process_open_fds") > 0


def test_aggregated_metrics_have_no_per_queue_labels(prometheus_url):
    m = scrape(prometheus_url)
    assert [ls for ls, _ in m.samples["rabbitmq_queue_messages_ready"]] == [{}]
    assert [ls for ls, _ in m.samples["rabbitmq_queues"]] == [{}]


def test_connections_and_channels_count_ours(prometheus_url, conn):
    conn.channel()
    eventually(lambda: scrape(prometheus_url),
               lambda m: m.value("rabbitmq_connections") >= 1 and m.value("rabbitmq_channels") >= 1,
               what="rabbitmq_connections and rabbitmq_channels counting ours")


def test_global_counters_follow_traffic(prometheus_url, management, made, conn):
    q = made.queue("/", mgmt.uniq_name("prom"))
    x = made.exchange("/", mgmt.uniq_name("prom"))
    management.declare_queue("/", q)
    management.declare_exchange("/", x, "direct")  # nothing bound: its messages are dropped
    before = scrape(prometheus_url)

    def total(m, g):
        return m.total(f"rabbitmq_global_messages_{g}_total")

    ch = conn.channel()
    for i in range(4):
        ch.basic_publish("", q, f"m{i}".encode())
    ch.basic_publish(x, "nobody", b"dropped")
    got = []
    ch.basic_consume(q, lambda c, m, p, b: (got.append(b), c.basic_ack(m.delivery_tag)))
    eventually(lambda: (conn.process_data_events(time_limit=0.05), len(got))[1],
               lambda n: n == 4, timeout=10, interval=0, what="4 deliveries")
    eventually(lambda: scrape(prometheus_url),
               lambda m: total(m, "received") >= total(before, "received") + 5
               and total(m, "delivered") >= total(before, "delivered") + 4
               and total(m, "acknowledged") >= total(before, "acknowledged") + 4
               and total(m, "delivered_consume_manual_ack")
               >= total(before, "delivered_consume_manual_ack") + 4
               and total(m, "unroutable_dropped") >= total(before, "unroutable_dropped") + 1
               and total(m, "routed") >= total(before, "routed") + 4,
               what="global counters up by our traffic")


def test_per_object_queue_series(prometheus_url, management, made, broker):
    q = made.queue("/", mgmt.uniq_name("prom"))
    management.declare_queue("/", q)
    c = broker.connect()
    try:
        ch = c.channel()
        for i in range(3):
            ch.basic_publish("", q, b"x")
        ch.basic_qos(prefetch_count=1)
        ch.basic_consume(q, lambda *a: None)
        m = eventually(lambda: scrape(prometheus_url, "/metrics/per-object"),
                       lambda m: m.value("rabbitmq_queue_messages_ready", vhost="/", queue=q) == 2
                       and m.value("rabbitmq_queue_messages_unacked", vhost="/", queue=q) == 1
                       and m.value("rabbitmq_queue_consumers", vhost="/", queue=q) == 1,
                       what="per-object series of our queue: 2 ready, 1 unacked, 1 consumer")
        assert m.value("rabbitmq_queue_messages", vhost="/", queue=q) == 3
        [labels] = [ls for ls, _ in m.samples["rabbitmq_queue_messages_ready"]
                    if ls.get("queue") == q]
        assert labels == {"vhost": "/", "queue": q}
        # per-channel series carry a channel label
        assert all("channel" in ls for ls, _ in m.samples["rabbitmq_channel_consumers"])
    finally:
        c.close()


def test_unknown_path_and_method(prometheus_url):
    assert requests.get(prometheus_url + "/nothing", timeout=15).status_code == 404
    assert requests.post(prometheus_url + "/metrics", timeout=15).status_code == 405
