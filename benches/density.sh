#!/usr/bin/env bash
# Density benchmark: N idle long-running apps (N = 10, 100, 1000) in one `skiff daemon` against N
# Docker containers of the same program built natively, in one run on one machine, peers
# interleaved per round (skiff, docker, skiff, docker, ...). For each run it reports the time until
# all N are running and the memory they added:
#   skiff   a fresh `skiff daemon --root TMP --socket TMP/s.sock`, compile cache warmed with one
#           app (then removed); N apps started by
#             cli-seq  `skiff run -d --name idle-$i idle.wasm`, one after another
#             cli-par  the same, `xargs -P $PAR`
#             api-par  `POST /apps` with curl, `xargs -P $PAR` (a curl process per app)
#             api-conc `POST /apps` from one client process (python3), $PAR keep-alive connections
#           until `skiff ps --format json` shows N running. Memory: the daemon's RSS and PSS
#           (/proc/PID/smaps_rollup) after minus before, divided by N.
#   docker  `docker run -d --network none --name idle-$i` of a FROM scratch image holding the
#           static native build, one after another (seq) and with `xargs -P $PAR` (par), and
#           through the Engine API from one client process (api-conc: `POST /containers/create`
#           + `POST /containers/ID/start`, as the CLI does, $PAR keep-alive connections, the
#           same client and clock as Skiff's api-conc), until `docker ps` shows N running.
#           Memory: every containerd-shim of this engine plus the container processes plus the
#           growth of dockerd and containerd, divided by N.
# Both: the host's MemAvailable drop per app is recorded as a cross-check (it also sees kernel
# memory: cgroups, namespaces, mounts; it is noisy on a shared machine).
#
# Env: SKIFF (binary), NS ("10 100 1000"), ROUNDS (5: rounds for N < 1000), ROUNDS_LARGE (3: for
#      N >= 1000), DOCKER_ROUNDS_LARGE (3: Docker's rounds for N >= 1000; each takes minutes
#      there), PAR (8), DOCKER_MAX (1000: largest N tried with Docker), DOCKER_SEQ_MAX (1000:
#      largest N for `docker run` one after another), DOCKER_TIMEOUT (1800 s per start of N),
#      SETTLE (3 s between "all running" and reading memory), OUT (benches/results/density.md),
#      STRICT=1 to exit 1 when a goal is missed.
# Exit: 0 done, 1 error (or missed goal with STRICT=1), 2 a prerequisite binary is missing.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR
source "$HERE/lib.sh" # log, die, need, machine_info, build_program, start_dockerd, report, ...
SKIFF=${SKIFF:-$REPO/target/release/skiff}
NS=${NS:-10 100 1000}
ROUNDS=${ROUNDS:-5}
ROUNDS_LARGE=${ROUNDS_LARGE:-3}
DOCKER_ROUNDS_LARGE=${DOCKER_ROUNDS_LARGE:-3}
PAR=${PAR:-8}
DOCKER_MAX=${DOCKER_MAX:-1000}
DOCKER_SEQ_MAX=${DOCKER_SEQ_MAX:-1000}
DOCKER_TIMEOUT=${DOCKER_TIMEOUT:-1800}
SETTLE=${SETTLE:-3}
OUT=${OUT:-$HERE/results/density.md}
STRICT=${STRICT:-0}
IMAGE=skiff-bench-idle:latest

# --- prerequisites that this script will not build itself -------------------------------------
if [[ ! -x $SKIFF ]] || ! "$SKIFF" daemon --help >/dev/null 2>&1; then
    missing_skiff "with \`skiff daemon\`"
fi
need dockerd docker.io
need docker docker.io
need curl curl
need python3 python3
need xargs findutils
[[ $(id -u) == 0 ]] || die "run as root (own dockerd, /proc/PID/smaps_rollup of its processes)"
machine_info ram

# --- temp dirs, the daemon, dockerd, and their cleanup -----------------------------------------
WORK=$(mktemp -d)
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
on_exit_cleanup "$WORK"

# --- the idle program: wasm32-wasip1 and static native ----------------------------------------
build_program idle wasm32-wasip1 static
plain_paths "used inside JSON" "$WASM"

# --- memory probe: one JSON line ---------------------------------------------------------------
write_probe "$WORK/mem.py" <<'PY'
import json, sys

def meminfo():
    m = {}
    with open("/proc/meminfo") as f:
        for line in f:
            k, _, v = line.partition(":")
            m[k] = int(v.split()[0])
    return m

def status_field(pid, name):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(name + ":"):
                    return int(line.split()[1])
    except FileNotFoundError:
        pass
    return 0

m = meminfo()
# "kernel": memory the kernel allocates for processes and their isolation (unreclaimable slab:
# cgroups, namespaces, mounts, task structs; kernel stacks; page tables), seen machine-wide.
out = {"avail": m["MemAvailable"], "kernel": m["SUnreclaim"] + m["KernelStack"] + m["PageTables"]}
if sys.argv[1] == "skiff":
    pid = int(sys.argv[2])
    out.update(rollup(pid))
    out["threads"] = status_field(pid, "Threads")
else:  # docker DIR DOCKERD_PID
    d, dockerd = sys.argv[2] + "/", int(sys.argv[3])
    procs = proc_table()
    engine = [dockerd] + [p for p, (c, _, cmd) in procs.items() if c == "containerd" and d in cmd]
    shims, ctrs = shims_of(procs, d)
    for key, group in (("engine", engine), ("shim", shims), ("ctr", ctrs)):
        rs = [rollup(p) for p in group]
        out[key + "_rss"] = sum(r["rss"] for r in rs)
        out[key + "_pss"] = sum(r["pss"] for r in rs)
        out[key + "_n"] = len(group)
    out["rss"] = out["engine_rss"] + out["shim_rss"] + out["ctr_rss"]
    out["pss"] = out["engine_pss"] + out["shim_pss"] + out["ctr_pss"]
print(json.dumps(out))
PY
mem() { python3 "$WORK/mem.py" "$@"; }

# --- API client in one process: PAR threads, each with its own keep-alive connection -------------
# (curl per app, as `xargs -P` runs it, costs a process start per app: this measures the daemon.)
cat >"$WORK/api_client.py" <<'PY'
# One client process, PAR threads, each with its own keep-alive connection to the daemon's socket:
# for names idle-1..idle-N, `POST /apps` (skiff) or `POST /containers/create` then
# `POST /containers/ID/start` (docker, what `docker run -d --network none` sends). Exit 1 on any
# refusal.
import http.client, json, socket, sys, threading, time

kind, sock_path, source, n, par = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])

class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("skiff", timeout=120)
        self.path = path
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(120)
        self.sock.connect(self.path)

def body(name):
    return ('{"name":"%s","source":"%s","args":null,"grants":{"env":[],"dirs":[],"network":"none"},'
            '"network":null,"limits":{"memory":null,"cpu_time":null,"timeout":null},'
            '"restart":{"policy":"no"}}' % (name, source)).encode()

DOCKER_BODY = json.dumps({"Image": source, "HostConfig": {"NetworkMode": "none"}}).encode()

def post(conn, path, data):  # -> (status, body)
    conn.request("POST", path, body=data, headers={"content-type": "application/json"})
    resp = conn.getresponse()
    return resp.status, resp.read()

def start(conn, name):  # -> None, or what was refused
    if kind == "skiff":
        status, data = post(conn, "/apps", body(name))
        return None if status == 201 else f"{name}: HTTP {status} {data[:200]!r}"
    status, data = post(conn, f"/containers/create?name={name}", DOCKER_BODY)
    if status != 201:
        return f"{name}: create: HTTP {status} {data[:200]!r}"
    status, data = post(conn, f"/containers/{json.loads(data)['Id']}/start", None)
    return None if status == 204 else f"{name}: start: HTTP {status} {data[:200]!r}"

lock, nxt, errors = threading.Lock(), [1], []

def worker():
    conn = UnixConnection(sock_path)
    while True:
        with lock:
            i = nxt[0]
            if i > n or errors:
                return
            nxt[0] += 1
        try:
            refused = start(conn, f"idle-{i}")
        except Exception as e:  # an exception in a thread would not fail the process
            errors.append(f"idle-{i}: {type(e).__name__}: {e}")
            return
        if refused:
            errors.append(refused)
            return

threads = [threading.Thread(target=worker) for _ in range(par)]
# The clock starts at the first request, not at the interpreter's start (0.1-0.2 s here).
print(int(time.time() * 1_000_000), flush=True)
for t in threads:
    t.start()
for t in threads:
    t.join()
if errors:
    sys.exit(errors[0])
PY


now_us() { echo "${EPOCHREALTIME/[.,]/}"; }
secs() { # secs T0_US T1_US: seconds with microseconds
    local d=$(($2 - $1))
    printf '%d.%06d' $((d / 1000000)) $((d % 1000000))
}

record() { # record PEER MODE N ROUND SECONDS OK NOTE BASE_JSON AFTER_JSON
    printf '{"peer":"%s","mode":"%s","n":%s,"round":%s,"seconds":%s,"ok":%s,"note":"%s","base":%s,"after":%s}\n' \
        "$@" >>"$WORK/runs.jsonl"
}

# --- skiff ----------------------------------------------------------------------------------------
api_body() { # api_body NAME
    printf '{"name":"%s","source":"%s","args":null,"grants":{"env":[],"dirs":[],"network":"none"},"network":null,"limits":{"memory":null,"cpu_time":null,"timeout":null},"restart":{"policy":"no"}}' \
        "$1" "$WASM"
}

skiff_running() { # number of running apps of the daemon at $SOCK
    SKIFF_HOST=unix://$SOCK "$SKIFF" ps --format json 2>/dev/null | grep -c '"state": *"running"' || true
}

wait_skiff_running() { # wait_skiff_running N TIMEOUT_S
    local n=$1 deadline=$((SECONDS + $2))
    while (($(skiff_running) < n)); do
        ((SECONDS < deadline)) || return 1
        sleep 0.02
    done
}

skiff_start_n() { # skiff_start_n MODE N: start apps idle-1..idle-N
    local mode=$1 n=$2 i
    case $mode in
        cli-seq)
            for ((i = 1; i <= n; i++)); do
                SKIFF_HOST=unix://$SOCK "$SKIFF" run -d --name "idle-$i" "$WASM" >/dev/null || return 1
            done
            ;;
        cli-par)
            seq 1 "$n" | SKIFF_HOST=unix://$SOCK xargs -P "$PAR" -I NUM \
                "$SKIFF" run -d --name idle-NUM "$WASM" >/dev/null
            ;;
        api-conc) # prints the time of its first request: the start of the clock
            python3 "$WORK/api_client.py" skiff "$SOCK" "$WASM" "$n" "$PAR" >"$WORK/t0"
            ;;
        api-par)
            seq 1 "$n" | xargs -P "$PAR" -I NUM curl -sS --fail -o /dev/null --unix-socket "$SOCK" \
                -X POST http://skiff/apps -H 'content-type: application/json' -d "$(api_body idle-NUM)"
            ;;
    esac
}

skiff_measure() { # skiff_measure MODE N ROUND
    local mode=$1 n=$2 round=$3 base after t0 t1 ok=true note=""
    start_daemon "$(mktemp -d -p "$WORK" skiff.XXXX)"
    # Warm the compile cache (and the daemon) with one app, then remove it.
    curl -sS --fail -o /dev/null --unix-socket "$SOCK" -X POST http://skiff/apps \
        -H 'content-type: application/json' -d "$(api_body warm)" || die "skiff: warm-up app refused"
    wait_skiff_running 1 60 || die "skiff: warm-up app not running"
    curl -sS --fail -o /dev/null --unix-socket "$SOCK" -X DELETE 'http://skiff/apps/warm?force=true' ||
        die "skiff: cannot remove the warm-up app"
    sleep "$SETTLE"
    base=$(mem skiff "$DAEMON_PID")
    t0=$(now_us)
    if ! skiff_start_n "$mode" "$n" 2>"$WORK/skiff.err"; then
        ok=false
        note="start failed: $(head -c 200 "$WORK/skiff.err" | tr -d '"\\\n')"
    fi
    if ! wait_skiff_running "$n" 120; then
        ok=false
        note="${note:+$note; }only $(skiff_running)/$n running"
    fi
    t1=$(now_us)
    if [[ $mode == api-conc && -s $WORK/t0 ]]; then t0=$(head -n 1 "$WORK/t0"); fi
    sleep "$SETTLE"
    after=$(mem skiff "$DAEMON_PID")
    local running
    running=$(skiff_running)
    [[ $running == "$n" ]] || { ok=false; note="${note:+$note; }$running/$n running after settling"; }
    if [[ $ok == false ]]; then # what the daemon knows of the apps, and what it logged
        note="$note; states: $(SKIFF_HOST=unix://$SOCK "$SKIFF" ps -a --format json 2>&1 |
            grep -o '"state": *"[a-z]*"' | sort | uniq -c | tr -s ' \n"' ' ' || true)"
        log "skiff $mode N=$n failed; the daemon's log ends:"
        tail -n 20 "$DAEMON_ROOT.log" >&2 || true
    fi
    record skiff "$mode" "$n" "$round" "$(secs "$t0" "$t1")" "$ok" "$note" "$base" "$after"
    log "  skiff $mode N=$n: $(secs "$t0" "$t1" | cut -c1-6) s, ok=$ok $note"
    stop_daemon
}

# --- docker ---------------------------------------------------------------------------------------
# --bridge=none: the containers use --network none, so leave the host's network configuration
# alone (and do not clash with another engine's docker0).
start_dockerd --bridge=none
build_scratch_image "$IMAGE"
# The engine must run its own containerd: with a system one (/run/containerd), the shims could not
# be told apart from other engines'.
[[ -f $D/exec/containerd/containerd.pid ]] ||
    die "dockerd uses a system containerd (/run/containerd/containerd.sock?); stop it or run elsewhere"
# Warm up Docker: one container started and removed before anything is measured.
docker run -d --network none --name warm "$IMAGE" >/dev/null || die "docker run of $IMAGE failed"
docker rm -f warm >/dev/null

docker_running() { docker ps -q --filter status=running 2>/dev/null | wc -l; }

docker_start_n() { # docker_start_n MODE N
    local mode=$1 n=$2 i deadline=$((SECONDS + DOCKER_TIMEOUT))
    case $mode in
        seq)
            for ((i = 1; i <= n; i++)); do
                docker run -d --network none --name "idle-$i" "$IMAGE" >/dev/null || return 1
                ((SECONDS < deadline)) || { echo "timed out after $DOCKER_TIMEOUT s at $i/$n" >&2; return 1; }
            done
            ;;
        par)
            seq 1 "$n" | timeout "$DOCKER_TIMEOUT" xargs -P "$PAR" -I NUM \
                docker run -d --network none --name idle-NUM "$IMAGE" >/dev/null
            ;;
        api-conc) # prints the time of its first request: the start of the clock
            timeout "$DOCKER_TIMEOUT" python3 "$WORK/api_client.py" docker "${DOCKER_HOST#unix://}" \
                "$IMAGE" "$n" "$PAR" >"$WORK/t0"
            ;;
    esac
}

docker_measure() { # docker_measure MODE N ROUND; returns 1 when Docker could not start N
    local mode=$1 n=$2 round=$3 base after t0 t1 ok=true note="" i running
    sleep "$SETTLE"
    base=$(mem docker "$D" "$DOCKERD_PID")
    t0=$(now_us)
    if ! docker_start_n "$mode" "$n" 2>"$WORK/docker.err"; then
        ok=false
        # shellcheck disable=SC1003 # tr deletes quotes and backslashes
        note="start failed: $({ grep -v '^$' "$WORK/docker.err" || true; } | head -n 1 | head -c 200 | tr -d '"\\')"
    fi
    for ((i = 0; i < 600; i++)); do
        (($(docker_running) >= n)) && break
        [[ $ok == false ]] && break
        sleep 0.05
    done
    t1=$(now_us)
    if [[ $mode == api-conc && -s $WORK/t0 ]]; then t0=$(head -n 1 "$WORK/t0"); fi
    sleep "$SETTLE"
    after=$(mem docker "$D" "$DOCKERD_PID")
    running=$(docker_running)
    [[ $running == "$n" ]] || { ok=false; note="${note:+$note; }$running/$n running"; }
    record docker "$mode" "$n" "$round" "$(secs "$t0" "$t1")" "$ok" "$note" "$base" "$after"
    log "  docker $mode N=$n: $(secs "$t0" "$t1" | cut -c1-6) s, ok=$ok $note"
    docker_rm_all
    for ((i = 0; i < 600; i++)); do # until the shims are gone too
        [[ -z $(our_shims) ]] && break
        sleep 0.1
    done
    [[ $ok == true ]]
}

# --- measurement: per N, ROUNDS rounds, each: skiff (3 ways), docker (2 ways) ------------------
: >"$WORK/runs.jsonl"
DOCKER_OK_MAX=0 # the largest N Docker managed
DOCKER_FAILED=""
for n in $NS; do
    rounds=$ROUNDS docker_rounds=$ROUNDS
    if ((n >= 1000)); then rounds=$ROUNDS_LARGE docker_rounds=$DOCKER_ROUNDS_LARGE; fi
    for ((r = 1; r <= rounds; r++)); do
        log "N=$n round $r/$rounds"
        for mode in cli-seq api-par; do skiff_measure "$mode" "$n" "$r"; done
        if ((r <= docker_rounds && n <= DOCKER_MAX)) && [[ -z $DOCKER_FAILED ]]; then
            if ((n <= DOCKER_SEQ_MAX)); then
                docker_measure seq "$n" "$r" || DOCKER_FAILED=$n
            fi
        fi
        for mode in cli-par api-conc; do skiff_measure "$mode" "$n" "$r"; done
        if ((r <= docker_rounds && n <= DOCKER_MAX)) && [[ -z $DOCKER_FAILED ]]; then
            docker_measure par "$n" "$r" || DOCKER_FAILED=$n
        fi
        if ((r <= docker_rounds && n <= DOCKER_MAX)) && [[ -z $DOCKER_FAILED ]]; then
            docker_measure api-conc "$n" "$r" || DOCKER_FAILED=$n
        fi
    done
    if [[ -z $DOCKER_FAILED ]] && ((n <= DOCKER_MAX)); then DOCKER_OK_MAX=$n; fi
done
if [[ -n $DOCKER_FAILED ]]; then log "Docker failed at N=$DOCKER_FAILED: larger N skipped for Docker"; fi

# --- report ------------------------------------------------------------------------------------
report "$WORK/runs.jsonl" "$MACHINE" "$OUT" "$PAR" "$SETTLE" "$DOCKER_OK_MAX" "$DOCKER_FAILED" \
    "$DOCKER_SEQ_MAX" "$ROUNDS" "$ROUNDS_LARGE" "$DOCKER_ROUNDS_LARGE" <<'PY'
import json, statistics, sys

runs_file, machine, out, par, settle, docker_ok_max, docker_failed = sys.argv[1:8]
docker_seq_max, rounds, rounds_large, docker_rounds_large = sys.argv[8:12]
runs = [json.loads(l) for l in open(runs_file) if l.strip()]
GiB_kB = 1024 * 1024
ns = sorted({r["n"] for r in runs})
med = statistics.median

def per_app(r, key):  # kB per app: growth / N
    if key == "avail":
        return (r["base"]["avail"] - r["after"]["avail"]) / r["n"]
    if key == "pss+kernel":
        return per_app(r, "pss") + per_app(r, "kernel")
    return (r["after"][key] - r["base"][key]) / r["n"]

def sel(peer, n, mode=None, ok=True):
    return [r for r in runs if r["peer"] == peer and r["n"] == n
            and (mode is None or r["mode"] == mode) and (r["ok"] or not ok)]

def fmt_s(xs):
    if not xs:
        return "-"
    m = med(xs)
    return f"{m:.2f}" if len(xs) == 1 else f"{m:.2f} ({min(xs):.2f}-{max(xs):.2f})"

modes = [("skiff", "cli-seq", "`skiff run -d`, one after another"),
         ("skiff", "cli-par", f"`skiff run -d`, `xargs -P {par}`"),
         ("skiff", "api-par", f"`POST /apps` (curl), `xargs -P {par}`"),
         ("skiff", "api-conc", f"`POST /apps`, one client process, {par} connections"),
         ("docker", "seq", "`docker run -d`, one after another"),
         ("docker", "par", f"`docker run -d`, `xargs -P {par}`"),
         ("docker", "api-conc", f"Engine API (create + start), one client process, {par} connections")]

lines = [
    "# Density: N idle apps in one skiff daemon vs N Docker containers",
    "",
    machine,
    "",
    "The same program (`benches/programs/idle`: sleeps forever) as wasm32-wasip1 in one "
    "`skiff daemon` (a fresh daemon per run, compile cache warmed with one app first) and as a static "
    "native binary in a `FROM scratch` image, `docker run -d --network none` (dockerd of the script's own, "
    "classic builder). Rounds interleave the peers (skiff, docker, skiff, docker). Start time: from the first "
    "start command until `skiff ps --format json` / `docker ps` shows all N running; median (min-max) over "
    "the rounds (Docker: fewer rounds at N=1000, where one start of N takes minutes). \"API curl\" runs a "
    "curl process per app (`xargs -P`), so it also counts process starts; \"API 1 client\" sends the same "
    "requests from one process over keep-alive connections, its clock starting at its first request: "
    "the daemon's own pace; Docker's \"API 1 client\" is the same client sending what `docker run -d` "
    f"sends (`POST /containers/create`, `POST /containers/ID/start`) to dockerd's socket. Memory is read {settle} s later: skiff = the daemon's RSS/PSS growth "
    "(`/proc/PID/smaps_rollup`, after the warm-up app was removed); docker = every containerd-shim of the "
    "engine + the container processes + the growth of dockerd and containerd. Per app = growth / N, median "
    "over that N's runs; apps per GiB = 1 GiB / PSS per app. \"kernel\" is the growth of the machine's "
    "unreclaimable slab + kernel stacks + page tables per app (cgroups, namespaces, mounts, tasks: memory "
    "no process's RSS shows); \"host\" is the drop in MemAvailable per app. Both are machine-wide, so other "
    "work on the machine moves them (a negative value is such noise); \"ratio with kernel memory\" compares "
    "PSS + kernel per app.",
    "",
    f"Rounds: {rounds} for N < 1000, {rounds_large} for N >= 1000 (Docker: {docker_rounds_large} there); "
    f"Docker one after another only up to N={docker_seq_max} (`DOCKER_SEQ_MAX`: it takes minutes beyond).",
    "",
    "## Summary",
    "",
    "| N | skiff start all N, s (API 1 client / API curl -P / CLI -P / CLI seq) | docker start all N, s (API 1 client / CLI -P / CLI seq) | skiff PSS/app KiB | docker PSS/app KiB | skiff apps/GiB | docker apps/GiB | ratio | ratio with kernel memory |",
    "| ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
]
summary = {}
for n in ns:
    sk = sel("skiff", n)
    dk = sel("docker", n)
    t = lambda peer, mode: [r["seconds"] for r in sel(peer, n, mode)]
    sk_pss = med([per_app(r, "pss") for r in sk]) if sk else None
    dk_pss = med([per_app(r, "pss") for r in dk]) if dk else None
    sk_g = GiB_kB / sk_pss if sk_pss and sk_pss > 0 else None
    dk_g = GiB_kB / dk_pss if dk_pss and dk_pss > 0 else None
    ratio = sk_g / dk_g if sk_g and dk_g else None
    sk_k = med([per_app(r, "pss+kernel") for r in sk]) if sk else None
    dk_k = med([per_app(r, "pss+kernel") for r in dk]) if dk else None
    ratio_k = dk_k / sk_k if sk_k and dk_k and sk_k > 0 else None
    summary[n] = dict(dconc=t("docker", "api-conc"), conc=t("skiff", "api-conc"), api=t("skiff", "api-par"), cli=t("skiff", "cli-par"), seq=t("skiff", "cli-seq"),
                      ratio=ratio, sk_g=sk_g, dk_g=dk_g, sk_pss=sk_pss)
    dcell = (f"{fmt_s(t('docker', 'api-conc'))} / {fmt_s(t('docker', 'par'))} / {fmt_s(t('docker', 'seq'))}" if dk else
             f"not run (Docker failed at N={docker_failed})" if docker_failed else "not run")
    lines.append(
        f"| {n} | {fmt_s(t('skiff', 'api-conc'))} / {fmt_s(t('skiff', 'api-par'))} / {fmt_s(t('skiff', 'cli-par'))} / {fmt_s(t('skiff', 'cli-seq'))} "
        f"| {dcell} | {sk_pss:.0f} | {f'{dk_pss:.0f}' if dk_pss else '-'} | {f'{sk_g:,.0f}' if sk_g else '-'} "
        f"| {f'{dk_g:,.0f}' if dk_g else '-'} | {f'{ratio:.0f}x' if ratio else '-'} "
        f"| {f'{ratio_k:.0f}x' if ratio_k else '-'} |")

lines += ["", "## Every way of starting", "",
          "| N | peer | started by | runs ok | start all N, s | ms per app | RSS/app KiB | PSS/app KiB | kernel/app KiB | host/app KiB | apps/GiB (PSS) |",
          "| ---: | --- | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
for n in ns:
    for peer, mode, desc in modes:
        allr = sel(peer, n, mode, ok=False)
        if not allr:
            continue
        rs = [r for r in allr if r["ok"]]
        if not rs:
            notes = "; ".join(sorted({r["note"] for r in allr}))
            lines.append(f"| {n} | {peer} | {desc} | 0/{len(allr)} | failed: {notes} | | | | | | |")
            continue
        secs = [r["seconds"] for r in rs]
        pss = med([per_app(r, "pss") for r in rs])
        per_gib = f"{GiB_kB / pss:,.0f}" if pss > 0 else "-"
        lines.append(
            f"| {n} | {peer} | {desc} | {len(rs)}/{len(allr)} | {fmt_s(secs)} | {1000 * med(secs) / n:.1f} "
            f"| {med([per_app(r, 'rss') for r in rs]):.0f} | {pss:.0f} | {med([per_app(r, 'kernel') for r in rs]):.0f} "
            f"| {med([per_app(r, 'avail') for r in rs]):.0f} "
            f"| {per_gib} |")

# Docker's cost, split up (median over its runs).
dk_rows = [n for n in ns if sel("docker", n)]
if dk_rows:
    lines += ["", "Docker's memory per container, split up (KiB, RSS / PSS; medians):", "",
              "| N | containerd-shim | container process | dockerd + containerd growth | shims seen |",
              "| ---: | ---: | ---: | ---: | ---: |"]
    for n in dk_rows:
        rs = sel("docker", n)
        part = lambda k: med([(r["after"][k] - r["base"][k]) / n for r in rs])
        lines.append(f"| {n} | {part('shim_rss'):.0f} / {part('shim_pss'):.0f} | {part('ctr_rss'):.0f} / "
                     f"{part('ctr_pss'):.0f} | {part('engine_rss'):.0f} / {part('engine_pss'):.0f} | "
                     f"{med([r['after']['shim_n'] for r in rs]):.0f} |")
sk_rows = [n for n in ns if sel("skiff", n)]
lines += ["", "Skiff daemon totals after starting N (medians): " + "; ".join(
    f"N={n}: RSS {med([r['after']['rss'] for r in sel('skiff', n)]) / 1024:.1f} MiB, "
    f"PSS {med([r['after']['pss'] for r in sel('skiff', n)]) / 1024:.1f} MiB, "
    f"{med([r['after']['threads'] for r in sel('skiff', n)]):.0f} threads" for n in sk_rows) + "."]
failed = [r for r in runs if not r["ok"]]
if failed:
    lines += ["", "Failed runs (not in the medians):", ""]
    lines += [f"- {r['peer']} {r['mode']} N={r['n']} round {r['round']}: {r['note']}" for r in failed]
if docker_failed:
    lines += ["", f"Docker was capped at N={docker_ok_max}: it could not start N={docker_failed} "
              "(see above); larger N were run with Skiff only."]

goals, ok_all = [], True
ratio_ns = [n for n in ns if summary[n]["ratio"]]
if ratio_ns:
    n = max(ratio_ns)
    r = summary[n]["ratio"]
    # Issue 14's goals: at least 150x Docker, at most 20 KiB per idle app.
    goals.append((f">= 150x more apps per GiB than Docker (PSS, at N={n}, the largest N both ran)", r >= 150, f"{r:.0f}x"))
else:
    goals.append((">= 150x more apps per GiB than Docker", False, "no Docker measurement"))
sk_ns = [n for n in ns if summary[n]["sk_pss"]]
if sk_ns:
    n = max(sk_ns)
    k = summary[n]["sk_pss"]
    goals.append((f"<= 20 KiB PSS per idle app (N={n})", k <= 20, f"{k:.1f} KiB"))
if 1000 in summary and (summary[1000]["conc"] or summary[1000]["api"] or summary[1000]["cli"]):
    for key, what in (("conc", "API, one client process"), ("api", "API, a curl process per app, -P"),
                      ("cli", "CLI, skiff run -d -P")):
        xs = summary[1000][key]
        if xs:
            goals.append((f"1000 apps started in under 2 s ({what})", med(xs) < 2.0, f"{med(xs):.2f} s"))
else:
    goals.append(("1000 apps started in under 2 s", False, "N=1000 not run"))
started = [n for n in ns if summary[n]["conc"] and summary[n]["dconc"]]
if started:  # the same client, clock and requests per app on both sides
    lines += ["", "Start of all N, both through their API from one client (the same client, clock and "
              "connections): " + "; ".join(f"N={n}: docker/skiff = "
              f"{med(summary[n]['dconc']) / med(summary[n]['conc']):.0f}x" for n in started) + "."]
finish(lines, out, goals)
PY
