#!/usr/bin/env bash
# Conformance check against Go's own test suite: runs the tests of Go standard library packages
# built for GOOS=wasip1 GOARCH=wasm under `skiff run`, through `go test -exec` with the command
# line Go's own wasip1 runner uses for wasmtime (GOROOT/lib/wasm/go_wasip1_wasm_exec: the whole
# host file system, PWD and PATH, a 1 MiB Wasm stack), then re-runs each package that fails under
# the reference wasmtime CLI with the same line, and lists the tests that fail under Skiff only
# (the ones that matter; a test failing under both is the environment's, e.g. Debian's Go leaves
# GOROOT's LICENSE out).
#
#   WASMTIME=... scripts/go-stdlib-tests/run.sh [PACKAGE...]
#
# Env: WASMTIME  the reference wasmtime 48 CLI binary (required)
#      SKIFF     (target/release/skiff)
#      GO        a Go >= 1.21 (default: `go` on PATH, else scripts/install-toolchains.sh's)
#      WORK      scratch and results folder (default: a fresh mktemp -d); one log per package
#                and runtime in WORK/{skiff,wasmtime}/, the summary in WORK/summary.tsv
# Exit: 0 when no test fails under Skiff alone, 1 otherwise.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here/../.."

: "${WASMTIME:?set WASMTIME to a wasmtime 48 CLI binary}"
SKIFF="$(realpath "${SKIFF:-target/release/skiff}")"
WASMTIME="$(realpath "$WASMTIME")"
GO="${GO:-$(command -v go || echo "${SKIFF_TOOLCHAINS:-$HOME/.cache/skiff-toolchains}/bin/go")}"
WORK="${WORK:-$(mktemp -d)}"
mkdir -p "$WORK/skiff" "$WORK/wasmtime"
WORK="$(cd "$WORK" && pwd)"
"$GO" version
"$WASMTIME" --version
echo "work folder: $WORK"

# The packages whose tests touch what WASI gives a program (files, directories, clocks, the
# environment, stdio, sockets Go fakes over it) and a spread of pure ones (compute, memory, the
# garbage collector, goroutines on one thread).
PACKAGES=("$@")
if [ ${#PACKAGES[@]} -eq 0 ]; then
  PACKAGES=(os io/fs path/filepath io/ioutil testing/fstest archive/tar archive/zip bufio time
    syscall os/user os/exec os/signal runtime runtime/debug runtime/pprof internal/poll embed
    log log/slog flag fmt errors io sort strings bytes sync context math math/big regexp
    unicode/utf8 encoding/json encoding/gob encoding/csv encoding/xml compress/gzip
    compress/flate mime mime/multipart net net/url net/http net/http/httptest crypto/sha256
    crypto/rand crypto/ecdsa crypto/tls crypto/x509 hash/crc32 image/png html/template
    text/template go/parser database/sql testing testing/iotest path)
fi

# One wrapper per runtime, as go_wasip1_wasm_exec runs wasmtime.
cat >"$WORK/skiff-exec" <<WRAP
#!/usr/bin/env bash
export SKIFF_ROOT="$WORK/skiff-root"
exec "$SKIFF" run --dir=/ --env PWD="\$PWD" --env PATH="\$PATH" -W max-wasm-stack=1048576 "\$1" "\${@:2}"
WRAP
cat >"$WORK/wasmtime-exec" <<WRAP
#!/usr/bin/env bash
exec "$WASMTIME" run --dir=/ --env PWD="\$PWD" --env PATH="\$PATH" -W max-wasm-stack=1048576 "\$1" "\${@:2}"
WRAP
chmod +x "$WORK/skiff-exec" "$WORK/wasmtime-exec"

# go_test RUNTIME PACKAGE: the package's tests under RUNTIME; its log, then its outcome line.
go_test() {
  local log="$WORK/$1/${2//\//_}.log" rc=0
  (cd "$WORK" && GOOS=wasip1 GOARCH=wasm timeout 1200 "$GO" test -count=1 -timeout 15m \
    -exec "$WORK/$1-exec" "$2" >"$log" 2>&1) || rc=$?
  echo "$rc"
}
# failed LOG: the names of the tests that failed, one per line, sorted.
failed() { sed -n 's/^ *--- FAIL: \([^ ]*\).*/\1/p' "$1" | sort -u; }

printf 'package\tskiff\twasmtime\tfailing under skiff only\n' >"$WORK/summary.tsv"
only_skiff=0
for p in "${PACKAGES[@]}"; do
  s=$(go_test skiff "$p")
  w=-
  only=
  if [ "$s" != 0 ]; then
    w=$(go_test wasmtime "$p")
    only=$(comm -23 <(failed "$WORK/skiff/${p//\//_}.log") <(failed "$WORK/wasmtime/${p//\//_}.log") | paste -sd' ')
    # A package that fails under Skiff with no failing test named (a crash, a build or exec
    # error) counts against Skiff unless wasmtime fails the same way.
    if [ -z "$only" ] && [ "$w" = 0 ]; then only="(the package: exit $s)"; fi
    [ -n "$only" ] && only_skiff=$((only_skiff + 1))
  fi
  printf '%s\t%s\t%s\t%s\n' "$p" "$s" "$w" "$only" | tee -a "$WORK/summary.tsv"
done
echo
echo "$((${#PACKAGES[@]})) packages; $only_skiff with a failure under Skiff alone (summary: $WORK/summary.tsv)"
[ "$only_skiff" = 0 ]
