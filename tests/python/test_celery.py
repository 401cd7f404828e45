"""Celery end to end: a real worker (subprocess) and a client, both over kombu/py-amqp.

What goes over the broker: task messages to the worker's durable queue (direct exchange of the same
name), results back through the rpc:// backend (a reply queue per client, named in reply_to),
basic.qos raised while a countdown (ETA) task is held unacked, and remote control: the
`celery.pidbox` fanout exchange, the worker's `<node>.celery.pidbox` queue and the client's reply
queue on `reply.celery.pidbox` (both with x-expires / x-message-ttl), which Wazo's Celery users
rely on.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import celery
import pytest
from celery.utils.nodenames import host_format

from celery_app import make_app
from conftest import uniq

HERE = Path(__file__).resolve().parent
WORKER_START_TIMEOUT = 30


@dataclass
class Worker:
    app: celery.Celery
    nodename: str
    queue: str
    proc: subprocess.Popen
    log: Path

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError as exc:
            return f"(no worker log: {exc})"

    def why(self) -> str:
        state = "running" if self.proc.poll() is None else f"exited with {self.proc.returncode}"
        return f"worker {self.nodename} {state}; its log ends with:\n{self.log_tail()}"


def stop(app: celery.Celery, nodename: str, proc: subprocess.Popen) -> None:
    """Remote-control shutdown; then SIGTERM (warm shutdown, which the worker notices only at its
    next timer, up to 10 s later); then SIGKILL. Bounded throughout."""
    if proc.poll() is None:
        try:
            app.control.shutdown(destination=[nodename])
        except Exception:  # noqa: BLE001  the broker may be gone; the signals below still work
            pass
    for how, grace in ((None, 5), (proc.terminate, 12), (proc.kill, 5)):
        if how is not None:
            if proc.poll() is not None:
                return
            how()
        try:
            proc.wait(grace)
            return
        except subprocess.TimeoutExpired:
            continue


@pytest.fixture(scope="module")
def worker(broker, tmp_path_factory):
    queue = uniq("celery")
    nodename = host_format(f"warren-{uuid.uuid4().hex[:8]}@%h")
    log = tmp_path_factory.mktemp("celery") / "worker.log"
    env = dict(os.environ, WARREN_CELERY_BROKER=broker.kombu_url(), WARREN_CELERY_QUEUE=queue,
               PYTHONPATH=os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")])))
    # --pool=threads, not solo: a solo worker runs each task inside its event loop's socket
    # callback and then, now and then, leaves the next delivery unread until its next timer (up to
    # 10 s later) — seen against RabbitMQ as much as against Warren, so a client-side stall.
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "celery_app", "worker", "--pool=threads",
             "--concurrency=1", "--without-gossip", "--without-mingle", "--without-heartbeat",
             "-Q", queue, "-n", nodename, "--loglevel=INFO"],
            cwd=HERE, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
    app = make_app(broker.kombu_url(), queue)
    w = Worker(app, nodename, queue, proc, log)
    try:
        # ready when it answers a remote-control ping (bounded)
        deadline = time.monotonic() + WORKER_START_TIMEOUT
        while not app.control.ping(destination=[nodename], timeout=0.5):
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"celery worker did not answer a ping within {WORKER_START_TIMEOUT} s; "
                            + w.why())
        yield w
    finally:
        stop(app, nodename, proc)
        app.close()
        # the task queue and its exchange are durable: remove them from the (maybe shared) broker
        c = broker.connect()
        try:
            c.channel().queue_delete(queue)
            c.channel().exchange_delete(queue)
        finally:
            c.close()


def test_task_result_comes_back_over_rpc_backend(worker):
    add = worker.app.tasks["warren.add"]
    result = add.delay(2, 3)
    assert result.get(timeout=30) == 5, worker.why()
    assert result.successful() and result.state == "SUCCESS"

    results = [add.delay(i, i) for i in range(10)]
    assert [r.get(timeout=30) for r in results] == [2 * i for i in range(10)]

    # a failing task: the exception travels back as the result
    failing = worker.app.tasks["warren.fail"].delay("boom")
    with pytest.raises(ValueError, match="boom"):
        failing.get(timeout=30)
    assert failing.state == "FAILURE"


def test_countdown_task_is_held_while_later_tasks_run(worker):
    """The worker holds an ETA task unacked and raises its prefetch (basic.qos) so that it can go
    on taking tasks: with prefetch 1 and no working qos change, `now` would wait for `later`."""
    add = worker.app.tasks["warren.add"]
    countdown = 2
    sent = time.monotonic()
    later = add.apply_async((1, 2), countdown=countdown)
    now = add.delay(3, 4)
    assert now.get(timeout=30) == 7, worker.why()
    assert time.monotonic() - sent < countdown, "a countdown task blocked the queue"
    assert not later.ready()
    assert later.get(timeout=30) == 3, worker.why()
    assert time.monotonic() - sent >= countdown - 0.1


def test_remote_control_ping_and_inspect(worker):
    control = worker.app.control
    assert control.ping(destination=[worker.nodename], timeout=5) == \
        [{worker.nodename: {"ok": "pong"}}], worker.why()
    # a broadcast: every worker on the broker answers, ours among them
    replies = control.ping(timeout=1)
    assert {worker.nodename: {"ok": "pong"}} in replies, replies
    queues = control.inspect(destination=[worker.nodename], timeout=5).active_queues()
    assert queues is not None, worker.why()
    assert [q["name"] for q in queues[worker.nodename]] == [worker.queue]
    stats = control.inspect(destination=[worker.nodename], timeout=5).stats()
    assert stats[worker.nodename]["pool"]["max-concurrency"] == 1
