"""Warren's test controls under /api/warren/ (no RabbitMQ has them, so these run on Warren only):
waits for a binding, a consumer and ready messages that answer as soon as it is so (200) or say
what did not happen (408), a peek that leaves messages in place, and the race they end."""

import selectors
import socket
import threading
import time
from urllib.parse import urlsplit

import pika
import pytest

import mgmt
from conftest import _broker_is_warren, free_port, own_warren, uniq
from mgmt import api_path, assert_error, expect

pytestmark = pytest.mark.skipif(not _broker_is_warren(), reason="Warren's own API: RabbitMQ has none")


def wait_path(kind, *segments):
    return api_path("warren", "wait", kind, *segments)


def bound_queue(ch, routing_key="calls.call.*", exchange="xivo"):
    queue = ch.queue_declare("", exclusive=True).method.queue
    ch.queue_bind(queue, exchange, routing_key)
    return queue


def test_a_binding_that_exists_is_answered_at_once(management, ch):
    queue = bound_queue(ch)
    r = expect(management.get(wait_path("binding", "/", "xivo", queue),
                              params={"routing_key": "calls.call.*", "timeout_ms": 1000}), 200)
    binding = r.json()
    listed = management.json(api_path("bindings", "/", "e", "xivo", "q", queue))
    assert binding == listed[0], "the binding as GET /api/bindings shows it"
    assert (binding["routing_key"], binding["destination"]) == ("calls.call.*", queue)
    # Without a routing key, any binding between the two will do.
    expect(management.get(wait_path("binding", "/", "xivo", queue)), 200)


def test_a_binding_wait_ends_when_a_client_binds(management, broker, ch):
    queue = ch.queue_declare("", exclusive=True).method.queue
    answers = []
    waiter = threading.Thread(target=lambda: answers.append(management.get(
        wait_path("binding", "/", "xivo", queue),
        params={"routing_key": "calls.#", "timeout_ms": 5000})))
    waiter.start()
    time.sleep(0.2)  # the wait is open before the bind (the order under test)
    started = time.monotonic()
    ch.queue_bind(queue, "xivo", "calls.#")
    waiter.join(10)
    assert answers and answers[0].status_code == 200, answers
    assert time.monotonic() - started < 2, "the wait did not end with the bind"


def test_a_wait_that_times_out_says_what_did_not_happen(management, ch):
    queue = ch.queue_declare("", exclusive=True).method.queue
    started = time.monotonic()
    r = management.get(wait_path("binding", "/", "xivo", queue),
                       params={"routing_key": "never", "timeout_ms": 150})
    assert_error(r, 408, "timeout",
                 f"no binding of exchange 'xivo' to queue '{queue}' with routing key 'never' "
                 "within 150 ms")
    assert 0.15 <= time.monotonic() - started < 2
    r = management.get(wait_path("consumer", "/", queue), params={"timeout_ms": 50})
    assert_error(r, 408, "timeout", f"no consumer on queue '{queue}' within 50 ms")
    r = management.get(wait_path("messages", "/", queue), params={"count": 2, "timeout_ms": 50})
    assert_error(r, 408, "timeout", f"no 2 ready messages in queue '{queue}' within 50 ms")


def test_a_headers_binding_is_named_by_its_arguments(management, ch):
    queue = ch.queue_declare("", exclusive=True).method.queue
    ch.queue_bind(queue, "wazo-headers", "", arguments={"x-match": "all", "name": "call_created",
                                                       "tenant_uuid": "t1"})
    path = wait_path("binding", "/", "wazo-headers", queue)
    found = expect(management.get(path, params={
        "arguments": '{"name": "call_created", "x-match": "all"}', "timeout_ms": 1000}), 200)
    assert found.json()["arguments"]["tenant_uuid"] == "t1"
    assert_error(management.get(path, params={"arguments": '{"name": "call_ended"}',
                                              "timeout_ms": 50}), 408, "timeout")


def test_consumer_and_message_waits_end_when_clients_act(management, broker, ch):
    queue = ch.queue_declare("", exclusive=True).method.queue

    def act():
        time.sleep(0.2)
        other = broker.connect()
        for n in range(3):
            other.channel().basic_publish("", queue, f"job {n}".encode())
        other.close()

    threading.Thread(target=act).start()
    r = expect(management.get(wait_path("messages", "/", queue),
                              params={"count": 3, "timeout_ms": 5000}), 200)
    assert r.json() == {"vhost": "/", "queue": queue, "messages": 3}
    threading.Timer(0.2, lambda: ch.connection.add_callback_threadsafe(
        lambda: ch.basic_consume(queue, lambda *a: None))).start()
    deadline = time.monotonic() + 5
    answers = []
    waiter = threading.Thread(target=lambda: answers.append(management.get(
        wait_path("consumer", "/", queue), params={"timeout_ms": 5000})))
    waiter.start()
    while waiter.is_alive() and time.monotonic() < deadline:
        ch.connection.process_data_events(time_limit=0.05)
    assert answers and answers[0].json() == {"vhost": "/", "queue": queue, "consumers": 1}


def test_an_absurd_timeout_is_capped_and_the_answer_says_so(management, ch):
    queue = bound_queue(ch)
    r = expect(management.get(wait_path("binding", "/", "xivo", queue),
                              params={"timeout_ms": 10 ** 12}), 200)
    assert r.headers["x-warren-timeout-capped"] == "60000"


@pytest.mark.parametrize("params, reason", [
    ({"timeout_ms": "soon"}, "timeout_ms must be a whole number, not 'soon'"),
    ({"timeout_ms": "-1"}, "timeout_ms must be a whole number, not '-1'"),
    ({"arguments": "[1"}, "arguments must be a JSON object, not '[1'"),
])
def test_bad_parameters_are_400_with_the_reason(management, params, reason):
    r = management.get(wait_path("binding", "/", "xivo", "q"), params=params)
    assert_error(r, 400, "bad_request", reason)


def test_an_unknown_vhost_is_404(management):
    assert_error(management.get(wait_path("consumer", "no-such-vhost", "q")), 404,
                 "Object Not Found")


def test_a_management_user_waits_only_in_its_vhosts(management, made):
    user, vhost = made.user(uniq("waiter")), made.vhost(uniq("theirs"))
    expect(management.put(api_path("users", user), {"password": "pw", "tags": "management"}), 201, 204)
    expect(management.put(api_path("vhosts", vhost)), 201, 204)
    expect(management.put(api_path("permissions", vhost, user),
                          {"configure": ".*", "write": ".*", "read": ".*"}), 201, 204)
    theirs = management.as_user(user, "pw")
    assert_error(theirs.get(wait_path("consumer", "/", "q"), params={"timeout_ms": 10}), 401,
                 "not_authorised")
    assert_error(theirs.get(wait_path("consumer", vhost, "q"), params={"timeout_ms": 10}), 408,
                 "timeout")


def test_a_thousand_waits_held_open_at_once(management, management_url, ch):
    """1,000 waits open together: the API and AMQP go on answering, and one bind ends them all."""
    queue = ch.queue_declare("", exclusive=True).method.queue
    address = urlsplit(management_url)
    request = (f"GET {wait_path('binding', '/', 'xivo', queue)}?timeout_ms=20000 HTTP/1.1\r\n"
               f"Host: {address.netloc}\r\nAuthorization: Basic Z3Vlc3Q6Z3Vlc3Q=\r\n"
               "Connection: close\r\n\r\n").encode()
    sockets = []
    try:
        for _ in range(1000):
            s = socket.create_connection((address.hostname, address.port), timeout=10)
            s.sendall(request)
            sockets.append(s)
        expect(management.get("/api/overview"), 200)
        ch.basic_publish("", queue, b"still served")
        assert ch.basic_get(queue, auto_ack=True)[2] == b"still served"
        ch.queue_bind(queue, "xivo", "all.waits")
        answers = read_all(sockets, deadline=time.monotonic() + 20)
    finally:
        for s in sockets:
            s.close()
    assert len(answers) == 1000
    assert all(answer.startswith(b"HTTP/1.1 200") for answer in answers), {a[:40] for a in answers}


def read_all(sockets, deadline):
    """Each socket's whole answer (the server closes after it)."""
    selector = selectors.DefaultSelector()
    answers = {s: b"" for s in sockets}
    for s in sockets:
        s.setblocking(False)
        selector.register(s, selectors.EVENT_READ)
    done = []
    while len(done) < len(sockets) and time.monotonic() < deadline:
        for key, _ in selector.select(timeout=1):
            chunk = key.fileobj.recv(65536)
            if chunk:
                answers[key.fileobj] += chunk
            else:
                selector.unregister(key.fileobj)
                done.append(answers[key.fileobj])
    return done


def test_a_peek_leaves_the_messages_where_they_are(management, ch):
    queue = ch.queue_declare("", exclusive=True).method.queue
    for body in (b"first", b"second", b"\xff\xfe binary"):
        ch.basic_publish("", queue, body, pika.BasicProperties(headers={"name": "call_created"}))
    handled(ch)
    r = expect(management.get(api_path("warren", "peek", "/", queue), params={"count": 2}), 200)
    peeked = r.json()
    assert [m["payload"] for m in peeked] == ["first", "second"]
    assert peeked[0]["properties"]["headers"] == {"name": "call_created"}
    assert [m["redelivered"] for m in peeked] == [False, False]
    assert ch.queue_declare(queue, passive=True).method.message_count == 3
    method, _, body = ch.basic_get(queue, auto_ack=True)
    assert (body, method.redelivered) == (b"first", False), "a peek is not a delivery"
    r = expect(management.get(api_path("warren", "peek", "/", queue),
                              params={"encoding": "base64"}), 200)
    assert [m["payload_encoding"] for m in r.json()] == ["base64", "base64"]


def test_a_huge_message_is_peeked_truncated_and_says_so(management, ch):
    queue = ch.queue_declare("", exclusive=True).method.queue
    ch.basic_publish("", queue, b"x" * (4 << 20))
    handled(ch)
    [peeked] = expect(management.get(api_path("warren", "peek", "/", queue)), 200).json()
    assert (peeked["payload_bytes"], len(peeked["payload"]), peeked["truncated"]) == (
        4 << 20, 64 * 1024, True)
    [whole] = expect(management.get(api_path("warren", "peek", "/", queue),
                                    params={"truncate": 8 << 20}), 200).json()
    assert (len(whole["payload"]), whole["truncated"]) == (4 << 20, False)


def test_peeking_a_missing_queue_is_404(management):
    r = management.get(api_path("warren", "peek", "/", "no-such-queue"))
    assert_error(r, 404, "not_found", "NOT_FOUND - no queue 'no-such-queue' in vhost '/'")


def race(broker, management, wait):
    """A consumer starts (connects, declares, binds) while the test publishes right away: with
    no wait the publish can come first and the event is lost."""
    queue = uniq("race")
    ready, received = threading.Event(), []

    def consume():
        connection = broker.connect()
        channel = connection.channel()
        channel.queue_declare(queue, exclusive=True)
        channel.queue_bind(queue, "xivo", "calls.call.created")
        ready.set()
        method, _, body = channel.basic_get(queue, auto_ack=True)
        deadline = time.monotonic() + 1
        while method is None and time.monotonic() < deadline:
            connection.process_data_events(time_limit=0.01)
            method, _, body = channel.basic_get(queue, auto_ack=True)
        received.append(body)
        connection.close()

    publisher = broker.connect()
    consumer = threading.Thread(target=consume)
    consumer.start()
    if wait:
        expect(management.get(wait_path("binding", "/", "xivo", queue),
                              params={"routing_key": "calls.call.created"}), 200)
    publisher.channel().basic_publish("xivo", "calls.call.created", b'{"name": "call_created"}')
    consumer.join(10)
    publisher.close()
    return received == [b'{"name": "call_created"}']


def test_without_the_wait_a_publish_right_after_consume_is_often_lost(broker, management):
    delivered = sum(race(broker, management, wait=False) for _ in range(20))
    assert delivered < 10, f"{delivered} of 20 delivered: the race did not show"


def test_with_the_binding_wait_it_never_is(broker, management):
    delivered = sum(race(broker, management, wait=True) for _ in range(20))
    assert delivered == 20


def handled(ch):
    """Returns once the broker has handled what was sent on `ch` so far (a synchronous method's
    answer comes after the publishes before it)."""
    ch.exchange_declare("amq.direct", passive=True)


def trace(management, ch, vhost="/", **params):
    """The trace, once the publishes made on `ch` so far are handled."""
    handled(ch)
    return expect(management.get(api_path("warren", "trace", vhost), params=params), 200).json()


def test_the_trace_names_the_bindings_an_event_took_through_xivo_to_wazo_headers(management, ch,
                                                                                  cleanup):
    """The Wazo topology in small: a topic exchange bound to a headers exchange with `#`, a
    queue bound to the headers exchange by event name (uniquely named, as the suite shares
    the broker)."""
    topic, headers = cleanup.exchange(uniq("xivo")), cleanup.exchange(uniq("wazo-headers"))
    ch.exchange_declare(topic, "topic")
    ch.exchange_declare(headers, "headers")
    ch.exchange_bind(headers, topic, "#")
    queue = ch.queue_declare("", exclusive=True).method.queue
    arguments = {"x-match": "all", "name": "call_created"}
    ch.queue_bind(queue, headers, "", arguments=arguments)
    body = b'{"name": "call_created", "data": {"call_id": "1455123422.8"}}'
    ch.basic_publish(topic, "calls.call.created", body,
                     pika.BasicProperties(headers={"name": "call_created"}))
    ch.basic_publish(topic, "calls.call.ended", b"{}", pika.BasicProperties(headers={"name": "x"}))
    ended, created = trace(management, ch, exchange=topic, limit=2)
    assert (created["routing_key"], created["payload"], created["unroutable"]) == (
        "calls.call.created", body.decode(), False)
    assert created["properties"]["headers"] == {"name": "call_created"}
    [route] = created["routed_to"]
    assert route["queue"] == queue
    assert [(hop["source"], hop["destination"], hop["destination_type"], hop["routing_key"],
             hop["arguments"], hop["alternate_exchange"]) for hop in route["via"]] == [
        (topic, headers, "exchange", "#", {}, False),
        (headers, queue, "queue", "", arguments, False),
    ]
    assert (ended["unroutable"], ended["routed_to"]) == (True, [])


def test_the_trace_shows_the_default_exchange_and_alternate_exchanges(management, ch, cleanup):
    fallback = cleanup.exchange(uniq("fallback"))
    main = cleanup.exchange(uniq("main"))
    ch.exchange_declare(fallback, "fanout")
    ch.exchange_declare(main, "direct", arguments={"alternate-exchange": fallback})
    queue = ch.queue_declare("", exclusive=True).method.queue
    ch.queue_bind(queue, fallback)
    ch.basic_publish(main, "nobody", b"to the side")
    ch.basic_publish("", queue, b"straight")
    straight, aside = trace(management, ch, limit=2)
    assert [hop["alternate_exchange"] for hop in aside["routed_to"][0]["via"]] == [True, False]
    assert aside["routed_to"][0]["via"][0]["destination"] == fallback
    [direct] = straight["routed_to"][0]["via"]
    assert (direct["source"], direct["destination"], direct["routing_key"]) == ("", queue, queue)
    only_default = trace(management, ch, exchange="amq.default", limit=1)
    assert only_default[0]["payload"] == "straight"


def test_the_trace_keeps_the_start_of_a_body_and_says_so(management, ch):
    queue = ch.queue_declare("", exclusive=True).method.queue
    ch.basic_publish("", queue, b"y" * 10_000)
    [entry] = trace(management, ch, exchange="amq.default", limit=1)
    assert (len(entry["payload"]), entry["payload_bytes"], entry["truncated"]) == (1024, 10_000, True)


def test_the_trace_is_bounded_by_its_size_and_off_at_zero():
    for size, expected in (("3", 3), ("0", 0)):
        management_port = free_port()
        with own_warren("--trace-size", size, "--management-port", str(management_port)) as port:
            connection = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", port))
            channel = connection.channel()
            for n in range(10):
                channel.basic_publish("xivo", f"calls.{n}", b"{}")
            connection.close()
            api = mgmt.Management(f"http://127.0.0.1:{management_port}")
            entries = api.json(api_path("warren", "trace", "/"))
            assert [e["routing_key"] for e in entries] == [f"calls.{n}" for n in range(9, 9 - expected, -1)]


def topology(api):
    """The vhost's queues, exchanges (by name and type) and bindings, as the API lists them."""
    exchanges = sorted((x["name"], x["type"]) for x in api.json(api_path("exchanges", "/")))
    return (api.json(api_path("queues", "/")), exchanges, api.json(api_path("bindings", "/")))


def test_a_reset_undoes_what_a_test_left_behind():
    """A test that leaves queues, exchanges, bindings and consumers behind, then one reset."""
    management_port = free_port()
    with own_warren("--management-port", str(management_port)) as port:
        api = mgmt.Management(f"http://127.0.0.1:{management_port}")
        at_start = topology(api)
        params = pika.ConnectionParameters("127.0.0.1", port, client_properties={
            "capabilities": {"consumer_cancel_notify": True}})
        connection = pika.BlockingConnection(params)
        channel = connection.channel()
        # What the test leaves: a queue with messages, another with a consumer (pika leaves
        # basic.cancel unreported to a consumer holding deliveries, on RabbitMQ as here), an
        # exchange of its own, a binding between two exchanges there at start, and the
        # predeclared wazo-headers deleted.
        channel.queue_declare("left-over", durable=True)
        channel.exchange_declare("left-exchange", "fanout")
        channel.queue_bind("left-over", "xivo", "calls.#")
        channel.queue_bind("left-over", "left-exchange")
        channel.exchange_bind("xivo", "amq.topic", "#")
        channel.queue_declare("consumed")
        for n in range(3):
            channel.basic_publish("", "left-over", f"m{n}".encode())
        cancelled = []
        channel.add_on_cancel_callback(lambda frame: cancelled.append(frame.method.consumer_tag))
        channel.basic_consume("consumed", lambda *a: None, consumer_tag="stays")
        channel.exchange_delete("wazo-headers")
        handled(channel)

        done = expect(api.post(api_path("warren", "reset", "/")), 200).json()
        assert done == {"vhost": "/", "queues_deleted": 2, "exchanges_deleted": 1,
                        "bindings_deleted": 1, "consumers_cancelled": 1, "messages_dropped": 3,
                        "recreated": 1}, done
        connection.process_data_events(time_limit=0.5)
        assert cancelled == ["stays"], "the consumer was told with basic.cancel"
        assert topology(api) == at_start
        assert api.json(api_path("warren", "trace", "/")) == []
        # The connection is still usable: the client goes on.
        channel.queue_declare("after-reset")
        connection.close()


def test_a_reset_while_clients_publish():
    """Resetting a vhost while a client publishes: the publisher gets at most a channel error it
    would get for a deleted exchange, the broker and its other clients go on."""
    management_port = free_port()
    with own_warren("--management-port", str(management_port)) as port:
        api = mgmt.Management(f"http://127.0.0.1:{management_port}")
        stop, published, errors = threading.Event(), [0], []

        def publish():
            connection = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", port))
            channel = connection.channel()
            while not stop.is_set():
                try:
                    channel.exchange_declare("busy", "topic")
                    channel.basic_publish("busy", "k", b"x")
                    published[0] += 1
                except pika.exceptions.ChannelClosedByBroker as error:
                    errors.append(error.reply_code)
                    channel = connection.channel()
            connection.close()

        publisher = threading.Thread(target=publish)
        publisher.start()
        for _ in range(20):
            expect(api.post(api_path("warren", "reset", "/")), 200)
            time.sleep(0.02)
        stop.set()
        publisher.join(10)
        assert published[0] > 0 and set(errors) <= {404}, errors
        other = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", port))
        other.channel().queue_declare("still-works")
        other.close()


def test_resetting_an_unknown_vhost_is_404(management):
    assert_error(management.post(api_path("warren", "reset", "no-such-vhost")), 404, "not_found")


def test_a_baseline_set_later_is_what_a_reset_keeps():
    management_port = free_port()
    with own_warren("--management-port", str(management_port)) as port:
        api = mgmt.Management(f"http://127.0.0.1:{management_port}")
        expect(api.put(api_path("vhosts", "suite")), 201, 204)
        expect(api.put(api_path("permissions", "suite", "guest"),
                       {"configure": ".*", "write": ".*", "read": ".*"}), 201, 204)
        api.declare_exchange("suite", "xivo", "topic")
        expect(api.post(api_path("warren", "baseline", "suite")), 204)
        api.declare_exchange("suite", "per-test", "fanout")
        done = expect(api.post(api_path("warren", "reset", "suite")), 200).json()
        assert done["exchanges_deleted"] == 1
        names = {x["name"] for x in api.json(api_path("exchanges", "suite"))}
        assert "xivo" in names and "per-test" not in names


def test_a_reset_closes_the_channel_of_a_consumer_that_cannot_be_told():
    """A client without consumer_cancel_notify would wait for deliveries forever: its channel is
    closed (404) instead; a client with it gets basic.cancel and keeps its channel."""
    management_port = free_port()
    with own_warren("--management-port", str(management_port)) as port:
        api = mgmt.Management(f"http://127.0.0.1:{management_port}")
        channels = {}
        for notify in (False, True):
            params = pika.ConnectionParameters("127.0.0.1", port, client_properties={
                "capabilities": {"consumer_cancel_notify": notify}})
            connection = pika.BlockingConnection(params)
            channel = connection.channel()
            queue = channel.queue_declare("", exclusive=True).method.queue
            channel.basic_consume(queue, lambda *a: None)
            handled(channel)
            channels[notify] = (connection, channel)
        expect(api.post(api_path("warren", "reset", "/")), 200)
        for notify, (connection, channel) in channels.items():
            deadline = time.monotonic() + 5
            while channel.is_open and time.monotonic() < deadline and not notify:
                connection.process_data_events(time_limit=0.05)
            connection.process_data_events(time_limit=0.2)
            assert channel.is_open == notify, notify
            connection.close()


def test_waiting_for_something_unknown_is_404(management):
    assert_error(management.get(wait_path("nothing", "/", "q")), 404, "Object Not Found")
