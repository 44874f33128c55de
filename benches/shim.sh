#!/usr/bin/env bash
# containerd shim benchmark: containerd-shim-skiff-v1 against runc (containerd-shim-runc-v2), on the
# same containerd 1.7 in one run on one machine, images pulled from the same local registry:
#   start     the hello program from nothing to its exit, peers interleaved (skiff, runc, ...), timed
#             two ways:
#               ctr  `ctr run --rm`: a ctr process per run (image lookup, spec, snapshot, task,
#                    wait, delete), as an operator types it
#               api  containerd's API from one client that stays connected, as a node's kubelet
#                    (through the CRI plugin, inside containerd) starts containers:
#                    `start-to-exit` (benches/containerd-client) clones a container that
#                    `ctr container create` made, and times container create, snapshot prepare,
#                    task create, start and the wait for its exit; teardown is untimed
#             with the images:
#               skiff  a Skiff image (the hello program as an `application/wasm` layer),
#                      `--runtime io.containerd.skiff.v1`, the node's compile cache warm
#               runc   a FROM-scratch-style image holding the same program as a static x86_64
#                      binary, `--runtime io.containerd.runc.v2` (Debian's runc)
#             Skiff's node shim stays warm between containers (SHIM_IDLE_EXIT seconds here, 60 by
#             default): the runs after the first find it serving; runc's shim exits with its task.
#   memory    N = 1, 10, 100 idle tasks of each (programs/idle: sleeps forever; `ctr run -d`), then
#             the PSS (/proc/PID/smaps_rollup) of every shim process of our containerd and of their
#             descendants (runc's container processes; Skiff runs the app inside its shim), / N,
#             starting from no shim at all (a warm Skiff shim is waited out first, so its base
#             memory is counted):
#               per-task  plain `ctr run`: runc runs a shim process per task; Skiff runs all of
#                         them in the node's shim (its default, decision 0009)
#               grouped   `ctr run --annotation io.kubernetes.cri.sandbox-id=GROUP`: one shim for the
#                         N tasks, as containerd's CRI plugin groups a pod's containers (runc's shim
#                         groups by that annotation; Skiff's node shim holds them anyway)
#             The growth of containerd itself is reported beside it (it is the same for both).
#
# Memory is also reported per further task (the growth between the two largest N), which leaves
# the shim's base out.
# Env: SHIM (binary; built with `cargo build --release -p skiff-shim` unless set), START_TO_EXIT
#      (built with `cargo build --release -p skiff-bench-containerd` unless set), CONTAINERD_DIR
#      (target/containerd/usr/bin, from scripts/fetch-containerd.sh), ROUNDS (3), RUNS (20 per round
#      and peer), WARMUP (3 per round), NS ("1 10 100"), PAR (4: tasks started/removed at once),
#      SETTLE (3 s between "all running" and reading memory), SHIM_IDLE_EXIT (10: seconds a
#      Skiff node shim waits for the next container), OUT (benches/results/shim.md),
#      STRICT=1 to exit 1 when a goal is missed; RECORD_ORDER=FILE to measure nothing and write
#      the functions the shim runs (callgrind) to FILE instead: `RECORD_ORDER=crates/shim/startup.order`
#      regenerates the shim's link order (crates/cli/build.rs) for the binary in SHIM.
# Exit: 0 done, 1 error (or missed goal with STRICT=1), 2 a prerequisite binary is missing.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR
source "$HERE/lib.sh" # log, die, need, machine_info, build_program, wait_up, report, ...
TARGET=${CARGO_TARGET_DIR:-$REPO/target}
SHIM=${SHIM:-}
CONTAINERD_DIR=${CONTAINERD_DIR:-$TARGET/containerd/usr/bin}
ROUNDS=${ROUNDS:-3}
RUNS=${RUNS:-20}
WARMUP=${WARMUP:-3}
NS=${NS:-1 10 100}
PAR=${PAR:-4}
SETTLE=${SETTLE:-3}
export SHIM_IDLE_EXIT=${SHIM_IDLE_EXIT:-10}
OUT=${OUT:-$HERE/results/shim.md}
STRICT=${STRICT:-0}
[[ -z ${RECORD_ORDER:-} ]] || RECORD_ORDER=$(realpath -m "$RECORD_ORDER")
EXPECTED='Hello, world!'
SKIFF_RT=io.containerd.skiff.v1
RUNC_RT=io.containerd.runc.v2
NAMESPACE=bench

# --- prerequisites -----------------------------------------------------------------------------
[[ $(id -u) == 0 ]] || die "run as root (containerd mounts rootfs; /proc/PID/smaps_rollup of shims)"
need runc runc
need docker-registry docker-registry
need hyperfine hyperfine
need curl curl
need python3 python3
need xargs findutils
if [[ -z $SHIM ]]; then
    log "building the release shim (cargo build --release -p skiff-shim)"
    (cd "$REPO" && cargo build -q --release --locked -p skiff-shim)
    SHIM=$TARGET/release/containerd-shim-skiff-v1
fi
if [[ -z ${START_TO_EXIT:-} ]]; then
    log "building the API client (cargo build --release -p skiff-bench-containerd)"
    (cd "$REPO" && cargo build -q --release --locked -p skiff-bench-containerd)
    START_TO_EXIT=$TARGET/release/start-to-exit
fi
[[ -x $START_TO_EXIT ]] || die "start-to-exit not found at $START_TO_EXIT"
if [[ ! -x $SHIM ]]; then
    echo "containerd-shim-skiff-v1 not found at $SHIM; build it with:" >&2
    echo "  cargo build --release -p skiff-shim" >&2
    exit 2
fi
if [[ ! -x $CONTAINERD_DIR/containerd ]]; then
    echo "containerd 1.7 not found in $CONTAINERD_DIR; fetch it with:" >&2
    echo "  scripts/fetch-containerd.sh    # or set CONTAINERD_DIR" >&2
    exit 2
fi
CTR_BIN=$CONTAINERD_DIR/ctr
machine_info ram
COMMIT=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)
VERSIONS="containerd $("$CONTAINERD_DIR/containerd" --version | awk '{ print $3 }'), $(runc --version | head -n 1)"
log "$VERSIONS"

# --- temp dirs, registry, containerd, and their cleanup ----------------------------------------
WORK=$(mktemp -d) # images, containerd's root/state/socket, the shim's store, hyperfine JSON
R=$(mktemp -d)    # the registry's config, storage and log
plain_paths "hyperfine -N splits on spaces" "$WORK" "$CTR_BIN"
CTRD_PID=''
on_exit_cleanup "$WORK" "$R"
# Our tasks and containerd go before lib.sh's cleanup removes their dirs: no shim may outlive
# its containerd, and runc's rootfs mounts under WORK must be undone first.
stop_containerd() {
    local pid mnt
    if [[ -n $CTRD_PID ]] && kill -0 "$CTRD_PID" 2>/dev/null; then
        remove_tasks "$(ctr task ls -q 2>/dev/null || true)" || true
        stop_pid "$CTRD_PID"
    fi
    for pid in $(our_shim_pids); do kill -9 "$pid" 2>/dev/null || true; done
    while read -r mnt; do
        umount -l "$mnt" 2>/dev/null || true
    done < <(awk -v d="$WORK" 'index($2, d) == 1 { print $2 }' /proc/mounts | sort -r)
}
# set +e: under errexit, `(exit $rc)` of a failed run would end the trap before cleanup (the registry
# and the temp dirs were left behind)
trap 'rc=$?; set +e; stop_containerd; (exit $rc); cleanup' EXIT

# ctr ARGS...: ctr against our containerd, in our namespace
ctr() { "$CTR_BIN" --address "$WORK/c.sock" --namespace "$NAMESPACE" "$@"; }

# our_shim_pids: the shim processes of our containerd (their command line names its socket; with
# RECORD_ORDER, the serving shim runs as callgrind)
our_shim_pids() {
    local p comm
    for p in /proc/[0-9]*; do
        comm=$(cat "$p/comm" 2>/dev/null) || continue
        [[ $comm == containerd-shim* || $comm == callgrind* ]] || continue
        tr '\0' ' ' <"$p/cmdline" 2>/dev/null | grep -qF -- "$WORK/c.sock" && echo "${p#/proc/}"
    done
    return 0
}

# no_shims: wait until no shim of our containerd runs (a warm Skiff shim exits SHIM_IDLE_EXIT
# seconds after its last task)
no_shims() {
    local i
    for ((i = 0; i < (SHIM_IDLE_EXIT + 30) * 10; i++)); do
        [[ -z $(our_shim_pids) ]] && return 0
        sleep 0.1
    done
    die "a shim of our containerd is still running: $(our_shim_pids)"
}

# remove_tasks IDS: SIGKILL and delete each task and its container, PAR at a time
remove_tasks() {
    [[ -n $1 ]] || return 0
    # shellcheck disable=SC2016 # expanded by the inner shell
    tr ' ' '\n' <<<"$1" | xargs -r -P "$PAR" -I{} sh -c \
        '"$0" --address "$1" --namespace "$2" task rm -f {} >/dev/null 2>&1; "$0" --address "$1" --namespace "$2" container rm {} >/dev/null 2>&1' \
        "$CTR_BIN" "$WORK/c.sock" "$NAMESPACE"
}

start_registry "$R"

# The CRI plugin is off (ctr drives containerd directly); so are the snapshotters that do not
# work here.
cat >"$WORK/config.toml" <<EOF
version = 2
root = '$WORK/root'
state = '$WORK/state'
disabled_plugins = ['io.containerd.grpc.v1.cri', 'io.containerd.snapshotter.v1.btrfs',
  'io.containerd.snapshotter.v1.zfs', 'io.containerd.snapshotter.v1.devmapper',
  'io.containerd.snapshotter.v1.aufs', 'io.containerd.tracing.processor.v1.otlp',
  'io.containerd.internal.v1.tracing']
[grpc]
  address = '$WORK/c.sock'
[ttrpc]
  address = '$WORK/c.sock.ttrpc'
EOF
log "starting containerd ($WORK)"
SHIM_DIR=$(dirname "$SHIM")
if [[ -n ${RECORD_ORDER:-} ]]; then
    # containerd runs this in the shim's place: every `start`, and the serving shim it spawns,
    # under callgrind; the other actions as they are.
    need valgrind valgrind
    need nm binutils
    SHIM_DIR=$WORK/callgrind
    mkdir -p "$SHIM_DIR"
    cat >"$SHIM_DIR/containerd-shim-skiff-v1" <<SH
#!/usr/bin/env bash
if [[ \${*: -1} == start ]]; then
    exec valgrind --tool=callgrind -q --demangle=no --trace-children=yes \\
        --callgrind-out-file=$SHIM_DIR/cg.%p "$SHIM" "\$@"
fi
exec "$SHIM" "\$@"
SH
    chmod +x "$SHIM_DIR/containerd-shim-skiff-v1"
fi
PATH="$SHIM_DIR:$CONTAINERD_DIR:$PATH" SKIFF_SHIM_ROOT="$WORK/skiff" \
    SKIFF_SHIM_IDLE_EXIT="$SHIM_IDLE_EXIT" "$CONTAINERD_DIR/containerd" --config "$WORK/config.toml" >"$WORK/containerd.log" 2>&1 &
CTRD_PID=$!
wait_up containerd "$CTRD_PID" "$WORK/containerd.log" 300 ctr version

# --- the programs and their images -------------------------------------------------------------
build_program hello wasm32-wasip1 static
HELLO_WASM=$WASM HELLO_NATIVE=$NATIVE
build_program idle wasm32-wasip1 static
IDLE_WASM=$WASM IDLE_NATIVE=$NATIVE

# An OCI layout of one image: a Wasm layer (`application/wasm`, an OCI config with
# `architecture: wasm`, which `ctr run` accepts) or a tar layer holding one static binary.
cat >"$WORK/layout.py" <<'PY'
import hashlib, io, json, os, sys, tarfile

kind, src, out, tag = sys.argv[1:5]
blobs = os.path.join(out, "blobs", "sha256")
os.makedirs(blobs, exist_ok=True)

def put(data):
    digest = hashlib.sha256(data).hexdigest()
    with open(os.path.join(blobs, digest), "wb") as f:
        f.write(data)
    return {"digest": "sha256:" + digest, "size": len(data)}

data = open(src, "rb").read()
name = "/" + os.path.basename(src)
if kind == "wasm":
    layer = dict(put(data), mediaType="application/wasm")
    config = {"architecture": "wasm", "os": "wasip1", "config": {"Entrypoint": [name]},
              "rootfs": {"type": "layers", "diff_ids": []}}
else:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as t:
        info = tarfile.TarInfo(name[1:])
        info.size, info.mode, info.mtime = len(data), 0o755, 0
        t.addfile(info, io.BytesIO(data))
    tar = buf.getvalue()
    layer = dict(put(tar), mediaType="application/vnd.oci.image.layer.v1.tar")
    config = {"architecture": "amd64", "os": "linux", "config": {"Entrypoint": [name]},
              "rootfs": {"type": "layers", "diff_ids": [layer["digest"]]}}
cfg = dict(put(json.dumps(config).encode()), mediaType="application/vnd.oci.image.config.v1+json")
manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": cfg, "layers": [layer]}
m = dict(put(json.dumps(manifest).encode()), mediaType="application/vnd.oci.image.manifest.v1+json")
m["annotations"] = {"org.opencontainers.image.ref.name": tag}
json.dump({"schemaVersion": 2, "manifests": [m]}, open(os.path.join(out, "index.json"), "w"))
json.dump({"imageLayoutVersion": "1.0.0"}, open(os.path.join(out, "oci-layout"), "w"))
PY

# publish KIND FILE NAME: an image of FILE pushed to the registry as REG/bench/NAME:1, then pulled
# back into containerd from there, as a node gets it
publish() {
    local kind=$1 file=$2 name=$3 dir=$WORK/layout-$3
    python3 "$WORK/layout.py" "$kind" "$file" "$dir" 1
    tar -C "$dir" -cf "$dir.tar" .
    ctr image import --all-platforms --no-unpack --base-name "$REG/bench/$name" "$dir.tar" >/dev/null
    ctr image push --plain-http "$REG/bench/$name:1" >/dev/null
    ctr image rm --sync "$REG/bench/$name:1" >/dev/null
    ctr image pull --plain-http "$REG/bench/$name:1" >/dev/null
}
log "publishing the images to $REG and pulling them into containerd"
publish wasm "$HELLO_WASM" hello
publish native "$HELLO_NATIVE" hello-native
publish wasm "$IDLE_WASM" idle
publish native "$IDLE_NATIVE" idle-native

# --- RECORD_ORDER=FILE: the functions the shim runs, for the linker ----------------------------
# A container's life as a node sees it, twice: the first round fills the compile cache for
# valgrind's CPU (it reports fewer features than the host's, so the host's entries do not match),
# the second is recorded: `ctr run --rm` of hello, idle tasks started, killed and deleted, and
# clones through containerd's API, each round in a new serving shim that then idles out.
if [[ -n ${RECORD_ORDER:-} ]]; then
    life() {
        local id
        for id in "h1-$1" "h2-$1"; do
            ctr run --rm --runtime "$SKIFF_RT" "$REG/bench/hello:1" "$id" >/dev/null
        done
        for id in "i1-$1" "i2-$1"; do
            ctr run -d --runtime "$SKIFF_RT" "$REG/bench/idle:1" "$id" >/dev/null
        done
        sleep 2
        ctr task kill -s SIGKILL "i1-$1"
        ctr task kill -s SIGTERM "i2-$1"
        sleep 1
        remove_tasks "i1-$1 i2-$1"
        ctr container create --runtime "$SKIFF_RT" "$REG/bench/hello:1" "tpl-$1" >/dev/null
        mkdir -p "$WORK/fifos"
        "$START_TO_EXIT" --address "$WORK/c.sock" --namespace "$NAMESPACE" --template "tpl-$1" \
            --runs 3 --warmup 1 --expect "$EXPECTED" --fifo-dir "$WORK/fifos" >/dev/null
        ctr container rm "tpl-$1" >/dev/null
        no_shims # callgrind writes the serving shim's profile as it exits
    }
    log "recording the shim's functions: warm-up round"
    life warm
    rm -f "$SHIM_DIR"/cg.*
    log "recording the shim's functions"
    life recorded
    nm --defined-only "$SHIM" | awk '$2 ~ /^[tTwW]$/ { print $3 }' >"$WORK/defined"
    python3 - "$WORK/defined" "$RECORD_ORDER" "$SHIM_DIR"/cg.* <<'PY'
import os, re, sys
defined = set(open(sys.argv[1]).read().split())
# The starts first (the smaller profiles: every container pays one), then the serving shim.
names, seen = [], set()
for path in sorted(sys.argv[3:], key=os.path.getsize):
    for line in open(path):
        # `fn=(ID) NAME` and `cfn=(ID) NAME` name a function the first time its ID appears.
        m = re.match(r"^c?fn=\(\d+\) (\S+)", line)
        if m and m.group(1) in defined and m.group(1) not in seen:
            seen.add(m.group(1))
            names.append(m.group(1))
with open(sys.argv[2], "w") as f:
    f.write("\n".join(names) + "\n")
print(f"{sys.argv[2]}: {len(names)} functions from {len(sys.argv) - 3} profiles")
PY
    exit 0
fi

# --- start to exit -----------------------------------------------------------------------------
# skiff-new-shim: a new shim process for each run, as for the first container on a node: the warm
# shim is killed (and its socket removed) in hyperfine's untimed --prepare
cat >"$WORK/no-shim.sh" <<'SH'
#!/usr/bin/env bash
# no-shim.sh WORK: kills the Skiff shims of the containerd in WORK and removes their sockets
for p in /proc/[0-9]*; do
    cmd=$(tr '\0' ' ' 2>/dev/null <"$p/cmdline") || continue
    [[ $cmd == *containerd-shim-skiff-v1*"$1/c.sock"* ]] && kill -9 "${p#/proc/}"
done
for a in "$1"/skiff/shims/*/address; do [[ -f $a ]] && rm -f "$(sed 's|^unix://||' "$a")"; done
exit 0
SH
chmod +x "$WORK/no-shim.sh"
PEERS=(skiff skiff-new-shim runc)
declare -A CMD=(
    [skiff]="$CTR_BIN --address $WORK/c.sock --namespace $NAMESPACE run --rm --runtime $SKIFF_RT $REG/bench/hello:1 hello-skiff"
    [skiff-new-shim]="$CTR_BIN --address $WORK/c.sock --namespace $NAMESPACE run --rm --runtime $SKIFF_RT $REG/bench/hello:1 hello-skiff-new"
    [runc]="$CTR_BIN --address $WORK/c.sock --namespace $NAMESPACE run --rm --runtime $RUNC_RT $REG/bench/hello-native:1 hello-runc"
)
declare -A PREPARE=([skiff]=true [skiff-new-shim]="$WORK/no-shim.sh $WORK" [runc]=true)
log "warm-up (fills the shim's compile cache) and output check"
for p in "${PEERS[@]}"; do check_output "$p" warm; done

mkdir -p "$WORK/json"
for ((r = 1; r <= ROUNDS; r++)); do
    for p in "${PEERS[@]}"; do
        log "start: round $r/$ROUNDS: $p ($RUNS runs)"
        hyperfine -N --style none --warmup "$WARMUP" --runs "$RUNS" --prepare "${PREPARE[$p]}" \
            --export-json "$WORK/json/$p.$r.json" -n "$p" "${CMD[$p]}" >/dev/null
    done
done

# Through containerd's API: clones of a template container per peer, RUNS per round, interleaved
# as above; skiff-new-shim kills the shim before each run (untimed, as hyperfine's --prepare).
ctr container create --runtime "$SKIFF_RT" "$REG/bench/hello:1" tpl-skiff >/dev/null
ctr container create --runtime "$RUNC_RT" "$REG/bench/hello-native:1" tpl-runc >/dev/null
mkdir -p "$WORK/fifos" "$WORK/api"
api() { # api TEMPLATE RUNS WARMUP >>JSONL
    "$START_TO_EXIT" --address "$WORK/c.sock" --namespace "$NAMESPACE" --template "$1" \
        --runs "$2" --warmup "$3" --expect "$EXPECTED" --fifo-dir "$WORK/fifos"
}
for ((r = 1; r <= ROUNDS; r++)); do
    for p in "${PEERS[@]}"; do
        log "start through the API: round $r/$ROUNDS: $p ($RUNS runs)"
        case $p in
        skiff) api tpl-skiff "$RUNS" "$WARMUP" >>"$WORK/api/$p.jsonl" ;;
        runc) api tpl-runc "$RUNS" "$WARMUP" >>"$WORK/api/$p.jsonl" ;;
        skiff-new-shim)
            for ((i = 0; i < RUNS; i++)); do
                "$WORK/no-shim.sh" "$WORK"
                api tpl-skiff 1 0 >>"$WORK/api/$p.jsonl"
            done
            ;;
        esac
    done
done
ctr container rm tpl-skiff tpl-runc >/dev/null

# --- memory per running task -------------------------------------------------------------------
# One JSON line: PSS and RSS (kB) of our shims, of their descendants, and of containerd.
write_probe "$WORK/mem.py" <<'PY'
import json, sys

sock, ctrd = sys.argv[1], int(sys.argv[2])
shims, apps = shims_of(proc_table(), sock)
out = {}
for key, group in (("shim", shims), ("app", apps), ("containerd", {ctrd})):
    rs = [rollup(p) for p in group]
    out[key + "_pss"] = sum(r["pss"] for r in rs)
    out[key + "_rss"] = sum(r["rss"] for r in rs)
    out[key + "_n"] = len(group)
print(json.dumps(out))
PY
probe() { python3 "$WORK/mem.py" "$WORK/c.sock" "$CTRD_PID"; }

# running COUNT: wait (up to 10 min) until `ctr task ls` shows COUNT tasks RUNNING
running() {
    local i n
    for ((i = 0; i < 6000; i++)); do
        n=$(ctr task ls 2>/dev/null | grep -c ' RUNNING' || true)
        ((n == $1)) && return 0
        sleep 0.1
    done
    die "only $n of $1 tasks running"
}

# measure MODE PEER N: start N idle tasks of PEER (MODE per-task or grouped), read memory, remove them
measure() {
    local mode=$1 peer=$2 n=$3 image runtime ids='' i annotation=()
    if [[ $peer == skiff ]]; then image=$REG/bench/idle:1 runtime=$SKIFF_RT; else image=$REG/bench/idle-native:1 runtime=$RUNC_RT; fi
    [[ $mode == grouped ]] && annotation=(--annotation "io.kubernetes.cri.sandbox-id=group-$peer-$n")
    log "memory: $mode, $n $peer tasks"
    no_shims
    local before after
    before=$(probe)
    for ((i = 1; i <= n; i++)); do ids+="idle-$peer-$i "; done
    # shellcheck disable=SC2016 # expanded by the inner shell
    tr ' ' '\n' <<<"${ids% }" | xargs -r -P "$PAR" -I{} sh -c \
        'c=$0 a=$1 ns=$2; shift 2; "$c" --address "$a" --namespace "$ns" run -d "$@" {} >/dev/null' \
        "$CTR_BIN" "$WORK/c.sock" "$NAMESPACE" --runtime "$runtime" "${annotation[@]}" "$image" ||
        die "starting $n $peer tasks failed (see $WORK/containerd.log)"
    running "$n"
    sleep "$SETTLE"
    after=$(probe)
    printf '{"mode": "%s", "peer": "%s", "n": %d, "before": %s, "after": %s}\n' \
        "$mode" "$peer" "$n" "$before" "$after" >>"$WORK/mem.jsonl"
    remove_tasks "${ids% }"
    running 0
}

# The idle program compiled first, as the start benchmark's warm-up does for hello: a node
# compiles an image once (its compile cache is on disk), and a shim that compiled keeps the
# compiler's code pages mapped until it exits, which the first measurement would count.
log "memory: warming the compile cache with the idle program"
ctr run -d --runtime "$SKIFF_RT" "$REG/bench/idle:1" idle-warm >/dev/null
running 1
remove_tasks idle-warm
running 0

: >"$WORK/mem.jsonl"
for mode in per-task grouped; do
    for n in $NS; do
        for p in skiff runc; do measure "$mode" "$p" "$n"; done
    done
done

# --- report ------------------------------------------------------------------------------------
report "$WORK/json" "$WORK/api" "$WORK/mem.jsonl" "$MACHINE" "$ROUNDS" "$OUT" "$COMMIT" "$VERSIONS" <<'PY'
import glob, json, os, statistics, sys

jdir, apidir, memfile, machine, rounds, out, commit, versions = sys.argv[1:9]
rounds = int(rounds)

def pct(xs, q):  # xs sorted; nearest rank
    return xs[max(0, -(-len(xs) * q // 100) - 1)]

peers = ["skiff", "skiff-new-shim", "runc"]
samples = {}
for p in peers:
    ts = []
    for f in sorted(glob.glob(os.path.join(jdir, f"{p}.*.json"))):
        ts += json.load(open(f))["results"][0]["times"]
    if not ts:
        sys.exit(f"no samples for {p}")
    samples[p] = sorted(t * 1000.0 for t in ts)
med = {p: statistics.median(samples[p]) for p in peers}
speedup = med["runc"] / med["skiff"]
speedup_new = med["runc"] / med["skiff-new-shim"]

lines = [
    "# containerd shim: Skiff against runc",
    "",
    machine,
    "",
    f"Commit {commit}; {versions}; command `benches/shim.sh`.",
    "",
    "## Start to exit: `ctr run --rm` of the hello program",
    "",
    f"{rounds} interleaved rounds (skiff, skiff-new-shim, runc), hyperfine -N, warm-up 3 per "
    "round. skiff: the "
    "hello program as an `application/wasm` image, `--runtime io.containerd.skiff.v1`, compile "
    "cache warm; runc: the same program as a static binary in a one-layer image, "
    "`--runtime io.containerd.runc.v2`. Both include ctr's own work (container, snapshot, task, "
    "shim start, wait, delete). Skiff's node shim stays warm between runs (decision 0009; "
    f"SKIFF_SHIM_IDLE_EXIT={os.environ.get('SHIM_IDLE_EXIT', '10')} s here, 60 s by default): "
    "each run after the first is created in the serving shim, its app already loaded. "
    "skiff-new-shim: the same, with the shim killed before each run (hyperfine's untimed "
    "`--prepare`), so that each run starts a new shim, as the first container on a node does "
    "(its code from the compile cache). runc starts a shim and a container process per run.",
    "",
    "| peer | samples | median ms | p90 ms | p99 ms | max ms |",
    "| --- | ---: | ---: | ---: | ---: | ---: |",
]
for p in peers:
    xs = samples[p]
    lines.append(f"| {p} | {len(xs)} | {med[p]:.1f} | {pct(xs, 90):.1f} | {pct(xs, 99):.1f} | {xs[-1]:.1f} |")
lines += ["", f"runc / skiff (medians): {speedup:.2f}x with the warm node shim, {speedup_new:.2f}x with a new shim", ""]

api = {}
for p in peers:
    rows = [json.loads(l) for l in open(os.path.join(apidir, f"{p}.jsonl"))]
    if not rows:
        sys.exit(f"no API samples for {p}")
    api[p] = rows
amed = {p: statistics.median(r["total_ms"] for r in api[p]) for p in peers}
api_speedup = amed["runc"] / amed["skiff"]
api_speedup_new = amed["runc"] / amed["skiff-new-shim"]
lines += [
    "## Start to exit through containerd's API, from one client",
    "",
    f"The same images, peers and {rounds} interleaved rounds, timed by `start-to-exit` "
    "(benches/containerd-client), one client process per round and peer that stays connected to "
    "containerd, as a node's kubelet (through the CRI plugin) does: no ctr process start and no "
    "image lookup on either side. Each run clones a container that `ctr container create` made "
    "for the peer (the same OCI spec `ctr run` gives) and times container create + snapshot "
    "prepare + task create (stdout on a fifo, as ctr gives it) + task start + the wait for the "
    "exit; the output is checked and the task, container and snapshot are removed untimed. "
    "skiff-new-shim kills the shim before each run (untimed).",
    "",
    "| peer | samples | median ms | p90 ms | p99 ms | task create ms (median) | start to exit ms (median) | teardown ms (median, untimed) |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
]
for p in peers:
    xs = sorted(r["total_ms"] for r in api[p])
    tc = statistics.median(r["task_create_ms"] for r in api[p])
    se = statistics.median(r["start_to_exit_ms"] for r in api[p])
    td = statistics.median(r["teardown_ms"] for r in api[p])
    lines.append(f"| {p} | {len(xs)} | {amed[p]:.1f} | {pct(xs, 90):.1f} | {pct(xs, 99):.1f} | {tc:.1f} | {se:.1f} | {td:.1f} |")
lines += ["", f"runc / skiff (medians): {api_speedup:.2f}x with the warm node shim, {api_speedup_new:.2f}x with a new shim", ""]

rows = [json.loads(l) for l in open(memfile)]
lines += [
    "## Memory per running task",
    "",
    "N idle tasks (`programs/idle`, sleeps forever) started with `ctr run -d`, Skiff's compile "
    "cache warm (one idle task run first); PSS from "
    "/proc/PID/smaps_rollup after the N are running (plus a settle), minus before (when no shim "
    "of this containerd runs: a Skiff shim's base memory is counted), / N. "
    "`shim` = every containerd-shim process of this containerd, `app` = their descendants (runc's "
    "container processes; a Skiff app runs inside its shim). per-task: plain `ctr run`: runc runs "
    "a shim per task, Skiff the node's one shim (its default); grouped: `--annotation "
    "io.kubernetes.cri.sandbox-id=GROUP`, one shim for all N for both (as the CRI plugin groups a "
    "pod's containers). containerd's own growth is the same for both and not counted in the "
    "per-task figure.",
    "",
    "| mode | peer | N | shims | shim PSS MiB | app PSS MiB | per task KiB (shim + app) | containerd growth / N KiB |",
    "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
]
per = {}
for r in rows:
    b, a, n = r["before"], r["after"], r["n"]
    shim = a["shim_pss"] - b["shim_pss"]
    app = a["app_pss"] - b["app_pss"]
    per[(r["mode"], r["peer"], n)] = (shim + app) / n
    ctrd = (a["containerd_pss"] - b["containerd_pss"]) / n
    lines.append(f"| {r['mode']} | {r['peer']} | {n} | {a['shim_n']} | {shim / 1024:.1f} | "
                 f"{app / 1024:.1f} | {(shim + app) / n:.0f} | {ctrd:.0f} |")
lines.append("")
# What one more task costs, without the shim's base: the growth between the two largest N.
further = []
for mode in ("per-task", "grouped"):
    ns = sorted({n for (m, _, n) in per if m == mode})
    if len(ns) < 2:
        continue
    lo, hi = ns[-2], ns[-1]
    cost = {p: (per[(mode, p, hi)] * hi - per[(mode, p, lo)] * lo) / (hi - lo) for p in ("skiff", "runc")}
    further.append(f"| {mode} | {lo} -> {hi} | {cost['skiff']:.0f} | {cost['runc']:.0f} | "
                   f"{cost['skiff'] / cost['runc']:.2f} |")
if further:
    lines += ["Each further task (shim + app growth between the two largest N, / the tasks added; "
              "the shim's base memory drops out):", "",
              "| mode | N | skiff KiB | runc KiB | skiff / runc |", "| --- | --- | ---: | ---: | ---: |"]
    lines += further + [""]
goals = [("skiff starts >= 10x faster than runc, through containerd's API (warm node shim)", api_speedup >= 10, f"{api_speedup:.2f}x"),
         ("skiff starts >= 10x faster than runc, through containerd's API (new shim)", api_speedup_new >= 10, f"{api_speedup_new:.2f}x"),
         ("skiff starts >= 10x faster than runc, `ctr run --rm` (warm node shim)", speedup >= 10, f"{speedup:.2f}x"),
         ("skiff starts >= 10x faster than runc, `ctr run --rm` (new shim)", speedup_new >= 10, f"{speedup_new:.2f}x")]
for mode in ("per-task", "grouped"):
    ns = sorted({n for (m, _, n) in per if m == mode})
    if not ns:
        continue
    n = ns[-1]
    s, rc = per[(mode, "skiff", n)], per[(mode, "runc", n)]
    goals.append((f"skiff <= 1/10 of runc's memory per task ({mode}, N={n})", s * 10 <= rc,
                  f"skiff {s:.0f} KiB vs runc {rc:.0f} KiB: {s / rc:.2f} of runc's"))
finish(lines, out, goals)
PY
