"""Wazo's bus, end to end, on the `amqp_url` fixture of warren-broker.

The consumer is the Wazo documentation's example client (kombu's ConsumerMixin on the topic
exchange `xivo`) with its URL given by the fixture, and its routing key `calls.*` made
`calls.call.*`: a topic `*` is one word, and call events' keys have three; the publisher sends wazo-calld's `call_created` event as wazo-bus does today: to the
headers exchange `wazo-headers` with the event's name, ACL and tenant in the headers, and, as
wazo-auth and older daemons do, to `xivo` with the event's routing key. Neither side declares
the exchanges: Warren has them on every vhost, as a Wazo stack expects.

    pip install warren-broker kombu pytest && pytest examples/wazo
"""

import threading
import uuid

import kombu
from kombu.mixins import ConsumerMixin

EXCHANGE = kombu.Exchange("xivo", type="topic")
HEADERS_EXCHANGE = kombu.Exchange("wazo-headers", type="headers")
ROUTING_KEY = "calls.call.*"


class C(ConsumerMixin):
    """The documentation's consumer, keeping what it receives instead of printing it."""

    def __init__(self, connection, queue):
        self.connection = connection
        self.queue = queue
        self.received = []
        self.consuming = threading.Event()

    def get_consumers(self, Consumer, channel):
        return [Consumer(self.queue, callbacks=[self.on_message])]

    def on_consume_ready(self, connection, channel, consumers, **kwargs):
        self.consuming.set()

    def on_message(self, body, message):
        self.received.append((body, dict(message.headers)))
        message.ack()
        self.should_stop = True


def call_created(user_uuid, tenant_uuid):
    """wazo-calld's CallCreatedEvent, as the Wazo bus documentation shows it."""
    return {
        "name": "call_created",
        "origin_uuid": "08c56466-8f29-45c7-9856-92bf1ba89b82",
        "required_acl": f"events.calls.{user_uuid}",
        "data": {
            "bridges": [],
            "call_id": "1455123422.8",
            "caller_id_name": "Some One",
            "caller_id_number": "1001",
            "creation_time": "2016-02-10T11:57:02.592-0500",
            "status": "Ring",
            "talking_to": {},
            "user_uuid": user_uuid,
        },
    }


def consume_one(amqp_url, queue, publish):
    """Runs the consumer in a thread until it has the one message `publish` sends."""
    with kombu.Connection(amqp_url) as connection:
        consumer = C(connection, queue)
        thread = threading.Thread(target=consumer.run, daemon=True)
        thread.start()
        assert consumer.consuming.wait(10), "the consumer did not start"
        publish()
        thread.join(10)
        assert not thread.is_alive(), "no event reached the consumer"
    return consumer.received


def test_the_documentation_consumer_receives_call_created_on_xivo(amqp_url):
    user_uuid, tenant_uuid = str(uuid.uuid4()), str(uuid.uuid4())
    event = call_created(user_uuid, tenant_uuid)
    queue = kombu.Queue(exchange=EXCHANGE, routing_key=ROUTING_KEY, exclusive=True)

    def publish():
        with kombu.Connection(amqp_url) as connection:
            connection.Producer().publish(event, exchange=EXCHANGE, routing_key="calls.call.created",
                                          headers={"name": "call_created"})

    [(body, headers)] = consume_one(amqp_url, queue, publish)
    assert body == event and headers["name"] == "call_created"


def test_a_headers_consumer_receives_call_created_on_wazo_headers(amqp_url):
    user_uuid, tenant_uuid = str(uuid.uuid4()), str(uuid.uuid4())
    event = call_created(user_uuid, tenant_uuid)
    headers = {"name": "call_created", "tenant_uuid": tenant_uuid,
               "required_acl": event["required_acl"], f"user_uuid:{user_uuid}": True,
               "origin_uuid": event["origin_uuid"]}
    queue = kombu.Queue(exchange=HEADERS_EXCHANGE, exclusive=True, binding_arguments={
        "x-match": "all", "name": "call_created", "tenant_uuid": tenant_uuid})

    def publish():
        with kombu.Connection(amqp_url) as connection:
            producer = connection.Producer()
            # Another tenant's event first: the binding must not let it through.
            producer.publish(call_created(user_uuid, "other"), exchange=HEADERS_EXCHANGE,
                             headers={**headers, "tenant_uuid": "other"})
            producer.publish(event, exchange=HEADERS_EXCHANGE, headers=headers)

    [(body, received_headers)] = consume_one(amqp_url, queue, publish)
    assert body == event and received_headers["tenant_uuid"] == tenant_uuid
