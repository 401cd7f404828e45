#!/usr/bin/env python3
"""Polls a management API as a dashboard does, until SIGTERM or SIGINT.

    poll-api.py --url http://guest:guest@127.0.0.1:15672 [--interval 0.1] [--label TEXT]
                [--paths /api/overview,/api/queues]

Every --interval seconds (100 ms), GETs each path in turn over one keep-alive connection
and reads the whole answer. On exit, prints one JSON line: the requests made, the failures
(not 200, or no answer), the median and largest time of a request in ms, and the largest
answer in bytes. compare.sh runs it beside the load tool for the warren-polled broker. Needs
python3 and requests.
"""

import argparse
import json
import signal
import statistics
import sys
import time
from urllib.parse import urlsplit

import requests


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="http://USER:PASSWORD@HOST:PORT")
    parser.add_argument("--interval", type=float, default=0.1)
    parser.add_argument("--label", default=None)
    parser.add_argument("--paths", default="/api/overview,/api/queues")
    args = parser.parse_args()

    parts = urlsplit(args.url)
    base = f"{parts.scheme}://{parts.hostname}:{parts.port}"
    session = requests.Session()
    session.auth = (parts.username or "guest", parts.password or "guest")
    paths = [p for p in args.paths.split(",") if p]

    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))

    times = {p: [] for p in paths}
    failures = {p: 0 for p in paths}
    errors = set()
    sizes = {p: 0 for p in paths}
    began = time.monotonic()
    next_at = began
    while not stop:
        for path in paths:
            t0 = time.perf_counter()
            try:
                answer = session.get(base + path, timeout=5)
                body = answer.content
                ok = answer.status_code == 200
                if not ok:
                    errors.add(f"{path}: {answer.status_code} {body[:200]!r}")
            except requests.RequestException as exc:
                ok, body = False, b""
                errors.add(f"{path}: {exc.__class__.__name__}")
            elapsed = (time.perf_counter() - t0) * 1e3
            if ok:
                times[path].append(elapsed)
                sizes[path] = max(sizes[path], len(body))
            else:
                failures[path] += 1
        next_at += args.interval
        pause = next_at - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        else:
            next_at = time.monotonic()

    result = {
        "label": args.label,
        "seconds": round(time.monotonic() - began, 2),
        "interval_s": args.interval,
        "paths": {
            p: {
                "ok": len(times[p]),
                "failed": failures[p],
                "median_ms": round(statistics.median(times[p]), 2) if times[p] else None,
                "max_ms": round(max(times[p]), 2) if times[p] else None,
                "bytes": sizes[p],
            }
            for p in paths
        },
        "errors": sorted(errors),
    }
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    sys.exit(main())
