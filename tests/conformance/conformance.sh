#!/usr/bin/env bash
# Runs socket_api_conformance against conformance_peer (a kernel process in a private netns
# with culvertd on a TAP): MODE kernel = the test's sockets are kernel sockets in the netns;
# MODE culvert = the same binary under the preload. Usage: conformance.sh BINDIR MODE
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../integration/svc_lib.sh"
mode=$2
svc_setup "$1"
bg peer "${IN_NS[@]}" "$bin/conformance_peer" "$work/peer_ready"
wait_file "$work/peer_ready" 20 || fail "conformance_peer did not start"
peers=(CONFORMANCE_PEER_V4="$SVC_V4_KERNEL" CONFORMANCE_PEER_V6="$SVC_V6_KERNEL")
case "$mode" in
  kernel) runner=("${IN_NS[@]}" env "${peers[@]}") ;;
  culvert) runner=("${UNDER[@]}" "${peers[@]}") ;;
  *) fail "unknown mode $mode" ;;
esac
timeout 100 "${runner[@]}" "$bin/socket_api_conformance" --gtest_color=no || fail "conformance failed ($mode)"
if [ "$mode" = culvert ]; then
  wait_status '.sockets' 0 10
  wait_status '.orphans' 0 10
  wait_status '.segment_bytes_in_use' 0 5
fi
echo "PASS conformance $mode"
