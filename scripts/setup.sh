#!/usr/bin/env bash
# Installs every Debian 12 package culvert needs and fetches the lwIP source (DESIGN §2).
# Idempotent: a second run checks and returns in about a second. Run as root.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
third="$here/third_party"          # ignored by git; never committed
lwip_dir="$third/lwip"

packages=(
  build-essential cmake ninja-build ccache pkg-config git
  googletest libgtest-dev libgmock-dev librapidcheck-dev libbenchmark-dev
  libcli11-dev libspdlog-dev libfmt-dev nlohmann-json3-dev libtomlplusplus-dev
  libdpdk-dev dpdk libpcap-dev
  iproute2 iputils-ping procps psmisc strace
  curl socat netcat-openbsd iperf3 sockperf nginx-light python3 tshark
)

log() { printf 'setup: %s\n' "$*"; }

if [ "$(id -u)" -ne 0 ]; then
  echo "setup: must run as root (it installs Debian packages)" >&2
  exit 2
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # tshark asks whether non-root users may capture; answer once, non-interactively.
  echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# nginx-light starts a service on install; tests start their own instances.
systemctl disable --now nginx >/dev/null 2>&1 || true

if [ ! -f "$lwip_dir/src/Filelists.cmake" ]; then
  log "fetching lwIP source through a private source list"
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  uri=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
  [ -n "$uri" ] || uri=$(awk '$1=="deb" {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
  [ -n "$uri" ] || { echo "setup: cannot find the Debian archive address in apt's sources" >&2; exit 1; }
  . /etc/os-release
  mkdir -p "$work/lists/partial" "$work/archives/partial"
  echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $uri $VERSION_CODENAME main" > "$work/sources.list"
  opts=(-o APT::Sandbox::User=root -o "Dir::Etc::SourceList=$work/sources.list" -o Dir::Etc::SourceParts=/dev/null
        -o "Dir::State::Lists=$work/lists" -o "Dir::Cache::Archives=$work/archives")
  apt-get "${opts[@]}" update -qq
  (cd "$work" && apt-get "${opts[@]}" source --download-only -qq lwip >/dev/null)
  dsc=$(ls "$work"/lwip_*.dsc | head -n 1)
  command -v dpkg-source >/dev/null || apt-get install -y -qq dpkg-dev >/dev/null
  rm -rf "$lwip_dir"
  mkdir -p "$third"
  dpkg-source --no-check -x "$dsc" "$lwip_dir" >/dev/null
  [ -f "$lwip_dir/src/Filelists.cmake" ] || { echo "setup: lwIP source has no src/Filelists.cmake" >&2; exit 1; }
  log "lwIP source in $lwip_dir"
fi
log "ok"
