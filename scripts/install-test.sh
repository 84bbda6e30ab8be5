#!/usr/bin/env bash
# The install as a cluster user meets it: scripts/install.sh into a temporary prefix, the module loaded with the real
# Lmod (Debian's lmod) in a clean shell, and from a folder that holds none of gentrain's files: --version, validate,
# a 5-step run on 2 ranks, features, man gentrain, the completion scripts (bash -n, zsh -n, and bash's `complete`),
# and a Slurm script written with --module run by a shell without gentrain on PATH. Ends with PASS or FAIL.
# Needs: lmod, zsh, man-db (scripts/install-dependencies.sh). The release build it makes stays in .build/release.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd -P)
work=$(mktemp -d /tmp/gentrain-install-test.XXXXXX)
trap 'status=$?; rm -rf "$work"; [ $status -eq 0 ] && echo "install test: PASS" || echo "install test: FAIL"; exit $status' EXIT
prefix="$work/prefix"
elsewhere="$work/elsewhere"
mkdir -p "$elsewhere"

started=$SECONDS
"$repo/scripts/install.sh" --prefix "$prefix"
echo "install: $((SECONDS - started)) s"
version=$("$prefix/bin/gentrain" --version | sed -n '1s/^gentrain \([^ ]*\) .*/\1/p')
[ -f "$prefix/modulefiles/gentrain/$version.lua" ] || { echo "no modulefile $prefix/modulefiles/gentrain/$version.lua" >&2; exit 1; }
commit=$(cd "$repo" && git describe --always --dirty --abbrev=12)

# A clean login shell: the site's profile (Lmod's /etc/profile.d/lmod.sh defines `module`), gentrain not on PATH.
in_clean_shell() {
  env -i HOME="$HOME" USER="${USER:-root}" TERM=dumb PATH=/usr/local/bin:/usr/bin:/bin \
    OMPI_ALLOW_RUN_AS_ROOT="${OMPI_ALLOW_RUN_AS_ROOT:-}" OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="${OMPI_ALLOW_RUN_AS_ROOT_CONFIRM:-}" \
    PREFIX="$prefix" VERSION="$version" COMMIT="$commit" \
    bash -c "cd '$elsewhere' && . /etc/profile && set -euo pipefail && $1"
}

in_clean_shell '
  ! command -v gentrain >/dev/null || { echo "gentrain is on PATH before the module is loaded" >&2; exit 1; }
  module use "$PREFIX/modulefiles"
  module load gentrain
  module list 2>&1 | grep -q "gentrain/$VERSION"
  [ "$(command -v gentrain)" = "$PREFIX/bin/gentrain" ]

  echo "== gentrain --version"
  gentrain --version | tee version.txt
  grep -qx "gentrain $VERSION (commit $COMMIT)" version.txt
  grep -q "^OpenBLAS: OpenBLAS .*; kernels " version.txt
  grep -q "^oneDNN: [0-9.]*.*; kernels " version.txt
  grep -q "^MPI: Open MPI v" version.txt

  echo "== gentrain validate (the example job'"'"'s relative data path is the installed copy)"
  gentrain validate "$PREFIX/share/gentrain/jobs/gaussian-heights.yaml" | sed "s#\\\\/#/#g" > validated.json
  grep -q "\"dataPath\":\"$PREFIX/share/gentrain/data/heights.csv\"" validated.json

  echo "== gentrain run: 5 steps on 2 ranks"
  gentrain run "$PREFIX/share/gentrain/jobs/vae-fashion.yaml" --ranks 2 --set train.steps=5 --set output=vae-run -- --bind-to none
  ls vae-run/checkpoints | grep -q "step-0000000005"

  echo "== gentrain features (the installed evaluator)"
  gentrain features --split test --output real
  [ -s real.features.npy ] && [ -s real.logits.npy ]

  echo "== man gentrain"
  MANWIDTH=100 man -P cat gentrain > manual.txt 2>/dev/null
  # Every subcommand of --help has its section, with its options (the batch commands'"'"' --module, say).
  for command in $(gentrain --help | sed -n "/^SUBCOMMANDS:/,/^\$/p" | awk "NR > 1 && /^  [a-z]/ {print \$1}"); do
    grep -qE "^     $command( |\$)" manual.txt || { echo "man gentrain has no section for $command" >&2; exit 1; }
  done
  grep -q -- "--module name" manual.txt
  echo "manual: $(wc -l < manual.txt) lines"

  echo "== completions"
  bash -n "$PREFIX/share/bash-completion/completions/gentrain"
  zsh -n "$PREFIX/share/zsh/site-functions/_gentrain"
  complete -p gentrain | grep -q "_gentrain"   # the module sourced bash'"'"'s completion as it loaded
  zsh -c "fpath=(\"$PREFIX/share/zsh/site-functions\" \$fpath); autoload -Uz compinit && compinit -u -d \"$PWD/zcompdump\" && (( \${+_comps[gentrain]} ))"

  echo "== a Slurm script written with --module"
  gentrain sbatch "$PREFIX/share/gentrain/jobs/gaussian-heights.yaml" --nodes 1 --tasks-per-node 2 --module "gentrain/$VERSION" \
    --set output=heights-run --output heights.sbatch
  grep -qx "module load gentrain/$VERSION || .*" heights.sbatch
'

# The batch script runs where nothing is loaded and `module` is not defined: it defines it from /etc/profile and
# loads the module (MODULEPATH, as a site sets it, names the prefix's modulefiles).
env -i HOME="$HOME" PATH=/usr/bin:/bin MODULEPATH="$prefix/modulefiles" \
  OMPI_ALLOW_RUN_AS_ROOT="${OMPI_ALLOW_RUN_AS_ROOT:-}" OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="${OMPI_ALLOW_RUN_AS_ROOT_CONFIRM:-}" \
  bash -c "cd '$elsewhere' && ! command -v gentrain && ! command -v module && bash heights.sbatch"
grep -q '"mean"' "$elsewhere/heights-run/metrics.jsonl" || { echo "the module's batch script left no metrics" >&2; exit 1; }
