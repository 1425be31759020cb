# Test helpers for private network namespaces; source it (`. scripts/netns.sh`), needs root.
# Every namespace made here is named cvt-<pid>-<random>, carries only 10.0.0.0/8 and fd00::/8
# addresses, and is removed with its processes and interfaces when the sourcing shell exits.
#
#   cvt_netns_create NS                 make a namespace, store its name in variable NS
#   cvt_netns_exec NS CMD...            run CMD inside it
#   cvt_veth NS_A IF_A NS_B IF_B        veth pair IF_A (in NS_A) <-> IF_B (in NS_B), both up
#   cvt_tap NS IF [USER]                persistent TAP IF inside NS (USER may attach it), up
#   cvt_addr NS IF ADDR/PREFIX          add an address (10.x or fdxx:: only; IPv6 without DAD)
#   cvt_netns_cleanup                   remove everything made so far (the EXIT trap calls it)
#   cvt_netns_sweep_stale               remove cvt-<pid>-* namespaces whose shell is dead
#
# Cleanup runs from an EXIT trap (also on INT, TERM and HUP, and on `set -e` failures). If
# your script sets its own EXIT trap afterwards, call cvt_netns_cleanup from it. bash runs
# traps only between commands: wait on long commands with `cmd & wait $!` so a signal
# interrupts them. Only SIGKILL skips the trap; cvt_netns_sweep_stale finds those leftovers.

CVT_NETNS_LIST=()
_cvt_trap_installed=0

_cvt_die() {
  echo "netns.sh: $*" >&2
  return 1
}

_cvt_install_trap() {
  [ "$_cvt_trap_installed" = 1 ] && return 0
  trap cvt_netns_cleanup EXIT
  # Signals become exits so that the EXIT trap runs exactly once.
  trap 'exit 129' HUP
  trap 'exit 130' INT
  trap 'exit 143' TERM
  _cvt_trap_installed=1
}

# Stops every process still inside NS (the test's own: nothing else lives there), then
# deletes NS; its veth and TAP devices go with it.
_cvt_netns_remove() {
  local ns=$1 pids i
  pids=$(ip netns pids "$ns" 2>/dev/null || true)
  if [ -n "$pids" ]; then
    kill -TERM $pids 2>/dev/null || true
    for i in 1 2 3 4 5 6 7 8 9 10; do
      pids=$(ip netns pids "$ns" 2>/dev/null || true)
      [ -z "$pids" ] && break
      sleep 0.1
    done
    [ -n "$pids" ] && kill -KILL $pids 2>/dev/null || true
  fi
  ip netns del "$ns" 2>/dev/null || true
}

cvt_netns_cleanup() {
  local ns
  for ns in "${CVT_NETNS_LIST[@]}"; do
    _cvt_netns_remove "$ns"
  done
  CVT_NETNS_LIST=()
}

cvt_netns_create() {
  local var=${1:?usage: cvt_netns_create VARIABLE}
  local ns="cvt-$$-$(printf '%04x%04x' $RANDOM $RANDOM)"
  _cvt_install_trap
  ip netns add "$ns" || _cvt_die "cannot create network namespace $ns" || return 1
  CVT_NETNS_LIST+=("$ns")
  ip -n "$ns" link set lo up || return 1
  printf -v "$var" '%s' "$ns"
}

_cvt_is_ours() {
  local ns=$1 n
  for n in "${CVT_NETNS_LIST[@]}"; do
    [ "$n" = "$ns" ] && return 0
  done
  _cvt_die "$ns is not a namespace made by cvt_netns_create in this shell"
}

cvt_netns_exec() {
  local ns=${1:?usage: cvt_netns_exec NS CMD...}
  shift
  _cvt_is_ours "$ns" || return 1
  ip netns exec "$ns" "$@"
}

cvt_veth() {
  local ns_a=${1:?usage: cvt_veth NS_A IF_A NS_B IF_B} if_a=${2:?} ns_b=${3:?} if_b=${4:?}
  _cvt_is_ours "$ns_a" && _cvt_is_ours "$ns_b" || return 1
  # Created inside NS_A, so no name ever appears in the caller's namespace.
  ip -n "$ns_a" link add "$if_a" type veth peer name "$if_b" netns "$ns_b" || return 1
  ip -n "$ns_a" link set "$if_a" up && ip -n "$ns_b" link set "$if_b" up
}

cvt_tap() {
  local ns=${1:?usage: cvt_tap NS IF [USER]} ifname=${2:?} user=${3:-}
  _cvt_is_ours "$ns" || return 1
  if [ -n "$user" ]; then
    ip -n "$ns" tuntap add mode tap user "$user" name "$ifname" || return 1
  else
    ip -n "$ns" tuntap add mode tap name "$ifname" || return 1
  fi
  ip -n "$ns" link set "$ifname" up
}

cvt_addr() {
  local ns=${1:?usage: cvt_addr NS IF ADDR/PREFIX} ifname=${2:?} addr=${3:?}
  _cvt_is_ours "$ns" || return 1
  case "$addr" in
    10.*/*)
      ip -n "$ns" addr add "$addr" dev "$ifname" ;;
    [fF][dD][0-9a-fA-F][0-9a-fA-F]:*/*)
      # nodad: usable at once, as culvert's stack treats its own configured addresses.
      ip -n "$ns" -6 addr add "$addr" dev "$ifname" nodad ;;
    *)
      _cvt_die "refusing $addr: tests use 10.0.0.0/8 or fd00::/8 with a prefix length only" ;;
  esac
}

cvt_netns_sweep_stale() {
  local ns pid
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}'); do
    case "$ns" in
      cvt-*-*) ;;
      *) continue ;;
    esac
    pid=${ns#cvt-}
    pid=${pid%%-*}
    case "$pid" in
      '' | *[!0-9]*) continue ;;
    esac
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "netns.sh: removing stale $ns (its shell $pid is gone)" >&2
      _cvt_netns_remove "$ns"
    fi
  done
}
