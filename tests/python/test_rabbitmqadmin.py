"""The classic rabbitmqadmin script (Debian's rabbitmq-server ships it as /usr/bin/rabbitmqadmin;
WARREN_TEST_RABBITMQADMIN overrides the path) pointed at the management port: list, declare,
publish, get, delete, export, with its output parsed (-f raw_json and -f tsv)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

import pytest

import mgmt
from conftest import get_one
from mgmt import api_path

SCRIPT = os.environ.get("WARREN_TEST_RABBITMQADMIN", "/usr/bin/rabbitmqadmin")


@pytest.fixture(scope="session")
def admin(management_url, broker):
    """admin(*args) -> the script's stdout; it must exit 0."""
    if not Path(SCRIPT).is_file():
        pytest.fail(f"{SCRIPT} not found: install rabbitmq-server (Debian ships rabbitmqadmin) or "
                    f"set WARREN_TEST_RABBITMQADMIN", pytrace=False)
    u = urlparse(management_url)
    base = [sys.executable, SCRIPT, "-H", u.hostname, "-P", str(u.port or 15672),
            "-u", broker.user, "-p", broker.password, "-V", broker.vhost]

    def run(*args: str, ok: bool = True) -> str:
        p = subprocess.run(base + list(args), capture_output=True, text=True, timeout=30)
        if ok:
            assert p.returncode == 0, (args, p.returncode, p.stdout, p.stderr)
        return p.stdout if ok else (p.returncode, p.stdout + p.stderr)
    return run


def tsv(text: str) -> list[dict[str, str]]:
    header, *rows = text.rstrip("\n").split("\n")
    cols = header.split("\t")
    return [dict(zip(cols, row.split("\t"))) for row in rows]


def test_list_exchanges(admin):
    listed = json.loads(admin("-f", "raw_json", "list", "exchanges", "name", "type"))
    assert {"name": "amq.topic", "type": "topic"} in listed
    assert {"name": "", "type": "direct"} in listed


def test_declare_publish_get_delete_queue(admin, management, made):
    q = made.queue("/", mgmt.uniq_name("ra"))
    assert admin("declare", "queue", f"name={q}", "durable=false",
                 'arguments={"x-max-length": 10}').strip() == "queue declared"
    assert management.queue("/", q)["arguments"] == {"x-max-length": 10}
    assert admin("publish", f"routing_key={q}", "payload=hello from rabbitmqadmin",
                 'properties={"content_type": "text/plain"}').strip() == "Message published"
    mgmt.eventually(lambda: tsv(admin("-f", "tsv", "list", "queues", "name", "messages")),
                    lambda rows: {"name": q, "messages": "1"} in rows,
                    what="rabbitmqadmin list queues showing 1 message")
    [got] = tsv(admin("-f", "tsv", "get", f"queue={q}", "ackmode=ack_requeue_false"))
    assert (got["routing_key"], got["exchange"], got["payload"], got["payload_bytes"],
            got["message_count"], got["redelivered"]) == \
        (q, "", "hello from rabbitmqadmin", "24", "0", "False")
    assert management.get_messages("/", q) == []
    assert admin("delete", "queue", f"name={q}").strip() == "queue deleted"
    assert management.get(api_path("queues", "/", q)).status_code == 404


def test_declare_exchange_and_binding(admin, management, made, ch):
    x = made.exchange("/", mgmt.uniq_name("ra"))
    q = made.queue("/", x + ".q")
    assert admin("declare", "exchange", f"name={x}", "type=topic").strip() == "exchange declared"
    assert admin("declare", "queue", f"name={q}").strip() == "queue declared"
    assert admin("declare", "binding", f"source={x}", f"destination={q}",
                 "routing_key=a.#").strip() == "binding declared"
    assert management.json(api_path("exchanges", "/", x))["type"] == "topic"
    bindings = json.loads(admin("-f", "raw_json", "list", "bindings", "source", "destination",
                                "routing_key"))
    assert {"source": x, "destination": q, "routing_key": "a.#"} in bindings
    assert admin("publish", f"exchange={x}", "routing_key=a.b", "payload=routed").strip() == \
        "Message published"
    assert get_one(ch, q)[2] == b"routed"
    assert admin("delete", "binding", f"source={x}", f"destination={q}", "destination_type=queue",
                 "properties_key=a.%23").strip() == "binding deleted"
    assert admin("publish", f"exchange={x}", "routing_key=a.b", "payload=lost").strip() == \
        "Message published but NOT routed"
    assert admin("delete", "exchange", f"name={x}").strip() == "exchange deleted"


def test_list_queues_columns(admin, management, made):
    q = made.queue("/", mgmt.uniq_name("ra"))
    management.declare_queue("/", q, durable=True)
    rows = json.loads(admin("-f", "raw_json", "list", "queues", "name", "durable", "vhost"))
    assert {"name": q, "durable": True, "vhost": "/"} in rows
    table = admin("list", "queues", "name", "durable")
    assert any(line.split("|")[1].strip() == q for line in table.splitlines()
               if line.startswith("|") and line.count("|") == 3)


def test_export(admin, management, made, tmp_path):
    # with -V, rabbitmqadmin exports one vhost: GET /api/definitions/{vhost}
    q = made.queue("/", mgmt.uniq_name("ra"))
    management.declare_queue("/", q, durable=True)
    out = tmp_path / "definitions.json"
    assert admin("export", str(out)).strip().startswith("Exported definitions for")
    exported = json.loads(out.read_text())
    assert sorted(exported) == ["bindings", "exchanges", "parameters", "policies", "queues",
                                "rabbit_version"]
    assert {"name": q, "durable": True, "auto_delete": False, "arguments": {}} in \
        exported["queues"]


def test_errors(admin):
    none = mgmt.uniq_name("none")
    code, output = admin("get", f"queue={none}", ok=False)
    assert code == 1 and f"*** Not found: /api/queues/%2F/{none}/get" in output
    code, output = admin("-u", "guest", "-p", "wrong", "list", "queues", ok=False)
    assert code != 0 and "Access refused" in output
