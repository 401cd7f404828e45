#!/usr/bin/env python3
"""Record the JSON shapes of RabbitMQ's management API into management_shapes.json.

    WARREN_TEST_URL=amqp://guest:guest@127.0.0.1:5682/%2F \\
    WARREN_TEST_MANAGEMENT_URL=http://127.0.0.1:15682 \\
        python3 tests/python/record_management_shapes.py [OUTPUT]

(tests/rabbitmq-reference.sh start prints these variables.) Builds mgmt.ShapeState (queues,
exchanges, bindings, a connection with a consumer and a publisher), records every endpoint of
mgmt.ENDPOINTS once the first stats are out and before any message flows, then again after traffic,
and writes for each endpoint the union of the two shapes: field names and JSON types, not values. A
field only the after-traffic answer has is marked "absent_before_traffic". test_management_shapes.py
checks a broker's answers against the file.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from conftest import parse_url  # noqa: E402
import mgmt  # noqa: E402


# Values that are null (or present) in the recorded state but take another type in other states,
# as RabbitMQ 3.10's code has them: a field of that name, at any depth, also allows these types.
OTHER_STATES = {
    "exclusive_consumer_tag": ["string"],      # a queue with an exclusive consumer
    "single_active_consumer_tag": ["string"],  # x-single-active-consumer with a consumer
    "head_message_timestamp": ["number"],      # the head message has a timestamp property
    "policy": ["string"],                      # a policy applies
    "operator_policy": ["string"],             # an operator policy applies
    "recoverable_slaves": ["array"],           # a mirrored classic queue
    # A connection's TLS fields are null until its first stats emission, then "" (without TLS).
    **{f: ["null"] for f in ("peer_cert_issuer", "peer_cert_subject", "peer_cert_validity",
                             "ssl_cipher", "ssl_hash", "ssl_key_exchange", "ssl_protocol")},
}
# Fields RabbitMQ leaves out in some states: idle_since while the queue or channel is busy.
SOMETIMES_ABSENT = {"idle_since"}


def widen(shape: dict) -> dict:
    for name, sub in shape.get("fields", {}).items():
        if name in OTHER_STATES:
            types = set(mgmt._types(sub)) | set(OTHER_STATES[name])
            sub["type"] = sorted(types) if len(types) > 1 else types.pop()
        if name in SOMETIMES_ABSENT:
            sub["optional"] = True
        widen(sub)
    if "items" in shape:
        widen(shape["items"])
    return shape


def main() -> int:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).with_name(
        "management_shapes.json")
    broker = parse_url(os.environ["WARREN_TEST_URL"])
    management = mgmt.Management(os.environ["WARREN_TEST_MANAGEMENT_URL"], broker.user,
                                 broker.password)
    overview = management.json("/api/overview")
    state = mgmt.ShapeState(management, broker.params())
    try:
        state.build()
        before = mgmt.record(state, after_traffic=False)
        state.traffic()
        after = mgmt.record(state, after_traffic=True)
    finally:
        state.close()
    endpoints = {}
    for ep in mgmt.ENDPOINTS:
        shape = after[ep.key]
        if ep.key in before:
            shape = mgmt.merge(before[ep.key], shape, "absent_before_traffic")
        endpoints[ep.key] = {"status": ep.status, "shape": widen(shape)}
    doc = {
        "recorded_from": {"product_name": overview.get("product_name"),
                          "product_version": overview.get("product_version"),
                          "management_version": overview.get("management_version")},
        "format": mgmt.__doc__.strip().splitlines()[0] + " See the comment on shapes in mgmt.py.",
        "endpoints": endpoints,
    }
    out.write_text(json.dumps(doc, indent=1, sort_keys=False) + "\n")
    print(f"wrote {len(endpoints)} endpoint shapes to {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
