#!/usr/bin/env bash
# REST relay benchmark: the cost of putting a relay between an HTTP client and an upstream.
#
#   A  wrk -> upstream                      (baseline: no relay)
#   B  wrk -> nginx reverse proxy -> upstream
#   C  wrk -> Switchboard (rest in -> set-header -> map -> rest out) -> upstream
#   D  wrk -> Node-RED (http in -> change -> http request -> http response) -> upstream
#
# Usage: bash bench/rest_relay/run.sh [--duration 10s] [--warmup 3s] [--keep]
# See README.md beside this file for what each column means.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)

duration=10s
warmup=3s
keep=0
threads=2
connections=64

usage() {
    sed -n '2,10p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

source "$here/../args.sh"
parse_options duration=duration warmup=warmup -- "$@"

lua_script=$here/post.lua
# shellcheck source=bench/lib.sh
source "$here/../lib.sh"

# --------------------------------------------------------------------------------------
# Prerequisites
# --------------------------------------------------------------------------------------
need_packages nginx:nginx-light wrk:wrk curl:curl
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
[[ -x $nginx_bin ]] || die "nginx not found after install"
command -v wrk >/dev/null || die "wrk not found after install"

build_switchboard

# Node-RED lives in a cache directory outside the repository and is reused across runs.
cache=${XDG_CACHE_HOME:-$HOME/.cache}/switchboard-bench
nr_dir=$cache/node-red
nr_red=$nr_dir/node_modules/node-red/red.js
nr_unavailable=""
if ! command -v node >/dev/null; then
    nr_unavailable="node is not installed"
elif [[ ! -f $nr_red ]]; then
    log "installing node-red@4 into $nr_dir"
    mkdir -p "$nr_dir"
    [[ -f $nr_dir/package.json ]] || echo '{"name":"switchboard-bench-node-red","private":true}' >"$nr_dir/package.json"
    if ! (cd "$nr_dir" && npm install --no-audit --no-fund --loglevel=error node-red@4) \
            >"$work/npm-install.log" 2>&1 || [[ ! -f $nr_red ]]; then
        nr_unavailable="npm install node-red@4 failed: $(grep -m1 -iE 'err' "$work/npm-install.log" || tail -n1 "$work/npm-install.log")"
    fi
fi

# --------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------
wait_ready() {  # wait_ready URL PID NAME: until a POST answers 2xx
    local url=$1 pid=$2 name=$3 i code
    for ((i = 0; i < 300; i++)); do
        proc_alive "$pid" || return 1
        code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 \
            -H 'Content-Type: application/json' -d '{"ping":true}' "$url" || true)
        [[ $code == 2* ]] && return 0
        sleep 0.1
    done
    log "$name did not answer 2xx at $url (last status: ${code:-none})"
    return 1
}

start_nginx() {  # start_nginx NAME TEMPLATE KEY=VALUE... ; sets nginx_pid
    local name=$1 tpl=$2; shift 2
    local dir=$work/$name
    mkdir -p "$dir"
    render "$tpl" "$dir/nginx.conf" "DIR=$dir" "$@"
    "$nginx_bin" -p "$dir/" -c "$dir/nginx.conf" -e "$dir/error.log" >"$dir/stdout.log" 2>&1 &
    nginx_pid=$!
    started+=("$nginx_pid")
}

# --------------------------------------------------------------------------------------
# Run
# --------------------------------------------------------------------------------------
check_busy

read -r p_up p_proxy p_sb p_nr <<<"$(free_ports 4)"
log "work dir $work; ports: upstream $p_up, nginx proxy $p_proxy, switchboard $p_sb, node-red $p_nr"

# Upstream (runs through all four measurements)
start_nginx upstream "$here/upstream.nginx.conf.in" "PORT=$p_up"
up_pid=$nginx_pid
wait_ready "http://127.0.0.1:$p_up/" "$up_pid" upstream ||
    { cat "$work/upstream/error.log" >&2 || true; die "upstream nginx did not start"; }

# A: direct
measure A "http://127.0.0.1:$p_up/"

# B: nginx reverse proxy
start_nginx proxy "$here/proxy.nginx.conf.in" "PORT=$p_proxy" "UPSTREAM_PORT=$p_up"
proxy_pid=$nginx_pid
wait_ready "http://127.0.0.1:$p_proxy/relay" "$proxy_pid" "nginx proxy" ||
    { cat "$work/proxy/error.log" >&2 || true; die "nginx proxy did not start"; }
read -r -a proxy_workers <<<"$(nginx_workers "$proxy_pid")"
measure B "http://127.0.0.1:$p_proxy/relay" "${proxy_workers[@]}"
stop_pid "$proxy_pid"; forget_pid "$proxy_pid"

# C: Switchboard
mkdir -p "$work/switchboard"
BENCH_SB_PORT=$p_sb BENCH_UPSTREAM_PORT=$p_up \
    "$sb_bin" run --log-level warn --log-format text "$here/routes.yaml" \
    >"$work/switchboard/switchboard.log" 2>&1 &
sb_pid=$!
started+=("$sb_pid")
wait_ready "http://127.0.0.1:$p_sb/relay" "$sb_pid" switchboard ||
    { cat "$work/switchboard/switchboard.log" >&2; die "switchboard did not start"; }
sleep 0.5   # let it settle before reading its idle RSS
measure C "http://127.0.0.1:$p_sb/relay" "$sb_pid"
sb_version=$("$sb_bin" version 2>/dev/null | head -n1 || true)
stop_pid "$sb_pid"; forget_pid "$sb_pid"
if grep -qiE '"level":"(error|critical)"|\[(error|critical)\]' "$work/switchboard/switchboard.log"; then
    log "switchboard logged errors (first lines):"
    grep -iE 'error|critical' "$work/switchboard/switchboard.log" | head -n 5 >&2
fi

# D: Node-RED
nr_version=""
if [[ -z $nr_unavailable ]]; then
    nr_user=$work/node-red
    mkdir -p "$nr_user"
    cp "$here/nodered-flows.json" "$nr_user/flows.json"
    nr_version=$(node -p "require('$nr_dir/node_modules/node-red/package.json').version" 2>/dev/null || true)
    (cd "$nr_dir" && BENCH_NR_PORT=$p_nr BENCH_NR_USERDIR=$nr_user \
        BENCH_NR_UPSTREAM_URL="http://127.0.0.1:$p_up/" \
        exec node "$nr_red" --settings "$here/nodered-settings.js" --userDir "$nr_user" flows.json \
        >"$nr_user/node-red.log" 2>&1) &
    nr_pid=$!
    started+=("$nr_pid")
    if wait_ready "http://127.0.0.1:$p_nr/relay" "$nr_pid" node-red; then
        sleep 0.5
        measure D "http://127.0.0.1:$p_nr/relay" "$nr_pid"
    else
        nr_unavailable="Node-RED did not start: $(tail -n 3 "$nr_user/node-red.log" | tr '\n' ' ')"
    fi
    stop_pid "$nr_pid"; forget_pid "$nr_pid"
fi

# --------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------
names=(
    [0]="A  direct (wrk -> upstream)"
    [1]="B  nginx reverse proxy"
    [2]="C  Switchboard route"
    [3]="D  Node-RED flow"
)
keys=(A B C D)

echo
echo "REST relay benchmark: wrk -t$threads -c$connections -d$duration (warm-up $warmup), POST ${BODY_BYTES:-1024} B JSON; $(nproc) cores"
echo "nginx $("$nginx_bin" -v 2>&1 | sed 's/.*nginx\///'), ${sb_version:-switchboard}${nr_version:+, node-red $nr_version}"
((busy)) && echo "warning: the CPUs were ${busy_at_start}% busy before the run (something else was running)"
echo
printf '%-30s %10s %10s %10s %12s  %s\n' "setup" "req/s" "p50" "p99" "CPU µs/req" "RSS (idle → peak)"
printf '%-30s %10s %10s %10s %12s  %s\n' "------------------------------" "----------" "----------" "----------" "------------" "-----------------"
for i in "${!keys[@]}"; do
    k=${keys[$i]}
    if [[ -z ${R_RPS[$k]:-} ]]; then
        printf '%-30s %s\n' "${names[$i]}" "unavailable: ${nr_unavailable:-not measured}"
        continue
    fi
    printf '%-30s %10s %10s %10s %12s  %s\n' "${names[$i]}${R_NOTE[$k]:+ (!)}" "${R_RPS[$k]}" \
        "$(fmt_ms "${R_P50[$k]}")" "$(fmt_ms "${R_P99[$k]}")" "${R_CPU[$k]}" "${R_RSS[$k]}"
done
echo
echo "CPU µs/req: the relay's own processes (B: nginx worker, C: switchboard, D: node); A has no relay."
flagged=0
for k in "${keys[@]}"; do
    [[ -n ${R_RPS[$k]:-} ]] || continue
    if [[ -n ${R_NOTE[$k]} ]]; then
        echo "(!) $k: ${R_ERR[$k]}"
        flagged=1
    fi
done
((flagged)) || echo "errors: none (0 non-2xx responses, 0 socket errors in every run)"
echo
echo "ratios:"
printf '  %-26s %s\n' "C/B throughput" "$(ratio "${R_RPS[C]}" "${R_RPS[B]}")"
if [[ -n ${R_RPS[D]:-} ]]; then
    printf '  %-26s %s\n' "C/D throughput" "$(ratio "${R_RPS[C]}" "${R_RPS[D]}")"
else
    printf '  %-26s %s\n' "C/D throughput" "n/a (Node-RED unavailable)"
fi
printf '  %-26s %s\n' "C/B CPU per request" "$(ratio "${R_CPU[C]}" "${R_CPU[B]}")"
printf '  %-26s %s\n' "C/B p99 latency" "$(ratio "${R_P99[C]}" "${R_P99[B]}")"
((keep)) && echo && echo "raw wrk output and logs: $work"
exit 0
