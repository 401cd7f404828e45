"""`warren-rabbitmq-server` and `warren-rabbitmqctl`: Warren behind the two commands that
pytest-rabbitmq, docker-compose healthchecks and scripts written for RabbitMQ call.

They read RabbitMQ's environment, as rabbitmq-server and rabbitmqctl do:

- ``RABBITMQ_NODE_PORT`` (5672) and ``RABBITMQ_NODE_IP_ADDRESS`` (Warren's default addresses,
  127.0.0.1 and ::1): where AMQP listens;
- ``RABBITMQ_NODENAME`` (``rabbit@HOST``) and ``RABBITMQ_MNESIA_BASE`` (a folder under the system's
  temporary directory): the server writes ``MNESIA_BASE/NODENAME.warren.json`` once it listens,
  and rabbitmqctl (``-n NODE`` or the same variables) reads there where the node's management
  API is — so several nodes run side by side on free management ports, as pytest-rabbitmq runs them;
- ``RABBITMQ_DEFAULT_USER`` / ``RABBITMQ_DEFAULT_PASS`` (guest/guest), as RabbitMQ's Docker image
  reads them.

Other RABBITMQ_* variables (the distribution port, plugins and log files) name Erlang's machinery
and are ignored. The server execs `warren`, so a signal sent to it reaches the broker itself.
"""

import json
import os
import socket
import sys
import tempfile
import time
from pathlib import Path

from ._binary import BinaryNotFound, find_binary

#: How long rabbitmqctl waits for a node file whose server has just started listening (the file
#: is written right after the ports are bound, so a client of the AMQP port may come first).
NODE_FILE_GRACE = 2.0


def server(argv=None, environ=None):
    """rabbitmq-server: runs Warren in the foreground, on RabbitMQ's environment."""
    environ = os.environ if environ is None else environ
    argv = sys.argv[1:] if argv is None else argv
    binary = _binary_or_exit()
    node_file = node_file_path(node_name(environ), environ)
    node_file.parent.mkdir(parents=True, exist_ok=True)
    node_file.unlink(missing_ok=True)
    command = [str(binary), "--port", environ.get("RABBITMQ_NODE_PORT", "5672")]
    if environ.get("RABBITMQ_NODE_IP_ADDRESS"):
        command += ["--bind", environ["RABBITMQ_NODE_IP_ADDRESS"]]
    # Free ports unless the user chose some (WARREN_*): a second node must not collide.
    for flag, variable in (("--management-port", "WARREN_MANAGEMENT_PORT"),
                           ("--prometheus-port", "WARREN_PROMETHEUS_PORT")):
        if variable not in environ:
            command += [flag, "0"]
    command += ["--user", environ.get("RABBITMQ_DEFAULT_USER", "guest"),
                "--password", environ.get("RABBITMQ_DEFAULT_PASS", "guest"),
                "--ready-file", str(node_file), *argv]
    sys.stdout.flush()
    os.execv(command[0], command)


def ctl(argv=None, environ=None):
    """rabbitmqctl (and rabbitmq-diagnostics' ping): `warren ctl` against the named node."""
    environ = dict(os.environ if environ is None else environ)
    argv = list(sys.argv[1:] if argv is None else argv)
    binary = _binary_or_exit()
    node, argv = _take_node_option(argv)
    node = node or node_name(environ)
    if "WARREN_MANAGEMENT_URL" not in environ:
        url = _management_url_of(node_file_path(node, environ))
        if url is not None:
            environ["WARREN_MANAGEMENT_URL"] = url
    for ours, rabbitmqs in (("WARREN_CTL_USERNAME", "RABBITMQ_DEFAULT_USER"),
                            ("WARREN_CTL_PASSWORD", "RABBITMQ_DEFAULT_PASS")):
        if ours not in environ and rabbitmqs in environ:
            environ[ours] = environ[rabbitmqs]
    command = [str(binary), "ctl", *argv]
    sys.stdout.flush()
    os.execve(command[0], command, environ)


def node_name(environ):
    """RABBITMQ_NODENAME, or RabbitMQ's default rabbit@<short host name>."""
    return environ.get("RABBITMQ_NODENAME") or f"rabbit@{socket.gethostname().split('.')[0]}"


def node_file_path(node, environ):
    """Where a node's server tells its URLs: beside RabbitMQ's own per-node folder."""
    base = environ.get("RABBITMQ_MNESIA_BASE") or os.path.join(tempfile.gettempdir(), "warren-rabbitmq")
    return Path(base) / f"{node}.warren.json"


def _management_url_of(node_file):
    """The management URL the node's server wrote, or None when no such server has run
    (then `warren ctl` tries its default, as rabbitmqctl tries the default node)."""
    deadline = time.monotonic() + NODE_FILE_GRACE
    while True:
        try:
            return json.loads(node_file.read_text())["management"]
        # Not there yet, or being written (the line is not whole yet).
        except (FileNotFoundError, ValueError, KeyError):
            if time.monotonic() >= deadline:
                return None
        time.sleep(0.01)


def _take_node_option(argv):
    """Removes rabbitmqctl's -n NODE / --node NODE / --node=NODE; returns (node, the rest)."""
    node, rest = None, []
    arguments = iter(argv)
    for argument in arguments:
        if argument in ("-n", "--node"):
            node = next(arguments, None)
        elif argument.startswith("--node="):
            node = argument.split("=", 1)[1]
        elif argument.startswith("-n") and len(argument) > 2:
            node = argument[2:]
        else:
            rest.append(argument)
    return node, rest


def _binary_or_exit():
    try:
        return find_binary()
    except BinaryNotFound as error:
        sys.exit(f"{Path(sys.argv[0]).name}: {error}")
