#!/usr/bin/env bash
# Regenerates crates/cli/startup.order: the functions a release `skiff` runs to start and to run a
# cached program, which the linker then places side by side at the front of `.text`
# (`--symbol-ordering-file`, crates/cli/build.rs). Spread over the binary's 38 MiB of code, those
# few hundred KiB of functions cost ~170 page faults at every start; packed, ~15.
#
# Which functions run is read with valgrind's callgrind (every function called, however short,
# which sampling would miss) over the starts that matter: `skiff run` of a cached WASI preview 1
# module and of a WASI 0.2 command component, and `skiff --version`. The file is only a layout
# hint: a name that no longer exists (code changed since) is skipped, and a function missing from
# it only costs a fault. About a tenth of the names are ThinLTO's promoted locals (`NAME.llvm.N`,
# N a hash of their codegen unit): any change to code in that unit renames them, so the file goes
# stale as the code changes (seen: 212 faults at a fresh file, 244 two commits later). Rerun it on
# the code that is measured, before a benchmark, and when a cold-start profile shows `.text`
# faults growing back.
#
# Env: SKIFF (the release binary to profile; default target/release/skiff).
# Needs: valgrind, python3, the wasm32-wasip1 and wasm32-wasip2 targets.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SKIFF=${SKIFF:-$REPO/target/release/skiff}
OUT=$REPO/crates/cli/startup.order
[[ -x $SKIFF ]] || { echo "no release skiff at $SKIFF: cargo build --release -p skiff-cli" >&2; exit 2; }
for tool in valgrind python3 nm; do
    command -v "$tool" >/dev/null || { echo "$tool not found (apt-get install valgrind python3 binutils)" >&2; exit 2; }
done

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
HELLO=$REPO/benches/programs/hello
for target in wasm32-wasip1 wasm32-wasip2; do
    cargo build -q --release --manifest-path "$HELLO/Cargo.toml" --target "$target"
done
export SKIFF_ROOT=$WORK/root
runs=(
    "run $HELLO/target/wasm32-wasip1/release/hello.wasm"
    "run $HELLO/target/wasm32-wasip2/release/hello.wasm"
    "--version"
)
for i in "${!runs[@]}"; do
    read -r -a argv <<<"${runs[$i]}"
    # Once to fill the compile cache for valgrind's CPU (it reports fewer features than the
    # host's, so the host's cache entries do not match), then the cached start is recorded.
    valgrind --tool=none -q "$SKIFF" "${argv[@]}" >/dev/null
    valgrind --tool=callgrind -q --demangle=no --callgrind-out-file="$WORK/$i.out" \
        "$SKIFF" "${argv[@]}" >/dev/null
done
nm --defined-only "$SKIFF" | awk '$2 ~ /^[tTwW]$/ { print $3 }' >"$WORK/defined"

python3 - "$WORK" "$OUT" "${#runs[@]}" <<'EOF'
import re, sys
work, out, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
defined = set(open(f"{work}/defined").read().split())
names, seen = [], set()
for i in range(runs):
    for line in open(f"{work}/{i}.out"):
        # `fn=(ID) NAME` and `cfn=(ID) NAME` name a function the first time its ID appears.
        m = re.match(r"^c?fn=\(\d+\) (\S+)", line)
        if m and m.group(1) in defined and m.group(1) not in seen:
            seen.add(m.group(1))
            names.append(m.group(1))
with open(out, "w") as f:
    f.write("\n".join(names) + "\n")
print(f"{out}: {len(names)} functions")
EOF
