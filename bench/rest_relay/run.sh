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

while (($#)); do
    case $1 in
        --duration) duration=${2:?--duration needs a value}; shift 2 ;;
        --duration=*) duration=${1#*=}; shift ;;
        --warmup) warmup=${2:?--warmup needs a value}; shift 2 ;;
        --warmup=*) warmup=${1#*=}; shift ;;
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
work=$(mktemp -d "${TMPDIR:-/tmp}/switchboard-bench.XXXXXX")
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
if ((${#missing_pkgs[@]})); then
    log "installing ${missing_pkgs[*]}"
    as_root apt-get update -qq >/dev/null
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing_pkgs[@]}" >/dev/null
fi
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
[[ -x $nginx_bin ]] || die "nginx not found after install"
command -v wrk >/dev/null || die "wrk not found after install"

# An optimised build of its own, brought up to date on every run (nothing to do when current).
log "building Switchboard (build-bench/, Release)"
(cd "$repo" && bash scripts/build.sh build-bench -DCMAKE_BUILD_TYPE=Release -DSWITCHBOARD_BUILD_TESTS=OFF) >&2 ||
    die "build failed"
sb_bin=$repo/build-bench/bin/switchboard

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
free_ports() {  # free_ports N: N distinct free loopback ports
    if command -v python3 >/dev/null; then
        python3 - "$1" <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
    else
        node -e '
const net = require("net"); const n = +process.argv[1]; const ports = []; const srv = [];
(function next() {
  if (ports.length === n) { console.log(ports.join(" ")); srv.forEach(s => s.close()); return; }
  const s = net.createServer(); srv.push(s);
  s.listen(0, "127.0.0.1", () => { ports.push(s.address().port); next(); });
})();' "$1"
    fi
}

render() {  # render TEMPLATE OUT KEY=VALUE...
    local tpl=$1 out=$2 kv; shift 2
    local args=()
    for kv in "$@"; do args+=(-e "s|@${kv%%=*}@|${kv#*=}|g"); done
    sed "${args[@]}" "$tpl" >"$out"
}

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

nginx_workers() {  # the worker processes of an nginx master
    local kids i
    for ((i = 0; i < 50; i++)); do
        kids=$(cat "/proc/$1/task/$1/children" 2>/dev/null || true)
        [[ -n ${kids// /} ]] && { echo $kids; return 0; }
        sleep 0.1
    done
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

clk_tck=$(getconf CLK_TCK)
lua_script=$here/post.lua

declare -A R_RPS R_P50 R_P99 R_CPU R_RSS R_ERR R_NOTE

run_wrk() {  # run_wrk OUTFILE DURATION URL
    wrk -t"$threads" -c"$connections" -d"$2" --timeout 5s --latency -s "$lua_script" "$3" >"$1" 2>&1
}

measure() {  # measure KEY URL PID... (PIDs: the relay's processes; none for the baseline)
    local key=$1 url=$2; shift 2
    local pids=("$@") out=$work/wrk-$key.txt
    local rss_idle="" rss_file=$work/rss-$key.peak sampler=""

    if ((${#pids[@]})); then
        rss_idle=$(rss_kib "${pids[@]}")
        echo "$rss_idle" >"$rss_file"
        rss_sampler "$rss_file" "${pids[@]}" &
        sampler=$!
        started+=("$sampler")
    fi

    log "$key: warm-up $warmup"
    run_wrk "$work/wrk-$key-warmup.txt" "$warmup" "$url" ||
        { cat "$work/wrk-$key-warmup.txt" >&2; die "$key: wrk warm-up failed"; }

    local t0=0 t1=0
    ((${#pids[@]})) && t0=$(cpu_ticks "${pids[@]}")
    log "$key: measuring $duration"
    run_wrk "$out" "$duration" "$url" || { cat "$out" >&2; die "$key: wrk failed"; }
    ((${#pids[@]})) && t1=$(cpu_ticks "${pids[@]}")

    if [[ -n $sampler ]]; then
        stop_pid "$sampler"; forget_pid "$sampler"
    fi

    local line
    line=$(grep -m1 '^BENCH ' "$out") || { cat "$out" >&2; die "$key: no summary from wrk"; }
    local requests duration_us p50_us p99_us status_errors connect read write timeout body_bytes
    eval "$(sed -e 's/^BENCH //' -e 's/\([a-z_0-9]*\)=/local_\1=/g' <<<"$line")"
    requests=$local_requests duration_us=$local_duration_us
    p50_us=$local_p50_us p99_us=$local_p99_us
    body_bytes=$local_body_bytes
    local sock_errors=$((local_connect + local_read + local_write + local_timeout))

    R_RPS[$key]=$(awk -v r="$requests" -v d="$duration_us" 'BEGIN { printf "%.0f", r / (d / 1e6) }')
    R_P50[$key]=$p50_us
    R_P99[$key]=$p99_us
    R_ERR[$key]="$local_status_errors non-2xx, $sock_errors socket errors (connect $local_connect, read $local_read, write $local_write, timeout $local_timeout)"
    if ((local_status_errors > 0 || sock_errors > 0)); then R_NOTE[$key]="!"; else R_NOTE[$key]=""; fi
    if ((${#pids[@]})) && ((requests > 0)); then
        R_CPU[$key]=$(awk -v t=$((t1 - t0)) -v hz="$clk_tck" -v r="$requests" \
            'BEGIN { printf "%.1f", t / hz * 1e6 / r }')
        local peak
        peak=$(<"$rss_file")
        R_RSS[$key]="$(awk -v a="$rss_idle" -v b="$peak" 'BEGIN { printf "%.1f → %.1f MiB", a / 1024, b / 1024 }')"
    else
        R_CPU[$key]="-"
        R_RSS[$key]="-"
    fi
    BODY_BYTES=$body_bytes
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
fmt_ms() { awk -v u="$1" 'BEGIN { printf "%.2f ms", u / 1000 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 == 0) print "n/a"; else printf "%.2f", a / b }'; }

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
