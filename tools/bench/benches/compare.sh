#!/usr/bin/env bash
# Compare Warren with RabbitMQ (and GarageMQ when Debian has it) using warren-bench.
#
#   tools/bench/benches/compare.sh [--runs N] [--duration SECS] [--scenarios "a b ..."]
#                                   [--brokers "warren rabbitmq garagemq"] [--out DIR]
#
# For each scenario, each broker is started fresh on a free loopback port (so memory figures
# belong to that scenario), the scenario runs N times per broker (interleaved: warren,
# rabbitmq, garagemq, warren, ...) with --broker-pid, and the broker is stopped. The JSON lines
# go to DIR/results.jsonl (default: a new /tmp/warren-compare.XXXXXX); at the end a markdown
# table of medians and Warren/RabbitMQ ratios is printed to stdout (and DIR/table.md).
#
# Issue 4's targets have scenarios of their own: target-autoack, target-ack-confirm,
# target-fanout-1000 and target-bindings-10k (with latency, that is the five targets of
# docs/benchmarks.md). The last two are bounded by a message count rather than --duration.
#
# Memory scenarios (idle-1k, idle-10k, backlog-100k, backlog-1m, retention-1m, memory-1k..64k,
# requeue-1k..64k) and soak get a fresh broker
# for every run: a broker's allocator keeps what an earlier run freed, which would hide the
# cost of the next. startup starts the broker itself (warren-bench startup) once per run.
# The soft limit on open files is raised to the hard limit (10 000 connections need it; the
# brokers inherit it).
#
# Brokers:
#   warren    $WARREN_BIN (default $CARGO_TARGET_DIR/release/warren, else target/release/warren),
#             as it starts by default: with its management API and Prometheus metrics (on free
#             ports; startup also times its first 200 from /api/overview)
#   warren-bare  the same binary with --no-management --no-prometheus
#   warren-untraced  the same as warren, with its routing trace off (--trace-size 0): beside
#             warren, what keeping the trace (1,000 publishes per vhost by default) costs
#   warren-watched  the same as warren, with the live page's requests during each run: its
#             event stream (GET /api/warren/live, curl) and its lists every 5 s (poll-api.py)
#   warren-polled  the same as warren, with GET /api/overview and GET /api/queues polled every
#             100 ms during each run (poll-api.py; its counts go to DIR/poll.jsonl)
#   warren-base  $WARREN_BASE_BIN: a second Warren build (e.g. main before a change), run the
#             same way beside the first, so that a change is measured old against new in one run
#   rabbitmq  Debian's rabbitmq-server, node $RMQ_NODE (bench-rmq@localhost), state under
#             $RMQ_BASE (/tmp/warren-compare-rabbitmq; wiped at each start), stopped with
#             rabbitmqctl -n $RMQ_NODE stop. Override both to run beside another copy.
#   rabbitmq-mgmt  the same node with the rabbitmq_management and rabbitmq_prometheus plugins
#             (on free ports; startup also times its first 200 from /api/overview)
#   garagemq  Debian's garagemq if installed (installed here when `apt-cache policy` has a
#             candidate and we are root), state under DIR/garagemq
#   sink      `warren-bench sink`, the tool's trivial fake broker: the tool's own ceiling
#             (not in the default list; meaningful for throughput, confirm and latency only)
# Needs: bash, python3 (with requests for warren-polled), cargo. Rerunnable; everything it starts is stopped on exit (also on Ctrl-C).
set -euo pipefail

# The workspace root, wherever in it this script lives.
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(dirname "$(cd "$HERE" && cargo locate-project --workspace --message-format plain)")"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
WARREN_BIN="${WARREN_BIN:-$TARGET/release/warren}"
BENCH_BIN="${BENCH_BIN:-$TARGET/release/warren-bench}"
RMQ_BIN="/usr/lib/rabbitmq/bin"
RMQ_NODE="${RMQ_NODE:-bench-rmq@localhost}"

RUNS=3
DURATION=5
BROKERS="warren rabbitmq garagemq"
SCENARIOS="throughput confirm latency fanout-10 fanout-1000 bindings churn"
OUT=""
while [ $# -gt 0 ]; do
    case "$1" in
        --runs) RUNS="$2"; shift 2 ;;
        --duration) DURATION="$2"; shift 2 ;;
        --scenarios) SCENARIOS="$2"; shift 2 ;;
        --brokers) BROKERS="$2"; shift 2 ;;
        --out) OUT="$2"; shift 2 ;;
        -h|--help) sed -n '2,42p' "$0"; exit 0 ;;
        *) echo "compare: unknown argument $1" >&2; exit 2 ;;
    esac
done

# The warren-bench arguments of each scenario (--url, --broker-pid, --label, --duration added).
scenario_args() {
    case "$1" in
        throughput) echo "throughput --publishers 1 --consumers 1 --size 300 --prefetch 1000" ;;
        confirm) echo "throughput --publishers 2 --consumers 2 --size 300 --confirm 1000" ;;
        latency) echo "latency --rate 10000" ;;
        # One connection per consumer, as separate Wazo services have (GarageMQ also mixes up
        # the content frames of consumers that share a connection).
        fanout-10) echo "fanout --queues 10 --consumer-connections 10" ;;
        fanout-100) echo "fanout --queues 100 --consumer-connections 100" ;;
        # 1000 consumers on 4 connections (250 channels each); the rate keeps the backlog and
        # RabbitMQ's drain time bounded (50 msg/s = 50 000 deliveries/s).
        fanout-1000) echo "fanout --queues 1000 --rate 50 --consumer-connections 4" ;;
        bindings) echo "bindings --queues 100 --bindings 10 --consumer-connections 100" ;;
        churn) echo "churn --connections 4 --channels 1" ;;
        # Issue 4's targets, as the issue words them (docs/benchmarks.md, "Throughput, fan-out and latency").
        # 1 publisher -> topic exchange -> 1 queue -> 1 consumer, 300-byte Wazo events.
        target-autoack) echo "throughput --publishers 1 --consumers 1 --size 300 --autoack" ;;
        target-ack-confirm)
            echo "throughput --publishers 1 --consumers 1 --size 300 --prefetch 100 --confirm 1000" ;;
        # Fan-out to 1000 queues, offered as fast as the publisher can (500 messages, 500 000
        # deliveries): the broker's delivery rate is the limit. Its own --duration (publishing
        # stops at --max-messages long before) only sets the drain limit (2 x 100 s), which
        # RabbitMQ's ~10^4 deliveries/s need.
        target-fanout-1000)
            echo "fanout --queues 1000 --consumer-connections 4 --max-messages 500 --duration 100" ;;
        # The same fan-out 10 times longer (5 000 messages, 5 000 000 deliveries, about 5 s on
        # Warren): long enough for 50 polls of the management API (warren-polled).
        fanout-1000-long)
            echo "fanout --queues 1000 --consumer-connections 4 --max-messages 5000 --duration 100" ;;
        # 10 000 queues x 10 Wazo-pattern bindings (100 000 bindings), 1000 consumers per
        # connection; 110 000 messages offered at once, each of the 110 000 keys once (10 000 of
        # them match no binding). Setup, which takes RabbitMQ minutes, is not measured.
        target-bindings-10k)
            echo "bindings --queues 10000 --bindings 10 --consumer-connections 10 --max-messages 110000 --duration 100" ;;
        # The same 100 000 bindings, with 500 of the users busy: their 5 500 keys, 40 times each
        # (a bus publishes about its busy users and calls over and over).
        bindings-10k-busy)
            echo "bindings --queues 10000 --bindings 10 --active-users 500 --consumer-connections 10 --max-messages 220000 --duration 100" ;;
        headers) echo "throughput --exchange-type headers" ;;
        # Memory: RSS growth per idle connection and per queued message (issue 4's targets).
        idle-1k) echo "idle-connections --connections 1000" ;;
        idle-10k) echo "idle-connections --connections 10000" ;;
        backlog-100k) echo "backlog --max-messages 100000 --size 300" ;;
        backlog-1m) echo "backlog --max-messages 1000000 --size 300" ;;
        # RSS growth per message kept in a queue nobody consumes (one in 100) while a consumer
        # takes the other 99 at once: at a rate it keeps up with, so that the RSS left is what
        # the broker keeps, not what its allocator kept of a backlog of consumed messages.
        retention-1m) echo "retention --max-messages 1000000 --size 300 --retain-every 100 --rate 100000" ;;
        # 200 MiB of bodies queued for nobody, in bodies of 1, 4, 16 and 64 KiB: RSS growth per
        # queued body byte.
        memory-1k) echo "backlog --max-messages 204800 --size 1024" ;;
        memory-4k) echo "backlog --max-messages 51200 --size 4096" ;;
        memory-16k) echo "backlog --max-messages 12800 --size 16384" ;;
        memory-64k) echo "backlog --max-messages 3200 --size 65536" ;;
        # A no-ack consumer that stops reading while 200 MiB are published, then dies: RSS
        # followed over the requeue of what was buffered for it.
        requeue-1k) echo "requeue --max-messages 204800 --size 1024" ;;
        requeue-64k) echo "requeue --max-messages 3200 --size 65536" ;;
        # 40 publishers with confirms, 40 consumers with manual acks, a connection killed
        # every 0.5 s on average; --duration applies.
        soak) echo "soak --connections 20 --channels 4" ;;
        startup) echo "startup" ;;
        *) echo "compare: unknown scenario $1" >&2; return 1 ;;
    esac
}

# Scenarios that measure memory: a fresh broker per run, no --duration (they run to their
# message or connection count), a longer time limit.
memory_scenario() {
    case "$1" in idle-*|backlog-*|retention-*|memory-*|requeue-*) return 0 ;; *) return 1 ;; esac
}
# Scenarios bounded by --max-messages, with their own --duration: no --duration added, a
# longer time limit (their setup and drain can take RabbitMQ minutes). target-bindings-10k
# also gets a fresh broker per run: RabbitMQ is still deleting the last run's 10 000
# auto-delete queues and 100 000 bindings minutes later, and does not answer the next run's
# queue.declare within 30 s.
bounded_scenario() {
    case "$1" in target-fanout-1000|fanout-1000-long|target-bindings-10k|bindings-10k-busy) return 0 ;; *) return 1 ;; esac
}
for s in $SCENARIOS; do scenario_args "$s" >/dev/null; done

if [ ! -x "$WARREN_BIN" ] || [ ! -x "$BENCH_BIN" ]; then
    echo "compare: building warren and warren-bench (release) into $TARGET" >&2
    (cd "$ROOT" && CARGO_TARGET_DIR="$TARGET" cargo build --release -p warren-cli -p warren-bench >&2)
fi

if [ -z "$OUT" ]; then
    OUT="$(mktemp -d /tmp/warren-compare.XXXXXX)"
fi
mkdir -p "$OUT"
RESULTS="$OUT/results.jsonl"
: >"$RESULTS"

# free_port, wait_port PORT SECONDS, wait_port_free PORT
# shellcheck source=ports.sh
. "$HERE/ports.sh"

BROKER_PID=""
BROKER_PORT=""
# The management API's port of the running broker (warren, warren-polled, rabbitmq-mgmt).
MGMT_PORT=""

# Warren's management flags into MANAGEMENT: $WARREN_MANAGEMENT_ARGS (warren-bare), else free
# ports for both doors (its defaults, 15672 and 15692, may be another broker's).
warren_management_args() {
    if [ -n "${WARREN_MANAGEMENT_ARGS:-}" ]; then
        read -r -a MANAGEMENT <<<"$WARREN_MANAGEMENT_ARGS"
        MGMT_PORT=""
    else
        MGMT_PORT="$(free_port)"
        MANAGEMENT=(--management-port "$MGMT_PORT" --prometheus-port "$(free_port)")
    fi
}

# --- warren -------------------------------------------------------------------------------
start_warren() {
    BROKER_PORT="$(free_port)"
    warren_management_args
    local extra=()
    read -r -a extra <<<"${WARREN_EXTRA_ARGS:-}"
    "$WARREN_BIN" --bind 127.0.0.1 --port "$BROKER_PORT" "${MANAGEMENT[@]}" "${extra[@]}" \
        >"$OUT/warren.log" 2>&1 &
    BROKER_PID=$!
    wait_port "$BROKER_PORT" 20
}
startup_warren() {
    local http=() label="${STARTUP_LABEL:-warren}" extra=()
    read -r -a extra <<<"${WARREN_EXTRA_ARGS:-}"
    BROKER_PORT="$(free_port)"
    warren_management_args
    if [ -n "$MGMT_PORT" ]; then http=(--http-port "$MGMT_PORT"); fi
    "$BENCH_BIN" startup --url "amqp://guest:guest@127.0.0.1:$BROKER_PORT/%2F" "${http[@]}" \
        --label "startup/$label" -- "$WARREN_BIN" --bind 127.0.0.1 --port "$BROKER_PORT" \
        "${MANAGEMENT[@]}" "${extra[@]}"
}
stop_warren() {
    if [ -n "$BROKER_PID" ] && kill -0 "$BROKER_PID" 2>/dev/null; then
        kill -TERM "$BROKER_PID" 2>/dev/null || true
        wait "$BROKER_PID" 2>/dev/null || true
    fi
}

# --- warren-base: the same, with the other binary --------------------------------------
# Its flags beside --bind and --port: $WARREN_BASE_ARGS (none by default, for a build from
# before the management door; give "--management-port 0 --prometheus-port 0" to a later one).
start_warren-base() { WARREN_BIN="$WARREN_BASE_BIN" WARREN_MANAGEMENT_ARGS="${WARREN_BASE_ARGS:- }" start_warren; }
startup_warren-base() {
    local base_args
    BROKER_PORT="$(free_port)"
    read -r -a base_args <<<"${WARREN_BASE_ARGS:-}"
    "$BENCH_BIN" startup --url "amqp://guest:guest@127.0.0.1:$BROKER_PORT/%2F" \
        --label startup/warren-base -- "$WARREN_BASE_BIN" --bind 127.0.0.1 --port "$BROKER_PORT" \
        "${base_args[@]}"
}
stop_warren-base() { stop_warren; }

# --- warren-bare: no management, no Prometheus -------------------------------------------
BARE_ARGS="--no-management --no-prometheus"
start_warren-bare() { WARREN_MANAGEMENT_ARGS="$BARE_ARGS" start_warren; }
startup_warren-bare() { WARREN_MANAGEMENT_ARGS="$BARE_ARGS" STARTUP_LABEL=warren-bare startup_warren; }
stop_warren-bare() { stop_warren; }

# --- warren-untraced: warren with the routing trace off ----------------------------------
start_warren-untraced() { WARREN_EXTRA_ARGS="--trace-size 0" start_warren; }
startup_warren-untraced() { WARREN_EXTRA_ARGS="--trace-size 0" STARTUP_LABEL=warren-untraced startup_warren; }
stop_warren-untraced() { stop_warren; }

# --- warren-watched: warren, the live page's requests during each run (run_once) --------
start_warren-watched() { start_warren; }
startup_warren-watched() { STARTUP_LABEL=warren-watched startup_warren; }
stop_warren-watched() { stop_warren; }
# The page's lists, as page.js asks for them every 5 s.
PAGE_PATHS="/api/queues/%2F?page=1&page_size=50,/api/exchanges/%2F,/api/bindings/%2F,/api/connections"

# --- warren-polled: warren, its API polled during each run (run_once starts the poller) ---
start_warren-polled() { start_warren; }
startup_warren-polled() { STARTUP_LABEL=warren-polled startup_warren; }
stop_warren-polled() { stop_warren; }

# --- rabbitmq -----------------------------------------------------------------------------
# Fixed, so that a node left over from an interrupted run (same Erlang cookie) can be stopped.
RMQ_BASE="${RMQ_BASE:-/tmp/warren-compare-rabbitmq}"
rmq_env() {
    export RABBITMQ_NODENAME="$RMQ_NODE"
    export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
    export RABBITMQ_MNESIA_BASE="$RMQ_BASE/mnesia"
    export RABBITMQ_LOG_BASE="$RMQ_BASE/log"
    export RABBITMQ_CONFIG_FILE="$RMQ_BASE/rabbitmq"
    export RABBITMQ_ADVANCED_CONFIG_FILE="$RMQ_BASE/advanced.config"
    export RABBITMQ_ENABLED_PLUGINS_FILE="$RMQ_BASE/enabled_plugins"
    export RABBITMQ_CONF_ENV_FILE="$RMQ_BASE/rabbitmq-env.conf"
    export RABBITMQ_PID_FILE="$RMQ_BASE/rabbitmq.pid"
    export ERL_CRASH_DUMP="$RMQ_BASE/erl_crash.dump"
}
rmqctl() { (rmq_env; HOME="$RMQ_BASE" "$RMQ_BIN/rabbitmqctl" -n "$RMQ_NODE" "$@"); }
# A fresh node's files and ports (BROKER_PORT, RMQ_DIST_PORT).
prepare_rabbitmq() {
    [ -x "$RMQ_BIN/rabbitmq-server" ] || { echo "compare: rabbitmq-server is not installed" >&2; return 1; }
    BROKER_PORT="$(free_port)"
    RMQ_DIST_PORT="$(free_port)"
    rm -rf "$RMQ_BASE/mnesia" "$RMQ_BASE/log" "$RMQ_BASE/rabbitmq.pid"
    mkdir -p "$RMQ_BASE/mnesia" "$RMQ_BASE/log"
    chmod 700 "$RMQ_BASE"
    : >"$RMQ_BASE/rabbitmq-env.conf"
    echo '[].' >"$RMQ_BASE/advanced.config"
    cat >"$RMQ_BASE/rabbitmq.conf" <<EOF
loopback_users.guest = true
log.console = false
log.file.level = warning
EOF
    if [ -n "${RMQ_MANAGEMENT:-}" ]; then
        MGMT_PORT="$(free_port)"
        echo '[rabbitmq_management,rabbitmq_prometheus].' >"$RMQ_BASE/enabled_plugins"
        cat >>"$RMQ_BASE/rabbitmq.conf" <<EOF
management.tcp.ip = 127.0.0.1
management.tcp.port = $MGMT_PORT
prometheus.tcp.ip = 127.0.0.1
prometheus.tcp.port = $(free_port)
EOF
    else
        echo '[].' >"$RMQ_BASE/enabled_plugins"
    fi
}
# Runs "$@" with the node's environment.
with_rmq_env() {
    (
        rmq_env
        export RABBITMQ_NODE_PORT="$BROKER_PORT" RABBITMQ_DIST_PORT="$RMQ_DIST_PORT"
        HOME="$RMQ_BASE" "$@"
    )
}
start_rabbitmq() {
    prepare_rabbitmq || return 1
    with_rmq_env setsid "$RMQ_BIN/rabbitmq-server" >"$RMQ_BASE/log/startup.log" 2>&1 </dev/null &
    if ! wait_port "$BROKER_PORT" 120; then
        echo "compare: RabbitMQ did not listen within 120 s; see $RMQ_BASE/log" >&2
        return 1
    fi
    BROKER_PID=""
    local i
    for ((i = 0; i < 100; i++)); do
        if [ -s "$RMQ_BASE/rabbitmq.pid" ]; then
            BROKER_PID="$(tr -d '[:space:]' <"$RMQ_BASE/rabbitmq.pid")"
            break
        fi
        sleep 0.1
    done
    if [ -z "$BROKER_PID" ]; then
        BROKER_PID="$(rmqctl eval 'os:getpid().' 2>/dev/null | tr -d '"[:space:]')"
    fi
}
stop_rabbitmq() {
    rmqctl stop >/dev/null 2>&1 || true
    [ -n "$BROKER_PORT" ] && wait_port_free "$BROKER_PORT"
    # Its database; the logs stay for a look at what happened (wiped at the next start).
    rm -rf "$RMQ_BASE/mnesia"
}
startup_rabbitmq() {
    local http=() label=rabbitmq
    prepare_rabbitmq || return 1
    if [ -n "${RMQ_MANAGEMENT:-}" ]; then http=(--http-port "$MGMT_PORT"); label=rabbitmq-mgmt; fi
    # rabbitmq-server is a shell script: the Erlang VM (whose RSS counts) writes the pid file.
    with_rmq_env "$BENCH_BIN" startup --url "amqp://guest:guest@127.0.0.1:$BROKER_PORT/%2F" \
        "${http[@]}" --pid-file "$RMQ_BASE/rabbitmq.pid" --label "startup/$label" -- "$RMQ_BIN/rabbitmq-server"
}

# --- rabbitmq-mgmt: the same node with its management and Prometheus plugins ---------------
start_rabbitmq-mgmt() { RMQ_MANAGEMENT=1 start_rabbitmq; }
startup_rabbitmq-mgmt() { RMQ_MANAGEMENT=1 startup_rabbitmq; }
stop_rabbitmq-mgmt() { stop_rabbitmq; }

# --- garagemq -----------------------------------------------------------------------------
GARAGE_BASE="$OUT/garagemq"
garagemq_available() {
    if command -v garagemq >/dev/null 2>&1; then
        return 0
    fi
    if [ "$(id -u)" = 0 ] && apt-cache policy garagemq 2>/dev/null | grep -q 'Candidate: [0-9]'; then
        echo "compare: installing garagemq from Debian" >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq garagemq >/dev/null 2>&1 || return 1
        command -v garagemq >/dev/null 2>&1
    else
        return 1
    fi
}
prepare_garagemq() {
    BROKER_PORT="$(free_port)"
    rm -rf "$GARAGE_BASE"
    mkdir -p "$GARAGE_BASE/db"
    # The Debian default configuration, on our ports, with its state under $GARAGE_BASE.
    cat >"$GARAGE_BASE/config.yaml" <<EOF
proto: amqp-rabbit
users:
  - username: guest
    password: 084e0343a0486ff05530df6c705c8bb4 # guest md5
tcp:
  ip: 127.0.0.1
  port: $BROKER_PORT
  nodelay: false
  readBufSize: 196608
  writeBufSize: 196608
admin:
  ip: 127.0.0.1
  port: $(free_port)
queue:
  shardSize: 8192
  maxMessagesInRam: 131072
db:
  defaultPath: $GARAGE_BASE/db
  engine: badger
vhost:
  defaultPath: /
security:
  passwordCheck: md5
connection:
  channelsMax: 4096
  frameMaxSize: 65536
EOF
}
start_garagemq() {
    prepare_garagemq
    (cd "$GARAGE_BASE" && exec garagemq --config "$GARAGE_BASE/config.yaml" --log-level warning \
        >"$GARAGE_BASE/garagemq.log" 2>&1) &
    BROKER_PID=$!
    wait_port "$BROKER_PORT" 20
}
stop_garagemq() {
    if [ -n "$BROKER_PID" ] && kill -0 "$BROKER_PID" 2>/dev/null; then
        kill -TERM "$BROKER_PID" 2>/dev/null || true
        for _ in $(seq 1 50); do kill -0 "$BROKER_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$BROKER_PID" 2>/dev/null || true
        wait "$BROKER_PID" 2>/dev/null || true
    fi
    # Its database (backlog-1m leaves most of a GiB there); the log stays.
    rm -rf "$GARAGE_BASE/db"
}
startup_garagemq() {
    prepare_garagemq
    (cd "$GARAGE_BASE" && "$BENCH_BIN" startup --url "amqp://guest:guest@127.0.0.1:$BROKER_PORT/%2F" \
        --label startup/garagemq -- garagemq --config "$GARAGE_BASE/config.yaml" --log-level warning)
}

# --- sink: warren-bench's own trivial broker, for the tool's ceiling (throughput scenarios
# only: it delivers each message once, round-robin, whatever the bindings) ------------------
start_sink() {
    BROKER_PORT="$(free_port)"
    "$BENCH_BIN" sink --port "$BROKER_PORT" >"$OUT/sink.log" 2>&1 &
    BROKER_PID=$!
    wait_port "$BROKER_PORT" 20
}
stop_sink() { stop_warren; }
startup_sink() { echo "compare: startup does not apply to the sink" >&2; return 1; }

RUNNING=""
stop_running() {
    if [ -n "$RUNNING" ]; then
        "stop_$RUNNING" || true
        RUNNING=""
    fi
}
cleanup() {
    local status=$?
    stop_running
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ACTIVE=""
for b in $BROKERS; do
    case "$b" in
        warren|warren-bare|warren-polled|warren-untraced|warren-watched) ACTIVE="$ACTIVE $b" ;;
        warren-base)
            if [ -x "${WARREN_BASE_BIN:-}" ]; then ACTIVE="$ACTIVE warren-base"
            else echo "compare: warren-base needs WARREN_BASE_BIN, an executable" >&2; exit 2; fi ;;
        sink) ACTIVE="$ACTIVE sink" ;;
        rabbitmq|rabbitmq-mgmt)
            if [ -x "$RMQ_BIN/rabbitmq-server" ]; then ACTIVE="$ACTIVE $b"
            else echo "compare: skipping rabbitmq (not installed)" >&2; fi ;;
        garagemq)
            if garagemq_available; then ACTIVE="$ACTIVE garagemq"
            else echo "compare: skipping garagemq (not available)" >&2; fi ;;
        *) echo "compare: unknown broker $b" >&2; exit 2 ;;
    esac
done
# A node left over from an interrupted run.
rmqctl stop >/dev/null 2>&1 || true
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

{
    echo "machine: $(nproc) CPUs, $(lscpu | sed -n 's/^Model name: *//p'), $(free -h | awk '/^Mem:/ {print $2}') RAM"
    echo "load before: $(cut -d' ' -f1-3 /proc/loadavg); open files: $(ulimit -n)"
} >"$OUT/machine.txt"
cat "$OUT/machine.txt" >&2

# One run of $scenario on the running broker: its JSON line appended to the results.
run_once() {
    local broker="$1" run="$2" limit line rc
    local url="amqp://guest:guest@127.0.0.1:$BROKER_PORT/%2F"
    local extra=(--duration "$DURATION")
    limit=$((${DURATION%.*} * 10 + 120))
    if memory_scenario "$scenario"; then
        extra=()
        limit=1800
    elif bounded_scenario "$scenario"; then
        extra=()
        limit=900
    fi
    echo "compare: $scenario on $broker, run $run/$RUNS" >&2
    local poller="" stream=""
    if [ "$broker" = warren-polled ]; then
        python3 "$HERE/poll-api.py" --url "http://guest:guest@127.0.0.1:$MGMT_PORT" \
            --label "$scenario/$broker/$run" >>"$OUT/poll.jsonl" 2>>"$OUT/poll.stderr" &
        poller=$!
    fi
    if [ "$broker" = warren-watched ]; then
        python3 "$HERE/poll-api.py" --url "http://guest:guest@127.0.0.1:$MGMT_PORT" \
            --interval 5 --paths "$PAGE_PATHS" \
            --label "$scenario/$broker/$run" >>"$OUT/poll.jsonl" 2>>"$OUT/poll.stderr" &
        poller=$!
        curl -s -N -u guest:guest "http://127.0.0.1:$MGMT_PORT/api/warren/live" >/dev/null &
        stream=$!
    fi
    set +e
    line="$(timeout "$limit" "$BENCH_BIN" "${args[@]}" "${extra[@]}" --url "$url" \
        --broker-pid "$BROKER_PID" --label "$scenario/$broker" 2>>"$OUT/bench.stderr")"
    rc=$?
    set -e
    if [ -n "$poller" ]; then
        kill -TERM "$poller" 2>/dev/null || true
        wait "$poller" 2>/dev/null || true
        tail -n 1 "$OUT/poll.jsonl" >&2
    fi
    if [ -n "$stream" ]; then
        kill -TERM "$stream" 2>/dev/null || true
        wait "$stream" 2>/dev/null || true
    fi
    record "$line" "$rc" "$broker"
}
record() {
    local line="$1"
    if [ -z "$line" ]; then
        line="{\"label\":\"$scenario/$3\",\"ok\":false,\"error\":\"exit $2, no output\"}"
    fi
    echo "$line" >>"$RESULTS"
}
start_or_skip() {
    echo "compare: $scenario on $1: starting the broker" >&2
    if ! "start_$1"; then
        echo "compare: $1 did not start; skipped for $scenario" >&2
        RUNNING="$1"; stop_running
        return 1
    fi
    RUNNING="$1"
}

for scenario in $SCENARIOS; do
    read -r -a args <<<"$(scenario_args "$scenario")"
    for broker in $ACTIVE; do
        if [ "$scenario" = startup ]; then
            for run in $(seq 1 "$RUNS"); do
                echo "compare: startup of $broker, run $run/$RUNS" >&2
                set +e
                line="$("startup_$broker" 2>>"$OUT/bench.stderr")"
                rc=$?
                set -e
                # The tool stopped the broker; a node that outlived its script is stopped here.
                BROKER_PID=""
                case "$broker" in rabbitmq*) rmqctl stop >/dev/null 2>&1 || true ;; esac
                record "$line" "$rc" "$broker"
                sleep 1
            done
        elif memory_scenario "$scenario" || [ "$scenario" = soak ] \
            || [ "$scenario" = target-bindings-10k ]; then
            for run in $(seq 1 "$RUNS"); do
                start_or_skip "$broker" || break
                run_once "$broker" "$run"
                stop_running
                sleep 1
            done
        else
            start_or_skip "$broker" || continue
            for run in $(seq 1 "$RUNS"); do
                run_once "$broker" "$run"
                sleep 1
            done
            stop_running
        fi
    done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/machine.txt"

python3 - "$RESULTS" "$OUT/machine.txt" <<'EOF' | tee "$OUT/table.md"
import json, statistics, sys

rows = {}
for line in open(sys.argv[1]):
    line = line.strip()
    if not line:
        continue
    try:
        r = json.loads(line)
    except ValueError:
        continue
    scenario, broker = r.get("label", "?/?").split("/", 1)
    rows.setdefault(scenario, {}).setdefault(broker, []).append(r)

# The scenarios that are not message rates: what each row shows (JSON path, heading, scale,
# decimals).
MIB = 1 / 1024
OTHER = {
    "startup": [("accept_ms", "accepting, ms", 1, 1), ("amqp_ready_ms", "AMQP ready, ms", 1, 1),
                ("http_ok_ms", "first 200 from /api/overview, ms", 1, 1),
                ("idle_rss_kib", "idle RSS, MiB", MIB, 1)],
    "idle-connections": [("bytes_per_connection", "bytes per connection", 1, 0),
                         ("rss_after_kib", "RSS held, MiB", MIB, 1),
                         ("connections_per_s", "opened/s", 1, 0)],
    "backlog": [("bytes_per_message", "bytes per message", 1, 0),
                ("rss_per_body_byte", "RSS bytes per body byte", 1, 3),
                ("rss_after_kib", "RSS full, MiB", MIB, 1),
                ("publish_rate", "publish msg/s", 1, 0), ("drain_rate", "drain msg/s", 1, 0)],
    "retention": [("bytes_per_retained", "bytes per retained message", 1, 0),
                  ("retained", "retained messages", 1, 0),
                  ("rss_after_kib", "RSS after the drain, MiB", MIB, 1),
                  ("deliver_rate", "delivered msg/s", 1, 0)],
    "requeue": [("rss_per_body_byte", "RSS bytes per body byte, queue full", 1, 3),
                ("rss_full_kib", "RSS full, MiB", MIB, 1),
                ("spike_mib", "peak after the death - full, MiB", 1, 1),
                ("after_minus_full_mib", "settled after the death - full, MiB", 1, 1),
                ("requeued", "requeued messages", 1, 0),
                ("gone_with_the_consumer", "gone with the consumer", 1, 0)],
    "soak": [("confirmed", "confirmed", 1, 0), ("kills.total", "kills", 1, 0),
             ("broker.rss_peak_kib", "peak RSS, MiB", MIB, 1)],
}

def kind(runs):
    return next((r.get("scenario") for r in runs if r.get("scenario") in OTHER), None)

def path(r, key):
    for part in key.split("."):
        r = r.get(part) if isinstance(r, dict) else None
    return r

other_rows = {s: per for s, per in rows.items() if any(kind(runs) for runs in per.values())}
rows = {s: per for s, per in rows.items() if s not in other_rows}

def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None

def summary(runs):
    ok = [r for r in runs if r.get("ok")]
    failed = len(runs) - len(ok)
    churn = any("connections_per_s" in r for r in runs)
    rate_key = "connections_per_s" if churn else "deliver_rate"
    cpu_key = "cpu_us_per_connection" if churn else "cpu_us_per_msg"
    return {
        "runs": len(runs),
        "failed": failed,
        "errors": sorted({r.get("error") or "; ".join(r.get("failures", [])) for r in runs if not r.get("ok")}),
        "rate": median([r.get(rate_key) for r in ok]),
        "rates": [r.get(rate_key) for r in ok],
        "cpu": median([r.get("broker", {}).get(cpu_key) for r in ok]),
        "tool_cpu": median([r.get("tool", {}).get(cpu_key) for r in ok]),
        "p99": median([r.get("latency_us", {}).get("p99") for r in ok]),
        "p50": median([r.get("latency_us", {}).get("p50") for r in ok]),
        "rss": median([r.get("broker", {}).get("rss_peak_kib") for r in ok]),
        "unit": "conn/s" if churn else "msg/s",
    }

def fmt(v, digits=0):
    if v is None:
        return "–"
    if digits == 0:
        return f"{v:,.0f}"
    return f"{v:,.{digits}f}"

def ratio(a, b, digits=2):
    if a is None or b is None or b == 0:
        return "–"
    return f"{a / b:.{digits}f}"

brokers = []
for per in list(rows.values()) + list(other_rows.values()):
    for b in per:
        if b not in brokers:
            brokers.append(b)
print(open(sys.argv[2]).read().strip().replace("\n", "  \n"))
print()
notes = []
if rows:
    head = ["scenario"]
    for b in brokers:
        head += [f"{b} rate", f"{b} CPU µs", f"{b} p50/p99 µs", f"{b} peak RSS MiB"]
    head += ["W/R rate", "W/R CPU", "R/W CPU"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for scenario, per in rows.items():
        s = {b: summary(per[b]) for b in per}
        cells = [scenario]
        for b in brokers:
            x = s.get(b)
            if x is None:
                cells += ["–"] * 4
                continue
            rate = fmt(x["rate"]) + (f" {x['unit']}" if x["rate"] is not None else "")
            if x["failed"]:
                rate += f" ({x['failed']}/{x['runs']} failed)"
                notes.append(f"{scenario}/{b}: " + " | ".join(e for e in x["errors"] if e))
            lat = "–" if x["p99"] is None else f"{fmt(x['p50'], 1)} / {fmt(x['p99'], 1)}"
            rss = "–" if x["rss"] is None else fmt(x["rss"] / 1024, 0)
            cells += [rate, fmt(x["cpu"], 2), lat, rss]
        w, r = s.get("warren"), s.get("rabbitmq")
        cells.append(ratio(w and w["rate"], r and r["rate"]))
        cells.append(ratio(w and w["cpu"], r and r["cpu"]))
        cells.append(ratio(r and r["cpu"], w and w["cpu"]))
        print("| " + " | ".join(cells) + " |")
    print()
    print("Medians of the successful runs. Rate: deliveries/s (churn: connections/s). CPU: broker")
    print("CPU µs per delivered message (churn: per connection). W/R: Warren ÷ RabbitMQ.")
    print()
    print("Per-run rates and the tool's own CPU µs per message (median):")
    print()
    for scenario, per in rows.items():
        for b in brokers:
            if b in per:
                x = summary(per[b])
                rates = ", ".join(fmt(v) for v in x["rates"])
                print(f"- {scenario}/{b}: [{rates}]; warren-bench CPU {fmt(x['tool_cpu'], 2)} µs")
for n in notes:
    if n.split("/")[0] in rows:
        print(f"- failed: {n}")

if other_rows:
    print()
    print("| scenario | measure | " + " | ".join(brokers) + " | W/R |")
    print("|---|---|" + "---|" * (len(brokers) + 1))
for scenario, per in other_rows.items():
    metrics = OTHER[next(kind(runs) for runs in per.values() if kind(runs))]
    for key, heading, scale, digits in metrics:
        cells, values = [scenario, heading], {}
        for b in brokers:
            runs = per.get(b, [])
            ok = [r for r in runs if r.get("ok")]
            m = median([path(r, key) for r in ok])
            values[b] = m
            cell = "–" if m is None else fmt(m * scale, digits)
            if runs and len(ok) < len(runs):
                cell += f" ({len(runs) - len(ok)}/{len(runs)} failed)"
                if key == metrics[0][0]:
                    errors = {r.get("error") or "; ".join(dict.fromkeys(r.get("failures", [])))
                              for r in runs if not r.get("ok")}
                    notes.append(f"{scenario}/{b}: " + " | ".join(e for e in errors if e))
            cells.append(cell)
        w, r = values.get("warren"), values.get("rabbitmq")
        cells.append("–" if w is None or not r else f"{w / r:.3g}")
        print("| " + " | ".join(cells) + " |")
if other_rows:
    print()
    print("Medians of the successful runs; each memory and soak run had a fresh broker.")
    for n in notes:
        if n.split("/")[0] in other_rows:
            print(f"- failed: {n}")
EOF
echo "compare: results in $OUT (results.jsonl, table.md, logs)" >&2
