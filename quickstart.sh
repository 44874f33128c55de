#!/usr/bin/env bash
# Sets up a fresh machine for Skiff and runs its main job: builds `skiff`, builds the example app
# for WASI preview 1 and 0.2, and runs both in the sandbox.
set -euo pipefail
cd "$(dirname "$0")"

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

command -v cargo >/dev/null || { echo "error: cargo not found; install Rust from https://rustup.rs" >&2; exit 1; }

step "Adding the WebAssembly targets, what the test suite starts (docker-registry, htpasswd, containerd, OpenVINO's runtime for wasi-nn) and the guest toolchains of skiff new"
scripts/install-test-deps.sh

step "Building skiff (release; a clean build of wasmtime takes 10-15 minutes on 2 cores)"
cargo build --release --locked -p skiff-cli
skiff="$PWD/target/release/skiff"

step "Building the example app"
(cd examples/hello && cargo build --release --target wasm32-wasip1 --target wasm32-wasip2 --quiet)
p1=examples/hello/target/wasm32-wasip1/release/hello.wasm
p2=examples/hello/target/wasm32-wasip2/release/hello.wasm

data=$(mktemp -d)
trap 'rm -rf "$data"' EXIT
echo "granted" > "$data/readme.txt"

step "skiff run $p1 --name Ada     (a preview 1 module; nothing granted)"
"$skiff" run "$p1" --name Ada

step "skiff run -e GREETING=hi -v $data:/data:ro $p2 --name Ada     (a 0.2 component)"
"$skiff" run -e GREETING=hi -v "$data:/data:ro" "$p2" --name Ada

step "Done. skiff is at $skiff; try \`$skiff run --help\`"
echo "For \`skiff new --lang go|python|js|zig\`, put the toolchains on PATH: export PATH=\"${SKIFF_TOOLCHAINS:-$HOME/.cache/skiff-toolchains}/bin:\$PATH\""
