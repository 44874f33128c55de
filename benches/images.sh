#!/usr/bin/env bash
# Image benchmark: image size and pull-to-first-run time of a hello-world program packaged as a
# Skiff image (wasm32-wasip1) and as a Docker image (FROM scratch + the same program as a static
# x86_64 binary), both pushed to and pulled from the SAME local registry (Debian's docker-registry
# on a free loopback port, storage in a temp dir). Measured in one run on one machine, peers
# interleaved (A B C, A B C, ...):
#   skiff        `skiff run REG/bench/hello:1`, fresh empty SKIFF_ROOT each run: pull + compile + run
#   skiff-cache  the same with a fresh image store but the compile cache pre-warmed (a shared
#                cache/compiled directory): pull + load cached code + run
#   docker       `docker run --rm --network none REG/bench/hello-native:1` after `docker rmi` +
#                `docker image prune`: pull + create + run
#
# Env: SKIFF (binary), ROUNDS (5), RUNS (3 per round and peer), OUT (benches/results/images.md),
#      STRICT=1 to exit 1 when a goal is missed.
# Exit: 0 done, 1 error (or missed goal with STRICT=1), 2 a prerequisite binary is missing.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$HERE")
SKIFF=${SKIFF:-$REPO/target/release/skiff}
ROUNDS=${ROUNDS:-5}
RUNS=${RUNS:-3}
OUT=${OUT:-$HERE/results/images.md}
STRICT=${STRICT:-0}
EXPECTED='Hello, world!'

log() { printf '[images] %s\n' "$*" >&2; }
die() { printf '[images] ERROR: %s\n' "$*" >&2; exit 1; }

# --- prerequisites that this script will not build itself -------------------------------------
if [[ ! -x $SKIFF ]]; then
    echo "skiff binary not found at $SKIFF; build it with:" >&2
    echo "  cargo build --release -p skiff-cli" >&2
    exit 2
fi
if ! "$SKIFF" build --help >/dev/null 2>&1; then
    echo "$SKIFF has no 'build' command (an old binary?); rebuild it with:" >&2
    echo "  cargo build --release -p skiff-cli" >&2
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
need docker-registry docker-registry
need curl curl
need python3 python3
command -v cargo >/dev/null 2>&1 || die "cargo not found (install Rust with rustup)"

CPU=$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo)
MACHINE="Machine: nproc=$(nproc), CPU: ${CPU:-unknown}, kernel $(uname -r), $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "$MACHINE"

# --- temp dirs, dockerd, registry, and their cleanup -------------------------------------------
WORK=$(mktemp -d) # build outputs, skiff roots, prepare scripts, hyperfine JSON
D=$(mktemp -d)    # dockerd's data-root, exec-root, socket and log
R=$(mktemp -d)    # the registry's config, storage and log
DOCKERD_PID=
REGISTRY_PID=

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
    [[ -n $REGISTRY_PID ]] && stop_pid "$REGISTRY_PID"
    # Anything dockerd left mounted under its dirs must be unmounted before removal (deepest first).
    while read -r mnt; do
        umount -l "$mnt" 2>/dev/null || true
    done < <(awk -v d="$D" 'index($2, d) == 1 { print $2 }' /proc/mounts | sort -r)
    rm -rf "$WORK" "$D" "$R" || true
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

# --- the registry: loopback, free port, temp storage --------------------------------------------
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
REG=127.0.0.1:$PORT
cat >"$R/config.yml" <<EOF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $R/storage
  delete:
    enabled: true
http:
  addr: $REG
EOF
log "starting docker-registry on $REG"
docker-registry serve "$R/config.yml" >"$R/log" 2>&1 &
REGISTRY_PID=$!
for ((i = 0; ; i++)); do
    [[ $(curl -s -o /dev/null -w '%{http_code}' "http://$REG/v2/") == 200 ]] && break
    if ! kill -0 "$REGISTRY_PID" 2>/dev/null || ((i >= 300)); then
        tail -n 30 "$R/log" >&2 || true
        die "docker-registry did not come up on $REG"
    fi
    sleep 0.1
done

# --- Docker engine of our own (classic builder) ------------------------------------------------
log "starting dockerd in $D"
# --bridge=none / --iptables=false: the containers use --network none, so leave the host's
# network configuration alone. Registries on 127.0.0.0/8 are insecure-allowed by default; say so
# anyway so that a changed default cannot make the push go to HTTPS.
dockerd --data-root "$D/root" --exec-root "$D/exec" --pidfile "$D/pid" \
    -H "unix://$D/docker.sock" --bridge=none --iptables=false \
    --insecure-registry "$REG" >"$D/log" 2>&1 &
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
DOCKER=$(command -v docker)

# --- the Skiff image: skiff.toml -> skiff build -> skiff push -----------------------------------
SKIFF_IMAGE=$REG/bench/hello:1
DOCKER_IMAGE=$REG/bench/hello-native:1
mkdir -p "$WORK/app"
cp "$WASM" "$WORK/app/hello.wasm"
cat >"$WORK/app/skiff.toml" <<'EOF'
manifest_version = 1

[app]
name = "hello"
version = "1"

[build]
wasm = "hello.wasm"
EOF
BUILD_ROOT=$WORK/build-root
log "skiff build + push $SKIFF_IMAGE"
SKIFF_ROOT=$BUILD_ROOT "$SKIFF" build -t "$SKIFF_IMAGE" "$WORK/app" >/dev/null 2>"$WORK/skiff-build.log" ||
    { cat "$WORK/skiff-build.log" >&2; die "skiff build failed"; }
SKIFF_ROOT=$BUILD_ROOT "$SKIFF" push "$SKIFF_IMAGE" >/dev/null 2>"$WORK/skiff-push.log" ||
    { cat "$WORK/skiff-push.log" >&2; die "skiff push failed"; }
SKIFF_ROOT=$BUILD_ROOT "$SKIFF" inspect --format json "$SKIFF_IMAGE" >"$WORK/skiff-inspect.json" ||
    die "skiff inspect failed"

# --- the Docker image: FROM scratch + static binary -> docker build -> docker push -------------
mkdir -p "$WORK/image"
cp "$NATIVE" "$WORK/image/hello"
cat >"$WORK/image/Dockerfile" <<'EOF'
FROM scratch
COPY hello /hello
ENTRYPOINT ["/hello"]
EOF
log "docker build + push $DOCKER_IMAGE"
docker build -q -t "$DOCKER_IMAGE" "$WORK/image" >"$WORK/docker-build.log" 2>&1 ||
    { cat "$WORK/docker-build.log" >&2; die "docker build of the scratch image failed"; }
docker image inspect --format '{{.Size}}' "$DOCKER_IMAGE" >"$WORK/docker-image-size"
docker push "$DOCKER_IMAGE" >"$WORK/docker-push.log" 2>&1 ||
    { cat "$WORK/docker-push.log" >&2; die "docker push failed"; }

# --- sizes as stored in the registry (manifest + config + layers, the bytes a pull moves) ------
registry_manifest() { # registry_manifest REPO ACCEPT OUTFILE
    curl -sf -H "Accept: $2" -o "$3" "http://$REG/v2/$1/manifests/1" ||
        die "could not fetch the manifest of $1 from $REG"
}
registry_manifest bench/hello 'application/vnd.oci.image.manifest.v1+json' "$WORK/skiff-manifest.json"
registry_manifest bench/hello-native 'application/vnd.docker.distribution.manifest.v2+json' \
    "$WORK/docker-manifest.json"

# --- the peers' prepare steps and commands -------------------------------------------------------
# Each timed run starts from nothing local: an empty Skiff root (store and compile cache), or a
# Docker engine without the image. hyperfine -N runs the prepare scripts without a shell.
SKIFF_FRESH=$WORK/skiff-fresh   # SKIFF_ROOT for the "skiff" peer
SKIFF_CACHED=$WORK/skiff-cached # SKIFF_ROOT for the "skiff-cache" peer
SHARED_CACHE=$WORK/shared-compiled
mkdir -p "$SHARED_CACHE"
cat >"$WORK/prep-skiff.sh" <<EOF
#!/bin/sh
rm -rf '$SKIFF_FRESH' && mkdir -p '$SKIFF_FRESH'
EOF
cat >"$WORK/prep-skiff-cache.sh" <<EOF
#!/bin/sh
# A fresh store, but cache/compiled is the shared, warm compile cache.
rm -rf '$SKIFF_CACHED' && mkdir -p '$SKIFF_CACHED/cache' && ln -s '$SHARED_CACHE' '$SKIFF_CACHED/cache/compiled'
EOF
cat >"$WORK/prep-docker.sh" <<EOF
#!/bin/sh
'$DOCKER' rmi -f '$DOCKER_IMAGE' >/dev/null 2>&1
'$DOCKER' image prune -f >/dev/null 2>&1
if '$DOCKER' image inspect '$DOCKER_IMAGE' >/dev/null 2>&1; then
    echo "prep-docker: $DOCKER_IMAGE is still present" >&2
    exit 1
fi
exit 0
EOF
chmod +x "$WORK"/prep-*.sh

PEERS=(skiff skiff-cache docker)
declare -A CMD=(
    [skiff]="$SKIFF run $SKIFF_IMAGE"
    [skiff-cache]="$SKIFF run $SKIFF_IMAGE"
    [docker]="$DOCKER run --rm --network none $DOCKER_IMAGE"
)
declare -A PREP=(
    [skiff]="$WORK/prep-skiff.sh"
    [skiff-cache]="$WORK/prep-skiff-cache.sh"
    [docker]="$WORK/prep-docker.sh"
)
declare -A ROOT=(
    [skiff]="$SKIFF_FRESH"
    [skiff-cache]="$SKIFF_CACHED"
    [docker]="$SKIFF_FRESH"
)
for path in "$SKIFF" "$DOCKER" "$WORK"; do
    [[ $path != *[[:space:]\'\"]* ]] || die "path with a space or quote (hyperfine -N cannot run it): $path"
done

# Remove every local trace of the pushed Docker image (the build left its layers in the engine).
"$WORK/prep-docker.sh" || die "could not remove the local Docker image after the push"

log "output check (and the shared compile cache's warm-up)"
for p in "${PEERS[@]}"; do
    "${PREP[$p]}" || die "$p: prepare step failed"
    read -r -a argv <<<"${CMD[$p]}"
    if ! out=$(SKIFF_ROOT=${ROOT[$p]} "${argv[@]}" 2>"$WORK/$p.err"); then
        cat "$WORK/$p.err" >&2
        die "$p: '${CMD[$p]}' failed"
    fi
    if [[ $out != "$EXPECTED" ]]; then
        cat "$WORK/$p.err" >&2
        die "$p: '${CMD[$p]}' printed '$out', expected '$EXPECTED'"
    fi
done
[[ -n $(find "$SHARED_CACHE" -name '*.cwasm' -print -quit) ]] ||
    die "the shared compile cache is still empty after a run: is it still at SKIFF_ROOT/cache/compiled?"

# --- measurement: ROUNDS rounds, each running every peer -------------------------------------
mkdir -p "$WORK/json"
for ((r = 1; r <= ROUNDS; r++)); do
    for p in "${PEERS[@]}"; do
        log "round $r/$ROUNDS: $p ($RUNS runs)"
        SKIFF_ROOT=${ROOT[$p]} hyperfine -N --style none --runs "$RUNS" --prepare "${PREP[$p]}" \
            --export-json "$WORK/json/$p.$r.json" -n "$p" "${CMD[$p]}" >/dev/null
    done
done
# The last skiff-cache run must not have compiled: its store is fresh but the cache held the code.
[[ $(find "$SHARED_CACHE" -name '*.cwasm' | wc -l) == 1 ]] ||
    log "warning: the shared compile cache holds more than one entry"

# --- report ------------------------------------------------------------------------------------
mkdir -p "$(dirname "$OUT")"
set +e
python3 - "$WORK" "$MACHINE" "$ROUNDS" "$RUNS" "$OUT" "$SKIFF_IMAGE" "$DOCKER_IMAGE" <<'PY'
import glob, json, math, os, statistics, sys

work, machine, rounds, runs, out, skiff_image, docker_image = sys.argv[1:8]
rounds, runs = int(rounds), int(runs)

# Sizes. Skiff: `skiff inspect` size (manifest + config + layers), the wasm layer alone.
inspect = json.load(open(os.path.join(work, "skiff-inspect.json")))
skiff_size = int(inspect["size"])
wasm_layers = [l for l in inspect["manifest"]["layers"] if "wasm" in l["mediaType"]]
wasm_size = sum(int(l["size"]) for l in wasm_layers)

def registry_size(path):  # manifest bytes + config + layers, as the registry serves them
    raw = open(path, "rb").read()
    m = json.loads(raw)
    return len(raw) + int(m["config"]["size"]) + sum(int(l["size"]) for l in m["layers"]), m

skiff_reg, _ = registry_size(os.path.join(work, "skiff-manifest.json"))
docker_reg, dm = registry_size(os.path.join(work, "docker-manifest.json"))
docker_layers = sum(int(l["size"]) for l in dm["layers"])
docker_unpacked = int(open(os.path.join(work, "docker-image-size")).read().strip())

# Times.
peers = ["skiff", "skiff-cache", "docker"]
samples = {}
for p in peers:
    ts = []
    for f in sorted(glob.glob(os.path.join(work, "json", f"{p}.*.json"))):
        ts += json.load(open(f))["results"][0]["times"]
    if not ts:
        sys.exit(f"no samples for {p}")
    samples[p] = sorted(t * 1000.0 for t in ts)  # ms

def p99(xs):  # nearest rank; equals max below 100 samples
    return xs[max(0, math.ceil(0.99 * len(xs)) - 1)]

med = {p: statistics.median(samples[p]) for p in peers}
d = med["docker"]
what = {
    "skiff": "fresh SKIFF_ROOT: pull + compile + run",
    "skiff-cache": "fresh store, warm compile cache: pull + run",
    "docker": "after `docker rmi` + prune: pull + create + run",
}

lines = [
    "# Images: size and pull-to-first-run",
    "",
    machine,
    "",
    f"Hello world (`benches/programs/hello`, release) as a Skiff image `{skiff_image}` "
    f"(wasm32-wasip1) and as a Docker image `{docker_image}` (`FROM scratch` + static x86_64 "
    "binary, classic builder), both pushed to the same local `docker-registry` on loopback.",
    "",
    "## Size",
    "",
    "| image | bytes | what |",
    "| --- | ---: | --- |",
    f"| skiff | {skiff_size} | `skiff inspect` size: manifest + config + layers |",
    f"| skiff, in the registry | {skiff_reg} | manifest + config + layers as served |",
    f"| skiff, wasm layer alone | {wasm_size} | |",
    f"| docker, in the registry | {docker_reg} | manifest + config + layers (gzip) as served |",
    f"| docker, layers alone | {docker_layers} | |",
    f"| docker, unpacked | {docker_unpacked} | `docker image inspect --format '{{{{.Size}}}}'` |",
    "",
    f"Skiff / Docker (registry bytes): {skiff_reg / docker_reg:.3f} "
    f"(Docker is {docker_reg / skiff_reg:.1f}x larger).",
    "",
    "## Pull to first run",
    "",
    f"{rounds} interleaved rounds (skiff, skiff-cache, docker) of {runs} runs each, hyperfine -N with "
    "a prepare step before every run that removes the local image; the registry is on loopback, so "
    "network transfer is nearly free. p99 is nearest-rank (the max below 100 samples).",
    "",
    "| peer | what is timed | samples | median ms | p99 ms | max ms | docker / peer |",
    "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
]
for p in peers:
    xs = samples[p]
    lines.append(
        f"| {p} | {what[p]} | {len(xs)} | {med[p]:.1f} | {p99(xs):.1f} | {xs[-1]:.1f} "
        f"| {d / med[p]:.1f}x |"
    )
size_ratio = skiff_reg / docker_reg
goals = [
    ("Skiff image at most 1/10 of Docker's bytes (registry bytes)", size_ratio <= 0.1,
     f"{skiff_reg} / {docker_reg} = 1/{docker_reg / skiff_reg:.1f}"),
    ("pull-to-ready at most 1/3 of Docker's (fresh SKIFF_ROOT, compile included)",
     med["skiff"] <= d / 3, f"{med['skiff']:.1f} ms vs {d:.1f} ms = 1/{d / med['skiff']:.1f}"),
    ("pull-to-ready at most 1/3 of Docker's (warm compile cache)",
     med["skiff-cache"] <= d / 3,
     f"{med['skiff-cache']:.1f} ms vs {d:.1f} ms = 1/{d / med['skiff-cache']:.1f}"),
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
