#!/usr/bin/env bash
# Configures and builds Switchboard into build/ (or $1): binary, core library, plugins, tests.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${1:-build}
shift || true
cmake -S . -B "$build_dir" -G Ninja "$@" >/dev/null
cmake --build "$build_dir"
