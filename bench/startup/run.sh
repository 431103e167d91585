#!/usr/bin/env bash
# Startup benchmark: time from exec to a 200 from /ready for the quickstart routes (files,
# SQLite, a timer and an HTTP route), median of 20 starts, beside the time the same binary
# takes to start and exit (`switchboard version`: loading and linking alone) and to load and
# check the same routes without starting them (`switchboard validate`), measured in the same run.
#
#   bash bench/startup/run.sh [--starts N] [--bin PATH] [--keep]
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)

starts=20
keep=0
sb_bin=""

usage() {
    sed -n '2,7p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
    echo "--bin PATH: measure this switchboard binary (its bin/plugins beside it) instead of building build-bench/"
}

source "$here/../args.sh"
parse_options starts=starts bin=sb_bin -- "$@"

source "$here/../lib.sh"
need_packages python3:python3

if [[ -z $sb_bin ]]; then
    build_switchboard
fi
[[ -x $sb_bin ]] || die "no switchboard binary at $sb_bin"
sb_bin=$(realpath "$sb_bin")

cp "$repo/examples/quickstart/routes.yaml" "$work/"
python3 "$here/startup.py" --bin "$sb_bin" --dir "$work" --starts "$starts"
