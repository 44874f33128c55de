#!/usr/bin/env bash
# Installs what `cargo test --workspace --locked` needs besides Rust: the wasm targets the guest
# test programs are built for, and the real services the tests start (a registry; `htpasswd -B`
# for the one with auth; a Redis server; PostgreSQL and MariaDB servers; containerd 1.7 and 2.x for the
# shim, with what the shim needs to build; OpenVINO's runtime for wasi-nn), and the guest
# toolchains of `skiff new`'s templates (C, Go, Python, JavaScript, Zig), which also build the C
# and C++ guest test programs.
# Called by quickstart.sh and .ci/run, so both stay in step.
set -euo pipefail

rustup target add wasm32-wasip1 wasm32-wasip2

# protobuf-compiler and libseccomp-dev: to build the containerd shim's deps (runwasi's shimkit).
# chromium and chromium-driver: the dashboard's tests in a real headless browser
# (crates/cli/tests/all/dashboard.rs) and benches/dashboard.sh.
# redis-server: the Redis server Spin apps' outbound Redis reaches in the tests (each starts its
# own on a free port; the package's own service is not used); openssl: a certificate for the one
# that speaks TLS; postgresql: the PostgreSQL server Spin apps' outbound PostgreSQL reaches (each
# test makes its own cluster in a temp dir; the package's own is not used); mariadb-server: the
# MySQL server Spin apps' outbound MySQL reaches (likewise, its own per test).
packages=(docker-registry apache2-utils protobuf-compiler libseccomp-dev chromium chromium-driver
  redis-server openssl postgresql mariadb-server)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  $sudo apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
fi

# containerd 1.7 from Debian trixie, for the shim's end-to-end tests (crates/shim/tests/all), and
# containerd 2.x from Debian sid, which .ci/run runs them against too.
"$(dirname "$0")/fetch-containerd.sh"
"$(dirname "$0")/fetch-containerd.sh" --suite sid

# OpenVINO's runtime libraries (from its PyPI wheel), which the wasi-nn tests run a model on
# (crates/cli/tests/all/programs.rs `p2_nn`).
"$(dirname "$0")/fetch-openvino.sh"

# The guest toolchains of `skiff new`'s templates, for crates/cli/tests/all/languages.rs; they
# also build the guest test programs in C (clang-19, wasi-libc) and in C++ (zig c++ with Wasm
# exceptions: crates/test-programs/cpp), which `cargo test` and `cargo clippy` build first.
"$(dirname "$0")/install-toolchains.sh"
