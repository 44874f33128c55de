#!/usr/bin/env bash
# Calls between services: what one call from a front service to an API service costs, in one run
# on one machine, variants interleaved (A B C D E, A B C D E, ...):
#   skiff-single    the API alone (`programs/http-hello`), through the daemon's gateway
#   skiff-internal  the front (`programs/http-proxy`, `UPSTREAM=http://api/`, `--link api`) calling
#                   the API in-process: the daemon hands the request to the API's handler
#   skiff-loopback  the same front (`UPSTREAM=http://127.0.0.1:PORT/`, `--network allow=...`)
#                   calling the API served by a second process, `skiff serve`, over loopback TCP
#   docker-single   the API alone: a native hyper server in a FROM scratch container
#   docker-bridge   the front as a native hyper server (pooled keep-alive upstream connections) in
#                   a second container, calling the API container over their bridge network
# Servers are pinned to core 0 (`taskset -c 0`: the daemon, `skiff serve`, the containers'
# processes), `wrk -t1 -c$CONNS -d${DURATION}s --latency` to core 1. A call's cost is a chain's
# figure minus its single's: p50 latency and the servers' CPU time per request (utime+stime of
# their processes, /proc/PID/stat). Medians over the rounds. Goal (issue 11): the in-process call
# at least 5x cheaper than the loopback one, in latency and in CPU.
#
# Env: SKIFF (binary), PEERS ("skiff docker"), ROUNDS (5), DURATION (5 s), WARMUP (1 s),
#      CONNS (16), OUT (benches/results/internal-calls.md), STRICT=1 to exit 1 on a missed goal.
# Exit: 0 done, 1 error (or missed goal with STRICT=1), 2 a prerequisite binary is missing.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR
source "$HERE/lib.sh"
SKIFF=${SKIFF:-$REPO/target/release/skiff}
PEERS=${PEERS:-skiff docker}
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-5}
WARMUP=${WARMUP:-1}
CONNS=${CONNS:-16}
OUT=${OUT:-$HERE/results/internal-calls.md}
STRICT=${STRICT:-0}

check_peers "skiff docker"
if has_peer skiff && { [[ ! -x $SKIFF ]] || ! "$SKIFF" run --help 2>/dev/null | grep -q -- --link; }; then
    missing_skiff "with \`run --link\`"
fi
need wrk wrk
need taskset util-linux
need curl curl
has_peer docker && { need dockerd docker.io; [[ $(id -u) == 0 ]] || die "run as root for dockerd"; }
machine_info
CLK_TCK=$(getconf CLK_TCK)

WORK=$(mktemp -d)
on_exit_cleanup "$WORK"

build_program http-hello wasm32-wasip2 static
HELLO_WASM=$WASM HELLO_NATIVE=$NATIVE
build_program http-proxy wasm32-wasip2 static
PROXY_WASM=$WASM PROXY_NATIVE=$NATIVE

wait_body() { # wait_body URL EXPECTED: until URL answers EXPECTED (30 s)
    local i
    for ((i = 0; i < 300; i++)); do
        [[ $(curl -s --max-time 2 "$1" 2>/dev/null) == "$2" ]] && return 0
        sleep 0.1
    done
    die "$1 did not answer '$2' (got '$(curl -s --max-time 2 "$1" 2>&1 | head -c 300)')"
}

declare -A URL PIDS
# --- Skiff: one daemon (API, two fronts) and a `skiff serve` of the API -------------------------
if has_peer skiff; then
    SKIFF_ROOT=$WORK/skiff
    export SKIFF_ROOT
    serve_port=$(free_port)
    taskset -c 0 "$SKIFF" serve --listen "127.0.0.1:$serve_port" "$HELLO_WASM" >"$WORK/serve.log" 2>&1 &
    SERVER_PID=$!
    gw=$(free_port)
    taskset -c 0 "$SKIFF" daemon --socket "$WORK/s.sock" --gateway "127.0.0.1:$gw" --metrics none \
        >"$WORK/daemon.log" 2>&1 &
    DAEMON_PID=$!
    wait_up "skiff daemon" "$DAEMON_PID" "$WORK/daemon.log" 300 curl -sf --unix-socket "$WORK/s.sock" http://skiff/ping
    S=("$SKIFF" -H "unix://$WORK/s.sock")
    "${S[@]}" run -d --name api --route /hello "$HELLO_WASM" >/dev/null
    "${S[@]}" run -d --name front --link api -e UPSTREAM=http://api/ --route /internal "$PROXY_WASM" >/dev/null
    "${S[@]}" run -d --name front-tcp -e "UPSTREAM=http://127.0.0.1:$serve_port/" \
        --network "allow=127.0.0.1:$serve_port" --route /loopback "$PROXY_WASM" >/dev/null
    URL[skiff-single]=http://127.0.0.1:$gw/hello
    URL[skiff-internal]=http://127.0.0.1:$gw/internal
    URL[skiff-loopback]=http://127.0.0.1:$gw/loopback
    PIDS[skiff-single]=$DAEMON_PID
    PIDS[skiff-internal]=$DAEMON_PID
    PIDS[skiff-loopback]="$DAEMON_PID $SERVER_PID"
    for v in skiff-single skiff-internal skiff-loopback; do wait_body "${URL[$v]}" 'hello from skiff'; done
fi

# --- Docker: two containers of native servers on one bridge -------------------------------------
if has_peer docker; then
    BRIDGE=skc$(($$ % 100000))
    subnet=
    for x in $(seq 200 254); do
        ip -4 route show | grep -q "^172\.31\.$x\." && continue
        subnet=$x
        break
    done
    [[ -n $subnet ]] || die "no free 172.31.X.0/24 for a bridge"
    ip link add "$BRIDGE" type bridge && ip addr add "172.31.$subnet.1/24" dev "$BRIDGE" && ip link set "$BRIDGE" up
    start_dockerd --bridge="$BRIDGE" --ip-masq=false
    NATIVE=$HELLO_NATIVE build_scratch_image bench-hello '["0.0.0.0:8080"]'
    NATIVE=$PROXY_NATIVE build_scratch_image bench-proxy '["0.0.0.0:8080"]'
    docker run -d --name api --cpuset-cpus 0 bench-hello >/dev/null
    api_ip=$(docker inspect -f '{{.NetworkSettings.IPAddress}}' api)
    docker run -d --name front --cpuset-cpus 0 -e "UPSTREAM=http://$api_ip:8080/" bench-proxy >/dev/null
    front_ip=$(docker inspect -f '{{.NetworkSettings.IPAddress}}' front)
    URL[docker-single]=http://$api_ip:8080/
    URL[docker-bridge]=http://$front_ip:8080/
    PIDS[docker-single]=$(docker inspect -f '{{.State.Pid}}' api)
    PIDS[docker-bridge]="$(docker inspect -f '{{.State.Pid}}' api) $(docker inspect -f '{{.State.Pid}}' front)"
    for v in docker-single docker-bridge; do wait_body "${URL[$v]}" 'hello from skiff'; done
fi

VARIANTS=()
has_peer skiff && VARIANTS+=(skiff-single skiff-internal skiff-loopback)
has_peer docker && VARIANTS+=(docker-single docker-bridge)

: >"$WORK/runs.jsonl"
for ((r = 1; r <= ROUNDS; r++)); do
    for v in "${VARIANTS[@]}"; do
        log "round $r/$ROUNDS: $v (${URL[$v]})"
        ((WARMUP > 0)) && taskset -c 1 wrk -t1 -c"$CONNS" -d"${WARMUP}s" "${URL[$v]}" >/dev/null
        # shellcheck disable=SC2086 # PIDS holds a list
        t0=$(cpu_ticks ${PIDS[$v]})
        taskset -c 1 wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency "${URL[$v]}" >"$WORK/wrk.$v.$r.txt"
        # shellcheck disable=SC2086
        t1=$(cpu_ticks ${PIDS[$v]})
        printf '{"variant":"%s","round":%d,"ticks":%d,"wrk":"%s"}\n' "$v" "$r" $((t1 - t0)) \
            "$WORK/wrk.$v.$r.txt" >>"$WORK/runs.jsonl"
        grep -E 'Requests/sec|^ +(50|99)%|Non-2xx' "$WORK/wrk.$v.$r.txt" | tr -s ' ' | tr '\n' ' ' | sed 's/^/    /' >&2
        echo >&2
    done
done

report "$WORK/runs.jsonl" "$MACHINE" "$OUT" "$CLK_TCK" "$ROUNDS" "$DURATION" "$CONNS" \
    "$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)" <<'PY'
import json, statistics

runs_file, machine, out, clk_tck, rounds, duration, conns, commit = sys.argv[1:9]
clk_tck = int(clk_tck)
runs = []
for line in open(runs_file):
    run = json.loads(line)
    run.update(parse_wrk(run["wrk"]))
    run["bad"] = run["non2xx"]
    run["cpu_us"] = run["ticks"] / clk_tck * 1e6 / max(run["requests"], 1)
    runs.append(run)
order = ["skiff-single", "skiff-internal", "skiff-loopback", "docker-single", "docker-bridge"]
variants = [v for v in order if any(r["variant"] == v for r in runs)]
med = statistics.median
M, R = {}, {}
for v in variants:
    mine = [r for r in runs if r["variant"] == v]
    M[v] = {k: med([r[k] for r in mine]) for k in ("rps", "p50", "p99", "cpu_us")}
    R[v] = {k: (min(r[k] for r in mine), max(r[k] for r in mine)) for k in ("rps", "p50", "cpu_us")}
    M[v]["bad"] = sum(r["bad"] for r in mine)

lines = [
    "# Calls between services: in-process vs loopback TCP vs Docker bridge",
    "",
    machine,
    "",
    f"`benches/internal-calls.sh` at commit {commit}: {rounds} interleaved rounds of "
    f"`wrk -t1 -c{conns} -d{duration}s --latency` (core 1) per variant, servers on core 0. "
    "Front = `benches/programs/http-proxy` (GET `$UPSTREAM`, answer its body), API = "
    "`benches/programs/http-hello`; Wasm components in Skiff, static native hyper servers in "
    "FROM scratch containers for Docker. CPU/request = utime+stime of the serving processes "
    "(the daemon; plus `skiff serve` for loopback; the two containers' processes for Docker) / "
    "requests. Medians, with the per-round range.",
    "",
    "| variant | requests/s | p50 | p99 | CPU/request | non-2xx |",
    "| --- | ---: | ---: | ---: | ---: | ---: |",
]
for v in variants:
    m, rg = M[v], R[v]
    lines.append(
        f"| {v} | {m['rps']:,.0f} ({rg['rps'][0]:,.0f}–{rg['rps'][1]:,.0f}) | {m['p50']:.2f} ms "
        f"({rg['p50'][0]:.2f}–{rg['p50'][1]:.2f}) | {m['p99']:.2f} ms | {m['cpu_us']:.0f} µs "
        f"({rg['cpu_us'][0]:.0f}–{rg['cpu_us'][1]:.0f}) | {m['bad']} |")

def call(chain, single):
    return {k: M[chain][k] - M[single][k] for k in ("p50", "cpu_us")}

lines += ["", "One call (chain minus single):", "",
          "| call | p50 added | CPU added per request |", "| --- | ---: | ---: |"]
calls = {}
for name, chain, single in (("in-process (skiff-internal)", "skiff-internal", "skiff-single"),
                            ("loopback TCP (skiff-loopback)", "skiff-loopback", "skiff-single"),
                            ("Docker bridge (docker-bridge)", "docker-bridge", "docker-single")):
    if chain in M and single in M:
        calls[chain] = call(chain, single)
        lines.append(f"| {name} | {calls[chain]['p50']:.3f} ms | {calls[chain]['cpu_us']:.0f} µs |")
goals = []
if "skiff-internal" in calls and "skiff-loopback" in calls:
    i, l = calls["skiff-internal"], calls["skiff-loopback"]
    for k, what in (("p50", "p50 latency"), ("cpu_us", "CPU")):
        ratio = l[k] / i[k] if i[k] > 0 else float("inf")
        goals.append((f"in-process call >= 5x cheaper than loopback in {what}", ratio >= 5,
                      f"{ratio:.1f}x"))
    if "docker-bridge" in calls:
        d = calls["docker-bridge"]
        ratio = d["p50"] / i["p50"] if i["p50"] > 0 else float("inf")
        goals.append(("in-process call faster than the Docker bridge call (p50)", ratio > 1,
                      f"{ratio:.1f}x"))
finish(lines, out, goals)
PY
