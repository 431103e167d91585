#!/usr/bin/env bash
# Transform benchmark: MB/s of json-to-xml, xml-to-json and csv-to-json, and messages/s of a
# jq step, each run through the real transforms plugin and printed beside a reference
# measured in the same run:
#
#   converters  the same conversion done with nlohmann/json and pugixml alone   target ≥ 0.5×
#   jq step     the jq command line over the same messages                      target ≥ 2×
#
# Usage: bash bench/transforms/run.sh [--min-time SECONDS] [--repetitions N] [--keep]
# See README.md beside this file for the inputs and what each reference does.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)

min_time=2
repetitions=3
keep=0

usage() {
    sed -n '2,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

source "$here/../args.sh"
parse_options min-time=min_time repetitions=repetitions -- "$@"
[[ $repetitions =~ ^[1-9][0-9]*$ ]] || { echo "run.sh: --repetitions must be a positive whole number" >&2; exit 2; }

log() { printf '[bench] %s\n' "$*" >&2; }
die() { printf '[bench] error: %s\n' "$*" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/switchboard-bench.XXXXXX")
cleanup() {
    local rc=$?
    if ((keep)); then log "kept work directory: $work"; else rm -rf "$work"; fi
    exit "$rc"
}
trap cleanup EXIT

# --------------------------------------------------------------------------------------
# Prerequisites and build
# --------------------------------------------------------------------------------------
as_root() {
    if ((EUID == 0)); then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
        die "need root to run: $*"
    fi
}

bash "$repo/scripts/install-deps.sh" >&2
missing_pkgs=()
dpkg-query -W -f='${Status}' libbenchmark-dev 2>/dev/null | grep -q 'install ok installed' ||
    missing_pkgs+=(libbenchmark-dev)
command -v jq >/dev/null || missing_pkgs+=(jq)
if ((${#missing_pkgs[@]})); then
    log "installing ${missing_pkgs[*]}"
    as_root apt-get update -qq >/dev/null
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing_pkgs[@]}" >/dev/null
fi

build=$repo/build-bench
log "building transforms_bench (build-bench/, Release)"
cmake -S "$repo" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSWITCHBOARD_BUILD_TESTS=OFF \
    -DSWITCHBOARD_BUILD_BENCH=ON >/dev/null
cmake --build "$build" --target transforms_bench >&2 || die "build failed"
bench=$build/bin/transforms_bench
program=$here/orders.jq

# --------------------------------------------------------------------------------------
# Run
# --------------------------------------------------------------------------------------
log "in-process: min time ${min_time}s per benchmark, $repetitions repetitions (median)"
"$bench" --jq-program="$program" --benchmark_min_time="$min_time" --benchmark_repetitions="$repetitions" \
    --benchmark_report_aggregates_only=true --benchmark_out="$work/bench.json" --benchmark_out_format=json >&2 ||
    die "transforms_bench failed"

# The median of repeated runs, or the single run.
declare -A OURS
while IFS=$'\t' read -r name value; do
    OURS[$name]=$value
done < <(jq -r '.benchmarks[] | select(.run_type == "iteration" or .aggregate_name == "median")
                | [.run_name, (.bytes_per_second // .items_per_second)] | @tsv' "$work/bench.json")

# The jq command line over the same messages; CPU time (user + system), as Google Benchmark
# measures the in-process figures, so that other load on the machine matters less.
"$bench" --write-jq-messages="$work/messages.jsonl" || die "cannot write the jq messages"
messages=$(wc -l <"$work/messages.jsonl")
cli_runs=$((repetitions < 3 ? 3 : repetitions))
log "jq command line: $messages messages, $cli_runs runs (median)"
jq -c -f "$program" "$work/messages.jsonl" >/dev/null || die "jq failed on the messages"  # warm-up
cli_seconds=()
for ((i = 0; i < cli_runs; i++)); do
    TIMEFORMAT='%U %S'
    read -r user sys < <({ time jq -c -f "$program" "$work/messages.jsonl" >/dev/null; } 2>&1)
    cli_seconds+=("$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.6f", u + s }')")
done
cli_median=$(printf '%s\n' "${cli_seconds[@]}" | sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')
cli_rate=$(awk -v n="$messages" -v t="$cli_median" 'BEGIN { printf "%.1f", n / t }')

# --------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------
mb() { awk -v b="$1" 'BEGIN { printf "%.1f MB/s", b / 1e6 }'; }
kmsg() { awk -v r="$1" 'BEGIN { printf "%.1fk msg/s", r / 1e3 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
meets() { awk -v r="$1" -v t="$2" 'BEGIN { print (r >= t ? "pass" : "FAIL") }'; }

context() { jq -r --arg k "$1" '.context[$k] // "?"' "$work/bench.json"; }
version() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || echo "?"; }

echo
echo "Transform benchmark: $(nproc) cores, $(context host_name); CPU time, median of $repetitions"
echo "inputs: json-to-xml $(context 'json-to-xml input'), xml-to-json $(context 'xml-to-json input')," \
    "csv-to-json $(context 'csv-to-json input'); jq: $messages messages of one order, program $(basename "$program")"
echo "nlohmann-json3-dev $(version nlohmann-json3-dev), libpugixml $(version libpugixml1v5), jq $(version jq)," \
    "libbenchmark $(version libbenchmark-dev)"
echo
printf '%-13s %16s %16s %7s %8s  %s\n' "name" "ours" "reference" "ratio" "target" "result"
printf '%-13s %16s %16s %7s %8s  %s\n' "-------------" "----------------" "----------------" "-------" "--------" "------"
failed=0
row() {  # row NAME OURS REFERENCE OURS_TEXT REFERENCE_TEXT TARGET
    local r result
    r=$(ratio "$2" "$3")
    result=$(meets "$r" "$6")
    [[ $result == pass ]] || failed=1
    printf '%-13s %16s %16s %7s %8s  %s\n' "$1" "$4" "$5" "$r" "≥ $6" "$result"
}
for name in json-to-xml xml-to-json csv-to-json; do
    ours=${OURS[$name]:?no figure for $name}
    ref=${OURS[$name/reference]:?no figure for $name/reference}
    row "$name" "$ours" "$ref" "$(mb "$ours")" "$(mb "$ref")" 0.5
done
row "jq step" "${OURS[jq]:?no figure for jq}" "$cli_rate" "$(kmsg "${OURS[jq]}")" "$(kmsg "$cli_rate")" 2
echo
echo "reference: converters, the same conversion with nlohmann/json and pugixml alone;"
echo "           jq step, \`jq -c -f $(basename "$program")\` over the same messages (process start included)"
((keep)) && echo && echo "raw output: $work"
exit "$failed"
