"""RabbitMQ topic matching over the wire: bind every pattern below (one queue each) on one topic
exchange, publish every key once, then check which keys each pattern's queue received.

Semantics: words are separated by '.', `*` is exactly one word, `#` is zero or more words anywhere,
empty words are words ("a..b" has three), the empty routing key has zero words.
"""

from __future__ import annotations

import pytest

from conftest import settle, uniq

KEYS = [
    "", "a", "b", "A", "a.b", "a.c", "b.a", "a.b.c", "a.x.b", "a.x.y.b", "a.b.b", "a..b", "a.", ".a",
    ".", "..", "a.b.c.d", "calls.call.created", "calls.created", "calls", "x.b", "b.c",
]

# pattern -> the keys (from KEYS) that must match it
EXPECTED = {
    "": [""],                                  # only the empty key
    "a": ["a"],
    "A": ["A"],                                # case-sensitive
    "*": ["a", "b", "A", "calls"],             # exactly one (non-absent) word; not ""
    "#": KEYS,                                 # everything, including ""
    "#.#": KEYS,
    "*.*": ["a.b", "a.c", "b.a", "a.", ".a", ".", "calls.created", "x.b", "b.c"],
    "a.*": ["a.b", "a.c", "a."],               # "a." is a + one empty word
    "*.a": ["b.a", ".a"],
    "a.#": ["a", "a.b", "a.c", "a.b.c", "a.x.b", "a.x.y.b", "a.b.b", "a..b", "a.", "a.b.c.d"],
    "#.a": ["a", "b.a", ".a"],
    "#.b": ["b", "a.b", "a.x.b", "a.x.y.b", "a.b.b", "a..b", "x.b"],
    "a.#.b": ["a.b", "a.x.b", "a.x.y.b", "a.b.b", "a..b"],  # # in the middle: zero or more words
    "a.*.b": ["a.x.b", "a.b.b", "a..b"],       # the empty middle word is a word
    "a..b": ["a..b"],
    "a.#.#.b": ["a.b", "a.x.b", "a.x.y.b", "a.b.b", "a..b"],
    "*.#": [k for k in KEYS if k != ""],       # at least one word
    "#.*": [k for k in KEYS if k != ""],
    "#.b.#": ["b", "a.b", "b.a", "a.b.c", "a.x.b", "a.x.y.b", "a.b.b", "a..b", "a.b.c.d", "x.b",
              "b.c"],
    "*.b.*": ["a.b.c", "a.b.b"],
    "a.b.c": ["a.b.c"],
    "a.*.#": ["a.b", "a.c", "a.b.c", "a.x.b", "a.x.y.b", "a.b.b", "a..b", "a.", "a.b.c.d"],
    ".": ["."],
    "*.": ["a.", "."],
    "calls.*": ["calls.created"],              # the Wazo doc's pattern: NOT calls.call.created
    "calls.#": ["calls.call.created", "calls.created", "calls"],
    "calls.call.*": ["calls.call.created"],
    "#.created": ["calls.call.created", "calls.created"],
}


@pytest.fixture(scope="module")
def routed(broker):
    """{pattern: [keys received]} for all patterns, computed once for the module."""
    conn = broker.connect()
    try:
        ch = conn.channel()
        x = uniq("topic-table")
        ch.exchange_declare(x, "topic", auto_delete=True)
        queues = {}
        for pattern in EXPECTED:
            q = ch.queue_declare("", exclusive=True).method.queue
            ch.queue_bind(q, x, pattern)
            queues[pattern] = q
        for key in KEYS:
            ch.basic_publish(x, key, key.encode())
        got = settle(ch, list(queues.values()))
        result = {}
        for pattern, q in queues.items():
            keys = [body.decode() for _, _, body in got[q]]
            assert all(m.routing_key == body.decode() for m, _, body in got[q])
            result[pattern] = keys
        ch.exchange_delete(x)
        return result
    finally:
        conn.close()


@pytest.mark.parametrize("pattern", list(EXPECTED), ids=[repr(p) for p in EXPECTED])
def test_topic_pattern(routed, pattern):
    # in publish order, each key at most once
    assert routed[pattern] == [k for k in KEYS if k in EXPECTED[pattern]]
