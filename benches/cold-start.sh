#!/usr/bin/env bash
# Cold-start benchmark: time to run a hello-world program to completion, measured in one run on one
# machine, peers interleaved (A B C D, A B C D, ...):
#   skiff     `skiff run hello.wasm`            (compile cache warm: the cached start is measured)
#   wasmtime  `wasmtime run hello.wasm`         (wasmtime-cli 48.0.8, its default cache, warm)
#   native    the same program, static x86_64 binary
#   docker    `docker run --rm --network none`  of a FROM scratch image holding that static binary
#
# Env: SKIFF, WASMTIME (binaries), ROUNDS (3), RUNS (30 per round for the fast peers),
#      DOCKER_RUNS (10 per round), WARMUP (3), OUT (benches/results/cold-start.md),
#      STRICT=1 to exit 1 when a goal is missed.
# Exit: 0 done, 1 error (or missed goal with STRICT=1), 2 a prerequisite binary is missing.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$HERE")
SKIFF=${SKIFF:-$REPO/target/release/skiff}
WASMTIME=${WASMTIME:-/work/peers/wasmtime-48.0.8/bin/wasmtime}
ROUNDS=${ROUNDS:-3}
RUNS=${RUNS:-30}
DOCKER_RUNS=${DOCKER_RUNS:-10}
WARMUP=${WARMUP:-3}
OUT=${OUT:-$HERE/results/cold-start.md}
STRICT=${STRICT:-0}
EXPECTED='Hello, world!'
IMAGE=skiff-bench-hello:latest

log() { printf '[cold-start] %s\n' "$*" >&2; }
die() { printf '[cold-start] ERROR: %s\n' "$*" >&2; exit 1; }

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
need dockerd docker.io
need docker docker.io
need python3 python3
command -v cargo >/dev/null 2>&1 || die "cargo not found (install Rust with rustup)"

CPU=$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo)
MACHINE="Machine: nproc=$(nproc), CPU: ${CPU:-unknown}, kernel $(uname -r), $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "$MACHINE"

# --- temp dirs, dockerd, and their cleanup -----------------------------------------------------
WORK=$(mktemp -d)
SKIFF_ROOT=$(mktemp -d)
export SKIFF_ROOT
D=$(mktemp -d) # dockerd's data-root, exec-root, socket and log
DOCKERD_PID=

# shellcheck disable=SC2317 # reached only from the EXIT trap
stop_pid() { # stop_pid PID: TERM, wait up to 30 s, then KILL
    local pid=$1 i
    kill "$pid" 2>/dev/null || return 0
    for ((i = 0; i < 300; i++)); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    log "pid $pid did not stop after TERM: KILL"
    kill -9 "$pid" 2>/dev/null || true
}

# shellcheck disable=SC2317 # the EXIT trap
cleanup() {
    local rc=$? pid mnt
    if [[ -n $DOCKERD_PID ]]; then
        stop_pid "$DOCKERD_PID"
        # dockerd stops the containerd it started; if it was killed, stop that one by its pid too.
        if [[ -f $D/exec/containerd/containerd.pid ]]; then
            pid=$(<"$D/exec/containerd/containerd.pid")
            [[ -n $pid ]] && stop_pid "$pid"
        fi
    fi
    # Anything dockerd left mounted under its dirs must be unmounted before removal (deepest first).
    while read -r mnt; do
        umount -l "$mnt" 2>/dev/null || true
    done < <(awk -v d="$D" 'index($2, d) == 1 { print $2 }' /proc/mounts | sort -r)
    rm -rf "$WORK" "$SKIFF_ROOT" "$D" || true
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- the hello program: wasm32-wasip1 and static native ---------------------------------------
HELLO=$HERE/programs/hello
log "building $HELLO for wasm32-wasip1 and x86_64-unknown-linux-gnu (static)"
if command -v rustup >/dev/null 2>&1; then
    rustup target add wasm32-wasip1 x86_64-unknown-linux-gnu >/dev/null 2>&1 ||
        log "rustup target add failed; continuing with the installed targets"
fi
cargo build -q --release --manifest-path "$HELLO/Cargo.toml" --target wasm32-wasip1
RUSTFLAGS="-C target-feature=+crt-static" \
    cargo build -q --release --manifest-path "$HELLO/Cargo.toml" --target x86_64-unknown-linux-gnu
WASM=$HELLO/target/wasm32-wasip1/release/hello.wasm
NATIVE=$HELLO/target/x86_64-unknown-linux-gnu/release/hello
[[ -f $WASM && -x $NATIVE ]] || die "hello build outputs missing"

# --- Docker engine of our own (classic builder, nothing pulled) ------------------------------
log "starting dockerd in $D"
# --bridge=none / --iptables=false: the containers use --network none, so leave the host's
# network configuration alone (and do not clash with another engine's docker0).
dockerd --data-root "$D/root" --exec-root "$D/exec" --pidfile "$D/pid" \
    -H "unix://$D/docker.sock" --bridge=none --iptables=false >"$D/log" 2>&1 &
DOCKERD_PID=$!
export DOCKER_HOST="unix://$D/docker.sock" DOCKER_BUILDKIT=0
for ((i = 0; ; i++)); do
    docker version >/dev/null 2>&1 && break
    if ! kill -0 "$DOCKERD_PID" 2>/dev/null || ((i >= 600)); then
        tail -n 30 "$D/log" >&2 || true
        die "dockerd did not come up"
    fi
    sleep 0.1
done
mkdir -p "$WORK/image"
cp "$NATIVE" "$WORK/image/hello"
cat >"$WORK/image/Dockerfile" <<'EOF'
FROM scratch
COPY hello /hello
ENTRYPOINT ["/hello"]
EOF
if ! docker build -q -t "$IMAGE" "$WORK/image" >"$WORK/build.log" 2>&1; then
    cat "$WORK/build.log" >&2
    die "docker build of the scratch image failed"
fi
DOCKER=$(command -v docker)

# --- the four commands; each must print exactly "Hello, world!" --------------------------------
# hyperfine -N splits these on whitespace: the paths must not contain spaces.
PEERS=(skiff wasmtime native docker)
declare -A CMD=(
    [skiff]="$SKIFF run $WASM"
    [wasmtime]="$WASMTIME run $WASM"
    [native]="$NATIVE"
    [docker]="$DOCKER run --rm --network none $IMAGE"
)
for path in "$SKIFF" "$WASMTIME" "$WASM" "$NATIVE" "$DOCKER"; do
    [[ $path != *[[:space:]\'\"]* ]] || die "path with a space or quote (hyperfine -N cannot run it): $path"
done

log "warm-up (fills skiff's and wasmtime's compile caches) and output check"
for p in "${PEERS[@]}"; do
    read -r -a argv <<<"${CMD[$p]}"
    "${argv[@]}" >/dev/null 2>&1 || true # first run: compile + cache fill
    if ! out=$("${argv[@]}" 2>"$WORK/$p.err"); then
        cat "$WORK/$p.err" >&2
        die "$p: '${CMD[$p]}' failed"
    fi
    if [[ $out != "$EXPECTED" ]]; then
        cat "$WORK/$p.err" >&2
        die "$p: '${CMD[$p]}' printed '$out', expected '$EXPECTED'"
    fi
done

# --- measurement: ROUNDS rounds, each running every peer -------------------------------------
mkdir -p "$WORK/json"
for ((r = 1; r <= ROUNDS; r++)); do
    for p in "${PEERS[@]}"; do
        runs=$RUNS
        [[ $p == docker ]] && runs=$DOCKER_RUNS
        log "round $r/$ROUNDS: $p ($runs runs)"
        hyperfine -N --style none --warmup "$WARMUP" --runs "$runs" \
            --export-json "$WORK/json/$p.$r.json" -n "$p" "${CMD[$p]}" >/dev/null
    done
done

# --- report ------------------------------------------------------------------------------------
mkdir -p "$(dirname "$OUT")"
set +e
python3 - "$WORK/json" "$MACHINE" "$ROUNDS" "$OUT" <<'PY'
import glob, json, math, os, statistics, sys

jdir, machine, rounds, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
peers = ["skiff", "wasmtime", "native", "docker"]
samples = {}
for p in peers:
    ts = []
    for f in sorted(glob.glob(os.path.join(jdir, f"{p}.*.json"))):
        with open(f) as fh:
            ts += json.load(fh)["results"][0]["times"]
    if not ts:
        sys.exit(f"no samples for {p}")
    samples[p] = sorted(t * 1000.0 for t in ts)  # ms

def p99(xs):  # nearest rank; equals max below 100 samples
    return xs[max(0, math.ceil(0.99 * len(xs)) - 1)]

med = {p: statistics.median(samples[p]) for p in peers}
s = med["skiff"]
cmp = {
    "skiff": "-",
    "wasmtime": f"skiff/wasmtime = {s / med['wasmtime']:.2f}x",
    "native": f"skiff - native = {s - med['native']:+.2f} ms",
    "docker": f"docker/skiff = {med['docker'] / s:.0f}x",
}
lines = [
    "# Cold start: hello world to completion",
    "",
    machine,
    "",
    f"{rounds} interleaved rounds (skiff, wasmtime, native, docker), hyperfine -N, warm-up 3 per round; "
    "skiff and wasmtime with a warm compile cache. p99 is nearest-rank (the max below 100 samples).",
    "",
    "| peer | samples | median ms | p99 ms | max ms | vs skiff |",
    "| --- | ---: | ---: | ---: | ---: | --- |",
]
for p in peers:
    xs = samples[p]
    lines.append(f"| {p} | {len(xs)} | {med[p]:.2f} | {p99(xs):.2f} | {xs[-1]:.2f} | {cmp[p]} |")
goals = [
    ("skiff >= 100x faster than docker", med["docker"] / s >= 100, f"{med['docker'] / s:.0f}x"),
    ("skiff no slower than wasmtime run", s <= med["wasmtime"],
     f"{s:.2f} ms vs {med['wasmtime']:.2f} ms"),
    ("skiff within 2 ms of native", s - med["native"] <= 2.0, f"{s - med['native']:+.2f} ms"),
]
lines += ["", "Goals (medians):", ""]
lines += [f"- {'PASS' if ok else 'FAIL'}: {name} ({detail})" for name, ok, detail in goals]
text = "\n".join(lines) + "\n"
with open(out, "w") as fh:
    fh.write(text)
# The machine line was printed when the run started: stdout gets the rest.
sys.stdout.write("\n" + "\n".join(lines[4:]) + "\n")
sys.exit(0 if all(ok for _, ok, _ in goals) else 3)
PY
rc=$?
set -e
log "table written to $OUT"
case $rc in
    0) exit 0 ;;
    3) [[ $STRICT == 1 ]] && exit 1; exit 0 ;;
    *) die "report failed (python exit $rc)" ;;
esac
