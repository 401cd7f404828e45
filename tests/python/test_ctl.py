"""`warren ctl`: rabbitmqctl's verbs over the management API, printing what rabbitmqctl prints.

Needs WARREN_TEST_MANAGEMENT_URL (the broker's management API, http://127.0.0.1:PORT) and
WARREN_BIN (the warren binary). Each check states the exact output rabbitmqctl 3.10.8 gives for
the state the test made; when WARREN_TEST_RABBITMQCTL is set (the command prefix of the real
rabbitmqctl for the same broker, a RabbitMQ), the same output is also required of it, so the
expectations are RabbitMQ's own. Every test works in a vhost of its own, so the broker may be
shared. Rows are compared in sorted order: rabbitmqctl lists in its tables' order, the API
sorted by name.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import re
import shlex
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from urllib.parse import quote

import pika
import pytest

MANAGEMENT = os.environ.get("WARREN_TEST_MANAGEMENT_URL", "")
WARREN = os.environ.get("WARREN_BIN", "")
RABBITMQCTL = shlex.split(os.environ.get("WARREN_TEST_RABBITMQCTL", ""))

pytestmark = pytest.mark.skipif(not (MANAGEMENT and WARREN),
                                reason="WARREN_TEST_MANAGEMENT_URL and WARREN_BIN are needed")


def api(method: str, path: str, body=None):
    """The management API as guest: (status, JSON or None)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(MANAGEMENT + path, data=data, method=method)
    request.add_header("Authorization", "Basic " + base64.b64encode(b"guest:guest").decode())
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            text = response.read()
            return response.status, (json.loads(text) if text else None)
    except urllib.error.HTTPError as e:
        return e.code, None


def q(name: str) -> str:
    return quote(name, safe="")


def run(command: list[str], stdin: str | None = None) -> tuple[int, str, str]:
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, input=stdin)
    return done.returncode, done.stdout, done.stderr


def warren_ctl(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
    return run([WARREN, "ctl", "--management-url", MANAGEMENT, *args], stdin)


def rabbitmqctl(*args: str) -> tuple[int, str, str]:
    return run([*RABBITMQCTL, *args])


def tools():
    """The commands to check: warren ctl, and rabbitmqctl when given."""
    yield "warren ctl", warren_ctl
    if RABBITMQCTL:
        yield "rabbitmqctl", rabbitmqctl


def canonical(text: str, fixed: int) -> list[str]:
    """The first `fixed` lines (banner, header) as they are, the rows sorted (json rows without
    their leading comma)."""
    lines = text.splitlines()
    head, rows = lines[:fixed], lines[fixed:]
    if head[:1] == ["["] or rows[:1] == ["["]:
        inner = [r for r in lines if r not in ("[", "]")]
        return ["["] + sorted(r.lstrip(",") for r in inner) + ["]"]
    return head + sorted(rows)


def check_list(args: list[str], expected: str, banner: int, header: bool = True) -> None:
    """A read-only verb: each tool prints `expected` (rows in any order) and exits 0."""
    skip = banner + (1 if header else 0)
    for name, tool in tools():
        rc, out, err = tool(*args)
        assert (rc, err) == (0, ""), f"{name} {args}: {err}"
        assert canonical(out, skip) == canonical(expected, skip), f"{name} {args}:\n{out}"


def check(name: str, rc: int, out: str, err: str, expected_rc: int, expected_out: str,
          expected_err: str = "") -> None:
    assert (rc, out, err.strip()) == (expected_rc, expected_out, expected_err.strip()), name


@pytest.fixture
def vhost(broker):
    """A vhost of the test's own, guest with every permission in it; deleted after."""
    name = f"warren-test.ctl.{uuid.uuid4().hex[:10]}"
    assert api("PUT", f"/api/vhosts/{q(name)}")[0] in (201, 204)
    assert api("PUT", f"/api/permissions/{q(name)}/guest",
               {"configure": ".*", "write": ".*", "read": ".*"})[0] in (201, 204)
    yield name
    api("DELETE", f"/api/vhosts/{q(name)}")


def connect(broker, vhost: str, **kw) -> pika.BlockingConnection:
    return dataclasses.replace(broker, vhost=vhost).connect(**kw)


def wait_for(what, predicate, timeout: float = 15.0):
    """RabbitMQ's API shows counts every 5 s (Warren's at once): wait until it shows this."""
    deadline = time.monotonic() + timeout
    while True:
        value = what()
        if predicate(value):
            return value
        assert time.monotonic() < deadline, f"the API did not show it in time: {value}"
        time.sleep(0.25)


def queue_shows(vhost: str, queue: str, **fields):
    wait_for(lambda: api("GET", f"/api/queues/{q(vhost)}/{q(queue)}")[1] or {},
             lambda info: all(info.get(k) == v for k, v in fields.items()))


def test_list_queues_prints_rabbitmqctls_columns_and_values(broker, vhost):
    conn = connect(broker, vhost)
    ch = conn.channel()
    # In key order: RabbitMQ keeps a table's order, its API (an Erlang map) sorts the keys.
    ch.queue_declare("q.args", durable=True,
                     arguments={"x-dead-letter-exchange": "dlx", "x-max-length": 100, "x-queue-mode": "lazy"})
    ch.queue_declare("q.auto", auto_delete=True)
    for _ in range(3):
        ch.basic_publish("", "q.args", b"m")
    queue_shows(vhost, "q.args", messages=3)
    queue_shows(vhost, "q.auto", messages=0)
    banner = f"Timeout: 60.0 seconds ...\nListing queues for vhost {vhost} ...\n"
    check_list(["list_queues", "-p", vhost], banner + "name\tmessages\nq.args\t3\nq.auto\t0\n", 2)
    check_list(["-q", "list_queues", "-p", vhost], "name\tmessages\nq.args\t3\nq.auto\t0\n", 0)
    check_list(["list_queues", "-p", vhost, "-s"], "q.args\t3\nq.auto\t0\n", 0, header=False)
    check_list(["list_queues", "--no-table-headers", "-p", vhost, "-t", "10", "name"],
               f"Timeout: 10.0 seconds ...\nListing queues for vhost {vhost} ...\nq.args\nq.auto\n",
               2, header=False)
    args = '[{"x-dead-letter-exchange","dlx"},{"x-max-length",100},{"x-queue-mode","lazy"}]'
    check_list(["list_queues", "-p", vhost, "name", "durable", "auto_delete", "exclusive",
                "arguments", "policy", "state", "type", "messages_ready",
                "messages_unacknowledged", "consumers"],
               banner + "name\tdurable\tauto_delete\texclusive\targuments\tpolicy\tstate\ttype\t"
               "messages_ready\tmessages_unacknowledged\tconsumers\n"
               f"q.args\ttrue\tfalse\tfalse\t{args}\t\trunning\tclassic\t3\t0\t0\n"
               "q.auto\tfalse\ttrue\tfalse\t[]\t\trunning\tclassic\t0\t0\t0\n", 2)
    check_list(["list_queues", "-p", vhost, "--formatter", "json", "name", "messages", "durable", "policy"],
               '[\n{"name":"q.args","messages":3,"durable":true,"policy":""}\n'
               ',{"name":"q.auto","messages":0,"durable":false,"policy":""}\n]\n', 0)
    csv_args = args.replace('"', '""')
    check_list(["list_queues", "-p", vhost, "--formatter", "csv", "name", "arguments"],
               f'"name","arguments"\n"q.args","{csv_args}"\n"q.auto","[]"\n', 0)
    conn.close()


def test_an_empty_or_unknown_vhost_lists_nothing(vhost):
    check_list(["list_queues", "-p", vhost],
               f"Timeout: 60.0 seconds ...\nListing queues for vhost {vhost} ...\n", 2, header=False)
    check_list(["list_queues", "-p", vhost + ".none", "--formatter", "json"], "[\n]\n", 0, header=False)


def test_list_exchanges_and_bindings(broker, vhost):
    conn = connect(broker, vhost)
    ch = conn.channel()
    ch.exchange_declare("x.topic", "topic", durable=True, arguments={"alternate-exchange": "amq.fanout"})
    ch.exchange_declare("x.fan", "fanout", auto_delete=True)
    ch.queue_declare("q.bound")
    ch.queue_bind("q.bound", "x.topic", "a.#", arguments={"n": 3, "x-tag": "t"})
    ch.exchange_bind("x.fan", "x.topic", "b.*")
    conn.close()
    for name, tool in tools():
        rc, out, err = tool("list_exchanges", "-p", vhost, "name", "type", "durable",
                            "auto_delete", "internal", "arguments", "policy")
        assert rc == 0, err
        lines = out.splitlines()
        assert lines[:2] == [f"Listing exchanges for vhost {vhost} ...",
                             "name\ttype\tdurable\tauto_delete\tinternal\targuments\tpolicy"], name
        ours = sorted(line for line in lines[2:] if line.startswith("x.") or line.startswith("\t")
                      or line.startswith("amq.direct\t"))
        assert ours == ["\tdirect\ttrue\tfalse\tfalse\t[]\t",
                        "amq.direct\tdirect\ttrue\tfalse\tfalse\t[]\t",
                        "x.fan\tfanout\tfalse\ttrue\tfalse\t[]\t",
                        'x.topic\ttopic\ttrue\tfalse\tfalse\t[{"alternate-exchange","amq.fanout"}]\t'], name
    check_list(["list_bindings", "-p", vhost],
               f"Listing bindings for vhost {vhost}...\n"
               "source_name\tsource_kind\tdestination_name\tdestination_kind\trouting_key\targuments\n"
               "\texchange\tq.bound\tqueue\tq.bound\t[]\n"
               'x.topic\texchange\tq.bound\tqueue\ta.#\t[{"n",3},{"x-tag","t"}]\n'
               "x.topic\texchange\tx.fan\texchange\tb.*\t[]\n", 1)
    # No integer argument here: pika sends 3 as a signedint, which the API shows as a number
    # and rabbitmqctl's JSON as ["n","signedint",3] (warren ctl says "long").
    check_list(["list_bindings", "-p", vhost, "--formatter", "json", "source_name", "routing_key"],
               '[\n{"source_name":"","routing_key":"q.bound"}\n'
               ',{"source_name":"x.topic","routing_key":"a.#"}\n'
               ',{"source_name":"x.topic","routing_key":"b.*"}\n]\n', 0)


def test_connections_consumers_and_close_connection(broker, vhost):
    conn = connect(broker, vhost, client_properties={"connection_name": "ctl-test"})
    ch = conn.channel()
    ch.queue_declare("q.consumed")
    ch.basic_qos(prefetch_count=7)
    ch.basic_consume("q.consumed", lambda *a: None, consumer_tag="ctag.1")
    ch2 = conn.channel()
    ch2.basic_consume("q.consumed", lambda *a: None, auto_ack=True, consumer_tag="ctag.2")
    wait_for(lambda: [c for c in api("GET", "/api/connections")[1] or [] if c.get("vhost") == vhost],
             lambda cs: len(cs) == 1 and cs[0].get("channels") == 2)
    wait_for(lambda: api("GET", f"/api/consumers/{q(vhost)}")[1] or [], lambda cs: len(cs) == 2)
    check_list(["list_consumers", "-p", vhost, "queue_name", "consumer_tag", "ack_required",
                "prefetch_count", "active", "arguments"],
               f"Listing consumers in vhost {vhost} ...\n"
               "queue_name\tconsumer_tag\tack_required\tprefetch_count\tactive\targuments\n"
               "q.consumed\tctag.1\ttrue\t7\ttrue\t[]\nq.consumed\tctag.2\tfalse\t0\ttrue\t[]\n", 1)
    columns = ["vhost", "user", "state", "channels", "protocol", "ssl", "auth_mechanism", "peer_host"]
    for name, tool in tools():
        rc, out, err = tool("list_connections", *columns)
        assert rc == 0, err
        lines = out.splitlines()
        assert lines[:2] == ["Listing connections ...", "\t".join(columns)], name
        ours = [line for line in lines[2:] if line.startswith(vhost + "\t")]
        assert ours == [f"{vhost}\tguest\trunning\t2\t{{0,9,1}}\tfalse\tPLAIN\t127.0.0.1"], name
        rc, out, err = tool("list_connections", "--formatter", "json", "vhost", "peer_host", "protocol")
        assert f'{{"vhost":"{vhost}","peer_host":[127,0,0,1],"protocol":[0,9,1]}}' in out, name
    rc, out, err = warren_ctl("-s", "list_connections", "name", "vhost")
    names = [line.split("\t")[0] for line in out.splitlines() if line.endswith("\t" + vhost)]
    assert len(names) == 1, out
    rc, out, err = warren_ctl("close_connection", names[0], "bye from ctl")
    check("close_connection", rc, out, err, 0, f"Closing connection {names[0]}, reason: bye from ctl...\n")
    with pytest.raises(pika.exceptions.ConnectionClosedByBroker) as closed:
        conn.process_data_events(time_limit=5)
        conn.process_data_events(time_limit=5)
    assert (closed.value.reply_code, closed.value.reply_text) == (320, "CONNECTION_FORCED - bye from ctl")
    rc, out, err = warren_ctl("close_connection", "no such connection", "x")
    assert rc == 69 and "no connection named 'no such connection'" in err, err


def test_purge_and_delete_queue_as_rabbitmqctl(broker, vhost):
    conn = connect(broker, vhost)
    ch = conn.channel()
    for name, tool in tools():
        queue = f"q.{name.split()[0]}"
        ch.queue_declare(queue)
        for _ in range(2):
            ch.basic_publish("", queue, b"m")
        queue_shows(vhost, queue, messages=2)
        rc, out, err = tool("delete_queue", "-p", vhost, queue, "--if-empty")
        check(f"{name} delete --if-empty", rc, out, err, 64,
              f"Deleting queue '{queue}' on vhost '{vhost}' if queue is empty ...\n",
              "Error:\nQueue is not empty")
        rc, out, err = tool("-q", "delete_queue", "-p", vhost, queue, "-u")
        check(f"{name} delete -u", rc, out, err, 0, "Queue was successfully deleted with 2 ready messages\n")
        rc, out, err = tool("purge_queue", "-p", vhost, queue)
        check(f"{name} purge unknown", rc, out, err, 69,
              f"Purging queue '{queue}' in vhost '{vhost}' ...\n", "Error:\nnot_found")
        rc, out, err = tool("delete_queue", queue, "-p", vhost)
        check(f"{name} delete unknown", rc, out, err, 64,
              f"Deleting queue '{queue}' on vhost '{vhost}' ...\n", "Error:\nQueue not found")
        ch.queue_declare(queue)
        ch.basic_publish("", queue, b"m")
        queue_shows(vhost, queue, messages=1)
        rc, out, err = tool("purge_queue", "-p", vhost, queue)
        check(f"{name} purge", rc, out, err, 0, f"Purging queue '{queue}' in vhost '{vhost}' ...\n")
        assert ch.queue_declare(queue, passive=True).method.message_count == 0
    conn.close()


def test_users_vhosts_and_permissions(vhost):
    for name, tool in tools():
        user = f"warren-test.ctl.{name.split()[0]}.{uuid.uuid4().hex[:8]}"
        other = user + ".vhost"
        help_verb = "warren ctl help" if tool is warren_ctl else "rabbitmqctl help"
        try:
            rc, out, err = tool("add_user", user, "s3cret")
            check(f"{name} add_user", rc, out, err, 0,
                  f'Adding user "{user}" ...\nDone. Don\'t forget to grant the user permissions to '
                  f"some virtual hosts! See '{help_verb} set_permissions' to learn more.\n")
            rc, out, err = tool("add_user", user, "again")
            check(f"{name} add_user again", rc, out, err, 70, f'Adding user "{user}" ...\n',
                  f'Error:\nUser "{user}" already exists')
            rc, out, err = tool("set_user_tags", user, "monitoring", "management")
            check(f"{name} set_user_tags", rc, out, err, 0,
                  f'Setting tags for user "{user}" to [monitoring, management] ...\n')
            rc, out, err = tool("-s", "list_users")
            assert f"{user}\t[monitoring, management]" in out.splitlines(), name
            rc, out, err = tool("list_users", "--formatter", "json")
            assert f'{{"user":"{user}","tags":["monitoring","management"]}}' in out, name
            rc, out, err = tool("set_permissions", "-p", vhost, user, "^c", "", ".*")
            check(f"{name} set_permissions", rc, out, err, 0,
                  f'Setting permissions for user "{user}" in vhost "{vhost}" ...\n')
            rc, out, err = tool("list_permissions", "-p", vhost)
            assert canonical(out, 2) == [f'Listing permissions for vhost "{vhost}" ...',
                                         "user\tconfigure\twrite\tread",
                                         "guest\t.*\t.*\t.*", f"{user}\t^c\t\t.*"], name
            rc, out, err = tool("set_permissions", "-p", vhost, user + ".none", ".*", ".*", ".*")
            check(f"{name} set_permissions unknown user", rc, out, err, 67,
                  f'Setting permissions for user "{user}.none" in vhost "{vhost}" ...\n',
                  f"Error:\nUser {user}.none does not exist")
            rc, out, err = tool("add_vhost", other)
            check(f"{name} add_vhost", rc, out, err, 0, f'Adding vhost "{other}" ...\n')
            rc, out, err = tool("list_vhosts", "name", "tracing")
            assert f"{other}\tfalse" in out.splitlines() and out.startswith("Listing vhosts ...\nname\ttracing\n"), name
            rc, out, err = tool("delete_vhost", other)
            check(f"{name} delete_vhost", rc, out, err, 0, f'Deleting vhost "{other}" ...\n')
            rc, out, err = tool("delete_vhost", other)
            check(f"{name} delete_vhost again", rc, out, err, 65, f'Deleting vhost "{other}" ...\n',
                  f"Virtual host '{other}' does not exist")
            rc, out, err = tool("delete_user", user)
            check(f"{name} delete_user", rc, out, err, 0, f'Deleting user "{user}" ...\n')
            rc, out, err = tool("delete_user", user)
            check(f"{name} delete_user again", rc, out, err, 67, f'Deleting user "{user}" ...\n',
                  f'Error:\nUser "{user}" does not exist')
        finally:
            api("DELETE", f"/api/users/{q(user)}")
            api("DELETE", f"/api/vhosts/{q(other)}")


def test_export_and_import_definitions(vhost, tmp_path):
    queue = "q.imported"
    definitions = {"queues": [{"name": queue, "vhost": vhost, "durable": True, "auto_delete": False,
                               "arguments": {"x-max-length": 5}}]}
    source = tmp_path / "in.json"
    source.write_text(json.dumps(definitions))
    rc, out, err = warren_ctl("import_definitions", str(source))
    check("import", rc, out, err, 0,
          f'Importing definitions in JSON from a file at "{source}" ...\n'
          "Successfully started definition import. This process is asynchronous and can take some time.\n")
    wait_for(lambda: api("GET", f"/api/queues/{q(vhost)}/{q(queue)}")[0], lambda s: s == 200)
    for name, tool in tools():
        target = tmp_path / f"{name.split()[0]}.json"
        rc, out, err = tool("export_definitions", str(target))
        check(f"{name} export", rc, out, err, 0,
              f'Exporting definitions in JSON to a file at "{target}" ...\n')
        exported = json.loads(target.read_text())
        assert [qd for qd in exported["queues"] if qd["vhost"] == vhost] == [
            {"name": queue, "vhost": vhost, "durable": True, "auto_delete": False,
             "arguments": {"x-max-length": 5}, "type": "classic"}], name
        rc, out, err = tool("export_definitions", "-")
        assert rc == 0 and any(v["name"] == vhost for v in json.loads(out)["vhosts"]), name
        rc, out, err = tool("import_definitions", str(tmp_path / "none.json"))
        assert rc == 65 and f"Bad argument: File {tmp_path / 'none.json'} does not exist" in err, name
    bad = tmp_path / "bad.json"
    bad.write_text("{bad")
    rc, out, err = warren_ctl("import_definitions", str(bad))
    assert rc == 65 and "Failed to deserialise input (format: JSON)" in err, err


def test_await_startup_status_and_an_unreachable_broker():
    for name, tool in tools():
        rc, out, err = tool("await_startup", "--timeout", "10")
        check(f"{name} await_startup", rc, out, err, 0, "")
        rc, out, err = tool("status")
        assert rc == 0 and out.startswith("Status of node ") and "\x1b[1mListeners\x1b[0m" in out, name
    rc, out, err = run([WARREN, "ctl", "--management-url", "http://127.0.0.1:9", "list_queues"])
    assert rc == 69, err
    assert "cannot reach Warren's management API at http://127.0.0.1:9 (connection refused)" in err
    assert "--management-port" in err
    rc, out, err = run([WARREN, "ctl", "--management-url", "http://127.0.0.1:9", "await_startup", "-t", "1"])
    assert rc == 69 and "waited 1 s" in err, err
    rc, out, err = warren_ctl("--password", "wrong", "list_queues")
    assert rc == 69 and "refused user 'guest'" in err, err


def test_ping_as_the_healthcheck_calls_it():
    """`rabbitmq-diagnostics -q ping` in a docker-compose healthcheck: `warren ctl -q ping`."""
    for name, tool in tools():
        rc, out, err = tool("ping")
        assert (rc, err) == (0, ""), name
        assert re.fullmatch(r"Will ping \S+\. This only checks if the OS process is running and "
                            r"registered with epmd\. Timeout: 60000 ms\.\nPing succeeded\n", out), out
        check(f"{name} -q ping", *tool("-q", "ping"), 0, "Ping succeeded\n")
        rc, out, err = tool("ping", "-t", "5")
        assert rc == 0 and "Timeout: 5000 ms." in out, name
    rc, out, err = run([WARREN, "ctl", "--management-url", "http://127.0.0.1:9", "-q", "ping"])
    assert (rc, out) == (69, "") and "connection refused" in err, err


def test_bad_arguments_exit_64():
    for name, tool in tools():
        rc, out, err = tool("list_queues", "bogus")
        assert rc == 64 and "Error (argument validation): Info key(s) bogus are not supported" in err, name
        rc, out, err = tool("purge_queue")
        assert rc == 64, name
        rc, out, err = tool("purge_queue", "a", "b")
        assert rc == 64, name
