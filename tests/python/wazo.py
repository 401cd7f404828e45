"""Wazo-shaped events, taken from the wazo-bus event catalog (shared/wazo-bus-events.json).

Every event wazo-bus publishes carries the headers name, origin_uuid, timestamp (naive ISO-8601),
required_access, required_acl plus the class' own header keys (tenant_uuid, user_uuid:<uuid> = True,
...). The body is the JSON of {name, origin_uuid, timestamp, required_acl, required_access, data}.
"""

from __future__ import annotations

import datetime
import json
import uuid

ORIGIN_UUID = "ca7f87e9-c2c8-5fad-ba1b-c3140ebb9be3"  # the one in the Wazo doc examples


def call_created(user_uuid: str, tenant_uuid: str, origin_uuid: str = ORIGIN_UUID,
                 extra_user_uuids: tuple[str, ...] = ()) -> tuple[str, dict, bytes]:
    """(routing_key, headers, body) of a CallCreatedEvent (calls/event.py, service calld)."""
    name = "call_created"
    timestamp = datetime.datetime(2024, 5, 17, 14, 3, 27, 123456).isoformat()
    required_acl = f"events.calls.{user_uuid}"
    call_id = "1715954607.42"
    data = {
        "bridges": [],
        "call_id": call_id,
        "caller_id_name": "Alice Ünïcode",
        "caller_id_number": "1001",
        "peer_caller_id_name": "Bob",
        "peer_caller_id_number": "1002",
        "creation_time": "2024-05-17T14:03:27.123+0000",
        "status": "Ring",
        "on_hold": False,
        "muted": False,
        "record_state": "inactive",
        "talking_to": {},
        "user_uuid": user_uuid,
        "is_caller": True,
        "is_video": False,
        "dialed_extension": "1002",
        "sip_call_id": str(uuid.uuid4()),
        "line_id": 3,
        "conversation_id": call_id,
        "direction": "internal",
    }
    body = json.dumps({
        "name": name,
        "origin_uuid": origin_uuid,
        "timestamp": timestamp,
        "required_acl": required_acl,
        "required_access": f"event.{name}",
        "data": data,
    }, ensure_ascii=False).encode("utf-8")
    headers = {
        "name": name,
        "origin_uuid": origin_uuid,
        "timestamp": timestamp,
        "required_access": f"event.{name}",
        "required_acl": required_acl,
        "tenant_uuid": tenant_uuid,
        f"user_uuid:{user_uuid}": True,
    }
    for other in extra_user_uuids:
        headers[f"user_uuid:{other}"] = True
    return "calls.call.created", headers, body
