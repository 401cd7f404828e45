"""Vhost limits (max-queues, max-connections) and amqps, with pika and raw frames.

These tests need a broker with a limit set, which the shared broker does not have:
- against RabbitMQ (tests/rabbitmq-reference.sh exports WARREN_TEST_RABBITMQCTL), each test makes
  a vhost of its own and sets its limits with `rabbitmqctl set_vhost_limits`;
- against Warren (tests/run-all exports WARREN_BIN), each test starts a Warren of its own with
  --max-queues / --max-connections, whose one vhost is '/'.
Without either they are skipped. The amqps tests need Warren (the reference RabbitMQ has no TLS
listener) and the openssl command.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shlex
import shutil
import ssl
import struct
import subprocess

import pika
import pytest

import rawamqp
from conftest import Broker, free_port, own_warren, uniq, wait_for, warren_binary


@contextlib.contextmanager
def limited_broker(broker: Broker, limits: dict[str, int]):
    """A broker (and vhost) with RabbitMQ vhost `limits` such as {"max-queues": 2}."""
    ctl = os.environ.get("WARREN_TEST_RABBITMQCTL")
    if ctl:
        command = shlex.split(ctl)
        vhost = uniq("vhost")

        def run(*args):
            subprocess.run(command + list(args), check=True, capture_output=True, timeout=60)

        run("add_vhost", vhost)
        try:
            run("set_permissions", "-p", vhost, broker.user, ".*", ".*", ".*")
            run("set_vhost_limits", "-p", vhost, json.dumps(limits))
            yield dataclasses.replace(broker, vhost=vhost)
        finally:
            run("delete_vhost", vhost)
        return
    flags = [arg for name, value in limits.items() for arg in (f"--{name}", str(value))]
    with own_warren(*flags) as port:
        yield dataclasses.replace(broker, host="127.0.0.1", port=port, vhost="/")


def refused_open(broker: Broker) -> rawamqp.Close:
    """The handshake up to connection.open, and the close the broker answers it with."""
    with rawamqp.RawAMQP(broker.host, broker.port, 5.0) as raw:
        raw.start()
        raw.start_ok(broker.user, broker.password)
        tune = raw.expect_method(rawamqp.CONNECTION_TUNE, 0).args().unpack(">HIH")
        raw.send_method(0, rawamqp.CONNECTION_TUNE_OK, struct.pack(">HIH", tune[0], tune[1], 0))
        raw.send_method(0, rawamqp.CONNECTION_OPEN,
                        rawamqp.shortstr(broker.vhost) + rawamqp.shortstr("") + b"\x00")
        return raw.wait_close()


def test_queues_beyond_the_vhost_limit_are_refused_and_redeclares_pass(broker):
    with limited_broker(broker, {"max-queues": 2}) as limited:
        conn = limited.connect()
        try:
            ch = conn.channel()
            first = uniq("limited")
            ch.queue_declare(first, exclusive=True)
            ch.queue_declare("", exclusive=True)
            ch.queue_declare(first, exclusive=True)  # not a new queue: allowed
            third = uniq("limited")
            with pytest.raises(pika.exceptions.ChannelClosedByBroker) as excinfo:
                ch.queue_declare(third, exclusive=True)
            assert excinfo.value.reply_code == 406
            assert excinfo.value.reply_text == (
                f"PRECONDITION_FAILED - cannot declare queue '{third}': "
                f"queue limit in vhost '{limited.vhost}' (2) is reached")
        finally:
            if conn.is_open:
                conn.close()


def test_connections_beyond_the_vhost_limit_are_refused_at_open(broker):
    with limited_broker(broker, {"max-connections": 1}) as limited:
        first = limited.connect()
        try:
            close = refused_open(limited)
        finally:
            first.close()
        assert (close.kind, close.reply_code, close.class_id, close.method_id) == \
            ("connection", 530, 10, 40)
        assert close.reply_text == (
            f"NOT_ALLOWED - access to vhost '{limited.vhost}' refused for user "
            f"'{limited.user}': connection limit (1) is reached")

        def reconnects():
            try:
                limited.connect().close()
                return True
            except pika.exceptions.AMQPConnectionError:
                return False

        # RabbitMQ counts connections asynchronously: the place comes back shortly.
        wait_for(reconnects, timeout=10, interval=0.2, what="a place freed by the closed connection")


@pytest.fixture
def certificate(tmp_path):
    if not shutil.which("openssl"):
        pytest.skip("needs the openssl command to make a certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
                    "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)
    return cert, key


def test_pika_publishes_and_gets_over_amqps(broker, certificate):
    cert, key = certificate
    tls_port = free_port()
    with own_warren("--tls-cert", str(cert), "--tls-key", str(key), "--tls-port", str(tls_port),
                "--tls-bind", "127.0.0.1"):
        context = ssl.create_default_context(cafile=str(cert))
        params = pika.ConnectionParameters(
            host="127.0.0.1", port=tls_port, credentials=pika.PlainCredentials("guest", "guest"),
            ssl_options=pika.SSLOptions(context, "localhost"), connection_attempts=1,
            socket_timeout=5)
        conn = pika.BlockingConnection(params)
        try:
            ch = conn.channel()
            queue = ch.queue_declare("", exclusive=True).method.queue
            ch.basic_publish("", queue, b"over amqps")
            # One channel's publish is routed before its get.
            method, _props, body = ch.basic_get(queue, auto_ack=True)
            assert method is not None and body == b"over amqps"
        finally:
            conn.close()


def test_a_missing_certificate_file_is_named_in_the_error():
    result = subprocess.run([warren_binary(), "--bind", "127.0.0.1", "--port", str(free_port()),
                             "--management-port", "0", "--prometheus-port", "0",
                             "--tls-cert", "/nonexistent/cert.pem", "--tls-key",
                             "/nonexistent/key.pem", "--tls-port", str(free_port())],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode != 0
    assert "cannot read the TLS certificate file /nonexistent/cert.pem" in result.stderr
