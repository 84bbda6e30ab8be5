#!/usr/bin/env bash
# A private one-machine Slurm cluster (munged + slurmctld + slurmd) living entirely under DIR.
#
#   scripts/slurm-cluster.sh start DIR    install what is missing, start the daemons, wait until the node is idle
#   scripts/slurm-cluster.sh status DIR   sinfo and squeue of that cluster
#   scripts/slurm-cluster.sh stop DIR     cancel its jobs, stop its daemons by their pid files, wait until they are gone
#
# Clients (sbatch, squeue, scontrol, ...) need `export SLURM_CONF=DIR/slurm.conf`; `start` prints that line.
# Private ports (16817/16818), socket, pid, log, state and spool files only: a system Slurm or munge is not touched.
# Never uses systemd. Must run as root (SlurmUser=root). Recipe: shared/CLUSTER.md, "A one-machine Slurm cluster".
set -euo pipefail

CTLD_PORT=16817
SLURMD_PORT=16818
WAIT_SECONDS=30

usage() {
  echo "usage: $0 start|stop|status DIR" >&2
  exit 2
}

log() { echo "slurm-cluster: $*" >&2; }

# Absolute path of DIR (created by start only).
absolute_dir() {
  local dir=$1
  case "$dir" in
    /*) ;;
    *) dir="$PWD/$dir" ;;
  esac
  # Drop trailing slashes (but keep "/").
  while [ "${#dir}" -gt 1 ] && [ "${dir%/}" != "$dir" ]; do dir=${dir%/}; done
  echo "$dir"
}

install_packages() {
  local packages=(slurmctld slurmd slurm-client munge) missing=() package
  for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# pid from a pid file if that process is alive and really is our daemon NAME started on DIR; empty otherwise.
# (Checking the command line keeps a stale pid file from ever hitting a recycled pid or a system daemon.)
our_pid() {
  local pid_file=$1 name=$2 dir=$3 pid comm cmdline
  [ -s "$pid_file" ] || return 0
  pid=$(tr -dc '0-9' <"$pid_file" | head -c 10)
  [ -n "$pid" ] && [ -d "/proc/$pid" ] || return 0
  comm=$(cat "/proc/$pid/comm" 2>/dev/null || true)
  cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null || true)
  if [ "$comm" = "$name" ] && [[ "$cmdline" == *"$dir/"* ]]; then
    echo "$pid"
  fi
}

# Waits until the process has exited and, if possible, been reaped (so that `pgrep` no longer lists
# it as <defunct>): a zombie counts as gone after 3 s, since only its parent (init) can reap it.
wait_gone() {
  local pid=$1 seconds=$2 i zombie=0
  for ((i = 0; i < seconds * 10; i++)); do
    [ -d "/proc/$pid" ] || return 0
    if [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || echo Z)" = Z ]; then
      zombie=$((zombie + 1))
      [ "$zombie" -ge 30 ] && return 0
    fi
    sleep 0.1
  done
  [ "$zombie" -gt 0 ]
}

stop_daemon() {
  local pid_file=$1 name=$2 dir=$3 pid
  pid=$(our_pid "$pid_file" "$name" "$dir")
  if [ -z "$pid" ]; then
    rm -f "$pid_file"
    return 0
  fi
  kill -TERM "$pid" 2>/dev/null || true
  if ! wait_gone "$pid" 15; then
    log "$name ($pid) did not exit on SIGTERM within 15 s: SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    wait_gone "$pid" 5 || log "$name ($pid) is still there"
  fi
  rm -f "$pid_file"
  log "stopped $name ($pid)"
}

# slurmstepd processes (one per job step) are not in any pid file; ours hold DIR/log/slurmd.log open.
our_stepds() {
  local dir=$1 pid fd
  for pid in $(pgrep -x slurmstepd || true); do
    for fd in /proc/"$pid"/fd/*; do
      if [[ "$(readlink "$fd" 2>/dev/null || true)" == "$dir/"* ]]; then
        echo "$pid"
        break
      fi
    done
  done
}

cmd_stop() {
  local dir conf pid i jobs
  dir=$(absolute_dir "$1")
  conf="$dir/slurm.conf"
  if [ ! -d "$dir" ]; then
    log "$dir does not exist: nothing to stop"
    return 0
  fi
  # Cancel the jobs first, so that their slurmstepd and tasks end cleanly.
  if [ -n "$(our_pid "$dir/run/slurmctld.pid" slurmctld "$dir")" ] && [ -f "$conf" ]; then
    jobs=$(SLURM_CONF=$conf squeue -h -o %i 2>/dev/null || true)
    if [ -n "$jobs" ]; then
      log "cancelling jobs: $(echo $jobs)"
      # shellcheck disable=SC2086
      SLURM_CONF=$conf scancel $jobs 2>/dev/null || true
      for ((i = 0; i < 150; i++)); do
        [ -z "$(SLURM_CONF=$conf squeue -h -o %i 2>/dev/null || true)" ] && break
        sleep 0.2
      done
    fi
  fi
  stop_daemon "$dir/run/slurmd.pid" slurmd "$dir"
  # Job steps that outlived slurmd (cancel timed out): kill them and their tasks.
  for pid in $(our_stepds "$dir"); do
    log "killing leftover slurmstepd $pid"
    pkill -KILL -P "$pid" 2>/dev/null || true
    kill -KILL "$pid" 2>/dev/null || true
  done
  stop_daemon "$dir/run/slurmctld.pid" slurmctld "$dir"
  stop_daemon "$dir/run/munged.pid" munged "$dir"
}

cmd_status() {
  local dir conf
  dir=$(absolute_dir "$1")
  conf="$dir/slurm.conf"
  [ -f "$conf" ] || { log "no cluster in $dir (no slurm.conf)"; return 1; }
  local name pid
  for name in munged slurmctld slurmd; do
    pid=$(our_pid "$dir/run/$name.pid" "$name" "$dir")
    printf '%-10s %s\n' "$name:" "${pid:-not running}"
  done
  echo "export SLURM_CONF=$conf"
  SLURM_CONF=$conf sinfo
  SLURM_CONF=$conf squeue
}

write_conf() {
  local dir=$1 cpus
  cpus=$(nproc)
  cat >"$dir/slurm.conf" <<EOF
# Private one-machine cluster written by scripts/slurm-cluster.sh: everything lives under $dir.
ClusterName=gentrain
SlurmctldHost=localhost
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$dir/munge.socket,cred_expire=5
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/run/slurmctld.pid
SlurmdPidFile=$dir/run/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=1,bf_interval=1
MpiDefault=pmix
JobRequeue=1
ReturnToService=2
MailProg=/bin/true
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=UNLIMITED State=UP
EOF
}

start_failed() {
  local dir=$1 file
  log "start failed; log tails:"
  for file in "$dir"/log/*.log; do
    [ -f "$file" ] || continue
    echo "== $file" >&2
    tail -n 20 "$file" >&2
  done
  cmd_stop "$dir" || true
}

cmd_start() {
  local dir conf i state
  [ "$(id -u)" -eq 0 ] || { log "must run as root (SlurmUser=root)"; exit 1; }
  dir=$(absolute_dir "$1")
  conf="$dir/slurm.conf"
  # A Unix socket path holds at most 107 bytes.
  if [ ${#dir} -gt 90 ]; then
    log "DIR is too long for a Unix socket path (${#dir} > 90 characters): $dir"
    exit 1
  fi
  if [ -n "$(our_pid "$dir/run/slurmctld.pid" slurmctld "$dir")$(our_pid "$dir/run/slurmd.pid" slurmd "$dir")$(our_pid "$dir/run/munged.pid" munged "$dir")" ]; then
    log "a cluster is already running in $dir: run '$0 stop $dir' first"
    exit 1
  fi
  install_packages
  local port
  for port in "$CTLD_PORT" "$SLURMD_PORT"; do
    if ss -Hltn "sport = :$port" 2>/dev/null | grep -q .; then
      log "TCP port $port is already in use (another cluster running?)"
      exit 1
    fi
  done
  mkdir -p "$dir"/{state,spool,log,run}
  chmod 755 "$dir"  # others may read slurm.conf; munge.key stays 600
  trap 'start_failed "$dir"' ERR

  # munge: private key (1 KiB random, mode 600), socket, pid, log and seed file.
  if [ ! -s "$dir/munge.key" ]; then
    (umask 077 && dd if=/dev/urandom of="$dir/munge.key" bs=1024 count=1 status=none)
  fi
  chmod 600 "$dir/munge.key"
  rm -f "$dir/munge.socket" "$dir/munge.socket.lock"
  munged --force --socket="$dir/munge.socket" --key-file="$dir/munge.key" \
    --pid-file="$dir/run/munged.pid" --log-file="$dir/log/munged.log" --seed-file="$dir/munge.seed"
  for ((i = 0; i < 50; i++)); do
    [ -S "$dir/munge.socket" ] && break
    sleep 0.1
  done
  munge --socket="$dir/munge.socket" -n | unmunge --socket="$dir/munge.socket" >/dev/null

  write_conf "$dir"
  slurmctld -f "$conf"
  slurmd -f "$conf" -N localhost

  state=""
  for ((i = 0; i < WAIT_SECONDS * 5; i++)); do
    state=$(SLURM_CONF=$conf sinfo -h -o %T 2>/dev/null || true)
    [ "$state" = idle ] && break
    # Fail fast when a daemon died (its pid file is written right after it forks).
    if [ "$i" -ge 10 ] && { [ -z "$(our_pid "$dir/run/slurmctld.pid" slurmctld "$dir")" ] ||
      [ -z "$(our_pid "$dir/run/slurmd.pid" slurmd "$dir")" ]; }; then
      log "slurmctld or slurmd exited"
      false
    fi
    sleep 0.2
  done
  if [ "$state" != idle ]; then
    log "node not idle after ${WAIT_SECONDS} s (state: '${state}')"
    false
  fi
  trap - ERR
  log "cluster up in $dir (node localhost idle, $(nproc) CPUs, partition debug)"
  echo "export SLURM_CONF=$conf"
}

[ $# -eq 2 ] || usage
case "$1" in
  start) cmd_start "$2" ;;
  stop) cmd_stop "$2" ;;
  status) cmd_status "$2" ;;
  *) usage ;;
esac
