#!/usr/bin/env bash
# Installs what is missing, builds everything, and runs every test: unit and integration
# tests, then the unit tests again under AddressSanitizer and UndefinedBehaviorSanitizer.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
jobs=$(nproc)

bash scripts/build.sh build
ctest --test-dir build --output-on-failure --timeout 900 -j "$jobs"

cmake -S . -B build-asan -G Ninja -DSWITCHBOARD_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build build-asan --target core_tests file_adapter_tests plugin_tests rest_adapter_tests
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan --output-on-failure -L unit -j "$jobs"
echo "all tests passed"
