#!/usr/bin/env bash
# Cold-start benchmark: time to run a hello-world program to completion, measured in one run on one
# machine, peers interleaved (A B C D, A B C D, ...):
#   skiff     `skiff run hello.wasm`            (compile cache warm: the cached start is measured)
#   wasmtime  `wasmtime run hello.wasm`         (wasmtime-cli 48.0.8 by default, its default cache, warm;
#             the table names the version run)
#   wasmtime-aot  `wasmtime run --allow-precompiled hello.cwasm` (`wasmtime compile` first: the
#             wasmtime CLI at its best, nothing to look up or decompress)
#   native    the same program, static x86_64 binary
#   docker    `docker run --network none`       of a FROM scratch image holding that static binary
#             (no `--rm`: removing the container is not part of starting it; the containers
#             are removed after each batch, outside the timing)
#
# Env: SKIFF, WASMTIME (binaries), ROUNDS (5), RUNS (30 per round for the fast peers),
#      DOCKER_RUNS (10 per round), WARMUP (3), OUT (benches/results/cold-start.md),
#      STRICT=1 to exit 1 when a goal is missed.
# Exit: 0 done, 1 error (or missed goal with STRICT=1), 2 a prerequisite binary is missing.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR
source "$HERE/lib.sh" # log, die, need, machine_info, build_program, start_dockerd, report, ...
SKIFF=${SKIFF:-$REPO/target/release/skiff}
WASMTIME=${WASMTIME:-/work/peers/wasmtime-48.0.8/bin/wasmtime}
ROUNDS=${ROUNDS:-5}
RUNS=${RUNS:-30}
DOCKER_RUNS=${DOCKER_RUNS:-10}
WARMUP=${WARMUP:-3}
OUT=${OUT:-$HERE/results/cold-start.md}
STRICT=${STRICT:-0}
EXPECTED='Hello, world!'
IMAGE=skiff-bench-hello:latest

# --- prerequisites that this script will not build itself -------------------------------------
[[ -x $SKIFF ]] || missing_skiff
need_wasmtime
need hyperfine hyperfine
need dockerd docker.io
need docker docker.io
need python3 python3
machine_info

# --- temp dirs, dockerd, and their cleanup -----------------------------------------------------
WORK=$(mktemp -d)
SKIFF_ROOT=$(mktemp -d)
export SKIFF_ROOT
on_exit_cleanup "$WORK" "$SKIFF_ROOT"

# --- the hello program: wasm32-wasip1 and static native ---------------------------------------
build_program hello wasm32-wasip1 static

# --- Docker engine of our own (classic builder, nothing pulled) ------------------------------
# --bridge=none: the containers use --network none, so leave the host's network configuration
# alone (and do not clash with another engine's docker0).
start_dockerd --bridge=none
build_scratch_image "$IMAGE"
DOCKER=$(command -v docker)

# --- the commands; each must print exactly "Hello, world!" -------------------------------------
# hyperfine -N splits these on whitespace: the paths must not contain spaces.
CWASM=$WORK/hello.cwasm
"$WASMTIME" compile "$WASM" -o "$CWASM"
PEERS=(skiff wasmtime wasmtime-aot native docker)
declare -A CMD=(
    [skiff]="$SKIFF run $WASM"
    [wasmtime]="$WASMTIME run $WASM"
    [wasmtime-aot]="$WASMTIME run --allow-precompiled $CWASM"
    [native]="$NATIVE"
    [docker]="$DOCKER run --network none $IMAGE"
)
plain_paths "hyperfine -N cannot run it" "$SKIFF" "$WASMTIME" "$WASM" "$CWASM" "$NATIVE" "$DOCKER"

log "warm-up (fills skiff's and wasmtime's compile caches) and output check"
for p in "${PEERS[@]}"; do check_output "$p" warm; done

# --- measurement: ROUNDS rounds, each running every peer -------------------------------------
mkdir -p "$WORK/json"
for ((r = 1; r <= ROUNDS; r++)); do
    for p in "${PEERS[@]}"; do
        runs=$RUNS cleanup=true
        [[ $p == docker ]] && runs=$DOCKER_RUNS cleanup="$DOCKER container prune -f"
        log "round $r/$ROUNDS: $p ($runs runs)"
        hyperfine -N --style none --warmup "$WARMUP" --runs "$runs" --cleanup "$cleanup" \
            --export-json "$WORK/json/$p.$r.json" -n "$p" "${CMD[$p]}" >/dev/null
    done
done

# --- report ------------------------------------------------------------------------------------
report "$WORK/json" "$MACHINE" "$ROUNDS" "$OUT" "$("$WASMTIME" --version)" \
    "$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)" <<'PY'
import glob, json, os, statistics, sys

jdir, machine, rounds, out, wasmtime, commit = sys.argv[1:7]
rounds = int(rounds)
peers = ["skiff", "wasmtime", "wasmtime-aot", "native", "docker"]
samples = {}
for p in peers:
    ts = []
    for f in sorted(glob.glob(os.path.join(jdir, f"{p}.*.json"))):
        with open(f) as fh:
            ts += json.load(fh)["results"][0]["times"]
    if not ts:
        sys.exit(f"no samples for {p}")
    samples[p] = sorted(t * 1000.0 for t in ts)  # ms

med = {p: statistics.median(samples[p]) for p in peers}
s = med["skiff"]
cmp = {
    "skiff": "-",
    "wasmtime": f"skiff/wasmtime = {s / med['wasmtime']:.2f}x",
    "wasmtime-aot": f"skiff/wasmtime-aot = {s / med['wasmtime-aot']:.2f}x",
    "native": f"skiff - native = {s - med['native']:+.2f} ms",
    "docker": f"docker/skiff = {med['docker'] / s:.0f}x",
}
lines = [
    "# Cold start: hello world to completion",
    "",
    machine,
    "",
    f"`benches/cold-start.sh` at commit {commit}, the peer `{wasmtime}`. "
    f"{rounds} interleaved rounds (skiff, wasmtime, wasmtime-aot, native, docker), hyperfine -N, warm-up 3 "
    "per round; skiff and wasmtime with a warm compile cache, wasmtime-aot from `wasmtime compile` "
    "output; docker without `--rm` (containers pruned after each batch, untimed). p99 is nearest-rank "
    "(the max below 100 samples).",
    "",
    "| peer | samples | median ms | p99 ms | max ms | vs skiff |",
    "| --- | ---: | ---: | ---: | ---: | --- |",
]
for p in peers:
    xs = samples[p]
    lines.append(f"| {p} | {len(xs)} | {med[p]:.2f} | {p99(xs):.2f} | {xs[-1]:.2f} | {cmp[p]} |")
goals = [
    # Issue 14's goals: at least 150x docker, within 1 ms of the native binary.
    ("skiff >= 150x faster than docker", med["docker"] / s >= 150, f"{med['docker'] / s:.0f}x"),
    ("skiff no slower than wasmtime run at its best (the faster of cached and precompiled)",
     s <= min(med["wasmtime"], med["wasmtime-aot"]),
     f"{s:.2f} ms vs {min(med['wasmtime'], med['wasmtime-aot']):.2f} ms"),
    ("skiff within 1 ms of native", s - med["native"] <= 1.0, f"{s - med['native']:+.2f} ms"),
]
finish(lines, out, goals)
PY
