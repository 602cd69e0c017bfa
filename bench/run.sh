#!/usr/bin/env bash
# Side-by-side benchmarks of the plugin against OpenBao's built-in engines,
# behind `make bench` (not part of `make test`). Writes bench/results.md and
# prints it.
#
# One real `bao server -dev` on a free loopback port, with the plugin at
# auth/ratls, kv version 1 at kv/ and the built-in totp engine at totp/, all
# driven by wrk (Debian's wrk 4.1.0, LuaJIT) with the same concurrency and
# duration: -c 1 and -c 16, keep-alive HTTP/1.1 connections on wrk's
# event-loop threads (-t: half the CPUs at most, so -t 1 on 2 CPUs; see
# load.py), bench/wrk/bench.lua making the requests (bodies, unique keys,
# ids, codes) and checking every answer, bench/wrk/load.py running wrk.
# Sides take turns round by round, each round starting one side later (ABC,
# BCA, CAB…) so that noise from other processes on the machine hits all of
# them; the report gives medians over rounds.
#
# What wrk cannot do, and what does it instead (this replaced the
# hand-written client bench/loadgen.rs):
# - a warm-up: a separate short wrk run before the measured one (load.py);
# - a run that ends when its ids are used or after N requests, and a
#   fractional duration: bench.lua's threads stop themselves with nothing in
#   flight, load.py then wakes wrk (SIGINT) from its sleep of -d;
# - CPU of other processes: load.py reads /proc/<pid>/stat of the plugin and
#   bao around the measured run, and wrk's own CPU from wait4(2);
# - percentiles of the measured latencies: wrk adds samples to its histogram
#   (coordinated-omission correction) before the script sees it; bench.lua
#   takes them out again (wrk's own are kept as wrk_p50_us/wrk_p99_us);
# - launching the plugin binary and timing its handshake: bench/handshake.rs
#   (`cargo --example handshake`);
# - one request on a fresh connection, timed (POST sys/auth/…), and a free
#   port pair: load.py request / free-port (Python's standard library).
#
# Also measured: the plugin's and bao's CPU per request (/proc/<pid>/stat
# around each measured window), the plugin's peak RSS (VmHWM), the stripped
# binary's size, start-to-handshake time over 20 launches with the host's
# environment, `bao auth enable` time, and the plugin RPCs each request makes
# (a second, short-lived server at -log-level=trace, plus strace when present).
#
# The floor side: bench/null_plugin.rs (`cargo --example null_plugin`), the
# same go-plugin/gRPC stack with a backend that answers at once and asks
# the host nothing, mounted at auth/floor and driven like ours. Its CPU per
# request is what any plugin on these crates costs the two processes for
# the host→plugin RPCs alone.
#
# Environment: BAO_BIN, PLUGIN_BIN, HANDSHAKE_BIN, NULL_PLUGIN_BIN, WRK_BIN (set by `make bench`);
# optional BENCH_DURATION (s, default 3; fractions allowed), BENCH_ROUNDS (3), BENCH_WARMUP (0.5),
# BENCH_CONCURRENCY ("1 16"), BENCH_KEEP=1 to keep the work directory,
# BENCH_RESULTS (default bench/results.md), PYTHON_BIN.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT="$PWD"
: "${BAO_BIN:?set BAO_BIN (make bench does)}"
: "${PLUGIN_BIN:?set PLUGIN_BIN (make bench does)}"
: "${HANDSHAKE_BIN:?set HANDSHAKE_BIN (make bench does)}"
: "${NULL_PLUGIN_BIN:?set NULL_PLUGIN_BIN (make bench does)}"
FLOOR_PLUGIN=bench-floor-plugin
WRK_BIN="${WRK_BIN:-wrk}"
command -v "$WRK_BIN" >/dev/null || { echo "bench: wrk not found (apt-get install wrk; make bench does)" >&2; exit 1; }
export WRK_BIN
DURATION="${BENCH_DURATION:-3}"
ROUNDS="${BENCH_ROUNDS:-3}"
WARMUP="${BENCH_WARMUP:-0.5}"
CONCURRENCY="${BENCH_CONCURRENCY:-1 16}"
RESULTS="${BENCH_RESULTS:-$ROOT/bench/results.md}"
PLUGIN=vault-plugin-auth-ratls
PYTHON="${PYTHON_BIN:-$(dirname "$BAO_BIN")/python3}"
[[ -x "$PYTHON" ]] || PYTHON=python3
LOAD=("$PYTHON" "$ROOT/bench/wrk/load.py")
START_TIME=$EPOCHREALTIME

# A short path: the plugin's and go-plugin's unix sockets live under TMPDIR.
WORK=$(mktemp -d /tmp/ratls-bench.XXXXXX)
mkdir -p "$WORK/ids" "$WORK/t" "$WORK/wrk"
RUNS="$WORK/runs.jsonl"
META="$WORK/meta.tsv"
: >"$RUNS"
: >"$META"

BAO_PID=""
STRACE_PID=""

log() { printf '[bench] %s\n' "$*" >&2; }

stop_server() {
  local pid="$BAO_PID"
  BAO_PID=""
  [[ -n "$pid" ]] || return 0
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
      log "bao server $pid ignored SIGTERM; killing it"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  local status=$?
  if [[ -n "$STRACE_PID" ]]; then kill "$STRACE_PID" 2>/dev/null || true; fi
  if [[ -n "$BAO_PID" && $status -ne 0 && -f "$WORK/server/server.log" ]]; then
    log "failed; last lines of the server log:"
    tail -n 30 "$WORK/server/server.log" >&2 || true
  fi
  stop_server
  if [[ "${BENCH_KEEP:-0}" == 1 || $status -ne 0 ]]; then
    log "work directory kept: $WORK"
  else
    rm -rf "$WORK"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# meta KEY VALUE: one fact for the report (a line "KEY<TAB>VALUE").
meta() { printf '%s\t%s\n' "$1" "${2//$'\n'/ }" >>"$META"; }

# ---------------------------------------------------------------- server

# start_server NAME LOG_LEVEL: a dev server in $WORK/NAME, plugin registered
# by sha256; sets ADDR, TOKEN, BAO_PID.
start_server() {
  local name=$1 level=$2 dir="$WORK/$1"
  mkdir -p "$dir/plugins" "$dir/home"
  cp "$PLUGIN_BIN" "$dir/plugins/$PLUGIN"
  printf 'plugin_directory = "%s"\n' "$dir/plugins" >"$dir/config.hcl"
  TOKEN="bench-$RANDOM$RANDOM"
  local port attempt
  for attempt in 1 2 3; do
    port=$("${LOAD[@]}" free-port)
    ADDR="127.0.0.1:$port"
    env -u BAO_ADDR -u BAO_TOKEN -u VAULT_ADDR -u VAULT_TOKEN -u BAO_NAMESPACE \
      -u VAULT_NAMESPACE -u http_proxy -u https_proxy -u HTTP_PROXY -u HTTPS_PROXY \
      HOME="$dir/home" TMPDIR="$WORK/t" \
      "$BAO_BIN" server -dev -dev-root-token-id="$TOKEN" -dev-listen-address="$ADDR" \
      -config="$dir/config.hcl" -log-level="$level" \
      </dev/null >"$dir/server.out" 2>"$dir/server.log" &
    BAO_PID=$!
    if wait_ready; then break; fi
    log "bao server did not start on $ADDR (attempt $attempt)"
    stop_server
    [[ $attempt == 3 ]] && { tail -n 30 "$dir/server.log" >&2; return 1; }
  done
  local sha
  sha=$(sha256sum "$dir/plugins/$PLUGIN" | cut -d' ' -f1)
  bao plugin register -sha256="$sha" auth "$PLUGIN" >/dev/null
  cp "$NULL_PLUGIN_BIN" "$dir/plugins/$FLOOR_PLUGIN"
  sha=$(sha256sum "$dir/plugins/$FLOOR_PLUGIN" | cut -d' ' -f1)
  bao plugin register -sha256="$sha" auth "$FLOOR_PLUGIN" >/dev/null
}

# Polls sys/health (bash's /dev/tcp: no curl needed) until 200.
wait_ready() {
  local host=${ADDR%:*} port=${ADDR##*:} line
  for _ in $(seq 300); do
    kill -0 "$BAO_PID" 2>/dev/null || return 1
    if { exec 3<>"/dev/tcp/$host/$port"; } 2>/dev/null; then
      printf 'GET /v1/sys/health HTTP/1.0\r\nHost: %s\r\n\r\n' "$ADDR" >&3
      IFS= read -r line <&3 || line=""
      exec 3>&- 3<&-
      [[ "$line" == *" 200 "* ]] && return 0
    fi
    sleep 0.1
  done
  return 1
}

bao() {
  env -u BAO_NAMESPACE -u VAULT_NAMESPACE BAO_ADDR="http://$ADDR" BAO_TOKEN="$TOKEN" \
    HOME="$WORK/server/home" "$BAO_BIN" "$@"
}

# The live plugin process(es) of the current server: children of bao whose
# executable is the plugin (or NAME).
plugin_pids() {
  local name=${1:-$PLUGIN} stat pid ppid rest
  for stat in /proc/[0-9]*/stat; do
    pid=${stat#/proc/}; pid=${pid%/stat}
    { rest=$(<"$stat"); } 2>/dev/null || continue
    rest=${rest##*) }
    ppid=$(cut -d' ' -f2 <<<"$rest")
    [[ "$ppid" == "$BAO_PID" ]] || continue
    [[ "$(readlink "/proc/$pid/exe" 2>/dev/null)" == */"$name" ]] && echo "$pid"
  done
  return 0
}

one_plugin_pid() {
  local pids
  pids=$(plugin_pids "$@")
  if [[ $(wc -w <<<"$pids") -ne 1 ]]; then
    log "expected one plugin process under bao $BAO_PID, found: ${pids:-none}"
    return 1
  fi
  echo "$pids"
}

# ---------------------------------------------------------------- load

# lg WORKLOAD SIDE CONCURRENCY ROUND [load.py run flags…]: one measured run
# (after its warm-up run), appended to runs.jsonl. load.py exits 1 on any
# failed request or unexpected answer: so do we.
lg() {
  local workload=$1 side=$2 conc=$3 round=$4
  shift 4
  local out
  if ! out=$("${LOAD[@]}" run --addr "$ADDR" --token "$TOKEN" --concurrency "$conc" \
    --duration "$DURATION" --warmup "$WARMUP" --tmpdir "$WORK/wrk" "$@"); then
    log "FAILED: $workload $side c=$conc round $round: ${out:-no output}"
    return 1
  fi
  printf '{"workload":"%s","side":"%s","concurrency":%s,"round":%s,"result":%s}\n' \
    "$workload" "$side" "$conc" "$round" "$out" >>"$RUNS"
  local rps p50 p99 client
  [[ $out =~ \"rps\":([0-9.]+) ]] && rps=${BASH_REMATCH[1]}
  [[ $out =~ \"p50_us\":([0-9]+) ]] && p50=${BASH_REMATCH[1]}
  [[ $out =~ \"p99_us\":([0-9]+) ]] && p99=${BASH_REMATCH[1]}
  [[ $out =~ \"cpu_us_per_req\":\{[^}]*\"wrk\":([0-9.]+) ]] && client=${BASH_REMATCH[1]}
  printf '[bench] %-7s c=%-3s r%s %-5s %9s rps  p50 %6s us  p99 %6s us  wrk %5s us/req\n' \
    "$workload" "$conc" "$round" "$side" "$rps" "$p50" "$p99" "$client" >&2
}

# rotate N a b c…: the sides in the order of round N (ABC, BCA, CAB, …).
rotate() {
  local n=$1
  shift
  local sides=("$@") i
  for ((i = 0; i < ${#sides[@]}; i++)); do
    printf '%s ' "${sides[$(((i + n) % ${#sides[@]}))]}"
  done
}

EXPIRATION=$(($(date +%s) + 7200))
# The same body for our create and for kv: kv stores it as-is.
CREATE_BODY="{\"policy\":\"bench\",\"expiration\":$EXPIRATION}"
TOTP_BODY='{"generate":true,"qr_size":0,"issuer":"Nitride","account_name":"bench"}'
VERIFY_POLICY=verify-bench

# Verify codes: every run sweeps its own range of six-digit codes (the
# ranges split 000000–999999 between the verify runs), because the built-in
# engine answers 400 to any code (even a wrong one) it has seen in the last
# 90 s; ours gets the same treatment. Nearly all codes are wrong
# (a rare right one answers valid:true, which is accepted on both sides).
CODE_RUN=0

run_side() {
  local workload=$1 side=$2 conc=$3 round=$4 tag="c${3}r${4}"
  set -- "$workload" "$side" "$conc" "$round"
  # Two sides check codes (the floor ignores them and reuses a range).
  local code_base=$((CODE_RUN * 1000000 / (2 * ROUNDS * $(wc -w <<<"$CONCURRENCY"))))
  [[ $workload == verify && $side != floor ]] && CODE_RUN=$((CODE_RUN + 1))
  local watch_ours=(--watch "plugin=$PLUGIN_PID" --watch "bao=$BAO_PID")
  local watch_floor=(--watch "plugin=$FLOOR_PID" --watch "bao=$BAO_PID")
  local watch_host=(--watch "bao=$BAO_PID")
  case "$workload/$side" in
    create/ours)
      lg "$@" "${watch_ours[@]}" --method PUT --path /v1/auth/ratls/totp --body "$CREATE_BODY" \
        --save "$WORK/ids/ours.$tag" --save-what uuid ;;
    create/floor)
      lg "$@" "${watch_floor[@]}" --method PUT --path /v1/auth/floor/totp --body "$CREATE_BODY" \
        --expect '"uuid":' ;;
    create/kv)
      lg "$@" "${watch_host[@]}" --method PUT --path '/v1/kv/bench/{key}' --key-prefix "$tag-" \
        --body "$CREATE_BODY" --save "$WORK/ids/kv.$tag" --save-what key ;;
    create/totp)
      lg "$@" "${watch_host[@]}" --method POST --path '/v1/totp/keys/{key}' --key-prefix "$tag-" \
        --body "$TOTP_BODY" --save "$WORK/ids/totp.$tag" --save-what key ;;
    read/ours)
      lg "$@" "${watch_ours[@]}" --method GET --path '/v1/auth/ratls/totp/{id}' \
        --ids "$WORK/ids/ours.all" --expect '"policy":"bench"' ;;
    read/floor)
      lg "$@" "${watch_floor[@]}" --method GET --path '/v1/auth/floor/totp/{id}' \
        --ids "$WORK/ids/ours.all" --expect '"policy":"bench"' ;;
    read/kv)
      lg "$@" "${watch_host[@]}" --method GET --path '/v1/kv/bench/{id}' \
        --ids "$WORK/ids/kv.all" --expect '"policy":"bench"' ;;
    verify/ours)
      # After 5 wrong codes the policy is locked out (v0.2.0): what a
      # guesser costs from then on is the 429 path.
      lg "$@" "${watch_ours[@]}" --method POST --path /v1/auth/ratls/totp/verify \
        --body "{\"policy\":\"$VERIFY_POLICY\",\"code\":\"{code}\"}" --code-base "$code_base" \
        --ok-status 429 ;;
    verify/floor)
      lg "$@" "${watch_floor[@]}" --method POST --path /v1/auth/floor/totp/verify \
        --body "{\"policy\":\"$VERIFY_POLICY\",\"code\":\"{code}\"}" --code-base "$code_base" \
        --expect '"valid":' ;;
    verify/totp)
      lg "$@" "${watch_host[@]}" --method POST --path "/v1/totp/code/$VERIFY_POLICY" \
        --body '{"code":"{code}"}' --code-base "$code_base" --expect '"valid":' ;;
    delete/floor)
      # Deletes nothing: any ids, as many requests as the other sides make.
      lg "$@" "${watch_floor[@]}" --method DELETE --path '/v1/auth/floor/totp/{id}' \
        --ids "$WORK/ids/ours.all" --requests "$DELETE_N" --warmup 0 --duration 600 \
        --expect '"deleted":true' ;;
    delete/ours | delete/kv | delete/totp)
      local path
      case $side in
        ours) path='/v1/auth/ratls/totp/{id}' ;;
        kv) path='/v1/kv/bench/{id}' ;;
        totp) path='/v1/totp/keys/{id}' ;;
      esac
      local watch=("${watch_host[@]}")
      [[ $side == ours ]] && watch=("${watch_ours[@]}")
      # A key can be deleted once: every delete run deletes the same number
      # of existing keys (DELETE_N, taken off the pool), however long that
      # takes, each once; no warm-up.
      head -n "$DELETE_N" "$WORK/ids/$side.left" >"$WORK/ids/$side.$tag.del"
      tail -n +"$((DELETE_N + 1))" "$WORK/ids/$side.left" >"$WORK/ids/$side.tmp"
      mv "$WORK/ids/$side.tmp" "$WORK/ids/$side.left"
      lg "$@" "${watch[@]}" --method DELETE --path "$path" --ids "$WORK/ids/$side.$tag.del" --once \
        --requests "$DELETE_N" --warmup 0 --duration 600
      local consumed=""
      [[ $(tail -n 1 "$RUNS") =~ \"consumed\":([0-9]+) ]] && consumed=${BASH_REMATCH[1]}
      [[ "$consumed" == "$DELETE_N" ]] || { log "delete $side deleted ${consumed:-?} of $DELETE_N keys"; return 1; } ;;
    *) log "unknown workload $workload/$side"; return 1 ;;
  esac
}

workload() {
  local name=$1
  shift
  local conc round side
  for conc in $CONCURRENCY; do
    for ((round = 1; round <= ROUNDS; round++)); do
      for side in $(rotate "$round" "$@"); do
        run_side "$name" "$side" "$conc" "$round"
      done
    done
  done
  # The plugin's memory so far: peak, and anonymous now.
  meta "rss_after_$name" "$(awk '/^VmHWM/ {h=$2} /^RssAnon/ {a=$2} END {printf "peak %.1f MiB, anonymous %.1f MiB", h/1024, a/1024}' "/proc/$PLUGIN_PID/status")"
}

# ---------------------------------------------------------------- 1. static facts

log "work directory $WORK"
meta date "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
meta machine "$(uname -srm), $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
meta loadavg "$(cut -d' ' -f1-3 /proc/loadavg)"
meta bao_version "$("$BAO_BIN" version 2>/dev/null | head -n 1)"
meta rustc "$(rustc -V 2>/dev/null || echo unknown)"
meta git "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- src Cargo.toml 2>/dev/null || echo ' (+uncommitted src changes)')"
meta settings "duration ${DURATION}s per run after a ${WARMUP}s warm-up run, $ROUNDS rounds, concurrency $CONCURRENCY"
meta client "$("$WRK_BIN" -v 2>&1 | head -n 1 | cut -d' ' -f1-3)"
meta binary_bytes "$(stat -c %s "$PLUGIN_BIN")"
strip -o "$WORK/stripped" "$PLUGIN_BIN" 2>/dev/null && meta stripped_bytes "$(stat -c %s "$WORK/stripped")"
meta binary_file "$(file -b "$PLUGIN_BIN" 2>/dev/null | cut -d, -f1,2,5- | cut -c1-120)"

log "start-to-handshake: 20 launches with the host's environment"
mkdir -p "$WORK/t/handshake"
meta handshake "$("$HANDSHAKE_BIN" --bin "$PLUGIN_BIN" --launches 20 --tmpdir "$WORK/t/handshake")"

# ---------------------------------------------------------------- 2. RPCs per request

# A separate server at -log-level=trace: the host logs every call it makes
# to the plugin. The plugin's calls to the host (storage, system view) are
# counted with strace as writev(2) calls on its sockets when strace works.
log "counting plugin RPCs per request (trace-level server)"
start_server count trace
bao auth enable -path=ratls "$PLUGIN" >/dev/null
bao write -format=json auth/ratls/totp policy="$VERIFY_POLICY" expiration="$EXPIRATION" >/dev/null
PLUGIN_PID=$(one_plugin_pid)
COUNT_N=20
: >"$WORK/counts.jsonl"
count_one() {
  local kind=$1
  shift
  local before after strace_file="$WORK/strace.$kind" sockets
  before=$(grep -c 'transport=gRPC.*status=finished' "$WORK/count/server.log" || true)
  STRACE_PID=""
  if [[ "${BENCH_STRACE:-1}" == 1 ]] && command -v strace >/dev/null; then
    strace -f -qq -e trace=writev,write,sendmsg,sendto -p "$PLUGIN_PID" -o "$strace_file" 2>/dev/null &
    STRACE_PID=$!
    sleep 0.7
  fi
  "${LOAD[@]}" run --addr "$ADDR" --token "$TOKEN" --concurrency 1 --warmup 0 --duration 60 \
    --requests "$COUNT_N" --tmpdir "$WORK/wrk" "$@" >"$WORK/count.$kind.json"
  sleep 0.5
  if [[ -n "$STRACE_PID" ]]; then
    kill "$STRACE_PID" 2>/dev/null || true
    wait "$STRACE_PID" 2>/dev/null || true
    STRACE_PID=""
  fi
  after=$(grep -c 'transport=gRPC.*status=finished' "$WORK/count/server.log" || true)
  local lines=$((after - before))
  local resolve existence handle
  resolve=$(tail -n "$lines" <(grep 'transport=gRPC.*status=finished' "$WORK/count/server.log") | grep -c 'handle request:.*err="unsupported operation"' || true)
  existence=$(tail -n "$lines" <(grep 'transport=gRPC.*status=finished' "$WORK/count/server.log") | grep -c 'handle existence check:' || true)
  handle=$((lines - resolve - existence))
  # Socket writes by fd (the plugin's fds that are sockets now).
  local fds=() fd writes="{}"
  if [[ -f "$strace_file" ]]; then
    for fd in /proc/"$PLUGIN_PID"/fd/*; do
      [[ "$(readlink "$fd" 2>/dev/null)" == socket:* ]] && fds+=("${fd##*/}")
    done
    writes="{"
    local first=1 n
    for fd in "${fds[@]}"; do
      n=$(grep -v 'resumed>' "$strace_file" | grep -cE "^[0-9]+ +(writev|write|sendmsg|sendto)\($fd," || true)
      [[ $n -gt 0 ]] || continue
      [[ $first == 1 ]] || writes+=","
      writes+="\"$fd\":$n"
      first=0
    done
    writes+="}"
  fi
  printf '{"kind":"%s","requests":%s,"host_to_plugin":{"resolve_path":%s,"existence_check":%s,"handle_request":%s},"socket_writes_by_fd":%s}\n' \
    "$kind" "$COUNT_N" "$resolve" "$existence" "$handle" "$writes" >>"$WORK/counts.jsonl"
}
count_one create --method PUT --path /v1/auth/ratls/totp --body "$CREATE_BODY" --save "$WORK/ids/count" --save-what uuid
count_one read --method GET --path '/v1/auth/ratls/totp/{id}' --ids "$WORK/ids/count"
# Counted wrong codes (v0.2.0 locks a policy out after max_failures): allow them.
bao write auth/ratls/config max_failures=1000 >/dev/null
count_one verify --method POST --path /v1/auth/ratls/totp/verify --body "{\"policy\":\"$VERIFY_POLICY\",\"code\":\"000000\"}" --expect '"valid":false'
count_one delete --method DELETE --path '/v1/auth/ratls/totp/{id}' --ids "$WORK/ids/count" --once
stop_server

# ---------------------------------------------------------------- 3. load

log "starting the benchmark server"
start_server server info
bao auth enable -path=ratls "$PLUGIN" >/dev/null
bao auth enable -path=floor "$FLOOR_PLUGIN" >/dev/null
bao secrets enable -version=1 kv >/dev/null
bao secrets enable totp >/dev/null
PLUGIN_PID=$(one_plugin_pid)
FLOOR_PID=$(one_plugin_pid "$FLOOR_PLUGIN")
meta plugin_pid "$PLUGIN_PID"
# The verify workload: one entry for its policy, one built-in key of the same name.
bao write -format=json auth/ratls/totp policy="$VERIFY_POLICY" expiration="$EXPIRATION" >/dev/null
bao write totp/keys/"$VERIFY_POLICY" generate=true qr_size=0 issuer=Nitride account_name=bench >/dev/null

workload create ours floor kv totp
for side in ours kv totp; do cat "$WORK"/ids/"$side".c* >"$WORK/ids/$side.all"; done
for side in ours kv totp; do cp "$WORK/ids/$side.all" "$WORK/ids/$side.left"; done
smallest=$(wc -l "$WORK"/ids/{ours,kv,totp}.all | sort -n | head -n 1 | awk '{print $1}')
DELETE_N=$((smallest / (ROUNDS * $(wc -w <<<"$CONCURRENCY"))))
if ((DELETE_N > ${BENCH_DELETE_MAX:-3000})); then DELETE_N=${BENCH_DELETE_MAX:-3000}; fi
if ((DELETE_N < 1)); then log "too few keys created to benchmark deletes"; exit 1; fi
meta pool_sizes "ours $(wc -l <"$WORK/ids/ours.all"), kv $(wc -l <"$WORK/ids/kv.all"), totp $(wc -l <"$WORK/ids/totp.all"); $DELETE_N deletes per delete run"
workload read ours floor kv
workload verify ours floor totp
workload delete ours floor kv totp

[[ "$(one_plugin_pid)" == "$PLUGIN_PID" ]] || { log "the plugin process changed during the run"; exit 1; }
[[ "$(one_plugin_pid "$FLOOR_PLUGIN")" == "$FLOOR_PID" ]] || { log "the floor plugin process changed during the run"; exit 1; }
meta rss "$(grep -E '^(VmHWM|VmRSS)' "/proc/$PLUGIN_PID/status" | tr -s ' \t' ' ' | paste -sd' ')"
meta rss_split "$(awk '/^Rss/ {r=$2} /^Anonymous/ {a=$2} END {printf "anonymous %d kB, file-backed (binary, libc) %d kB", a, r - a}' "/proc/$PLUGIN_PID/smaps_rollup")"
meta bao_rss "$(grep -E '^(VmHWM)' "/proc/$BAO_PID/status" | tr -s ' \t' ' ')"

# ---------------------------------------------------------------- 4. enable time

# `bao auth enable` of our plugin (launches a process, handshakes, Setup)
# against a built-in auth method (userpass), alternating; the HTTP call the
# CLI makes is timed by load.py (one request on a new connection), the whole
# CLI by the shell.
log "timing auth enable (5 cycles, ours vs userpass)"
: >"$WORK/enable.txt"
for i in 1 2 3 4 5; do
  for type in "$PLUGIN" userpass; do
    tag=$([[ $type == userpass ]] && echo up || echo ours)
    http=$("${LOAD[@]}" request --addr "$ADDR" --token "$TOKEN" \
      --method POST --path "/v1/sys/auth/e-$tag-$i" --body "{\"type\":\"$type\"}")
    [[ $http =~ \"us\":([0-9]+) ]] && echo "http $tag ${BASH_REMATCH[1]}" >>"$WORK/enable.txt"
    bao auth disable "e-$tag-$i" >/dev/null
    t0=$EPOCHREALTIME
    bao auth enable -path="c-$tag-$i" "$type" >/dev/null
    t1=$EPOCHREALTIME
    echo "cli $tag $(((${t1/./} - ${t0/./})))" >>"$WORK/enable.txt"
    bao auth disable "c-$tag-$i" >/dev/null
  done
done
stop_server

meta total_seconds "$(((${EPOCHREALTIME/./} - ${START_TIME/./}) / 1000000))"

# ---------------------------------------------------------------- 5. report

"$PYTHON" "$ROOT/bench/report.py" --work "$WORK" --criterion "$ROOT/target/criterion" \
  --analysis "$ROOT/bench/analysis.md" --out "$RESULTS"
