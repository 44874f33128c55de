#!/usr/bin/env bash
# Tail latency of CPU-heavy handlers at saturation: `skiff serve` vs `wasmtime serve -Scli`
# (wasmtime-cli 48.0.8), both a fresh instance per request, the server pinned to core 0, wrk to
# core 1 (`wrk -t1 -c$CONNS -d${DURATION}s --latency`), peers interleaved, every server started
# afresh each round and warmed up. Handlers:
#   work    `programs/http-work`: a fixed computation per request (a few ms), Rust
#   python  the HTTP template of `skiff new --lang python --http` (componentize-py): CPython's
#           start-up per request is its work (needs componentize-py; skipped, and said, if absent)
# Goal (issue 15): requests/s >= 1.2x and p99 <= 0.8x wasmtime serve's, per handler (medians).
# `wasmtime serve` at its default compiles no interruption checks (a request that spins holds its
# thread forever); a third peer, `wasmtime serve -Scli -W timeout=60s`, gives the guarantee Skiff
# gives by default (a request ends at 60 s), so epoch checks in both (reported, not a goal).
#
# Env: SKIFF, WASMTIME (binaries), HANDLERS ("work python"), ROUNDS (5), DURATION (8), WARMUP (2),
#      CONNS (16), OUT (benches/results/tail-latency.md), STRICT=1 to exit 1 on a missed goal.
# Exit: 0 done, 1 error (or missed goal with STRICT=1), 2 a prerequisite binary is missing.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR
source "$HERE/lib.sh"
SKIFF=${SKIFF:-$REPO/target/release/skiff}
WASMTIME=${WASMTIME:-/work/peers/wasmtime-48.0.8/bin/wasmtime}
HANDLERS=${HANDLERS:-work python}
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-8}
WARMUP=${WARMUP:-2}
CONNS=${CONNS:-16}
OUT=${OUT:-$HERE/results/tail-latency.md}
STRICT=${STRICT:-0}

[[ -x $SKIFF ]] && "$SKIFF" serve --help >/dev/null 2>&1 || missing_skiff "with \`skiff serve\`"
need_wasmtime
need wrk wrk
need taskset util-linux
need curl curl
machine_info
WASMTIME_VERSION=$("$WASMTIME" --version)

WORK=$(mktemp -d)
SKIFF_ROOT=$WORK/skiff-root
export SKIFF_ROOT
on_exit_cleanup "$WORK"

declare -A WASM_OF NOTE
build_program http-work wasm32-wasip2
WASM_OF[work]=$WASM
if [[ " $HANDLERS " == *" python "* ]]; then
    PATH=$PATH:$HOME/.cache/skiff-toolchains/bin
    if ! command -v componentize-py >/dev/null; then
        NOTE[python]="skipped: componentize-py not found (scripts/install-test-deps.sh installs it)"
    elif ! (cd "$WORK" && "$SKIFF" new pyhttp --lang python --http >/dev/null 2>&1); then
        NOTE[python]="skipped: this skiff has no \`skiff new --lang python --http\`"
    else
        log "building the Python HTTP template with componentize-py"
        (cd "$WORK/pyhttp" && "$SKIFF" build -t pyhttp:bench . >/dev/null) || die "skiff build of the Python template failed"
        WASM_OF[python]=$(ls "$WORK"/pyhttp/build/*.wasm)
    fi
fi

start_server() { # start_server PEER WASM ADDR LOG; sets SERVER_PID
    case $1 in
        skiff) taskset -c 0 "$SKIFF" serve --listen "$3" "$2" >"$4" 2>&1 & ;;
        wasmtime) taskset -c 0 "$WASMTIME" serve -Scli --addr "$3" "$2" >"$4" 2>&1 & ;;
        wasmtime-timeout) taskset -c 0 "$WASMTIME" serve -Scli -W timeout=60s --addr "$3" "$2" >"$4" 2>&1 & ;;
    esac
    SERVER_PID=$!
}

: >"$WORK/runs.jsonl"
for h in $HANDLERS; do
    [[ -n ${WASM_OF[$h]:-} ]] || continue
    for ((r = 1; r <= ROUNDS; r++)); do
        for p in skiff wasmtime wasmtime-timeout; do
            addr=127.0.0.1:$(free_port)
            start_server "$p" "${WASM_OF[$h]}" "$addr" "$WORK/$p.log"
            wait_up "$p serve" "$SERVER_PID" "$WORK/$p.log" 1200 curl -sf --max-time 5 "http://$addr/"
            log "$h round $r/$ROUNDS: $p"
            ((WARMUP > 0)) && taskset -c 1 wrk -t1 -c"$CONNS" -d"${WARMUP}s" "http://$addr/" >/dev/null
            taskset -c 1 wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency --timeout 10s "http://$addr/" \
                >"$WORK/wrk.$h.$p.$r.txt"
            stop_pid "$SERVER_PID" 10
            SERVER_PID=
            printf '{"handler":"%s","peer":"%s","round":%d,"wrk":"%s"}\n' "$h" "$p" "$r" \
                "$WORK/wrk.$h.$p.$r.txt" >>"$WORK/runs.jsonl"
            grep -E 'Requests/sec|^ +(50|99)%' "$WORK/wrk.$h.$p.$r.txt" | tr -s ' ' | tr '\n' ' ' | sed 's/^/    /' >&2
            echo >&2
        done
    done
done

notes=""
for h in "${!NOTE[@]}"; do notes+="$h: ${NOTE[$h]}"$'\n'; done
report "$WORK/runs.jsonl" "$MACHINE" "$OUT" "$ROUNDS" "$DURATION" "$WARMUP" "$CONNS" "$WASMTIME_VERSION" \
    "$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)" "$notes" <<'PY'
import json, statistics

runs_file, machine, out, rounds, duration, warmup, conns, wt, commit, notes = sys.argv[1:11]
runs = []
for line in open(runs_file):
    run = json.loads(line)
    run.update(parse_wrk(run["wrk"]))
    run["bad"], run["err"] = run["non2xx"], run["sock_err"]
    runs.append(run)
med = statistics.median
lines = ["# Tail latency: CPU-heavy handlers at saturation, one core", "", machine, "",
         f"`benches/tail-latency.sh` at commit {commit}: `skiff serve` vs `wasmtime serve -Scli` ({wt}), "
         f"server on core 0, `wrk -t1 -c{conns} -d{duration}s --latency` on core 1 after a {warmup} s "
         f"warm-up, {rounds} interleaved rounds, each server started afresh. Medians (per-round range). "
         "`wasmtime` is `wasmtime serve` at its default, which compiles no interruption checks (a request "
         "that spins holds its thread for ever); `wasmtime-timeout` adds `-W timeout=60s`, the guarantee "
         "`skiff serve` gives by default (it compiles epoch checks in for it), so both run the same kind "
         "of code. The goals are against the default.",
         "", "| handler | server | requests/s | p50 | p99 | errors |", "| --- | --- | ---: | ---: | ---: | ---: |"]
goals, same = [], []
for h in dict.fromkeys(r["handler"] for r in runs):
    M = {}
    for p in ("skiff", "wasmtime", "wasmtime-timeout"):
        mine = [r for r in runs if r["handler"] == h and r["peer"] == p]
        if not mine:
            continue
        M[p] = {k: med([r[k] for r in mine]) for k in ("rps", "p50", "p99")}
        rng = {k: (min(r[k] for r in mine), max(r[k] for r in mine)) for k in ("rps", "p99")}
        lines.append(f"| {h} | {p} | {M[p]['rps']:,.0f} ({rng['rps'][0]:,.0f}–{rng['rps'][1]:,.0f}) | "
                     f"{M[p]['p50']:.1f} ms | {M[p]['p99']:.1f} ms ({rng['p99'][0]:.1f}–{rng['p99'][1]:.1f}) | "
                     f"{sum(r['bad'] + r['err'] for r in mine)} |")
    rr = M["skiff"]["rps"] / M["wasmtime"]["rps"]
    pr = M["skiff"]["p99"] / M["wasmtime"]["p99"]
    goals.append((f"{h}: requests/s >= 1.2x wasmtime serve", rr >= 1.2, f"{rr:.2f}x"))
    goals.append((f"{h}: p99 <= 0.8x wasmtime serve", pr <= 0.8, f"{pr:.2f}x"))
    if "wasmtime-timeout" in M:
        t = M["wasmtime-timeout"]
        same.append(f"{h}: requests/s {M['skiff']['rps'] / t['rps']:.2f}x, p99 {M['skiff']['p99'] / t['p99']:.2f}x")
if same:
    lines += ["", "Skiff against `wasmtime-timeout` (both with epoch checks, both ending a request at 60 s): "
              + "; ".join(same) + "."]
if notes.strip():
    lines += ["", "Not measured:", ""] + [f"- {n}" for n in notes.strip().splitlines()]
finish(lines, out, goals)
PY
