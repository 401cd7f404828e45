"""Queues through the management API: list and one, PUT (declare, with arguments, equivalence),
DELETE (if-empty), DELETE contents, POST get with every ackmode and encoding and truncate, a
queue's bindings, pagination (page, page_size, name, use_regex), columns, sort, sort_reverse, and
the 404s, with RabbitMQ 3.10's exact bodies."""

from __future__ import annotations

import base64

import pytest

import mgmt
from conftest import queue_exists
from mgmt import NOT_FOUND, api_path, assert_error, eventually


@pytest.fixture
def queue(management, made):
    """A fresh classic queue in '/'."""
    name = made.queue("/", mgmt.uniq_name("mq"))
    management.declare_queue("/", name)
    return name


def fill(management, queue, *payloads, properties=None):
    for p in payloads:
        assert management.publish("/", "", queue, p, properties) is True


def counted(management, queue, messages):
    """The queue's answer once its stats say `messages` messages (stats are emitted on an interval)."""
    return eventually(lambda: management.queue("/", queue), lambda q: q["messages"] == messages,
                      what=f"{queue} counting {messages} messages")


def test_put_declares_then_answers_204(management, made, broker, conn):
    name = made.queue("/", mgmt.uniq_name("mq"))
    r = management.put(api_path("queues", "/", name),
                       {"durable": True, "auto_delete": False,
                        "arguments": {"x-max-length": 10, "x-message-ttl": 60000}})
    assert r.status_code == 201 and r.content == b""
    r = management.put(api_path("queues", "/", name),
                       {"durable": True, "arguments": {"x-max-length": 10, "x-message-ttl": 60000}})
    assert r.status_code == 204 and r.content == b""
    q = management.queue("/", name)
    assert (q["name"], q["vhost"], q["durable"], q["auto_delete"], q["exclusive"]) == \
        (name, "/", True, False, False)
    assert q["arguments"] == {"x-max-length": 10, "x-message-ttl": 60000}
    # the AMQP side sees the same queue, with the same arguments (an equivalent passive declare)
    ok = conn.channel().queue_declare(name, durable=True,
                                      arguments={"x-max-length": 10, "x-message-ttl": 60000})
    assert ok.method.queue == name


def test_put_with_an_empty_body_declares_a_transient_queue(management, made):
    name = made.queue("/", mgmt.uniq_name("mq"))
    assert management.put(api_path("queues", "/", name), {}).status_code == 201
    q = management.queue("/", name)
    assert (q["durable"], q["auto_delete"], q["arguments"]) == (False, False, {})


def test_put_inequivalent(management, made):
    name = made.queue("/", mgmt.uniq_name("mq"))
    management.declare_queue("/", name, durable=True, arguments={"x-max-length": 10})
    assert_error(management.put(api_path("queues", "/", name), {"durable": False}), 400,
                 "bad_request", f"inequivalent arg 'durable' for queue '{name}' in vhost '/': "
                                "received 'false' but current is 'true'")
    assert_error(management.put(api_path("queues", "/", name),
                                {"durable": True, "arguments": {"x-max-length": 11}}), 400,
                 "bad_request", f"inequivalent arg 'x-max-length' for queue '{name}' in vhost '/': "
                                "received '11' but current is '10'")


def test_put_invalid_argument(management, made):
    name = made.queue("/", mgmt.uniq_name("mq"))
    assert_error(management.put(api_path("queues", "/", name),
                                {"arguments": {"x-max-length": "ten"}}), 400, "bad_request",
                 f"invalid arg 'x-max-length' for queue '{name}' in vhost '/': "
                 "\"expected integer, got longstr\"")
    assert management.get(api_path("queues", "/", name)).status_code == 404


def test_put_in_an_unknown_vhost(management):
    assert_error(management.put(api_path("queues", mgmt.uniq_name("nov"), "q"), {}), 404,
                 "not_found", "vhost_not_found")


def test_put_amq_prefix_is_refused(management):
    assert_error(management.put(api_path("queues", "/", "amq." + mgmt.uniq_name("mq")), {}), 401,
                 "not_authorised", "Access refused.")


def test_get_one_and_lists(management, queue, made):
    other = made.queue("/", queue + ".other")
    management.declare_queue("/", other, durable=True)
    one = management.queue("/", queue)
    assert one["name"] == queue and one["vhost"] == "/" and one["type"] == "classic"
    assert one["node"] == management.json("/api/overview")["node"]
    for path in ("/api/queues", api_path("queues", "/"), "/api/queues/"):
        mine = {q["name"]: q for q in management.json(path) if q["name"] in (queue, other)}
        assert set(mine) == {queue, other}, path
        assert mine[other]["durable"] is True and mine[queue]["durable"] is False


def test_counts_consumers_and_message_stats(management, queue, broker):
    # Published over AMQP on a channel that stays open: RabbitMQ counts a queue's publishes from
    # the publishing channel's stats, which a short-lived channel (the API's own publish) may
    # close before they are emitted.
    c = broker.connect()
    try:
        ch = c.channel()
        for body in (b"a", b"b", b"c"):
            ch.basic_publish("", queue, body)
        ch.basic_qos(prefetch_count=1)
        ch.basic_consume(queue, lambda *a: None)
        q = eventually(lambda: management.queue("/", queue),
                       lambda q: (q["consumers"], q["messages_ready"], q["messages_unacknowledged"],
                                  q["messages"]) == (1, 2, 1, 3)
                       and q["message_stats"]["publish"] == 3
                       and q["message_stats"]["deliver_get"] >= 1,
                       what="1 consumer, 2 ready, 1 unacked")
        c.process_data_events(time_limit=0)
        assert [d["consumer_tag"] for d in q["consumer_details"]] and \
            q["consumer_details"][0]["prefetch_count"] == 1
        assert q["consumer_details"][0]["ack_required"] is True
        assert q["message_bytes"] == 3 and q["message_bytes_ready"] == 2
    finally:
        c.close()
    eventually(lambda: management.queue("/", queue),
               lambda q: (q["consumers"], q["messages_ready"], q["messages_unacknowledged"]) ==
               (0, 3, 0), what="the unacked message back after the consumer left")


def test_unknown_queue_and_vhost(management):
    for path in (api_path("queues", "/", mgmt.uniq_name("none")),
                 api_path("queues", mgmt.uniq_name("nov")),
                 api_path("queues", mgmt.uniq_name("nov"), "q")):
        r = management.get(path)
        assert r.status_code == 404 and r.json() == NOT_FOUND, path
        assert r.headers["content-type"].startswith("application/json")


def test_delete(management, made, broker):
    name = made.queue("/", mgmt.uniq_name("mq"))
    management.declare_queue("/", name)
    r = management.delete(api_path("queues", "/", name))
    assert r.status_code == 204 and r.content == b""
    assert not queue_exists(broker, name)
    r = management.delete(api_path("queues", "/", name))
    assert r.status_code == 404 and r.json() == NOT_FOUND


def test_delete_if_empty(management, queue):
    fill(management, queue, "x")
    counted(management, queue, 1)
    assert_error(management.delete(api_path("queues", "/", queue) + "?if-empty=true"), 400,
                 "bad_request", f"queue '{queue}' in vhost '/' not empty")
    assert management.delete(api_path("queues", "/", queue, "contents")).status_code == 204
    assert management.delete(api_path("queues", "/", queue) + "?if-empty=true").status_code == 204
    assert management.get(api_path("queues", "/", queue)).status_code == 404


def test_delete_contents(management, queue, ch):
    fill(management, queue, "a", "b")
    r = management.delete(api_path("queues", "/", queue, "contents"))
    assert r.status_code == 204 and r.content == b""
    assert ch.queue_declare(queue, passive=True).method.message_count == 0
    r = management.delete(api_path("queues", "/", mgmt.uniq_name("none"), "contents"))
    assert r.status_code == 404 and r.json() == NOT_FOUND


def test_get_ack_requeue_true_leaves_the_messages(management, queue):
    fill(management, queue, "one", "two", "three", properties={"content_type": "text/plain",
                                                               "headers": {"k": "v"}})
    got = management.get_messages("/", queue, count=2, ackmode="ack_requeue_true")
    assert [m["payload"] for m in got] == ["one", "two"]
    first = got[0]
    assert first == {"payload_bytes": 3, "redelivered": False, "exchange": "", "routing_key": queue,
                     "message_count": 2, "properties": {"content_type": "text/plain",
                                                        "headers": {"k": "v"}},
                     "payload": "one", "payload_encoding": "string"}
    assert got[1]["message_count"] == 1  # left in the queue after this one was taken
    again = management.get_messages("/", queue, count=5, ackmode="ack_requeue_true")
    assert [m["payload"] for m in again] == ["one", "two", "three"]
    assert [m["redelivered"] for m in again] == [True, True, False]


@pytest.mark.parametrize("ackmode,stays", [("ack_requeue_false", False), ("reject_requeue_false", False),
                                           ("ack_requeue_true", True), ("reject_requeue_true", True)])
def test_get_ackmodes(management, queue, ch, ackmode, stays):
    fill(management, queue, "m")
    got = management.get_messages("/", queue, count=1, ackmode=ackmode)
    assert [m["payload"] for m in got] == ["m"]
    assert ch.queue_declare(queue, passive=True).method.message_count == (1 if stays else 0)


def test_get_from_an_empty_queue(management, queue):
    assert management.get_messages("/", queue, count=3) == []


def test_get_encodings_and_truncate(management, queue):
    fill(management, queue, "hello world")
    binary = base64.b64encode(b"\x00\xff\xfe binary").decode()
    assert management.publish("/", "", queue, binary, encoding="base64") is True
    auto = management.get_messages("/", queue, count=2, ackmode="ack_requeue_true")
    assert (auto[0]["payload"], auto[0]["payload_encoding"]) == ("hello world", "string")
    assert (auto[1]["payload"], auto[1]["payload_encoding"]) == (binary, "base64")
    assert auto[1]["payload_bytes"] == 10
    b64 = management.get_messages("/", queue, count=1, ackmode="ack_requeue_true",
                                  encoding="base64")
    assert (b64[0]["payload"], b64[0]["payload_encoding"]) == \
        (base64.b64encode(b"hello world").decode(), "base64")
    cut = management.get_messages("/", queue, count=1, ackmode="ack_requeue_true", truncate=5)
    assert (cut[0]["payload"], cut[0]["payload_bytes"]) == ("hello", 11)


def test_get_without_properties_answers_an_empty_list(management, queue):
    # RabbitMQ's quirk: no properties at all is [] (an empty proplist), not {}
    fill(management, queue, "bare")
    assert management.get_messages("/", queue)[0]["properties"] == []


def test_get_bad_requests(management, queue):
    path = api_path("queues", "/", queue, "get")
    assert_error(management.post(path, {"count": 1, "ackmode": "ack_requeue_true",
                                        "encoding": "bogus"}), 400, "bad_request",
                 "Unsupported encoding. Please use auto or base64.")
    assert_error(management.post(path, {"count": 1, "ackmode": "ack_requeue_true"}), 400,
                 "bad_request", "[{key_missing,encoding}]")
    assert_error(management.post(path, {"ackmode": "ack_requeue_true", "encoding": "auto"}), 400,
                 "bad_request", "[{key_missing,count}]")
    none = mgmt.uniq_name("none")
    assert_error(management.post(api_path("queues", "/", none, "get"),
                                 {"count": 1, "ackmode": "ack_requeue_true", "encoding": "auto"}),
                 404, "not_found", f"NOT_FOUND - no queue '{none}' in vhost '/'")


def test_bindings_of_a_queue(management, queue, made):
    x = made.exchange("/", queue + ".x")
    management.declare_exchange("/", x, "topic")
    mgmt.expect(management.post(api_path("bindings", "/", "e", x, "q", queue),
                                {"routing_key": "a.#", "arguments": {}}), 201)
    bindings = management.json(api_path("queues", "/", queue, "bindings"))
    assert bindings == [
        {"source": "", "vhost": "/", "destination": queue, "destination_type": "queue",
         "routing_key": queue, "arguments": {}, "properties_key": mgmt.q(queue)},
        {"source": x, "vhost": "/", "destination": queue, "destination_type": "queue",
         "routing_key": "a.#", "arguments": {}, "properties_key": "a.%23"}]


@pytest.fixture(scope="module")
def five(management, broker):
    """Five queues named <base>.c .a .b .e .d holding 0..4 messages, stats out (read only)."""
    base = mgmt.uniq_name("page")
    names = [f"{base}.{c}" for c in "cabed"]
    made = mgmt.Made(management)
    c = broker.connect()
    try:
        ch = c.channel()
        for i, n in enumerate(names):
            made.queue("/", n)
            management.declare_queue("/", n)
            for j in range(i):
                ch.basic_publish("", n, b"x" * (j + 1))
        for i, n in enumerate(names):  # the publishing channel open until its stats are out
            eventually(lambda: management.queue("/", n),
                       lambda q: q["messages"] == i
                       and q.get("message_stats", {}).get("publish", 0) == i,
                       what=f"{n} counting {i} messages")
        c.close()
        yield base, names
    finally:
        if c.is_open:
            c.close()
        made.delete_all()


def page(management, query):
    return management.json(api_path("queues", "/") + "?" + query)


def test_pagination_envelope(management, five):
    base, _ = five
    p = page(management, f"page=1&page_size=2&name={base}&columns=name")
    assert set(p) == {"filtered_count", "item_count", "items", "page", "page_count", "page_size",
                      "total_count"}
    assert (p["filtered_count"], p["item_count"], p["page"], p["page_count"], p["page_size"]) == \
        (5, 2, 1, 3, 2)
    assert p["total_count"] >= 5  # every queue of the vhost, before the name filter
    assert p["items"] == [{"name": f"{base}.a"}, {"name": f"{base}.b"}]
    last = page(management, f"page=3&page_size=2&name={base}&columns=name")
    assert (last["item_count"], last["items"]) == (1, [{"name": f"{base}.e"}])


def test_pagination_errors(management, five):
    base, _ = five
    assert_error(management.get(api_path("queues", "/") + f"?page=4&page_size=2&name={base}"),
                 400, "page_out_of_range", "Page out of range, page: 4 page size: 2, len: 5")
    assert_error(management.get(api_path("queues", "/") + "?page=0&page_size=2"), 400,
                 "invalid_pagination_parameters",
                 "Invalid pagination parameters: page number 0, page size 2")
    assert_error(management.get(api_path("queues", "/") + "?page=1&page_size=501"), 400,
                 "invalid_pagination_parameters",
                 "Invalid pagination parameters: page number 1, page size 501")
    assert_error(management.get(api_path("queues", "/") + "?page=x"), 400, "bad_request",
                 "Pagination parameters are invalid")


def test_pagination_default_page_size_and_empty_filter(management, five):
    base, _ = five
    p = page(management, f"page=1&name={base}&columns=name")
    assert (p["page_size"], p["item_count"]) == (100, 5)
    none = page(management, f"page=1&name={base}.zzz&columns=name")
    assert (none["filtered_count"], none["item_count"], none["page_count"], none["items"]) == \
        (0, 0, 0, [])


def test_name_filter(management, five):
    base, _ = five
    # without use_regex: a case-insensitive substring, regex characters taken literally
    upper = page(management, f"page=1&name={base.upper()}&columns=name")
    assert upper["filtered_count"] == 5
    literal = page(management, "page=1&name=" + mgmt.q(f"{base}.[ab]") + "&columns=name")
    assert literal["filtered_count"] == 0
    regex = page(management, "page=1&use_regex=true&columns=name&name="
                 + mgmt.q(base.replace(".", "\\.") + "\\.(a|b)$"))
    assert [i["name"] for i in regex["items"]] == [f"{base}.a", f"{base}.b"]


def test_name_filter_needs_page(management, five):
    # without `page`, the answer is the whole unpaged list: `name` is ignored
    base, names = five
    plain = management.json(api_path("queues", "/") + f"?name={base}.a&columns=name")
    assert isinstance(plain, list)
    assert set(names) <= {q["name"] for q in plain}


def test_columns(management, five):
    base, _ = five
    p = page(management, f"page=1&name={base}&columns=name,messages,message_stats.publish")
    item = p["items"][4]
    assert item == {"name": f"{base}.e", "messages": 3, "message_stats": {"publish": 3}}
    plain = management.json(api_path("queues", "/", f"{base}.d") + "?columns=name,vhost")
    assert plain == {"name": f"{base}.d", "vhost": "/"}


def test_sort(management, five):
    base, names = five
    by_name = page(management, f"page=1&name={base}&columns=name&sort=name")
    assert [i["name"] for i in by_name["items"]] == sorted(names)
    reverse = page(management, f"page=1&name={base}&columns=name&sort=name&sort_reverse=true")
    assert [i["name"] for i in reverse["items"]] == sorted(names, reverse=True)
    by_messages = page(management, f"page=1&name={base}&columns=name,messages&sort=messages")
    assert [i["messages"] for i in by_messages["items"]] == [0, 1, 2, 3, 4]
    assert [i["name"] for i in by_messages["items"]] == names
    desc = page(management,
                f"page=1&name={base}&columns=name,messages&sort=messages&sort_reverse=true")
    assert [i["messages"] for i in desc["items"]] == [4, 3, 2, 1, 0]
    # the default order is by name; sort_reverse alone reverses it
    assert [i["name"] for i in page(management, f"page=1&name={base}&columns=name")["items"]] == \
        sorted(names)
    assert [i["name"] for i in page(management, f"page=1&name={base}&columns=name"
                                                "&sort_reverse=true")["items"]] == \
        sorted(names, reverse=True)


def test_sort_unpaged_list(management, five):
    base, names = five
    listed = management.json(api_path("queues", "/") + "?columns=name,messages&sort=messages"
                             "&sort_reverse=true")
    mine = [q for q in listed if q["name"].startswith(base)]
    assert [q["messages"] for q in mine] == [4, 3, 2, 1, 0]
