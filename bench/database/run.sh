#!/usr/bin/env bash
# Database benchmark: rows/s through the `database` adapter on PostgreSQL 15, each beside a
# plain libpq loop (pg_raw.cpp) doing the same work on the same rows in the same run:
#
#   R1  pg_raw drain: cursor FOR UPDATE SKIP LOCKED, 500 rows, a JSON line each, UPDATE per row
#   S1  Switchboard: database inbound (batch 500, ack UPDATE) -> file (append)  target S1/R1 ≥ 0.5
#   R2  pg_raw insert: prepared INSERT, 64 rows per transaction
#   S2  Switchboard: wrk -> rest inbound -> database outbound (batch 64)        target S2/R2 ≥ 0.5
#   and, for information: psql \copy of the table to a file, and file -> table (F).
# R1, S1, R2 and S2 run --rounds times (R1 with S1, R2 with S2 alternating); the median round
# of each is reported.
#
# Usage: bash bench/database/run.sh [--rows 20000] [--rounds 3] [--duration 10s] [--warmup 2s]
#                                   [--bin PATH] [--keep]
# See README.md beside this file for what each line means.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)

rows=20000
rounds=3
duration=10s
warmup=2s
keep=0
sb_bin=""
threads=2
connections=64

usage() {
    sed -n '2,15p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
    echo "--rows N: rows in the table for R1/S1, rows inserted by R2, files for F"
    echo "--rounds N: runs of R1, S1, R2 and S2 (the median is reported)"
    echo "--duration/--warmup: each wrk run of S2 (one per round) and the one warm-up before them"
    echo "--bin PATH: measure this switchboard binary (its bin/plugins beside it) instead of building build-bench/"
}

source "$here/../args.sh"
parse_options rows=rows rounds=rounds duration=duration warmup=warmup bin=sb_bin -- "$@"
[[ $rows =~ ^[1-9][0-9]*$ ]] || { echo "run.sh: --rows must be a positive whole number" >&2; exit 2; }
[[ $rounds =~ ^[1-9][0-9]*$ ]] || { echo "run.sh: --rounds must be a positive whole number" >&2; exit 2; }

lua_script=$here/post.lua
# shellcheck source=bench/lib.sh
source "$here/../lib.sh"

# --------------------------------------------------------------------------------------
# Prerequisites
# --------------------------------------------------------------------------------------
pg_bin=/usr/lib/postgresql/15/bin
# need_packages installs a package when its command is missing from PATH: the server and the
# libpq header are not on PATH, so they are checked here and named by a placeholder command.
pkgs=(wrk:wrk curl:curl g++:g++ python3:python3)
[[ -x $pg_bin/postgres && -x $pg_bin/initdb ]] || pkgs+=(postgresql-15-server:postgresql-15)
[[ -x $pg_bin/psql ]] || pkgs+=(postgresql-15-psql:postgresql-client-15)
[[ -f /usr/include/postgresql/libpq-fe.h ]] || pkgs+=(libpq-fe.h:libpq-dev)
need_packages "${pkgs[@]}"
[[ -x $pg_bin/postgres && -x $pg_bin/initdb ]] || die "no PostgreSQL 15 server in $pg_bin after install"
psql_bin=$pg_bin/psql
[[ -x $psql_bin ]] || psql_bin=$(command -v psql) || die "psql not found after install"
command -v wrk >/dev/null || die "wrk not found after install"
if ((EUID == 0)); then
    getent passwd postgres >/dev/null || die "running as root and there is no 'postgres' account for initdb"
    as_pg=(runuser -u postgres --)
else
    as_pg=()
fi

if [[ -z $sb_bin ]]; then
    build_switchboard
fi
[[ -x $sb_bin ]] || die "no switchboard binary at $sb_bin"
for plugin in database file rest transforms; do
    [[ -e $(dirname "$sb_bin")/plugins/libswitchboard-$plugin.so ]] ||
        die "$(dirname "$sb_bin")/plugins has no libswitchboard-$plugin.so"
done

log "compiling pg_raw"
g++ -O2 -std=c++20 -o "$work/pg_raw" "$here/pg_raw.cpp" -I/usr/include/postgresql -lpq ||
    die "cannot compile pg_raw.cpp"

# --------------------------------------------------------------------------------------
# PostgreSQL: its own cluster in $work/pg, on a free port, stopped on exit
# --------------------------------------------------------------------------------------
pq() {  # pq PSQL-ARGS...: psql on the bench cluster, unaligned, stops at the first error
    PGCONNECT_TIMEOUT=5 PGCLIENTENCODING=UTF8 timeout 300 "$psql_bin" -X -h 127.0.0.1 -p "$p_pg" \
        -U postgres -d postgres -v ON_ERROR_STOP=1 -At -q "$@"
}

pg_cpu_ticks() {  # CPU (clock ticks) of the postmaster, its live children and the children it reaped
    local stat f kids
    stat=$(cat "/proc/$pm_pid/stat" 2>/dev/null) || { echo 0; return 0; }
    stat=${stat##*) }
    read -r -a f <<<"$stat"
    kids=$(cat "/proc/$pm_pid/task/$pm_pid/children" 2>/dev/null || true)
    # f[11..14] = utime stime cutime cstime
    # shellcheck disable=SC2086
    echo $((f[11] + f[12] + f[13] + f[14] + $(cpu_ticks $kids)))
}

pg_cpu_settled() {  # pg_cpu_ticks once the clients that just left are reaped: an exiting backend's
    # time shows nowhere until the postmaster has reaped it, so read until two readings agree
    local a b i
    a=$(pg_cpu_ticks)
    for ((i = 0; i < 15; i++)); do
        sleep 0.2
        b=$(pg_cpu_ticks)
        [[ $a == "$b" ]] && break
        a=$b
    done
    echo "$b"
}

start_postgres() {  # sets p_pg, pg_pid (our child) and pm_pid (the postmaster)
    local pgdir=$work/pg i
    chmod 711 "$work"   # the postgres account must reach $work/pg
    mkdir -p "$pgdir/sock"
    if ((EUID == 0)); then
        chown -R postgres:postgres "$pgdir"
        runuser -u postgres -- test -w "$pgdir" ||
            die "the postgres account cannot reach $pgdir (set TMPDIR to a directory it can traverse)"
    fi
    "${as_pg[@]}" "$pg_bin/initdb" -D "$pgdir/data" -A trust -U postgres -E UTF8 --locale=C --no-sync \
        >"$work/initdb.log" 2>&1 || { cat "$work/initdb.log" >&2; die "initdb failed"; }
    read -r p_pg <<<"$(free_ports 1)"
    # the settings of tests/integration/pgkit.py, plus commit timestamps: the end of a drain
    # is the commit time of its last acknowledgement, to the microsecond
    "${as_pg[@]}" "$pg_bin/postgres" -D "$pgdir/data" -c listen_addresses=127.0.0.1 -p "$p_pg" \
        -k "$pgdir/sock" -c fsync=off -c synchronous_commit=off -c full_page_writes=off \
        -c max_connections=100 -c log_min_messages=warning -c track_commit_timestamp=on \
        </dev/null >"$work/postgres.log" 2>&1 &
    pg_pid=$!
    started+=("$pg_pid")
    for ((i = 0; i < 300; i++)); do
        proc_alive "$pg_pid" || { cat "$work/postgres.log" >&2; die "postgres exited"; }
        [[ $(pq -c 'SELECT 1' 2>/dev/null || true) == 1 ]] && break
        sleep 0.1
    done
    ((i < 300)) || { cat "$work/postgres.log" >&2; die "postgres not accepting connections after 30 s"; }
    pm_pid=$(head -n1 "$pgdir/data/postmaster.pid")
    # as root pg_pid is runuser: stop the postmaster itself first
    [[ $pm_pid != "$pg_pid" ]] && started+=("$pm_pid")
    pg_url="postgresql://postgres@127.0.0.1:$p_pg/postgres?sslmode=disable"
}

stop_postgres() {  # fast shutdown (SIGINT), bounded; the bookkeeping's TERM/KILL otherwise
    local i
    kill -INT "$pm_pid" 2>/dev/null || true
    for ((i = 0; i < 200; i++)); do proc_alive "$pm_pid" || break; sleep 0.1; done
    stop_pid "$pm_pid"; forget_pid "$pm_pid"
    stop_pid "$pg_pid"; forget_pid "$pg_pid"
}

# ≈200-byte JSON text per order, different for every row
fill_orders() {
    pq <<SQL
TRUNCATE orders RESTART IDENTITY;
INSERT INTO orders(payload)
SELECT format('{"order":"ORD-%s","customer":{"id":"C-%s","name":"Acme Corp"},"currency":"EUR","channel":"web",'
              '"total":%s.%s,"lines":[{"sku":"SKU-%s","qty":%s,"note":"standard item, ships from warehouse EU-1"}]}',
              lpad(i::text, 8, '0'), lpad((i % 1000)::text, 4, '0'), 10 + i % 500, lpad((i % 100)::text, 2, '0'),
              lpad((i * 7 % 99991)::text, 5, '0'), 1 + i % 9)
FROM generate_series(1, $rows) AS i;
VACUUM ANALYZE orders;
CHECKPOINT;
SQL
}

reset_events() {
    pq <<SQL
TRUNCATE events RESTART IDENTITY;
VACUUM ANALYZE events;
CHECKPOINT;
SQL
}

commit_times() {  # commit_times TABLE: sets first_commit and last_commit (epoch seconds of the oldest and
    # newest row versions' commits) and after_first (rows committed after the first commit)
    IFS='|' read -r first_commit last_commit after_first <<<"$(pq <<SQL
WITH t AS (SELECT pg_xact_commit_timestamp(xmin) AS ts FROM $1)
SELECT extract(epoch FROM min(ts)), extract(epoch FROM max(ts)),
       count(*) FILTER (WHERE ts > (SELECT min(ts) FROM t)) FROM t;
SQL
)"
}

# One psql session answers the 0.2 s polls: a new connection per poll would cost PostgreSQL
# tens of milliseconds of CPU each on a small VM, taken from the bus being measured.
start_poller() {
    coproc POLLER { PGCONNECT_TIMEOUT=5 exec "$psql_bin" -X -h 127.0.0.1 -p "$p_pg" -U postgres -d postgres \
        -At -q -f - 2>>"$work/poller.log"; }
    # shellcheck disable=SC2153  # set by coproc
    poller_pid=$POLLER_PID
    started+=("$poller_pid")
    poll_in=${POLLER[1]}
    poll_out=${POLLER[0]}
    poll_seq=0
}

poll_query() {  # poll_query SQL: sets poll_value to the one value SQL returns ("?" if none within 5 s)
    local line
    poll_seq=$((poll_seq + 1))
    poll_value="?"
    printf 'SELECT %d, (%s);\n' "$poll_seq" "$1" >&"$poll_in" || return 0
    # numbered, so that a late answer to an earlier poll is never taken for this one
    while read -r -t 5 line <&"$poll_out"; do
        if [[ $line == "$poll_seq|"* ]]; then poll_value=${line#*|}; return 0; fi
    done
    return 0
}

# The same ≈200 characters posted by wrk (S2), inserted by pg_raw (R2), and written into the files (F).
payload="event ORD-2024-000123 customer C-0042 Acme Corp, 8 lines, EUR 304.50, ship from EU-1 standard; "
while ((${#payload} < 200)); do payload+="x"; done
export BENCH_PAYLOAD=$payload

# --------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------
declare -A D_RPS D_SEC D_CPU D_PGCPU D_RSS D_FAIL D_CHECK D_ROUNDS
problems=()
problem() { problems+=("$*"); log "problem: $*"; }

wait_count() {  # wait_count SQL TARGET BOUND_S PID: polls every 0.2 s until SQL returns ≥ TARGET
    local sql=$1 target=$2 bound=$3 pid=$4 prev=-1 start=$EPOCHSECONDS last_change=$EPOCHSECONDS
    while :; do
        poll_query "$sql"
        last_count=$poll_value
        [[ $last_count =~ ^[0-9]+$ ]] && ((last_count >= target)) && return 0
        proc_alive "$pid" || { wait_fail="the bus exited ($last_count of $target rows)"; return 1; }
        if [[ $last_count != "$prev" ]]; then prev=$last_count; last_change=$EPOCHSECONDS; fi
        if ((EPOCHSECONDS - last_change >= 15)); then
            wait_fail="no progress for 15 s, stuck at $last_count of $target rows"; return 1
        fi
        if ((EPOCHSECONDS - start >= bound)); then
            wait_fail="not done after ${bound} s ($last_count of $target rows)"; return 1
        fi
        sleep 0.2
    done
}

wait_stable() {  # wait_stable SQL: until two readings 0.5 s apart agree (bounded 15 s); prints the value
    local sql=$1 a b i
    a=$(pq -c "$sql")
    for ((i = 0; i < 30; i++)); do
        sleep 0.5
        b=$(pq -c "$sql")
        [[ $a == "$b" ]] && break
        a=$b
    done
    echo "$b"
}

start_bus() {  # start_bus NAME ROUTES ENV=VALUE...: sets sb_pid, sb_log, sampler_pid
    local name=$1 routes=$2; shift 2
    mkdir -p "$work/$name"
    sb_log=$work/$name/switchboard.log
    env "$@" BENCH_PG_URL="$pg_url" "$sb_bin" run --log-level warn --log-format text "$routes" \
        >"$sb_log" 2>&1 &
    sb_pid=$!
    started+=("$sb_pid")
    rss_sampler "$work/$name/rss.peak" "$sb_pid" &
    sampler_pid=$!
    started+=("$sampler_pid")
}

stop_bus() {  # stop_bus KEY: stops the bus and its sampler, records its peak RSS and logged errors
    local key=$1 dir
    dir=$(dirname "$sb_log")
    stop_pid "$sampler_pid"; forget_pid "$sampler_pid"
    [[ -s $dir/rss.peak ]] && D_RSS[$key]=$(awk -v k="$(<"$dir/rss.peak")" 'BEGIN { printf "%.1f MiB", k / 1024 }')
    stop_pid "$sb_pid"; forget_pid "$sb_pid"
    if grep -qE '^[^ ]+ (warn|warning|error|critical) ' "$sb_log"; then
        problem "$key: switchboard logged $(grep -cE '^[^ ]+ (warn|warning|error|critical) ' "$sb_log") warning/error line(s), first: $(grep -m1 -E '^[^ ]+ (warn|warning|error|critical) ' "$sb_log" | cut -c1-300)"
    fi
}

elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
per_row_us() { awk -v t="$1" -v hz="$clk_tck" -v r="$2" 'BEGIN { if (r == 0) print "-"; else printf "%.1f", t / hz * 1e6 / r }'; }
rate() { awk -v r="$1" -v s="$2" 'BEGIN { if (s + 0 == 0) print 0; else printf "%.0f", r / s }'; }

pgraw_field() {  # pgraw_field FILE NAME: a value of pg_raw's PGRAW line
    sed -n "s/^PGRAW .*\\b$2=\\([^ ]*\\).*/\\1/p" "$1"
}

first_batch() {  # first_batch T0 KEY: how long the first batch took and the rate after it, for the checks
    commit_times "$1"
    awk -v t0="$2" -v a="$first_commit" -v b="$last_commit" -v n="$after_first" 'BEGIN {
        printf "first batch committed %.3f s after the start; then %.0f rows/s", a - t0, (b > a ? n / (b - a) : 0) }'
}

check_lines() {  # check_lines FILE: "<lines> <distinct ids> <lines not JSON>"
    python3 - "$1" <<'PY'
import json, sys
ids, lines, bad = set(), 0, 0
with open(sys.argv[1], encoding="utf-8") as f:
    for line in f:
        lines += 1
        try:
            ids.add(json.loads(line)["id"])
        except Exception:
            bad += 1
print(lines, len(ids), bad)
PY
}

# --------------------------------------------------------------------------------------
# Run
# --------------------------------------------------------------------------------------
check_busy
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
start_postgres
start_poller
log "work dir $work; PostgreSQL on port $p_pg; $rows rows"
pq <<'SQL'
CREATE TABLE orders(id bigserial PRIMARY KEY, payload text, state text DEFAULT 'new');
CREATE TABLE events(id bigserial PRIMARY KEY, payload text);
SQL
bound=$((60 + rows / 200))   # seconds allowed for a drain or a file load (≥ 200 rows/s)

# ---- table -> file, and the insert reference: --rounds rounds, the median round reported --
# (rk, not k: lib.sh's stop_pid assigns a k of its caller's scope)
run_r1() {  # run_r1 ROUND
    local rk="R1#$1" dir=$work/r1-$1 c0 c1 t0 n l d b
    log "R1 round $1: pg_raw drain, batch 500"
    fill_orders
    mkdir -p "$dir"
    c0=$(pg_cpu_settled)
    t0=$EPOCHREALTIME
    "$work/pg_raw" drain "$pg_url" "$dir/orders.jsonl" 500 >"$dir/pg_raw.txt" 2>&1 ||
        { cat "$dir/pg_raw.txt" >&2; die "pg_raw drain failed"; }
    c1=$(pg_cpu_settled)
    n=$(pgraw_field "$dir/pg_raw.txt" rows)
    D_SEC[$rk]=$(pgraw_field "$dir/pg_raw.txt" seconds)
    D_RPS[$rk]=$(pgraw_field "$dir/pg_raw.txt" rows_per_s)
    D_CPU[$rk]=$(pgraw_field "$dir/pg_raw.txt" cpu_us_per_row)
    D_PGCPU[$rk]=$(per_row_us $((c1 - c0)) "$n")
    D_RSS[$rk]=$(awk -v k="$(pgraw_field "$dir/pg_raw.txt" maxrss_kib)" 'BEGIN { printf "%.1f MiB", k / 1024 }')
    ((n == rows)) || problem "$rk: pg_raw drained $n rows of $rows"
    read -r l d b <<<"$(check_lines "$dir/orders.jsonl")"
    D_CHECK[$rk]="$l lines, $d distinct ids, $b not JSON; $(first_batch orders "$t0")"
    ((l == rows && d == rows && b == 0)) || problem "$rk: the file has $l lines, $d distinct ids, $b lines not JSON"
}

run_s1() {  # run_s1 ROUND
    local rk="S1#$1" dir=$work/s1-$1 c0 c1 t0 ticks first="" l d b same sent
    log "S1 round $1: switchboard database -> file, batch 500, concurrency 4"
    fill_orders
    c0=$(pg_cpu_settled)
    t0=$EPOCHREALTIME
    start_bus "s1-$1" "$here/table_to_file.yaml" BENCH_OUT_DIR="$dir/out"
    if wait_count "SELECT count(*) FROM orders WHERE state = 'sent'" "$rows" "$bound" "$sb_pid"; then
        ticks=$(cpu_ticks "$sb_pid")
        c1=$(pg_cpu_ticks)
        commit_times orders
        D_SEC[$rk]=$(elapsed "$t0" "$last_commit")
        D_RPS[$rk]=$(rate "$rows" "${D_SEC[$rk]}")
        D_CPU[$rk]=$(per_row_us "$ticks" "$rows")
        D_PGCPU[$rk]=$(per_row_us $((c1 - c0)) "$rows")
        first=$(first_batch orders "$t0")
    else
        D_FAIL[S1]=$wait_fail
        problem "$rk: $wait_fail"
    fi
    stop_bus "$rk"
    if [[ -f $dir/out/orders.jsonl ]]; then
        read -r l d b <<<"$(check_lines "$dir/out/orders.jsonl")"
        same=no
        cmp -s <(sort "$work/r1-1/orders.jsonl") <(sort "$dir/out/orders.jsonl") && same=yes
        D_CHECK[$rk]="$l lines, $d distinct ids, $b not JSON; the same lines as R1's file: $same${first:+; $first}"
        ((l == rows && d == rows && b == 0)) || problem "$rk: the file has $l lines, $d distinct ids, $b lines not JSON (expected $rows)"
        [[ $same == yes ]] || problem "$rk: the file's lines differ from R1's (sorted)"
    else
        D_CHECK[$rk]="no output file"
        problem "$rk: no output file"
    fi
    sent=$(pq -c "SELECT count(*) FROM orders WHERE state = 'sent'")
    ((sent == rows)) || problem "$rk: $sent of $rows rows acknowledged after the bus stopped"
}

run_r2() {  # run_r2 ROUND
    local rk="R2#$1" dir=$work/r2-$1 c0 c1 n
    log "R2 round $1: pg_raw insert, 64 rows per transaction"
    reset_events
    mkdir -p "$dir"
    c0=$(pg_cpu_settled)
    "$work/pg_raw" insert "$pg_url" "$rows" "$payload" 64 >"$dir/pg_raw.txt" 2>&1 ||
        { cat "$dir/pg_raw.txt" >&2; die "pg_raw insert failed"; }
    c1=$(pg_cpu_settled)
    D_SEC[$rk]=$(pgraw_field "$dir/pg_raw.txt" seconds)
    D_RPS[$rk]=$(pgraw_field "$dir/pg_raw.txt" rows_per_s)
    D_CPU[$rk]=$(pgraw_field "$dir/pg_raw.txt" cpu_us_per_row)
    D_PGCPU[$rk]=$(per_row_us $((c1 - c0)) "$rows")
    D_RSS[$rk]=$(awk -v k="$(pgraw_field "$dir/pg_raw.txt" maxrss_kib)" 'BEGIN { printf "%.1f MiB", k / 1024 }')
    n=$(pq -c "SELECT count(*) FROM events")
    ((n == rows)) || problem "$rk: $n rows in events after inserting $rows"
}

pick_median() {  # pick_median KEY: the round with the median rows/s becomes KEY's figures
    local key=$1 i best list=() rates=()
    for ((i = 1; i <= rounds; i++)); do
        [[ -n ${D_RPS[$key#$i]:-} ]] && list+=("${D_RPS[$key#$i]} $i") && rates+=("${D_RPS[$key#$i]}")
    done
    ((${#list[@]})) || return 0
    best=$(printf '%s\n' "${list[@]}" | sort -n | sed -n "$(((${#list[@]} + 1) / 2))p" | cut -d' ' -f2)
    D_RPS[$key]=${D_RPS[$key#$best]}
    D_SEC[$key]=${D_SEC[$key#$best]}
    D_CPU[$key]=${D_CPU[$key#$best]}
    D_PGCPU[$key]=${D_PGCPU[$key#$best]}
    [[ -n ${D_RSS[$key#$best]:-} ]] && D_RSS[$key]=${D_RSS[$key#$best]}
    D_CHECK[$key]="round $best: ${D_CHECK[$key#$best]:-}"
    D_ROUNDS[$key]=$(printf '%s / ' "${rates[@]}")
    D_ROUNDS[$key]=${D_ROUNDS[$key]% / }
}

fill_orders
payload_bytes=$(pq -c "SELECT round(avg(octet_length(payload))) FROM orders")

log "copy: psql \\copy (SELECT id, payload FROM orders) TO file"
mkdir -p "$work/copy"
t0=$EPOCHREALTIME
pq -c "\\copy (SELECT id, payload FROM orders) TO '$work/copy/orders.txt'"
t1=$EPOCHREALTIME
n=$(wc -l <"$work/copy/orders.txt")
D_SEC[copy]=$(elapsed "$t0" "$t1")
D_RPS[copy]=$(rate "$n" "${D_SEC[copy]}")
((n == rows)) || problem "copy: $n lines for $rows rows"

# R1 and S1 alternate, so that a burst of load elsewhere hits both alike
for ((round = 1; round <= rounds; round++)); do
    run_r1 "$round"
    [[ -n ${D_FAIL[S1]:-} ]] || run_s1 "$round"
done
pick_median R1
pick_median S1

run_s2() {  # run_s2 ROUND: one wrk run against the running bus, into an emptied events table
    local rk="S2#$1" dir=$work/s2 line n0 n1 t0 t1 c0 c1 ok s2_rows
    log "S2 round $1: wrk -> switchboard rest -> database, batch 64, concurrency 64, $duration"
    reset_events
    n0=$(pq -c "SELECT count(*) FROM events")
    t0=$(cpu_ticks "$sb_pid")
    c0=$(pg_cpu_settled)
    run_wrk "$dir/wrk-$1.txt" "$duration" "$s2_url" || { cat "$dir/wrk-$1.txt" >&2; die "S2: wrk failed"; }
    t1=$(cpu_ticks "$sb_pid")
    c1=$(pg_cpu_ticks)
    n1=$(wait_stable "SELECT count(*) FROM events")
    line=$(grep -m1 '^BENCH ' "$dir/wrk-$1.txt") || { cat "$dir/wrk-$1.txt" >&2; die "S2: no summary from wrk"; }
    w_requests=0 w_duration_us=0 w_p50_us=0 w_p99_us=0 w_status_errors=0 w_connect=0 w_read=0 w_write=0 w_timeout=0
    eval "$(sed -e 's/^BENCH //' -e 's/\([a-z_0-9]*\)=/w_\1=/g' <<<"$line")"
    ok=$((w_requests - w_status_errors))
    s2_rows=$((n1 - n0))
    D_SEC[$rk]=$(awk -v d="$w_duration_us" 'BEGIN { printf "%.3f", d / 1e6 }')
    D_RPS[$rk]=$(rate "$s2_rows" "${D_SEC[$rk]}")
    D_CPU[$rk]=$(per_row_us $((t1 - t0)) "$s2_rows")
    D_PGCPU[$rk]=$(per_row_us $((c1 - c0)) "$s2_rows")
    # requests still in flight when wrk stopped are inserted but not counted by wrk
    D_CHECK[$rk]="$s2_rows rows for $ok 2xx responses (difference $((s2_rows - ok)); up to $connections in flight when wrk stopped); wrk: $(rate "$w_requests" "${D_SEC[$rk]}") req/s, p50 $(fmt_ms "$w_p50_us"), p99 $(fmt_ms "$w_p99_us"), $w_status_errors non-2xx, $((w_connect + w_read + w_write + w_timeout)) socket errors"
    ((s2_rows >= ok)) || problem "$rk: $((ok - s2_rows)) rows missing: $s2_rows rows for $ok 2xx responses"
    ((s2_rows - ok <= connections)) || problem "$rk: $((s2_rows - ok)) more rows than 2xx responses (more than the $connections in flight)"
    ((w_status_errors == 0)) || problem "$rk: $w_status_errors non-2xx responses"
    ((w_connect + w_read + w_write + w_timeout == 0)) ||
        problem "$rk: socket errors: connect $w_connect, read $w_read, write $w_write, timeout $w_timeout"
}

# R2 and S2 alternate against one running bus (idle while R2 runs)
read -r p_sb <<<"$(free_ports 1)"
s2_url="http://127.0.0.1:$p_sb/events"
start_bus s2 "$here/rest_to_table.yaml" BENCH_SB_PORT="$p_sb"
ready=0
for ((i = 0; i < 300; i++)); do
    proc_alive "$sb_pid" || break
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 -H 'Content-Type: application/json' \
        -d "{\"payload\":\"$payload\"}" "$s2_url" || true)
    [[ $code == 202 ]] && { ready=1; break; }
    sleep 0.1
done
if ((ready)); then
    log "S2: warm-up $warmup"
    run_wrk "$work/s2/wrk-warmup.txt" "$warmup" "$s2_url" || { cat "$work/s2/wrk-warmup.txt" >&2; die "S2: wrk warm-up failed"; }
    wait_stable "SELECT count(*) FROM events" >/dev/null
else
    D_FAIL[S2]="the bus did not answer 202 at $s2_url (last status: ${code:-none})"
    problem "S2: ${D_FAIL[S2]}"
fi
for ((round = 1; round <= rounds; round++)); do
    run_r2 "$round"
    [[ -n ${D_FAIL[S2]:-} ]] || run_s2 "$round"
done
stop_bus S2
pick_median R2
pick_median S2

log "F: switchboard file -> database, $rows files, batch 64, concurrency 64"
reset_events
mkdir -p "$work/f/in"
python3 - "$work/f/in" "$rows" "$payload" <<'PY'
import json, os, sys
d, n, payload = sys.argv[1], int(sys.argv[2]), sys.argv[3]
body = json.dumps({"payload": payload})
for i in range(1, n + 1):
    with open(os.path.join(d, "e-%07d.json" % i), "w") as f:
        f.write(body)
PY
c0=$(pg_cpu_settled)
t0=$EPOCHREALTIME
start_bus f "$here/file_to_table.yaml" BENCH_IN_DIR="$work/f/in"
if wait_count "SELECT count(*) FROM events" "$rows" "$bound" "$sb_pid"; then
    ticks=$(cpu_ticks "$sb_pid")
    c1=$(pg_cpu_ticks)
    commit_times events
    D_SEC[F]=$(elapsed "$t0" "$last_commit")
    D_RPS[F]=$(rate "$rows" "${D_SEC[F]}")
    D_CPU[F]=$(per_row_us "$ticks" "$rows")
    D_PGCPU[F]=$(per_row_us $((c1 - c0)) "$rows")
    # delivered files are deleted once their row is committed
    for ((i = 0; i < 50; i++)); do
        left=$(find "$work/f/in" -type f | wc -l)
        ((left == 0)) && break
        sleep 0.2
    done
else
    D_FAIL[F]=$wait_fail
    problem "F: $wait_fail"
fi
stop_bus F
left=$(find "$work/f/in" -type f | wc -l)
n=$(pq -c "SELECT count(*) FROM events")
D_CHECK[F]="$n rows for $rows files, $left file(s) left in the directory"
((n == rows)) || problem "F: $n rows in events for $rows files"
((left == 0)) || problem "F: $left file(s) left in $work/f/in (or its .processing/.failed)"

pg_version=$("$pg_bin/postgres" --version | sed 's/.*) //')
sb_version=$("$sb_bin" version 2>/dev/null | head -n1 || true)
load_end=$(cut -d' ' -f1-3 /proc/loadavg)
stop_pid "$poller_pid"; forget_pid "$poller_pid"
stop_postgres
# the bus's statements leave no error in the server's log (start-up probes aside)
pg_errors=$(grep -E '(ERROR|WARNING|FATAL|PANIC): ' "$work/postgres.log" | grep -cv 'the database system is starting up' || true)
((pg_errors == 0)) || problem "PostgreSQL logged $pg_errors error/warning line(s), first: $(grep -E '(ERROR|WARNING|FATAL|PANIC): ' "$work/postgres.log" | grep -v 'the database system is starting up' | head -n1 | cut -c1-300)"

# --------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------
verdict() {  # verdict VALUE TARGET
    awk -v v="$1" -v t="$2" 'BEGIN { if (v == "n/a") print ""; else if (v + 0 >= t) print "(target ≥ " t ": met)"; else print "(target ≥ " t ": NOT met)" }'
}

names=(
    [0]="R1 libpq drain loop (reference)"
    [1]="   psql \\copy TO file (floor)"
    [2]="S1 Switchboard table → file"
    [3]="R2 libpq insert loop (reference)"
    [4]="S2 Switchboard REST → table"
    [5]="F  Switchboard file → table"
)
keys=(R1 copy S1 R2 S2 F)

echo
echo "Database benchmark: PostgreSQL $pg_version (fsync=off), $rows rows of ≈${payload_bytes} B JSON text (R1/S1), ${#payload} B payload (R2/S2/F); $(nproc) cores"
echo "${sb_version:-switchboard} ($sb_bin); S2: wrk -t$threads -c$connections -d$duration (warm-up $warmup)"
echo "load average at start $load_start, at end $load_end"
((busy)) && echo "warning: the CPUs were ${busy_at_start}% busy before the run (something else was running)"
echo
printf '%-34s %9s %9s %12s %12s  %s\n' "setup" "rows/s" "seconds" "CPU µs/row" "PG µs/row" "RSS peak"
printf '%-34s %9s %9s %12s %12s  %s\n' "----------------------------------" "---------" "---------" "------------" "------------" "--------"
for i in "${!keys[@]}"; do
    k=${keys[$i]}
    if [[ -n ${D_FAIL[$k]:-} ]]; then
        printf '%-34s %s\n' "${names[$i]}" "FAILED: ${D_FAIL[$k]}"
        continue
    fi
    printf '%-34s %9s %9s %12s %12s  %s\n' "${names[$i]}" "${D_RPS[$k]:--}" "${D_SEC[$k]:--}" \
        "${D_CPU[$k]:--}" "${D_PGCPU[$k]:--}" "${D_RSS[$k]:--}"
done
echo
echo "CPU µs/row: pg_raw (R) or the switchboard process (S, F); PG µs/row: every PostgreSQL process."
echo "R1, S1, R2, S2: the median of $rounds round(s); rows/s of each round:"
for k in R1 S1 R2 S2; do
    [[ -n ${D_ROUNDS[$k]:-} ]] && printf '  %-3s %s\n' "$k" "${D_ROUNDS[$k]}"
done
echo
echo "checks:"
for k in R1 S1 S2 F; do
    [[ -n ${D_CHECK[$k]:-} ]] && printf '  %-3s %s\n' "$k" "${D_CHECK[$k]}"
done
echo
s1r1=n/a; s2r2=n/a
[[ -n ${D_RPS[S1]:-} ]] && s1r1=$(ratio "${D_RPS[S1]}" "${D_RPS[R1]}")
[[ -n ${D_RPS[S2]:-} ]] && s2r2=$(ratio "${D_RPS[S2]}" "${D_RPS[R2]}")
echo "ratios:"
printf '  %-30s %s %s\n' "S1/R1 rows/s" "$s1r1" "$(verdict "$s1r1" 0.5)"
printf '  %-30s %s %s\n' "S2/R2 rows/s" "$s2r2" "$(verdict "$s2r2" 0.5)"
if [[ -n ${D_RPS[S1]:-} ]]; then
    printf '  %-30s %s\n' "S1/copy rows/s" "$(ratio "${D_RPS[S1]}" "${D_RPS[copy]}")"
    printf '  %-30s %s\n' "S1/R1 client CPU per row" "$(ratio "${D_CPU[S1]}" "${D_CPU[R1]}")"
    printf '  %-30s %s\n' "S1/R1 PostgreSQL CPU per row" "$(ratio "${D_PGCPU[S1]}" "${D_PGCPU[R1]}")"
fi
if [[ -n ${D_RPS[S2]:-} ]]; then
    printf '  %-30s %s\n' "S2/R2 client CPU per row" "$(ratio "${D_CPU[S2]}" "${D_CPU[R2]}")"
    printf '  %-30s %s\n' "S2/R2 PostgreSQL CPU per row" "$(ratio "${D_PGCPU[S2]}" "${D_PGCPU[R2]}")"
fi
[[ -n ${D_RPS[F]:-} ]] && printf '  %-30s %s\n' "F/R2 rows/s" "$(ratio "${D_RPS[F]}" "${D_RPS[R2]}")"
echo
if ((${#problems[@]})); then
    echo "problems:"
    printf '  - %s\n' "${problems[@]}"
else
    echo "problems: none (every row arrived once, no error logged, every response 2xx)"
fi
((keep)) && echo && echo "logs, outputs and the PostgreSQL cluster: $work"
((${#problems[@]} == 0))
