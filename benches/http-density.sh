#!/usr/bin/env bash
# HTTP density benchmark: N idle HTTP apps (N = 1000 and 10000) in one `skiff daemon`, each on its
# own route of the daemon's shared gateway, and what the first request to a cold one costs:
#   deploy   N apps `hK` of the hello handler (`programs/http-hello/`, wasm32-wasip2), app K on route
#            `/aK` (ROUTE_STYLE=host: `aK.localhost/`), by `POST /apps` from one client process with
#            PAR keep-alive connections to the daemon's socket (DEPLOY=api, the default; body
#            `"http": {"ports": [], "routes": ["/aK"]}`) or by `skiff run -d --name hK --route /aK`
#            under `xargs -P PAR` (DEPLOY=cli). The apps use VARIANTS distinct wasm files (the same
#            component with a different custom section, so a different digest: the daemon compiles,
#            caches and keeps each apart), app K the variant K mod VARIANTS.
#   memory   the daemon's PSS (and RSS) from /proc/PID/smaps_rollup after a warm-up (each variant
#            deployed, requested once and removed: compile cache and code paths warm) and SETTLE s
#            after all N are deployed; (after - before) / N = memory per idle app. Read again after
#            the cold requests below.
#   cold     SAMPLE (1000) apps chosen at random, never requested before: the first request to each
#            (`GET /aK/`), one after another over one keep-alive connection to the gateway (python3
#            http.client, timed around request + whole response); then a second request to each
#            (warm) for comparison. Every response must be 200 with the hello body.
# Each run starts a fresh daemon (`skiff daemon --root TMP --socket TMP/s.sock --gateway
# 127.0.0.1:PORT --metrics 127.0.0.1:PORT`) whose compile cache is shared across runs; ROUNDS runs
# per N, N interleaved (1000, 10000, 1000, 10000, ...); medians over the runs.
#
# Env: SKIFF (binary), NS ("1000 10000"), ROUNDS (3), SAMPLE (1000), VARIANTS (unset: the two
#      tables described below; else that many distinct wasm files), DEPLOY (api |
#      cli), PAR (8), ROUTE_STYLE (path | host), SETTLE (3 s), SEED (random seed, 1),
#      MAX_LOADED (the daemon's --max-loaded-handlers, 1000: set it below VARIANTS to make first
#      requests also map their compiled code again, i.e. cold code, not only no instance),
#      OUT (benches/results/http-density.md), STRICT=1 to exit 1 when a goal is missed.
# Exit: 0 done, 1 error (or missed goal with STRICT=1), 2 a prerequisite binary is missing.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR
source "$HERE/lib.sh" # log, die, need, machine_info, build_program, start_dockerd, report, ...
SKIFF=${SKIFF:-$REPO/target/release/skiff}
NS=${NS:-1000 10000}
ROUNDS=${ROUNDS:-3}
SAMPLE=${SAMPLE:-1000}
DEPLOY=${DEPLOY:-api}
PAR=${PAR:-8}
ROUTE_STYLE=${ROUTE_STYLE:-path}
SETTLE=${SETTLE:-3}
SEED=${SEED:-1}
OUT=${OUT:-$HERE/results/http-density.md}
STRICT=${STRICT:-0}

# With no VARIANTS given, the page's two tables: distinct code for every app, the headline (at
# N = 1000: 10,000 distinct components would be 10,000 compilations and about 3 GB of compile
# cache here), then 16 components shared by all the apps (N = 1000 and 10000).
if [[ -z ${VARIANTS:-} ]]; then
    rc=0
    VARIANTS=1000 NS=1000 OUT=$HERE/results/http-density.md "$0" || rc=$?
    VARIANTS=16 OUT=$HERE/results/http-density-shared-code.md "$0" || rc=$?
    exit "$rc"
fi
case $DEPLOY in api | cli) ;; *) die "DEPLOY must be api or cli" ;; esac
case $ROUTE_STYLE in path | host) ;; *) die "ROUTE_STYLE must be path or host" ;; esac
((VARIANTS >= 1)) || die "VARIANTS must be at least 1"

# --- prerequisites that this script will not build itself -------------------------------------
if [[ ! -x $SKIFF || $(help_of daemon) != *--gateway* || $(help_of run) != *--route* ]]; then
    missing_skiff "with HTTP apps (\`skiff daemon --gateway\`, \`skiff run -d --route\`)"
fi
need curl curl
need python3 python3
need xargs findutils
machine_info ram

# --- temp dirs, the daemon, and their cleanup ---------------------------------------------------
WORK=$(mktemp -d)
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
on_exit_cleanup "$WORK"

# --- the hello handler, and its variants ----------------------------------------------------------
build_program http-hello wasm32-wasip2
mkdir -p "$WORK/variants"
# Variant k = the component plus a custom section `skiff-bench-variant` holding k: the same code,
# another digest. Custom sections may appear anywhere in a component, and hosts ignore them.
# Variants VARIANTS .. VARIANTS+WARM-1 are the warm-up's, never used by the apps measured.
WARM=16
python3 - "$WASM" "$WORK/variants" $((VARIANTS + WARM)) <<'PY'
import sys

src, out_dir, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
wasm = open(src, "rb").read()
assert wasm[:4] == b"\0asm", "not a wasm binary"

def leb(n):
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)

name = b"skiff-bench-variant"
for k in range(n):
    payload = leb(len(name)) + name + str(k).encode()
    with open(f"{out_dir}/hello-{k}.wasm", "wb") as f:
        f.write(wasm + b"\x00" + leb(len(payload)) + payload)
PY
plain_paths "used inside JSON" "$WORK"

# --- helpers in python: memory, deploy client, request client ----------------------------------
cat >"$WORK/mem.py" <<'PY'
import json, sys
r = {"rss": 0, "pss": 0}
with open(f"/proc/{sys.argv[1]}/smaps_rollup") as f:
    for line in f:
        k, _, v = line.partition(":")
        if k in ("Rss", "Pss"):
            r[k.lower()] = int(v.split()[0])  # kB
with open(f"/proc/{sys.argv[1]}/status") as f:
    for line in f:
        if line.startswith("Threads:"):
            r["threads"] = int(line.split()[1])
print(json.dumps(r))
PY
mem() { python3 "$WORK/mem.py" "$1"; }

cat >"$WORK/deploy_api.py" <<'PY'
# POST /apps for apps FIRST..LAST from one process: PAR threads, each with its own keep-alive
# connection to the daemon's socket. Prints the seconds from the first request to the last answer.
# Exit 1 on any non-201.
import http.client, json, socket, sys, threading, time

sock_path, variants_dir, variants, first, last, par, style, prefix = sys.argv[1:9]
variants, first, last, par = int(variants), int(first), int(last), int(par)

class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("skiff", timeout=300)
        self.unix_path = path
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(300)
        self.sock.connect(self.unix_path)

def body(k):
    route = f"/{prefix}{k}" if style == "path" else f"{prefix}{k}.localhost/"
    return json.dumps({
        "name": f"h{prefix}{k}", "source": f"{variants_dir}/hello-{k % variants}.wasm", "args": None,
        "grants": {"env": [], "dirs": [], "network": "none"}, "network": None,
        "limits": {"memory": None, "cpu_time": None, "timeout": None},
        "restart": {"policy": "no"},
        "http": {"ports": [], "routes": [route]},
    }).encode()

lock, nxt, errors = threading.Lock(), [first], []

def worker():
    conn = UnixConnection(sock_path)
    while True:
        with lock:
            k = nxt[0]
            if k > last or errors:
                return
            nxt[0] += 1
        try:
            conn.request("POST", "/apps", body=body(k), headers={"content-type": "application/json"})
            resp = conn.getresponse()
            data = resp.read()
        except Exception as e:  # an exception in a thread would not fail the process
            errors.append(f"app {k}: {type(e).__name__}: {e}")
            return
        if resp.status != 201:
            errors.append(f"app {k}: HTTP {resp.status} {data[:300]!r}")
            return

threads = [threading.Thread(target=worker) for _ in range(par)]
t0 = time.perf_counter()
for t in threads:
    t.start()
for t in threads:
    t.join()
print(f"{time.perf_counter() - t0:.6f}")
if errors:
    sys.exit(errors[0])
PY

cat >"$WORK/requests.py" <<'PY'
# First (cold) and second (warm) request to each of SAMPLE apps chosen at random among FIRST..LAST,
# one after another over one keep-alive connection to the gateway. Prints one JSON object.
import http.client, json, random, sys, time

gateway, first, last, sample, seed, style, prefix = sys.argv[1:8]
first, last, sample = int(first), int(last), int(sample)
host, port = gateway.rsplit(":", 1)
EXPECTED = b"hello from skiff\n"
random.seed(int(seed))
apps = random.sample(range(first, last + 1), min(sample, last + 1 - first))
conn = http.client.HTTPConnection(host, int(port), timeout=30)
reconnects = 0

def get(k):
    global conn, reconnects
    if style == "path":
        path, headers = f"/{prefix}{k}/", {}
    else:
        path, headers = "/", {"Host": f"{prefix}{k}.localhost"}
    for attempt in (1, 2):
        t0 = time.perf_counter()
        try:
            conn.request("GET", path, headers=headers)
            resp = conn.getresponse()
            body = resp.read()
        except (http.client.HTTPException, OSError):
            if attempt == 2:
                raise
            conn.close()  # the gateway closed the connection: reconnect, and time the retry alone
            conn = http.client.HTTPConnection(host, int(port), timeout=30)
            reconnects += 1
            continue
        dt = (time.perf_counter() - t0) * 1000
        if resp.status != 200 or body != EXPECTED:
            sys.exit(f"app {k} ({path}): HTTP {resp.status} {body[:200]!r}")
        if resp.getheader("connection", "").lower() == "close":
            conn.close()
            conn = http.client.HTTPConnection(host, int(port), timeout=30)
            reconnects += 1
        return dt

# One request to a route no app has, first: it opens the connection, and the gateway's 404 path is warm.
conn.request("GET", "/no-such-app/")
conn.getresponse().read()
cold = [get(k) for k in apps]
warm = [get(k) for k in apps]
print(json.dumps({"cold": cold, "warm": warm, "reconnects": reconnects}))
PY

# --- one run: a fresh daemon, N apps ------------------------------------------------------------
CACHE=$WORK/compiled # the compile cache, shared by every run's daemon
mkdir -p "$CACHE"

start_gateway_daemon() { # a fresh daemon with a gateway and the shared compile cache; sets GATEWAY
    local root
    root=$(mktemp -d -p "$WORK" skiff.XXXX)
    mkdir -p "$root/cache"
    ln -s "$CACHE" "$root/cache/compiled"
    GATEWAY=127.0.0.1:$(free_port)
    start_daemon "$root" --gateway "$GATEWAY" --metrics "127.0.0.1:$(free_port)" \
        --max-loaded-handlers "${MAX_LOADED:-1000}"
}

deploy_cli() { # deploy_cli PREFIX FIRST LAST: skiff run -d --route, xargs -P $PAR; prints seconds
    local prefix=$1 first=$2 last=$3 t0 t1 k
    t0=${EPOCHREALTIME/[.,]/}
    # shellcheck disable=SC2016 # the sh -c script expands them
    for ((k = first; k <= last; k++)); do
        if [[ $ROUTE_STYLE == path ]]; then
            echo "h$prefix$k /$prefix$k $WORK/variants/hello-$((k % ${4:-$VARIANTS})).wasm"
        else
            echo "h$prefix$k $prefix$k.localhost/ $WORK/variants/hello-$((k % ${4:-$VARIANTS})).wasm"
        fi
    done | SKIFF_HOST=unix://$SOCK xargs -P "$PAR" -n 3 sh -c \
        '"$0" run -d --name "$1" --route "$2" "$3" >/dev/null' "$SKIFF" || return 1
    t1=${EPOCHREALTIME/[.,]/}
    python3 -c "import sys; print(f'{(int(sys.argv[2]) - int(sys.argv[1])) / 1e6:.6f}')" "$t0" "$t1"
}

deploy() { # deploy PREFIX FIRST LAST [VARIANTS]: prints seconds
    if [[ $DEPLOY == api ]]; then
        python3 "$WORK/deploy_api.py" "$SOCK" "$WORK/variants" "${4:-$VARIANTS}" "$2" "$3" "$PAR" "$ROUTE_STYLE" "$1"
    else
        deploy_cli "$@"
    fi
}

running_apps() { # apps the daemon reports running (HTTP apps: "serving")
    curl -sf --unix-socket "$SOCK" http://skiff/apps | python3 -c \
        'import json, sys; print(sum(1 for a in json.load(sys.stdin) if a.get("state") in ("running", "serving")))'
}

run_one() { # run_one N ROUND
    local n=$1 round=$2 base after served secs running k
    log "N=$n round $round: fresh daemon"
    start_gateway_daemon
    # Warm-up: WARM apps of the warm-up's own variants deployed, requested once, removed: the
    # daemon's code paths are warm, and the baseline holds none of the measured apps' code.
    deploy w "$VARIANTS" $((VARIANTS + WARM - 1)) $((VARIANTS + WARM)) >/dev/null || die "warm-up deploy failed"
    python3 "$WORK/requests.py" "$GATEWAY" "$VARIANTS" $((VARIANTS + WARM - 1)) "$WARM" 0 "$ROUTE_STYLE" w \
        >/dev/null 2>"$WORK/req.err" ||
        die "warm-up requests failed: $(head -c 300 "$WORK/req.err") (the daemon's log: $(tail -n 5 "$DAEMON_ROOT.log"))"
    for ((k = VARIANTS; k < VARIANTS + WARM; k++)); do
        curl -sf --unix-socket "$SOCK" -X DELETE "http://skiff/apps/hw$k?force=true" >/dev/null ||
            die "could not remove the warm-up app hw$k"
    done
    sleep "$SETTLE"
    base=$(mem "$DAEMON_PID")
    log "  deploying $n apps ($DEPLOY, $PAR at a time, $VARIANTS variants)"
    if ! secs=$(deploy a 1 "$n" 2>"$WORK/deploy.err"); then
        log "the daemon's log ends:"
        tail -n 20 "$DAEMON_ROOT.log" >&2 || true
        die "deploying $n apps failed: $(head -c 300 "$WORK/deploy.err")"
    fi
    running=$(running_apps)
    [[ $running == "$n" ]] || die "$running of $n apps running after the deploy"
    sleep "$SETTLE"
    after=$(mem "$DAEMON_PID")
    log "  $n apps in $secs s; first request to $SAMPLE random cold apps, then a second to each"
    if ! python3 "$WORK/requests.py" "$GATEWAY" 1 "$n" "$SAMPLE" $((SEED + round)) "$ROUTE_STYLE" a \
        >"$WORK/req.json" 2>"$WORK/req.err"; then
        log "the daemon's log ends:"
        tail -n 20 "$DAEMON_ROOT.log" >&2 || true
        die "requests failed: $(head -c 300 "$WORK/req.err")"
    fi
    served=$(mem "$DAEMON_PID")
    printf '{"n":%d,"round":%d,"deploy_s":%s,"base":%s,"after":%s,"served":%s,"req":%s}\n' \
        "$n" "$round" "$secs" "$base" "$after" "$served" "$(<"$WORK/req.json")" >>"$WORK/runs.jsonl"
    python3 - "$WORK/runs.jsonl" <<'PY' >&2
import json, sys
r = [json.loads(l) for l in open(sys.argv[1])][-1]
c = sorted(r["req"]["cold"]); w = sorted(r["req"]["warm"])
pct = lambda xs, q: xs[max(0, -(-len(xs) * q // 100) - 1)]
print(f"[http-density]   PSS/app {(r['after']['pss'] - r['base']['pss']) / r['n']:.1f} KiB; cold p50 "
      f"{pct(c, 50):.2f} ms p99 {pct(c, 99):.2f} ms; warm p50 {pct(w, 50):.2f} ms p99 {pct(w, 99):.2f} ms")
PY
    stop_daemon 60
}

# Every variant compiled into the shared compile cache first, in a daemon of its own, so that no
# run's deploy compiles.
log "filling the compile cache ($((VARIANTS + WARM)) variants)"
start_gateway_daemon
deploy f 0 $((VARIANTS + WARM - 1)) $((VARIANTS + WARM)) >/dev/null || die "cache fill failed"
stop_daemon 60

: >"$WORK/runs.jsonl"
for ((r = 1; r <= ROUNDS; r++)); do
    for n in $NS; do
        run_one "$n" "$r"
    done
done

# --- report ------------------------------------------------------------------------------------
report "$WORK/runs.jsonl" "$MACHINE" "$OUT" "$ROUNDS" "$SAMPLE" "$VARIANTS" "$DEPLOY" "$PAR" \
    "$ROUTE_STYLE" "$SETTLE" <<'PY'
import json, math, statistics, sys

runs_file, machine, out, rounds, sample, variants, deploy, par, style, settle = sys.argv[1:11]
runs = [json.loads(l) for l in open(runs_file) if l.strip()]
ns = sorted({r["n"] for r in runs})
med = statistics.median

def pct(xs, q):  # nearest rank
    xs = sorted(xs)
    return xs[max(0, math.ceil(len(xs) * q / 100) - 1)]

def per_app(r, key, when="after"):
    return (r[when][key] - r["base"][key]) / r["n"]

how = (f"`POST /apps` from one client process, {par} keep-alive connections" if deploy == "api"
       else f"`skiff run -d --route`, `xargs -P {par}`")
route = "`/aK` (requests `GET /aK/`)" if style == "path" else "`aK.localhost/` (requests `Host: aK.localhost`)"
lines = [
    "# HTTP density: N idle HTTP apps in one skiff daemon, and their first requests",
    "",
    machine,
    "",
    f"N apps of the hello handler (`benches/programs/http-hello`, wasm32-wasip2) in one `skiff daemon`, app K "
    f"on gateway route {route}, {variants} distinct wasm files (the same component with a different custom "
    f"section, so a different digest; app K uses variant K mod {variants}), deployed by {how}. A fresh daemon "
    "per run, its compile cache shared by all runs and filled first (every variant deployed once in a "
    "daemon of its own); before its baseline is read, each daemon deploys, requests once and removes 16 apps "
    "of 16 other variants (code paths warm, none of the measured apps' code loaded). "
    f"Memory: the daemon's PSS/RSS (`/proc/PID/smaps_rollup`) {settle} s "
    "after all N are deployed minus the baseline, / N. Cold: the first request to each of "
    f"{sample} apps chosen at random, one after another over one keep-alive connection to the gateway (python "
    "http.client, timed around request + whole response: the client's own overhead, ~0.1 ms, is in every "
    "number); warm: a second request to each of them afterwards. "
    f"{rounds} runs per N, N interleaved; medians over the runs of each run's percentiles.",
    "",
    "| N | deploy all N, s | apps/s | PSS/idle app KiB | RSS/idle app KiB | cold p50 ms | cold p99 ms | cold max ms | warm p50 ms | warm p99 ms | PSS/app after the requests KiB | daemon PSS MiB, threads |",
    "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
]
S = {}
for n in ns:
    rs = [r for r in runs if r["n"] == n]
    d = med([r["deploy_s"] for r in rs])
    pss = med([per_app(r, "pss") for r in rs])
    rss = med([per_app(r, "rss") for r in rs])
    c50 = med([pct(r["req"]["cold"], 50) for r in rs])
    c99 = med([pct(r["req"]["cold"], 99) for r in rs])
    cmax = med([max(r["req"]["cold"]) for r in rs])
    w50 = med([pct(r["req"]["warm"], 50) for r in rs])
    w99 = med([pct(r["req"]["warm"], 99) for r in rs])
    served = med([per_app(r, "pss", "served") for r in rs])
    tot = med([r["after"]["pss"] for r in rs]) / 1024
    thr = med([r["after"].get("threads", 0) for r in rs])
    S[n] = dict(pss=pss, c99=c99)
    lines.append(f"| {n} | {d:.2f} | {n / d:,.0f} | {pss:.1f} | {rss:.1f} | {c50:.2f} | {c99:.2f} | {cmax:.2f} "
                 f"| {w50:.2f} | {w99:.2f} | {served:.1f} | {tot:.1f}, {thr:.0f} |")
rc = sum(r["req"]["reconnects"] for r in runs)
if rc:
    lines += ["", f"The gateway closed the client's connection {rc} times over all runs (reconnected; the retried "
              "request was timed alone)."]
goals = []
big = max(ns)
if big >= 10000 or variants == "16":
    goals.append((f"10,000 apps deployed in one daemon", big >= 10000, f"N={big:,}"))
goals.append((f"<= 200 KiB PSS per idle app (N={big:,})", S[big]["pss"] <= 200, f"{S[big]['pss']:.1f} KiB"))
goals.append((f"cold-app first-request p99 < 5 ms (N={big:,})", S[big]["c99"] < 5, f"{S[big]['c99']:.2f} ms"))
finish(lines, out, goals)
PY
