#!/usr/bin/env bash
# Run the client suites (tests/python, tests/node) against the REAL RabbitMQ (Debian's
# rabbitmq-server), to prove that what they assert is what RabbitMQ actually does.
#
#   tests/rabbitmq-reference.sh [-- PYTEST ARGS...]   start, run the suite, stop
#   tests/rabbitmq-reference.sh start                 start and leave running (prints the URL), to
#                                                     iterate: WARREN_TEST_URL=... pytest tests/python
#                                                     (or node --test tests/node/*.test.mjs)
#   tests/rabbitmq-reference.sh stop                  stop a node left running
#
# Starts a throw-away RabbitMQ node (warren-ref@localhost) on 127.0.0.1:5682 (management API on
# 15682, Prometheus on 15702), state under
# /tmp/warren-rabbitmq (wiped at each start), with the users, vhosts and permissions of
# tests/python/security_definitions.json (load_definitions, as `warren --definitions` reads the same
# file; guest/guest keeps every permission on `/`), declares the exchanges Warren predeclares
# (`xivo` topic durable, `wazo-headers` headers durable), runs `tests/run-all --clients-only`
# against it, and stops the node again (also on failure / Ctrl-C). Rerunnable. It exports
# WARREN_TEST_RABBITMQCTL (rabbitmqctl for this node), with which tests/python/test_limits.py sets
# vhost limits. A second node can run beside the first with other WARREN_REF_PORT,
# WARREN_REF_DIST_PORT, WARREN_REF_NODE and WARREN_REF_BASE.
#
# Needs: rabbitmq-server (apt-get install rabbitmq-server; installed here if missing), python3 + pip,
# Node.js >= 20 + npm.
set -euo pipefail

cd "$(dirname "$0")/.."

PORT="${WARREN_REF_PORT:-5682}"
# The management plugin's HTTP API and the Prometheus plugin's /metrics, on ports beside Warren's.
MANAGEMENT_PORT="${WARREN_REF_MANAGEMENT_PORT:-15682}"
PROMETHEUS_PORT="${WARREN_REF_PROMETHEUS_PORT:-15702}"
NODE="${WARREN_REF_NODE:-warren-ref@localhost}"
BASE="${WARREN_REF_BASE:-/tmp/warren-rabbitmq}"
RMQ_BIN="/usr/lib/rabbitmq/bin"

if [ ! -x "$RMQ_BIN/rabbitmq-server" ]; then
    echo "rabbitmq-reference: installing rabbitmq-server" >&2
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rabbitmq-server >/dev/null
        # The package may start its own service where there is an init system; we do not need it.
        "$RMQ_BIN/rabbitmqctl" stop >/dev/null 2>&1 || true
    else
        echo "rabbitmq-reference: rabbitmq-server is not installed and we are not root" >&2
        exit 1
    fi
fi

# Everything of this node lives under $BASE; HOME=$BASE for the server and rabbitmqctl gives them
# their own Erlang cookie, so we never touch /var/lib/rabbitmq.
export RABBITMQ_NODENAME="$NODE"
export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
export RABBITMQ_NODE_PORT="$PORT"
export RABBITMQ_DIST_PORT="${WARREN_REF_DIST_PORT:-25682}"
export RABBITMQ_MNESIA_BASE="$BASE/mnesia"
export RABBITMQ_LOG_BASE="$BASE/log"
export RABBITMQ_CONFIG_FILE="$BASE/rabbitmq"          # .conf is appended by RabbitMQ
export RABBITMQ_ADVANCED_CONFIG_FILE="$BASE/advanced.config"
export RABBITMQ_ENABLED_PLUGINS_FILE="$BASE/enabled_plugins"
export RABBITMQ_CONF_ENV_FILE="$BASE/rabbitmq-env.conf"
export RABBITMQ_PID_FILE="$BASE/rabbitmq.pid"
export ERL_CRASH_DUMP="$BASE/erl_crash.dump"   # not in the work tree
mkdir -p "$BASE"
chmod 700 "$BASE"

ctl() { HOME="$BASE" "$RMQ_BIN/rabbitmqctl" -n "$NODE" "$@"; }

stop_node() {
    # With the pid file, stop also waits for the OS process to exit.
    if [ -s "$RABBITMQ_PID_FILE" ]; then
        ctl stop "$RABBITMQ_PID_FILE" >/dev/null 2>&1 || true
    else
        ctl stop >/dev/null 2>&1 || true
    fi
    # make sure the AMQP port is released before we return
    for _ in $(seq 1 50); do
        if ! python3 - "$PORT" <<'EOF' 2>/dev/null; then break; fi
import socket, sys
socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=0.2).close()
EOF
        sleep 0.2
    done
    # The Erlang port mapper the node started: stop it too unless another node still uses it.
    if command -v epmd >/dev/null && ! epmd -names 2>/dev/null | grep -q '^name '; then
        epmd -kill >/dev/null 2>&1 || true
    fi
}

mode=run
case "${1:-}" in
    start) mode=start; shift ;;
    stop) stop_node; echo "rabbitmq-reference: $NODE stopped" >&2; exit 0 ;;
esac

# A node left over from an interrupted run: stop it before wiping its state.
stop_node

rm -rf "$BASE/mnesia" "$BASE/log"
mkdir -p "$BASE/mnesia" "$BASE/log"
: >"$BASE/rabbitmq-env.conf"
echo '[rabbitmq_management,rabbitmq_prometheus].' >"$BASE/enabled_plugins"
echo '[].' >"$BASE/advanced.config"
cat >"$BASE/rabbitmq.conf" <<EOF
# Defaults, spelled out: guest may log in over loopback; heartbeat proposal 60 s; frame_max 131072.
loopback_users.guest = true
heartbeat = 60
frame_max = 131072
channel_max = 2047
log.console = false
log.file.level = info
management.tcp.ip = 127.0.0.1
management.tcp.port = $MANAGEMENT_PORT
prometheus.tcp.ip = 127.0.0.1
prometheus.tcp.port = $PROMETHEUS_PORT
# Users, vhosts and permissions for tests/python/test_security.py. With definitions to load,
# RabbitMQ creates no default user or vhost: the file has guest and / itself.
load_definitions = $PWD/tests/python/security_definitions.json
EOF

echo "rabbitmq-reference: starting $NODE on 127.0.0.1:$PORT (state in $BASE)" >&2
HOME="$BASE" setsid "$RMQ_BIN/rabbitmq-server" >"$BASE/log/startup.log" 2>&1 </dev/null &

# shellcheck disable=SC2317  # the EXIT trap
cleanup() {
    status=$?
    if [ "$mode" = run ] || [ "$status" != 0 ]; then
        echo "rabbitmq-reference: stopping $NODE" >&2
        stop_node
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore -r tests/python/requirements.txt

# Wait (bounded) until the broker accepts an AMQP login, then predeclare Warren's exchanges.
python3 - "$PORT" <<'EOF'
import sys, time
import pika

port = int(sys.argv[1])
params = pika.ConnectionParameters("127.0.0.1", port, "/", pika.PlainCredentials("guest", "guest"),
                                   connection_attempts=1, socket_timeout=2)
deadline = time.monotonic() + 90
while True:
    try:
        conn = pika.BlockingConnection(params)
        break
    except Exception as exc:  # not listening yet, or still booting
        if time.monotonic() > deadline:
            sys.exit(f"rabbitmq-reference: broker did not accept AMQP within 90 s: {exc!r}")
        time.sleep(0.5)
ch = conn.channel()
ch.exchange_declare("xivo", "topic", durable=True)
ch.exchange_declare("wazo-headers", "headers", durable=True)
conn.close()
print(f"rabbitmq-reference: RabbitMQ ready on port {port}", file=sys.stderr)
EOF

ctl status 2>/dev/null | grep -E 'RabbitMQ version|Erlang' >&2 || true

export WARREN_TEST_URL="amqp://guest:guest@127.0.0.1:$PORT/%2F"
# How tests/python/test_limits.py sets vhost limits on this node.
export WARREN_TEST_RABBITMQCTL="env HOME=$BASE $RMQ_BIN/rabbitmqctl -n $NODE"
# test_security.py uses this broker (which loaded its definitions) instead of starting a Warren.
export WARREN_TEST_DEFINITIONS_URL="amqp://127.0.0.1:$PORT"
# The management plane's tests (HTTP API, Prometheus, rabbitmqadmin) use these.
export WARREN_TEST_MANAGEMENT_URL="http://127.0.0.1:$MANAGEMENT_PORT"
export WARREN_TEST_PROMETHEUS_URL="http://127.0.0.1:$PROMETHEUS_PORT"
if [ "$mode" = start ]; then
    echo "rabbitmq-reference: left running; stop with: $0 stop" >&2
    echo "WARREN_TEST_URL=$WARREN_TEST_URL"
    echo "WARREN_TEST_RABBITMQCTL='$WARREN_TEST_RABBITMQCTL'"
    echo "WARREN_TEST_DEFINITIONS_URL=$WARREN_TEST_DEFINITIONS_URL"
    echo "WARREN_TEST_MANAGEMENT_URL=$WARREN_TEST_MANAGEMENT_URL"
    echo "WARREN_TEST_PROMETHEUS_URL=$WARREN_TEST_PROMETHEUS_URL"
    exit 0
fi
set +e
bash tests/run-all --clients-only "$@"
rc=$?
set -e
if [ "$rc" != 0 ]; then
    echo "rabbitmq-reference: suite failed (exit $rc); RabbitMQ log: $BASE/log" >&2
fi
exit "$rc"
