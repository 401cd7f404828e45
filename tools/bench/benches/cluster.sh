#!/usr/bin/env bash
# One Warren beside a three-node RabbitMQ cluster for the same load (docs/scaling.md, "What the
# cluster costs"), with warren-bench.
#
#   tests/rabbitmq-cluster.sh start                 # the cluster, left running
#   tools/bench/benches/cluster.sh [--runs N] [-- EXTRA WARREN-BENCH ARGS, e.g. --rate 10000]
#   tests/rabbitmq-cluster.sh stop
#
# Starts $WARREN_BIN (default $CARGO_TARGET_DIR/release/warren, else target/release/warren) on a
# free loopback port, then runs `warren-bench throughput --publishers 1 --consumers 1 --size 300
# --duration 5` N times (default 3) against Warren and against the cluster through node 1
# (127.0.0.1:5683), alternated. warren-bench reports the CPU and RSS of the one --broker-pid
# (Warren's, node 1's beam.smp); beside it, this script adds all_pids_cpu_s (utime + stime of the
# broker's processes, before and after) and all_pids_rss_kib (their VmRSS, after): for the
# cluster, the three beam.smp. One JSON line per run on stdout; a median summary on stderr.
set -euo pipefail

cd "$(dirname "$0")/../../.."

target="${CARGO_TARGET_DIR:-target}"
WARREN_BIN="${WARREN_BIN:-$target/release/warren}"
BENCH_BIN="${BENCH_BIN:-$target/release/warren-bench}"
CLUSTER_BASE="${WARREN_CLUSTER_BASE:-/tmp/warren-rabbitmq-cluster}"
CLUSTER_URL="${CLUSTER_URL:-amqp://guest:guest@127.0.0.1:5683/%2F}"
runs=3
extra=()
while [ $# -gt 0 ]; do
    case "$1" in
        --runs) runs="$2"; shift 2 ;;
        --) shift; extra=("$@"); break ;;
        *) echo "usage: $0 [--runs N] [-- WARREN-BENCH ARGS]" >&2; exit 2 ;;
    esac
done

beams=()
for i in 1 2 3; do
    pid="$(cat "$CLUSTER_BASE/c$i/rabbitmq.pid" 2>/dev/null || true)"
    if [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; then
        echo "cluster.sh: node $i is not running; start it with tests/rabbitmq-cluster.sh start" >&2
        exit 1
    fi
    beams+=("$pid")
done

port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
log="$(mktemp -t warren-cluster-bench.XXXXXX.log)"
"$WARREN_BIN" --bind 127.0.0.1 --port "$port" --management-port 0 --prometheus-port 0 >"$log" 2>&1 &
warren_pid=$!
# shellcheck disable=SC2317  # the EXIT trap
cleanup() {
    kill "$warren_pid" 2>/dev/null || true
    wait "$warren_pid" 2>/dev/null || true
    rm -f "$log"
}
trap cleanup EXIT
for _ in $(seq 1 50); do
    grep -q 'warren ready' "$log" && break
    sleep 0.1
done

cpu_ticks() { local t=0 p; for p in "$@"; do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done; echo "$t"; }
rss_kib() { local t=0 p; for p in "$@"; do t=$((t + $(awk '/^VmRSS/ {print $2}' "/proc/$p/status"))); done; echo "$t"; }

results="$(mktemp -t warren-cluster-bench.XXXXXX.jsonl)"
run() {
    local label="$1" url="$2" pid="$3" before after line
    shift 3
    before="$(cpu_ticks "$@")"
    line="$("$BENCH_BIN" throughput --url "$url" --publishers 1 --consumers 1 --size 300 --duration 5 \
        "${extra[@]+"${extra[@]}"}" --broker-pid "$pid" --label "$label")"
    after="$(cpu_ticks "$@")"
    python3 - "$line" "$((after - before))" "$(getconf CLK_TCK)" "$(rss_kib "$@")" \
        "$(cut -d' ' -f1-3 /proc/loadavg)" <<'EOF' | tee -a "$results"
import json, sys
line = json.loads(sys.argv[1])
line["all_pids_cpu_s"] = int(sys.argv[2]) / int(sys.argv[3])
line["all_pids_rss_kib"] = int(sys.argv[4])
line["loadavg"] = sys.argv[5]
print(json.dumps(line))
EOF
}

for _ in $(seq 1 "$runs"); do
    run warren "amqp://guest:guest@127.0.0.1:$port/%2F" "$warren_pid" "$warren_pid"
    run cluster "$CLUSTER_URL" "${beams[0]}" "${beams[@]}"
done

python3 - "$results" <<'EOF' >&2
import json, statistics, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
for label in ("warren", "cluster"):
    r = [x for x in rows if x["label"] == label]
    med = lambda f: statistics.median(f(x) for x in r)
    print(f"{label}: delivered {med(lambda x: x['deliver_rate']):,.0f} msg/s, "
          f"{med(lambda x: x['all_pids_cpu_s'] * 1e6 / x['delivered']):.2f} µs broker CPU/msg, "
          f"RSS {med(lambda x: x['all_pids_rss_kib']) / 1024:.1f} MiB (medians of {len(r)}; ok: "
          f"{all(x['ok'] for x in r)})")
EOF
rm -f "$results"
