"""Bad input to the management API, answered as RabbitMQ 3.10 (Debian's 3.10.8+deb12u1) answers
it: malformed JSON, a body too large, unknown paths, methods a path does not have (405 with
Allow), HEAD and OPTIONS; and the broker goes on afterwards."""

from __future__ import annotations

import pytest

import mgmt
from conftest import assert_broker_healthy
from mgmt import NOT_FOUND, api_path, assert_error

JSON = {"content-type": "application/json"}


@pytest.mark.parametrize("body", [b'{"durable": tru', b"not json", b"[1, 2]"])
def test_malformed_json(management, body):
    name = mgmt.uniq_name("err")
    r = management.put(api_path("queues", "/", name), data=body, headers=JSON)
    assert_error(r, 400, "bad_request", "not_json")
    assert management.get(api_path("queues", "/", name)).status_code == 404


def test_doubly_encoded_json(management):
    r = management.put(api_path("queues", "/", mgmt.uniq_name("err")), data=b'"a string"',
                       headers=JSON)
    assert_error(r, 400, "bad_request", "invalid payload: the request body JSON-decoded to a "
                                        "string. Is the input doubly-JSON-encoded?")


def test_malformed_json_on_post(management):
    r = management.post(api_path("exchanges", "/", "amq.direct", "publish"), data=b"{bad",
                        headers=JSON)
    assert_error(r, 400, "bad_request", "not_json")


def test_wrong_json_type_for_a_field(management):
    r = management.put(api_path("queues", "/", mgmt.uniq_name("err")), {"durable": "yes"})
    assert_error(r, 400, "bad_request", ["not_boolean", "yes"])


def test_huge_body(management, broker):
    # Cowboy hands the body over in chunks of 8,000,000 bytes; the limit is checked before each
    # further chunk, so up to 8 MB is read whole and anything longer is refused with a 400 (not 413)
    head = b'{"routing_key":"nowhere","payload_encoding":"string","properties":{},"payload":"'
    path = api_path("exchanges", "/", "amq.direct", "publish")
    fits = head + b"a" * (7_900_000 - len(head) - 2) + b'"}'
    r = management.post(path, data=fits, headers=JSON)
    assert r.status_code == 200 and r.json() == {"routed": False}
    huge = head + b"a" * 16_000_000 + b'"}'
    assert_error(management.post(path, data=huge, headers=JSON), 400, "bad_request",
                 "Exceeded HTTP request body size limit")
    assert management.json("/api/whoami")["name"] == broker.user
    assert_broker_healthy(broker)


@pytest.mark.parametrize("path", ["/api/nothing", "/api/nothing/here", "/nothing",
                                  "/api/overview/nothing"])
def test_unknown_paths(management, path):
    r = management.get(path)
    assert r.status_code == 404 and r.json() == NOT_FOUND


@pytest.mark.parametrize("method,path,allow", [
    ("DELETE", "/api/overview", "HEAD, GET, OPTIONS"),
    ("PUT", "/api/overview", "HEAD, GET, OPTIONS"),
    ("POST", "/api/whoami", "HEAD, GET, OPTIONS"),
    ("POST", "/api/queues", "HEAD, GET, OPTIONS"),
    ("POST", "/api/queues/%2F", "HEAD, GET, OPTIONS"),
    ("DELETE", "/api/nodes", "HEAD, GET, OPTIONS"),
    ("PATCH", "/api/queues/%2F/q", "HEAD, GET, PUT, DELETE, OPTIONS"),
])
def test_wrong_method(management, method, path, allow):
    r = management.request(method, path)
    assert r.status_code == 405 and r.content == b""
    assert r.headers["allow"] == allow


def test_head_and_options(management):
    get = management.get("/api/whoami")
    head = management.request("HEAD", "/api/whoami")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-type"].startswith("application/json")
    assert int(head.headers["content-length"]) == len(get.content)
    options = management.request("OPTIONS", "/api/whoami")
    assert options.status_code == 200 and options.headers["allow"] == "HEAD, GET, OPTIONS"


def test_trailing_slash(management):
    assert management.json("/api/overview/")["node"] == management.json("/api/overview")["node"]
    assert isinstance(management.json("/api/queues/%2F/"), list)


def test_json_content_type(management):
    for path in ("/api/overview", "/api/queues", api_path("queues", "/", mgmt.uniq_name("none"))):
        assert management.get(path).headers["content-type"] == "application/json", path
