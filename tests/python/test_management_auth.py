"""Who may use the management API, as RabbitMQ 3.10 decides it: HTTP basic auth against the
broker's users, then the user's tags. RabbitMQ answers 401 in every refused case, also for a
valid login without the needed tag (not 403): "not_authorized"/"Login failed" (with a z) for bad
credentials, "not_authorised" (with an s) and the missing tag's name otherwise.

(guest is refused from non-loopback addresses on the HTTP side too; the reference node's API
listens on 127.0.0.1 only, so that is not tested here.)"""

from __future__ import annotations

import pytest

import mgmt
from conftest import uniq
from mgmt import api_path, assert_error, connection_named

REALM = 'Basic realm="RabbitMQ Management"'


@pytest.fixture
def user_factory(management, made):
    """user_factory(tags, vhost=None) -> a Management client as a new user with those tags (and
    every permission on `vhost` if given)."""
    def make(tags: str, vhost: str | None = None) -> mgmt.Management:
        name = made.user(uniq("auth"))
        mgmt.expect(management.put(api_path("users", name), {"password": "pw", "tags": tags}), 201)
        if vhost is not None:
            mgmt.expect(management.put(api_path("permissions", vhost, name),
                                       {"configure": ".*", "write": ".*", "read": ".*"}), 201)
        return management.as_user(name, "pw")
    return make


@pytest.fixture
def own_vhost(management, made):
    """A new vhost with one queue in it."""
    v = made.vhost(uniq("authv"))
    mgmt.expect(management.put(api_path("vhosts", v), {}), 201)
    management.declare_queue(v, "in-own-vhost")
    return v


@pytest.mark.parametrize("path", ["/api/overview", "/api/whoami", "/api/queues", "/api/users"])
def test_no_credentials(management, path):
    r = management.as_user(None).get(path)
    assert r.status_code == 401 and r.content == b""
    assert r.headers["www-authenticate"] == REALM


def test_wrong_password_and_unknown_user(management, broker):
    for user, password in ((broker.user, broker.password + "-wrong"), (uniq("nobody"), "pw")):
        r = management.as_user(user, password).get("/api/overview")
        assert_error(r, 401, "not_authorized", "Login failed")
        assert r.headers["www-authenticate"] == REALM


def test_wrong_password_on_a_write(management):
    r = management.as_user("guest", "not-the-password").put(
        api_path("queues", "/", uniq("authq")), {})
    assert_error(r, 401, "not_authorized", "Login failed")


@pytest.mark.parametrize("path", ["/api/overview", "/api/whoami", "/api/queues",
                                  "/api/healthchecks/node", "/api/policies"])
def test_a_user_without_tags_is_refused_everything(user_factory, path):
    r = user_factory("", "/").get(path)
    assert_error(r, 401, "not_authorised", "Not management user")
    assert "www-authenticate" not in r.headers


def test_management_user_is_refused_admin_endpoints(user_factory):
    m = user_factory("management", "/")
    for path in ("/api/users", "/api/definitions", "/api/permissions", "/api/feature-flags",
                 "/api/vhosts/%2F"):
        assert_error(m.get(path), 401, "not_authorised", "Not administrator user")
    assert_error(m.put(api_path("vhosts", uniq("authv")), {}), 401, "not_authorised",
                 "Not administrator user")
    assert_error(m.get("/api/nodes"), 401, "not_authorised", "Not monitor user")
    # what a management user may read
    assert m.json("/api/whoami")["tags"] == ["management"]
    assert m.json("/api/healthchecks/node") == {"status": "ok"}
    assert isinstance(m.json("/api/overview")["object_totals"], dict)


def test_management_user_sees_only_its_vhosts(user_factory, own_vhost, made, management, broker):
    other = made.queue("/", uniq("authq"))
    management.declare_queue("/", other)
    m = user_factory("management", own_vhost)
    assert [v["name"] for v in m.json("/api/vhosts")] == [own_vhost]
    assert [(q["vhost"], q["name"]) for q in m.json("/api/queues")] == \
        [(own_vhost, "in-own-vhost")]
    assert [q["name"] for q in m.json(api_path("queues", own_vhost))] == ["in-own-vhost"]
    assert all(x["vhost"] == own_vhost for x in m.json("/api/exchanges"))
    for path in (api_path("queues", "/"), api_path("queues", "/", other),
                 api_path("aliveness-test", "/")):
        assert_error(m.get(path), 401, "not_authorised",
                     "User not authorised to access virtual host")
    # and it may change things there
    assert m.put(api_path("queues", own_vhost, "made-by-management"), {}).status_code == 201
    assert m.delete(api_path("queues", own_vhost, "made-by-management")).status_code == 204
    # other users' connections are not listed for it
    name = uniq("authconn")
    c = broker.connect(client_properties={"connection_name": name})
    try:
        connection_named(management, name)
        assert name not in [(x.get("client_properties") or {}).get("connection_name")
                            for x in m.json("/api/connections")]
    finally:
        c.close()


def test_monitoring_user_sees_all_but_changes_nothing(user_factory, own_vhost, management, broker):
    m = user_factory("monitoring")
    assert {"/", own_vhost} <= {v["name"] for v in m.json("/api/vhosts")}
    node = management.json("/api/overview")["node"]
    assert node in [n["name"] for n in m.json("/api/nodes")]
    name = uniq("authconn")
    c = broker.connect(client_properties={"connection_name": name})
    try:
        connection_named(m, name)  # guest's connection, listed for the monitoring user
    finally:
        c.close()
    assert_error(m.put(api_path("vhosts", uniq("authv")), {}), 401, "not_authorised",
                 "Not administrator user")
    assert_error(m.get("/api/users"), 401, "not_authorised", "Not administrator user")
    assert_error(m.put(api_path("queues", own_vhost, "nope"), {}), 401, "not_authorised",
                 "User not authorised to access virtual host")
    assert_error(m.get(api_path("queues", own_vhost)), 401, "not_authorised",
                 "User not authorised to access virtual host")


def test_policymaker(user_factory):
    m = user_factory("policymaker", "/")
    assert m.json(api_path("policies", "/")) == []
    assert_error(m.get("/api/users"), 401, "not_authorised", "Not administrator user")
    assert_error(m.get("/api/nodes"), 401, "not_authorised", "Not monitor user")


def test_another_administrator_sees_everything(user_factory, own_vhost):
    m = user_factory("administrator")
    assert "guest" in [u["name"] for u in m.json("/api/users")]
    assert own_vhost in [v["name"] for v in m.json("/api/vhosts")]
    # administrators list every vhost's queues, permissions or not ...
    assert (own_vhost, "in-own-vhost") in [(q["vhost"], q["name"]) for q in m.json("/api/queues")]
    # ... but changing a vhost's objects needs permissions on it
    assert_error(m.put(api_path("queues", own_vhost, "nope"), {}), 401, "not_authorised",
                 "Access refused.")
