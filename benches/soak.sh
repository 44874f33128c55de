#!/usr/bin/env bash
# Soak: one `skiff daemon` serving APPS (100) HTTP apps of the hello handler (`programs/http-hello/`,
# wasm32-wasip2), app K on gateway route `/aK/`, held at a fixed fraction of its measured peak
# request rate for SOAK_SECONDS while other apps are deployed and removed, and watched for errors,
# memory growth and descriptor leaks (issue 9):
#   peak     `wrk -t1 -cCONNS -dPEAK_SECONDS` with a Lua script that spreads the requests over the
#            APPS routes at random: requests/s at saturation.
#   soak     the same wrk, each connection waiting PAUSE_MS (20) ms between requests, with as
#            many connections as ask for RATE_PERCENT (70) % of the peak together (wrk's delay()
#            is in whole ms, so the rate is set by the number of connections, calibrated by one
#            5 s run; wrk2 is not in Debian); for SOAK_SECONDS. Every response must be 200 (wrk's
#            non-2xx count, its socket errors and timeouts: all zero), and the rate achieved
#            within 5 % of the target.
#   churn    meanwhile (from the calibration on), one loop: `skiff run -d --name cN --route /cN/` of the same handler, one
#            GET of `/cN/` (must be 200), `skiff rm -f cN`, N = 1, 2, ...; the steady apps' routes
#            are never touched, so no request of the load is meant to fail.
#   samples  every SAMPLE_EVERY (10) s: the daemon's VmRSS (/proc/PID/status) and open descriptors
#            (/proc/PID/fd).
# Checked: zero non-2xx and socket errors; zero failed churn steps; RSS growth after the warm-up
# (the median of the first 3 samples after WARMUP s against the median of the last 3) under 5 %;
# descriptors after the warm-up not growing (the last 3 samples' max at most FD_SLACK above the
# first 3's max: a churn step in flight holds a log file and a connection or two).
# The daemon is pinned to core 0, wrk to core 1 (`taskset`); the churn loop runs unpinned.
#
# Env: SKIFF (binary), SOAK_SECONDS (600), APPS (100), CONNS (32, for the peak), PAUSE_MS (20),
#      PEAK_SECONDS (10),
#      RATE_PERCENT (70), WARMUP (SOAK_SECONDS / 5), SAMPLE_EVERY (10), FD_SLACK (4),
#      OUT (benches/results/soak.md), STRICT=1 to exit 1 when a check fails.
# Exit: 0 done, 1 error (or a failed check with STRICT=1), 2 a prerequisite binary is missing.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR
source "$HERE/lib.sh" # log, die, need, machine_info, build_program, start_daemon, report, ...
SKIFF=${SKIFF:-$REPO/target/release/skiff}
SOAK_SECONDS=${SOAK_SECONDS:-600}
APPS=${APPS:-100}
CONNS=${CONNS:-32}
PAUSE_MS=${PAUSE_MS:-20}
PEAK_SECONDS=${PEAK_SECONDS:-10}
RATE_PERCENT=${RATE_PERCENT:-70}
WARMUP=${WARMUP:-$((SOAK_SECONDS / 5))}
SAMPLE_EVERY=${SAMPLE_EVERY:-10}
FD_SLACK=${FD_SLACK:-4}
OUT=${OUT:-$HERE/results/soak.md}
STRICT=${STRICT:-0}
EXPECTED="hello from skiff"

((SOAK_SECONDS >= 6 * SAMPLE_EVERY)) || die "SOAK_SECONDS must be at least 6 samples long"
((WARMUP + 6 * SAMPLE_EVERY <= SOAK_SECONDS)) || die "WARMUP leaves fewer than 6 samples"

# --- prerequisites that this script will not build itself -------------------------------------
if [[ ! -x $SKIFF || $(help_of daemon) != *--gateway* || $(help_of run) != *--route* ]]; then
    missing_skiff "with HTTP apps (\`skiff daemon --gateway\`, \`skiff run -d --route\`)"
fi
need curl curl
need python3 python3
need wrk wrk
need taskset util-linux
machine_info ram
COMMIT=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)

WORK=$(mktemp -d)
on_exit_cleanup "$WORK"
build_program http-hello wasm32-wasip2
[[ $(nproc) -ge 2 ]] || die "needs 2 cores (daemon and load generator pinned apart)"

# --- the daemon and its apps ---------------------------------------------------------------------
GATEWAY=127.0.0.1:$(free_port)
start_daemon "$WORK/root" --gateway "$GATEWAY" --metrics none
taskset -apc 0 "$DAEMON_PID" >/dev/null
export SKIFF_HOST=unix://$SOCK
log "deploying $APPS apps"
seq 1 "$APPS" | xargs -P 4 -I{} "$SKIFF" run -d --name a{} --route /a{}/ "$WASM" >/dev/null
for ((k = 1; k <= APPS; k++)); do
    body=$(curl -sf --max-time 10 "http://$GATEWAY/a$k/") || die "app a$k does not answer"
    [[ $body == "$EXPECTED" ]] || die "app a$k answered '$body'"
done

cat >"$WORK/load.lua" <<LUA
-- Requests spread over the apps at random; delay() (ms) between a connection's requests.
local apps, pause = $APPS, tonumber(os.getenv("PAUSE_MS") or "0")
math.randomseed(os.time())
request = function() return wrk.format("GET", "/a" .. math.random(1, apps) .. "/") end
delay = function() return pause end
LUA
wrk_run() { # wrk_run SECONDS PAUSE_MS CONNECTIONS OUTFILE
    PAUSE_MS=$2 taskset -c 1 wrk -t1 -c"$3" -d"$1s" --timeout 5s --latency \
        -s "$WORK/load.lua" "http://$GATEWAY/" >"$4"
}
rate_of() { awk '/^Requests\/sec/ { print $2 }' "$1"; }

log "peak: wrk -t1 -c$CONNS for ${PEAK_SECONDS}s"
wrk_run 3 0 "$CONNS" "$WORK/warm.txt"
wrk_run "$PEAK_SECONDS" 0 "$CONNS" "$WORK/peak.txt"
PEAK=$(rate_of "$WORK/peak.txt")
TARGET=$(python3 -c "print(round($PEAK * $RATE_PERCENT / 100))")
# The churn runs from here to the end of the soak, so that the calibration meets it too.
touch "$WORK/churning"
(
    n=0
    while [[ -e $WORK/churning ]]; do
        n=$((n + 1))
        if ! "$SKIFF" run -d --name "c$n" --route "/c$n/" "$WASM" >/dev/null 2>>"$WORK/churn.err"; then
            echo "deploy c$n failed" >>"$WORK/churn.fail"
            continue
        fi
        body=$(curl -s --max-time 10 "http://$GATEWAY/c$n/" 2>>"$WORK/churn.err") || true
        [[ $body == "$EXPECTED" ]] || echo "c$n answered '$body'" >>"$WORK/churn.fail"
        "$SKIFF" rm -f "c$n" >/dev/null 2>>"$WORK/churn.err" || echo "rm c$n failed" >>"$WORK/churn.fail"
        echo "$n" >"$WORK/churn.count"
    done
) &
CHURN_PID=$!
# Each connection asks once per PAUSE_MS + its response time: first guess, the pause alone; then
# two 5 s calibration runs, each scaling the connections by the rate it fell short.
SOAK_CONNS=$(python3 -c "print(max(1, round($TARGET * $PAUSE_MS / 1000)))")
for _ in 1 2; do
    wrk_run 5 "$PAUSE_MS" "$SOAK_CONNS" "$WORK/calibrate.txt"
    SOAK_CONNS=$(python3 -c "print(max(1, round($SOAK_CONNS * $TARGET / float('$(rate_of "$WORK/calibrate.txt")'))))")
done
log "peak $PEAK req/s; soak at $RATE_PERCENT % = $TARGET req/s ($SOAK_CONNS connections, ${PAUSE_MS} ms between a connection's requests) for ${SOAK_SECONDS}s"

# --- the soak: load, churn, samples ------------------------------------------------------------
wrk_run "$SOAK_SECONDS" "$PAUSE_MS" "$SOAK_CONNS" "$WORK/soak.txt" &
WRK_PID=$!
start=$(date +%s)
while kill -0 "$WRK_PID" 2>/dev/null; do
    t=$(($(date +%s) - start))
    rss=$(awk '/^VmRSS/ { print $2 }' "/proc/$DAEMON_PID/status")
    fds=$(find "/proc/$DAEMON_PID/fd" -mindepth 1 -maxdepth 1 | wc -l)
    echo "$t $rss $fds" >>"$WORK/samples.txt"
    for ((i = 0; i < SAMPLE_EVERY * 10; i++)); do
        kill -0 "$WRK_PID" 2>/dev/null || break
        sleep 0.1
    done
done
wait "$WRK_PID" || die "wrk failed: $(cat "$WORK/soak.txt")"
rm "$WORK/churning"
wait "$CHURN_PID" || true
kill -0 "$DAEMON_PID" 2>/dev/null || die "the daemon died during the soak"

# --- the report ----------------------------------------------------------------------------------
report "$OUT" "$MACHINE" "$COMMIT" "$SOAK_SECONDS" "$APPS" "$SOAK_CONNS" "$RATE_PERCENT" "$WARMUP" \
    "$FD_SLACK" "$PEAK" "$TARGET" "$PAUSE_MS" "$WORK" <<'PY'
import os, re, statistics as st

(out, machine, commit, secs, apps, conns, pct, warmup, fd_slack, peak, target, pause,
 work) = sys.argv[1:14]
secs, warmup, fd_slack = int(secs), int(warmup), int(fd_slack)
text = open(f"{work}/soak.txt").read()
def grab(pattern, default=0.0):
    m = re.search(pattern, text)
    return float(m.group(1)) if m else default
requests = int(grab(r"(\d+) requests in"))
rate = grab(r"Requests/sec:\s+([\d.]+)")
non2xx = int(grab(r"Non-2xx or 3xx responses: (\d+)"))
m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
sock = sum(map(int, m.groups())) if m else 0
lat = {p: re.search(rf"^\s+{p}%\s+(\S+)", text, re.M) for p in ("50", "99")}
lat = {p: (m.group(1) if m else "?") for p, m in lat.items()}
def read(name):
    path = f"{work}/{name}"
    return open(path).read().split("\n") if os.path.exists(path) else []
churn = int((read("churn.count") or ["0"])[0] or 0)
churn_fail = [l for l in read("churn.fail") if l]
samples = [tuple(map(int, l.split())) for l in read("samples.txt") if l]
after = [s for s in samples if s[0] >= warmup]
rss0, rss1 = st.median(s[1] for s in after[:3]), st.median(s[1] for s in after[-3:])
growth = (rss1 - rss0) / rss0 * 100
fd0, fd1 = max(s[2] for s in after[:3]), max(s[2] for s in after[-3:])

lines = [
    f"# Soak: {apps} HTTP apps at {pct} % of the peak rate, with deploys and removals",
    "",
    machine,
    "",
    f"Commit {commit}; {secs} s (warm-up {warmup} s); `wrk -t1 -c{conns}` on core 1, the daemon on core 0.",
    "",
    f"Peak {float(peak):,.0f} req/s; target {int(target):,} req/s ({conns} connections, {pause} ms between a connection's "
    f"requests); achieved {rate:,.0f} req/s, {requests:,} requests, latency p50 {lat['50']}, p99 {lat['99']}; "
    f"{churn} apps deployed, requested and removed meanwhile.",
    "",
    "| t (s) | RSS (MiB) | fds |",
    "| ---: | ---: | ---: |",
] + [f"| {t} | {rss / 1024:.1f} | {fds} |" for t, rss, fds in samples]
goals = [
    ("the target rate held (within 5 %)", rate >= 0.95 * int(target),
     f"{rate:,.0f} of {int(target):,} req/s"),
    ("no errors", non2xx == 0 and sock == 0 and not churn_fail,
     f"{non2xx} non-2xx, {sock} socket errors/timeouts, {len(churn_fail)} failed churn steps"
     + (f": {churn_fail[:3]}" if churn_fail else "")),
    ("RSS growth after warm-up < 5 %", growth < 5,
     f"{rss0 / 1024:.1f} -> {rss1 / 1024:.1f} MiB, {growth:+.1f} %"),
    ("no fd growth", fd1 <= fd0 + fd_slack, f"{fd0} -> {fd1} (slack {fd_slack})"),
]
finish(lines, out, goals)
PY
