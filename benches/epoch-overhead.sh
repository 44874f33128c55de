#!/usr/bin/env bash
# Epoch-overhead benchmark: what Skiff's CPU-limit mechanism costs a CPU-bound guest. The same
# module (`programs/cpu/`, wasm32-wasip1, about 1 s of integer work, prints a checksum) is run by
# the wasmtime CLI 48.0.8 three ways and by Skiff, in one run on one machine, peers interleaved:
#   plain       `wasmtime run -W epoch-interruption=n`        no instrumentation (wasmtime's default)
#   epoch       `wasmtime run -W epoch-interruption=y,timeout=3600s`
#                epoch checks compiled in (a deadline is needed, else wasm traps at once: the 1 h
#                timeout sets it and never fires)
#   fuel        `wasmtime run -W fuel=10^18`                  fuel counted at every basic block
#   skiff       `skiff run cpu.wasm`                          epochs always on, 10 ms ticker, yield
#                                                             per tick, no CPU limit
#   skiff-limit `skiff run --cpu-time 1h cpu.wasm`            the same plus the CPU-clock check
#                                                             each tick
#   native      the same program built for x86_64, for reference
# All wasm peers with a warm compile cache (each first run compiles and fills it).
#
# Env: SKIFF, WASMTIME (binaries), ROUNDS (20), RUNS (1 per round and peer: the finest
#      interleaving, as bursts of load from other work hit one peer less), WARMUP (0 per round),
#      SCALE (the guest's work factor, 30 = about 1 s), OUT (benches/results/epoch-overhead.md).
# Exit: 0 done, 1 error, 2 a prerequisite binary is missing.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$HERE")
SKIFF=${SKIFF:-$REPO/target/release/skiff}
WASMTIME=${WASMTIME:-/work/peers/wasmtime-48.0.8/bin/wasmtime}
ROUNDS=${ROUNDS:-20}
RUNS=${RUNS:-1}
WARMUP=${WARMUP:-0}
SCALE=${SCALE:-30}
OUT=${OUT:-$HERE/results/epoch-overhead.md}
FUEL=1000000000000000000

log() { printf '[epoch-overhead] %s\n' "$*" >&2; }
die() { printf '[epoch-overhead] ERROR: %s\n' "$*" >&2; exit 1; }

# --- prerequisites that this script will not build itself -------------------------------------
if [[ ! -x $SKIFF ]]; then
    echo "skiff binary not found at $SKIFF; build it with:" >&2
    echo "  cargo build --release -p skiff-cli" >&2
    exit 2
fi
if [[ ! -x $WASMTIME ]]; then
    echo "wasmtime 48.0.8 not found at $WASMTIME; install it with:" >&2
    echo "  cargo install wasmtime-cli --version 48.0.8 --locked --root /work/peers/wasmtime-48.0.8" >&2
    exit 2
fi

APT_UPDATED=0
need() { # need COMMAND DEBIAN-PACKAGE
    command -v "$1" >/dev/null 2>&1 && return 0
    log "$1 not found: apt-get install $2"
    if [[ $APT_UPDATED == 0 ]]; then
        apt-get update -qq
        APT_UPDATED=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null
    command -v "$1" >/dev/null 2>&1 || die "$1 still missing after installing $2"
}
need hyperfine hyperfine
need python3 python3
command -v cargo >/dev/null 2>&1 || die "cargo not found (install Rust with rustup)"

CPU=$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo)
MACHINE="Machine: nproc=$(nproc), CPU: ${CPU:-unknown}, kernel $(uname -r), $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "$MACHINE"
WASMTIME_VERSION=$("$WASMTIME" --version)

WORK=$(mktemp -d)
SKIFF_ROOT=$(mktemp -d)
export SKIFF_ROOT
# shellcheck disable=SC2317 # the EXIT trap
cleanup() {
    local rc=$?
    rm -rf "$WORK" "$SKIFF_ROOT" || true
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- the cpu program: wasm32-wasip1 and native -------------------------------------------------
PROG=$HERE/programs/cpu
log "building $PROG for wasm32-wasip1 and x86_64-unknown-linux-gnu"
if command -v rustup >/dev/null 2>&1; then
    rustup target add wasm32-wasip1 x86_64-unknown-linux-gnu >/dev/null 2>&1 ||
        log "rustup target add failed; continuing with the installed targets"
fi
cargo build -q --release --manifest-path "$PROG/Cargo.toml" --target wasm32-wasip1
cargo build -q --release --manifest-path "$PROG/Cargo.toml" --target x86_64-unknown-linux-gnu
WASM=$PROG/target/wasm32-wasip1/release/cpu.wasm
NATIVE=$PROG/target/x86_64-unknown-linux-gnu/release/cpu
[[ -f $WASM && -x $NATIVE ]] || die "cpu build outputs missing"

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
for path in "$SKIFF" "$WASMTIME" "$WASM" "$NATIVE"; do
    [[ $path != *[[:space:]\'\"]* ]] || die "path with a space or quote (hyperfine -N cannot run it): $path"
done

EXPECTED=$("$NATIVE" "$SCALE")
[[ $EXPECTED == checksum\ * ]] || die "native run printed '$EXPECTED'"
log "warm-up (fills the compile caches) and output check: every peer must print '$EXPECTED'"
for p in "${PEERS[@]}"; do
    read -r -a argv <<<"${CMD[$p]}"
    "${argv[@]}" >/dev/null 2>&1 || true # first run: compile + cache fill
    if ! out=$("${argv[@]}" 2>"$WORK/$p.err"); then
        cat "$WORK/$p.err" >&2
        die "$p: '${CMD[$p]}' failed"
    fi
    [[ $out == "$EXPECTED" ]] || die "$p: '${CMD[$p]}' printed '$out', expected '$EXPECTED'"
done

# --- measurement: ROUNDS rounds, each running every peer -------------------------------------
mkdir -p "$WORK/json"
for ((r = 1; r <= ROUNDS; r++)); do
    for p in "${PEERS[@]}"; do
        log "round $r/$ROUNDS: $p ($RUNS runs)"
        hyperfine -N --style none --warmup "$WARMUP" --runs "$RUNS" \
            --export-json "$WORK/json/$p.$r.json" -n "$p" "${CMD[$p]}" >/dev/null
    done
done

# --- report ------------------------------------------------------------------------------------
mkdir -p "$(dirname "$OUT")"
CMDS_FILE=$WORK/commands
for p in "${PEERS[@]}"; do
    printf '%s\t%s\n' "$p" "${CMD[$p]}"
done >"$CMDS_FILE"
python3 - "$WORK/json" "$MACHINE" "$ROUNDS" "$RUNS" "$OUT" "$WASMTIME_VERSION" "$CMDS_FILE" "$REPO" \
    "$WASMTIME" "$SKIFF" "$WARMUP" <<'PY'
import glob, json, math, os, statistics, sys

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

def p99(xs):  # nearest rank; equals max below 100 samples
    return xs[max(0, math.ceil(0.99 * len(xs)) - 1)]

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
]
text = "\n".join(lines) + "\n"
with open(out, "w") as fh:
    fh.write(text)
sys.stdout.write("\n" + "\n".join(lines[4:]) + "\n")
PY
log "table written to $OUT"
