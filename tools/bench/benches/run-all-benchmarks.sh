#!/usr/bin/env bash
# Every load, memory, start-up and soak measurement of docs/benchmarks.md, against Warren,
# RabbitMQ and GarageMQ, in one go (through compare.sh, which starts and stops the brokers):
#
#   tools/bench/benches/run-all-benchmarks.sh [--runs N] [--duration SECS] [--soak SECS]
#                                              [--brokers "warren rabbitmq garagemq"] [--out DIR]
#                                              [--skip "targets load memory soak"] [--router]
#
#   targets issue 4's throughput, fan-out, bindings and latency targets: target-autoack
#           target-ack-confirm target-fanout-1000 target-bindings-10k latency, N runs per broker
#           (RabbitMQ's 10 000 queues x 10 bindings take minutes to set up per run)
#   load    throughput confirm latency fanout-10 fanout-1000 bindings churn: N runs (3) of
#           SECS (5) per broker, one broker process per scenario
#   memory  startup idle-10k backlog-1m retention-1m: N runs per broker, a fresh broker per run
#   soak    one soak of --soak SECS (180) per broker: 20 connections x 4 channels, a connection
#           killed every 0.5 s on average
#   --router  also the router micro-benchmarks (cargo bench -p warren-benches --bench router;
#             about 20 minutes; docs/benchmarks-router.md)
#
# Each part writes DIR/<part>/ (results.jsonl, table.md, logs); the tables are printed at the
# end and written to DIR/tables.md. DIR defaults to a new /tmp/warren-benchmarks.XXXXXX.
# 10 000 connections need `ulimit -n` of at least 10 064: compare.sh raises the soft limit to
# the hard one, so the hard limit must allow it (it is 20 000 on the machine of the results).
# The whole default run takes about 100 minutes on 2 cores (25 of them the targets part), most of
# it RabbitMQ starting, setting up 10 000 queues x 10 bindings, and
# RabbitMQ's 10 000 connections and million messages.
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
# The workspace root, wherever in it this script lives.
ROOT="$(dirname "$(cd "$HERE" && cargo locate-project --workspace --message-format plain)")"
RUNS=3
DURATION=5
SOAK=180
BROKERS="warren rabbitmq garagemq"
OUT=""
SKIP=""
ROUTER=0
while [ $# -gt 0 ]; do
    case "$1" in
        --runs) RUNS="$2"; shift 2 ;;
        --duration) DURATION="$2"; shift 2 ;;
        --soak) SOAK="$2"; shift 2 ;;
        --brokers) BROKERS="$2"; shift 2 ;;
        --out) OUT="$2"; shift 2 ;;
        --skip) SKIP="$2"; shift 2 ;;
        --router) ROUTER=1; shift ;;
        -h|--help) sed -n '2,26p' "$0"; exit 0 ;;
        *) echo "run-all-benchmarks: unknown argument $1" >&2; exit 2 ;;
    esac
done
if [ -z "$OUT" ]; then
    OUT="$(mktemp -d /tmp/warren-benchmarks.XXXXXX)"
fi
mkdir -p "$OUT"

skipped() { case " $SKIP " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

# part NAME compare.sh-arguments...
part() {
    local name="$1"
    shift
    if skipped "$name"; then
        return 0
    fi
    echo "run-all-benchmarks: $name" >&2
    "$HERE/compare.sh" --brokers "$BROKERS" --out "$OUT/$name" "$@" >/dev/null
}

part targets --runs "$RUNS" --duration "$DURATION" \
    --scenarios "target-autoack target-ack-confirm target-fanout-1000 target-bindings-10k latency"
part load --runs "$RUNS" --duration "$DURATION"
part memory --runs "$RUNS" --scenarios "startup idle-10k backlog-1m retention-1m"
part soak --runs 1 --duration "$SOAK" --scenarios soak

if [ "$ROUTER" = 1 ]; then
    echo "run-all-benchmarks: router micro-benchmarks" >&2
    (cd "$ROOT" && cargo bench -p warren-benches --bench router) >"$OUT/router.txt" 2>&1
fi

{
    for name in targets load memory soak; do
        if [ -s "$OUT/$name/table.md" ]; then
            echo "## $name"
            echo
            cat "$OUT/$name/table.md"
            echo
        fi
    done
    if [ "$ROUTER" = 1 ]; then
        echo "## router: criterion's output in $OUT/router.txt"
    fi
} | tee "$OUT/tables.md"
echo "run-all-benchmarks: results in $OUT" >&2
