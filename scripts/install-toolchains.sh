#!/usr/bin/env bash
# Installs the guest toolchains that `skiff new`'s templates build with, at the versions the
# templates are written for, so that `crates/cli/tests/all/languages.rs` can build every template:
#
#   Rust        rustup targets wasm32-wasip1, wasm32-wasip2     (install-test-deps.sh adds them)
#   C           clang-19 + wasi-libc from Debian                  (apt-get)
#   Go          Go 1.24 from Debian trixie, unpacked (Go >= 1.21 has GOOS=wasip1; bookworm's is 1.19)
#   Python      componentize-py 0.25.1 from PyPI                  (a venv)
#   JavaScript  @bytecodealliance/componentize-js 0.23.0 from npm
#   Zig         ziglang 0.17.1 from PyPI                          (the same venv; `zig` is a wrapper)
#               also `zig c++` for the C++ guest test programs (crates/test-programs/cpp): libc++,
#               and the LLVM sources of the C++ exception runtime they link (artifacts/build.rs)
#
# Everything but clang goes under $SKIFF_TOOLCHAINS (default ~/.cache/skiff-toolchains), with the
# programs the templates call linked into its bin/: put that on PATH to use them
# (the tests do). Downloads are kept there too, so a second run only checks versions.
# The three downloads run in parallel.
set -euo pipefail
cd "$(dirname "$0")/.."

COMPONENTIZE_PY=0.25.1
ZIGLANG=0.17.1
COMPONENTIZE_JS=0.23.0
GO_PACKAGE=golang-1.24

dir="${SKIFF_TOOLCHAINS:-$HOME/.cache/skiff-toolchains}"
mkdir -p "$dir/bin"
dir="$(cd "$dir" && pwd)"
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi

apt_install() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    $sudo apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      "${missing[@]}" >/dev/null
  fi
}

# C, and what the Python and JavaScript toolchains need to install.
apt_packages=(clang-19 lld-19 wasi-libc libclang-rt-19-dev-wasm32)
python3 -c 'import venv, ensurepip' 2>/dev/null || apt_packages+=(python3-venv)
command -v npm >/dev/null || apt_packages+=(nodejs npm)
apt_install "${apt_packages[@]}"

python_toolchains() {
  local venv="$dir/python"
  if ! { [ -x "$venv/bin/componentize-py" ] \
    && [ "$("$venv/bin/componentize-py" --version)" = "componentize-py $COMPONENTIZE_PY" ] \
    && [ "$("$venv/bin/python" -m ziglang version)" = "$ZIGLANG" ]; }; then
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check \
      "componentize-py==$COMPONENTIZE_PY" "ziglang==$ZIGLANG"
  fi
  ln -sfn "$venv/bin/componentize-py" "$dir/bin/componentize-py"
  printf '#!/bin/sh\nexec "%s" -m ziglang "$@"\n' "$venv/bin/python" >"$dir/bin/zig"
  chmod +x "$dir/bin/zig"
}

js_toolchain() {
  local prefix="$dir/node" package="$dir/node/node_modules/@bytecodealliance/componentize-js"
  if ! { [ -f "$package/package.json" ] \
    && grep -q "\"version\": \"$COMPONENTIZE_JS\"" "$package/package.json"; }; then
    rm -rf "$prefix"
    mkdir -p "$prefix"
    npm install --prefix "$prefix" --no-audit --no-fund --loglevel=error \
      "@bytecodealliance/componentize-js@$COMPONENTIZE_JS" >/dev/null
  fi
  ln -sfn "$prefix/node_modules/.bin/componentize-js" "$dir/bin/componentize-js"
}

# Go from Debian trixie, fetched without touching the system's apt sources (as
# fetch-containerd.sh does for containerd) and unpacked: the go binary finds its GOROOT from
# where it lies.
go_toolchain() {
  local goroot="$dir/go/usr/lib/go-1.24"
  if ! { [ -x "$goroot/bin/go" ] && "$goroot/bin/go" version | grep -q 'go1\.24'; }; then
    local uri apt_dir="$dir/apt"
    uri="$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)"
    uri="${uri:-http://deb.debian.org/debian}"
    mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial"
    echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $uri trixie main" \
      >"$apt_dir/sources.list"
    local apt_opts=(
      -o "Dir::Etc::sourcelist=$apt_dir/sources.list"
      -o "Dir::Etc::sourceparts=/dev/null"
      -o "Dir::State::Lists=$apt_dir/lists"
      -o "Dir::Cache=$apt_dir/cache"
      -o "APT::Sandbox::User=root"
    )
    if ! ls "$apt_dir/$GO_PACKAGE"-go_*.deb "$apt_dir/$GO_PACKAGE"-src_*.deb >/dev/null 2>&1; then
      apt-get "${apt_opts[@]}" update -qq
      (cd "$apt_dir" && apt-get "${apt_opts[@]}" download "$GO_PACKAGE-go" "$GO_PACKAGE-src" >/dev/null)
    fi
    rm -rf "$dir/go"
    for deb in "$apt_dir/$GO_PACKAGE"-go_*.deb "$apt_dir/$GO_PACKAGE"-src_*.deb; do
      dpkg -x "$deb" "$dir/go"
    done
  fi
  ln -sfn "$goroot/bin/go" "$dir/bin/go"
}

# The three downloads at once; each writes only its own part of $dir.
pids=()
python_toolchains & pids+=($!)
js_toolchain & pids+=($!)
go_toolchain & pids+=($!)
failed=0
for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
if [ "$failed" -ne 0 ]; then
  echo "error: installing a guest toolchain failed (see above)" >&2
  exit 1
fi

export PATH="$dir/bin:$PATH"
echo "guest toolchains in $dir/bin (add it to PATH to build skiff new's templates):"
echo "  $(clang-19 --version | head -n1)"
echo "  $(go version)"
echo "  $(componentize-py --version)"
echo "  componentize-js $(componentize-js --version)"
echo "  zig $(zig version)"
