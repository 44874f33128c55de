#!/usr/bin/env bash
# HTTP throughput across cores (issue 14, "many cores"): the hello handler (`programs/http-hello/`,
# the one of http-throughput.sh) served with 1, 2, 4, 8... cores by
#   skiff     `skiff serve --listen ADDR http-hello.wasm`        (a fresh instance per request)
#   skiff-daemon  the same handler as an app of a `skiff daemon` pinned as skiff serve is:
#             `skiff run -d -p PORT http-hello.wasm` (its own listener; the daemon's limits)
#   wasmtime  `wasmtime serve -Scli --addr ADDR http-hello.wasm` (wasmtime-cli 48.0.8; a fresh
#                                                                 instance per request too)
#   native    `http-hello ADDR N`: the same handler as a static hyper 1.x server on a tokio
#             multi-thread runtime of N workers: what the machine's own TCP path allows
# The server of N cores is pinned to cores 0..N-1 (`taskset -c 0-(N-1)`; skiff and wasmtime run
# one worker thread per core they may use), the load generator to the other half of the machine
# (`taskset -c CLIENT_CPUS wrk -tT -cCONNS`), with the same load for every N. Each run starts the
# server afresh, checks its answer, warms it up with a short wrk run, then measures one; the
# server's CPU time is utime+stime of /proc/PID/stat over the measured run. "cores busy" is that CPU
# time over the run's wall time: a server that used more cores than it was given (a kernel that does
# not honour affinity) shows it there. Rounds interleave every peer and core count; medians.
#
# Env: SKIFF, WASMTIME (binaries), WASM and NATIVE (prebuilt handler component and static native
#      server; built from programs/http-hello when unset), PEERS ("skiff wasmtime native"),
#      CORES (1 2 4 ... up to half the machine), CLIENT_CPUS (the other half, e.g. 8-15),
#      WRK_THREADS (one per client core), CONNS (64), ROUNDS (3), DURATION (5 s measured),
#      WARMUP (1 s), OUT (benches/results/scaling.md), SKIFF_BUILT (what the table says SKIFF was
#      built from, e.g. a commit), STRICT=1 to exit 1 when a goal is missed.
# Exit: 0 done, 1 error (or missed goal with STRICT=1), 2 a prerequisite binary is missing.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR
source "$HERE/lib.sh" # log, die, need, machine_info, build_program, free_port, wait_ready, report, ...
SKIFF=${SKIFF:-$REPO/target/release/skiff}
WASMTIME=${WASMTIME:-/work/peers/wasmtime-48.0.8/bin/wasmtime}
PEERS=${PEERS:-skiff skiff-daemon wasmtime native}
NCPU=$(nproc)
if ((NCPU < 2)); then die "needs 2 cores or more (server and load generator apart); this machine has $NCPU"; fi
half=$((NCPU / 2))
if [[ -z ${CORES:-} ]] && ((NCPU < 4)); then
    # One core for the server says nothing about scaling (http-throughput.sh measures 1 vs 2).
    echo "scaling needs 4 cores or more (this machine has $NCPU): run it on a larger machine, or give CORES" >&2
    exit 2
fi
if [[ -z ${CORES:-} ]]; then
    CORES=
    for ((n = 1; n <= half; n *= 2)); do CORES+="$n "; done
fi
CLIENT_CPUS=${CLIENT_CPUS:-$half-$((NCPU - 1))}
((half == NCPU - 1)) && CLIENT_CPUS=${CLIENT_CPUS%-*}
WRK_THREADS=${WRK_THREADS:-$((NCPU - half))}
CONNS=${CONNS:-64}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5}
WARMUP=${WARMUP:-1}
OUT=${OUT:-$HERE/results/scaling.md}
STRICT=${STRICT:-0}
EXPECTED='hello from skiff'

check_peers "skiff skiff-daemon wasmtime native"
for n in $CORES; do
    ((n >= 1 && n <= NCPU)) || die "CORES: $n is not between 1 and $NCPU"
done

# --- prerequisites -------------------------------------------------------------------------------
if { has_peer skiff || has_peer skiff-daemon; } && { [[ ! -x $SKIFF ]] || ! "$SKIFF" serve --help >/dev/null 2>&1; }; then
    missing_skiff "with \`skiff serve\`" "(or run the other peers alone: PEERS=\"wasmtime native\" $0)"
fi
if has_peer wasmtime; then need_wasmtime; fi
need wrk wrk
need taskset util-linux
need python3 python3
machine_info
MACHINE+=${SKIFF_BUILT:+$'\n\n'"skiff built from $SKIFF_BUILT."}
WASMTIME_VERSION=-
has_peer wasmtime && WASMTIME_VERSION=$("$WASMTIME" --version)
CLK_TCK=$(getconf CLK_TCK)

WORK=$(mktemp -d)
SKIFF_ROOT=$(mktemp -d)
export SKIFF_ROOT
on_exit_cleanup "$WORK" "$SKIFF_ROOT"

if [[ -n ${WASM:-} && -n ${NATIVE:-} ]]; then
    [[ -f $WASM && -x $NATIVE ]] || die "WASM ($WASM) or NATIVE ($NATIVE) is missing"
else
    build_program http-hello wasm32-wasip2 static
fi

start_server() { # start_server PEER ADDR LOG N: the server on cores 0..N-1; sets SERVER_PID
    local peer=$1 addr=$2 out=$3 n=$4 cpus=0-$(($4 - 1))
    case $peer in
        skiff) taskset -c "$cpus" "$SKIFF" serve --listen "$addr" "$WASM" >"$out" 2>&1 & ;;
        skiff-daemon)
            local root i
            root=$(mktemp -d -p "$WORK")
            taskset -c "$cpus" "$SKIFF" daemon --root "$root" --socket "$root/s.sock" >"$out" 2>&1 &
            SERVER_PID=$!
            for ((i = 0; i < 1500; i++)); do
                SKIFF_HOST=unix://$root/s.sock "$SKIFF" ps >/dev/null 2>&1 && break
                kill -0 "$SERVER_PID" 2>/dev/null || die "skiff daemon exited: $(tail -n 5 "$out")"
                sleep 0.02
            done
            SKIFF_HOST=unix://$root/s.sock "$SKIFF" run -d --name hello -p "${addr##*:}" "$WASM" >>"$out" 2>&1 ||
                die "skiff run -d failed: $(tail -n 5 "$out")"
            return
            ;;
        wasmtime) taskset -c "$cpus" "$WASMTIME" serve -Scli --addr "$addr" "$WASM" >"$out" 2>&1 & ;;
        native) taskset -c "$cpus" "$NATIVE" "$addr" "$n" >"$out" 2>&1 & ;;
    esac
    SERVER_PID=$! # taskset execs the server: this is the server's own pid
}

: >"$WORK/runs.jsonl"
for ((r = 1; r <= ROUNDS; r++)); do
    for n in $CORES; do
        for p in $PEERS; do
            addr=127.0.0.1:$(free_port)
            url=http://$addr/
            log="$WORK/$p.$n.$r.log"
            start_server "$p" "$addr" "$log" "$n"
            wait_ready "$url" "$SERVER_PID" "$log"
            log "round $r/$ROUNDS: $p on $n core(s) (pid $SERVER_PID): warm-up ${WARMUP}s, then ${DURATION}s"
            if ((WARMUP > 0)); then
                taskset -c "$CLIENT_CPUS" wrk -t"$WRK_THREADS" -c"$CONNS" -d"${WARMUP}s" "$url" >/dev/null
            fi
            t0=$(cpu_ticks "$SERVER_PID")
            s0=$(date +%s.%N)
            taskset -c "$CLIENT_CPUS" wrk -t"$WRK_THREADS" -c"$CONNS" -d"${DURATION}s" --latency "$url" \
                >"$WORK/wrk.$p.$n.$r.txt"
            s1=$(date +%s.%N)
            t1=$(cpu_ticks "$SERVER_PID")
            kill -0 "$SERVER_PID" 2>/dev/null || die "$p died during the run (log: $(tail -n 5 "$log"))"
            body=$(http_body "$url") || die "$p stopped answering after the run"
            [[ $body == "$EXPECTED"* ]] || die "$p answered '$body' after the run"
            threads=$(awk '/^Threads/ { print $2 }' "/proc/$SERVER_PID/status")
            printf '{"peer":"%s","n":%d,"round":%d,"ticks":%d,"wall":%s,"threads":%d,"wrk":"%s"}\n' \
                "$p" "$n" "$r" $((t1 - t0)) "$(echo "$s1 - $s0" | awk '{ print $1 - $3 }')" "$threads" \
                "$WORK/wrk.$p.$n.$r.txt" >>"$WORK/runs.jsonl"
            stop_pid "$SERVER_PID" 10
            SERVER_PID=
            grep -E 'Requests/sec|^ +99%' "$WORK/wrk.$p.$n.$r.txt" | tr -s ' ' | tr '\n' ' ' | sed 's/^/    /' >&2
            echo >&2
        done
    done
done

report "$WORK/runs.jsonl" "$MACHINE" "$OUT" "$CLK_TCK" "$ROUNDS" "$DURATION" "$WARMUP" "$CONNS" \
    "$WASMTIME_VERSION" "$CLIENT_CPUS" "$WRK_THREADS" <<'PY'
import json, statistics, sys

(runs_file, machine, out, clk_tck, rounds, duration, warmup, conns, wt_version, client_cpus,
 wrk_threads) = sys.argv[1:12]
clk_tck = int(clk_tck)
runs = []
for line in open(runs_file):
    if line.strip():
        run = json.loads(line)
        run.update(parse_wrk(run["wrk"]))
        cpu_s = run["ticks"] / clk_tck
        run["cpu_us"] = cpu_s * 1e6 / run["requests"] if run["requests"] else float("nan")
        run["busy"] = cpu_s / run["wall"]
        runs.append(run)
peers = [p for p in ("skiff", "skiff-daemon", "wasmtime", "native") if any(r["peer"] == p for r in runs)]
cores = sorted({r["n"] for r in runs})
med = statistics.median
M = {(p, n): {k: med([r[k] for r in runs if r["peer"] == p and r["n"] == n])
              for k in ("rps", "p50", "p99", "cpu_us", "busy", "threads")}
     for p in peers for n in cores}
errs = {p: sum(r["non2xx"] + r["sock_err"] for r in runs if r["peer"] == p) for p in peers}
lo, hi = cores[0], cores[-1]

lines = [
    "# HTTP throughput across cores: hello handler",
    "",
    machine,
    "",
    f"The hello handler (`benches/programs/http-hello`) served by `skiff serve`, by a `skiff daemon` "
    f"(skiff-daemon: `skiff run -d -p PORT`, the app on its own listener) and by `wasmtime serve "
    f"-Scli` ({wt_version}) as a wasm32-wasip2 component (a fresh instance per request in all three)"
    + (", and natively by hyper 1.x on a tokio multi-thread runtime of N workers (static build: the "
       "machine's own ceiling)" if "native" in peers else "")
    + f". Peers run: {', '.join(peers)}. The server of N cores pinned to cores 0..N-1, `wrk -t{wrk_threads} -c{conns} "
    f"-d{duration}s --latency` pinned to cores {client_cpus}, the same load for every N; a {warmup} s "
    f"warm-up after each server start; {rounds} rounds interleaving every peer and N, each run a "
    "fresh server. Medians, per-round requests/s in brackets. CPU/request: the server's "
    "utime+stime over the measured run / requests; cores busy: that CPU time / the run's wall time.",
    "",
    "| peer | cores | requests/s | vs 1 core | p50 ms | p99 ms | CPU µs/request | cores busy | threads |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
]
for p in peers:
    for n in cores:
        m = M[(p, n)]
        per = ", ".join(f"{r['rps']:,.0f}" for r in runs if r["peer"] == p and r["n"] == n)
        lines.append(f"| {p} | {n} | {m['rps']:,.0f} ({per}) | {m['rps'] / M[(p, lo)]['rps']:.2f}x | "
                     f"{m['p50']:.2f} | {m['p99']:.2f} | {m['cpu_us']:.1f} | {m['busy']:.2f} | {m['threads']:.0f} |")
over = sorted({(r["peer"], r["n"]) for r in runs if r["busy"] > r["n"] + 0.5})
if over:
    lines += ["", "Warning: these servers used more cores than they were pinned to (the kernel did not "
              "honour `taskset`), so their core counts are not what the table says: "
              + ", ".join(f"{p} at {n}" for p, n in over) + "."]
if any(errs.values()):
    lines += ["", "Errors (wrk's non-2xx responses and socket errors, all runs): "
              + ", ".join(f"{p} {errs[p]}" for p in peers)]
goals = []
if "skiff" in peers and "wasmtime" in peers:
    lines += ["", "| cores | skiff/wasmtime requests/s | skiff/wasmtime p99 | skiff-daemon/wasmtime requests/s | skiff/native requests/s |",
              "| ---: | ---: | ---: | ---: | ---: |"]
    for n in cores:
        s, w = M[("skiff", n)], M[("wasmtime", n)]
        nat = f"{s['rps'] / M[('native', n)]['rps']:.2f}x" if "native" in peers else "-"
        dmn = f"{M[('skiff-daemon', n)]['rps'] / w['rps']:.2f}x" if "skiff-daemon" in peers else "-"
        lines.append(f"| {n} | {s['rps'] / w['rps']:.2f}x | {s['p99'] / w['p99']:.2f}x | {dmn} | {nat} |")
    wt = None
    if hi > lo:
        sk = M[("skiff", hi)]["rps"] / M[("skiff", lo)]["rps"]
        wt = M[("wasmtime", hi)]["rps"] / M[("wasmtime", lo)]["rps"]
        goals.append((f"skiff scales from {lo} to {hi} cores at least as well as wasmtime serve",
                      sk >= wt, f"{sk:.2f}x vs {wt:.2f}x"))
    worst = min(cores, key=lambda n: M[("skiff", n)]["rps"] / M[("wasmtime", n)]["rps"])
    ratio = M[("skiff", worst)]["rps"] / M[("wasmtime", worst)]["rps"]
    goals.append(("skiff >= 3x wasmtime serve requests/s at every core count (issue 14)", ratio >= 3,
                  f"lowest {ratio:.2f}x, at {worst} core(s)"))
    if "skiff-daemon" in peers and wt is not None:
        sd = M[("skiff-daemon", hi)]["rps"] / M[("skiff-daemon", lo)]["rps"]
        goals.append((f"skiff-daemon scales from {lo} to {hi} cores at least as well as wasmtime serve",
                      sd >= wt, f"{sd:.2f}x vs {wt:.2f}x"))
    goals.append((f"skiff p99 no worse than wasmtime serve's at {hi} cores",
                  M[("skiff", hi)]["p99"] <= M[("wasmtime", hi)]["p99"],
                  f"{M[('skiff', hi)]['p99']:.2f} ms vs {M[('wasmtime', hi)]['p99']:.2f} ms"))
if "skiff" in peers and "native" in peers:
    r = M[("skiff", hi)]["rps"] / M[("native", hi)]["rps"]
    goals.append((f"skiff >= 0.5x native hyper requests/s at {hi} cores (issue 14)", r >= 0.5, f"{r:.2f}x"))
finish(lines, out, goals)
PY
