"""aio-pika (over aiormq), the asyncio client most Python services use.

aio-pika opens channels with publisher confirms on by default: `exchange.publish` returns only once
the broker acked (or returned) the message. Each test runs its own event loop (asyncio.run), as
test_aioamqp.py does, so no pytest asyncio plugin is needed.
"""

from __future__ import annotations

import asyncio
import datetime
import uuid

import aio_pika
import aio_pika.exceptions
import pamqp.commands
import pytest
from aio_pika.patterns import RPC

from conftest import uniq

# every test body gets this deadline inside its loop (pytest-timeout is the outer one)
DEADLINE = 20


def run(broker, body, deadline: float = DEADLINE):
    async def main():
        return await asyncio.wait_for(body(broker.kombu_url()), deadline)
    return asyncio.run(main())


async def next_message(iterator, timeout: float = 5.0):
    return await asyncio.wait_for(iterator.__anext__(), timeout)


async def ready_count(channel, queue: str) -> int:
    q = await channel.declare_queue(queue, passive=True)
    return q.declaration_result.message_count


async def wait_ready_count(channel, queue: str, expected: int, timeout: float = 5.0) -> None:
    # queue.declare-ok may be answered before earlier publishes are counted: poll
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while (n := await ready_count(channel, queue)) != expected:
        assert loop.time() < deadline, f"{queue}: {n} ready, expected {expected}"
        await asyncio.sleep(0.02)


def test_robust_connection_publish_with_confirms_and_iterate(broker):
    async def body(url):
        connection = await aio_pika.connect_robust(url)
        async with connection:
            assert isinstance(connection, aio_pika.RobustConnection)
            channel = await connection.channel()
            assert channel.publisher_confirms
            exchange = await channel.declare_exchange(uniq("aio-x"), aio_pika.ExchangeType.DIRECT,
                                                      auto_delete=True)
            queue = await channel.declare_queue(uniq("aio-q"), exclusive=True)
            assert queue.declaration_result.message_count == 0
            await queue.bind(exchange, "rk")

            stamp = datetime.datetime(2024, 5, 17, 14, 3, 27, tzinfo=datetime.timezone.utc)
            headers = {"s": "text", "n": 42, "yes": True, "nested": {"a": [1, "b"]}}
            sent = aio_pika.Message(
                b'{"hello": "w\xc3\xb6rld"}', headers=headers, content_type="application/json",
                content_encoding="utf-8", delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                priority=4, correlation_id="corr-1", reply_to="someone", expiration=60,
                message_id="m-1", timestamp=stamp, type="my.type", app_id="warren-aio-pika")
            confirm = await exchange.publish(sent, "rk")
            assert isinstance(confirm, pamqp.commands.Basic.Ack)
            for i in range(3):
                assert isinstance(await exchange.publish(aio_pika.Message(b"%d" % i), "rk"),
                                  pamqp.commands.Basic.Ack)

            got = []
            async with queue.iterator() as it:
                for _ in range(4):
                    message = await next_message(it)
                    async with message.process():  # acks on a clean exit
                        got.append(message)
            first = got[0]
            assert first.body == sent.body
            assert first.exchange == exchange.name and first.routing_key == "rk"
            assert first.redelivered is False and first.delivery_tag == 1
            assert first.headers == headers
            assert first.content_type == "application/json" and first.content_encoding == "utf-8"
            assert first.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
            assert first.priority == 4
            assert first.correlation_id == "corr-1" and first.reply_to == "someone"
            assert first.expiration == 60
            assert first.message_id == "m-1" and first.type == "my.type"
            assert first.timestamp.replace(tzinfo=datetime.timezone.utc) == stamp  # naive UTC
            assert first.app_id == "warren-aio-pika"
            assert [m.body for m in got[1:]] == [b"0", b"1", b"2"]
            assert [m.delivery_tag for m in got] == [1, 2, 3, 4]
            # the iterator's consumer is cancelled; everything was acked
            await wait_ready_count(channel, queue.name, 0)
            assert await queue.get(fail=False) is None

    run(broker, body)


def test_mandatory_unroutable_publish_raises_delivery_error(broker):
    async def body(url):
        async with await aio_pika.connect_robust(url) as connection:
            channel = await connection.channel()
            exchange = await channel.declare_exchange(uniq("aio-mand"), auto_delete=True)
            returns = []
            channel.return_callbacks.add(lambda _ch, message: returns.append(message))
            # aio-pika publishes mandatory by default: basic.return, then basic.ack; by default
            # publish() resolves with the returned message, and return callbacks get it
            bounce = aio_pika.Message(b"bounce", message_id="b-1")
            returned = await exchange.publish(bounce, "nobody")
            assert isinstance(returned.delivery, pamqp.commands.Basic.Return)
            assert (returned.delivery.reply_code, returned.delivery.reply_text) == (312, "NO_ROUTE")
            assert returned.delivery.exchange == exchange.name
            assert returned.delivery.routing_key == "nobody"
            assert returned.body == b"bounce"
            assert returned.header.properties.message_id == "b-1"
            assert [(m.body, m.message_id) for m in returns] == [(b"bounce", "b-1")]
            # not mandatory: confirmed and dropped
            confirm = await exchange.publish(aio_pika.Message(b"lost"), "nobody", mandatory=False)
            assert isinstance(confirm, pamqp.commands.Basic.Ack)

            # on_return_raises=True: publish() raises
            strict = await connection.channel(on_return_raises=True)
            strict_exchange = await strict.get_exchange(exchange.name)
            with pytest.raises(aio_pika.exceptions.DeliveryError) as excinfo:
                await strict_exchange.publish(aio_pika.Message(b"bounce"), "nobody")
            assert isinstance(excinfo.value.frame, pamqp.commands.Basic.Return)
            assert excinfo.value.frame.reply_code == 312
            assert excinfo.value.message.body == b"bounce"
            # the channel is fine
            queue = await channel.declare_queue(exclusive=True)
            await channel.default_exchange.publish(aio_pika.Message(b"ok"), queue.name)
            message = await queue.get(timeout=5)
            assert message.body == b"ok"
            await message.ack()

    run(broker, body)


def test_message_process_requeue_and_reject(broker):
    async def body(url):
        async with await aio_pika.connect_robust(url) as connection:
            channel = await connection.channel()
            queue = await channel.declare_queue(exclusive=True)
            await channel.default_exchange.publish(aio_pika.Message(b"job"), queue.name)

            async with queue.iterator() as it:
                message = await next_message(it)
                assert message.redelivered is False
                with pytest.raises(ZeroDivisionError):
                    async with message.process(requeue=True):  # the handler fails: requeue
                        1 / 0
                message = await next_message(it)
                assert message.body == b"job" and message.redelivered is True
                with pytest.raises(ZeroDivisionError):
                    async with message.process():  # default: reject without requeue
                        1 / 0
                await channel.default_exchange.publish(aio_pika.Message(b"next"), queue.name)
                message = await next_message(it)
                assert message.body == b"next"  # the rejected one is gone
                async with message.process(ignore_processed=True):
                    await message.ack()
            await wait_ready_count(channel, queue.name, 0)

    run(broker, body)


def test_qos_prefetch_count(broker):
    async def body(url):
        async with await aio_pika.connect_robust(url) as connection:
            channel = await connection.channel()
            await channel.set_qos(prefetch_count=2)
            queue = await channel.declare_queue(exclusive=True)
            for i in range(5):
                await channel.default_exchange.publish(aio_pika.Message(b"%d" % i), queue.name)
            received: asyncio.Queue = asyncio.Queue()
            tag = await queue.consume(received.put)
            first = [await asyncio.wait_for(received.get(), 5) for _ in range(2)]
            await asyncio.sleep(0.3)
            assert received.empty(), "more than prefetch_count deliveries"
            await wait_ready_count(channel, queue.name, 3)
            await first[0].ack()
            third = await asyncio.wait_for(received.get(), 5)
            assert third.body == b"2"
            await asyncio.sleep(0.2)
            assert received.empty()
            await third.ack(multiple=True)  # acks 2 and 3
            rest = [await asyncio.wait_for(received.get(), 5) for _ in range(2)]
            assert [m.body for m in first + [third] + rest] == [b"0", b"1", b"2", b"3", b"4"]
            await rest[1].ack(multiple=True)
            await queue.cancel(tag)

    run(broker, body)


def test_rpc_with_reply_to_and_correlation_id(broker):
    """The RPC pattern of the aio-pika tutorial: a server-named callback queue, correlation ids."""
    async def body(url):
        async with await aio_pika.connect_robust(url) as server_conn, \
                await aio_pika.connect_robust(url) as client_conn:
            server = await server_conn.channel()
            rpc_queue = await server.declare_queue(uniq("aio-rpc"), exclusive=True)

            async def serve(message: aio_pika.abc.AbstractIncomingMessage):
                async with message.process():
                    n = int(message.body)
                    reply = aio_pika.Message(str(n * n).encode(),
                                             correlation_id=message.correlation_id)
                    await server.default_exchange.publish(reply, routing_key=message.reply_to)
            await rpc_queue.consume(serve)

            client = await client_conn.channel()
            callback_queue = await client.declare_queue(exclusive=True)
            futures: dict[str, asyncio.Future] = {}

            async def on_response(message: aio_pika.abc.AbstractIncomingMessage):
                futures.pop(message.correlation_id).set_result(message.body)
            await callback_queue.consume(on_response, no_ack=True)

            async def call(n: int) -> int:
                correlation_id = str(uuid.uuid4())
                future = asyncio.get_running_loop().create_future()
                futures[correlation_id] = future
                await client.default_exchange.publish(
                    aio_pika.Message(str(n).encode(), correlation_id=correlation_id,
                                     reply_to=callback_queue.name),
                    routing_key=rpc_queue.name)
                return int(await asyncio.wait_for(future, 5))

            assert await asyncio.gather(*(call(n) for n in range(10))) == [n * n for n in range(10)]
            assert futures == {}

    run(broker, body)


def test_rpc_pattern(broker):
    """aio_pika.patterns.RPC: a queue per method with x-dead-letter-exchange rpc.dlx (headers);
    a call that expires in the queue is dead-lettered back to the caller as a timeout; a call to no
    method comes back as a basic.return."""
    async def body(url):
        async with await aio_pika.connect_robust(url) as connection:
            server_channel = await connection.channel()
            await server_channel.set_qos(prefetch_count=1)
            server = await RPC.create(server_channel)
            client = await RPC.create(await connection.channel())
            method = uniq("aio-rpc-method")
            release = asyncio.Event()

            async def multiply(*, x, y, wait=False):
                if wait:
                    await release.wait()
                if y == 0:
                    raise ValueError("y must not be 0")
                return x * y

            await server.register(method, multiply, auto_delete=True)
            assert await client.call(method, kwargs=dict(x=6, y=7)) == 42
            with pytest.raises(ValueError, match="y must not be 0"):
                await client.call(method, kwargs=dict(x=1, y=0))

            # one call keeps the server busy (prefetch 1); the next waits in the queue and expires
            busy = asyncio.ensure_future(client.call(method, kwargs=dict(x=2, y=3, wait=True)))
            await asyncio.sleep(0.2)
            with pytest.raises(asyncio.TimeoutError):
                await client.call(method, kwargs=dict(x=1, y=1), expiration=1)
            release.set()
            assert await asyncio.wait_for(busy, 5) == 6

            with pytest.raises(aio_pika.exceptions.MessageProcessError, match="returned"):
                await client.call(uniq("aio-rpc-nobody"), kwargs={})

            # RPC.close() cancels the result queue's only consumer (the auto-delete queue goes
            # away) and then unbinds it from rpc.dlx: RabbitMQ answers queue.unbind-ok even for a
            # queue (or exchange) that no longer exists.
            await server.close()
            await client.close()

    run(broker, body)


def test_robust_channel_reopens_after_a_channel_error(broker):
    async def body(url):
        async with await aio_pika.connect_robust(url) as connection:
            channel = await connection.channel()
            await channel.set_qos(prefetch_count=10)
            queue = await channel.declare_queue(exclusive=True)
            reopened = asyncio.Event()
            channel.reopen_callbacks.add(lambda *_: reopened.set())
            missing = uniq("aio-missing")
            with pytest.raises(aio_pika.exceptions.ChannelNotFoundEntity) as excinfo:
                await channel.declare_queue(missing, passive=True)
            assert excinfo.value.args == (f"NOT_FOUND - no queue '{missing}' in vhost '/'",)
            # RobustChannel opens a new channel under the same object and goes on
            await asyncio.wait_for(reopened.wait(), 5)
            await asyncio.wait_for(channel.ready(), 5)
            assert not channel.is_closed
            await channel.default_exchange.publish(aio_pika.Message(b"after"), queue.name)
            message = await queue.get(timeout=5)
            assert message.body == b"after"
            await message.ack()

    run(broker, body)


class DroppableProxy:
    """A TCP forwarder to the broker whose connections can all be cut, like a network failure."""

    def __init__(self, host: str, port: int):
        self.target = (host, port)
        self.writers: list[asyncio.StreamWriter] = []
        self.accepted = 0

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return self.server.sockets[0].getsockname()[1]

    async def _handle(self, client_r, client_w):
        self.accepted += 1
        broker_r, broker_w = await asyncio.open_connection(*self.target)
        self.writers += [client_w, broker_w]

        async def pipe(r, w):
            try:
                while data := await r.read(65536):
                    w.write(data)
                    await w.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                w.close()
        await asyncio.gather(pipe(client_r, broker_w), pipe(broker_r, client_w))

    def drop_all(self):
        for w in self.writers:
            w.transport.abort()
        self.writers.clear()

    async def close(self):
        self.drop_all()
        self.server.close()
        await self.server.wait_closed()


def test_robust_connection_reconnects_and_restores_its_topology(broker):
    async def body(url):
        proxy = DroppableProxy(broker.host, broker.port)
        port = await proxy.start()
        proxied = url.replace(f"@{broker.host}:{broker.port}/", f"@127.0.0.1:{port}/")
        try:
            connection = await aio_pika.connect_robust(proxied, reconnect_interval=0.3)
            reconnected = asyncio.Event()
            connection.reconnect_callbacks.add(lambda *_: reconnected.set())
            async with connection:
                channel = await connection.channel()
                exchange = await channel.declare_exchange(uniq("aio-robust"), auto_delete=True)
                queue = await channel.declare_queue(uniq("aio-robust"), exclusive=True)
                await queue.bind(exchange, "rk")
                received: asyncio.Queue = asyncio.Queue()
                await queue.consume(received.put, no_ack=True)
                await exchange.publish(aio_pika.Message(b"before"), "rk")
                assert (await asyncio.wait_for(received.get(), 5)).body == b"before"

                proxy.drop_all()  # the broker drops the exclusive queue with the connection
                await asyncio.wait_for(reconnected.wait(), 10)
                assert proxy.accepted == 2
                # exchange, queue, binding and consumer were declared again on the new connection
                await channel.ready()
                await exchange.publish(aio_pika.Message(b"after"), "rk")
                assert (await asyncio.wait_for(received.get(), 5)).body == b"after"
        finally:
            await proxy.close()

    run(broker, body)
