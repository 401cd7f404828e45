"""Start-up as a Python test suite meets it: from entering `warren_broker.Broker()` to the first
AMQP connection open (pika), against pytest-rabbitmq's RabbitMqExecutor starting Debian's
RabbitMQ to the same first connection; and what the `amqp_url` fixture adds to each test (a
vhost made and deleted over the management API). Prints the median and the spread of each.

    python benches/python/startup.py [--runs 20] [--rabbitmq-runs 5]

Run it in the venv tests/python-package makes (the wheel, pytest-rabbitmq), or any venv with
warren-broker and pytest-rabbitmq installed; `--rabbitmq-runs 0` skips RabbitMQ.
"""

import argparse
import socket
import statistics
import tempfile
import time
from pathlib import Path

import pika

from warren_broker import Broker


def first_connection(port):
    connection = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", port))
    connection.close()


def warren_once():
    started = time.perf_counter()
    with Broker() as broker:
        first_connection(broker.port)
        return time.perf_counter() - started


def vhost_per_test(broker, runs):
    """The amqp_url fixture's work around one test: create the vhost (and the permissions), then
    delete it."""
    times = []
    for run in range(runs):
        started = time.perf_counter()
        broker.management.create_vhost(f"bench-{run}", broker.user)
        broker.management.delete_vhost(f"bench-{run}")
        times.append(time.perf_counter() - started)
    return times


def rabbitmq_once():
    from pytest_rabbitmq.factories.executor import RabbitMqExecutor

    with tempfile.TemporaryDirectory() as tmp:
        port, dist_port = free_port(), free_port()
        executor = RabbitMqExecutor(
            "/usr/lib/rabbitmq/bin/rabbitmq-server", "127.0.0.1", port, dist_port,
            "/usr/lib/rabbitmq/bin/rabbitmqctl", logpath=Path(tmp) / "logs", path=Path(tmp),
            plugin_path=Path(tmp))
        started = time.perf_counter()
        executor.start()
        try:
            first_connection(port)
            return time.perf_counter() - started
        finally:
            executor.stop()


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def report(name, seconds):
    ms = sorted(s * 1000 for s in seconds)
    print(f"{name}: median {statistics.median(ms):.1f} ms over {len(ms)} runs "
          f"(min {ms[0]:.1f}, max {ms[-1]:.1f})")
    return statistics.median(ms)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--rabbitmq-runs", type=int, default=5)
    options = parser.parse_args()
    warren_once()  # the binary's pages into the page cache, as after the first test run
    warren = report("warren_broker.Broker()", [warren_once() for _ in range(options.runs)])
    with Broker() as broker:
        report("amqp_url's vhost, made and deleted", vhost_per_test(broker, options.runs))
    if options.rabbitmq_runs:
        rabbitmq = report("pytest-rabbitmq + RabbitMQ",
                          [rabbitmq_once() for _ in range(options.rabbitmq_runs)])
        print(f"ratio: RabbitMQ takes {rabbitmq / warren:.0f}x as long")


if __name__ == "__main__":
    main()
