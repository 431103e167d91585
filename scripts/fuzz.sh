#!/usr/bin/env bash
# Fuzzes each parser with libFuzzer: builds the targets of tests/fuzz with clang-14,
# AddressSanitizer and UndefinedBehaviorSanitizer into build-fuzz/, then runs each for the
# given seconds from its seed corpus in tests/fuzz/corpus/<target>/. Fails when any target
# finds something (crash, sanitizer report, uncaught exception, leak, hang, out of memory);
# the input that did it is kept in build-fuzz/findings/<target>/.
# Usage: bash scripts/fuzz.sh [seconds=60]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
[[ $seconds =~ ^[1-9][0-9]*$ ]] || { echo "fuzz.sh: seconds must be a positive whole number" >&2; exit 2; }
bash scripts/install-deps.sh

build="build-fuzz"
targets=(expression_fuzz json_xml_fuzz csv_fuzz)

CC=clang-14 CXX=clang++-14 cmake -S . -B "$build" -G Ninja -DSWITCHBOARD_FUZZ=ON -DSWITCHBOARD_BUILD_TESTS=OFF \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" --target fuzz -j "$(nproc)"

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:symbolize=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export LSAN_OPTIONS=suppressions=$PWD/tests/fuzz/lsan.supp
export ASAN_SYMBOLIZER_PATH=/usr/lib/llvm-14/bin/llvm-symbolizer

failed=()
for target in "${targets[@]}"; do
  # New inputs go to build-fuzz/corpus/<target>; the committed seeds are only read.
  mkdir -p "$build/corpus/$target" "$build/findings/$target"
  log=$build/findings/$target.log
  echo "fuzz: $target for ${seconds}s"
  if "$build/fuzz/$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$build/findings/$target/" "$build/corpus/$target" "tests/fuzz/corpus/$target" >"$log" 2>&1; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    echo "fuzz: $target: no finding in ${runs:-?} runs ($(find "$build/corpus/$target" -type f | wc -l) inputs in its corpus)"
  else
    failed+=("$target")
    echo "fuzz: $target FOUND SOMETHING; the end of its log ($log):"
    tail -n 60 "$log"
    echo "fuzz: reproduce with: $build/fuzz/$target $build/findings/$target/<file>"
  fi
done

if ((${#failed[@]})); then
  echo "fuzz: findings in ${failed[*]}" >&2
  exit 1
fi
echo "fuzz: no finding in ${targets[*]}"
