#!/usr/bin/env bash
# Start a flowturbo run across hosts over ssh: the coordinator (with its aggregator) runs here,
# `flowturbo worker` processes run on every host listed in the hosts file (one per core by default).
#
#   Cluster/ssh/launch.sh --hosts Cluster/ssh/hosts.example --coordinator-host node0.example.org \
#       --keys ~/flowturbo-keys -- --samples 50000 --plan H8 --model gmm:mnist --out runs/big
#
# Everything after `--` is passed to `flowturbo coordinator`; --model/--refiner are also given to
# the workers. Hosts file: one host per line, `HOST [WORKERS]` (WORKERS default: the host's core
# count), `#` comments. The run resumes automatically if --out already holds a journal.
#
# Options:
#   --hosts FILE             hosts file (required)
#   --coordinator-host ADDR  address the workers use to reach this machine (default: hostname -f)
#   --port N                 control port (data port = N + 1; default 5555)
#   --bind-address ADDR      address the coordinator binds (default: * = all interfaces)
#   --keys DIR               CurveZMQ keys, here only: DIR/coordinator.key/.pub and one pair per worker host,
#                            DIR/hosts/HOST.key/.pub (each made with `flowturbo keys generate` if missing);
#                            the coordinator allows exactly the listed hosts' keys (DIR/allow) and each
#                            host receives only its own secret, over ssh, into REMOTE_KEYS (mode 0600)
#   --insecure               plaintext without keys (trusted networks only); --keys or --insecure is
#                            required unless --bind-address is a loopback address
# Environment:
#   FLOWTURBO         flowturbo binary on the remote hosts (default: flowturbo on PATH)
#   FLOWTURBO_LOCAL   flowturbo binary here (default: $FLOWTURBO)
#   SSH               ssh command (default: "ssh -o BatchMode=yes"); its first argument is the host
#   REMOTE_KEYS       key directory on the hosts (default: .flowturbo-keys, relative to the remote home)
#   WORKER_EXTRA_ARGS more `flowturbo worker` flags (e.g. --give-up-seconds 600)
#   GRACE_SECONDS     after the coordinator exits, wait this long for ssh sessions to end (default 10)
set -euo pipefail

usage() { sed -n '2,29p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-2}"; }

HOSTS="" COORD_HOST="" PORT=5555 BIND_ADDR="*" KEYS="" INSECURE=0
while [ $# -gt 0 ]; do
    case "$1" in
        --hosts) HOSTS=$2; shift 2 ;;
        --coordinator-host) COORD_HOST=$2; shift 2 ;;
        --port) PORT=$2; shift 2 ;;
        --bind-address) BIND_ADDR=$2; shift 2 ;;
        --keys) KEYS=$2; shift 2 ;;
        --insecure) INSECURE=1; shift ;;
        -h|--help) usage 0 ;;
        --) shift; break ;;
        *) echo "launch.sh: unknown option $1 (coordinator flags go after --)" >&2; usage ;;
    esac
done
[ -n "$HOSTS" ] || { echo "launch.sh: --hosts FILE is required" >&2; usage; }
[ -r "$HOSTS" ] || { echo "launch.sh: cannot read hosts file $HOSTS" >&2; exit 2; }
COORD_HOST=${COORD_HOST:-$(hostname -f 2>/dev/null || hostname)}
FLOWTURBO=${FLOWTURBO:-flowturbo}
FLOWTURBO_LOCAL=${FLOWTURBO_LOCAL:-$FLOWTURBO}
read -r -a SSH_CMD <<< "${SSH:-ssh -o BatchMode=yes}"
COORD_ARGS=("$@")

# Worker model flags and the run directory, taken from the coordinator flags.
WORKER_ARGS=() OUT=runs/latest
for ((i = 0; i < ${#COORD_ARGS[@]}; i++)); do
    case "${COORD_ARGS[$i]}" in
        --model|--refiner) WORKER_ARGS+=("${COORD_ARGS[$i]}" "${COORD_ARGS[$((i + 1))]}") ;;
        --out) OUT=${COORD_ARGS[$((i + 1))]} ;;
    esac
done
read -r -a EXTRA <<< "${WORKER_EXTRA_ARGS:-}"
WORKER_ARGS+=("${EXTRA[@]}")
RESUME=()
if [ -f "$OUT/journal.log" ]; then
    case " ${COORD_ARGS[*]} " in *" --resume "*|*" --overwrite "*) ;; *) RESUME=(--resume) ;; esac
fi

COORD_SEC=() HOST_KEYS=""
if [ -n "$KEYS" ]; then
    mkdir -p "$KEYS/hosts"
    KEYS=$(cd "$KEYS" && pwd)
    [ -f "$KEYS/coordinator.key" ] || "$FLOWTURBO_LOCAL" keys generate --out "$KEYS" --name coordinator >/dev/null
    # One key pair per worker host; the allow list holds exactly this launch's hosts.
    : >"$KEYS/allow.tmp"
    while read -r host _; do
        case "$host" in ''|'#'*) continue ;; esac
        [ -f "$KEYS/hosts/$host.key" ] || "$FLOWTURBO_LOCAL" keys generate --out "$KEYS/hosts" --name "$host" >/dev/null
        cat "$KEYS/hosts/$host.pub" >>"$KEYS/allow.tmp"
    done < "$HOSTS"
    mv "$KEYS/allow.tmp" "$KEYS/allow"
    COORD_SEC=(--curve-secret "$KEYS/coordinator.key" --allow "$KEYS/allow")
    HOST_KEYS=${REMOTE_KEYS:-.flowturbo-keys}
    COORD_PUB=$(grep -v '^#' "$KEYS/coordinator.pub" | head -n 1)
elif [ "$INSECURE" = 1 ]; then
    COORD_SEC=(--insecure)
fi
WORKER_Q=""
[ ${#WORKER_ARGS[@]} -gt 0 ] && WORKER_Q=$(printf '%q ' "${WORKER_ARGS[@]}")

PIDS=()
cleanup() { for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
trap 'exit 130' INT TERM

"$FLOWTURBO_LOCAL" coordinator --bind "tcp://$BIND_ADDR:$PORT" "${COORD_SEC[@]}" "${COORD_ARGS[@]}" "${RESUME[@]}" &
COORD=$!

while read -r host count _; do
    case "$host" in ''|'#'*) continue ;; esac
    # Workers retry until the coordinator listens and exit when it sends Shutdown (or after
    # --give-up-seconds without it), so a dropped ssh session leaves nothing running for long.
    FLOWTURBO_Q=$(printf '%q' "$FLOWTURBO") CONNECT_Q=$(printf '%q' "tcp://$COORD_HOST:$PORT") HOST_Q=$(printf '%q' "$host")
    install="" keyfile=/dev/null key_args=""
    if [ -n "$HOST_KEYS" ]; then
        # The host's own secret arrives on the session's stdin; the coordinator's public key in the command.
        dir_q=$(printf '%q' "$HOST_KEYS") pub_q=$(printf '%q' "$COORD_PUB")
        install="umask 077 && mkdir -p $dir_q && cat > $dir_q/$HOST_Q.key && chmod 600 $dir_q/$HOST_Q.key && printf '%s\\n' $pub_q > $dir_q/coordinator.pub || exit 1; "
        keyfile="$KEYS/hosts/$host.key"
        key_args="--curve-server-key $dir_q/coordinator.pub --curve-secret $dir_q/$HOST_Q.key"
    fi
    remote="${install}n=${count:-\$(nproc)}; i=0; while [ \$i -lt \$n ]; do i=\$((i + 1)); $FLOWTURBO_Q worker --connect $CONNECT_Q --id $HOST_Q-\$i --give-up-seconds 120 $key_args $WORKER_Q & done; wait"
    "${SSH_CMD[@]}" "$host" "$remote" <"$keyfile" &
    PIDS+=("$!")
done < "$HOSTS"
[ ${#PIDS[@]} -gt 0 ] || { echo "launch.sh: no hosts in $HOSTS" >&2; kill "$COORD"; exit 2; }

rc=0
wait "$COORD" || rc=$?
# Workers exit on the coordinator's Shutdown; give late joiners a grace period, then end the sessions.
for ((t = 0; t < ${GRACE_SECONDS:-10} * 10; t++)); do
    alive=0
    for p in "${PIDS[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ $alive = 0 ] && break
    sleep 0.1
done
cleanup
for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
PIDS=()
exit $rc
