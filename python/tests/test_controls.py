"""Warren's test controls through the fixture: the race a wait ends, a peek, the trace of a
Wazo event through xivo and wazo-headers, and a reset."""

import threading

import kombu
import pika
import pytest

from warren_broker import WaitTimeout


def test_wait_for_binding_ends_the_race_with_a_starting_consumer(amqp_url, warren_broker):
    received, ready = [], threading.Event()

    def consumer():
        with kombu.Connection(amqp_url) as connection:
            queue = kombu.Queue("calls", kombu.Exchange("xivo", type="topic"),
                                routing_key="calls.call.*")
            with connection.Consumer(queue, callbacks=[lambda body, m: (received.append(body),
                                                                         m.ack())]):
                ready.set()
                connection.drain_events(timeout=5)

    thread = threading.Thread(target=consumer)
    thread.start()
    binding = warren_broker.wait_for_binding("xivo", "calls", "calls.call.*", vhost=amqp_url.vhost)
    assert binding["destination"] == "calls"
    with kombu.Connection(amqp_url) as connection:
        connection.Producer().publish({"name": "call_created"}, exchange="xivo",
                                      routing_key="calls.call.created")
    thread.join(10)
    assert received == [{"name": "call_created"}]


def test_a_wait_that_times_out_says_what_did_not_happen(amqp_url, warren_broker):
    with pytest.raises(WaitTimeout, match="no consumer on queue 'nobody' within 100 ms"):
        warren_broker.wait_for_consumer("nobody", vhost=amqp_url.vhost, timeout=0.1)


def test_peek_trace_and_reset(amqp_url, warren_broker):
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    channel = connection.channel()
    channel.queue_declare("events")
    channel.queue_bind("events", "wazo-headers", arguments={"x-match": "all",
                                                            "name": "call_created"})
    channel.exchange_bind("wazo-headers", "xivo", "#")
    channel.basic_publish("xivo", "calls.call.created", b'{"name": "call_created"}',
                          pika.BasicProperties(headers={"name": "call_created"}))
    assert warren_broker.wait_for_messages("events", 1, vhost=amqp_url.vhost) == 1
    [peeked] = warren_broker.peek("events", vhost=amqp_url.vhost)
    assert peeked["payload"] == '{"name": "call_created"}'
    [traced] = warren_broker.trace(vhost=amqp_url.vhost, exchange="xivo")
    hops = [(hop["source"], hop["destination"]) for hop in traced["routed_to"][0]["via"]]
    assert hops == [("xivo", "wazo-headers"), ("wazo-headers", "events")]
    done = warren_broker.reset(vhost=amqp_url.vhost)
    assert done == {"vhost": amqp_url.vhost, "queues_deleted": 1, "exchanges_deleted": 0,
                    "bindings_deleted": 1, "consumers_cancelled": 0, "messages_dropped": 1,
                    "recreated": 0}
    connection.close()
