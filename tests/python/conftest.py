"""Shared fixtures for the client-level suite.

The broker is whatever WARREN_TEST_URL points at (tests/run-all starts Warren and sets it;
tests/rabbitmq-reference.sh points it at a real RabbitMQ). Every test uses its own uniquely named
queues/exchanges, so the suite can run against a shared broker.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote, urlparse

import pika
import pytest

sys.path.insert(0, os.path.dirname(__file__))

import mgmt  # noqa: E402
import rawamqp  # noqa: E402


@dataclass(frozen=True)
class Broker:
    url: str
    host: str
    port: int
    user: str
    password: str
    vhost: str

    def params(self, **kw) -> pika.ConnectionParameters:
        kw.setdefault("connection_attempts", 1)
        kw.setdefault("socket_timeout", 5)
        kw.setdefault("blocked_connection_timeout", 30)
        return pika.ConnectionParameters(
            host=self.host, port=self.port, virtual_host=self.vhost,
            credentials=kw.pop("credentials", pika.PlainCredentials(self.user, self.password)),
            **kw)

    def connect(self, **kw) -> pika.BlockingConnection:
        return pika.BlockingConnection(self.params(**kw))

    def kombu_url(self) -> str:
        # The form of the Wazo doc: amqp://guest:guest@localhost:5672// (vhost "/").
        vhost = "/" if self.vhost == "/" else quote(self.vhost, safe="")
        return f"amqp://{quote(self.user)}:{quote(self.password)}@{self.host}:{self.port}/{vhost}"

    def raw(self, timeout: float = 5.0) -> rawamqp.RawAMQP:
        return rawamqp.RawAMQP(self.host, self.port, timeout)


def parse_url(url: str) -> Broker:
    u = urlparse(url)
    if u.scheme != "amqp":
        raise ValueError(f"WARREN_TEST_URL must be amqp://...: {url!r}")
    path = u.path[1:] if u.path.startswith("/") else u.path
    vhost = unquote(path) if path else "/"
    return Broker(url, u.hostname or "127.0.0.1", u.port or 5672,
                  unquote(u.username or "guest"), unquote(u.password or "guest"), vhost)


@pytest.fixture(scope="session")
def broker() -> Broker:
    url = os.environ.get("WARREN_TEST_URL")
    if not url:
        pytest.exit("WARREN_TEST_URL is not set (use tests/run-all or tests/rabbitmq-reference.sh)",
                    returncode=2)
    return parse_url(url)


def _url_from_env(var: str, example: str) -> str:
    """The management plane's URLs: unset fails the test that needs it (no skip), with why."""
    url = os.environ.get(var)
    if not url:
        pytest.fail(f"{var} is not set: the management plane's tests need it ({example}, no "
                    f"credentials in it); tests/rabbitmq-reference.sh exports it for RabbitMQ, "
                    f"tests/run-all for Warren", pytrace=False)
    return url.rstrip("/")


@pytest.fixture(scope="session")
def management_url() -> str:
    return _url_from_env("WARREN_TEST_MANAGEMENT_URL", "e.g. http://127.0.0.1:15672")


@pytest.fixture(scope="session")
def prometheus_url() -> str:
    return _url_from_env("WARREN_TEST_PROMETHEUS_URL", "e.g. http://127.0.0.1:15692")


@pytest.fixture(scope="session")
def management(management_url, broker) -> mgmt.Management:
    """The HTTP API as the suite's user (guest, an administrator on both brokers)."""
    return mgmt.Management(management_url, broker.user, broker.password)


@pytest.fixture
def made(management):
    """What a test creates through the API, deleted afterwards (404 tolerated): made.queue(vhost,
    name), made.exchange(vhost, name), made.user(name), made.vhost(name); each returns the name."""
    r = mgmt.Made(management)
    yield r
    r.delete_all()


uniq = mgmt.uniq_name  # uniq("prefix") -> "warren-test.prefix.<12 hex digits>"


@pytest.fixture
def conn(broker):
    c = broker.connect()
    yield c
    if c.is_open:
        c.close()


@pytest.fixture
def ch(conn):
    return conn.channel()


@pytest.fixture
def cleanup(broker):
    """Register durable/shared things to delete after the test: cleanup.queue(n), cleanup.exchange(n)."""

    class Cleanup:
        def __init__(self):
            self.queues: list[str] = []
            self.exchanges: list[str] = []

        def queue(self, name: str) -> str:
            self.queues.append(name)
            return name

        def exchange(self, name: str) -> str:
            self.exchanges.append(name)
            return name

    c = Cleanup()
    yield c
    if not (c.queues or c.exchanges):
        return
    conn = broker.connect()
    try:
        for q in c.queues:
            conn.channel().queue_delete(q)
        for x in c.exchanges:
            conn.channel().exchange_delete(x)
    finally:
        conn.close()


def marker_props(marker: str) -> pika.BasicProperties:
    return pika.BasicProperties(message_id=marker, type="warren-test-marker")


def settle(ch, queues, timeout: float = 5.0) -> dict[str, list[tuple]]:
    """Collect what is in each queue *now*, without sleeping.

    For each queue, publish a marker straight to it (default exchange) on `ch`, then basic.get until
    the marker comes out. Messages published earlier on the same channel are routed before the marker
    (AMQP keeps one channel's publishes in order), so everything they delivered has been seen; no
    marker = something is broken. Returns {queue: [(method, properties, body), ...]} without markers.
    Only for queues without consumers.
    """
    markers = {}
    for q in queues:
        markers[q] = uuid.uuid4().hex
        ch.basic_publish("", q, b"", marker_props(markers[q]))
    out = {}
    for q in queues:
        got = []
        deadline = time.monotonic() + timeout
        while True:
            method, props, body = ch.basic_get(q, auto_ack=True)
            if method is None:
                if time.monotonic() > deadline:
                    raise AssertionError(f"marker never reached queue {q!r} (got {got!r})")
                time.sleep(0.01)
                continue
            if props.message_id == markers[q] and props.type == "warren-test-marker":
                break
            got.append((method, props, body))
        out[q] = got
    return out


def bodies(msgs) -> list[bytes]:
    return [m[2] for m in msgs]


def wait_for(predicate, timeout: float = 5.0, interval: float = 0.02, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(interval)


def queue_exists(broker: Broker, name: str) -> bool:
    return _passively_declared(broker, lambda ch: ch.queue_declare(name, passive=True))


def exchange_exists(broker: Broker, name: str) -> bool:
    return _passively_declared(broker, lambda ch: ch.exchange_declare(name, passive=True))


def _passively_declared(broker: Broker, declare) -> bool:
    """Runs a passive declare on a throw-away connection (a 404 closes the channel)."""
    c = broker.connect()
    try:
        declare(c.channel())
        return True
    except pika.exceptions.ChannelClosedByBroker as exc:
        assert exc.reply_code == 404, exc
        return False
    finally:
        if c.is_open:
            c.close()


def assert_channel_closed(excinfo, code: int, text_prefix: str) -> None:
    exc = excinfo.value
    assert exc.reply_code == code, f"expected {code}, got {exc.reply_code} {exc.reply_text!r}"
    assert exc.reply_text.startswith(text_prefix), \
        f"expected reply text starting {text_prefix!r}, got {exc.reply_text!r}"


def assert_broker_healthy(broker: Broker) -> None:
    """A fresh pika client can still connect, route and get a message."""
    c = broker.connect()
    try:
        ch = c.channel()
        q = ch.queue_declare("", exclusive=True).method.queue
        ch.basic_publish("", q, b"still alive")
        got = settle(ch, [q])[q]
        assert bodies(got) == [b"still alive"]
    finally:
        c.close()


class Collector:
    """basic.consume callback that records deliveries; `until_marker` drives a BlockingConnection."""

    def __init__(self, ch, ack_multiple: bool = False):
        self.ch = ch
        self.deliveries: list[tuple] = []  # (method, properties, body), markers included
        self.ack_multiple = ack_multiple

    def __call__(self, ch, method, props, body):
        self.deliveries.append((method, props, body))
        if self.ack_multiple:
            ch.basic_ack(method.delivery_tag, multiple=True)

    def messages(self) -> list[tuple]:
        return [d for d in self.deliveries if d[1].type != "warren-test-marker"]

    def until(self, conn, predicate, timeout: float = 5.0, what: str = "deliveries") -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}; got {self.deliveries!r}")
            conn.process_data_events(time_limit=0.02)

    def until_marker(self, conn, pub_ch, queue: str, timeout: float = 5.0) -> list[tuple]:
        """Publish a marker to `queue` on pub_ch (after whatever pub_ch published), wait for it."""
        marker = uuid.uuid4().hex
        pub_ch.basic_publish("", queue, b"", marker_props(marker))
        self.until(conn, lambda: any(d[1].message_id == marker for d in self.deliveries),
                   timeout, f"marker on {queue}")
        return self.messages()


def counts(ch, queue: str, passive: bool = True) -> tuple[int, int]:
    """(message_count, consumer_count) from queue.declare-ok.

    RabbitMQ may answer this before the queue has processed messages published just before on the
    same channel (its stat call is prioritised), so poll it with wait_for when counting publishes.
    """
    m = ch.queue_declare(queue, passive=passive).method
    return m.message_count, m.consumer_count


def get_one(ch, queue: str, auto_ack: bool = True, timeout: float = 5.0):
    """basic.get until a message comes (deadline), returns (method, properties, body)."""
    deadline = time.monotonic() + timeout
    while True:
        method, props, body = ch.basic_get(queue, auto_ack=auto_ack)
        if method is not None:
            return method, props, body
        if time.monotonic() > deadline:
            raise AssertionError(f"no message in {queue!r} within {timeout} s")
        time.sleep(0.01)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def warren_binary() -> str:
    """The Warren binary tests may start (tests/run-all exports WARREN_BIN); skips without one."""
    default = Path(os.environ.get("CARGO_TARGET_DIR", Path(__file__).parents[2] / "target"))
    binary = Path(os.environ.get("WARREN_BIN", default / "debug" / "warren"))
    if not binary.is_file():
        pytest.skip(f"no Warren binary at {binary} (cargo build -p warren-cli, or set WARREN_BIN)")
    return str(binary)


@contextlib.contextmanager
def own_warren(*flags: str, log: Path | None = None):
    """A Warren of the test's own on 127.0.0.1, started with `flags`, its output in `log` (a
    temporary file if not given); yields its AMQP port."""
    log = log or Path(tempfile.mkdtemp(prefix="warren-test-")) / "warren.log"
    port = free_port()
    with open(log, "w") as out:
        process = subprocess.Popen(
            [warren_binary(), "--bind", "127.0.0.1", "--port", str(port),
             "--management-port", "0", "--prometheus-port", "0", *flags],
            stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 10
        while True:
            if process.poll() is not None:
                raise AssertionError(f"warren exited ({process.returncode}): {log.read_text()}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise AssertionError(f"warren did not listen on {port} within 10 s")
                time.sleep(0.05)
        yield port
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _broker_is_warren() -> bool:
    """Whether the management API under test is Warren's (its overview says so)."""
    url = os.environ.get("WARREN_TEST_MANAGEMENT_URL")
    if not url:
        return False
    try:
        broker = parse_url(os.environ.get("WARREN_TEST_URL", "amqp://guest:guest@127.0.0.1/"))
        overview = mgmt.Management(url, broker.user, broker.password).json("/api/overview")
        return overview.get("product_name") == "Warren"
    except Exception:  # no broker yet: nothing is marked, and the tests say why they fail
        return False


def _gap_key(item) -> str:
    """`test_file.py::test_name[params]`, as warren_gaps.py names a test."""
    path, _, rest = item.nodeid.partition("::")
    return f"{Path(path).name}::{rest}"


def pytest_collection_modifyitems(config, items):
    """Warren's known gaps (warren_gaps.py) run as strict xfails against Warren only."""
    from warren_gaps import GAPS
    if not any(_gap_key(item) in GAPS for item in items) or not _broker_is_warren():
        return
    for item in items:
        reason = GAPS.get(_gap_key(item))
        if reason:
            item.add_marker(pytest.mark.xfail(reason=f"Warren gap: {reason}", strict=True))
