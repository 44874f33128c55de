#!/usr/bin/env bash
# Image benchmark: image size and pull-to-first-run time of a hello-world program packaged as a
# Skiff image (wasm32-wasip1) and as a Docker image (FROM scratch + the same program as a static
# x86_64 binary), both pushed to and pulled from the SAME local registry (Debian's docker-registry
# on a free loopback port, storage in a temp dir). Measured in one run on one machine, peers
# interleaved (A B C, A B C, ...):
#   skiff        `skiff run REG/bench/hello:1`, fresh empty SKIFF_ROOT each run: pull + compile + run
#   skiff-cache  the same with a fresh image store but the compile cache pre-warmed (a shared
#                cache/compiled directory): pull + load cached code + run
#   docker       `docker run --network none REG/bench/hello-native:1` after `docker rm` of the
#                last run's container, `docker rmi` and `docker image prune` (untimed, in hyperfine's
#                prepare step): pull + create + run; without `--rm`, so removing the container is
#                not in the time
#
# Env: SKIFF (binary), ROUNDS (5), RUNS (3 per round and peer), OUT (benches/results/images.md),
#      STRICT=1 to exit 1 when a goal is missed.
# Exit: 0 done, 1 error (or missed goal with STRICT=1), 2 a prerequisite binary is missing.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR
source "$HERE/lib.sh" # log, die, need, machine_info, build_program, start_dockerd, report, ...
SKIFF=${SKIFF:-$REPO/target/release/skiff}
ROUNDS=${ROUNDS:-5}
RUNS=${RUNS:-3}
OUT=${OUT:-$HERE/results/images.md}
STRICT=${STRICT:-0}
EXPECTED='Hello, world!'

# --- prerequisites that this script will not build itself -------------------------------------
if [[ ! -x $SKIFF ]] || ! "$SKIFF" build --help >/dev/null 2>&1; then
    missing_skiff "with \`skiff build\`"
fi
need hyperfine hyperfine
need dockerd docker.io
need docker docker.io
need docker-registry docker-registry
need curl curl
need python3 python3
machine_info

# --- temp dirs, dockerd, registry, and their cleanup -------------------------------------------
WORK=$(mktemp -d) # build outputs, skiff roots, prepare scripts, hyperfine JSON
R=$(mktemp -d)    # the registry's config, storage and log
on_exit_cleanup "$WORK" "$R"

# --- the hello program: wasm32-wasip1 and static native ---------------------------------------
build_program hello wasm32-wasip1 static

# --- the registry: loopback, free port, temp storage --------------------------------------------
start_registry "$R"

# --- Docker engine of our own (classic builder) ------------------------------------------------
# --bridge=none: the containers use --network none, so leave the host's network configuration
# alone. Registries on 127.0.0.0/8 are insecure-allowed by default; say so anyway so that a
# changed default cannot make the push go to HTTPS.
start_dockerd --bridge=none --insecure-registry "$REG"
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
log "docker build + push $DOCKER_IMAGE"
build_scratch_image "$DOCKER_IMAGE"
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
ids=\$('$DOCKER' ps -aq)
[ -z "\$ids" ] || '$DOCKER' rm -f \$ids >/dev/null 2>&1
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
    [docker]="$DOCKER run --network none $DOCKER_IMAGE"
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
plain_paths "hyperfine -N cannot run it" "$SKIFF" "$DOCKER" "$WORK"

# Remove every local trace of the pushed Docker image (the build left its layers in the engine).
"$WORK/prep-docker.sh" || die "could not remove the local Docker image after the push"

log "output check (and the shared compile cache's warm-up)"
for p in "${PEERS[@]}"; do
    "${PREP[$p]}" || die "$p: prepare step failed"
    SKIFF_ROOT=${ROOT[$p]} check_output "$p"
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
report "$WORK" "$MACHINE" "$ROUNDS" "$RUNS" "$OUT" "$SKIFF_IMAGE" "$DOCKER_IMAGE" <<'PY'
import glob, json, os, statistics, sys

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

med = {p: statistics.median(samples[p]) for p in peers}
d = med["docker"]
what = {
    "skiff": "fresh SKIFF_ROOT: pull + compile + run",
    "skiff-cache": "fresh store, warm compile cache: pull + run",
    "docker": "after `docker rm` of the last container, `docker rmi` + prune: pull + create + run (no `--rm`)",
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
finish(lines, out, goals)
PY
