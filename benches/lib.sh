# shellcheck shell=bash
# What the benchmark scripts share; each sources it right after setting HERE (its own directory).
# Sourcing only defines the functions below and a few globals: REPO, the log tag (the script's
# name), and the state the EXIT trap of on_exit_cleanup undoes (the PIDs of what the script started,
# dockerd's dir D, a bridge, the temp dirs), all empty at first.

# shellcheck disable=SC2034 # REPO: for the scripts
REPO=$(dirname "$HERE")
LOG_TAG=$(basename "$0" .sh)
APT_UPDATED=0
CLEANUP_DIRS=()
D='' DOCKERD_PID='' DAEMON_PID='' SERVER_PID='' REGISTRY_PID='' BRIDGE=''
# Every peer runs without Rust's backtrace capture: with RUST_BACKTRACE set, wasmtime (in Skiff
# and in the wasmtime CLI alike) captures a backtrace for each error it builds, even handled ones.
unset RUST_BACKTRACE RUST_LIB_BACKTRACE

# log MESSAGE...: a progress line on stderr, tagged with the script's name
log() { printf '[%s] %s\n' "$LOG_TAG" "$*" >&2; }

# die MESSAGE...: an error line on stderr, then exit 1
die() { printf '[%s] ERROR: %s\n' "$LOG_TAG" "$*" >&2; exit 1; }

# need COMMAND DEBIAN-PACKAGE: apt-get install the package unless the command is already there
need() {
    command -v "$1" >/dev/null 2>&1 && return 0
    log "$1 not found: apt-get install $2"
    if [[ $APT_UPDATED == 0 ]]; then
        apt-get update -qq
        APT_UPDATED=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null
    command -v "$1" >/dev/null 2>&1 || die "$1 still missing after installing $2"
}

# help_of SUBCOMMAND...: `skiff SUBCOMMAND --help`, captured whole (no SIGPIPE under pipefail)
help_of() { "$SKIFF" "$@" --help 2>/dev/null || true; }

# missing_skiff [WHAT [HINT]]: say that no skiff binary (WHAT: "with `skiff serve`") is at $SKIFF and how to build it; exit 2
# shellcheck disable=SC2120 # the arguments are optional
missing_skiff() {
    echo "skiff binary ${1:+$1 }not found at $SKIFF; build it with:" >&2
    echo "  cargo build --release -p skiff-cli" >&2
    [[ -z ${2:-} ]] || echo "$2" >&2
    exit 2
}

# need_wasmtime: exit 2 with the install command unless $WASMTIME is executable
need_wasmtime() {
    [[ -x $WASMTIME ]] && return 0
    echo "wasmtime 48.0.8 not found at $WASMTIME; install it with:" >&2
    echo "  cargo install wasmtime-cli --version 48.0.8 --locked --root /work/peers/wasmtime-48.0.8" >&2
    exit 2
}

# has_peer PEER: whether PEER is one of the words of $PEERS
has_peer() { [[ " $PEERS " == *" $1 "* ]]; }

# check_peers "KNOWN...": die unless every word of $PEERS is one of KNOWN
check_peers() {
    local p
    for p in $PEERS; do [[ " $1 " == *" $p "* ]] || die "unknown peer '$p' in PEERS ($1)"; done
}

# machine_info [ram]: set MACHINE to the tables' machine line (nproc, CPU, [RAM,] kernel, date) and print it
# shellcheck disable=SC2120 # the argument is optional
machine_info() {
    local cpu ram=
    cpu=$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo)
    if [[ ${1:-} == ram ]]; then
        ram=", RAM $(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
    fi
    MACHINE="Machine: nproc=$(nproc), CPU: ${cpu:-unknown}$ram, kernel $(uname -r), $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "$MACHINE"
}

# plain_paths WHY PATH...: die if a PATH holds a space, quote or backslash (WHY: what cannot take one)
plain_paths() {
    local why=$1 p
    shift
    for p; do [[ $p != *[[:space:]\'\"\\]* ]] || die "path with a space or quote ($why): $p"; done
}

# http_body URL: the body a GET of URL answers (fails on an error or a status that is not 2xx):
# curl where there is one, else python3 (a machine that runs benchmarks from carried binaries)
http_body() {
    if command -v curl >/dev/null 2>&1; then
        curl -sf --max-time 2 "$1" 2>/dev/null
    else
        python3 -c 'import sys, urllib.request
sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=2).read().decode())' "$1" 2>/dev/null
    fi
}

# wait_ready URL PID LOG: until URL answers $EXPECTED (60 s); die showing the end of LOG if PID
# exits first, or if URL answers something else
wait_ready() {
    local url=$1 pid=$2 out=$3 body deadline=$((SECONDS + 60))
    while ((SECONDS < deadline)); do
        if body=$(http_body "$url"); then
            [[ $body == "$EXPECTED" ]] && return 0
            die "$url answered '$body', expected '$EXPECTED'"
        fi
        if ! kill -0 "$pid" 2>/dev/null; then
            tail -n 30 "$out" >&2 || true
            die "server exited before answering $url"
        fi
        sleep 0.01
    done
    tail -n 30 "$out" >&2 || true
    die "$url did not answer within 60 s"
}

# free_port: a loopback TCP port that nothing listens on now
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# build_program NAME WASM-TARGET [native|static]: cargo build programs/NAME for WASM-TARGET (and for
# x86_64, static or not); sets WASM and NATIVE to the outputs
build_program() {
    local name=$1 target=$2 kind=${3:-} prog=$HERE/programs/$1 x86=x86_64-unknown-linux-gnu what=$2
    if [[ -n $kind ]]; then what+=" and $x86"; fi
    if [[ $kind == static ]]; then what+=" (static)"; fi
    log "building $prog for $what"
    command -v cargo >/dev/null 2>&1 || die "cargo not found (install Rust with rustup)"
    if command -v rustup >/dev/null 2>&1; then
        rustup target add "$target" ${kind:+"$x86"} >/dev/null 2>&1 ||
            log "rustup target add failed; continuing with the installed targets"
    fi
    cargo build -q --release --manifest-path "$prog/Cargo.toml" --target "$target"
    if [[ $kind == static ]]; then
        RUSTFLAGS="-C target-feature=+crt-static" \
            cargo build -q --release --manifest-path "$prog/Cargo.toml" --target "$x86"
    elif [[ $kind == native ]]; then
        cargo build -q --release --manifest-path "$prog/Cargo.toml" --target "$x86"
    fi
    WASM=$prog/target/$target/release/$name.wasm
    # A cdylib (a WASI 0.3 component) is named after its library: dashes become underscores.
    [[ -f $WASM ]] || WASM=$prog/target/$target/release/${name//-/_}.wasm
    NATIVE=$prog/target/$x86/release/$name
    [[ -f $WASM && ( -z $kind || -x $NATIVE ) ]] || die "$name build outputs missing"
}

# check_output PEER [warm]: run ${CMD[PEER]} (split on spaces; with warm, once before whatever the
# outcome: compile, cache fill) and die unless it succeeds and prints exactly $EXPECTED
check_output() {
    local argv out
    read -r -a argv <<<"${CMD[$1]}"
    if [[ ${2:-} == warm ]]; then "${argv[@]}" >/dev/null 2>&1 || true; fi
    if ! out=$("${argv[@]}" 2>"$WORK/$1.err"); then
        cat "$WORK/$1.err" >&2
        die "$1: '${CMD[$1]}' failed"
    fi
    if [[ $out != "$EXPECTED" ]]; then
        cat "$WORK/$1.err" >&2
        die "$1: '${CMD[$1]}' printed '$out', expected '$EXPECTED'"
    fi
}

# interleaved_rounds: ROUNDS rounds, each timing every peer of the array PEERS (its command in
# CMD[PEER]) with hyperfine -N, RUNS runs after WARMUP, into $WORK/json/PEER.ROUND.json
interleaved_rounds() {
    local r p
    mkdir -p "$WORK/json"
    for ((r = 1; r <= ROUNDS; r++)); do
        for p in "${PEERS[@]}"; do
            log "round $r/$ROUNDS: $p ($RUNS runs)"
            hyperfine -N --style none --warmup "$WARMUP" --runs "$RUNS" \
                --export-json "$WORK/json/$p.$r.json" -n "$p" "${CMD[$p]}" >/dev/null
        done
    done
}

# wait_up WHAT PID LOG TRIES COMMAND...: run COMMAND every 0.1 s until it succeeds; die showing the
# end of LOG if PID exits first or TRIES tries fail
wait_up() {
    local what=$1 pid=$2 out=$3 tries=$4 i
    shift 4
    for ((i = 0; ; i++)); do
        "$@" >/dev/null 2>&1 && return 0
        if ! kill -0 "$pid" 2>/dev/null || ((i >= tries)); then
            tail -n 30 "$out" >&2 || true
            die "$what did not come up"
        fi
        sleep 0.1
    done
}

# stop_pid PID [SECONDS]: TERM, wait (30 s), then KILL
stop_pid() {
    local pid=$1 wait=${2:-30} i
    kill "$pid" 2>/dev/null || return 0
    for ((i = 0; i < wait * 10; i++)); do
        kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
        sleep 0.1
    done
    log "pid $pid did not stop after TERM: KILL"
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

# start_daemon ROOT [ARGS...]: `skiff daemon --root ROOT --socket ROOT/s.sock ARGS` in the
# background, its log in ROOT.log; sets DAEMON_ROOT, SOCK, DAEMON_PID, and waits until it answers
start_daemon() {
    DAEMON_ROOT=$1
    SOCK=$DAEMON_ROOT/s.sock
    shift
    "$SKIFF" daemon --root "$DAEMON_ROOT" --socket "$SOCK" "$@" >"$DAEMON_ROOT.log" 2>&1 &
    DAEMON_PID=$!
    wait_up "skiff daemon" "$DAEMON_PID" "$DAEMON_ROOT.log" 300 \
        curl -sf --unix-socket "$SOCK" http://skiff/ping
}

# stop_daemon [SECONDS]: stop the daemon (KILL after SECONDS, 30) and remove its root and log
# shellcheck disable=SC2120 # the argument is optional
stop_daemon() {
    stop_pid "$DAEMON_PID" "${1:-30}"
    DAEMON_PID=
    rm -rf "$DAEMON_ROOT" "$DAEMON_ROOT.log"
}

# start_registry DIR: Debian's docker-registry on a free loopback port, its config, storage and
# log in DIR (deletes enabled); sets REG (ADDR:PORT) and REGISTRY_PID (stopped on exit)
start_registry() {
    local dir=$1
    need docker-registry docker-registry
    need curl curl
    REG=127.0.0.1:$(free_port)
    cat >"$dir/config.yml" <<EOF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $dir/storage
  delete:
    enabled: true
http:
  addr: $REG
EOF
    log "starting docker-registry on $REG"
    docker-registry serve "$dir/config.yml" >"$dir/log" 2>&1 &
    REGISTRY_PID=$!
    wait_up "docker-registry on $REG" "$REGISTRY_PID" "$dir/log" 300 curl -sf -o /dev/null "http://$REG/v2/"
}

# start_dockerd DOCKERD-ARGS...: a dockerd of our own (--iptables=false, classic builder) in a new
# temp dir D (data-root, exec-root, socket, log); exports DOCKER_HOST and waits until it answers
start_dockerd() {
    D=$(mktemp -d)
    CLEANUP_DIRS+=("$D")
    log "starting dockerd in $D ($*)"
    dockerd --data-root "$D/root" --exec-root "$D/exec" --pidfile "$D/pid" \
        -H "unix://$D/docker.sock" --iptables=false "$@" >"$D/log" 2>&1 &
    DOCKERD_PID=$!
    export DOCKER_HOST="unix://$D/docker.sock" DOCKER_BUILDKIT=0
    wait_up dockerd "$DOCKERD_PID" "$D/log" 600 docker version
}

# build_scratch_image TAG [CMD-JSON]: docker build of FROM scratch + $NATIVE as the entrypoint
build_scratch_image() {
    local bin
    bin=$(basename "$NATIVE")
    mkdir -p "$WORK/image"
    cp "$NATIVE" "$WORK/image/$bin"
    {
        printf 'FROM scratch\nCOPY %s /%s\nENTRYPOINT ["/%s"]\n' "$bin" "$bin" "$bin"
        [[ -z ${2:-} ]] || echo "CMD $2"
    } >"$WORK/image/Dockerfile"
    if ! docker build -q -t "$1" "$WORK/image" >"$WORK/build.log" 2>&1; then
        cat "$WORK/build.log" >&2
        die "docker build of the scratch image failed"
    fi
}

# docker_rm_all: remove every container of our engine, SIGKILL, $PAR (8) at a time; gives up
# after 15 minutes (dockerd 20.10 once stopped answering `docker rm -f` halfway through 1000 here)
docker_rm_all() {
    docker ps -aq | timeout 900 xargs -r -P "${PAR:-8}" -n 50 timeout 600 docker rm -f >/dev/null 2>&1 ||
        log "warning: docker rm -f of every container failed or hung; $(timeout 10 docker ps -aq | wc -l) left"
}

# our_shims: the PIDs of the containerd-shim processes of our engine (their command line names D)
# (one `ps`: a process per /proc entry took minutes beside 1000 containers)
our_shims() {
    ps -eo pid=,comm=,args= | awk -v d="$D/" '$2 ~ /^containerd-shim/ && index($0, d) { print $1 }'
}

# on_exit_cleanup DIR...: on exit (and on INT/TERM, as exit 130) stop the server, daemon, registry
# and dockerd (its containers, containerd and shims too), delete the bridge, remove the DIRs
on_exit_cleanup() {
    CLEANUP_DIRS+=("$@")
    trap cleanup EXIT
    trap 'exit 130' INT TERM
}

# shellcheck disable=SC2317 # cleanup: the EXIT trap of on_exit_cleanup
cleanup() {
    local rc=$? pid mnt
    trap - EXIT INT TERM
    for pid in $SERVER_PID $DAEMON_PID $REGISTRY_PID; do stop_pid "$pid"; done
    if [[ -n $DOCKERD_PID ]]; then
        if kill -0 "$DOCKERD_PID" 2>/dev/null; then docker_rm_all; fi
        stop_pid "$DOCKERD_PID"
        # dockerd stops the containerd it started; if it was killed, stop that one by its pid too.
        if [[ -f $D/exec/containerd/containerd.pid ]]; then
            pid=$(<"$D/exec/containerd/containerd.pid")
            [[ -n $pid ]] && stop_pid "$pid"
        fi
        # Shims outlive a killed engine: end ours.
        for pid in $(our_shims); do kill -9 "$pid" 2>/dev/null || true; done
    fi
    [[ -n $BRIDGE ]] && ip link del "$BRIDGE" 2>/dev/null
    # Anything dockerd left mounted under its dir must be unmounted before removal (deepest first).
    if [[ -n $D ]]; then
        while read -r mnt; do
            umount -l "$mnt" 2>/dev/null || true
        done < <(awk -v d="$D" 'index($2, d) == 1 { print $2 }' /proc/mounts | sort -r)
    fi
    rm -rf "${CLEANUP_DIRS[@]}" || true
    exit "$rc"
}

# cpu_ticks PID...: utime + stime of the PIDs (all their threads), in clock ticks
cpu_ticks() {
    local pid stat sum=0
    for pid; do
        stat=$(<"/proc/$pid/stat")
        stat=${stat##*) } # fields from 3 (state) on; comm may hold spaces
        read -r -a f <<<"$stat"
        sum=$((sum + f[11] + f[12])) # fields 14 and 15
    done
    echo "$sum"
}

# The /proc readers of the memory probes (density.sh, shim.sh): PSS/RSS of a process, the process
# table, and the shims of one engine with every process under them.
PROCS_PY=$(
    cat <<'PY'
import os

def rollup(pid):  # {"rss": kB, "pss": kB} of one process; zeros once it is gone
    r = {"rss": 0, "pss": 0}
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("Rss", "Pss"):
                    r[k.lower()] = int(v.split()[0])
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        pass
    return r

def proc_table():  # {pid: (comm, ppid, cmdline)} of every process now
    procs = {}
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open(f"/proc/{p}/stat") as f:
                stat = f.read()
            with open(f"/proc/{p}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except (FileNotFoundError, ProcessLookupError):
            continue
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        procs[int(p)] = (comm, ppid, cmd)
    return procs

def shims_of(procs, marker):  # the containerd shims whose command line holds MARKER, and every
    # process under them (the containers' processes, runc's if any)
    shims = {p for p, (c, _, cmd) in procs.items() if c.startswith("containerd-shim") and marker in cmd}
    under, frontier = set(), set(shims)
    while frontier:
        frontier = {p for p, (_, pp, _) in procs.items() if pp in frontier and p not in shims} - under
        under |= frontier
    return shims, under
PY
)

# write_probe FILE <<'PY': FILE is a python script of PROCS_PY's helpers, then stdin
write_probe() { { printf '%s\n\n' "$PROCS_PY"; cat; } >"$1"; }

# The python helpers every report (below) may use.
REPORT_PY=$(
    cat <<'PY'
import math, re, sys

def p99(xs):  # xs sorted; nearest rank, which equals the max below 100 samples
    return xs[max(0, math.ceil(0.99 * len(xs)) - 1)]

WRK_UNIT = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}

def wrk_ms(text):  # wrk's "1.23ms" / "456.00us" / "1.02s" -> ms
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if not m:
        raise ValueError(f"cannot read wrk time {text!r}")
    return float(m.group(1)) * WRK_UNIT[m.group(2)]

def parse_wrk(path):  # what `wrk --latency` wrote to PATH: requests, rps, p50/p99 (ms), errors
    text = open(path).read()
    m = re.search(r"^\s*(\d+) requests in ([\d.]+)(\w+),", text, re.M)
    if not m:
        raise ValueError(f"no request count in {path}:\n{text}")
    r = {"requests": int(m.group(1))}
    r["rps"] = float(re.search(r"^Requests/sec:\s*([\d.]+)", text, re.M).group(1))
    for pct in ("50", "99"):
        r["p" + pct] = wrk_ms(re.search(rf"^\s*{pct}%\s+(\S+)", text, re.M).group(1))
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    r["non2xx"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    r["sock_err"] = sum(int(x) for x in m.groups()) if m else 0
    return r

def finish(lines, out, goals=()):  # add the goals, write the table to OUT, print it; exit 3 if a goal failed
    if goals:
        lines += ["", "Goals (medians):", ""]
        lines += [f"- {'PASS' if ok else 'FAIL'}: {name} ({detail})" for name, ok, detail in goals]
    with open(out, "w") as fh:
        fh.write("\n".join(lines) + "\n")
    # The machine line was printed when the run started: stdout gets the rest.
    sys.stdout.write("\n" + "\n".join(lines[4:]) + "\n")
    sys.exit(0 if all(ok for _, ok, _ in goals) else 3)
PY
)

# report ARGS... <<'PY': make OUT's dir, run the python report on stdin (after REPORT_PY) with ARGS,
# then exit 0, or 1 if it exits 3 (a goal missed) and STRICT=1
report() {
    local rc=0
    mkdir -p "$(dirname "$OUT")"
    python3 -c "$REPORT_PY"$'\n'"$(cat)" "$@" || rc=$?
    log "table written to $OUT"
    case $rc in
        0) exit 0 ;;
        3) [[ ${STRICT:-0} == 1 ]] && exit 1; exit 0 ;;
        *) die "report failed (python exit $rc)" ;;
    esac
}
