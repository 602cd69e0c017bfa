#!/usr/bin/env bash
# A/B of two plugin builds (or one build with two environments) in ONE bao
# server: A at auth/a, B at auth/b, driven alternately (ABAB…) by wrk with
# the same settings (bench/wrk/load.py and bench.lua, as in bench/run.sh:
# a warm-up run, then the measured run). For judging a src
# change by its measured effect; not part of `make bench`.
#
#   make wrk    # apt-get install wrk, when missing
#   BAO_BIN=.venv/bin/bao bench/ab.sh /path/to/plugin-a /path/to/plugin-b [create read verify delete]
#
# Optional: A_ENV / B_ENV (one KEY=VALUE for the plugin's environment, set in
# the catalog entry),
# AB_ROUNDS (4), AB_DURATION (3 s), AB_CONCURRENCY ("16"), AB_VERIFY_ENTRIES
# (1: live entries of the policy that verify checks, each code against all),
# AB_RESET_LOCKOUTS=1 (v0.2.0+: max_failures=1000 and the verify policy's
# lockout cleared before each verify run, to measure the counted wrong-code
# path rather than the locked one; keep AB_DURATION × rate under 1000).
# WRK_BIN (default: wrk on PATH), AB_KEEP=1 to keep the work directory.
# Prints one line per run and a summary: median req/s, p50, p99 and pooled
# plugin/bao/wrk CPU per request for each side. Any unexpected answer fails.
set -euo pipefail

cd "$(dirname "$0")/.."
: "${BAO_BIN:?}"
LOAD=(python3 "$PWD/bench/wrk/load.py")
command -v "${WRK_BIN:-wrk}" >/dev/null || { echo "ab.sh: wrk not found (make wrk)" >&2; exit 1; }
A_BIN=${1:?plugin A}
B_BIN=${2:?plugin B}
shift 2
if [[ $# -gt 0 ]]; then WORKLOADS=("$@"); else WORKLOADS=(create read verify); fi
ROUNDS=${AB_ROUNDS:-4}
DURATION=${AB_DURATION:-3}
CONCURRENCY=${AB_CONCURRENCY:-16}
WORK=$(mktemp -d /tmp/ratls-ab.XXXXXX)
BAO_PID=""
cleanup() {
  if [[ -n "$BAO_PID" ]]; then
    kill -TERM "$BAO_PID" 2>/dev/null || true
    wait "$BAO_PID" 2>/dev/null || true
  fi
  if [[ "${AB_KEEP:-0}" == 1 ]]; then echo "work directory: $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

mkdir -p "$WORK/plugins" "$WORK/home" "$WORK/t"
cp "$A_BIN" "$WORK/plugins/ratls-a"
cp "$B_BIN" "$WORK/plugins/ratls-b"
printf 'plugin_directory = "%s"\n' "$WORK/plugins" >"$WORK/config.hcl"
PORT=$("${LOAD[@]}" free-port)
ADDR=127.0.0.1:$PORT
TOKEN=ab-root
HOME="$WORK/home" TMPDIR="$WORK/t" "$BAO_BIN" server -dev -dev-root-token-id=$TOKEN \
  -dev-listen-address="$ADDR" -config="$WORK/config.hcl" -log-level=info \
  </dev/null >"$WORK/server.out" 2>"$WORK/server.log" &
BAO_PID=$!
export BAO_ADDR="http://$ADDR" BAO_TOKEN=$TOKEN HOME="$WORK/home"
for _ in $(seq 100); do "$BAO_BIN" status >/dev/null 2>&1 && break; sleep 0.2; done
EXP=$(($(date +%s) + 7200))
declare -A PID
for side in a b; do
  env_var=$([[ $side == a ]] && echo "${A_ENV:-}" || echo "${B_ENV:-}")
  env_args=()
  [[ -n "$env_var" ]] && env_args=("env=$env_var")
  # The catalog API, not `bao plugin register`: OpenBao 2.7's CLI has no -env.
  "$BAO_BIN" write "sys/plugins/catalog/auth/ratls-$side" command="ratls-$side" \
    sha256="$(sha256sum "$WORK/plugins/ratls-$side" | cut -d' ' -f1)" "${env_args[@]}" >/dev/null
  "$BAO_BIN" auth enable -path="$side" "ratls-$side" >/dev/null
  PID[$side]=$(pgrep -P "$BAO_PID" -f "plugins/ratls-$side")
  if [[ "${AB_RESET_LOCKOUTS:-0}" == 1 ]]; then
    "$BAO_BIN" write "auth/$side/config" max_failures=1000 >/dev/null 2>&1 || true
  fi
  for ((k = 0; k < ${AB_VERIFY_ENTRIES:-1}; k++)); do
    "$BAO_BIN" write "auth/$side/totp" policy=verify-bench expiration=$EXP >/dev/null
  done
  "${LOAD[@]}" run --addr "$ADDR" --token $TOKEN --duration 2 --warmup 0 --concurrency 4 --method PUT \
    --path "/v1/auth/$side/totp" --body "{\"policy\":\"bench\",\"expiration\":$EXP}" \
    --save "$WORK/ids.$side" --save-what uuid --tmpdir "$WORK/t" >/dev/null
done

: >"$WORK/runs.jsonl"
for workload in "${WORKLOADS[@]}"; do
  for ((round = 1; round <= ROUNDS; round++)); do
    order="a b"
    ((round % 2 == 0)) && order="b a"
    for side in $order; do
      warmup=0.5
      case $workload in
        create) args=(--method PUT --path "/v1/auth/$side/totp" --body "{\"policy\":\"bench\",\"expiration\":$EXP}" --save "$WORK/new.$side.$round" --save-what uuid) ;;
        read) args=(--method GET --path "/v1/auth/$side/totp/{id}" --ids "$WORK/ids.$side") ;;
        verify)
          args=(--method POST --path "/v1/auth/$side/totp/verify" --body '{"policy":"verify-bench","code":"000000"}')
          if [[ "${AB_RESET_LOCKOUTS:-0}" == 1 ]]; then
            "$BAO_BIN" delete "auth/$side/lockouts/policy/verify-bench" >/dev/null 2>&1 || true
            args+=(--expect '"valid":false')
          else
            # v0.2.0+ locks the policy out after a few wrong codes: 429s.
            args+=(--ok-status 429)
          fi ;;
        # Each uuid this round's create made, once, no warm-up (until they run out or AB_DURATION).
        delete) args=(--method DELETE --path "/v1/auth/$side/totp/{id}" --ids "$WORK/new.$side.$round" --once)
          warmup=0 ;;
        *) echo "unknown workload $workload" >&2; exit 2 ;;
      esac
      out=$("${LOAD[@]}" run --addr "$ADDR" --token $TOKEN --concurrency "$CONCURRENCY" \
        --duration "$DURATION" --warmup "$warmup" --watch "plugin=${PID[$side]}" --watch "bao=$BAO_PID" \
        --tmpdir "$WORK/t" "${args[@]}")
      echo "{\"workload\":\"$workload\",\"side\":\"$side\",\"round\":$round,\"r\":$out}" >>"$WORK/runs.jsonl"
      echo "$workload $side r$round: $out" | cut -c1-160 >&2
    done
  done
done

for side in a b; do
  echo "$side: $(grep -E '^(VmHWM|VmRSS)' "/proc/${PID[$side]}/status" | tr -s ' \t' ' ' | paste -sd' ')" \
    "($(awk '/^Anonymous/ {a=$2} /^Rss/ {r=$2} END {print "anonymous " a " kB of rss " r " kB"}' "/proc/${PID[$side]}/smaps_rollup"))"
done
python3 - "$WORK/runs.jsonl" <<'PY'
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1])]
print(f"{'workload':8} {'side':4} {'req/s':>8} {'p50 µs':>8} {'p99 µs':>8} {'plugin µs/req':>14} {'bao µs/req':>11} {'wrk µs/req':>11}")
for w in dict.fromkeys(r["workload"] for r in runs):
    for s in ("a", "b"):
        rs = [r["r"] for r in runs if r["workload"] == w and r["side"] == s]
        n = sum(r["requests"] for r in rs)
        cpu = lambda who: sum(r["cpu_us"][who] for r in rs) / n
        print(f"{w:8} {s:4} {statistics.median(r['rps'] for r in rs):8.0f} "
              f"{statistics.median(r['p50_us'] for r in rs):8.0f} {statistics.median(r['p99_us'] for r in rs):8.0f} "
              f"{cpu('plugin'):14.1f} {cpu('bao'):11.1f} {cpu('wrk'):11.1f}")
PY
