"""A tiny Celery application for test_celery.py: the worker subprocess runs `celery -A celery_app`.

The broker URL (kombu form) and the queue come from the environment that test_celery.py sets, so
that each run uses its own queue on a possibly shared broker. Results come back over AMQP (rpc://).
"""

from __future__ import annotations

import os

from celery import Celery


def make_app(broker_url: str, queue: str) -> Celery:
    app = Celery("warren_celery_test", broker=broker_url, backend="rpc://")
    app.conf.update(
        task_default_queue=queue,
        task_default_exchange=queue,
        task_default_routing_key=queue,
        result_persistent=False,
        worker_prefetch_multiplier=1,
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=3,
        worker_cancel_long_running_tasks_on_connection_loss=True,
        # no pickle: the messages are what a JSON Celery deployment sends
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
    )

    @app.task(name="warren.add", shared=False)
    def add(x, y):
        return x + y

    @app.task(name="warren.fail", shared=False)
    def fail(text):
        raise ValueError(text)

    return app


app = make_app(os.environ.get("WARREN_CELERY_BROKER", "amqp://guest:guest@127.0.0.1:5672//"),
               os.environ.get("WARREN_CELERY_QUEUE", "warren-celery"))
