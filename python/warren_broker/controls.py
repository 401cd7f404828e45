"""Warren's test controls (`/api/warren/` on the management port), as methods of a broker:
waits that end the race between "the consumer has bound" and "publish now", a peek that leaves
messages in place, the routing trace, and a reset of a vhost between tests."""

import json
from urllib.parse import quote

from .management import ManagementError


class WaitTimeout(TimeoutError):
    """What a wait waited for did not happen in time; the message says what."""


class TestControls:
    """Mixed into a broker that has a `management` client (Broker, and an xdist worker's)."""

    def wait_for_binding(self, exchange, queue, routing_key=None, arguments=None, vhost="/",
                         timeout=5.0):
        """The binding (as GET /api/bindings shows it) once it exists; WaitTimeout if not in
        `timeout` seconds. `routing_key=None` takes any key; `arguments` a headers binding's."""
        params = {"timeout_ms": _ms(timeout)}
        if routing_key is not None:
            params["routing_key"] = routing_key
        if arguments is not None:
            params["arguments"] = json.dumps(arguments)
        return self._wait(("binding", vhost, exchange, queue), params, timeout)

    def wait_for_consumer(self, queue, vhost="/", timeout=5.0):
        """The queue's consumer count once it has one."""
        return self._wait(("consumer", vhost, queue), {"timeout_ms": _ms(timeout)},
                          timeout)["consumers"]

    def wait_for_messages(self, queue, count=1, vhost="/", timeout=5.0):
        """The queue's ready count once it holds at least `count` ready messages."""
        params = {"count": count, "timeout_ms": _ms(timeout)}
        return self._wait(("messages", vhost, queue), params, timeout)["messages"]

    def peek(self, queue, count=100, vhost="/", encoding="auto"):
        """The first ready messages, as POST .../get shows them, left where they are."""
        path = _path("peek", vhost, queue)
        return self.management.request("GET", path, params={"count": count, "encoding": encoding})

    def trace(self, vhost="/", exchange=None, limit=100):
        """The vhost's last publishes, newest first, each with where it went."""
        params = {"limit": limit}
        if exchange is not None:
            params["exchange"] = exchange
        return self.management.request("GET", _path("trace", vhost), params=params)

    def reset(self, vhost="/"):
        """The vhost back to its start state; what was done, counted."""
        return self.management.request("POST", _path("reset", vhost))

    def set_baseline(self, vhost="/"):
        """What the vhost holds now becomes what `reset` brings it back to."""
        self.management.request("POST", _path("baseline", vhost))

    def _wait(self, segments, params, timeout):
        try:
            return self.management.request("GET", _path("wait", *segments), params=params,
                                           timeout=timeout + 10)
        except ManagementError as error:
            if error.status == 408:
                raise WaitTimeout(error.reason) from None
            raise


def _path(*segments):
    return "/api/warren/" + "/".join(quote(segment, safe="") for segment in segments)


def _ms(seconds):
    return int(seconds * 1000)
