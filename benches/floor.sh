#!/usr/bin/env bash
# The floor under issue 14's goals: what wasmtime itself costs for the three things they time,
# with Skiff's own wasmtime build and nothing of Skiff (`benches/floor`, `wasmtime-floor`), next
# to Skiff and the native peer measured in the same run. A goal the floor already misses cannot
# be met by any embedding of today's wasmtime; one it meets, Skiff's own additions miss.
#   http   a fresh instance of the hello handler (`programs/http-hello`) per request, called in
#          memory (no socket, no HTTP parsing): CPU per request, one thread on core 0; the native
#          hyper server's CPU per request under `wrk -t1 -c32` (server core 0, wrk core 1) is what
#          sockets and HTTP cost any server. Goal: Skiff >= 0.5x native's requests/s, i.e. at
#          most 2x native's CPU per request.
#   idle   N instances of `programs/idle` blocked in a sleep, each an async call on its own
#          fiber, in one process: PSS growth per app. Goal: <= 20 KiB per idle app.
#   start  a process that loads the precompiled hello program and runs it (`wasmtime-floor
#          run`), `skiff run hello.wasm` (cache warm) and the native binary, interleaved by
#          hyperfine -N. Goal: Skiff within 1 ms of native.
#
# Env: SKIFF, FLOOR (binaries; default target/release/{skiff,wasmtime-floor}), ROUNDS (3),
#      APPS (1000), RUNS (100 per round for start), OUT (benches/results/floor.md).
# Exit: 0 done, 1 error, 2 a prerequisite binary is missing.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR
source "$HERE/lib.sh"
SKIFF=${SKIFF:-$REPO/target/release/skiff}
FLOOR=${FLOOR:-$REPO/target/release/wasmtime-floor}
ROUNDS=${ROUNDS:-3}
APPS=${APPS:-1000}
RUNS=${RUNS:-100}
OUT=${OUT:-$HERE/results/floor.md}

[[ -x $SKIFF ]] || missing_skiff
[[ -x $FLOOR ]] || {
    log "no wasmtime-floor at $FLOOR: cargo build --release -p skiff-bench-floor"
    exit 2
}
need hyperfine hyperfine
need wrk wrk
need taskset util-linux
need curl curl
need python3 python3
machine_info

WORK=$(mktemp -d)
SKIFF_ROOT=$(mktemp -d)
export SKIFF_ROOT
on_exit_cleanup "$WORK" "$SKIFF_ROOT"

build_program http-hello wasm32-wasip2 static
HTTP_WASM=$WASM HTTP_NATIVE=$NATIVE
build_program idle wasm32-wasip1
IDLE_WASM=$WASM
build_program hello wasm32-wasip1 static
HELLO_WASM=$WASM HELLO_NATIVE=$NATIVE
"$FLOOR" compile "$HELLO_WASM" "$WORK/hello.cwasm"
EXPECTED='Hello, world!'
for cmd in "$FLOOR run $WORK/hello.cwasm" "$SKIFF run $HELLO_WASM" "$HELLO_NATIVE"; do
    out=$($cmd) # also fills skiff's compile cache
    [[ $out == "$EXPECTED" ]] || die "$cmd printed '$out'"
done

native_cpu_per_request() { # CPU µs per request of the native hello server under wrk (5 s)
    local port pid before after requests
    port=$(free_port)
    taskset -c 0 "$HTTP_NATIVE" "127.0.0.1:$port" >"$WORK/native.log" 2>&1 &
    pid=$!
    for _ in $(seq 500); do curl -sf "http://127.0.0.1:$port/" >/dev/null && break; sleep 0.01; done
    taskset -c 1 wrk -t1 -c32 -d1s "http://127.0.0.1:$port/" >/dev/null
    before=$(cpu_ticks "$pid")
    taskset -c 1 wrk -t1 -c32 -d5s "http://127.0.0.1:$port/" >"$WORK/wrk.txt"
    after=$(cpu_ticks "$pid")
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    requests=$(awk '/requests in/ { print $1 }' "$WORK/wrk.txt")
    python3 -c "print(($after - $before) / $(getconf CLK_TCK) * 1e6 / $requests)"
}

: >"$WORK/results.txt"
for ((r = 1; r <= ROUNDS; r++)); do
    log "round $r/$ROUNDS"
    echo "http-floor $(taskset -c 0 "$FLOOR" http "$HTTP_WASM" |
        sed -E 's/.*: ([0-9.]+) us CPU per request.*/\1/')" >>"$WORK/results.txt"
    echo "http-native $(native_cpu_per_request)" >>"$WORK/results.txt"
    echo "idle-floor $("$FLOOR" idle "$IDLE_WASM" --apps "$APPS" |
        sed -E 's/.*: ([0-9.]+) KiB per app/\1/')" >>"$WORK/results.txt"
    hyperfine -N -w 5 -r "$RUNS" --export-json "$WORK/start-$r.json" \
        -n floor "$FLOOR run $WORK/hello.cwasm" -n skiff "$SKIFF run $HELLO_WASM" \
        -n native "$HELLO_NATIVE" >/dev/null
done

report "$OUT" "$WORK" "$MACHINE" "$SKIFF" <<'PY'
import glob, json, statistics
out, work, machine, skiff = sys.argv[1:5]
vals = {}
for line in open(f"{work}/results.txt"):
    k, v = line.split()
    vals.setdefault(k, []).append(float(v))
times = {}
for path in sorted(glob.glob(f"{work}/start-*.json")):
    for res in json.load(open(path))["results"]:
        times.setdefault(res["command"], []).extend(t * 1000 for t in res["times"])
med = {k: statistics.median(v) for k, v in vals.items()}
start = {k: statistics.median(v) for k, v in times.items()}
fmt = lambda xs: ", ".join(f"{x:.2f}" for x in xs)
lines = [
    "## The floor: what wasmtime itself costs under the goals", "", machine, "",
    f"`benches/floor.sh`, {len(vals['http-floor'])} rounds; `wasmtime-floor` (benches/floor) is "
    "the workspace's wasmtime 48.0.8 with Skiff's features and engine settings and nothing of "
    f"Skiff's; `SKIFF`: {skiff}. Medians, per-round values in brackets.", "",
    "| what | floor | native | Skiff (last measured) | goal | can it be met? |",
    "| --- | ---: | ---: | ---: | --- | --- |",
]
http_floor, native = med["http-floor"], med["http-native"]
lines.append(
    f"| HTTP hello, CPU µs per request | {http_floor:.1f} [{fmt(vals['http-floor'])}] (instance "
    f"+ handler only) | {native:.1f} [{fmt(vals['http-native'])}] (whole server) | see the "
    f"HTTP table | <= {2 * native:.1f} (0.5x native's requests/s) | "
    f"{'no' if http_floor + native > 2 * native else 'yes'}: floor + native's own = "
    f"{http_floor + native:.1f} |")
idle = med["idle-floor"]
lines.append(
    f"| idle app, PSS KiB | {idle:.1f} [{fmt(vals['idle-floor'])}] | - | see the density "
    f"table | <= 20 | {'no' if idle > 20 else 'yes'} |")
f, s, n = start["floor"], start["skiff"], start["native"]
lines.append(
    f"| hello to completion, ms | {f:.2f} | {n:.2f} | {s:.2f} (this run) | <= native + 1 = "
    f"{n + 1:.2f} | {'yes' if s <= n + 1 else 'not yet'}: Skiff {s - n:+.2f} ms, the floor "
    f"{f - n:+.2f} ms |")
finish(lines, out, [
    ("skiff run within 1 ms of native (this run)", s - n <= 1.0, f"{s - n:+.2f} ms"),
])
PY
