#!/usr/bin/env bash
# Fetches containerd from Debian and unpacks it into a directory of its own, without touching the
# system's apt sources: 1.7 from trixie (Debian bookworm's containerd 1.6.20 cannot run images
# whose layers are Wasm: that needs 1.6.25+ or 1.7.7+), or 2.x from sid. The shim's end-to-end
# tests find the binaries through SKIFF_CONTAINERD_DIR (default: target/containerd/usr/bin under
# the workspace, the 1.7 one).
#
#   scripts/fetch-containerd.sh [DIR]               1.7; DIR defaults to target/containerd
#   scripts/fetch-containerd.sh --suite sid [DIR]   2.x; DIR defaults to target/containerd2
#
# Idempotent: does nothing when DIR/usr/bin/containerd of that major version already runs.
set -euo pipefail
cd "$(dirname "$0")/.."

suite=trixie default=containerd version=' v\?1\.7\.'
if [ "${1:-}" = "--suite" ]; then
  case "${2:-}" in
    trixie) ;;
    sid) suite=sid default=containerd2 version=' v\?2\.' ;;
    *) echo "unknown suite \`${2:-}\`: use trixie (containerd 1.7) or sid (2.x)" >&2; exit 2 ;;
  esac
  shift 2
fi
dir="${1:-${CARGO_TARGET_DIR:-target}/$default}"
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"

if [ -x "$dir/usr/bin/containerd" ] && "$dir/usr/bin/containerd" --version | grep -q "$version"; then
  echo "containerd already in $dir/usr/bin"
  exit 0
fi

# The mirror this machine already uses, with the suite asked for.
uri="$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)"
uri="${uri:-http://deb.debian.org/debian}"

apt_dir="$dir/apt"
mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial"
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $uri $suite main" >"$apt_dir/sources.list"
apt_opts=(
  -o "Dir::Etc::sourcelist=$apt_dir/sources.list"
  -o "Dir::Etc::sourceparts=/dev/null"
  -o "Dir::State::Lists=$apt_dir/lists"
  -o "Dir::Cache=$apt_dir/cache"
  -o "APT::Sandbox::User=root"
)
apt-get "${apt_opts[@]}" update -qq
(cd "$apt_dir" && apt-get "${apt_opts[@]}" download containerd)
rm -rf "$dir/usr"
dpkg -x "$apt_dir"/containerd_*.deb "$dir"
"$dir/usr/bin/containerd" --version
echo "containerd in $dir/usr/bin"
