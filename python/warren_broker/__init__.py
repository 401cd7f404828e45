"""Warren, an AMQP 0-9-1 broker that RabbitMQ's clients use unchanged, for Python test suites.

``Broker`` runs the `warren` binary this package was installed with; the pytest plugin
(``warren_broker.pytest_plugin``, enabled by installing the package) gives the fixtures
``warren_broker``, ``amqp_url``, ``warren_broker_factory`` and ``celery_config``.
"""

from importlib import metadata

from ._binary import BinaryNotFound, find_binary
from .broker import Broker, BrokerError
from .controls import WaitTimeout
from .management import Management, ManagementError

try:
    __version__ = metadata.version("warren-broker")
except metadata.PackageNotFoundError:  # imported from a checkout, not installed
    __version__ = "0+unknown"

__all__ = [
    "BinaryNotFound",
    "Broker",
    "BrokerError",
    "Management",
    "ManagementError",
    "WaitTimeout",
    "find_binary",
]
