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

while (($#)); do
    case $1 in
        --duration) duration=${2:?--duration needs a value}; shift 2 ;;
        --duration=*) duration=${1#*=}; shift ;;
        --warmup) warmup=${2:?--warmup needs a value}; shift 2 ;;
        --warmup=*) warmup=${1#*=}; shift ;;
        --bin) sb_bin=${2:?--bin needs a path}; shift 2 ;;
        --bin=*) sb_bin=${1#*=}; shift ;;
        --keep) keep=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "run.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
    esac
done

log() { printf '[bench] %s\n' "$*" >&2; }
die() { printf '[bench] error: %s\n' "$*" >&2; exit 1; }

# --------------------------------------------------------------------------------------
# Process bookkeeping: everything started here is stopped on exit, Ctrl-C or failure.
# --------------------------------------------------------------------------------------
work=$(mktemp -d "${TMPDIR:-/tmp}/switchboard-bench-soap.XXXXXX")
started=()    # pids started by this script, stopped in reverse order

proc_alive() {  # running and not a zombie
    local pid=$1 stat
    [[ -r /proc/$pid/stat ]] || return 1
    stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    [[ ${stat%% *} != Z ]]
}

stop_pid() {
    local pid=$1 i
    proc_alive "$pid" || { wait "$pid" 2>/dev/null || true; return 0; }
    # nginx masters: remember their workers, in case the master has to be killed
    local kids
    kids=$(cat "/proc/$pid/task/$pid/children" 2>/dev/null || true)
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
        proc_alive "$pid" || break
        sleep 0.1
    done
    if proc_alive "$pid"; then
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
    for k in $kids; do
        proc_alive "$k" && kill -KILL "$k" 2>/dev/null || true
    done
    return 0
}

forget_pid() {
    local pid=$1 i
    for i in "${!started[@]}"; do
        [[ ${started[$i]} == "$pid" ]] && unset 'started[i]'
    done
    started=("${started[@]}")
}

cleanup() {
    local rc=$? i
    trap - EXIT INT TERM
    for ((i = ${#started[@]} - 1; i >= 0; i--)); do
        stop_pid "${started[$i]}"
    done
    if ((keep)); then
        log "kept work directory: $work"
    else
        rm -rf "$work"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT
trap 'log "terminated"; exit 143' TERM

# --------------------------------------------------------------------------------------
# Prerequisites
# --------------------------------------------------------------------------------------
as_root() {
    if ((EUID == 0)); then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
        die "need root to run: $*"
    fi
}

missing_pkgs=()
command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]] || missing_pkgs+=(nginx-light)
command -v wrk >/dev/null || missing_pkgs+=(wrk)
command -v curl >/dev/null || missing_pkgs+=(curl)
command -v node >/dev/null || missing_pkgs+=(nodejs)
command -v npm >/dev/null || missing_pkgs+=(npm)
if ((${#missing_pkgs[@]})); then
    log "installing ${missing_pkgs[*]}"
    as_root apt-get update -qq >/dev/null
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing_pkgs[@]}" >/dev/null
fi
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
[[ -x $nginx_bin ]] || die "nginx not found after install"
command -v wrk >/dev/null || die "wrk not found after install"
command -v node >/dev/null || die "node not found after install"

if [[ -z $sb_bin ]]; then
    # An optimised build of its own, brought up to date on every run (nothing to do when current).
    log "building Switchboard (build-bench/, Release)"
    (cd "$repo" && bash scripts/build.sh build-bench -DCMAKE_BUILD_TYPE=Release -DSWITCHBOARD_BUILD_TESTS=OFF) >&2 ||
        die "build failed"
    sb_bin=$repo/build-bench/bin/switchboard
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
free_ports() {  # free_ports N: N distinct free loopback ports
    python3 - "$1" <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
}

render() {  # render TEMPLATE OUT KEY=VALUE...
    local tpl=$1 out=$2 kv; shift 2
    local args=()
    for kv in "$@"; do args+=(-e "s|@${kv%%=*}@|${kv#*=}|g"); done
    sed "${args[@]}" "$tpl" >"$out"
}

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

cpu_ticks() {  # sum of utime+stime (clock ticks) over the given pids
    local total=0 pid stat f
    for pid in "$@"; do
        stat=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
        stat=${stat##*) }
        read -r -a f <<<"$stat"
        # after "pid (comm) ": f[0]=state ... f[11]=utime f[12]=stime
        total=$((total + f[11] + f[12]))
    done
    echo "$total"
}

rss_kib() {  # sum of VmRSS (KiB) over the given pids
    local total=0 pid k v _
    for pid in "$@"; do
        while read -r k v _; do
            if [[ $k == VmRSS: ]]; then total=$((total + v)); break; fi
        done <"/proc/$pid/status" 2>/dev/null || true
    done
    echo "$total"
}

rss_sampler() {  # rss_sampler OUTFILE PID...: writes the peak RSS sum, sampled every 0.2 s
    local out=$1; shift
    local peak=0 now
    while :; do
        now=$(rss_kib "$@")
        if ((now > peak)); then peak=$now; echo "$peak" >"$out"; fi
        sleep 0.2
    done
}

nginx_workers() {  # the worker processes of an nginx master
    local kids i
    for ((i = 0; i < 50; i++)); do
        kids=$(cat "/proc/$1/task/$1/children" 2>/dev/null || true)
        [[ -n ${kids// /} ]] && { echo $kids; return 0; }
        sleep 0.1
    done
    return 1
}

clk_tck=$(getconf CLK_TCK)
lua_script=$here/post.lua

declare -A R_RPS R_P50 R_P99 R_CPU R_RSS R_ERR R_NOTE

run_wrk() {  # run_wrk OUTFILE DURATION URL
    wrk -t"$threads" -c"$connections" -d"$2" --timeout 5s --latency -s "$lua_script" "$3" >"$1" 2>&1
}

measure() {  # measure KEY URL PID... (the processes answering)
    local key=$1 url=$2; shift 2
    local pids=("$@") out=$work/wrk-$key.txt
    local rss_file=$work/rss-$key.peak sampler rss_idle

    rss_idle=$(rss_kib "${pids[@]}")
    echo "$rss_idle" >"$rss_file"
    rss_sampler "$rss_file" "${pids[@]}" &
    sampler=$!
    started+=("$sampler")

    log "$key: warm-up $warmup"
    run_wrk "$work/wrk-$key-warmup.txt" "$warmup" "$url" ||
        { cat "$work/wrk-$key-warmup.txt" >&2; die "$key: wrk warm-up failed"; }

    local t0 t1
    t0=$(cpu_ticks "${pids[@]}")
    log "$key: measuring $duration"
    run_wrk "$out" "$duration" "$url" || { cat "$out" >&2; die "$key: wrk failed"; }
    t1=$(cpu_ticks "${pids[@]}")
    stop_pid "$sampler"; forget_pid "$sampler"

    local line
    line=$(grep -m1 '^BENCH ' "$out") || { cat "$out" >&2; die "$key: no summary from wrk"; }
    local local_requests local_duration_us local_p50_us local_p99_us local_status_errors
    local local_connect local_read local_write local_timeout local_body_bytes
    eval "$(sed -e 's/^BENCH //' -e 's/\([a-z_0-9]*\)=/local_\1=/g' <<<"$line")"
    local sock_errors=$((local_connect + local_read + local_write + local_timeout))

    R_RPS[$key]=$(awk -v r="$local_requests" -v d="$local_duration_us" 'BEGIN { printf "%.0f", r / (d / 1e6) }')
    R_P50[$key]=$local_p50_us
    R_P99[$key]=$local_p99_us
    R_ERR[$key]="$local_status_errors non-2xx, $sock_errors socket errors (connect $local_connect, read $local_read, write $local_write, timeout $local_timeout)"
    if ((local_status_errors > 0 || sock_errors > 0)); then R_NOTE[$key]="!"; else R_NOTE[$key]=""; fi
    if ((local_requests > 0)); then
        R_CPU[$key]=$(awk -v t=$((t1 - t0)) -v hz="$clk_tck" -v r="$local_requests" \
            'BEGIN { printf "%.1f", t / hz * 1e6 / r }')
    else
        R_CPU[$key]="-"
    fi
    R_RSS[$key]="$(awk -v a="$rss_idle" -v b="$(<"$rss_file")" 'BEGIN { printf "%.1f → %.1f MiB", a / 1024, b / 1024 }')"
    BODY_BYTES=$local_body_bytes
}

# --------------------------------------------------------------------------------------
# Run
# --------------------------------------------------------------------------------------
cpu_busy_pct() {  # share of all CPUs busy over one second, in percent
    local _c u1 n1 s1 i1 w1 q1 sq1 st1 u2 n2 s2 i2 w2 q2 sq2 st2 _r
    read -r _c u1 n1 s1 i1 w1 q1 sq1 st1 _r </proc/stat
    sleep 1
    read -r _c u2 n2 s2 i2 w2 q2 sq2 st2 _r </proc/stat
    local busy=$(((u2 + n2 + s2 + q2 + sq2 + st2) - (u1 + n1 + s1 + q1 + sq1 + st1)))
    local idle=$(((i2 + w2) - (i1 + w1)))
    echo $((100 * busy / (busy + idle > 0 ? busy + idle : 1)))
}
busy_at_start=$(cpu_busy_pct)
busy=0
((busy_at_start >= 20)) && busy=1
((busy)) && log "warning: the CPUs were ${busy_at_start}% busy before the run; figures will be noisy"

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
fmt_ms() { awk -v u="$1" 'BEGIN { printf "%.2f ms", u / 1000 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 == 0) print "n/a"; else printf "%.2f", a / b }'; }
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
