"""aioamqp, as wazo-websocketd uses it (aioamqp.from_url(url, heartbeat=10)).

aioamqp puts its own heartbeat (10) in tune-ok whatever the server proposed, and closes the socket
when nothing has been received for 2 intervals (20 s). Staying connected while idle for 25 s proves
that the broker sends heartbeats at the interval the client chose in tune-ok.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import uuid

import aioamqp
import aioamqp.protocol
import pamqp.heartbeat
import pytest

import wazo

HEARTBEAT = 10
IDLE_SECONDS = 25


@pytest.mark.slow
@pytest.mark.timeout(IDLE_SECONDS + 30)
def test_websocketd_client_stays_connected_while_idle(broker):
    asyncio.run(asyncio.wait_for(_websocketd_session(broker), IDLE_SECONDS + 20))


async def _websocketd_session(broker):
    transport, protocol = await aioamqp.from_url(broker.kombu_url(), heartbeat=HEARTBEAT)
    try:
        assert protocol.server_heartbeat == HEARTBEAT  # what aioamqp put in tune-ok
        heartbeats = []
        loop = asyncio.get_running_loop()
        real_get_frame = protocol.get_frame

        async def counting_get_frame():
            channel, frame = await real_get_frame()
            if isinstance(frame, pamqp.heartbeat.Heartbeat):
                heartbeats.append(loop.time())
            return channel, frame

        protocol.get_frame = counting_get_frame

        channel = await protocol.channel()
        # websocketd's initialize_exchanges: declare wazo-headers, delete a legacy exchange that
        # does not exist (Delete-Ok, not 404)
        await channel.exchange_declare("wazo-headers", "headers", durable=True)
        await channel.exchange_delete(f"wazo-websocketd-legacy-{uuid.uuid4().hex}", if_unused=True)

        user_uuid, tenant_uuid = str(uuid.uuid4()), str(uuid.uuid4())
        queue = f"wazo-websocketd.user-{user_uuid}.{secrets.token_hex(3)}"
        await channel.basic_qos(prefetch_size=0, prefetch_count=250, connection_global=False)
        ok = await channel.queue_declare(queue, durable=False, auto_delete=True, exclusive=True)
        assert ok["queue"] == queue
        await channel.queue_bind(queue, "wazo-headers", "",
                                 arguments={"name": "call_created", f"user_uuid:{user_uuid}": True})

        received = asyncio.Queue()

        async def on_message(ch, body, envelope, properties):
            await received.put((body, envelope, properties))
            await ch.basic_client_ack(envelope.delivery_tag, multiple=True)

        tag = f"ctag{channel.channel_id}.{uuid.uuid4().hex}"
        ok = await channel.basic_consume(on_message, queue_name=queue, consumer_tag=tag,
                                         exclusive=True)
        assert ok["consumer_tag"] == tag

        _, headers, body = wazo.call_created(user_uuid, tenant_uuid)
        props = {"content_type": "application/json", "headers": headers}
        await channel.publish(body, "wazo-headers", "", properties=props)
        got_body, envelope, properties = await asyncio.wait_for(received.get(), 5)
        assert got_body == body
        assert envelope.consumer_tag == tag and envelope.delivery_tag == 1
        assert properties.headers == headers
        assert json.loads(got_body)["data"]["user_uuid"] == user_uuid

        # Idle: only heartbeats flow. aioamqp closes the socket after 2 silent intervals.
        start = loop.time()
        await asyncio.sleep(IDLE_SECONDS)
        assert protocol.state == aioamqp.protocol.OPEN, "aioamqp dropped the connection while idle"
        assert not transport.is_closing()
        during = [t for t in heartbeats if t >= start]
        # RabbitMQ sends one every interval/2 (5 s): ~5 in 25 s; one per interval would give 2.
        assert len(during) >= 4, f"only {len(during)} heartbeats in {IDLE_SECONDS} s"

        # and the connection still works
        await channel.publish(body, "wazo-headers", "", properties=props)
        got_body, envelope, _ = await asyncio.wait_for(received.get(), 5)
        assert got_body == body and envelope.delivery_tag == 2

        await channel.basic_cancel(tag)
        await channel.close()
    finally:
        if protocol.state == aioamqp.protocol.OPEN:
            await protocol.close()
        transport.close()
