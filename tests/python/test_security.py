"""Security: users with hashed passwords, vhosts and permissions from a RabbitMQ
definitions file (security_definitions.json, beside this file).

The users of that file: guest/guest (everything on `/`), sec-app/app-pw (on `/` only: configure
`^app\\.`, write and read `^app\\.(x|in)\\.`), sec-full/full-pw (everything on `/` and
`sec-vhost`; tagged `impersonator`). On the topic exchange `app.x.topic`, sec-app may publish
only with keys matching `^{username}\\.` and bind only with keys matching `^public\\.`. Their
password hashes were made with `warren hash-password`. In `sec-vhost`, the file also declares
the topic exchange `sec.events`, the queue `sec.audit` and a binding `user.#`.

Which broker: if WARREN_TEST_DEFINITIONS_URL is set (amqp://HOST:PORT), that broker has loaded
the file (tests/rabbitmq-reference.sh does this for RabbitMQ). Otherwise the suite starts its own
Warren with `--definitions` (the binary: WARREN_BIN, default target/debug/warren), and skips if
there is none.

Not covered here: `guest` over a non-loopback address (no such address may be used in tests);
the Rust state-machine tests check it with a made-up peer address."""

from __future__ import annotations

import os
import struct
import uuid
from pathlib import Path
from urllib.parse import urlparse

import pika
import pytest

import rawamqp as R
from conftest import assert_channel_closed, get_one, own_warren

HERE = Path(__file__).resolve().parent
DEFINITIONS = HERE / "security_definitions.json"


@pytest.fixture(scope="module")
def address(tmp_path_factory):
    """(host, port) of a broker configured with security_definitions.json."""
    url = os.environ.get("WARREN_TEST_DEFINITIONS_URL")
    if url:
        u = urlparse(url)
        yield u.hostname or "127.0.0.1", u.port or 5672
        return
    log = tmp_path_factory.mktemp("warren") / "warren.log"
    with own_warren("--definitions", str(DEFINITIONS), log=log) as port:
        yield "127.0.0.1", port
    # Passwords and hashes never reach the log.
    text = log.read_text()
    for secret in ["app-pw", "full-pw", "d5GKJPuu27"]:
        assert secret not in text, f"{secret!r} in the broker log"


def connect(address, user: str, password: str, vhost: str = "/") -> pika.BlockingConnection:
    host, port = address
    return pika.BlockingConnection(pika.ConnectionParameters(
        host=host, port=port, virtual_host=vhost,
        credentials=pika.PlainCredentials(user, password),
        connection_attempts=1, socket_timeout=5))


@pytest.fixture
def app(address):
    c = connect(address, "sec-app", "app-pw")
    yield c
    if c.is_open:
        c.close()


def uid() -> str:
    return uuid.uuid4().hex[:12]


def refused(kind: str, name: str, user: str = "sec-app", vhost: str = "/") -> str:
    return f"ACCESS_REFUSED - access to {kind} '{name}' in vhost '{vhost}' refused for user '{user}'"


def expect_refusal(excinfo, kind: str, name: str) -> None:
    assert_channel_closed(excinfo, 403, refused(kind, name))
    assert excinfo.value.reply_text == refused(kind, name)


# ---- logging in ---------------------------------------------------------------------------


def test_a_user_with_a_hashed_password_logs_in_and_works(address):
    c = connect(address, "sec-app", "app-pw")
    try:
        ch = c.channel()
        x, q = f"app.x.{uid()}", f"app.in.{uid()}"
        ch.exchange_declare(x, "direct", auto_delete=True)
        ch.queue_declare(q, exclusive=True)
        ch.queue_bind(q, x, "k")
        ch.basic_publish(x, "k", b"allowed")
        assert get_one(ch, q)[2] == b"allowed"
    finally:
        c.close()


def test_a_wrong_password_is_refused(address):
    with pytest.raises(pika.exceptions.ProbableAuthenticationError) as exc:
        connect(address, "sec-app", "not-the-password")
    assert "ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN" \
        in str(exc.value)


def test_an_unknown_user_is_refused_the_same_way(address):
    with pytest.raises(pika.exceptions.ProbableAuthenticationError) as exc:
        connect(address, "nobody", "app-pw")
    assert "ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN" \
        in str(exc.value)


def _open_vhost(address, user: str, password: str, vhost: str) -> R.Close:
    host, port = address
    with R.RawAMQP(host, port, 5.0) as r:
        r.start()
        r.start_ok(user, password)
        r.expect_method(R.CONNECTION_TUNE, 0)
        r.send_method(0, R.CONNECTION_TUNE_OK, struct.pack(">HIH", 2047, 131072, 0))
        r.send_method(0, R.CONNECTION_OPEN, R.shortstr(vhost) + R.shortstr("") + b"\x00")
        close = r.wait_close()
        r.send_method(0, R.CONNECTION_CLOSE_OK)
        return close


def test_an_unknown_vhost_is_530(address):
    close = _open_vhost(address, "sec-full", "full-pw", "no-such-vhost")
    assert (close.kind, close.reply_code, close.reply_text) == \
        ("connection", 530, "NOT_ALLOWED - vhost no-such-vhost not found")
    assert (close.class_id, close.method_id) == (10, 40)


def test_a_vhost_without_permissions_is_530(address):
    close = _open_vhost(address, "sec-app", "app-pw", "sec-vhost")
    assert (close.kind, close.reply_code, close.reply_text) == \
        ("connection", 530, "NOT_ALLOWED - access to vhost 'sec-vhost' refused for user 'sec-app'")
    assert (close.class_id, close.method_id) == (10, 40)


# ---- configure ----------------------------------------------------------------------------


def test_configure_refused_for_queue_declare_and_delete(app):
    name = f"other.{uid()}"
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as exc:
        app.channel().queue_declare(name)
    expect_refusal(exc, "queue", name)
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as exc:
        app.channel().queue_delete(name)
    expect_refusal(exc, "queue", name)


def test_configure_is_checked_on_the_server_chosen_name(app):
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as exc:
        app.channel().queue_declare("", exclusive=True)
    assert exc.value.reply_code == 403
    assert exc.value.reply_text.startswith("ACCESS_REFUSED - access to queue 'amq.gen-")
    assert exc.value.reply_text.endswith("' in vhost '/' refused for user 'sec-app'")


def test_configure_refused_for_exchange_declare_and_delete(app):
    name = f"other.{uid()}"
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as exc:
        app.channel().exchange_declare(name, "fanout")
    expect_refusal(exc, "exchange", name)
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as exc:
        app.channel().exchange_delete(name)
    expect_refusal(exc, "exchange", name)


def test_passive_declares_need_no_permission(app, address):
    admin = connect(address, "guest", "guest")
    try:
        name = f"other.{uid()}"
        admin.channel().queue_declare(name, auto_delete=True)
        # sec-app may not configure it, but may check that it exists.
        app.channel().queue_declare(name, passive=True)
        admin.channel().queue_delete(name)
    finally:
        admin.close()


# ---- write --------------------------------------------------------------------------------


def test_write_refused_for_publish_to_the_default_exchange(app):
    ch = app.channel()
    ch.basic_publish("", f"app.in.{uid()}", b"refused")
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as exc:
        # The refusal closes the channel; the next synchronous call sees it.
        ch.queue_declare(f"app.in.{uid()}", exclusive=True)
    expect_refusal(exc, "exchange", "amq.default")


def test_write_on_the_queue_is_needed_to_bind_it(app):
    ch = app.channel()
    q, x = f"app.secret.{uid()}", f"app.x.{uid()}"
    ch.queue_declare(q, exclusive=True)
    ch.exchange_declare(x, "direct", auto_delete=True)
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as exc:
        ch.queue_bind(q, x, "k")
    expect_refusal(exc, "queue", q)
    app.channel().exchange_delete(x)


# ---- read ---------------------------------------------------------------------------------


def test_read_refused_for_get_consume_and_purge(app):
    q = f"app.secret.{uid()}"
    app.channel().queue_declare(q, auto_delete=True)
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as exc:
        app.channel().basic_get(q)
    expect_refusal(exc, "queue", q)
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as exc:
        app.channel().basic_consume(q, lambda *a: None)
    expect_refusal(exc, "queue", q)
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as exc:
        app.channel().queue_purge(q)
    expect_refusal(exc, "queue", q)
    app.channel().queue_delete(q)


def test_read_on_the_exchange_is_needed_to_bind_to_it(app):
    ch = app.channel()
    q = f"app.in.{uid()}"
    ch.queue_declare(q, exclusive=True)
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as exc:
        ch.queue_bind(q, "amq.fanout")
    expect_refusal(exc, "exchange", "amq.fanout")


# ---- vhosts -------------------------------------------------------------------------------


def test_a_second_vhost_is_isolated_from_the_first(address):
    other = connect(address, "sec-full", "full-pw", "sec-vhost")
    root = connect(address, "sec-full", "full-pw", "/")
    try:
        q, x = f"sec.q.{uid()}", f"sec.x.{uid()}"
        och = other.channel()
        och.queue_declare(q, auto_delete=True)
        och.exchange_declare(x, "fanout", auto_delete=True)
        och.queue_bind(q, x)
        for declare in (lambda ch: ch.queue_declare(q, passive=True),
                        lambda ch: ch.exchange_declare(x, passive=True)):
            with pytest.raises(pika.exceptions.ChannelClosedByBroker) as exc:
                declare(root.channel())
            assert exc.value.reply_code == 404
            assert exc.value.reply_text.endswith("in vhost '/'")
        # The same name in `/` is another queue: a message there does not reach sec-vhost.
        rch = root.channel()
        rch.queue_declare(q, exclusive=True)
        rch.basic_publish("", q, b"for /")
        assert get_one(rch, q)[2] == b"for /"
        och.basic_publish(x, "", b"for sec-vhost")
        assert get_one(och, q)[2] == b"for sec-vhost"
        och.queue_delete(q)
        och.exchange_delete(x)
    finally:
        root.close()
        other.close()


def test_exchanges_queues_and_bindings_of_the_file_are_declared(address):
    c = connect(address, "sec-full", "full-pw", "sec-vhost")
    try:
        ch = c.channel()
        ch.exchange_declare("sec.events", "topic", durable=True, passive=True)
        ch.queue_declare("sec.audit", passive=True)
        ch.queue_purge("sec.audit")
        marker = uid().encode()
        ch.basic_publish("sec.events", "user.created", marker)
        assert get_one(ch, "sec.audit")[2] == marker
        # Declared with the file's properties: redeclaring with others is 406.
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as exc:
            c.channel().queue_declare("sec.audit", durable=False)
        assert exc.value.reply_code == 406
    finally:
        c.close()


def test_only_impersonators_may_publish_another_user_id(address):
    full = connect(address, "sec-full", "full-pw")
    app = connect(address, "sec-app", "app-pw")
    try:
        ch = full.channel()
        q = f"app.in.{uid()}"
        ch.queue_declare(q, exclusive=True)
        ch.basic_publish("", q, b"as someone", pika.BasicProperties(user_id="someone-else"))
        _, props, _ = get_one(ch, q)
        assert props.user_id == "someone-else"
        ach = app.channel()
        x = f"app.x.{uid()}"
        ach.exchange_declare(x, "fanout", auto_delete=True)
        ach.basic_publish(x, "", b"", pika.BasicProperties(user_id="sec-full"))
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as exc:
            ach.exchange_declare(x, "fanout", passive=True)
        assert (exc.value.reply_code, exc.value.reply_text) == (
            406, "PRECONDITION_FAILED - user_id property set to 'sec-full' but authenticated user "
                 "was 'sec-app'")
    finally:
        app.close()
        full.close()


def test_topic_permissions_restrict_routing_keys(app):
    ch = app.channel()
    x, q = "app.x.topic", f"app.in.{uid()}"
    ch.exchange_declare(x, "topic", auto_delete=True)
    ch.queue_declare(q, exclusive=True)
    ch.queue_bind(q, x, "public.#")
    # {username} stands for the user's name: sec-app may publish with sec-app.*.
    ch.basic_publish(x, "sec-app.hello", b"allowed")
    ch.queue_declare(q, exclusive=True)  # a round trip: the channel is still open
    ch.basic_publish(x, "public.news", b"refused")
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as exc:
        ch.queue_declare(q, exclusive=True)
    assert (exc.value.reply_code, exc.value.reply_text) == (
        403, "ACCESS_REFUSED - access to topic 'public.news' in exchange 'app.x.topic' in vhost '/' "
             "refused for user 'sec-app'")
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as exc:
        app.channel().queue_bind(q, x, "secret.#")
    assert (exc.value.reply_code, exc.value.reply_text) == (
        403, "ACCESS_REFUSED - access to topic 'secret.#' in exchange 'app.x.topic' in vhost '/' "
             "refused for user 'sec-app'")
