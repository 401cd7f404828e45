"""The management plane's test helpers: an HTTP client for RabbitMQ's management API, polling with
a deadline, JSON shapes (record and compare), and the representative state the recorded shapes
come from (tests/python/record_management_shapes.py, test_management_shapes.py).

The broker's management API is at WARREN_TEST_MANAGEMENT_URL (http://127.0.0.1:15682 for the
reference RabbitMQ; no credentials in it), its Prometheus endpoint at WARREN_TEST_PROMETHEUS_URL.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable
from urllib.parse import quote

import pika
import requests
import requests.adapters
from urllib3.util.retry import Retry

# Stats that RabbitMQ refreshes every collect_statistics_interval (5 s by default) need several
# intervals at worst: the emission, the aggregation, a busy node.
STATS_TIMEOUT = 30.0


def uniq_name(prefix: str = "t") -> str:
    """A name no other test uses (the same form as conftest.uniq)."""
    return f"warren-test.{prefix}.{uuid.uuid4().hex[:12]}"


def q(name: str) -> str:
    """One path segment, quoted as RabbitMQ's API wants it: '/' -> '%2F', '' stays ''."""
    return quote(name, safe="")


def api_path(*segments: str) -> str:
    """'/api/' + the segments, each quoted:
    api_path('queues', '/', 'a b') == '/api/queues/%2F/a%20b'."""
    return "/api/" + "/".join(q(s) for s in segments)


class Management:
    """A small requests-based client: m.get('/api/overview'), m.json(api_path('queues', '/')).

    Methods return the requests.Response whatever its status (tests assert on codes and bodies);
    json() and the typed helpers assert the expected status and return the decoded body.
    """

    def __init__(self, url: str, user: str = "guest", password: str = "guest", timeout: float = 15):
        self.url = url.rstrip("/")
        self.user = user
        self.password = password
        self.timeout = timeout
        self.session = requests.Session()
        self.session.auth = (user, password) if user is not None else None
        # A kept-alive connection that the server closes as the next request goes out (Cowboy
        # closes idle ones after a few seconds) fails that request before the server has read it:
        # send it once more, on a new connection. Answers themselves are never retried.
        retry = Retry(total=2, connect=2, read=1, status=0, other=0, allowed_methods=None,
                      raise_on_status=False)
        self.session.mount("http://", requests.adapters.HTTPAdapter(max_retries=retry))

    def as_user(self, user: str | None, password: str | None = None) -> "Management":
        """The same API as another user (None: no credentials at all)."""
        return Management(self.url, user, password, self.timeout)

    def request(self, method: str, path: str, **kw) -> requests.Response:
        kw.setdefault("timeout", self.timeout)
        return self.session.request(method, self.url + path, **kw)

    def get(self, path: str, **kw) -> requests.Response:
        return self.request("GET", path, **kw)

    def put(self, path: str, body: Any = None, **kw) -> requests.Response:
        if body is not None:
            kw["json"] = body
        return self.request("PUT", path, **kw)

    def post(self, path: str, body: Any = None, **kw) -> requests.Response:
        if body is not None:
            kw["json"] = body
        return self.request("POST", path, **kw)

    def delete(self, path: str, **kw) -> requests.Response:
        return self.request("DELETE", path, **kw)

    def json(self, path: str, status: int = 200, **kw) -> Any:
        r = self.get(path, **kw)
        expect(r, status)
        return r.json()

    # -- typed helpers (status asserted) ---------------------------------------------------------

    def _declare(self, kind: str, vhost: str, name: str, body: dict, **defaults) -> None:
        expect(self.put(api_path(kind, vhost, name), {**defaults, **body}), 201, 204)

    def declare_queue(self, vhost: str, name: str, **body) -> None:
        self._declare("queues", vhost, name, body, durable=False, auto_delete=False, arguments={})

    def declare_exchange(self, vhost: str, name: str, type: str = "direct", **body) -> None:
        self._declare("exchanges", vhost, name, {**body, "type": type}, durable=False,
                      auto_delete=False, internal=False, arguments={})

    def delete_queue(self, vhost: str, name: str) -> None:
        expect(self.delete(api_path("queues", vhost, name)), 204, 404)

    def delete_exchange(self, vhost: str, name: str) -> None:
        expect(self.delete(api_path("exchanges", vhost, name)), 204, 404)

    def publish(self, vhost: str, exchange: str, routing_key: str, payload: str,
                properties: dict | None = None, encoding: str = "string") -> bool:
        r = self.post(api_path("exchanges", vhost, exchange or "amq.default", "publish"),
                      {"routing_key": routing_key, "payload": payload,
                       "payload_encoding": encoding, "properties": properties or {}})
        expect(r, 200)
        return r.json()["routed"]

    def get_messages(self, vhost: str, queue: str, count: int = 1,
                     ackmode: str = "ack_requeue_false", encoding: str = "auto",
                     truncate: int | None = None) -> list[dict]:
        body = {"count": count, "ackmode": ackmode, "encoding": encoding}
        if truncate is not None:
            body["truncate"] = truncate
        r = self.post(api_path("queues", vhost, queue, "get"), body)
        expect(r, 200)
        return r.json()

    def queue(self, vhost: str, name: str) -> dict:
        return self.json(api_path("queues", vhost, name))


class Made:
    """Objects a test made through the API, deleted (in reverse order) when it ends."""

    def __init__(self, management: Management):
        self.management = management
        self.paths: list[str] = []

    def _add(self, path: str, name: str) -> str:
        self.paths.append(path)
        return name

    def queue(self, vhost: str, name: str) -> str:
        return self._add(api_path("queues", vhost, name), name)

    def exchange(self, vhost: str, name: str) -> str:
        return self._add(api_path("exchanges", vhost, name), name)

    def user(self, name: str) -> str:
        return self._add(api_path("users", name), name)

    def vhost(self, name: str) -> str:
        return self._add(api_path("vhosts", name), name)

    def delete_all(self) -> None:
        for path in reversed(self.paths):
            expect(self.management.delete(path), 204, 404)


NOT_FOUND = {"error": "Object Not Found", "reason": "Not Found"}


def assert_error(r: requests.Response, status: int, error: str, reason: Any = None) -> dict:
    """RabbitMQ's error answer: `status`, JSON {"error": error, "reason": reason} (reason checked
    when given; a callable is a predicate on it)."""
    expect(r, status)
    assert r.headers.get("content-type", "").startswith("application/json"), r.headers
    body = r.json()
    assert body.get("error") == error, body
    if callable(reason):
        assert reason(body.get("reason")), body
    elif reason is not None:
        assert body.get("reason") == reason, body
    return body


def connection_named(management: Management, name: str, timeout: float = STATS_TIMEOUT) -> dict:
    """The connection whose client_properties.connection_name is `name`, once the API lists it."""
    def find():
        for c in management.json("/api/connections"):
            if (c.get("client_properties") or {}).get("connection_name") == name:
                return c
        return None
    return eventually(find, lambda c: c is not None, timeout=timeout, what=f"connection {name}")


def expect(r: requests.Response, *statuses: int) -> requests.Response:
    assert r.status_code in statuses, \
        f"{r.request.method} {r.url}: expected {statuses}, got {r.status_code} {r.text[:500]!r}"
    return r


def eventually(fetch: Callable[[], Any], check: Callable[[Any], bool],
               timeout: float = STATS_TIMEOUT, interval: float = 0.25, what: str = "condition"):
    """Call fetch() until check(value) holds, then return that value; fail at the deadline with the
    last value seen. For stats that the broker updates on an interval: never a fixed sleep."""
    deadline = time.monotonic() + timeout
    while True:
        value = fetch()
        try:
            ok = check(value)
        except (KeyError, IndexError, TypeError):
            ok = False
        if ok:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}; last value: "
                                 f"{json.dumps(value, default=str)[:2000]}")
        time.sleep(interval)


# -- JSON shapes ---------------------------------------------------------------------------------
#
# A shape is {"type": T, ...} where T is one JSON type name ("object", "array", "string", "number",
# "boolean", "null") or a sorted list of them (the value had several types across samples). Objects
# have "fields" {name: shape}; arrays have "items" (the union of their elements' shapes) unless every
# one seen was empty. A field may carry "absent_before_traffic": true (RabbitMQ leaves it out until
# messages have flowed, e.g. message_stats) or "optional": true (absent in some samples: not
# required). Objects whose keys are data, not a schema (arguments, client_properties, ...), carry
# "free_form": true and no fields: only the type is required.

FREE_FORM = {"arguments", "client_properties", "capabilities", "headers", "cluster_state",
             "effective_policy_definition", "definition", "socket_opts", "metadata_store",
             "exchange_types_enabled", "properties", "value", "parameters", "policies",
             "global_parameters", "limits"}


def json_type(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    if isinstance(v, dict):
        return "object"
    raise TypeError(f"not JSON: {v!r}")


def _types(s: dict) -> list[str]:
    t = s["type"]
    return [t] if isinstance(t, str) else list(t)


def shape_of(v: Any, key: str | None = None) -> dict:
    t = json_type(v)
    s: dict = {"type": t}
    if t == "object":
        if key in FREE_FORM:  # the keys are data: only the type is recorded
            s["free_form"] = True
        else:
            s["fields"] = {k: shape_of(x, k) for k, x in sorted(v.items())}
    elif t == "array" and v:
        items = None
        for x in v:
            items = shape_of(x, key) if items is None else merge(items, shape_of(x, key), "optional")
        s["items"] = items
    return s


def merge(a: dict, b: dict, missing: str = "optional") -> dict:
    """The union of two shapes; a field in only one side is marked `missing` ('optional' between
    list elements; the recorder says 'absent_before_traffic' for fields that only the after-traffic
    sample has)."""
    types = sorted(set(_types(a)) | set(_types(b)))
    out: dict = {"type": types[0] if len(types) == 1 else types}
    for flag in ("free_form", "absent_before_traffic", "optional"):
        if a.get(flag) or b.get(flag):
            out[flag] = True
    if "fields" in a or "fields" in b:
        fa, fb = a.get("fields"), b.get("fields")
        if fa is None or fb is None:  # object on one side only (null or other type on the other)
            out["fields"] = dict(fa if fa is not None else fb)
        else:
            fields = {}
            for k in sorted(set(fa) | set(fb)):
                if k in fa and k in fb:
                    fields[k] = merge(fa[k], fb[k], missing)
                else:
                    fields[k] = dict(fa.get(k) or fb.get(k))
                    if k in fb and "object" in _types(a) and "object" in _types(b):
                        fields[k][missing] = True
                    elif k in fa:
                        fields[k]["optional"] = True
            out["fields"] = fields
    if "items" in a or "items" in b:
        if "items" in a and "items" in b:
            out["items"] = merge(a["items"], b["items"], missing)
        else:
            out["items"] = a.get("items") or b.get("items")
    return out


# Fields that describe the Erlang runtime RabbitMQ runs on, not the broker: its processes'
# garbage collection and reductions, the classic queue's internal storage, the node's Erlang
# VM, Mnesia, message store, queue index and file-handle cache counters, the web server's
# options. Warren has no such runtime and does not make the numbers up; it is held to every
# other field.
ERLANG_RUNTIME_FIELDS = {
    "garbage_collection", "reductions", "reductions_details", "backing_queue_status",
    "erlang_version", "erlang_full_version", "cowboy_opts", "ssl_opts", "db_dir",
    "net_ticktime", "run_queue", "ra_open_file_metrics", "metrics_gc_queue_length",
    "gc_num", "gc_num_details", "gc_bytes_reclaimed", "gc_bytes_reclaimed_details",
    "context_switches", "context_switches_details",
}
ERLANG_RUNTIME_PREFIXES = ("io_", "mnesia_", "msg_store_", "queue_index_")


def is_erlang_runtime_field(name: str) -> bool:
    return name in ERLANG_RUNTIME_FIELDS or name.startswith(ERLANG_RUNTIME_PREFIXES)


def shape_errors(value: Any, shape: dict, where: str = "$") -> list[str]:
    """What in `value` does not have the recorded shape: missing fields (unless optional, or of
    the Erlang runtime: ERLANG_RUNTIME_FIELDS) and values of a type RabbitMQ never gave there.
    Extra fields are allowed."""
    t = json_type(value)
    allowed = _types(shape)
    if t not in allowed:
        return [f"{where}: {t}, RabbitMQ has {'/'.join(allowed)}"]
    errors = []
    if t == "object" and "fields" in shape and not shape.get("free_form"):
        for k, sub in shape["fields"].items():
            if k not in value:
                if not sub.get("optional") and not is_erlang_runtime_field(k):
                    errors.append(f"{where}.{k}: missing")
                continue
            errors += shape_errors(value[k], sub, f"{where}.{k}")
    elif t == "array" and "items" in shape:
        for i, x in enumerate(value):
            errors += shape_errors(x, shape["items"], f"{where}[{i}]")
    return errors


def missing_fields(value: Any, shape: dict) -> list[str]:
    return [e for e in shape_errors(value, shape) if e.endswith(": missing")]


# -- the representative state --------------------------------------------------------------------

@dataclass
class ShapeState:
    """What the shapes are recorded from, built the same way on RabbitMQ and on Warren: in vhost '/',
    a direct exchange bound to two queues (one with arguments), an exchange-to-exchange binding, a
    user with permissions and topic permissions there, a pika connection (named by
    client_properties.connection_name) with a consuming channel (prefetch 2, manual acks) and a
    publishing channel (confirms). `traffic()` publishes, delivers, acks,
    gets, rejects and drops unroutable messages, so that every message_stats exists."""

    management: Management
    params: pika.ConnectionParameters
    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:10])
    vhost: str = "/"

    def __post_init__(self):
        base = f"warren-test.shape.{self.tag}"
        self.exchange = base + ".x"
        self.exchange2 = base + ".x2"
        self.queue = base + ".q"          # consumed
        self.queue2 = base + ".q2"        # not consumed, with arguments
        self.connection_name = base + ".conn"
        self.user = base + ".user"        # tagged management, with permissions on the vhost
        self.conn: pika.BlockingConnection | None = None
        self.deliveries: list = []

    def build(self) -> None:
        m = self.management
        m.declare_exchange(self.vhost, self.exchange, "direct")
        m.declare_exchange(self.vhost, self.exchange2, "fanout", durable=True)
        m.declare_queue(self.vhost, self.queue)
        m.declare_queue(self.vhost, self.queue2, durable=True,
                        arguments={"x-max-length": 1000, "x-message-ttl": 600000})
        for dest in (self.queue, self.queue2):
            expect(m.post(api_path("bindings", self.vhost, "e", self.exchange, "q", dest),
                          {"routing_key": "rk", "arguments": {"x-match-test": "v"}}), 201)
        expect(m.post(api_path("bindings", self.vhost, "e", self.exchange2, "e", self.exchange),
                      {"routing_key": "", "arguments": {}}), 201)
        expect(m.put(api_path("users", self.user), {"password": "pw", "tags": "management"}), 201)
        expect(m.put(api_path("permissions", self.vhost, self.user),
                     {"configure": "^warren-test\\.", "write": ".*", "read": ".*"}), 201)
        expect(m.put(api_path("topic-permissions", self.vhost, self.user),
                     {"exchange": "amq.topic", "write": "^w\\.", "read": "^r\\."}), 201)
        props = dict(client_properties={"connection_name": self.connection_name})
        self.conn = pika.BlockingConnection(pika.ConnectionParameters(
            host=self.params.host, port=self.params.port, virtual_host=self.vhost,
            credentials=self.params.credentials, connection_attempts=1, socket_timeout=5, **props))
        self.consume_ch = self.conn.channel()
        self.consume_ch.basic_qos(prefetch_count=2)
        self.consume_ch.basic_consume(self.queue, lambda ch, me, pr, bo: self.deliveries.append(me),
                                      consumer_tag=f"warren-test.shape.{self.tag}.ctag")
        self.publish_ch = self.conn.channel()
        self.publish_ch.confirm_delivery()

    def traffic(self) -> None:
        """7 messages to the consumer (3 acked, 2 unacked, 2 ready); 7 on queue2; a basic.get acked,
        one rejected and requeued (a redelivery); an unroutable publish."""
        for i in range(7):
            self.publish_ch.basic_publish(self.exchange, "rk", f"message {i}".encode(),
                                          pika.BasicProperties(content_type="text/plain",
                                                               headers={"n": i}))
        self.publish_ch.basic_publish(self.exchange, "nowhere", b"unroutable")
        deadline = time.monotonic() + 10
        acked = 0
        while acked < 3:
            if time.monotonic() > deadline:
                raise AssertionError(f"consumer got {len(self.deliveries)} deliveries")
            self.conn.process_data_events(time_limit=0.05)
            while self.deliveries and acked < 3:
                self.consume_ch.basic_ack(self.deliveries.pop(0).delivery_tag)
                acked += 1
        self.conn.process_data_events(time_limit=0.2)
        method, _, _ = self.publish_ch.basic_get(self.queue2)
        self.publish_ch.basic_ack(method.delivery_tag)
        method, _, _ = self.publish_ch.basic_get(self.queue2)
        self.publish_ch.basic_reject(method.delivery_tag, requeue=True)
        self.publish_ch.basic_get(self.queue2, auto_ack=True)
        self.conn.process_data_events(time_limit=0.1)

    def pump(self) -> None:
        if self.conn is not None and self.conn.is_open:
            self.conn.process_data_events(time_limit=0)


    def close(self) -> None:
        if self.conn is not None and self.conn.is_open:
            self.conn.close()
        for name in (self.queue, self.queue2):
            self.management.delete_queue(self.vhost, name)
        for name in (self.exchange, self.exchange2):
            self.management.delete_exchange(self.vhost, name)
        expect(self.management.delete(api_path("users", self.user)), 204, 404)


@dataclass
class Endpoint:
    """One recorded answer: `key` names it in management_shapes.json ('GET /api/queues/{vhost}');
    path(state, ctx) gives the concrete path; pick(state, ctx, answer) the part of a list answer that
    belongs to the state (all of it if None); ready(state, answer) says when the answer is complete
    enough to record (stats emitted)."""

    key: str
    path: Callable[[ShapeState, dict], str]
    pick: Callable[[ShapeState, dict, Any], Any] | None = None
    method: str = "GET"
    body: Callable[[ShapeState], Any] | None = None
    status: int = 200


def _pick_queues(s, c, items):
    return [x for x in items if x["name"] in (s.queue, s.queue2)]


def _pick_exchanges(s, c, items):
    return [x for x in items if x["name"] in (s.exchange, s.exchange2, "")]


def _pick_bindings(s, c, items):
    return [x for x in items if x["source"] in (s.exchange, s.exchange2)
            or x["destination"] in (s.queue, s.queue2)]


def _pick_connections(s, c, items):
    return [x for x in items if (x.get("client_properties") or {}).get("connection_name")
            == s.connection_name]


def _pick_channels(s, c, items):
    return [x for x in items if (x.get("connection_details") or {}).get("name") == c["connection"]]


def _pick_user(s, c, items):
    return [x for x in items if x.get("user") == s.user]


def _pick_consumers(s, c, items):
    return [x for x in items if (x.get("queue") or {}).get("name") == s.queue]


ENDPOINTS: list[Endpoint] = [
    Endpoint("GET /api/overview", lambda s, c: "/api/overview"),
    Endpoint("GET /api/whoami", lambda s, c: "/api/whoami"),
    Endpoint("GET /api/nodes", lambda s, c: "/api/nodes"),
    Endpoint("GET /api/nodes/{node}", lambda s, c: api_path("nodes", c["node"])),
    Endpoint("GET /api/cluster-name", lambda s, c: "/api/cluster-name"),
    Endpoint("GET /api/aliveness-test/{vhost}", lambda s, c: api_path("aliveness-test", s.vhost)),
    Endpoint("GET /api/healthchecks/node", lambda s, c: "/api/healthchecks/node"),
    Endpoint("GET /api/health/checks/alarms", lambda s, c: "/api/health/checks/alarms"),
    Endpoint("GET /api/health/checks/local-alarms", lambda s, c: "/api/health/checks/local-alarms"),
    Endpoint("GET /api/health/checks/port-listener/{port}",
             lambda s, c: f"/api/health/checks/port-listener/{s.params.port}"),
    Endpoint("GET /api/health/checks/virtual-hosts", lambda s, c: "/api/health/checks/virtual-hosts"),
    Endpoint("GET /api/connections", lambda s, c: "/api/connections", _pick_connections),
    Endpoint("GET /api/connections/{name}", lambda s, c: api_path("connections", c["connection"])),
    Endpoint("GET /api/connections/{name}/channels",
             lambda s, c: api_path("connections", c["connection"], "channels"), _pick_channels),
    Endpoint("GET /api/vhosts/{vhost}/connections",
             lambda s, c: api_path("vhosts", s.vhost, "connections"), _pick_connections),
    Endpoint("GET /api/channels", lambda s, c: "/api/channels", _pick_channels),
    Endpoint("GET /api/vhosts/{vhost}/channels",
             lambda s, c: api_path("vhosts", s.vhost, "channels"), _pick_channels),
    Endpoint("GET /api/channels/{name} (consuming)",
             lambda s, c: api_path("channels", c["channel"])),
    Endpoint("GET /api/channels/{name} (publishing, confirms)",
             lambda s, c: api_path("channels", c["channel2"])),
    Endpoint("GET /api/consumers", lambda s, c: "/api/consumers", _pick_consumers),
    Endpoint("GET /api/consumers/{vhost}", lambda s, c: api_path("consumers", s.vhost),
             _pick_consumers),
    Endpoint("GET /api/exchanges", lambda s, c: "/api/exchanges", _pick_exchanges),
    Endpoint("GET /api/exchanges/{vhost}", lambda s, c: api_path("exchanges", s.vhost),
             _pick_exchanges),
    Endpoint("GET /api/exchanges/{vhost}/{name}",
             lambda s, c: api_path("exchanges", s.vhost, s.exchange)),
    Endpoint("GET /api/exchanges/{vhost}/amq.default",
             lambda s, c: api_path("exchanges", s.vhost, "amq.default")),
    Endpoint("GET /api/exchanges/{vhost}/{name}/bindings/source",
             lambda s, c: api_path("exchanges", s.vhost, s.exchange, "bindings", "source")),
    Endpoint("GET /api/exchanges/{vhost}/{name}/bindings/destination",
             lambda s, c: api_path("exchanges", s.vhost, s.exchange, "bindings", "destination")),
    Endpoint("GET /api/queues", lambda s, c: "/api/queues", _pick_queues),
    Endpoint("GET /api/queues/{vhost}", lambda s, c: api_path("queues", s.vhost), _pick_queues),
    Endpoint("GET /api/queues/{vhost}/{name}", lambda s, c: api_path("queues", s.vhost, s.queue)),
    Endpoint("GET /api/queues/{vhost}/{name}/bindings",
             lambda s, c: api_path("queues", s.vhost, s.queue, "bindings")),
    Endpoint("GET /api/queues/{vhost}?page=1&page_size=100&name={name}",
             lambda s, c: api_path("queues", s.vhost) + f"?page=1&page_size=100&name={q(s.queue)}"),
    Endpoint("GET /api/bindings", lambda s, c: "/api/bindings", _pick_bindings),
    Endpoint("GET /api/bindings/{vhost}", lambda s, c: api_path("bindings", s.vhost), _pick_bindings),
    Endpoint("GET /api/bindings/{vhost}/e/{exchange}/q/{queue}",
             lambda s, c: api_path("bindings", s.vhost, "e", s.exchange, "q", s.queue)),
    Endpoint("GET /api/bindings/{vhost}/e/{exchange}/q/{queue}/{props}",
             lambda s, c: api_path("bindings", s.vhost, "e", s.exchange, "q", s.queue)
             + "/" + c["props"]),
    Endpoint("GET /api/bindings/{vhost}/e/{source}/e/{destination}",
             lambda s, c: api_path("bindings", s.vhost, "e", s.exchange2, "e", s.exchange)),
    Endpoint("GET /api/vhosts", lambda s, c: "/api/vhosts",
             lambda s, c, items: [x for x in items if x["name"] == s.vhost]),
    Endpoint("GET /api/vhosts/{vhost}", lambda s, c: api_path("vhosts", s.vhost)),
    Endpoint("GET /api/vhosts/{vhost}/permissions",
             lambda s, c: api_path("vhosts", s.vhost, "permissions"), _pick_user),
    Endpoint("GET /api/vhosts/{vhost}/topic-permissions",
             lambda s, c: api_path("vhosts", s.vhost, "topic-permissions"), _pick_user),
    Endpoint("GET /api/users", lambda s, c: "/api/users",
             lambda s, c, items: [x for x in items if x["name"] == s.user]),
    Endpoint("GET /api/users/{user}", lambda s, c: api_path("users", s.user)),
    Endpoint("GET /api/users/{user}/permissions",
             lambda s, c: api_path("users", s.user, "permissions")),
    Endpoint("GET /api/users/{user}/topic-permissions",
             lambda s, c: api_path("users", s.user, "topic-permissions")),
    Endpoint("GET /api/permissions", lambda s, c: "/api/permissions", _pick_user),
    Endpoint("GET /api/permissions/{vhost}/{user}",
             lambda s, c: api_path("permissions", s.vhost, s.user)),
    Endpoint("GET /api/topic-permissions", lambda s, c: "/api/topic-permissions", _pick_user),
    Endpoint("GET /api/topic-permissions/{vhost}/{user}",
             lambda s, c: api_path("topic-permissions", s.vhost, s.user)),
    Endpoint("GET /api/definitions", lambda s, c: "/api/definitions"),
    Endpoint("GET /api/definitions/{vhost}", lambda s, c: api_path("definitions", s.vhost)),
    Endpoint("GET /api/policies", lambda s, c: "/api/policies"),
    Endpoint("GET /api/operator-policies", lambda s, c: "/api/operator-policies"),
    Endpoint("GET /api/parameters", lambda s, c: "/api/parameters"),
    Endpoint("GET /api/global-parameters", lambda s, c: "/api/global-parameters"),
    Endpoint("GET /api/extensions", lambda s, c: "/api/extensions"),
    Endpoint("GET /api/feature-flags", lambda s, c: "/api/feature-flags"),
    Endpoint("POST /api/exchanges/{vhost}/{name}/publish",
             lambda s, c: api_path("exchanges", s.vhost, s.exchange, "publish"), method="POST",
             body=lambda s: {"routing_key": "rk", "payload": "via http", "payload_encoding": "string",
                             "properties": {"headers": {"h": 1}}}),
    Endpoint("POST /api/queues/{vhost}/{name}/get",
             lambda s, c: api_path("queues", s.vhost, s.queue2, "get"), method="POST",
             body=lambda s: {"count": 2, "ackmode": "ack_requeue_true", "encoding": "auto"}),
    Endpoint("GET /api/queues/{vhost}/{name} (404)",
             lambda s, c: api_path("queues", s.vhost, s.queue + ".none"), status=404),
]


def context(state: ShapeState) -> dict:
    """The names the endpoint paths need: node, the connection, its consuming and publishing
    channels, a binding's properties_key."""
    m = state.management
    node = m.json("/api/overview")["node"]
    conn = connection_named(m, state.connection_name)
    channels = eventually(lambda: m.json(api_path("connections", conn["name"], "channels")),
                          lambda cs: len(cs) >= 2, what="the connection's two channels")
    props = m.json(api_path("bindings", state.vhost, "e", state.exchange, "q", state.queue))
    by_number = {c["number"]: c["name"] for c in channels}
    return {"node": node, "connection": conn["name"],
            "channel": by_number[state.consume_ch.channel_number],
            "channel2": by_number[state.publish_ch.channel_number],
            "props": props[0]["properties_key"]}


def fetch(state: ShapeState, ctx: dict, ep: Endpoint) -> Any:
    path = ep.path(state, ctx)
    kw = {"json": ep.body(state)} if ep.body else {}
    r = state.management.request(ep.method, path, **kw)
    expect(r, ep.status)
    answer = r.json()
    if ep.pick is not None:
        answer = ep.pick(state, ctx, answer)
    return answer


def ready(state: ShapeState, ctx: dict, after_traffic: bool) -> bool:
    """Whether the broker's answers have what is to be recorded: the first stats emission (queue
    counts, connection octets, channel counts) and, after traffic, every message_stats counter."""
    m = state.management
    state.pump()
    q1 = m.json(api_path("queues", state.vhost, state.queue))
    q2 = m.json(api_path("queues", state.vhost, state.queue2))
    conn = m.json(api_path("connections", ctx["connection"]))
    channels = m.json(api_path("connections", ctx["connection"], "channels"))
    base = ("messages" in q1 and "messages" in q2 and "recv_oct" in conn
            and all("messages_unacknowledged" in c for c in channels))
    if not after_traffic or not base:
        return base
    x = m.json(api_path("exchanges", state.vhost, state.exchange))
    overview = m.json("/api/overview")
    vhost = m.json(api_path("vhosts", state.vhost))
    stats1, stats2 = q1.get("message_stats", {}), q2.get("message_stats", {})
    return (q1["messages_unacknowledged"] == 2 and q1["messages_ready"] == 2
            and stats1.get("ack") == 3 and stats1.get("deliver_get") == 5
            and stats2.get("redeliver") == 1 and stats2.get("get_no_ack") == 1
            and "publish_in" in x.get("message_stats", {})
            and "publish_out" in x.get("message_stats", {})
            and "drop_unroutable" in overview.get("message_stats", {})
            and "ack" in vhost.get("message_stats", {})
            and all("message_stats" in c for c in channels))


def record(state: ShapeState, after_traffic: bool) -> dict[str, dict]:
    """{endpoint key: shape} for the state as it is; POSTs only after traffic (a publish is
    traffic)."""
    ctx = context(state)
    eventually(lambda: ready(state, ctx, after_traffic), bool, timeout=60,
               what="stats " + ("after traffic" if after_traffic else "before traffic"))
    out = {}
    for ep in ENDPOINTS:
        if ep.method != "GET" and not after_traffic:
            continue
        state.pump()
        out[ep.key] = shape_of(fetch(state, ctx, ep))
    return out


# -- Prometheus text format ----------------------------------------------------------------------

@dataclass
class Metrics:
    """A parsed Prometheus text exposition: types[name] ('gauge', 'counter', 'untyped', ...) and
    samples[name] = [(labels, value), ...]."""

    types: dict[str, str]
    samples: dict[str, list[tuple[dict[str, str], float]]]

    def value(self, name: str, **labels: str) -> float | None:
        """The one sample of `name` whose labels include `labels` (None if there is none)."""
        found = [v for ls, v in self.samples.get(name, []) if labels.items() <= ls.items()]
        assert len(found) <= 1, f"{name}{labels}: {len(found)} samples"
        return found[0] if found else None

    def total(self, name: str, **labels: str) -> float:
        return sum(v for ls, v in self.samples.get(name, []) if labels.items() <= ls.items())


def _labels(text: str) -> dict[str, str]:
    labels, i = {}, 0
    while i < len(text):
        eq = text.index("=", i)
        key = text[i:eq].strip().lstrip(",").strip()
        assert text[eq + 1] == '"', text
        j, value = eq + 2, []
        while text[j] != '"':
            if text[j] == "\\":
                j += 1
                value.append({"n": "\n"}.get(text[j], text[j]))
            else:
                value.append(text[j])
            j += 1
        labels[key] = "".join(value)
        i = j + 1
        while i < len(text) and text[i] in ", ":
            i += 1
    return labels


def parse_metrics(text: str) -> Metrics:
    types: dict[str, str] = {}
    samples: dict[str, list] = {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(None, 3)
            types[name] = kind.strip()
        elif line and not line.startswith("#"):
            if "{" in line:
                name, rest = line.split("{", 1)
                label_text, value = rest.rsplit("}", 1)
                labels = _labels(label_text)
            else:
                name, value = line.split(None, 1)
                labels = {}
            samples.setdefault(name, []).append((labels, float(value.split()[0])))
    return Metrics(types, samples)
