#!/usr/bin/env bash
# Epoch-overhead benchmark: what Skiff's CPU-limit mechanism costs a CPU-bound guest. The same
# module (`programs/cpu/`, wasm32-wasip1, about 1 s of integer work, prints a checksum) is run by
# the wasmtime CLI 48.0.8 three ways and by Skiff, in one run on one machine, peers interleaved:
#   plain       `wasmtime run -W epoch-interruption=n`        no instrumentation (wasmtime's default)
#   epoch       `wasmtime run -W epoch-interruption=y,timeout=3600s`
#                epoch checks compiled in (a deadline is needed, else wasm traps at once: the 1 h
#                timeout sets it and never fires)
#   fuel        `wasmtime run -W fuel=10^18`                  fuel counted at every basic block
#   skiff       `skiff run cpu.wasm`                          no epoch checks compiled in (decision
#                                                             0006), no CPU limit, no watchdog
#   skiff-limit `skiff run --cpu-time 1h cpu.wasm`            the same plus the watchdog thread
#                                                             reading the guest's CPU clock each tick
# Goals (issue 14): skiff-limit's CPU time at most 1.2x native's; and no more than wasmtime's
# own way to bound a run (`epoch`: -W timeout needs epochs).
#   native      the same program built for x86_64, for reference
# All wasm peers with a warm compile cache (each first run compiles and fills it).
#
# Env: SKIFF, WASMTIME (binaries), ROUNDS (20), RUNS (1 per round and peer: the finest
#      interleaving, as bursts of load from other work hit one peer less), WARMUP (0 per round),
#      SCALE (the guest's work factor, 30 = about 1 s), OUT (benches/results/epoch-overhead.md).
# Exit: 0 done, 1 error, 2 a prerequisite binary is missing.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR
source "$HERE/lib.sh" # log, die, need, machine_info, build_program, start_dockerd, report, ...
SKIFF=${SKIFF:-$REPO/target/release/skiff}
WASMTIME=${WASMTIME:-/work/peers/wasmtime-48.0.8/bin/wasmtime}
ROUNDS=${ROUNDS:-20}
RUNS=${RUNS:-1}
WARMUP=${WARMUP:-0}
SCALE=${SCALE:-30}
OUT=${OUT:-$HERE/results/epoch-overhead.md}
FUEL=1000000000000000000

# --- prerequisites that this script will not build itself -------------------------------------
[[ -x $SKIFF ]] || missing_skiff
need_wasmtime
need hyperfine hyperfine
need python3 python3
machine_info
WASMTIME_VERSION=$("$WASMTIME" --version)

WORK=$(mktemp -d)
SKIFF_ROOT=$(mktemp -d)
export SKIFF_ROOT
on_exit_cleanup "$WORK" "$SKIFF_ROOT"

# --- the cpu program: wasm32-wasip1 and native -------------------------------------------------
build_program cpu wasm32-wasip1 native

# --- the commands; each must print the native checksum -----------------------------------------
PEERS=(plain epoch fuel skiff skiff-limit native)
declare -A CMD=(
    [plain]="$WASMTIME run -W epoch-interruption=n $WASM $SCALE"
    [epoch]="$WASMTIME run -W epoch-interruption=y,timeout=3600s $WASM $SCALE"
    [fuel]="$WASMTIME run -W fuel=$FUEL $WASM $SCALE"
    [skiff]="$SKIFF run $WASM $SCALE"
    [skiff-limit]="$SKIFF run --cpu-time 1h $WASM $SCALE"
    [native]="$NATIVE $SCALE"
)
plain_paths "hyperfine -N cannot run it" "$SKIFF" "$WASMTIME" "$WASM" "$NATIVE"

EXPECTED=$("$NATIVE" "$SCALE")
[[ $EXPECTED == checksum\ * ]] || die "native run printed '$EXPECTED'"
log "warm-up (fills the compile caches) and output check: every peer must print '$EXPECTED'"
for p in "${PEERS[@]}"; do check_output "$p" warm; done

# --- measurement: ROUNDS rounds, each running every peer -------------------------------------
interleaved_rounds

# --- report ------------------------------------------------------------------------------------
CMDS_FILE=$WORK/commands
for p in "${PEERS[@]}"; do
    printf '%s\t%s\n' "$p" "${CMD[$p]}"
done >"$CMDS_FILE"
report "$WORK/json" "$MACHINE" "$ROUNDS" "$RUNS" "$OUT" "$WASMTIME_VERSION" "$CMDS_FILE" "$REPO" \
    "$WASMTIME" "$SKIFF" "$WARMUP" <<'PY'
import glob, json, os, statistics, sys

jdir, machine, rounds, runs, out, wasmtime_version, cmds_file, repo, wasmtime, skiff, warmup = (
    sys.argv[1:12]
)
rounds, runs = int(rounds), int(runs)
peers = ["plain", "epoch", "fuel", "skiff", "skiff-limit", "native"]
cmds = dict(line.rstrip("\n").split("\t", 1) for line in open(cmds_file))
samples, cpu = {}, {}
for p in peers:
    ts, cs = [], []
    for f in sorted(glob.glob(os.path.join(jdir, f"{p}.*.json"))):
        res = json.load(open(f))["results"][0]
        ts += res["times"]
        # hyperfine 1.15 exports per-command means of user and system time, not per run.
        cs.append(res["user"] + res["system"])
    if not ts:
        sys.exit(f"no samples for {p}")
    samples[p] = sorted(t * 1000.0 for t in ts)  # ms
    cpu[p] = statistics.median(cs) * 1000.0

med = {p: statistics.median(samples[p]) for p in peers}
base, cbase = med["plain"], cpu["plain"]

def short(c):  # the binaries by name, paths relative to the repository
    c = c.replace(wasmtime + " ", "wasmtime ").replace(skiff + " ", "skiff ")
    return c.replace(repo + "/", "").replace("benches/programs/cpu/target/", "")

lines = [
    "# Epoch overhead: a CPU-bound guest under each CPU-limit mechanism",
    "",
    machine,
    "",
    f"`benches/programs/cpu` (sieve + integer mixing, wasm32-wasip1), {wasmtime_version}. "
    f"{rounds} interleaved rounds of {runs} run(s) per peer (hyperfine -N, {warmup} warm-up(s) per "
    "round), compile caches warm. Wall: median wall time of all runs. CPU: median over rounds of "
    "hyperfine's mean user+system time for the round (the steadier number when other work shares "
    "the cores). Overheads are against `plain`.",
    "",
    "| peer | command | samples | wall median ms | wall p99 ms | wall max ms | wall vs plain "
    "| CPU ms | CPU vs plain |",
    "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
]
pct = lambda a, b: f"{(a / b - 1) * 100:+.1f}%"
for p in peers:
    xs = samples[p]
    lines.append(
        f"| {p} | `{short(cmds[p])}` | {len(xs)} | {med[p]:.0f} | {p99(xs):.0f} | {xs[-1]:.0f} "
        f"| {'-' if p == 'plain' else pct(med[p], base)} "
        f"| {cpu[p]:.0f} | {'-' if p == 'plain' else pct(cpu[p], cbase)} |"
    )
lines += [
    "",
    f"Skiff against wasmtime with epochs (wall / CPU): skiff {pct(med['skiff'], med['epoch'])} / "
    f"{pct(cpu['skiff'], cpu['epoch'])}, skiff --cpu-time {pct(med['skiff-limit'], med['epoch'])} / "
    f"{pct(cpu['skiff-limit'], cpu['epoch'])}; --cpu-time against no limit: "
    f"{pct(med['skiff-limit'], med['skiff'])} / {pct(cpu['skiff-limit'], cpu['skiff'])}.",
    "",
    "Goals (CPU time, medians):",
    "",
]
ratio = cpu["skiff-limit"] / cpu["native"]
lines.append(
    f"- {'PASS' if ratio <= 1.2 else 'FAIL'}: `skiff run --cpu-time` within 1.2x of native "
    f"({ratio:.2f}x; wasmtime without instrumentation {cpu['plain'] / cpu['native']:.2f}x)"
)
ratio = cpu["skiff-limit"] / cpu["epoch"]
lines.append(
    f"- {'PASS' if ratio <= 1.0 else 'FAIL'}: `skiff run --cpu-time` no slower than "
    f"`wasmtime run -W timeout=` ({ratio:.2f}x)"
)
finish(lines, out)
PY
