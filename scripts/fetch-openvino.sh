#!/usr/bin/env bash
# Fetches OpenVINO's runtime libraries, for the wasi-nn tests (crates/cli/tests/all/nn.rs): the
# `openvino` wheel from PyPI (pinned), of which only the libraries a CPU inference of an IR model
# needs are unpacked into a directory of their own, nothing installed. The tests find it through
# SKIFF_OPENVINO_DIR (default: target/openvino under the workspace) and give it to Skiff as
# LD_LIBRARY_PATH, where a user's own OpenVINO install would be found.
#
#   scripts/fetch-openvino.sh [DIR]      DIR defaults to target/openvino
#
# Idempotent: does nothing when DIR/libopenvino_c.so is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

version=2026.4.1
dir="${1:-${CARGO_TARGET_DIR:-target}/openvino}"
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"
if [ -e "$dir/libopenvino_c.so" ]; then
  echo "OpenVINO already in $dir"
  exit 0
fi

download="$(mktemp -d)"
trap 'rm -rf "$download"' EXIT
python3 -m pip download --quiet --no-deps --only-binary=:all: \
  --platform manylinux_2_28_x86_64 --python-version 3.11 \
  -d "$download" "openvino==$version"
python3 - "$download"/openvino-*.whl "$dir" <<'PY'
import os, re, sys, zipfile
wheel, dest = sys.argv[1], sys.argv[2]
# The runtime, its C API (what wasi-nn's backend loads), the CPU plugin, the IR reader, and what
# they link to.
wanted = re.compile(r"openvino/libs/(libopenvino(_c|_intel_cpu_plugin|_ir_frontend)?\.so[.0-9]*|libtbb(malloc)?\.so[.0-9]*|libhwloc\.so[.0-9]*)$")
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        if wanted.match(name):
            path = os.path.join(dest, os.path.basename(name))
            with z.open(name) as src, open(path + ".part", "wb") as out:
                out.write(src.read())
            os.chmod(path + ".part", 0o755)
            os.replace(path + ".part", path)
PY
# The wheel names the C library by its version only; the finder looks for `libopenvino_c.so`.
c_lib="$(cd "$dir" && ls libopenvino_c.so.* | head -n1)"
ln -sf "$c_lib" "$dir/libopenvino_c.so"
echo "OpenVINO $version in $dir"
