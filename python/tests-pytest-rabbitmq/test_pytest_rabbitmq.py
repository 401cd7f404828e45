"""A pytest-rabbitmq user's test file, with its documented fixtures `rabbitmq_proc` and `rabbitmq`
(and a second node from its factories), unchanged whichever broker runs it:

    pytest --rabbitmq-server=$(which warren-rabbitmq-server) --rabbitmq-ctl=$(which warren-rabbitmqctl)
    pytest --rabbitmq-server=/usr/lib/rabbitmq/bin/rabbitmq-server \\
           --rabbitmq-ctl=/usr/lib/rabbitmq/bin/rabbitmqctl          # the real RabbitMQ

pytest-rabbitmq starts the server with RABBITMQ_NODE_PORT, RABBITMQ_NODENAME and
RABBITMQ_MNESIA_BASE, waits for the port, lists queues and exchanges with the ctl to delete them
after each test, and stops the server with SIGTERM.
"""

import pika
from pytest_rabbitmq import factories

rabbitmq_second_proc = factories.rabbitmq_proc(port=None, node="second")
rabbitmq_second = factories.rabbitmq("rabbitmq_second_proc")


def test_publish_and_get(rabbitmq):
    channel = rabbitmq.channel()
    channel.queue_declare("greetings")
    channel.basic_publish("", "greetings", b"hello")
    method, properties, body = channel.basic_get("greetings", auto_ack=True)
    assert body == b"hello"


def test_ctl_lists_what_a_test_declared(rabbitmq, rabbitmq_proc):
    channel = rabbitmq.channel()
    channel.exchange_declare("test-exchange", "topic")
    channel.queue_declare("test-queue")
    assert "test-exchange" in rabbitmq_proc.list_exchanges()
    assert "test-queue" in rabbitmq_proc.list_queues()


def test_the_previous_test_was_cleaned_up(rabbitmq, rabbitmq_proc):
    assert "test-queue" not in rabbitmq_proc.list_queues()
    assert "test-exchange" not in rabbitmq_proc.list_exchanges()
    channel = rabbitmq.channel()
    declared = channel.queue_declare("greetings")
    assert declared.method.message_count == 0


def test_two_nodes_do_not_share_queues(rabbitmq, rabbitmq_proc, rabbitmq_second, rabbitmq_second_proc):
    assert rabbitmq_proc.port != rabbitmq_second_proc.port
    rabbitmq.channel().queue_declare("only-on-the-first")
    assert "only-on-the-first" in rabbitmq_proc.list_queues()
    assert "only-on-the-first" not in rabbitmq_second_proc.list_queues()
    with pika.BlockingConnection(pika.ConnectionParameters(
            "127.0.0.1", rabbitmq_second_proc.port)) as connection:
        channel = connection.channel()
        channel.queue_declare("only-on-the-second")
    assert "only-on-the-second" in rabbitmq_second_proc.list_queues()
