"""The consumer from the Wazo "Message Bus" documentation (wazo-bus-reference.md, "Example"),
run unchanged except for the URL and the binding key, receives a call_created event that another
client (pika) publishes on `xivo`, byte for byte.

The doc binds `calls.*`; in AMQP topic matching `*` is exactly one word, so on RabbitMQ that
binding does NOT receive `calls.call.created` -- the test proves that too.
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid

import kombu
import pika
from kombu.mixins import ConsumerMixin

import wazo
from conftest import marker_props

# ---- the documentation's code (kombu), only ROUTING_KEY and the URL are parameters -----------

EXCHANGE = kombu.Exchange('xivo', type='topic')


class C(ConsumerMixin):

    def __init__(self, connection, routing_key):
        self.connection = connection
        self.routing_key = routing_key
        # test scaffolding: what was received, and when the consumer is ready
        self.received = []
        self.ready = threading.Event()
        self.queue_name = None

    def get_consumers(self, Consumer, channel):
        return [Consumer(kombu.Queue(exchange=EXCHANGE, routing_key=self.routing_key),
                callbacks=[self.on_message])]

    def on_message(self, body, message):
        self.received.append(message)
        message.ack()

    # test scaffolding
    def on_consume_ready(self, connection, channel, consumers, **kwargs):
        self.queue_name = consumers[0].queues[0].name
        self.ready.set()


# ----------------------------------------------------------------------------------------------


class Running:
    """Runs C(conn).run() in a thread; stopped via should_stop (stop() first, then join())."""

    def __init__(self, url, routing_key):
        self.conn = kombu.Connection(url, connect_timeout=5)
        self.c = C(self.conn, routing_key)
        self.error = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        try:
            self.c.run()
        except Exception as exc:  # pragma: no cover - reported by the test
            self.error = exc

    def start(self):
        self.thread.start()
        assert self.c.ready.wait(10), f"kombu consumer not ready ({self.error!r})"
        return self.c

    def stop(self):
        self.c.should_stop = True

    def join(self):
        self.thread.join(10)
        assert not self.thread.is_alive(), "kombu consumer did not stop"
        self.conn.release()
        assert self.error is None, self.error


@contextlib.contextmanager
def running(url, *routing_keys):
    runners = [Running(url, rk) for rk in routing_keys]
    try:
        yield [r.start() for r in runners]
    finally:
        for r in runners:
            r.stop()  # all at once: each notices within its 1 s drain_events timeout
        for r in runners:
            if r.thread.is_alive() or r.thread.ident:
                r.join()


def test_doc_consumer_receives_call_created_published_by_pika(broker, conn, cleanup):
    user_uuid, tenant_uuid = str(uuid.uuid4()), str(uuid.uuid4())
    routing_key, headers, body = wazo.call_created(user_uuid, tenant_uuid)
    assert routing_key == "calls.call.created"
    url = broker.kombu_url()

    with running(url, "calls.#", "calls.call.*", "calls.*") as consumers:
        hash_c, star_c, doc_c = consumers
        for c in consumers:
            # the doc's anonymous queue: server-named, durable, not auto-delete -> clean it up
            assert c.queue_name.startswith("amq.gen-")
            cleanup.queue(c.queue_name)

        ch = conn.channel()
        props = pika.BasicProperties(content_type="application/json", content_encoding="utf-8",
                                     delivery_mode=1, headers=headers)
        ch.basic_publish("xivo", routing_key, body, props)
        # Then a marker straight to each consumer's queue on the same channel: once a consumer
        # has its marker, it has everything the event routed to it.
        markers = {}
        for c in consumers:
            markers[c.queue_name] = uuid.uuid4().hex
            ch.basic_publish("", c.queue_name, b"", marker_props(markers[c.queue_name]))

        def got_marker(c):
            return any(m.properties.get("message_id") == markers[c.queue_name] for m in c.received)

        deadline = time.monotonic() + 10
        while not all(got_marker(c) for c in consumers):
            assert time.monotonic() < deadline, \
                f"markers not received: {[(c.routing_key, len(c.received)) for c in consumers]}"
            time.sleep(0.02)

    for c in (hash_c, star_c):
        events = [m for m in c.received if m.properties.get("type") != "warren-test-marker"]
        assert len(events) == 1, (c.routing_key, events)
        m = events[0]
        # py-amqp hands a str body when content_encoding is set; encoded back it is byte for byte.
        raw = m.body.encode(m.content_encoding) if isinstance(m.body, str) else m.body
        assert raw == body
        assert m.decode() == m.payload  # kombu decodes the JSON body
        assert m.payload["name"] == "call_created"
        assert m.payload["data"]["user_uuid"] == user_uuid
        assert m.headers == headers
        assert m.content_type == "application/json"
        assert m.content_encoding == "utf-8"
        assert m.delivery_info["exchange"] == "xivo"
        assert m.delivery_info["routing_key"] == "calls.call.created"
        assert m.delivery_info.get("redelivered") is False, m.delivery_info

    # The doc's literal binding: `*` is one word, so calls.* does not match calls.call.created.
    assert [m.properties.get("type") for m in doc_c.received] == ["warren-test-marker"]
