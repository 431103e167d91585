#!/usr/bin/env bash
# SOAP benchmark: one SOAP 1.1 operation (GetOrder) answered three ways.
#
#   A  wrk -> nginx returning a fixed envelope      (the ceiling: no SOAP work at all)
#   B  wrk -> node-soap's own server (npm soap)      (a SOAP stack answering in code)
#   C  wrk -> Switchboard (soap in -> xpath -> template -> reply)
#
# Usage: bash bench/soap/run.sh [--duration 10s] [--warmup 3s] [--bin PATH] [--keep]
# See README.md beside this file for what each column means.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
peer=$repo/tests/integration/soap_peer

duration=10s
warmup=3s
keep=0
sb_bin=""
threads=2
connections=64

usage() {
    sed -n '2,9p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
    echo "--bin PATH: measure this switchboard binary (its bin/plugins beside it) instead of building build-bench/"
}

source "$here/../args.sh"
parse_options duration=duration warmup=warmup bin=sb_bin -- "$@"

lua_script=$here/post.lua
# shellcheck source=bench/lib.sh
source "$here/../lib.sh"

# --------------------------------------------------------------------------------------
# Prerequisites
# --------------------------------------------------------------------------------------
need_packages nginx:nginx-light wrk:wrk curl:curl node:nodejs npm:npm
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
[[ -x $nginx_bin ]] || die "nginx not found after install"
command -v wrk >/dev/null || die "wrk not found after install"
command -v node >/dev/null || die "node not found after install"

if [[ -z $sb_bin ]]; then
    build_switchboard
fi
[[ -x $sb_bin ]] || die "no switchboard binary at $sb_bin"
[[ -e $(dirname "$sb_bin")/plugins/libswitchboard-soap.so ]] ||
    die "$(dirname "$sb_bin")/plugins has no libswitchboard-soap.so"

# node-soap lives in a cache directory outside the repository and is reused across runs;
# the version is the one the tests use (tests/integration/soap_peer/package.json).
cache=${XDG_CACHE_HOME:-$HOME/.cache}/switchboard-bench
ns_dir=$cache/node-soap
if [[ ! -f $ns_dir/node_modules/soap/package.json ]] || ! cmp -s "$peer/package.json" "$ns_dir/package.json"; then
    log "installing node-soap into $ns_dir"
    mkdir -p "$ns_dir"
    cp "$peer/package.json" "$ns_dir/package.json"
    (cd "$ns_dir" && npm install --no-audit --no-fund --loglevel=error) >"$work/npm-install.log" 2>&1 ||
        { cat "$work/npm-install.log" >&2; rm -f "$ns_dir/package.json"; die "npm install of node-soap failed"; }
fi
ns_version=$(NODE_PATH=$ns_dir/node_modules node -p 'require("soap/package.json").version')

# --------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------
envelope='<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><GetOrder xmlns="urn:switchboard:example:orders"><id>42</id></GetOrder></soap:Body></soap:Envelope>'

wait_ready() {  # wait_ready URL PID NAME: until the GetOrder answer is the expected one
    local url=$1 pid=$2 name=$3 i answer=""
    for ((i = 0; i < 300; i++)); do
        proc_alive "$pid" || return 1
        answer=$(curl -s --max-time 2 -H 'Content-Type: text/xml; charset=utf-8' \
            -H 'SOAPAction: "urn:switchboard:example:orders/GetOrder"' --data-binary "$envelope" "$url" || true)
        if [[ $answer == *GetOrderResponse* && $answer == *'<id>42</id>'* && $answer == *'>open<'* &&
              $answer == *'>304.5<'* ]]; then
            return 0
        fi
        sleep 0.1
    done
    log "$name did not answer GetOrder at $url (last answer: ${answer:0:300})"
    return 1
}


# --------------------------------------------------------------------------------------
# Run
# --------------------------------------------------------------------------------------
check_busy

read -r p_nginx p_ns p_sb <<<"$(free_ports 3)"
log "work dir $work; ports: nginx $p_nginx, node-soap $p_ns, switchboard $p_sb"

# A: nginx, a fixed envelope
mkdir -p "$work/nginx"
render "$here/nginx.conf.in" "$work/nginx/nginx.conf" "DIR=$work/nginx" "PORT=$p_nginx"
"$nginx_bin" -p "$work/nginx/" -c "$work/nginx/nginx.conf" -e "$work/nginx/error.log" >"$work/nginx/stdout.log" 2>&1 &
nginx_pid=$!
started+=("$nginx_pid")
wait_ready "http://127.0.0.1:$p_nginx/orders" "$nginx_pid" nginx ||
    { cat "$work/nginx/error.log" >&2 || true; die "nginx did not start"; }
read -r -a nginx_pids <<<"$(nginx_workers "$nginx_pid")"
measure A "http://127.0.0.1:$p_nginx/orders" "${nginx_pids[@]}"
stop_pid "$nginx_pid"; forget_pid "$nginx_pid"

# B: node-soap's server
NODE_PATH=$ns_dir/node_modules node "$peer/server.js" --port "$p_ns" --quiet >"$work/node-soap.log" 2>&1 &
ns_pid=$!
started+=("$ns_pid")
wait_ready "http://127.0.0.1:$p_ns/orders" "$ns_pid" node-soap ||
    { cat "$work/node-soap.log" >&2; die "node-soap did not start"; }
sleep 0.5   # let it settle before reading its idle RSS
measure B "http://127.0.0.1:$p_ns/orders" "$ns_pid"
stop_pid "$ns_pid"; forget_pid "$ns_pid"

# C: Switchboard
mkdir -p "$work/switchboard"
BENCH_SB_PORT=$p_sb "$sb_bin" run --log-level warn --log-format text "$here/routes.yaml" \
    >"$work/switchboard/switchboard.log" 2>&1 &
sb_pid=$!
started+=("$sb_pid")
wait_ready "http://127.0.0.1:$p_sb/orders" "$sb_pid" switchboard ||
    { cat "$work/switchboard/switchboard.log" >&2; die "switchboard did not start"; }
sleep 0.5
measure C "http://127.0.0.1:$p_sb/orders" "$sb_pid"
sb_version=$("$sb_bin" version 2>/dev/null | head -n1 || true)
stop_pid "$sb_pid"; forget_pid "$sb_pid"
if grep -qE '^[^ ]+ (error|critical) ' "$work/switchboard/switchboard.log"; then
    log "switchboard logged errors (first lines):"
    grep -E '^[^ ]+ (error|critical) ' "$work/switchboard/switchboard.log" | head -n 5 >&2
fi

# --------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------
verdict() {  # verdict VALUE TARGET
    awk -v v="$1" -v t="$2" 'BEGIN { if (v == "n/a") print ""; else if (v + 0 >= t) print "(target ≥ " t ": met)"; else print "(target ≥ " t ": NOT met)" }'
}

names=(
    [0]="A  nginx, fixed envelope"
    [1]="B  node-soap server"
    [2]="C  Switchboard route"
)
keys=(A B C)

echo
echo "SOAP benchmark: wrk -t$threads -c$connections -d$duration (warm-up $warmup), POST ${BODY_BYTES:-?} B SOAP 1.1 GetOrder; $(nproc) cores"
echo "nginx $("$nginx_bin" -v 2>&1 | sed 's/.*nginx\///'), node $(node --version), node-soap $ns_version, ${sb_version:-switchboard} ($sb_bin)"
((busy)) && echo "warning: the CPUs were ${busy_at_start}% busy before the run (something else was running)"
echo
printf '%-28s %10s %10s %10s %12s  %s\n' "setup" "req/s" "p50" "p99" "CPU µs/req" "RSS (idle → peak)"
printf '%-28s %10s %10s %10s %12s  %s\n' "----------------------------" "----------" "----------" "----------" "------------" "-----------------"
for i in "${!keys[@]}"; do
    k=${keys[$i]}
    printf '%-28s %10s %10s %10s %12s  %s\n' "${names[$i]}${R_NOTE[$k]:+ (!)}" "${R_RPS[$k]}" \
        "$(fmt_ms "${R_P50[$k]}")" "$(fmt_ms "${R_P99[$k]}")" "${R_CPU[$k]}" "${R_RSS[$k]}"
done
echo
echo "CPU µs/req: the answering processes (A: nginx worker, B: node, C: switchboard)."
flagged=0
for k in "${keys[@]}"; do
    if [[ -n ${R_NOTE[$k]} ]]; then
        echo "(!) $k: ${R_ERR[$k]}"
        flagged=1
    fi
done
((flagged)) || echo "errors: none (0 non-2xx responses, 0 socket errors in every run)"
echo
cb=$(ratio "${R_RPS[C]}" "${R_RPS[B]}")
ca=$(ratio "${R_RPS[C]}" "${R_RPS[A]}")
echo "ratios:"
printf '  %-26s %s %s\n' "C/B throughput" "$cb" "$(verdict "$cb" 3)"
printf '  %-26s %s %s\n' "C/A throughput" "$ca" "$(verdict "$ca" 0.5)"
printf '  %-26s %s\n' "C/B CPU per request" "$(ratio "${R_CPU[C]}" "${R_CPU[B]}")"
printf '  %-26s %s\n' "C/B p99 latency" "$(ratio "${R_P99[C]}" "${R_P99[B]}")"
((keep)) && echo && echo "raw wrk output and logs: $work"
exit 0
