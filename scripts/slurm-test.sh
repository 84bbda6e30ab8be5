#!/usr/bin/env bash
# Slurm test on one machine: starts a private Slurm cluster (scripts/slurm-cluster.sh), submits the
# batch script `gentrain sbatch` writes for a short 2-rank job, sends the batch shell USR1 mid-run (as
# `--signal=B:USR1@90` does before the time limit), and checks that the ranks checkpointed, that the
# job requeued itself and resumed from its checkpoint, and that it finished with the same parameters
# (params_sha256) as the same job run without interruption. Stops every daemon on every exit path.
#
# Environment (optional): GENTRAIN (default <repo>/.build/release/gentrain), SLURM_TEST_STEPS (40),
# SLURM_TEST_TIMEOUT (seconds to wait for the job, 300). Needs root. Ends with "PASS: ..." or "FAIL: ...".
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
gentrain=${GENTRAIN:-$repo/.build/release/gentrain}
steps=${SLURM_TEST_STEPS:-40}
timeout_seconds=${SLURM_TEST_TIMEOUT:-300}
job=$repo/jobs/autoencoder-fashion.yaml
settings=(--set train.steps="$steps" --set train.batch_size=12 --set checkpoint.every_steps=1000 --set eval.every_epochs=0)

fail() { echo "FAIL: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || fail "needs root (the private cluster runs its daemons as root)"
[ -x "$gentrain" ] || fail "no gentrain binary at $gentrain"

dir=$(mktemp -d /tmp/gentrain-slurm.XXXXXX)
cleanup() {
  "$repo/scripts/slurm-cluster.sh" stop "$dir" >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap cleanup EXIT
trap 'fail "interrupted"' INT TERM

eval "$("$repo/scripts/slurm-cluster.sh" start "$dir")"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

# The reference: the same job, uninterrupted, on 2 local ranks.
echo "== reference run (no Slurm, no interruption): $steps steps"
timeout 300 "$gentrain" run "$job" --ranks 2 "${settings[@]}" --set output="$dir/reference" --resume never -- --bind-to none >"$dir/reference.log" 2>&1 ||
  { tail -20 "$dir/reference.log"; fail "the reference run failed"; }

echo "== sbatch: the script gentrain sbatch writes, interrupted with USR1 and requeued"
mkdir -p "$dir/submit"
(cd "$dir/submit" && "$gentrain" sbatch "$job" --nodes 1 --tasks-per-node 2 --time 10:00 "${settings[@]}" --set output="$dir/run" --output "$dir/job.sh")
grep -q -- '--signal=B:USR1@90' "$dir/job.sh" && grep -q -- '--requeue' "$dir/job.sh" || fail "the batch script lacks --signal or --requeue"
jobid=$(sbatch --parsable "$dir/job.sh") || fail "sbatch refused the script"
echo "submitted Slurm job $jobid"

state() { scontrol show job "$jobid" 2>/dev/null | sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p'; }
steps_done() { local count; count=$(grep -c '"step"' "$dir/run/metrics.jsonl" 2>/dev/null || true); echo "${count:-0}"; }
deadline=$((SECONDS + timeout_seconds))
until [ "$(steps_done)" -ge 8 ]; do
  [ $SECONDS -lt $deadline ] || fail "the job did not reach step 8 (state $(state)); log: $(tail -5 "$dir/run/slurm.log" 2>/dev/null)"
  sleep 0.5
done
scancel -b -s USR1 "$jobid"
echo "sent USR1 to the batch shell at step $(steps_done)"
until [ "$(state)" = COMPLETED ]; do
  case $(state) in FAILED|CANCELLED|TIMEOUT|NODE_FAIL|OUT_OF_MEMORY) fail "the job ended $(state); log: $(tail -20 "$dir/run/slurm.log")" ;; esac
  [ $SECONDS -lt $deadline ] || fail "the job did not complete within ${timeout_seconds}s (state $(state))"
  sleep 1
done

log=$dir/run/slurm.log
grep -q "checkpoint at step" "$log" || fail "no checkpoint on the signal; log: $(tail -20 "$log")"
grep -q "requeued Slurm job $jobid" "$log" || fail "the launcher did not requeue the job; log: $(tail -20 "$log")"
grep -q "restart 1," "$log" || fail "the job did not run a second time (SLURM_RESTART_COUNT 1)"
resumed=$(sed -n 's/.*resuming at step \([0-9]*\).*/\1/p' "$log" | tail -1)
[ -n "$resumed" ] || fail "the requeued job did not resume from a checkpoint"

hash_of() { "$gentrain" inspect --json "$(ls "$1"/checkpoints/*.gtck | sort | tail -1)" | sed -n 's/.*"params_sha256":"\([0-9a-f]*\)".*/\1/p'; }
reference=$(hash_of "$dir/reference")
requeued=$(hash_of "$dir/run")
[ -n "$reference" ] && [ "$reference" = "$requeued" ] || fail "parameters differ: uninterrupted $reference, requeued $requeued"
echo "PASS: Slurm job $jobid checkpointed on USR1, requeued itself, resumed at step $resumed and finished step $steps" \
  "with the uninterrupted run's parameters (params_sha256 $reference)"
