#!/usr/bin/env python3
"""Times GET /api/queues with many queues on a broker's management API (Warren or RabbitMQ).

    management-list.py --api http://guest:guest@127.0.0.1:15672 --amqp-port 5672
                       [--queues 10000] [--requests 11] [--label TEXT] [--sample FILE]

In a vhost of its own (mgmt-bench, made through the API and deleted at the end), it declares
--queues queues over AMQP (pika), publishes 100 messages to each of the first 10, and keeps
10 consumers open (prefetch 10, no acks): 5 on queues with messages (10 unacknowledged each),
5 on empty ones. It then waits until the API lists every queue with those counts (RabbitMQ's
statistics arrive seconds later), and times each request below with curl, one warm-up then
--requests times, a new connection each, the answer read whole and thrown away:

    /api/queues                          the whole list
    /api/queues?page=1&page_size=100     the first page
    /api/queues?columns=name,messages    two columns of every queue

It prints one JSON line: per request the median, smallest and largest total time and time to
the first byte (ms), the answer's size in bytes and its HTTP status. --sample writes the
list's item for the first queue (the one with messages and a consumer), to compare fields.
Needs python3, requests, pika and curl.
"""

import argparse
import json
import statistics
import subprocess
import sys
import time
from urllib.parse import quote, urlsplit

import pika
import requests

VHOST = "mgmt-bench"
FILLED = 10
PER_QUEUE = 100
CONSUMED_FILLED = 5
CONSUMED_EMPTY = 5
PREFETCH = 10

REQUESTS = [
    ("all", "/api/queues"),
    ("page", "/api/queues?page=1&page_size=100"),
    ("columns", "/api/queues?columns=name,messages"),
]


def queue_name(i):
    return f"mgmt-bench.q{i:05d}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--api", required=True, help="http://USER:PASSWORD@HOST:PORT")
    parser.add_argument("--amqp-port", type=int, required=True)
    parser.add_argument("--queues", type=int, default=10000)
    parser.add_argument("--requests", type=int, default=11)
    parser.add_argument("--label", default=None)
    parser.add_argument("--sample", default=None)
    parser.add_argument("--settle-timeout", type=float, default=180)
    args = parser.parse_args()

    parts = urlsplit(args.api)
    base = f"{parts.scheme}://{parts.hostname}:{parts.port}"
    user, password = parts.username or "guest", parts.password or "guest"
    http = requests.Session()
    http.auth = (user, password)

    def api(method, path, **kw):
        answer = http.request(method, base + path, timeout=60, **kw)
        if answer.status_code >= 400:
            sys.exit(f"management-list: {method} {path}: {answer.status_code} {answer.text[:300]}")
        return answer

    vhost = quote(VHOST, safe="")
    if http.get(f"{base}/api/vhosts/{vhost}").ok:  # left over from an interrupted run
        api("DELETE", f"/api/vhosts/{vhost}")
    api("PUT", f"/api/vhosts/{vhost}", json={})
    api("PUT", f"/api/permissions/{vhost}/{quote(user, safe='')}",
        json={"configure": ".*", "write": ".*", "read": ".*"})
    before = len(api("GET", "/api/queues").json())

    params = pika.ConnectionParameters(parts.hostname, args.amqp_port, VHOST,
                                       pika.PlainCredentials(user, password), heartbeat=0)
    setup_began = time.monotonic()
    declarer = pika.BlockingConnection(params)
    channel = declarer.channel()
    for i in range(args.queues):
        channel.queue_declare(queue_name(i))
    channel.confirm_delivery()
    body = b'{"name": "call_created", "data": {}}'
    for i in range(FILLED):
        for _ in range(PER_QUEUE):
            channel.basic_publish("", queue_name(i), body)
    consumer = pika.BlockingConnection(params)
    consumers = consumer.channel()
    consumers.basic_qos(prefetch_count=PREFETCH)
    consumed = list(range(CONSUMED_FILLED)) + list(range(FILLED, FILLED + CONSUMED_EMPTY))
    for i in consumed:
        consumers.basic_consume(queue_name(i), lambda *a: None, auto_ack=False)
    consumer.process_data_events(time_limit=0.5)
    setup_s = time.monotonic() - setup_began

    # What the list must show before it is timed.
    want_total = before + args.queues
    want_messages = FILLED * PER_QUEUE
    want_unacked = CONSUMED_FILLED * PREFETCH
    want_consumers = len(consumed)
    settle_began = time.monotonic()
    while True:
        items = api("GET", "/api/queues").json()
        ours = [q for q in items if q.get("vhost") == VHOST]
        seen = (len(items), sum(q.get("messages") or 0 for q in ours),
                sum(q.get("messages_unacknowledged") or 0 for q in ours),
                sum(q.get("consumers") or 0 for q in ours))
        if seen == (want_total, want_messages, want_unacked, want_consumers):
            break
        if time.monotonic() - settle_began > args.settle_timeout:
            sys.exit(f"management-list: the list shows (queues, messages, unacked, consumers) "
                     f"{seen}, not {(want_total, want_messages, want_unacked, want_consumers)}")
        consumer.process_data_events(time_limit=0.5)
    settle_s = time.monotonic() - settle_began
    if args.sample:
        first = next(q for q in ours if q["name"] == queue_name(0))
        with open(args.sample, "w") as f:
            json.dump(first, f, indent=1, sort_keys=True)

    results = {}
    for key, path in REQUESTS:
        runs = [curl(base + path, user, password) for _ in range(args.requests + 1)][1:]
        totals = [r["total_ms"] for r in runs]
        firsts = [r["first_byte_ms"] for r in runs]
        results[key] = {
            "path": path,
            "status": sorted({r["status"] for r in runs}),
            "bytes": statistics.median(r["bytes"] for r in runs),
            "median_ms": round(statistics.median(totals), 2),
            "min_ms": round(min(totals), 2),
            "max_ms": round(max(totals), 2),
            "first_byte_median_ms": round(statistics.median(firsts), 2),
        }
    # Checks of the answers' shape.
    page = api("GET", "/api/queues?page=1&page_size=100").json()
    columns = api("GET", "/api/queues?columns=name,messages").json()
    checks = {
        "page_items": len(page.get("items", [])),
        "page_total_count": page.get("total_count"),
        "columns_keys": sorted({k for q in columns for k in q}),
        "columns_count": len(columns),
    }

    consumer.close()
    declarer.close()
    api("DELETE", f"/api/vhosts/{vhost}")
    print(json.dumps({
        "label": args.label,
        "queues": args.queues,
        "listed": want_total,
        "requests": args.requests,
        "setup_s": round(setup_s, 1),
        "settle_s": round(settle_s, 1),
        "results": results,
        "checks": checks,
    }), flush=True)


def curl(url, user, password):
    out = subprocess.run(
        ["curl", "-s", "-o", "/dev/null", "-u", f"{user}:{password}",
         "-w", "%{http_code} %{time_starttransfer} %{time_total} %{size_download}", url],
        check=True, capture_output=True, text=True).stdout.split()
    return {"status": int(out[0]), "first_byte_ms": float(out[1]) * 1e3,
            "total_ms": float(out[2]) * 1e3, "bytes": int(out[3])}


if __name__ == "__main__":
    sys.exit(main())
