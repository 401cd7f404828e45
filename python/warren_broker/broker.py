"""`Broker`: one Warren process, started on free ports and stopped again."""

import json
import os
import select
import signal
import subprocess
import tempfile
import time
from urllib.parse import quote, urlsplit

from ._binary import find_binary
from .controls import TestControls
from .management import Management

#: How many of the log's last lines an error quotes.
LOG_TAIL_LINES = 30


class BrokerError(RuntimeError):
    """Warren could not start, or stopped on its own; the message ends with its log's tail."""


class Broker(TestControls):
    """A Warren broker in a child process.

    ``with Broker() as broker:`` starts it on free ports (``port=0``), returns once it accepts
    AMQP (it writes a ready line when every port listens: no polling, no sleep) and stops it on
    exit (SIGTERM, then waits). ``args`` are more `warren` flags (``["--max-queues", "10"]``).
    Warren's test controls are its methods: ``wait_for_binding``, ``wait_for_consumer``,
    ``wait_for_messages``, ``peek``, ``trace``, ``reset`` (see `warren_broker.controls`).
    ``management_port=None`` runs it without the management API, ``prometheus_port=None``
    without Prometheus metrics.
    """

    def __init__(
        self,
        port=0,
        management_port=0,
        *,
        user="guest",
        password="guest",
        definitions=None,
        args=(),
        host="127.0.0.1",
        prometheus_port=0,
        binary=None,
        timeout=10.0,
        env=None,
    ):
        self.user = user
        self.password = password
        self._host = host
        self._requested = {"amqp": port, "management": management_port, "prometheus": prometheus_port}
        self._definitions = definitions
        self._args = [str(arg) for arg in args]
        self._binary = binary
        self._timeout = timeout
        self._env = env
        self._process = None
        self._log = None
        self._ready = None

    # -- life --------------------------------------------------------------------------------

    def start(self):
        """Starts the process and waits for its ready line; raises BrokerError if it has none."""
        if self.running:
            return self
        command = self.command()
        self._log = tempfile.TemporaryFile(prefix="warren-", suffix=".log")
        read_end, write_end = os.pipe()
        command += ["--ready-file", f"/dev/fd/{write_end}"]
        environment = dict(os.environ if self._env is None else self._env)
        environment.setdefault("WARREN_LOG", "info")
        try:
            self._process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=self._log,
                pass_fds=(write_end,),
                env=environment,
            )
        finally:
            os.close(write_end)
        try:
            line = _read_line(read_end, self._timeout)
        finally:
            os.close(read_end)
        if line is None:
            self._process.kill()
            self._process.wait()
            raise BrokerError(
                f"warren was not ready within {self._timeout} s (a loaded machine? "
                f"Broker(timeout=...) waits longer); {self._log_tail_text()}"
            )
        if not line:
            status = self._process.wait()
            raise BrokerError(
                f"warren exited with status {status} before it was ready; {self._log_tail_text()}"
            )
        self._ready = json.loads(line)
        return self

    def stop(self):
        """SIGTERM (Warren closes its clients with 320 CONNECTION_FORCED), then waits."""
        if self._process is None or self._process.poll() is not None:
            return
        self._process.send_signal(signal.SIGTERM)
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def running(self):
        return self._process is not None and self._process.poll() is None

    def check_running(self, grace=0.0):
        """Raises BrokerError (with the exit status and the log's tail) if the process is gone,
        or goes within `grace` seconds (a broker just killed may not have exited yet)."""
        if self._process is None:
            raise BrokerError("the broker was never started: call start() or use `with Broker()`")
        try:
            status = self._process.wait(timeout=grace) if grace else self._process.poll()
        except subprocess.TimeoutExpired:
            status = None
        if status is not None:
            raise BrokerError(f"warren stopped with status {status}; {self._log_tail_text()}")

    # -- what the process was given and says -------------------------------------------------

    def command(self):
        """The `warren` command line, without the ready file."""
        amqp, management, prometheus = (
            self._requested[door] for door in ("amqp", "management", "prometheus")
        )
        command = [str(find_binary(self._binary)), "--bind", self._host, "--port", str(amqp)]
        if management is None:
            command.append("--no-management")
        else:
            command += ["--management-port", str(management), "--management-bind", self._host]
        if prometheus is None:
            command.append("--no-prometheus")
        else:
            command += ["--prometheus-port", str(prometheus), "--prometheus-bind", self._host]
        if self._definitions is None:
            command += ["--user", self.user, "--password", self.password]
        else:
            command += ["--definitions", str(self._definitions)]
        return command + self._args

    @property
    def pid(self):
        return self._ready_field("pid")

    @property
    def host(self):
        return urlsplit(self._ready_field("amqp")[0]).hostname

    @property
    def port(self):
        return urlsplit(self._ready_field("amqp")[0]).port

    @property
    def amqp_url(self):
        """``amqp://USER:PASSWORD@HOST:PORT/%2F``: the default vhost."""
        return self.url("/")

    def url(self, vhost):
        """The AMQP URL of a vhost, with this broker's user."""
        return self.url_of(self.host, self.port, self.user, self.password, vhost)

    @staticmethod
    def url_of(host, port, user, password, vhost):
        credentials = f"{quote(user, safe='')}:{quote(password, safe='')}"
        return f"amqp://{credentials}@{host}:{port}/{quote(vhost, safe='')}"

    def describe(self):
        """What another process needs to use this broker (pytest-xdist's workers), as a dict."""
        names = ("host", "port", "user", "password", "amqp_url", "management_url",
                 "prometheus_url", "pid")
        return {name: getattr(self, name) for name in names}

    @property
    def management_url(self):
        """``http://HOST:PORT`` of RabbitMQ's management API, or None without it."""
        return self._ready_field("management")

    @property
    def prometheus_url(self):
        return self._ready_field("prometheus")

    @property
    def management(self):
        """A client of the management API, as this broker's user."""
        if self.management_url is None:
            raise BrokerError("this broker runs without the management API (management_port=None)")
        return Management(self.management_url, self.user, self.password)

    @property
    def log(self):
        """Everything the broker has logged so far."""
        if self._log is None:
            return ""
        self._log.flush()
        self._log.seek(0)
        return self._log.read().decode("utf-8", "replace")

    def log_tail(self, lines=LOG_TAIL_LINES):
        return "\n".join(self.log.splitlines()[-lines:])

    def _log_tail_text(self):
        tail = self.log_tail()
        return f"its log ends with:\n{tail}" if tail else "it logged nothing"

    def _ready_field(self, name):
        if self._ready is None:
            raise BrokerError("the broker is not started: call start() or use `with Broker()`")
        return self._ready[name]

    def __repr__(self):
        state = f"pid {self.pid} at {self.amqp_url}" if self.running else "not running"
        return f"<warren_broker.Broker {state}>"


def _read_line(fd, timeout):
    """One line from `fd`: b"" at EOF (the writer died), None when `timeout` passes first."""
    deadline = time.monotonic() + timeout
    data = b""
    while not data.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            return None
        chunk = os.read(fd, 4096)
        if not chunk:
            return b""
        data += chunk
    return data
