"""Celery's fixtures (celery_app, celery_worker) come from its own plugin, enabled here as its
documentation says; warren-broker's celery_config must win over Celery's `{}` even so."""

pytest_plugins = ("celery.contrib.pytest",)
