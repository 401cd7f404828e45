"""The plugin seen from outside: a pytest run of its own (pytester, in a subprocess) for each
way a broker can fail, proving the failing test says why and the rest of the session goes on;
its options; and the per-test vhost going away after the test."""

import socket

import pytest

A_TEST_WITHOUT_THE_BROKER = """
def test_without_the_broker():
    assert True
"""


def test_a_missing_binary_fails_the_tests_that_need_it(pytester):
    pytester.makepyfile(A_TEST_WITHOUT_THE_BROKER + """
def test_with_the_broker(amqp_url):
    pass
""")
    result = pytester.runpytest_subprocess("--warren-bin", "/nonexistent/warren")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*the warren binary /nonexistent/warren does not exist*"])


def test_a_taken_port_fails_with_the_log_tail(pytester):
    pytester.makepyfile(A_TEST_WITHOUT_THE_BROKER + """
def test_with_the_broker(amqp_url):
    pass

def test_with_it_again(warren_broker):
    pass
""")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = pytester.runpytest_subprocess("--warren-port", str(port))
    result.assert_outcomes(passed=1, errors=2)
    result.stdout.fnmatch_lines([
        "*warren exited with status 1 before it was ready; its log ends with:*",
        f"*cannot listen on 127.0.0.1:{port}*",
    ])


def test_a_broker_killed_during_a_test_fails_that_test_and_the_next_gets_a_new_one(pytester):
    pytester.makepyfile("""
import os, signal
import pika

def test_kills_the_broker(amqp_url, warren_broker):
    os.kill(warren_broker.pid, signal.SIGKILL)

def test_after_it(amqp_url):
    pika.BlockingConnection(pika.URLParameters(amqp_url)).close()
""")
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines([
        "*the Warren broker stopped during this test: warren stopped with status -9;*",
        "*Server startup complete*",
    ])


def test_options_and_ini_keys_reach_the_broker(pytester):
    pytester.makeini("""
[pytest]
warren_arg = --max-queues 1
""")
    pytester.makepyfile("""
import pika, pytest

def test_the_limit_holds(warren_broker, amqp_url, pytestconfig):
    assert warren_broker.port == pytestconfig.getoption("warren_port")
    channel = pika.BlockingConnection(pika.URLParameters(amqp_url)).channel()
    channel.queue_declare("one")
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as refused:
        channel.queue_declare("two")
    assert refused.value.reply_code == 406
""")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = pytester.runpytest_subprocess("--warren-port", str(port))
    result.assert_outcomes(passed=1)


def test_the_test_vhost_is_gone_after_the_test(pytester):
    pytester.makepyfile("""
seen = []

def test_one(amqp_url, warren_broker):
    seen.append(amqp_url.rsplit("/", 1)[1])
    names = [vhost["name"] for vhost in warren_broker.management.request("GET", "/api/vhosts")]
    assert seen[0] in names

def test_two(warren_broker):
    names = [vhost["name"] for vhost in warren_broker.management.request("GET", "/api/vhosts")]
    assert seen and seen[0] not in names and names == ["/"]
""")
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=2)


@pytest.mark.parametrize("how", ["conftest", "-p"])
def test_celery_config_wins_over_celerys_own(pytester, how):
    pytester.makepyfile("""
def test_config(celery_config, celery_app):
    assert celery_config["broker_url"].startswith("amqp://guest:guest@127.0.0.1:")
    assert celery_app.conf.broker_url == celery_config["broker_url"]
""")
    if how == "conftest":
        pytester.makeconftest('pytest_plugins = ("celery.contrib.pytest",)')
        result = pytester.runpytest_subprocess()
    else:
        result = pytester.runpytest_subprocess("-p", "celery.contrib.pytest")
    result.assert_outcomes(passed=1)
