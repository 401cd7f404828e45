"""Wazo's headers routing, shaped exactly as wazo-websocketd and the Wazo daemons use it:

xivo (topic) --#--> wazo-headers (headers) --{name, user_uuid:<uuid>: True}--> per-session queue
                                            --{origin_uuid, tenant_uuid}--> tenant exchange (auto-delete)
"""

from __future__ import annotations

import secrets
import uuid

import pika
import pytest

import wazo
from conftest import Collector, assert_channel_closed, exchange_exists, wait_for


def bind_xivo_to_wazo_headers(ch):
    # What Wazo's daemons do at start. Idempotent; deliberately left in place (a real Wazo on a
    # shared broker relies on it, and re-binding is a no-op).
    ch.exchange_bind(destination="wazo-headers", source="xivo", routing_key="#")


def json_props(headers):
    return pika.BasicProperties(content_type="application/json", content_encoding="utf-8",
                                headers=headers)


def websocketd_session(conn, user_uuid, exchange="wazo-headers"):
    """One websocketd session: qos 250, exclusive auto-delete queue, exclusive consumer with a
    ctag<channel>.<hex> tag, ack multiple=True on each delivery."""
    ch = conn.channel()
    ch.basic_qos(prefetch_size=0, prefetch_count=250, global_qos=False)
    queue = f"wazo-websocketd.user-{user_uuid}.{secrets.token_hex(3)}"
    ok = ch.queue_declare(queue, durable=False, auto_delete=True, exclusive=True)
    assert ok.method.queue == queue
    collector = Collector(ch, ack_multiple=True)
    tag = f"ctag{ch.channel_number}.{uuid.uuid4().hex}"
    assert ch.basic_consume(queue, collector, auto_ack=False, exclusive=True,
                            consumer_tag=tag) == tag
    for binding in ({"name": "call_created", f"user_uuid:{user_uuid}": True},
                    {"name": "call_created", "user_uuid:*": True}):
        ch.queue_bind(queue, exchange, routing_key="", arguments=binding)
    return ch, queue, tag, collector


def test_user_session_gets_its_users_events_once(broker, conn):
    pub = conn.channel()
    bind_xivo_to_wazo_headers(pub)
    me, other, tenant = (str(uuid.uuid4()) for _ in range(3))
    ch, queue, tag, collector = websocketd_session(conn, me)

    rk, mine_h, mine_b = wazo.call_created(me, tenant)
    _, other_h, other_b = wazo.call_created(other, tenant)
    ended_h = dict(mine_h, name="call_ended")
    # matches both of the session's bindings: still delivered once
    both_h = dict(mine_h, **{"user_uuid:*": True})
    both_b = mine_b + b" "
    direct_b = mine_b + b"  "

    pub.basic_publish("xivo", rk, mine_b, json_props(mine_h))
    pub.basic_publish("xivo", rk, other_b, json_props(other_h))       # another user's call
    pub.basic_publish("xivo", "calls.call.ended", b"ended", json_props(ended_h))  # other name
    pub.basic_publish("xivo", rk, both_b, json_props(both_h))
    pub.basic_publish("wazo-headers", "", direct_b, json_props(mine_h))  # as newer daemons publish
    pub.basic_publish("xivo", rk, b"no headers")                      # no headers at all

    got = collector.until_marker(conn, pub, queue)
    assert [b for _, _, b in got] == [mine_b, both_b, direct_b]
    m, p, _ = got[0]
    assert m.consumer_tag == tag
    assert m.exchange == "xivo" and m.routing_key == "calls.call.created"
    assert m.redelivered is False
    assert p.headers == mine_h and p.content_type == "application/json"
    assert got[2][0].exchange == "wazo-headers" and got[2][0].routing_key == ""
    tags = [d[0].delivery_tag for d in collector.deliveries]
    assert tags == list(range(1, len(tags) + 1))

    # everything was acked with multiple=True: nothing ready, nothing unacked, one consumer
    ok = ch.queue_declare(queue, passive=True)
    assert (ok.method.message_count, ok.method.consumer_count) == (0, 1)

    # The consumer is exclusive: a second consumer, even on the owning connection, is refused.
    ch2 = conn.channel()
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as exc:
        ch2.basic_consume(queue, lambda *a: None)
    assert_channel_closed(exc, 403, f"ACCESS_REFUSED - queue '{queue}' in vhost '/' in exclusive use")

    # End of session: cancel, close the channel -> the auto-delete queue goes.
    ch.basic_cancel(tag)
    ch.close()
    probe = conn.channel()
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as exc:
        probe.queue_declare(queue, passive=True)
    assert_channel_closed(exc, 404, f"NOT_FOUND - no queue '{queue}' in vhost '/'")


def test_tenant_exchange_pattern(broker, conn):
    pub = conn.channel()
    bind_xivo_to_wazo_headers(pub)
    me, tenant, other_tenant = (str(uuid.uuid4()) for _ in range(3))
    origin = wazo.ORIGIN_UUID
    tenant_x = f"wazo-websocketd.tenant-{tenant}"

    setup = conn.channel()
    setup.exchange_declare(tenant_x, "headers", durable=False, auto_delete=True)
    # auto-delete does not mean deleted at declare time
    assert exchange_exists(broker, tenant_x)
    setup.exchange_bind(destination=tenant_x, source="wazo-headers", routing_key="",
                        arguments={"origin_uuid": origin, "tenant_uuid": tenant})
    # being the destination of a binding does not count: it is still there, and still there
    # after that binding is removed and re-added
    setup.exchange_unbind(destination=tenant_x, source="wazo-headers", routing_key="",
                          arguments={"origin_uuid": origin, "tenant_uuid": tenant})
    assert exchange_exists(broker, tenant_x)
    setup.exchange_bind(destination=tenant_x, source="wazo-headers", routing_key="",
                        arguments={"origin_uuid": origin, "tenant_uuid": tenant})

    ch, queue, tag, collector = websocketd_session(conn, me, exchange=tenant_x)

    rk, h, b = wazo.call_created(me, tenant)
    _, h_other_tenant, b_other_tenant = wazo.call_created(me, other_tenant)
    _, h_other_origin, b_other_origin = wazo.call_created(me, tenant, origin_uuid=str(uuid.uuid4()))
    pub.basic_publish("xivo", rk, b, json_props(h))
    pub.basic_publish("xivo", rk, b_other_tenant, json_props(h_other_tenant))
    pub.basic_publish("xivo", rk, b_other_origin, json_props(h_other_origin))
    pub.basic_publish("wazo-headers", "", b + b"!", json_props(h))

    got = collector.until_marker(conn, pub, queue)
    assert [x[2] for x in got] == [b, b + b"!"]
    assert got[0][0].exchange == "xivo"  # the exchange the message was published to

    # End of session: the queue goes, so the tenant exchange loses its last binding as source and
    # is auto-deleted (taking the wazo-headers -> tenant binding with it).
    ch.basic_cancel(tag)
    ch.close()
    wait_for(lambda: not exchange_exists(broker, tenant_x), what=f"auto-delete of {tenant_x}")
    # wazo-headers still routes fine without the binding to the deleted exchange
    other = websocketd_session(conn, me)
    pub.basic_publish("xivo", rk, b, json_props(h))
    assert [x[2] for x in other[3].until_marker(conn, pub, other[1])] == [b]
