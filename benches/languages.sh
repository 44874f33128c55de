#!/usr/bin/env bash
# Languages benchmark: every `skiff new` template, built with its real toolchain and measured the
# way a user meets it, in one run on one machine:
#   build      wall time of `skiff build` (toolchain + packaging; one run, caches of the toolchain warm)
#   image      the image's size as `skiff images` reports it
#   first run  `skiff run` (or the first request of `skiff serve`) with an empty compile cache: the
#              one-off compile of the Wasm to native code
#   cold start `skiff run IMAGE` to exit, compile cache warm (median and p99 of RUNS, hyperfine -N);
#              for an HTTP template, a request answered by a fresh instance (`curl` of `skiff serve`;
#              every request gets a new instance), same statistics
#
# Env: SKIFF (binary), RUNS (20 per template), SKIFF_TOOLCHAINS (scripts/install-toolchains.sh's
#      directory, default ~/.cache/skiff-toolchains), OUT (benches/results/languages.md).
# Exit: 0 done, 1 error, 2 a prerequisite binary is missing.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR
source "$HERE/lib.sh" # log, die, need, machine_info, free_port, wait_up, on_exit_cleanup, ...
SKIFF=${SKIFF:-$REPO/target/release/skiff}
RUNS=${RUNS:-20}
OUT=${OUT:-$HERE/results/languages.md}
TOOLCHAINS=${SKIFF_TOOLCHAINS:-$HOME/.cache/skiff-toolchains}

[[ -x $SKIFF ]] || missing_skiff
need hyperfine hyperfine
need curl curl
need python3 python3
[[ -x $TOOLCHAINS/bin/componentize-js ]] ||
    { echo "guest toolchains missing in $TOOLCHAINS; install them with: scripts/install-toolchains.sh" >&2; exit 2; }
export PATH="$TOOLCHAINS/bin:$PATH"
machine_info

WORK=$(mktemp -d)
SKIFF_ROOT=$(mktemp -d)
export SKIFF_ROOT
on_exit_cleanup "$WORK" "$SKIFF_ROOT"
plain_paths "hyperfine -N splits commands on spaces" "$SKIFF" "$WORK"
unset CARGO_TARGET_DIR

# TEMPLATES: LANG:FORM:GREETING
TEMPLATES=(
    "rust:command:Hello from Rust!" "rust:http:Hello from Rust!"
    "c:command:Hello from C!" "go:command:Hello from Go!" "zig:command:Hello from Zig!"
    "python:command:Hello from Python!" "python:http:Hello from Python!"
    "js:command:Hello from JavaScript!" "js:http:Hello from JavaScript!"
)
ROWS=$WORK/rows.tsv
: >"$ROWS"

# seconds COMMAND...: run COMMAND (its output to $WORK/last.log) and print its wall time in seconds
seconds() {
    local start end
    start=$(date +%s.%N)
    "$@" >"$WORK/last.log" 2>&1 || { cat "$WORK/last.log" >&2; die "'$*' failed"; }
    end=$(date +%s.%N)
    python3 -c "print(f'{$end - $start:.1f}')"
}

for spec in "${TEMPLATES[@]}"; do
    IFS=: read -r lang form greeting <<<"$spec"
    name=$lang-$form
    project=$WORK/$name
    flags=(--lang "$lang")
    [[ $form == http ]] && flags+=(--http)
    log "$name: skiff new, skiff build"
    "$SKIFF" new "$project" "${flags[@]}" 2>/dev/null
    build_s=$(seconds "$SKIFF" build -t "$name:bench" "$project")
    size=$("$SKIFF" images --format json |
        python3 -c "import json, sys; print(next(i['size'] for i in json.load(sys.stdin) if i['repository'] == '$name'))")
    if [[ $form == command ]]; then
        first_s=$(seconds "$SKIFF" run "$name:bench")
        out=$("$SKIFF" run "$name:bench")
        [[ $out == "$greeting" ]] || die "$name printed '$out', expected '$greeting'"
        log "$name: $RUNS warm runs"
        hyperfine -N --warmup 2 --runs "$RUNS" --export-json "$WORK/$name.json" \
            "$SKIFF run $name:bench" >/dev/null 2>&1
    else
        port=$(free_port)
        start=$(date +%s.%N)
        "$SKIFF" serve --listen "127.0.0.1:$port" "$name:bench" >"$WORK/$name.serve.log" 2>&1 &
        SERVER_PID=$!
        wait_up "skiff serve $name" "$SERVER_PID" "$WORK/$name.serve.log" 3000 \
            curl -sf "http://127.0.0.1:$port/"
        first_s=$(python3 -c "print(f'{$(date +%s.%N) - $start:.1f}')")
        out=$(curl -sf "http://127.0.0.1:$port/")
        [[ $out == "$greeting" ]] || die "$name answered '$out', expected '$greeting'"
        log "$name: $RUNS requests, each on a fresh instance"
        hyperfine -N --warmup 2 --runs "$RUNS" --export-json "$WORK/$name.json" \
            "curl -sf http://127.0.0.1:$port/" >/dev/null 2>&1
        stop_pid "$SERVER_PID"
        SERVER_PID=''
    fi
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$lang" "$form" "$build_s" "$size" "$first_s" "$WORK/$name.json" >>"$ROWS"
done

mkdir -p "$(dirname "$OUT")"
python3 - "$ROWS" "$MACHINE" "$RUNS" "$(git -C "$REPO" rev-parse --short HEAD)" >"$OUT" <<'PY'
import json, statistics, sys

rows, machine, runs, commit = sys.argv[1:5]
print(f"Languages: `skiff new` templates, `{runs}` warm runs each (commit {commit}).")
print(f"{machine}")
print()
print("| template | build (s) | image | first run, compiling (s) | cold start median (ms) | p99 (ms) |")
print("| --- | ---: | ---: | ---: | ---: | ---: |")
for line in open(rows):
    lang, form, build, size, first, path = line.rstrip("\n").split("\t")
    times = sorted(json.load(open(path))["results"][0]["times"])
    median = statistics.median(times) * 1000
    p99 = times[min(len(times) - 1, round(0.99 * (len(times) - 1)))] * 1000
    size = int(size)
    shown = f"{size / 1024:.0f} KiB" if size < 1024 * 1024 else f"{size / 1048576:.1f} MiB"
    print(f"| {lang} {form} | {build} | {shown} | {first} | {median:.1f} | {p99:.1f} |")
print()
print("Cold start: `skiff run IMAGE` to exit with the compile cache warm; for `http`, one request")
print("through `skiff serve` (a fresh instance per request) timed from `curl`.")
PY
cat "$OUT"
log "table written to $OUT"
