#!/usr/bin/env bash
# A fuzzing campaign from prebuilt libFuzzer binaries (`cargo fuzz build` here, then copied to a
# machine with more cores): every target at once, JOBS processes each, for SECONDS, from the
# committed seed corpus. New inputs and crashes are written under OUT, with a summary in
# OUT/summary.md (executions and crashes per target, from libFuzzer's own logs).
#
#   fuzz/campaign.sh BIN_DIR OUT SECONDS JOBS TARGET...
#   e.g. fuzz/campaign.sh fuzz/target/x86_64-unknown-linux-gnu/release /tmp/out 1800 1 manifest
set -euo pipefail
bins=$(cd "$1" && pwd); out=$2; seconds=$3; jobs=$4; shift 4
seeds=$(cd "$(dirname "$0")/corpus" && pwd)
mkdir -p "$out"; out=$(cd "$out" && pwd)
export LD_LIBRARY_PATH=$bins${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
for t in "$@"; do
    mkdir -p "$out/$t/new"
    (cd "$out/$t" && "$bins/$t" -jobs="$jobs" -workers="$jobs" -max_total_time="$seconds" \
        -artifact_prefix="$out/$t/crash-" -print_final_stats=1 new "$seeds/$t" >"$out/$t/main.log" 2>&1) &
done
wait
{
    echo "| target | jobs | seconds per job | executions | crashes |"
    echo "| --- | ---: | ---: | ---: | ---: |"
    for t in "$@"; do
        execs=$(cat "$out/$t"/fuzz-*.log 2>/dev/null | awk '/stat::number_of_executed_units/ { n += $2 } END { print n + 0 }')
        crashes=$(find "$out/$t" -maxdepth 1 -name 'crash-*' | wc -l)
        echo "| $t | $jobs | $seconds | $execs | $crashes |"
    done
    echo
    echo "Machine: nproc=$(nproc), $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo), kernel $(uname -r)."
} >"$out/summary.md"
cat "$out/summary.md"
