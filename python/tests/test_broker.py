"""`warren_broker.Broker` without pytest's fixtures, and the binary the wheel installed."""

import json
import os
import shutil
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pika
import pytest

import warren_broker
from warren_broker import Broker, BrokerError


def test_a_broker_serves_until_its_context_ends():
    with Broker() as broker:
        assert broker.running and broker.port > 0
        connection = pika.BlockingConnection(pika.URLParameters(broker.amqp_url))
        assert connection.is_open
        connection.close()
        overview = broker.management.request("GET", "/api/overview")
        assert overview["product_name"] == "Warren"
        with urllib.request.urlopen(f"{broker.prometheus_url}/metrics", timeout=5) as answer:
            assert b"rabbitmq_" in answer.read()
        port = broker.port
    assert not broker.running
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2)
    assert "Server startup complete" in broker.log


def test_other_users_and_no_management():
    with Broker(user="wazo", password="s3cret", management_port=None) as broker:
        assert broker.management_url is None
        assert broker.amqp_url.startswith("amqp://wazo:s3cret@127.0.0.1:")
        pika.BlockingConnection(pika.URLParameters(broker.amqp_url)).close()
        with pytest.raises(BrokerError, match="without the management API"):
            broker.management


def test_a_taken_port_is_an_error_with_the_log_tail():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(BrokerError) as error:
            Broker(port=port).start()
    message = str(error.value)
    assert "exited with status 1 before it was ready" in message
    assert f"cannot listen on 127.0.0.1:{port}" in message


def test_a_bad_definitions_file_is_an_error_with_the_log_tail(tmp_path):
    definitions = tmp_path / "definitions.json"
    definitions.write_text('{"users": [')
    with pytest.raises(BrokerError) as error:
        Broker(definitions=definitions).start()
    assert str(definitions) in str(error.value)


def test_definitions_give_the_users():
    here = Path(__file__).parent
    with Broker(definitions=here / "definitions.json", user="wazo", password="wazo") as broker:
        pika.BlockingConnection(pika.URLParameters(broker.url("wazo"))).close()


def test_the_packaged_binary_is_found_not_the_first_on_path(tmp_path, monkeypatch):
    impostor = tmp_path / "warren"
    impostor.write_text("#!/bin/sh\nexit 3\n")
    impostor.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.delenv("WARREN_BIN", raising=False)
    binary = warren_broker.find_binary()
    assert binary != impostor and binary.parent == Path(sys.executable).parent
    with Broker() as broker:
        assert broker.running


def test_a_missing_binary_says_what_to_do():
    with pytest.raises(warren_broker.BinaryNotFound, match="--warren-bin, WARREN_BIN"):
        Broker(binary="/nonexistent/warren").start()


def test_python_dash_m_runs_the_broker_with_its_flags():
    run = subprocess.run([sys.executable, "-m", "warren_broker", "--help"],
                         capture_output=True, text=True, timeout=30)
    assert run.returncode == 0 and "--management-port" in run.stdout
    assert shutil.which("warren") == str(warren_broker.find_binary())


def test_what_an_xdist_worker_is_handed_is_enough_to_use_the_broker():
    from warren_broker.pytest_plugin import AttachedBroker

    with Broker() as broker:
        attached = AttachedBroker(json.loads(json.dumps(broker.describe())))
        assert (attached.host, attached.port, attached.pid) == (broker.host, broker.port, broker.pid)
        pika.BlockingConnection(pika.URLParameters(attached.url("/"))).close()
        assert attached.management.request("GET", "/api/overview")["product_name"] == "Warren"
        assert attached.reset()["vhost"] == "/", "the test controls through the handed-over URLs"
