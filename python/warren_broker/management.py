"""The few calls of RabbitMQ's management API that the fixtures make (vhosts and permissions)."""

import base64
import json
import urllib.error
import urllib.request
from urllib.parse import quote, urlencode


class ManagementError(RuntimeError):
    """The management API refused a call; the message has its status and reason."""

    def __init__(self, status, text, reason=None):
        super().__init__(text)
        self.status = status
        #: The answer's `reason`, when it had one.
        self.reason = reason if reason is not None else text


class Management:
    def __init__(self, url, user, password, timeout=10.0):
        self.url = url.rstrip("/")
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        self._authorization = f"Basic {token}"
        self._timeout = timeout

    def request(self, method, path, body=None, params=None, timeout=None):
        """Sends one request; returns the decoded JSON answer (None when it has no body)."""
        data = None if body is None else json.dumps(body).encode()
        query = f"?{urlencode(params)}" if params else ""
        request = urllib.request.Request(self.url + path + query, data=data, method=method)
        request.add_header("Authorization", self._authorization)
        request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=timeout or self._timeout) as answer:
                text = answer.read()
        except urllib.error.HTTPError as error:
            answer = error.read().decode("utf-8", "replace")
            try:
                reason = json.loads(answer).get("reason")
            except (ValueError, AttributeError):
                reason = None
            text = f"{method} {path}: {error.code} {answer}"
            raise ManagementError(error.code, text, reason) from None
        return json.loads(text) if text else None

    def create_vhost(self, vhost, user):
        """Creates `vhost` and gives `user` every permission in it."""
        name = quote(vhost, safe="")
        self.request("PUT", f"/api/vhosts/{name}", {})
        everything = {"configure": ".*", "write": ".*", "read": ".*"}
        self.request("PUT", f"/api/permissions/{name}/{quote(user, safe='')}", everything)

    def declare_exchange(self, vhost, name, kind, durable=True):
        """Declares an exchange (as `exchange.declare` would, through the API)."""
        path = f"/api/exchanges/{quote(vhost, safe='')}/{quote(name, safe='')}"
        self.request("PUT", path, {"type": kind, "durable": durable})

    def delete_vhost(self, vhost):
        """Deletes `vhost` (its connections are closed); a vhost already gone is no error."""
        try:
            self.request("DELETE", f"/api/vhosts/{quote(vhost, safe='')}")
        except ManagementError as error:
            if error.status != 404:
                raise
