"""The pytest plugin of warren-broker (the `pytest11` entry point `warren_broker`).

Fixtures:

- ``warren_broker`` (session): a `Broker` on free ports, started at its first use. Under
  pytest-xdist the controller runs one broker and every worker uses it.
- ``amqp_url`` (function): ``amqp://guest:guest@127.0.0.1:PORT/VHOST`` on a vhost made for this
  test (with Warren's `xivo` and `wazo-headers` exchanges) and deleted after it, so tests never
  see each other's queues and run in parallel against one broker; ``amqp_url.vhost`` names it.

The broker fixtures have Warren's test controls as methods: ``wait_for_binding``,
``wait_for_consumer``, ``wait_for_messages``, ``peek``, ``trace``, ``reset``.
- ``warren_broker_factory`` (function): ``warren_broker_factory(**Broker_kwargs)`` starts another
  broker, stopped after the test.
- ``celery_config`` (session): Celery's fixture, pointing Celery at a vhost of its own.

Options (and ini keys): ``--warren-bin`` (``warren_bin``) names the binary to run instead of the
packaged one, ``--warren-port`` (``warren_port``) a fixed AMQP port instead of a free one, and
``--warren-arg`` (``warren_arg``, repeatable) passes flags to `warren`.

A broker that dies during a test fails that test, with its log's tail; the next test gets a new
one (under xdist, where the controller owns it, the tests after it fail with the same reason).
"""

import itertools
import json
import os
import re
import shlex

import pytest

from .broker import Broker, BrokerError
from .controls import TestControls
from .management import Management

#: The key of the controller's broker in an xdist worker's `workerinput`.
XDIST_KEY = "warren_broker"

#: What a Wazo stack finds on its vhost before anyone declares it (Asterisk publishes to
#: `wazo-headers` unasked): Warren has them on `/`; the fixtures' vhosts get them too.
WAZO_EXCHANGES = (("xivo", "topic"), ("wazo-headers", "headers"))


def pytest_addoption(parser):
    group = parser.getgroup("warren_broker", "Warren AMQP broker (warren-broker)")
    group.addoption("--warren-bin", help="the warren binary to run (default: the packaged one)")
    group.addoption("--warren-port", type=int, help="the AMQP port (default: a free one)")
    group.addoption("--warren-arg", action="append", default=[], metavar="ARG",
                    help="a flag for warren, e.g. --warren-arg=--max-queues=100 (repeatable)")
    parser.addini("warren_bin", "the warren binary to run (default: the packaged one)")
    parser.addini("warren_port", "the AMQP port of the warren_broker fixture (default: free)")
    parser.addini("warren_arg", "flags for warren, split as a shell would", type="args")


def pytest_configure(config):
    config.pluginmanager.register(_CeleryConfig(), "warren_broker_celery_config")
    config.pluginmanager.register(_Session(config), "warren_broker_session")


def broker_options(config):
    """Broker keyword arguments from the command line and the ini file."""
    port = config.getoption("warren_port") or config.getini("warren_port") or 0
    try:
        port = int(port)
    except ValueError:
        raise pytest.UsageError(f"warren_port must be a port number, not {port!r}") from None
    args = [*config.getini("warren_arg"),
            *itertools.chain.from_iterable(shlex.split(arg) for arg in config.getoption("warren_arg"))]
    return {
        "port": port,
        "binary": config.getoption("warren_bin") or config.getini("warren_bin") or None,
        "args": args,
    }


class _Session:
    """The session's broker: started on first use, restarted after it died, stopped at the end."""

    def __init__(self, config):
        self.config = config
        self.broker = None
        self._vhosts = itertools.count(1)

    # -- xdist: the controller's broker is handed to each worker ---------------------------

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node):
        broker = self.get()
        node.workerinput[XDIST_KEY] = json.dumps(broker.describe())

    def get(self):
        """The running broker (started, or restarted after it died)."""
        workerinput = getattr(self.config, "workerinput", {})
        if XDIST_KEY in workerinput:
            if self.broker is None:
                self.broker = AttachedBroker(json.loads(workerinput[XDIST_KEY]))
            return self.broker
        if self.broker is None:
            self.broker = Broker(**broker_options(self.config))
        if not self.broker.running:
            self.broker.start()
        return self.broker

    def new_vhost(self, nodeid):
        """A vhost for one test (or for Celery): the broker's user may do anything there, and
        the Wazo exchanges are declared."""
        worker = getattr(self.config, "workerinput", {}).get("workerid", "main")
        test = re.sub(r"[^A-Za-z0-9_.-]+", "-", nodeid.rsplit("::", 1)[-1])[:64]
        vhost = f"pytest-{worker}-{next(self._vhosts)}-{test}"
        management = self.get().management
        management.create_vhost(vhost, self.broker.user)
        for name, kind in WAZO_EXCHANGES:
            management.declare_exchange(vhost, name, kind)
        self.broker.set_baseline(vhost)  # a reset keeps the Wazo exchanges
        return vhost

    def pytest_unconfigure(self, config):
        if isinstance(self.broker, Broker):
            self.broker.stop()

    # Celery's own plugin (celery.contrib.pytest) defines celery_config as `{}`. This hook also
    # hears of plugins registered before it; either way ours is registered again behind it.
    def pytest_plugin_registered(self, plugin, manager):
        name = "warren_broker_celery_config_after_celery"
        if getattr(plugin, "__name__", None) == "celery.contrib.pytest" and not manager.has_plugin(name):
            manager.register(_CeleryConfig(), name)


class AttachedBroker(TestControls):
    """A broker another process runs (the xdist controller's): its URLs, not its process."""

    def __init__(self, description):
        self._description = description
        self.user = description["user"]
        self.password = description["password"]

    running = True

    def check_running(self, grace=0.0):
        """The controller watches the process; a worker learns of its death by failing to connect."""

    def __getattr__(self, name):
        try:
            return self._description[name]
        except KeyError:
            raise AttributeError(name) from None

    def url(self, vhost):
        return Broker.url_of(self.host, self.port, self.user, self.password, vhost)

    @property
    def management(self):
        return Management(self.management_url, self.user, self.password)

    def log_tail(self, lines=None):
        return "(the broker runs in the xdist controller: see its output)"


class AmqpUrl(str):
    """The `amqp_url` fixture's value: the URL, which also knows its vhost (``.vhost``), for
    the test controls: ``warren_broker.wait_for_binding("xivo", queue, vhost=amqp_url.vhost)``."""

    def __new__(cls, url, vhost):
        value = super().__new__(cls, url)
        value.vhost = vhost
        return value


@pytest.fixture(scope="session")
def warren_broker(pytestconfig):
    """The session's Warren (a `Broker`): ``warren_broker.amqp_url``, ``.management_url``..."""
    return _session(pytestconfig).get()


@pytest.fixture
def amqp_url(request, pytestconfig):
    """An AMQP URL on a fresh vhost of this test's own, deleted after it."""
    session = _session(pytestconfig)
    broker = session.get()
    vhost = session.new_vhost(request.node.nodeid)
    yield AmqpUrl(broker.url(vhost), vhost)
    try:
        broker.check_running()
        try:
            broker.management.delete_vhost(vhost)
        except OSError:  # the API does not answer: a broker killed a moment ago, or another fault
            broker.check_running(grace=2.0)
            raise
    except BrokerError as error:
        pytest.fail(f"the Warren broker stopped during this test: {error}", pytrace=False)


@pytest.fixture
def warren_broker_factory(pytestconfig):
    """``warren_broker_factory(**kwargs)``: another started `Broker`, stopped after the test."""
    started = []
    defaults = broker_options(pytestconfig)
    defaults["port"] = 0

    def start(**kwargs):
        broker = Broker(**{**defaults, **kwargs})
        started.append(broker)
        return broker.start()

    yield start
    for broker in started:
        broker.stop()


class _CeleryConfig:
    """Holds ``celery_config``: a plugin object, so that another one can be registered behind
    Celery's plugin when that comes later (the fixture registered last is the one used)."""

    @pytest.fixture(scope="session")
    @classmethod
    def celery_config(cls, pytestconfig):
        """Celery's configuration: its broker on a vhost of its own, results over AMQP (rpc)."""
        session = _session(pytestconfig)
        vhost = session.new_vhost("celery")
        return {"broker_url": session.get().url(vhost), "result_backend": "rpc://"}


def _session(config):
    return config.pluginmanager.get_plugin("warren_broker_session")


def pytest_report_header(config):
    options = broker_options(config)
    where = options["binary"] or os.environ.get("WARREN_BIN") or "the packaged warren"
    return f"warren_broker: {where}"
