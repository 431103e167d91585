# shellcheck shell=bash
# Shared by the benchmark scripts under bench/: logging, process bookkeeping (everything a
# script starts is stopped on exit, Ctrl-C or failure), prerequisites, the Switchboard build,
# and one wrk measurement with the CPU time and RSS of the processes measured.
#
# A script sets `repo`, `keep`, `threads`, `connections` and `lua_script`, then sources this
# file; results land in the R_* arrays, keyed by the measurement's name.

log() { printf '[bench] %s\n' "$*" >&2; }
die() { printf '[bench] error: %s\n' "$*" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/switchboard-bench.XXXXXX")
started=()    # pids started by the script, stopped in reverse order

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
    local kids k
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

as_root() {
    if ((EUID == 0)); then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
        die "need root to run: $*"
    fi
}

need_packages() {  # need_packages COMMAND:PACKAGE...: installs the packages whose command is missing
    local pair missing=()
    for pair in "$@"; do
        command -v "${pair%%:*}" >/dev/null || [[ -x /usr/sbin/${pair%%:*} ]] || missing+=("${pair#*:}")
    done
    ((${#missing[@]})) || return 0
    log "installing ${missing[*]}"
    as_root apt-get update -qq >/dev/null
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

build_switchboard() {  # sets sb_bin: an optimised build of its own, brought up to date (nothing to do when current)
    log "building Switchboard (build-bench/, Release)"
    (cd "$repo" && bash scripts/build.sh build-bench -DCMAKE_BUILD_TYPE=Release -DSWITCHBOARD_BUILD_TESTS=OFF) >&2 ||
        die "build failed"
    sb_bin=$repo/build-bench/bin/switchboard
}

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
declare -A R_RPS R_P50 R_P99 R_CPU R_RSS R_ERR R_NOTE

run_wrk() {  # run_wrk OUTFILE DURATION URL
    BENCH_REPORT="$(dirname "${BASH_SOURCE[0]}")/report.lua" \
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

cpu_busy_pct() {  # share of all CPUs busy over one second, in percent
    local _c u1 n1 s1 i1 w1 q1 sq1 st1 u2 n2 s2 i2 w2 q2 sq2 st2 _r
    read -r _c u1 n1 s1 i1 w1 q1 sq1 st1 _r </proc/stat
    sleep 1
    read -r _c u2 n2 s2 i2 w2 q2 sq2 st2 _r </proc/stat
    local busy=$(((u2 + n2 + s2 + q2 + sq2 + st2) - (u1 + n1 + s1 + q1 + sq1 + st1)))
    local idle=$(((i2 + w2) - (i1 + w1)))
    echo $((100 * busy / (busy + idle > 0 ? busy + idle : 1)))
}

check_busy() {  # sets busy_at_start, and busy=1 when the CPUs were 20% busy or more
    busy_at_start=$(cpu_busy_pct)
    busy=0
    ((busy_at_start >= 20)) && busy=1
    ((busy)) && log "warning: the CPUs were ${busy_at_start}% busy before the run; figures will be noisy"
    return 0
}

fmt_ms() { awk -v u="$1" 'BEGIN { printf "%.2f ms", u / 1000 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 == 0) print "n/a"; else printf "%.2f", a / b }'; }
