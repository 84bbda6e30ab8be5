#!/usr/bin/env bash
# Measures the constants of the scaling model (scripts/scaling_model.py, docs/scaling.md):
#   1. compute: `gentrain bench MODEL --json` at 1 rank x 1 thread, at several batch sizes;
#   2. all-reduce: `gentrain bench allreduce --floats SWEEP --json` (the reducer and one bare MPI_Allreduce per size)
#      on 2, 3 and 4 network-namespace nodes over Open MPI's TCP transport, with every node's link shaped by tbf to
#      10 Gbit/s and 25 Gbit/s (both directions), unshaped, and over shared memory (plain local ranks);
# then writes the measurements (JSON) and lets scaling_model.py fit, check and predict. Each phase (the compute, the
# TCP runs of one link speed, the shared-memory runs) holds the CPU lock exclusively once, for 1-4 minutes.
#
# Nodes sc1..sc4 = 10.251.0.1..4 on a bridge br-sc (10.251.0.254/24); names and addresses differ from
# scripts/two-nodes.sh (n1, n2, br-gt, 10.250.0.0/24), so both may run at once. Needs root. Never hangs: every
# command runs under `timeout`; the namespaces, the bridge and the qdiscs are removed on exit (trap).
#
# Environment (all optional):
#   GENTRAIN          release binary                    (default: <repo>/.build/release/gentrain)
#   SCALING_OUTPUT    measurements file                 (default: <repo>/docs/scaling-measurements.json)
#   SCALING_MODELS    models whose compute is measured  (default: autoencoder,vae,dcgan,rbm,gmm)
#   SCALING_BATCHES   batch sizes of the compute fit    (default: 16,64,128)
#   SCALING_FLOATS    all-reduce sweep, floats          (default: 64,1024,16384,131072,489537,1048576,2444418)
#   SCALING_TIMEOUT   seconds one compute bench may take (default: 300)
#   SCALING_LOCK_WAIT seconds to wait for the CPU lock   (default: 3600)
#   SCALING_MPI_TIMEOUT seconds one all-reduce mpirun may take (default: 60; a failed run is tried again, 3 times)
#   SCALING_SKIP_COMPUTE=1  keep the compute part of an existing SCALING_OUTPUT
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
gentrain=${GENTRAIN:-$repo/.build/release/gentrain}
output=${SCALING_OUTPUT:-$repo/docs/scaling-measurements.json}
models=${SCALING_MODELS:-autoencoder,vae,dcgan,rbm,gmm}
batches=${SCALING_BATCHES:-16,64,128}
floats=${SCALING_FLOATS:-64,1024,16384,131072,489537,1048576,2444418}
limit=${SCALING_TIMEOUT:-300}
lock_wait=${SCALING_LOCK_WAIT:-3600}
mpi_limit=${SCALING_MPI_TIMEOUT:-60}
nodes_max=4
# Link speeds (tbf rate) and the bucket size of the reducer (the trainer's default, distributed.bucket_mb).
links=(10gbit 25gbit)
bucket_mb=4

fail() { echo "FAIL: $*" >&2; exit 1; }

# shellcheck source=scripts/namespace-nodes.sh
. "$repo/scripts/namespace-nodes.sh"
teardown_network() { namespace_nodes_down sc br-sc "$nodes_max"; }

export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_btl_vader_single_copy_mechanism=${OMPI_MCA_btl_vader_single_copy_mechanism:-none}
bench_args=(bench allreduce --json --floats "$floats" --steps 40 --warmup 5 --bucket-mb "$bucket_mb")

# Open MPI's all-reduce algorithm: its own choice (what training runs get), or the ring (the model's algorithm).
# Waiting ranks yield the core (4 nodes share 2 cores: a spinning rank would hold the core its neighbour needs).
algorithm_args() {
  local args=(--mca mpi_yield_when_idle 1)
  [ "$1" = ring ] && args+=(--mca coll_tuned_use_dynamic_rules 1 --mca coll_tuned_allreduce_algorithm 4)
  echo "${args[@]}"
}

# A phase's mpirun: a few seconds, but a namespace node's daemon now and then never reports in (see two-nodes.sh),
# so a run that fails or outlives $mpi_limit s is tried again, up to 3 times. Its JSON lines go to stdout, tagged
# with the transport ($1), link ($2) and algorithm ($3).
tagged_mpirun() {
  local transport=$1 link=$2 algorithm=$3 attempt out line
  shift 3
  out=$(mktemp)
  for attempt in 1 2 3; do
    if timeout -k 5 "$mpi_limit" mpirun "$@" >"$out" 2>"$out.err" && grep -q '^{' "$out"; then
      grep '^{' "$out" | while read -r line; do
        echo "{\"transport\": \"$transport\", \"link\": \"$link\", \"algorithm\": \"$algorithm\", \"result\": $line}"
      done
      rm -f "$out" "$out.err"
      return 0
    fi
    echo "   attempt $attempt failed: $(tail -n 3 "$out.err" | tr '\n' ' ')" >&2
  done
  rm -f "$out" "$out.err"
  return 1
}

# --- the phases: `scaling.sh --phase NAME ...`, run under the lock by the main part below ---
if [ "${1:-}" = --phase ]; then
  case $2 in
    compute)  # compute per image, 1 rank x 1 thread; one JSON line per model and batch size
      for model in ${models//,/ }; do
        # The mixture fits the whole data set each step (EM: the batch is ignored): its job's class, 3 iterations.
        model_batches=$batches
        model_args=(--steps 10 --warmup 3)
        if [ "$model" = gmm ]; then model_batches=128 model_args=(--classes 0 --steps 3 --warmup 1); fi
        for batch in ${model_batches//,/ }; do
          echo "== compute: $model batch $batch" >&2
          timeout -k 5 "$limit" "$gentrain" bench "$model" --batch "$batch" "${model_args[@]}" --threads 1 --json |
            grep '^{' | tail -n 1 | grep . || fail "gentrain bench $model --batch $batch failed"
        done
      done ;;
    tcp)  # $3 link, $4 launch agent: the sweep on 2, 3 and 4 namespace nodes, the ring and Open MPI's own choice
      link=$3 agent=$4 hostfile=$(mktemp)
      for ranks in 2 3 4; do
        : >"$hostfile"
        for n in $(seq "$ranks"); do echo "sc$n slots=1" >>"$hostfile"; done
        for algorithm in ring default; do
          echo "== all-reduce over TCP: $ranks nodes, link ${link/none/unshaped}, $algorithm algorithm" >&2
          # One launch agent at a time (see two-nodes.sh: concurrent agents sometimes never report in).
          # shellcheck disable=SC2046
          tagged_mpirun tcp "$link" "$algorithm" -n "$ranks" --hostfile "$hostfile" --bind-to none \
            --prefix /usr --mca plm_rsh_agent "$agent" --mca plm_rsh_no_tree_spawn 1 --mca plm_rsh_num_concurrent 1 \
            --mca oob_tcp_if_include 10.251.0.0/24 --mca pml ob1 --mca btl tcp,self --mca btl_tcp_if_include 10.251.0.0/24 \
            $(algorithm_args "$algorithm") "$gentrain" "${bench_args[@]}" || fail "the $ranks-node all-reduce failed 3 times"
        done
      done
      rm -f "$hostfile" ;;
    shm)  # plain local ranks (Open MPI's shared memory)
      for ranks in 2 3 4; do
        for algorithm in ring default; do
          echo "== all-reduce over shared memory: $ranks local ranks, $algorithm algorithm" >&2
          # shellcheck disable=SC2046
          tagged_mpirun shm none "$algorithm" -n "$ranks" --oversubscribe --bind-to none $(algorithm_args "$algorithm") \
            "$gentrain" "${bench_args[@]}" || fail "the $ranks-rank shared-memory all-reduce failed 3 times"
        done
      done ;;
    *) fail "unknown phase $2" ;;
  esac
  exit 0
fi

[ "$(id -u)" -eq 0 ] || fail "must run as root (creates network namespaces)"
for tool in ip tc mpirun timeout flock python3; do command -v "$tool" >/dev/null || fail "$tool not found"; done
[ -x "$gentrain" ] || fail "gentrain release binary not found: $gentrain (swift build -c release, or set GENTRAIN)"
GENTRAIN=$(realpath "$gentrain")
export GENTRAIN
exec 8<"$0"
flock -n 8 || fail "another run of $0 is in progress"

tmp=""
child=""
cleanup() {
  local rc=$?
  if [ -n "$child" ]; then kill -TERM "$child" 2>/dev/null || true; wait "$child" 2>/dev/null || true; fi
  teardown_network
  [ -n "$tmp" ] && rm -rf "$tmp"
  exit "$rc"
}
trap cleanup EXIT
trap 'echo "FAIL: interrupted" >&2; exit 130' INT
trap 'echo "FAIL: terminated" >&2; exit 143' TERM
tmp=$(mktemp -d -t gentrain-scaling.XXXXXX)
teardown_network

# Runs a phase of this script holding the CPU lock exclusively, its stdout appended to $1, under timeout (600 s of
# work at most, the lock's rule; the lock's wait bounded apart), in the background (so a signal acts at once: the
# outer timeout passes it to its whole group), without the fd of this script's own lock.
run_phase() {
  local out=$1 rc=0
  shift
  timeout -k 10 $((600 + lock_wait)) flock -x /work/cpu.lock timeout -k 10 600 "$BASH" "$0" --phase "$@" 8<&- >>"$out" &
  child=$!
  wait "$child" || rc=$?
  child=""
  [ "$rc" -eq 0 ] || fail "phase $* failed (exit $rc)"
}

compute=$tmp/compute.jsonl allreduce=$tmp/allreduce.jsonl
: >"$compute"
: >"$allreduce"
if [ "${SCALING_SKIP_COMPUTE:-0}" = 1 ]; then
  [ -f "$output" ] || fail "SCALING_SKIP_COMPUTE=1 needs an existing $output"
else
  run_phase "$compute" compute
fi

# The nodes: sc1..sc4 on br-sc, each behind its own veth pair.
namespace_nodes_up sc br-sc 10.251.0 "$nodes_max" || fail "the namespace network did not come up within 10 s"
agent=$tmp/netns-agent
namespace_launch_agent "$agent"

# Shapes every node's link to $1 (tbf in both directions: the node's egress inside its namespace, and the bridge
# port's egress towards the node), or removes the shaping ("none"). A burst of 64 KiB (one GSO packet; larger ones
# are segmented) lets at most 52 us at 10 Gbit/s, 21 us at 25 Gbit/s, pass unshaped.
shape() {
  local n
  for n in $(seq "$nodes_max"); do
    tc -n "sc$n" qdisc del dev "veth-sc$n" root 2>/dev/null || true
    tc qdisc del dev "veth-sc$n-br" root 2>/dev/null || true
    if [ "$1" != none ]; then
      tc -n "sc$n" qdisc add dev "veth-sc$n" root tbf rate "$1" burst 64kb latency 20ms
      tc qdisc add dev "veth-sc$n-br" root tbf rate "$1" burst 64kb latency 20ms
    fi
  done
}
for link in none "${links[@]}"; do
  shape "$link"
  run_phase "$allreduce" tcp "$link" "$agent"
done
shape none
run_phase "$allreduce" shm

# The measurements file, then the fit, the check and the predictions.
python3 - "$output" "$compute" "$allreduce" "$bucket_mb" "${SCALING_SKIP_COMPUTE:-0}" "$repo/scripts" <<'PYTHON'
import json, platform, sys, time
output, compute, allreduce, bucket_mb, skip, scripts = sys.argv[1:]
sys.path.insert(0, scripts)
from scaling_model import compact
previous = json.load(open(output)) if skip == "1" else {}
compute_lines, groups = compact([] if skip == "1" else [json.loads(l) for l in open(compute)],
                                [json.loads(l) for l in open(allreduce)])
measured = {
    "date": time.strftime("%Y-%m-%d"),
    "cpu": next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?"),
    "kernel": platform.release(),
    "bucket_mb": float(bucket_mb),
    "compute": previous["compute"] if skip == "1" else compute_lines,
    "allreduce": groups,
}
with open(output, "w") as f:  # one entry a line: a few KB, diffable
    f.write("{\n" + ",\n".join(f"{json.dumps(k)}: " + (
        "[\n" + ",\n".join(json.dumps(e, sort_keys=True) for e in v) + "\n]" if isinstance(v, list) else json.dumps(v))
        for k, v in measured.items()) + "\n}\n")
PYTHON
echo "== measurements in $output"
python3 "$repo/scripts/scaling_model.py" "$output"
