#!/usr/bin/env bash
# The management plane's cost (issue 16), Warren beside RabbitMQ 3.10.8 in the same run:
#
#   tools/bench/benches/management.sh [--parts "list startup amqp"] [--queues N] [--requests N]
#                                     [--runs N] [--duration SECS] [--amqp-scenarios "..."]
#                                     [--out DIR]
#
#   list     GET /api/queues with N queues (10 000; 10 with 100 messages, 10 consumers), the
#            whole list, ?page=1&page_size=100 and ?columns=name,messages: the median of
#            --requests (11) requests each, and the answer's size (management-list.py). Warren
#            is started here on free ports; RabbitMQ is a node of tests/rabbitmq-reference.sh
#            with its management plugin, on the ports of WARREN_REF_PORT (5694),
#            WARREN_REF_DIST_PORT (25694), WARREN_REF_MANAGEMENT_PORT (15686),
#            WARREN_REF_PROMETHEUS_PORT (15706), node WARREN_REF_NODE (warren-bench@localhost),
#            state in WARREN_REF_BASE (/tmp/warren-rabbitmq-bench): started, and stopped at the end.
#   startup  compare.sh's startup scenario, --runs (3) per broker: to the first accepted AMQP
#            connection, to the first 200 from /api/overview, idle RSS; Warren with its
#            management plane (warren) and without (warren-bare), RabbitMQ with its
#            management and Prometheus plugins (rabbitmq-mgmt) and without (rabbitmq)
#   amqp     compare.sh's target-autoack, target-ack-confirm, target-fanout-1000 and
#            fanout-1000-long (or --amqp-scenarios "..."), --runs (3)
#            rounds of one --duration (5) s run per broker, the order turning each round: the
#            same Warren binary with its management plane (warren), without (warren-bare), and
#            with /api/overview and /api/queues polled every 100 ms during each run
#            (warren-polled)
#
# compare.sh's RabbitMQ node is RMQ_NODE (warren-mgmt-compare@localhost), state under RMQ_BASE
# (/tmp/warren-mgmt-compare-rabbitmq), on free ports. Results and tables go to DIR (default a
# new /tmp/warren-management.XXXXXX): list.jsonl, list.md, startup/, amqp/ and tables.md.
# Needs: bash, python3 with requests and pika, curl, cargo, Debian's rabbitmq-server.
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(dirname "$(cd "$HERE" && cargo locate-project --workspace --message-format plain)")"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
WARREN_BIN="${WARREN_BIN:-$TARGET/release/warren}"

PARTS="list startup amqp"
QUEUES=10000
REQUESTS=11
RUNS=3
DURATION=5
AMQP_SCENARIOS="target-autoack target-ack-confirm target-fanout-1000 fanout-1000-long"
OUT=""
while [ $# -gt 0 ]; do
    case "$1" in
        --parts) PARTS="$2"; shift 2 ;;
        --queues) QUEUES="$2"; shift 2 ;;
        --requests) REQUESTS="$2"; shift 2 ;;
        --runs) RUNS="$2"; shift 2 ;;
        --duration) DURATION="$2"; shift 2 ;;
        --amqp-scenarios) AMQP_SCENARIOS="$2"; shift 2 ;;
        --out) OUT="$2"; shift 2 ;;
        -h|--help) sed -n '2,30p' "$0"; exit 0 ;;
        *) echo "management: unknown argument $1" >&2; exit 2 ;;
    esac
done
if [ -z "$OUT" ]; then OUT="$(mktemp -d /tmp/warren-management.XXXXXX)"; fi
mkdir -p "$OUT"

if [ ! -x "$WARREN_BIN" ] || [ ! -x "$TARGET/release/warren-bench" ]; then
    echo "management: building warren and warren-bench (release) into $TARGET" >&2
    (cd "$ROOT" && CARGO_TARGET_DIR="$TARGET" cargo build --release -p warren-cli -p warren-bench >&2)
fi

export WARREN_REF_PORT="${WARREN_REF_PORT:-5694}"
export WARREN_REF_DIST_PORT="${WARREN_REF_DIST_PORT:-25694}"
export WARREN_REF_NODE="${WARREN_REF_NODE:-warren-bench@localhost}"
export WARREN_REF_BASE="${WARREN_REF_BASE:-/tmp/warren-rabbitmq-bench}"
export WARREN_REF_MANAGEMENT_PORT="${WARREN_REF_MANAGEMENT_PORT:-15686}"
export WARREN_REF_PROMETHEUS_PORT="${WARREN_REF_PROMETHEUS_PORT:-15706}"
export RMQ_NODE="${RMQ_NODE:-warren-mgmt-compare@localhost}"
export RMQ_BASE="${RMQ_BASE:-/tmp/warren-mgmt-compare-rabbitmq}"

# shellcheck source=ports.sh
. "$HERE/ports.sh"

WARREN_PID=""
REF_STARTED=""
cleanup() {
    local status=$?
    if [ -n "$WARREN_PID" ]; then kill -TERM "$WARREN_PID" 2>/dev/null || true; wait "$WARREN_PID" 2>/dev/null || true; fi
    if [ -n "$REF_STARTED" ]; then "$ROOT/tests/rabbitmq-reference.sh" stop >/dev/null 2>&1 || true; fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

{
    echo "machine: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1), $(free -h | awk '/^Mem:/ {print $2}') RAM"
    echo "warren: $(cd "$ROOT" && git rev-parse --short HEAD)$(cd "$ROOT" && git diff --quiet HEAD -- crates || echo ' (modified)')"
    echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
} >"$OUT/machine.txt"
cat "$OUT/machine.txt" >&2

for part in $PARTS; do
    case "$part" in
        list)
            : >"$OUT/list.jsonl"
            port="$(free_port)"; mport="$(free_port)"
            "$WARREN_BIN" --bind 127.0.0.1 --port "$port" --management-port "$mport" \
                --prometheus-port "$(free_port)" >"$OUT/warren.log" 2>&1 &
            WARREN_PID=$!
            wait_port "$mport" 20
            echo "management: list on warren ($QUEUES queues)" >&2
            python3 "$HERE/management-list.py" --api "http://guest:guest@127.0.0.1:$mport" \
                --amqp-port "$port" --queues "$QUEUES" --requests "$REQUESTS" --label warren \
                --sample "$OUT/queue-warren.json" >>"$OUT/list.jsonl"
            kill -TERM "$WARREN_PID"; wait "$WARREN_PID" 2>/dev/null || true; WARREN_PID=""

            echo "management: starting RabbitMQ ($WARREN_REF_NODE, AMQP $WARREN_REF_PORT, management $WARREN_REF_MANAGEMENT_PORT)" >&2
            REF_STARTED=1
            "$ROOT/tests/rabbitmq-reference.sh" start >"$OUT/rabbitmq-reference.log" 2>&1
            echo "management: list on rabbitmq ($QUEUES queues)" >&2
            python3 "$HERE/management-list.py" --api "http://guest:guest@127.0.0.1:$WARREN_REF_MANAGEMENT_PORT" \
                --amqp-port "$WARREN_REF_PORT" --queues "$QUEUES" --requests "$REQUESTS" --label rabbitmq \
                --sample "$OUT/queue-rabbitmq.json" >>"$OUT/list.jsonl"
            "$ROOT/tests/rabbitmq-reference.sh" stop >/dev/null 2>&1 || true; REF_STARTED=""
            python3 - "$OUT/list.jsonl" <<'EOF' | tee "$OUT/list.md"
import json, sys
runs = {r["label"]: r for r in map(json.loads, open(sys.argv[1]))}
w, r = runs.get("warren"), runs.get("rabbitmq")
print(f"GET /api/queues, {w['queues']:,} queues: median of {w['requests']} requests (min-max), ms; bytes")
print()
print("| request | Warren ms | Warren bytes | RabbitMQ ms | RabbitMQ bytes | RabbitMQ ÷ Warren |")
print("|---|--:|--:|--:|--:|--:|")
for key in w["results"]:
    a, b = w["results"][key], r["results"][key] if r else None
    cell = lambda x: f"**{x['median_ms']:,.1f}** ({x['min_ms']:,.1f}-{x['max_ms']:,.1f})"
    print(f"| `{a['path']}` | {cell(a)} | {a['bytes']:,.0f} | "
          + (f"{cell(b)} | {b['bytes']:,.0f} | {b['median_ms'] / a['median_ms']:,.1f}× |" if b else "– | – | – |"))
print()
for run in runs.values():
    print(f"- {run['label']}: set-up {run['setup_s']} s, listed everything {run['settle_s']} s later; "
          f"checks {run['checks']}")
EOF
            ;;
        startup)
            "$HERE/compare.sh" --scenarios startup --brokers "warren warren-bare rabbitmq-mgmt rabbitmq" \
                --runs "$RUNS" --out "$OUT/startup" >/dev/null
            ;;
        amqp)
            # One compare.sh per round, each broker once, in an order that turns round by
            # round: the machine's other load falls on each broker alike.
            order=(warren warren-bare warren-polled)
            for ((round = 1; round <= RUNS; round++)); do
                "$HERE/compare.sh" --scenarios "$AMQP_SCENARIOS" \
                    --brokers "${order[*]}" --runs 1 --duration "$DURATION" \
                    --out "$OUT/amqp/round$round" >/dev/null
                order=("${order[@]:1}" "${order[0]}")
            done
            cat "$OUT"/amqp/round*/results.jsonl >"$OUT/amqp/results.jsonl"
            cat "$OUT"/amqp/round*/poll.jsonl >"$OUT/amqp/poll.jsonl" 2>/dev/null || true
            python3 - "$OUT/amqp/results.jsonl" "$OUT/amqp/poll.jsonl" <<'EOF' | tee "$OUT/amqp/ratios.md"
import json, statistics, sys
rates = {}
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r.get("ok"):
        scenario, broker = r["label"].split("/", 1)
        rates.setdefault(scenario, {}).setdefault(broker, []).append(r["deliver_rate"])
print("| scenario | warren (management on) | warren-bare (off) | warren-polled | on ÷ off | polled ÷ off |")
print("|---|--:|--:|--:|--:|--:|")
for scenario, per in rates.items():
    m = {b: statistics.median(v) for b, v in per.items()}
    runs = lambda b: "/".join(f"{x:,.0f}" for x in per.get(b, []))
    cell = lambda b: f"**{m[b]:,.0f}** ({runs(b)})" if b in m else "–"
    ratio = lambda b: f"{m[b] / m['warren-bare']:.3f}" if b in m and "warren-bare" in m else "–"
    print(f"| {scenario} | {cell('warren')} | {cell('warren-bare')} | {cell('warren-polled')} "
          f"| {ratio('warren')} | {ratio('warren-polled')} |")
print()
print("Delivered msg/s, median of the runs (each run in brackets).")
try:
    polls = [json.loads(line) for line in open(sys.argv[2])]
except OSError:
    polls = []
for p in polls:
    paths = "; ".join(f"{k} {v['ok']} ok, {v['failed']} failed, median {v['median_ms']} ms, max {v['max_ms']} ms"
                      for k, v in p["paths"].items())
    print(f"- poll {p['label']}: {paths}" + (f"; errors {p['errors']}" if p["errors"] else ""))
EOF
            ;;
        *) echo "management: unknown part $part" >&2; exit 2 ;;
    esac
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/machine.txt"
{
    cat "$OUT/machine.txt"; echo
    for f in "$OUT/list.md" "$OUT/startup/table.md" "$OUT"/amqp/round*/table.md "$OUT/amqp/ratios.md"; do
        if [ -f "$f" ]; then cat "$f"; echo; fi
    done
} >"$OUT/tables.md"
echo "management: results in $OUT (tables.md)" >&2
