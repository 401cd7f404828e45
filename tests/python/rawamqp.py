"""A tiny AMQP 0-9-1 frame helper for tests that need to see or send exact bytes.

No client library hides anything here: we build frames by hand, do the connection handshake,
read frames back and decode the few methods the tests look at (connection.start/tune/close,
channel.close, basic.get-ok, content headers). Field tables use RabbitMQ's type letters
(`s` is a signed 16-bit integer, not a short string; `x` is a byte array), so a test can put an
exact wire type on a header with `Typed('b', 5)` and read back the type letter it got.
"""

from __future__ import annotations

import decimal
import select
import socket
import struct
import time
from dataclasses import dataclass, field
from typing import Any

PROTOCOL_HEADER = b"AMQP\x00\x00\x09\x01"
FRAME_END = 0xCE

FRAME_METHOD = 1
FRAME_HEADER = 2
FRAME_BODY = 3
FRAME_HEARTBEAT = 8

# (class_id, method_id)
CONNECTION_START = (10, 10)
CONNECTION_START_OK = (10, 11)
CONNECTION_SECURE = (10, 20)
CONNECTION_TUNE = (10, 30)
CONNECTION_TUNE_OK = (10, 31)
CONNECTION_OPEN = (10, 40)
CONNECTION_OPEN_OK = (10, 41)
CONNECTION_CLOSE = (10, 50)
CONNECTION_CLOSE_OK = (10, 51)
CHANNEL_OPEN = (20, 10)
CHANNEL_OPEN_OK = (20, 11)
CHANNEL_CLOSE = (20, 40)
CHANNEL_CLOSE_OK = (20, 41)
EXCHANGE_DECLARE = (40, 10)
QUEUE_DECLARE = (50, 10)
QUEUE_DECLARE_OK = (50, 11)
BASIC_PUBLISH = (60, 40)
BASIC_GET = (60, 70)
BASIC_GET_OK = (60, 71)
BASIC_GET_EMPTY = (60, 72)
BASIC_ACK = (60, 80)

# Client capabilities as pika announces them.
CLIENT_CAPABILITIES = {
    "authentication_failure_close": True,
    "basic.nack": True,
    "connection.blocked": True,
    "consumer_cancel_notify": True,
    "publisher_confirms": True,
}


class PeerClosed(Exception):
    """The broker closed the TCP connection."""


# --------------------------------------------------------------------------------------------
# Encoding


@dataclass(frozen=True)
class Typed:
    """A field value with an explicit AMQP type letter (RabbitMQ's table)."""

    kind: str
    value: Any


def shortstr(value: str | bytes) -> bytes:
    if isinstance(value, str):
        value = value.encode()
    assert len(value) < 256
    return bytes([len(value)]) + value


def longstr(value: str | bytes) -> bytes:
    if isinstance(value, str):
        value = value.encode()
    return struct.pack(">I", len(value)) + value


def _encode_value(value: Any) -> bytes:
    if isinstance(value, Typed):
        k, v = value.kind, value.value
        simple = {"b": ">b", "B": ">B", "s": ">h", "u": ">H", "I": ">i", "i": ">I",
                  "l": ">q", "L": ">Q", "f": ">f", "d": ">d", "T": ">Q"}
        if k in simple:
            return k.encode() + struct.pack(simple[k], v)
        if k == "t":
            return b"t" + bytes([1 if v else 0])
        if k in ("S", "x"):
            return k.encode() + longstr(v)
        if k == "V":
            return b"V"
        if k == "D":
            scale, unscaled = v
            return b"D" + struct.pack(">BI", scale, unscaled)
        if k == "F":
            return b"F" + encode_table(v)
        if k == "A":
            return b"A" + _encode_array(v)
        raise ValueError(f"unsupported type letter {k!r}")
    if isinstance(value, bool):
        return b"t" + bytes([1 if value else 0])
    if isinstance(value, int):
        if -(2**31) <= value < 2**31:
            return b"I" + struct.pack(">i", value)
        return b"l" + struct.pack(">q", value)
    if isinstance(value, float):
        return b"d" + struct.pack(">d", value)
    if isinstance(value, (str, bytes)):
        return b"S" + longstr(value)
    if isinstance(value, dict):
        return b"F" + encode_table(value)
    if isinstance(value, (list, tuple)):
        return b"A" + _encode_array(value)
    if value is None:
        return b"V"
    raise ValueError(f"cannot encode {value!r}")


def _encode_array(values) -> bytes:
    body = b"".join(_encode_value(v) for v in values)
    return struct.pack(">I", len(body)) + body


def encode_table(table: dict | None) -> bytes:
    body = b"".join(shortstr(k) + _encode_value(v) for k, v in (table or {}).items())
    return struct.pack(">I", len(body)) + body


def frame(frame_type: int, channel: int, payload: bytes) -> bytes:
    return struct.pack(">BHI", frame_type, channel, len(payload)) + payload + bytes([FRAME_END])


def method_frame(channel: int, method: tuple[int, int], args: bytes = b"") -> bytes:
    return frame(FRAME_METHOD, channel, struct.pack(">HH", *method) + args)


def close_args(code: int = 200, text: str = "bye") -> bytes:
    """The arguments of connection.close or channel.close, naming no method."""
    return struct.pack(">H", code) + shortstr(text) + struct.pack(">HH", 0, 0)


def heartbeat_frame() -> bytes:
    return frame(FRAME_HEARTBEAT, 0, b"")


PROPERTY_ORDER = [
    # (name, kind, flag bit)
    ("content_type", "shortstr"),
    ("content_encoding", "shortstr"),
    ("headers", "table"),
    ("delivery_mode", "octet"),
    ("priority", "octet"),
    ("correlation_id", "shortstr"),
    ("reply_to", "shortstr"),
    ("expiration", "shortstr"),
    ("message_id", "shortstr"),
    ("timestamp", "timestamp"),
    ("type", "shortstr"),
    ("user_id", "shortstr"),
    ("app_id", "shortstr"),
    ("cluster_id", "shortstr"),
]


def encode_properties(props: dict) -> bytes:
    flags = 0
    out = b""
    for i, (name, kind) in enumerate(PROPERTY_ORDER):
        if name not in props or props[name] is None:
            continue
        flags |= 1 << (15 - i)
        v = props[name]
        if kind == "shortstr":
            out += shortstr(v)
        elif kind == "table":
            out += encode_table(v)
        elif kind == "octet":
            out += bytes([v])
        elif kind == "timestamp":
            out += struct.pack(">Q", v)
    return struct.pack(">H", flags) + out


def content_header_frame(channel: int, body_size: int, props: dict | None = None,
                         class_id: int = 60) -> bytes:
    payload = struct.pack(">HHQ", class_id, 0, body_size) + encode_properties(props or {})
    return frame(FRAME_HEADER, channel, payload)


def publish_frames(channel: int, exchange: str, routing_key: str, body: bytes,
                   props: dict | None = None, frame_max: int = 131072) -> bytes:
    """basic.publish + content header + body frames (split at frame_max; none if body is empty)."""
    out = method_frame(channel, BASIC_PUBLISH,
                       struct.pack(">H", 0) + shortstr(exchange) + shortstr(routing_key) + b"\x00")
    out += content_header_frame(channel, len(body), props)
    chunk = frame_max - 8
    for i in range(0, len(body), chunk):
        out += frame(FRAME_BODY, channel, body[i:i + chunk])
    return out


# --------------------------------------------------------------------------------------------
# Decoding


class Reader:
    def __init__(self, data: bytes, pos: int = 0):
        self.data = data
        self.pos = pos

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise ValueError("truncated")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def unpack(self, fmt: str):
        size = struct.calcsize(fmt)
        return struct.unpack(fmt, self.take(size))

    def octet(self) -> int:
        return self.unpack(">B")[0]

    def short(self) -> int:
        return self.unpack(">H")[0]

    def long(self) -> int:
        return self.unpack(">I")[0]

    def longlong(self) -> int:
        return self.unpack(">Q")[0]

    def shortstr(self) -> str:
        return self.take(self.octet()).decode("utf-8", "surrogateescape")

    def longstr(self) -> bytes:
        return self.take(self.long())

    def table(self, typed: bool = False) -> dict:
        end_len = self.long()
        sub = Reader(self.take(end_len))
        out = {}
        while sub.pos < len(sub.data):
            key = sub.shortstr()
            out[key] = sub.value(typed)
        return out

    def value(self, typed: bool = False):
        kind = chr(self.octet())
        simple = {"b": ">b", "B": ">B", "s": ">h", "u": ">H", "I": ">i", "i": ">I",
                  "l": ">q", "L": ">Q", "f": ">f", "d": ">d", "T": ">Q"}
        if kind in simple:
            v = self.unpack(simple[kind])[0]
        elif kind == "t":
            v = self.octet() != 0
        elif kind == "S":
            v = self.longstr()
        elif kind == "x":
            v = self.longstr()
        elif kind == "D":
            scale, unscaled = self.unpack(">BI")
            v = (scale, unscaled)
        elif kind == "F":
            v = self.table(typed)
        elif kind == "A":
            sub = Reader(self.longstr())
            v = []
            while sub.pos < len(sub.data):
                v.append(sub.value(typed))
        elif kind == "V":
            v = None
        else:
            raise ValueError(f"unknown field type {kind!r}")
        return Typed(kind, v) if typed else v


def decode_properties(r: Reader, typed_headers: bool = False) -> dict:
    flags = r.short()
    props = {}
    for i, (name, kind) in enumerate(PROPERTY_ORDER):
        if not flags & (1 << (15 - i)):
            continue
        if kind == "shortstr":
            props[name] = r.shortstr()
        elif kind == "table":
            props[name] = r.table(typed_headers)
        elif kind == "octet":
            props[name] = r.octet()
        elif kind == "timestamp":
            props[name] = r.longlong()
    return props


@dataclass
class Frame:
    type: int
    channel: int
    payload: bytes

    @property
    def method(self) -> tuple[int, int] | None:
        if self.type != FRAME_METHOD:
            return None
        return struct.unpack(">HH", self.payload[:4])

    def args(self) -> Reader:
        return Reader(self.payload, 4)


@dataclass
class Close:
    """A connection.close or channel.close received from the broker."""

    kind: str  # "connection" or "channel"
    channel: int
    reply_code: int
    reply_text: str
    class_id: int
    method_id: int


@dataclass
class Start:
    version: tuple[int, int]
    server_properties: dict
    mechanisms: list[str]
    locales: list[str]


@dataclass
class Handshake:
    start: Start
    channel_max: int
    frame_max: int
    heartbeat: int
    tune: tuple[int, int, int] = field(default=(0, 0, 0))  # what the server proposed


# --------------------------------------------------------------------------------------------
# The connection


class RawAMQP:
    def __init__(self, host: str, port: int, timeout: float = 5.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.timeout = timeout
        self.buf = b""
        self.frame_max = 131072

    # ---- low level
    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self, n: int, deadline: float) -> None:
        while len(self.buf) < n:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"timed out waiting for {n} bytes (have {len(self.buf)})")
            self.sock.settimeout(remaining)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                raise TimeoutError(f"timed out waiting for {n} bytes (have {len(self.buf)})")
            except ConnectionResetError as exc:
                raise PeerClosed(f"connection reset: {exc}") from exc
            if not chunk:
                raise PeerClosed(f"peer closed the connection (buffered: {self.buf!r})")
            self.buf += chunk

    def recv_exact(self, n: int, timeout: float | None = None) -> bytes:
        self._fill(n, time.monotonic() + (self.timeout if timeout is None else timeout))
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_frame(self, timeout: float | None = None) -> Frame:
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        self._fill(7, deadline)
        ftype, channel, size = struct.unpack(">BHI", self.buf[:7])
        if ftype == ord("A"):  # a protocol header, not a frame
            raise ValueError(f"got a protocol header instead of a frame: {self.buf[:8]!r}")
        self._fill(7 + size + 1, deadline)
        payload = self.buf[7:7 + size]
        end = self.buf[7 + size]
        self.buf = self.buf[8 + size:]
        if end != FRAME_END:
            raise ValueError(f"bad frame end {end:#x}")
        return Frame(ftype, channel, payload)

    def read_method(self, timeout: float | None = None, skip_heartbeats: bool = True) -> Frame:
        while True:
            f = self.read_frame(timeout)
            if f.type == FRAME_HEARTBEAT and skip_heartbeats:
                continue
            return f

    def expect_method(self, method: tuple[int, int], channel: int | None = None,
                      timeout: float | None = None) -> Frame:
        f = self.read_method(timeout)
        if f.method != method or (channel is not None and f.channel != channel):
            close = decode_close(f)
            raise AssertionError(f"expected method {method} on channel {channel}, got "
                                 f"{f.method} on channel {f.channel}: {close or f.payload!r}")
        return f

    def send_method(self, channel: int, method: tuple[int, int], args: bytes = b"") -> None:
        self.send(method_frame(channel, method, args))

    def peer_closed(self, timeout: float = 5.0) -> bool:
        """True if the broker closes the TCP connection within timeout (data before EOF is dropped)."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            ready, _, _ = select.select([self.sock], [], [], remaining)
            if not ready:
                return False
            try:
                chunk = self.sock.recv(65536)
            except (ConnectionResetError, BrokenPipeError):
                return True
            if not chunk:
                return True

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ---- handshake
    def start(self, header: bytes = PROTOCOL_HEADER) -> Start:
        self.send(header)
        f = self.expect_method(CONNECTION_START, 0)
        r = f.args()
        major, minor = r.octet(), r.octet()
        props = r.table()
        mechanisms = r.longstr().decode().split()
        locales = r.longstr().decode().split()
        return Start((major, minor), props, mechanisms, locales)

    def start_ok(self, user: str, password: str, client_properties: dict | None = None,
                 mechanism: str = "PLAIN", locale: str = "en_US") -> None:
        if client_properties is None:
            client_properties = {"product": "warren-tests rawamqp",
                                 "capabilities": dict(CLIENT_CAPABILITIES)}
        response = b"\x00" + user.encode() + b"\x00" + password.encode()
        self.send_method(0, CONNECTION_START_OK,
                         encode_table(client_properties) + shortstr(mechanism)
                         + longstr(response) + shortstr(locale))

    def handshake(self, user: str = "guest", password: str = "guest", vhost: str = "/",
                  heartbeat: int = 0, frame_max: int | None = None, channel_max: int | None = None,
                  client_properties: dict | None = None) -> Handshake:
        """Protocol header .. open-ok. frame_max/channel_max default to the server's proposal."""
        start = self.start()
        self.start_ok(user, password, client_properties)
        f = self.expect_method(CONNECTION_TUNE, 0)
        s_channel_max, s_frame_max, s_heartbeat = f.args().unpack(">HIH")
        cm = s_channel_max if channel_max is None else channel_max
        fm = s_frame_max if frame_max is None else frame_max
        self.frame_max = fm or 131072
        self.send_method(0, CONNECTION_TUNE_OK, struct.pack(">HIH", cm, fm, heartbeat))
        self.send_method(0, CONNECTION_OPEN, shortstr(vhost) + shortstr("") + b"\x00")
        self.expect_method(CONNECTION_OPEN_OK, 0)
        return Handshake(start, cm, fm, heartbeat, (s_channel_max, s_frame_max, s_heartbeat))

    # ---- a few methods
    def open_channel(self, channel: int) -> None:
        self.send_method(channel, CHANNEL_OPEN, shortstr(""))
        self.expect_method(CHANNEL_OPEN_OK, channel)

    def close_channel(self, channel: int) -> None:
        self.send_method(channel, CHANNEL_CLOSE, close_args())
        self.expect_method(CHANNEL_CLOSE_OK, channel)

    def close_connection(self) -> None:
        self.send_method(0, CONNECTION_CLOSE, close_args())
        self.expect_method(CONNECTION_CLOSE_OK, 0)

    def publish(self, channel: int, exchange: str, routing_key: str, body: bytes,
                props: dict | None = None) -> None:
        self.send(publish_frames(channel, exchange, routing_key, body, props, self.frame_max))

    def queue_declare(self, channel: int, queue: str, exclusive: bool = False,
                      auto_delete: bool = False) -> tuple[str, int, int]:
        bits = (exclusive << 2) | (auto_delete << 3)
        self.send_method(channel, QUEUE_DECLARE, struct.pack(">H", 0) + shortstr(queue)
                         + bytes([bits]) + encode_table({}))
        r = self.expect_method(QUEUE_DECLARE_OK, channel).args()
        return r.shortstr(), r.long(), r.long()

    def basic_get(self, channel: int, queue: str, no_ack: bool = True,
                  typed_headers: bool = True):
        """Returns None (get-empty) or (delivery_tag, redelivered, exchange, routing_key,
        message_count, properties, body)."""
        self.send_method(channel, BASIC_GET, struct.pack(">H", 0) + shortstr(queue)
                         + bytes([1 if no_ack else 0]))
        f = self.read_method()
        if f.method == BASIC_GET_EMPTY:
            return None
        if f.method != BASIC_GET_OK:
            raise AssertionError(f"expected get-ok/get-empty, got {decode_close(f) or f.method}")
        r = f.args()
        tag = r.longlong()
        redelivered = bool(r.octet() & 1)
        exchange, rk = r.shortstr(), r.shortstr()
        count = r.long()
        props, body = self.read_content(typed_headers)
        return tag, redelivered, exchange, rk, count, props, body

    def read_content(self, typed_headers: bool = True) -> tuple[dict, bytes]:
        h = self.read_method()
        assert h.type == FRAME_HEADER, f"expected content header, got frame type {h.type}"
        r = Reader(h.payload)
        r.unpack(">HH")
        size = r.longlong()
        props = decode_properties(r, typed_headers)
        body = b""
        while len(body) < size:
            b = self.read_method()
            assert b.type == FRAME_BODY, f"expected body frame, got type {b.type}"
            body += b.payload
        return props, body

    def wait_close(self, timeout: float | None = None) -> Close:
        """Read (skipping anything else) until the broker sends connection.close or channel.close."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            f = self.read_frame(max(0.0, deadline - time.monotonic()))
            close = decode_close(f)
            if close:
                return close


def decode_close(f: Frame) -> Close | None:
    if f.method not in (CONNECTION_CLOSE, CHANNEL_CLOSE):
        return None
    r = f.args()
    code = r.short()
    text = r.shortstr()
    class_id, method_id = r.short(), r.short()
    kind = "connection" if f.method == CONNECTION_CLOSE else "channel"
    return Close(kind, f.channel, code, text, class_id, method_id)


def decimal_value(scale: int, unscaled: int) -> decimal.Decimal:
    return decimal.Decimal(unscaled).scaleb(-scale)
