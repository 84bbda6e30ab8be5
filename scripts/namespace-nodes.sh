# Network-namespace "nodes" on one machine, sourced by scripts/two-nodes.sh and scripts/scaling.sh (needs root).
# Node k of prefix P is the namespace Pk holding veth-Pk (address SUBNET.k/24); its peer veth-Pk-br is a port of the
# bridge BRIDGE (SUBNET.254/24) in the root namespace. Open MPI reaches the nodes through a launch agent that
# enters the namespace instead of ssh.

# namespace_nodes_down PREFIX BRIDGE COUNT: kills what runs inside the nodes (only these test hosts), removes them,
# their veth pairs (with their qdiscs) and the bridge. Errors are ignored: parts may not exist.
namespace_nodes_down() {
  local prefix=$1 bridge=$2 count=$3 n pid
  for n in $(seq "$count"); do
    for pid in $(ip netns pids "$prefix$n" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
    ip netns del "$prefix$n" 2>/dev/null || true
    ip link del "veth-$prefix$n" 2>/dev/null || true      # left in the root namespace if set-up stopped early
    ip link del "veth-$prefix$n-br" 2>/dev/null || true
  done
  ip link del "$bridge" 2>/dev/null || true
}

# namespace_nodes_up PREFIX BRIDGE SUBNET COUNT: builds the nodes and waits (at most 10 s) until every link has
# carrier and the bridge forwards on every port: an Open MPI daemon that cannot reach mpirun at start-up is never
# reported, and mpirun waits for it forever. Returns 1 if the network did not come up.
namespace_nodes_up() {
  local prefix=$1 bridge=$2 subnet=$3 count=$4 n
  for n in $(seq "$count"); do
    ip netns add "$prefix$n"
    ip link add "veth-$prefix$n" type veth peer name "veth-$prefix$n-br"
    ip link set "veth-$prefix$n" netns "$prefix$n"
    ip -n "$prefix$n" addr add "$subnet.$n/24" dev "veth-$prefix$n"
    ip -n "$prefix$n" link set lo up
    ip -n "$prefix$n" link set "veth-$prefix$n" up
  done
  ip link add "$bridge" type bridge
  ip addr add "$subnet.254/24" dev "$bridge"
  for n in $(seq "$count"); do
    ip link set "veth-$prefix$n-br" master "$bridge"
    ip link set "veth-$prefix$n-br" up
  done
  ip link set "$bridge" up
  local _
  for _ in $(seq 100); do namespace_nodes_ready "$prefix" "$bridge" "$count" && return 0; sleep 0.1; done
  return 1
}

namespace_nodes_ready() {
  local prefix=$1 bridge=$2 count=$3 n
  for n in $(seq "$count"); do
    ip -n "$prefix$n" link show "veth-$prefix$n" | grep -q LOWER_UP || return 1
    [ "$(cat "/sys/class/net/veth-$prefix$n-br/brport/state" 2>/dev/null)" = 3 ] || return 1
  done
  ip link show "$bridge" | grep -q LOWER_UP
}

# namespace_launch_agent FILE: writes Open MPI's launch agent (plm_rsh_agent): `FILE HOST CMD...` runs CMD (joined, as
# ssh does) inside HOST.
namespace_launch_agent() {
  cat >"$1" <<'EOF'
#!/bin/sh
host=$1
shift
exec ip netns exec "$host" sh -c "$*"
EOF
  chmod +x "$1"
}
