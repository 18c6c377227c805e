#!/usr/bin/env bash
# Multi-host test on one machine: a coordinator and two workers in separate network namespaces,
# each with its own IP address, talking CurveZMQ (keys from `flowturbo keys generate`), joined by veth pairs to a bridge that lives in a fourth namespace.
# Completes a small gmm:synthetic run and compares its latents bit for bit with a single-host run.
#
#   sudo Scripts/netns-multihost.sh [path/to/flowturbo]      # default: .build/debug/flowturbo
#
# Exit 0 = identical, 1 = failure, 77 = cannot create namespaces here (reason on stdout: "SKIP: …").
# Everything (interfaces, addresses 10.231.0.0/24, traffic) lives inside namespaces this script
# creates; the host's own network is never touched. Namespaces are deleted on exit (trap).
set -euo pipefail

BIN=${1:-${FLOWTURBO:-.build/debug/flowturbo}}
BIN=$(readlink -f "$BIN")
[ -x "$BIN" ] || { echo "FAIL: flowturbo binary not found at $BIN (swift build first)"; exit 1; }

skip() { echo "SKIP: $*"; exit 77; }
[ "$(id -u)" = 0 ] || skip "needs root to create network namespaces (run with sudo)"
command -v ip >/dev/null || skip "iproute2 (ip) is not installed"

TAG="ft$$"
NS_BR="$TAG-br" NS_C="$TAG-c" NS_W1="$TAG-w1" NS_W2="$TAG-w2"
NET=10.231.0
WORK=$(mktemp -d "${TMPDIR:-/tmp}/netns-multihost.XXXXXX")
PIDS=()

cleanup() {
    for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]:-}"; do [ -n "$p" ] && wait "$p" 2>/dev/null || true; done
    for ns in "$NS_C" "$NS_W1" "$NS_W2" "$NS_BR"; do ip netns del "$ns" 2>/dev/null || true; done
    if [ "${KEEP:-0}" = 1 ]; then echo "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ip netns add "$NS_BR" 2>"$WORK/netns.err" || skip "ip netns add failed: $(head -1 "$WORK/netns.err")"
for ns in "$NS_C" "$NS_W1" "$NS_W2"; do ip netns add "$ns"; done
for ns in "$NS_BR" "$NS_C" "$NS_W1" "$NS_W2"; do ip -n "$ns" link set lo up; done
ip -n "$NS_BR" link add br0 type bridge
ip -n "$NS_BR" link set br0 up
host=1
for ns in "$NS_C" "$NS_W1" "$NS_W2"; do
    # veth pair created inside the bridge namespace; one end moved into the host namespace.
    ip -n "$NS_BR" link add "p$host" type veth peer name eth0 netns "$ns"
    ip -n "$NS_BR" link set "p$host" master br0 up
    ip -n "$ns" addr add "$NET.$host/24" dev eth0
    ip -n "$ns" link set eth0 up
    host=$((host + 1))
done
COORD_IP=$NET.1

COMMON=(--model gmm:synthetic --samples 96 --batch 8 --shard-size 16 --seed 11 --plan H8 --quiet)
# CurveZMQ across the namespaces: the coordinator admits only the worker key.
"$BIN" keys generate --out "$WORK/keys" >/dev/null
COORD_SEC=(--curve-secret "$WORK/keys/coordinator.key" --allow "$WORK/keys/worker.pub")
WORKER_SEC=(--curve-server-key "$WORK/keys/coordinator.pub" --curve-secret "$WORK/keys/worker.key")

# 1. Single-host reference: one local worker, on the coordinator namespace's loopback.
ip netns exec "$NS_C" "$BIN" run --workers 1 --out "$WORK/single" "${COMMON[@]}" >"$WORK/single.log" 2>&1 \
    || { echo "FAIL: single-host run"; cat "$WORK/single.log"; exit 1; }

# 2. Coordinator in its namespace bound to its own address; workers in two others.
ip netns exec "$NS_C" "$BIN" coordinator --bind "tcp://$COORD_IP:5555" --out "$WORK/multi" "${COMMON[@]}" \
    "${COORD_SEC[@]}" >"$WORK/coord.log" 2>&1 &
COORD=$!; PIDS+=("$COORD")
for i in 1 2; do
    ns_var="NS_W$i"
    ip netns exec "${!ns_var}" "$BIN" worker --connect "tcp://$COORD_IP:5555" --model gmm:synthetic --id "w$i" \
        --give-up-seconds 30 --batch-delay-ms 40 "${WORKER_SEC[@]}" >"$WORK/w$i.log" 2>&1 &
    PIDS+=("$!")
done
deadline=$((SECONDS + 60))
while kill -0 "$COORD" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.2; done
if kill -0 "$COORD" 2>/dev/null; then
    echo "FAIL: coordinator did not finish within 60 s"; tail -20 "$WORK"/*.log; exit 1
fi
rc=0; wait "$COORD" || rc=$?
[ "$rc" = 0 ] || { echo "FAIL: coordinator exit $rc"; cat "$WORK/coord.log" "$WORK"/w*.log; exit 1; }

# 3. Bit-for-bit comparison of every latents and labels file, plus evidence that both
#    workers (distinct addresses) did work over their own links.
n=0
for f in "$WORK/single/latents/"*.npy; do
    g="$WORK/multi/latents/$(basename "$f")"
    cmp -s "$f" "$g" || { echo "FAIL: $(basename "$f") differs between single-host and multi-host runs"; exit 1; }
    n=$((n + 1))
done
m=$(ls "$WORK/multi/latents/"*.npy | wc -l)
[ "$n" -gt 0 ] && [ "$n" = "$m" ] || { echo "FAIL: file count single=$n multi=$m"; exit 1; }
workers=$(grep -o '"worker":"w[12]"' "$WORK/multi/journal.log" | sort -u | tr '\n' ' ')
for i in 1 2; do
    ns_var="NS_W$i"
    tx=$(ip netns exec "${!ns_var}" cat /sys/class/net/eth0/statistics/tx_bytes)
    echo "worker w$i at $NET.$((i + 1)): eth0 tx $tx bytes"
done
case "$workers" in
    *w1*w2*) ;;
    *) echo "FAIL: expected shards from both workers in the journal, got: $workers"; exit 1 ;;
esac
echo "OK: $n files bit-identical (single-host vs coordinator $COORD_IP + workers $NET.2, $NET.3); shards by: $workers"
