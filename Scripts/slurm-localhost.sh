#!/usr/bin/env bash
# A real Slurm cluster of one node on this machine, running both Slurm launchers end to end:
# installs Debian's slurmctld/slurmd/slurm-client + munge if missing, starts munged, slurmctld and slurmd
# (as root, in the background, all state in a fresh temporary directory, free ports), waits for the node to
# be idle, submits Cluster/slurm/flowturbo.sbatch (coordinator + workers via srun, CurveZMQ keys made per
# node) and Cluster/slurm/flowturbo-array.sbatch (2 parts + the dependent merge job) with a small
# gmm:synthetic run, waits (bounded) until the queue is empty, and compares the latents of both, byte for
# byte, with a local `flowturbo run` of the same configuration. Stops the daemons it started.
#
#   sudo Scripts/slurm-localhost.sh [path/to/flowturbo]      # default: .build/debug/flowturbo
#
# Exit 0 = PASS, 1 = FAIL, 2 = usage (no binary), 77 = skipped with the reason on stdout ("SKIP: …"):
# not root, no apt-get or the install failed, or the daemons cannot start here.
# Environment: TIMEOUT (seconds for the jobs, default 300), KEEP=1 (keep the state directory),
# SAMPLES BATCH PLAN SEED (run size, default 96 8 H8 7).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${1:-${FLOWTURBO:-$ROOT/.build/debug/flowturbo}}
[ -x "$BIN" ] || { echo "FAIL: flowturbo binary not found at $BIN (swift build first)"; exit 2; }
BIN=$(readlink -f "$BIN")
TIMEOUT=${TIMEOUT:-300}
SAMPLES=${SAMPLES:-96} BATCH=${BATCH:-8} PLAN=${PLAN:-H8} SEED=${SEED:-7}
T0=$(date +%s.%N)

skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*"; exit 1; }
elapsed() { awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

[ "$(id -u)" = 0 ] || skip "needs root to install and start slurmctld/slurmd/munged (run with sudo)"
# 1. Packages (once per machine).
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v sbatch >/dev/null \
    || ! command -v munged >/dev/null; then
    command -v apt-get >/dev/null || skip "Slurm is not installed and there is no apt-get"
    echo "installing slurmctld slurmd slurm-client munge (apt-get)"
    install() {
        DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=120 install -y -q --no-install-recommends \
            slurmctld slurmd slurm-client munge >/tmp/slurm-localhost-apt.log 2>&1
    }
    install || { apt-get -o DPkg::Lock::Timeout=120 update -q >/dev/null 2>&1 && install; } \
        || skip "apt-get install of slurm failed: $(tail -n 1 /tmp/slurm-localhost-apt.log)"
    echo "installed Slurm in $(elapsed) s"
fi

WORK=$(mktemp -d /tmp/slurm-localhost.XXXXXX)
chmod 0755 "$WORK"
DAEMONS=()
cleanup() {
    if [ ${#DAEMONS[@]} -gt 0 ]; then
        # Cancel what is left and give slurmd time to end its job steps before the daemons go.
        scancel --quiet --user=root 2>/dev/null || true
        for _ in $(seq 30); do [ -z "$(squeue -h -o %i 2>/dev/null)" ] && break; sleep 0.5; done
        for p in "${DAEMONS[@]}"; do kill "$p" 2>/dev/null || true; done
        for p in "${DAEMONS[@]}"; do wait "$p" 2>/dev/null || true; done
    fi
    if [ "${KEEP:-0}" = 1 ]; then echo "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A free TCP port on loopback (nothing answers a connect), optionally with its successor free too; below the
# ephemeral range, from which srun and the daemons take the ports of their own connections.
EPHEMERAL=$(awk '{ print $1 }' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
free_port() {
    local p
    for _ in $(seq 100); do
        p=$((10000 + RANDOM % (EPHEMERAL - 10002)))
        (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && continue
        [ "${1:-}" = pair ] && { (exec 3<>"/dev/tcp/127.0.0.1/$((p + 1))") 2>/dev/null && continue; }
        echo "$p"
        return 0
    done
    return 1
}

# 2. munge: its own key and socket under $WORK.
mkdir -m 0755 "$WORK/munge" "$WORK/state" "$WORK/spool" "$WORK/log" "$WORK/runs"
dd if=/dev/urandom of="$WORK/munge/munge.key" bs=1024 count=1 status=none
chmod 0400 "$WORK/munge/munge.key"
munged -F --force --key-file="$WORK/munge/munge.key" --socket="$WORK/munge/munge.sock" \
    --pid-file="$WORK/munge/munged.pid" --seed-file="$WORK/munge/seed" >"$WORK/log/munged.log" 2>&1 &
DAEMONS+=("$!")
for _ in $(seq 50); do [ -S "$WORK/munge/munge.sock" ] && break; sleep 0.1; done
munge -S "$WORK/munge/munge.sock" -n 2>/dev/null | unmunge -S "$WORK/munge/munge.sock" >/dev/null 2>&1 \
    || skip "munged cannot start here: $(tail -n 1 "$WORK/log/munged.log")"

# 3. slurm.conf: one node (this host, its CPUs and memory), no cgroups, no accounting database.
NODE=$(hostname -s)
CPUS=$(nproc)
MEM=$(awk '/^MemTotal:/ { print int($2 / 1024 * 0.9) }' /proc/meminfo)
CTLD_PORT=$(free_port) SLURMD_PORT=$(free_port) FT_PORT=$(free_port pair)
export SLURM_CONF="$WORK/slurm.conf"
cat >"$SLURM_CONF" <<EOF
ClusterName=flowturbo-localhost
SlurmctldHost=$NODE(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$WORK/munge/munge.sock
StateSaveLocation=$WORK/state
SlurmdSpoolDir=$WORK/spool
SlurmctldPidFile=$WORK/slurmctld.pid
SlurmdPidFile=$WORK/slurmd.pid
SlurmctldLogFile=$WORK/log/slurmctld.log
SlurmdLogFile=$WORK/log/slurmd.log
MailProg=/bin/true
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
MinJobAge=3600
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEM State=UNKNOWN
PartitionName=local Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF

# 4. Daemons in the foreground of background jobs, so this script owns (and stops) them.
slurmctld -D -f "$SLURM_CONF" >"$WORK/log/slurmctld.out" 2>&1 &
DAEMONS+=("$!")
slurmd -D -f "$SLURM_CONF" -N "$NODE" >"$WORK/log/slurmd.out" 2>&1 &
DAEMONS+=("$!")
state=""
for _ in $(seq 300); do
    state=$(sinfo -h -N -n "$NODE" -o '%T' 2>/dev/null || true)
    [ "$state" = idle ] && break
    for p in "${DAEMONS[@]}"; do
        kill -0 "$p" 2>/dev/null || skip "a Slurm daemon exited: $(grep -h -i error "$WORK"/log/*.out | tail -n 2)"
    done
    sleep 0.2
done
[ "$state" = idle ] || skip "node $NODE not idle after 60 s (state: ${state:-none}): $(tail -n 2 "$WORK/log/slurmd.out")"
echo "Slurm up in $(elapsed) s: node $NODE, $CPUS CPUs, ${MEM} MB (ports $CTLD_PORT/$SLURMD_PORT)"

# 5. Submit both launchers; job logs go to $WORK (the submit directory).
cd "$WORK"
# The workers pause 250 ms per batch so that all of them join before the tiny run is over.
export FLOWTURBO="$BIN" MODEL=gmm:synthetic SAMPLES BATCH PLAN SEED EXTRA_ARGS="--shard-size 16" \
    WORKER_EXTRA_ARGS="--batch-delay-ms 250"
COORD_JOB=$(sbatch --parsable --nodes=1 --cpus-per-task="$CPUS" --time=00:10:00 \
    --export="ALL,FLOWTURBO_OUT=$WORK/runs/coord,FLOWTURBO_KEYS=$WORK/keys,PORT=$FT_PORT" \
    "$ROOT/Cluster/slurm/flowturbo.sbatch") || fail "sbatch flowturbo.sbatch refused"
COORD_JOB=${COORD_JOB%%;*}
ARRAY_OUT=$(PARTS=2 PART_CPUS=1 MERGE_CPUS=1 SBATCH_ARGS="--time=00:10:00" FLOWTURBO_OUT="$WORK/runs/parts" \
    bash "$ROOT/Cluster/slurm/flowturbo-array.sbatch") || fail "flowturbo-array.sbatch submission: $ARRAY_OUT"
echo "submitted flowturbo.sbatch as job $COORD_JOB; $ARRAY_OUT"

# 6. The local reference meanwhile (same flags, two local workers).
"$BIN" run --workers 2 --model gmm:synthetic --samples "$SAMPLES" --batch "$BATCH" --plan "$PLAN" --seed "$SEED" \
    --shard-size 16 --quiet --out "$WORK/runs/local" >"$WORK/log/local.log" 2>&1 \
    || fail "local run: $(tail -n 3 "$WORK/log/local.log")"

# 7. Wait (bounded) until the queue is empty.
deadline=$(($(date +%s) + TIMEOUT))
while [ -n "$(squeue -h -o %i 2>/dev/null)" ]; do
    # A failed job leaves the merge job pending for ever (afterok can no longer hold): stop waiting.
    if squeue -h -o %r 2>/dev/null | grep -q DependencyNeverSatisfied; then
        squeue
        tail -n 5 "$WORK"/*.log || true
        fail "a job failed, so the merge job's dependency can never be satisfied"
    fi
    if [ "$(date +%s)" -ge "$deadline" ]; then
        squeue
        tail -n 5 "$WORK"/*.log || true
        fail "jobs still queued or running after $TIMEOUT s"
    fi
    sleep 0.5
done
echo "all jobs done after $(elapsed) s"

# 8. Every job completed with exit code 0 (scontrol keeps finished jobs for MinJobAge = 300 s).
bad=$(scontrol show job -o | awk '!/JobState=COMPLETED/ || !/ ExitCode=0:0/ { print }')
if [ -n "$bad" ]; then
    echo "$bad"
    tail -n 20 "$WORK"/*.log || true
    fail "a Slurm job did not complete"
fi
n=$(scontrol show job -o | grep -c JobId=)
[ "$n" -eq 4 ] || fail "expected 4 jobs (launcher, 2 array tasks, merge), scontrol shows $n"

# 9. Keys: one public key per node on the allow list, the node's secret removed after the run.
ALLOWED=$(ls "$WORK/keys/job-$COORD_JOB")
[ "$ALLOWED" = "$NODE.pub" ] || fail "allow list of job $COORD_JOB holds '$ALLOWED', expected $NODE.pub"
[ ! -e "/tmp/flowturbo-keys-$COORD_JOB/$NODE.key" ] || fail "the node's secret key outlived the run"
grep -Eq '"auth_rejected" *: *0([^0-9]|$)' "$WORK/runs/coord/report.json" || fail "report.json: auth_rejected is not 0"
seen=$(grep -Eo '"workers_seen" *: *[0-9]+' "$WORK/runs/coord/report.json" | grep -Eo '[0-9]+$' || echo "?")
# One worker per allocated core (the sbatch passes --ntasks; --ntasks-per-node alone gives one task per node).
[ "$seen" = "$CPUS" ] || fail "flowturbo.sbatch: $seen workers joined the coordinator, expected one per core ($CPUS)"
echo "flowturbo.sbatch: $seen srun workers joined the coordinator with their node's key"

# 10. Latents and labels (.npy), byte for byte; the per-shard .json hold timings and worker ids.
compare() {
    local a=$1 b=$2 names
    names=$(cd "$a/latents" && ls -- *.npy)
    [ -n "$names" ] || fail "$a has no latents"
    [ "$names" = "$(cd "$b/latents" && ls -- *.npy)" ] || fail "$b/latents holds other files than $a/latents"
    for f in $names; do cmp -s "$a/latents/$f" "$b/latents/$f" || fail "$b/latents/$f differs from the local run"; done
    echo "$(echo "$names" | wc -l) files identical: $b"
}
compare "$WORK/runs/local" "$WORK/runs/coord"
compare "$WORK/runs/local" "$WORK/runs/parts/merged"
echo "PASS: flowturbo.sbatch and flowturbo-array.sbatch on a one-node Slurm match a local run byte for byte ($(elapsed) s)"
