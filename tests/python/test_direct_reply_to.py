"""Direct reply-to: RabbitMQ's RPC shortcut through the pseudo-queue amq.rabbitmq.reply-to."""

import pika
import pytest

from conftest import assert_channel_closed, uniq

REPLY_TO = "amq.rabbitmq.reply-to"


def test_rpc_round_trip_through_direct_reply_to(broker, conn):
    client = conn.channel()
    replies = []
    client.basic_consume(REPLY_TO, lambda ch, m, p, b: replies.append((m, b)), auto_ack=True)

    server_conn = broker.connect()
    try:
        server = server_conn.channel()
        rpc_queue = server.queue_declare(uniq("rpc"), exclusive=True).method.queue
        client.basic_publish("", rpc_queue, b"ping", pika.BasicProperties(reply_to=REPLY_TO, correlation_id="c1"))

        request = None
        for _ in range(100):
            request = server.basic_get(rpc_queue, auto_ack=True)
            if request[0] is not None:
                break
            server_conn.process_data_events(0.05)
        method, props, body = request
        assert body == b"ping"
        # The broker replaced the pseudo-queue with the name of the client's private queue.
        assert props.reply_to.startswith(REPLY_TO + ".")
        server.basic_publish("", props.reply_to, b"pong", pika.BasicProperties(correlation_id=props.correlation_id))
    finally:
        server_conn.close()

    while not replies:
        conn.process_data_events(0.05)
    method, body = replies[0]
    assert body == b"pong"
    assert method.routing_key.startswith(REPLY_TO + ".")


def test_reply_consumer_must_be_no_ack(conn):
    ch = conn.channel()
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as exc:
        ch.basic_consume(REPLY_TO, lambda *a: None, auto_ack=False)
    assert_channel_closed(exc, 406, "PRECONDITION_FAILED - reply consumer cannot acknowledge")


def test_publishing_with_reply_to_needs_the_consumer(conn):
    ch = conn.channel()
    ch.basic_publish("", uniq("nowhere"), b"x", pika.BasicProperties(reply_to=REPLY_TO))
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as exc:
        ch.queue_declare("", exclusive=True)
    assert_channel_closed(exc, 406, "PRECONDITION_FAILED - fast reply consumer does not exist")
