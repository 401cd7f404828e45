"""Each test has a vhost of its own: the same queue name in two tests is two queues, and
Warren's Wazo exchanges are on every one."""

import os

import pika
import pytest


@pytest.mark.parametrize("test", ["first", "second"])
def test_the_same_queue_name_starts_empty_in_each_test(amqp_url, test):
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    try:
        channel = connection.channel()
        declared = channel.queue_declare("shared-name", durable=True)
        assert declared.method.message_count == 0, "another test's message is visible"
        channel.basic_publish("", "shared-name", test.encode())
        channel.basic_publish("", "shared-name", test.encode())
        assert channel.queue_declare("shared-name", passive=True).method.message_count == 2
    finally:
        connection.close()


def test_every_vhost_has_the_wazo_exchanges(amqp_url):
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    try:
        channel = connection.channel()
        channel.exchange_declare("xivo", "topic", passive=True)
        channel.exchange_declare("wazo-headers", "headers", passive=True)
    finally:
        connection.close()


def test_a_second_broker_from_the_factory(warren_broker_factory, warren_broker):
    other = warren_broker_factory(args=["--max-queues", "1"])
    assert other.port != warren_broker.port and other.running
    connection = pika.BlockingConnection(pika.URLParameters(other.amqp_url))
    try:
        channel = connection.channel()
        channel.queue_declare("only-one")
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as refused:
            channel.queue_declare("one-too-many")
        assert refused.value.reply_code == 406
    finally:
        connection.close()


def test_xdist_workers_share_the_controllers_broker(warren_broker, pytestconfig):
    if not hasattr(pytestconfig, "workerinput"):
        pytest.skip("not under pytest-xdist")
    with open(f"/proc/{warren_broker.pid}/stat") as stat:
        parent = int(stat.read().rsplit(")", 1)[1].split()[1])
    assert parent == os.getppid(), "the broker is not the controller's child"
