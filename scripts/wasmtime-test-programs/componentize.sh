#!/usr/bin/env bash
# Turns the wasm32-wasip1 test programs into components as wasmtime's crates/test-programs
# artifacts build.rs does: `wasm-tools component new --adapt` with the preview1 adapter of
# wasi-preview1-component-adapter-provider 48.0.0 (reactor for p3_*, proxy for p2_api_proxy*,
# command for the rest). Skips components newer than their module.
#
#   componentize.sh ADAPTERS MODS COMP   ADAPTERS: the crate's artefacts/ folder
set -uo pipefail
adapters="$1" mods="$2" comp="$3"
mkdir -p "$comp"
for f in "$mods"/*.wasm; do
  n=$(basename "$f" .wasm)
  out="$comp/$n.wasm"
  [ -f "$out" ] && [ "$out" -nt "$f" ] && continue
  case $n in
    p3_*) ad=reactor ;;
    p2_api_proxy*) ad=proxy ;;
    *) ad=command ;;
  esac
  wasm-tools component new "$f" --adapt "wasi_snapshot_preview1=$adapters/wasi_snapshot_preview1.$ad.wasm" \
    -o "$out" 2>"$comp/$n.err" || echo "componentize failed: $n (see $comp/$n.err)" >&2
done
