#!/usr/bin/env bash
# Installs what is missing, builds everything, and runs every test: unit and integration
# tests, then all of them again under AddressSanitizer and UndefinedBehaviorSanitizer, then
# each parser under libFuzzer.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh --tests
jobs=$(nproc)

# Tests ON explicitly: the quickstart may have configured build/ without them.
bash scripts/build.sh build -DSWITCHBOARD_BUILD_TESTS=ON
ctest --test-dir build --output-on-failure --timeout 900 -j "$jobs" --no-tests=error

# The unit and integration tests again, everything built with AddressSanitizer and
# UndefinedBehaviorSanitizer: a report aborts the process, so it fails the test that caused
# it. The fault suite (timing and volume under load) runs on the optimised build only.
bash scripts/build.sh build-asan -DSWITCHBOARD_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug -DSWITCHBOARD_BUILD_TESTS=ON
# intercept_tls_get_addr=0: GCC 12's LeakSanitizer otherwise crashes ("Tracer caught signal
# 11") scanning the dynamic TLS that the dlopen'ed plugins' libraries (OpenSSL, libcurl) give
# the bus's long-lived I/O threads; leaks are still checked, only those blocks are not tracked.
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:intercept_tls_get_addr=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan --output-on-failure --timeout 900 -j "$jobs" --no-tests=error -LE fault

# The expression, JSON<->XML (with the jq step's JSON parser) and CSV parsers under libFuzzer
# for 60 s each (clang-14, build-fuzz/).
bash scripts/fuzz.sh 60
echo "all tests passed"
