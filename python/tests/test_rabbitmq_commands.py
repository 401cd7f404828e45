"""warren-rabbitmq-server and warren-rabbitmqctl as scripts and healthchecks call them: on
RabbitMQ's environment variables, with rabbitmqctl's output."""

import os
import signal
import socket
import subprocess

import pika
import pytest


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def node(tmp_path):
    """A warren-rabbitmq-server node, as pytest-rabbitmq or a compose file starts one."""
    environment = {**os.environ, "RABBITMQ_NODE_PORT": str(free_port()),
                   "RABBITMQ_NODENAME": "rabbit-test@localhost",
                   "RABBITMQ_MNESIA_BASE": str(tmp_path / "mnesia"),
                   "RABBITMQ_DEFAULT_USER": "admin", "RABBITMQ_DEFAULT_PASS": "s3cret"}
    server = subprocess.Popen(["warren-rabbitmq-server"], env=environment, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    for line in server.stdout:
        if "Server startup complete" in line:
            break
    else:
        pytest.fail(f"warren-rabbitmq-server exited with {server.wait()} before its startup line")
    yield environment
    server.send_signal(signal.SIGTERM)
    assert server.wait(timeout=10) == 0


def ctl(environment, *args):
    run = subprocess.run(["warren-rabbitmqctl", *args], env=environment, capture_output=True,
                         text=True, timeout=30)
    return run.returncode, run.stdout, run.stderr


def test_the_server_takes_rabbitmqs_port_and_default_user(node):
    parameters = pika.ConnectionParameters("127.0.0.1", int(node["RABBITMQ_NODE_PORT"]),
                                           credentials=pika.PlainCredentials("admin", "s3cret"))
    with pika.BlockingConnection(parameters) as connection:
        connection.channel().queue_declare("from-pika")
    rc, out, err = ctl(node, "list_queues", "name")
    assert (rc, err) == (0, "")
    assert out == ("Timeout: 60.0 seconds ...\nListing queues for vhost / ...\n"
                   "name\nfrom-pika\n")


def test_ping_is_the_healthcheck(node):
    assert ctl(node, "-q", "ping") == (0, "Ping succeeded\n", "")


def test_the_node_is_found_by_name_too(node):
    environment = {key: value for key, value in node.items() if key != "RABBITMQ_NODENAME"}
    rc, out, err = ctl(environment, "-n", "rabbit-test@localhost", "-q", "list_exchanges", "name")
    assert rc == 0 and "xivo" in out.splitlines(), err


def test_a_node_that_does_not_run_is_unavailable(tmp_path):
    environment = {**os.environ, "RABBITMQ_NODENAME": "absent@localhost",
                   "RABBITMQ_MNESIA_BASE": str(tmp_path),
                   "WARREN_MANAGEMENT_URL": f"http://127.0.0.1:{free_port()}"}
    rc, out, err = ctl(environment, "-q", "ping")
    assert (rc, out) == (69, "") and "connection refused" in err
