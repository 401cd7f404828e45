#!/usr/bin/env bash
# Where the tail of `latency` comes from: the scheduler or the broker. Runs `warren-bench
# latency --rate 10000` against Warren and against `warren-bench sink` (the tool's ceiling),
# each with ordinary scheduling and with broker and tool under SCHED_FIFO (`chrt -f 10`, which
# takes them out of the CPU queue that other processes share), alternating, and prints the
# median p50 / p99 / p99.9 of each variant:
#
#   tools/bench/benches/latency-sched.sh [--runs N] [--duration SECS] [--out FILE]
#                                         [--variants "warren:normal sink:normal warren:rt sink:rt"]
#
# SCHED_FIFO needs root (or CAP_SYS_NICE); Linux's RT throttling (95 % of each second by
# default) keeps other processes running. RabbitMQ is left out: its schedulers busy-wait, which
# is unwise at a real-time priority. Each run gets a fresh broker on a free loopback port.
# The JSON lines go to FILE (default: a new /tmp/warren-latency-sched.XXXXXX.jsonl).
set -euo pipefail

# The workspace root, wherever in it this script lives.
ROOT="$(dirname "$(cd "$(dirname "$0")" && cargo locate-project --workspace --message-format plain)")"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
WARREN_BIN="${WARREN_BIN:-$TARGET/release/warren}"
BENCH_BIN="${BENCH_BIN:-$TARGET/release/warren-bench}"
RUNS=3
DURATION=5
OUT=""
VARIANTS="warren:normal sink:normal warren:rt sink:rt"
while [ $# -gt 0 ]; do
    case "$1" in
        --runs) RUNS="$2"; shift 2 ;;
        --duration) DURATION="$2"; shift 2 ;;
        --out) OUT="$2"; shift 2 ;;
        --variants) VARIANTS="$2"; shift 2 ;;
        -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
        *) echo "latency-sched: unknown argument $1" >&2; exit 2 ;;
    esac
done
if [ ! -x "$WARREN_BIN" ] || [ ! -x "$BENCH_BIN" ]; then
    echo "latency-sched: building warren and warren-bench (release) into $TARGET" >&2
    (cd "$ROOT" && CARGO_TARGET_DIR="$TARGET" cargo build --release -p warren-cli -p warren-bench >&2)
fi
[ -n "$OUT" ] || OUT="$(mktemp /tmp/warren-latency-sched.XXXXXX.jsonl)"
: >"$OUT"

BROKER_PID=""
stop_broker() {
    if [ -n "$BROKER_PID" ] && kill -0 "$BROKER_PID" 2>/dev/null; then
        kill -TERM "$BROKER_PID" 2>/dev/null || true
        wait "$BROKER_PID" 2>/dev/null || true
    fi
    BROKER_PID=""
}
trap stop_broker EXIT
trap 'exit 130' INT TERM

wait_port() {
    local i
    for ((i = 0; i < 200; i++)); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.05
    done
    return 1
}

echo "machine: $(nproc) CPUs; load before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
for run in $(seq 1 "$RUNS"); do
    for variant in $VARIANTS; do
        IFS=: read -r broker mode <<<"$variant"
        prefix=()
        case "$mode" in
            normal) ;;
            rt) prefix=(chrt -f 10) ;;
            *) echo "latency-sched: unknown mode $mode (normal|rt)" >&2; exit 2 ;;
        esac
        port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
        case "$broker" in
            warren) "${prefix[@]}" "$WARREN_BIN" --bind 127.0.0.1 --port "$port" >/dev/null 2>&1 & ;;
            sink) "${prefix[@]}" "$BENCH_BIN" sink --port "$port" >/dev/null 2>&1 & ;;
            *) echo "latency-sched: unknown broker $broker (warren|sink)" >&2; exit 2 ;;
        esac
        BROKER_PID=$!
        wait_port "$port"
        echo "latency-sched: $variant, run $run/$RUNS (load $(cut -d' ' -f1 /proc/loadavg))" >&2
        "${prefix[@]}" "$BENCH_BIN" latency --rate 10000 --duration "$DURATION" \
            --url "amqp://guest:guest@127.0.0.1:$port/%2F" --broker-pid "$BROKER_PID" \
            --label "latency/$variant" >>"$OUT" || true
        stop_broker
    done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

python3 - "$OUT" <<'EOF'
import json, statistics, sys
runs = {}
for line in open(sys.argv[1]):
    try:
        r = json.loads(line)
    except ValueError:
        continue
    if r.get("ok"):
        runs.setdefault(r["label"].split("/", 1)[1], []).append(r)
print("| variant | runs | p50 ms | p99 ms (runs) | p99.9 ms | broker CPU µs/msg |")
print("|---|--:|--:|--:|--:|--:|")
for variant, rs in runs.items():
    lat = lambda key: [r["latency_us"][key] / 1000 for r in rs]
    p99 = ", ".join(f"{v:.2f}" for v in lat("p99"))
    cpu = statistics.median(r["broker"]["cpu_us_per_msg"] for r in rs)
    print(f"| {variant} | {len(rs)} | {statistics.median(lat('p50')):.2f} | "
          f"**{statistics.median(lat('p99')):.2f}** ({p99}) | {statistics.median(lat('p999')):.2f} | {cpu:.1f} |")
EOF
echo "latency-sched: results in $OUT" >&2
