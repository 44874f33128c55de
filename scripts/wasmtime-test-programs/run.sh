#!/usr/bin/env bash
# Conformance check against wasmtime's own tests: builds wasmtime 48's test programs
# (crates/test-programs, as its artifacts build.rs does: wasm32-wasip1, debug, then componentized
# with the 48.0.0 preview1 adapters), runs each under `skiff run` with the command line wasmtime's
# tests use (driver.py: groups harness, cli, fuel, hh, http), re-runs every Skiff failure under the
# reference wasmtime CLI, and prints per-group pass counts and the programs that fail under Skiff
# but pass under wasmtime (the ones that matter; a program failing under both is environment or
# harness-only, e.g. no DNS or internet here).
#
#   WASMTIME_SRC=... WASMTIME=... scripts/wasmtime-test-programs/run.sh [GROUP [FILTER]]
#
# Env: WASMTIME_SRC  a checkout or export of wasmtime at release-48.0.0 (required)
#      WASMTIME      the reference wasmtime 48 CLI binary (required)
#      SKIFF         (target/release/skiff)
#      WORK          scratch and results folder (default: a fresh mktemp -d); results in
#                    WORK/results/<label>/{cmd,rc,stdout,stderr,wt.*} and WORK/results/summary.tsv
#      PROGRAMS_DIR  already built wasm32-wasip1 test programs: skips the build
#      ADAPTERS      the artefacts/ folder of wasi-preview1-component-adapter-provider 48.0.0
#                    (default: found through `cargo metadata`, downloading the crate if need be)
#      ECHO_PORT     port of the local HTTP echo server the http group talks to (18089)
#      EXTRA=1       also the side-by-side pipe and serve checks (pipes.py, serve.py), printed
#      TMO           seconds per run (45)
# Needs: cargo with the wasm32-wasip1 target, wasm-tools, python3. The build uses its own
# CARGO_TARGET_DIR under WORK (a few minutes). Cargo.toml.in is test-programs' manifest made
# standalone (workspace deps pinned), Cargo.lock the lock it was built with.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here/../.."

: "${WASMTIME_SRC:?set WASMTIME_SRC to a wasmtime release-48.0.0 checkout}"
: "${WASMTIME:?set WASMTIME to a wasmtime 48 CLI binary}"
SKIFF="${SKIFF:-target/release/skiff}"
WORK="${WORK:-$(mktemp -d)}"
ECHO_PORT="${ECHO_PORT:-18089}"
mkdir -p "$WORK"
WORK="$(cd "$WORK" && pwd)"
WASMTIME_SRC="$(cd "$WASMTIME_SRC" && pwd)"
export SKIFF="$(realpath "$SKIFF")" WASMTIME="$(realpath "$WASMTIME")" ECHO_PORT
"$SKIFF" --version >/dev/null
"$WASMTIME" --version | grep -q '^wasmtime 48\.' || echo "warning: $WASMTIME is not wasmtime 48" >&2
echo "work folder: $WORK"

# 1. The test programs.
if [ -n "${PROGRAMS_DIR:-}" ]; then
  MODS="$(cd "$PROGRAMS_DIR" && pwd)"
else
  src="$WORK/src/crates"
  rm -rf "$WORK/src" && mkdir -p "$src"
  cp -r "$WASMTIME_SRC/crates/test-programs" "$src/"
  # The wit (and bindings sources) test-programs includes by relative path.
  for d in wasi/src wasi-http/src wasi-http/wit wasi-config/wit wasi-keyvalue/wit wasi-nn/wit wasi-tls/src wasi-tls/wit; do
    mkdir -p "$src/$(dirname "$d")" && cp -r "$WASMTIME_SRC/crates/$d" "$src/$d"
  done
  cp "$here/Cargo.toml.in" "$src/test-programs/Cargo.toml"
  cp "$here/Cargo.lock" "$src/test-programs/Cargo.lock"
  # What wasmtime's CLI and wasi tests run: p1_*, p2_*, p3_*, config_get, keyvalue_main (not the
  # async_*/nn_*/dwarf_*/wizer_*/piped_* ones, which are driven through the embedding API).
  bins=$(cd "$src/test-programs/src/bin" && ls | sed -n 's/^\(p[123]_.*\|config_get\|keyvalue_main\)\.rs$/--bin \1/p')
  echo "building $(echo "$bins" | wc -l) test programs"
  (cd "$src/test-programs" && CARGO_TARGET_DIR="$WORK/target" cargo build --locked --target wasm32-wasip1 $bins)
  MODS="$WORK/target/wasm32-wasip1/debug"
fi

# 2. Components.
if [ -z "${ADAPTERS:-}" ]; then
  mkdir -p "$WORK/adapter/src" && touch "$WORK/adapter/src/lib.rs"
  printf '[package]\nname = "adapter"\nversion = "0.0.0"\nedition = "2021"\n[workspace]\n[dependencies]\nwasi-preview1-component-adapter-provider = "=48.0.0"\n' >"$WORK/adapter/Cargo.toml"
  ADAPTERS="$(cd "$WORK/adapter" && cargo metadata --format-version 1 | python3 -c '
import json, os, sys
m = json.load(sys.stdin)
print(next(os.path.dirname(p["manifest_path"]) for p in m["packages"] if p["name"] == "wasi-preview1-component-adapter-provider"))')/artefacts"
fi
COMP="$WORK/comp"
echo "componentizing into $COMP"
"$here/componentize.sh" "$ADAPTERS" "$MODS" "$COMP"

# 3. The runs.
export MODS COMP OUT="$WORK/results" SKIFF_ROOT="$WORK/skiff-root" TMPDIR="$WORK/tmp"
rm -rf "$OUT" "$TMPDIR" && mkdir -p "$OUT" "$TMPDIR" "$SKIFF_ROOT"
python3 "$here/echo_server.py" "$ECHO_PORT" 2>"$WORK/echo_server.log" &
echo_pid=$!
trap 'kill $echo_pid 2>/dev/null || true' EXIT
python3 "$here/driver.py" "${1:-all}" ${2:+"$2"} | tee "$WORK/driver.log"
kill $echo_pid 2>/dev/null || true
if [ "${EXTRA:-}" = 1 ]; then
  python3 "$here/pipes.py" | tee "$WORK/pipes.log"
  python3 "$here/serve.py" | tee "$WORK/serve.log"
fi

# 4. Summary.
echo
echo "== summary ($OUT/summary.tsv)"
awk -F'\t' '{ g = $1; sub(/\..*/, "", g); n[g]++; if ($2 == "PASS") p[g]++; else if ($5 ~ /wt=PASS/) r[g]++ }
  END { for (g in n) printf "%-8s %3d/%-3d pass under skiff, %d of the failures pass under wasmtime\n", g, p[g], n[g], r[g] }' \
  "$OUT/summary.tsv" | sort
echo
echo "== fail under skiff, pass under wasmtime"
awk -F'\t' '$2 == "FAIL" && $5 ~ /wt=PASS/ { print "  " $1 "\t" $3 "\t" $5 }' "$OUT/summary.tsv"
echo
echo "== fail under both (environment or harness-only)"
awk -F'\t' '$2 == "FAIL" && $5 !~ /wt=PASS/ { print "  " $1 "\t" $3 "\t" $5 }' "$OUT/summary.tsv"
