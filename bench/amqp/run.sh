#!/usr/bin/env bash
# AMQP benchmark: messages/s of queue -> set-header + map -> queue with publisher confirms,
# Switchboard beside a plain librabbitmq loop (amqp_raw.cpp) on the same RabbitMQ node, which
# the script starts on free loopback ports and stops. Median of --rounds rounds.
#
#   bash bench/amqp/run.sh [--messages 20000] [--rounds 3] [--concurrency 64] [--bin PATH] [--keep]
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)

messages=20000
rounds=3
concurrency=64
keep=0
sb_bin=""

usage() {
    sed -n '2,7p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
    echo "--bin PATH: measure this switchboard binary (its bin/plugins beside it) instead of building build-bench/"
}

source "$here/../args.sh"
parse_options messages=messages rounds=rounds concurrency=concurrency bin=sb_bin -- "$@"

# shellcheck source=bench/lib.sh
source "$here/../lib.sh"
need_packages g++:g++ rabbitmq-server:rabbitmq-server
[[ -e /usr/include/amqp.h ]] || need_packages librabbitmq-dev:librabbitmq-dev
python3 -c 'import sys; sys.path.insert(0, "/usr/lib/python3/dist-packages"); import pika' 2>/dev/null ||
    need_packages python3-pika:python3-pika

if [[ -z $sb_bin ]]; then
    build_switchboard
fi
[[ -x $sb_bin ]] || die "no switchboard binary at $sb_bin"
sb_bin=$(realpath "$sb_bin")

log "building amqp_raw"
g++ -std=c++20 -O2 -o "$work/amqp_raw" "$here/amqp_raw.cpp" -lrabbitmq || die "amqp_raw did not build"
python3 "$here/amqp_bench.py" --raw "$work/amqp_raw" --bin "$sb_bin" --messages "$messages" --rounds "$rounds" \
    --concurrency "$concurrency"
