"""The fixtures as users meet them: kombu, pika and aio-pika on `amqp_url`, Celery on
`celery_config`."""

import asyncio
import socket

import aio_pika
import kombu
import pika


def test_kombu_publishes_and_consumes(amqp_url):
    with kombu.Connection(amqp_url) as connection:
        queue = kombu.Queue("greetings", kombu.Exchange("xivo", type="topic"),
                            routing_key="greetings.#")
        with connection.Producer() as producer:
            producer.publish({"hello": "world"}, exchange=queue.exchange,
                             routing_key="greetings.en", declare=[queue])
        received = []
        with connection.Consumer(queue, callbacks=[lambda body, message: (
                received.append(body), message.ack())]):
            connection.drain_events(timeout=5)
    assert received == [{"hello": "world"}]


def test_pika_publishes_and_gets(amqp_url):
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    try:
        channel = connection.channel()
        channel.queue_declare("jobs")
        channel.basic_publish("", "jobs", b"job 1")
        method, properties, body = channel.basic_get("jobs", auto_ack=True)
        assert body == b"job 1"
    finally:
        connection.close()


def test_aio_pika_round_trip(amqp_url):
    async def round_trip():
        connection = await aio_pika.connect_robust(amqp_url)
        async with connection:
            channel = await connection.channel()
            queue = await channel.declare_queue("async-jobs")
            await channel.default_exchange.publish(aio_pika.Message(b"async job"),
                                                   routing_key="async-jobs")
            message = await queue.get(timeout=5)
            await message.ack()
            return message.body

    assert asyncio.run(round_trip()) == b"async job"


def test_the_url_names_the_session_broker(amqp_url, warren_broker):
    assert amqp_url.startswith(f"amqp://guest:guest@{warren_broker.host}:{warren_broker.port}/")
    socket.create_connection((warren_broker.host, warren_broker.port), timeout=5).close()


def test_celery_runs_a_task_on_warren(celery_app, celery_worker, celery_config):
    assert celery_app.conf.broker_url == celery_config["broker_url"]
    assert "/pytest-" in celery_config["broker_url"]

    @celery_app.task
    def add(x, y):
        return x + y

    celery_worker.reload()
    assert add.delay(2, 3).get(timeout=20) == 5
