#!/usr/bin/env bash
# Profiles the plugin process under load with perf (cpu-clock sampling, so
# it works in VMs without hardware counters). Not part of `make bench`.
#
#   CARGO_TARGET_DIR=/tmp/tgt-prof CARGO_PROFILE_RELEASE_STRIP=false \
#     CARGO_PROFILE_RELEASE_DEBUG=line-tables-only cargo build --release
#   make wrk    # apt-get install wrk, when missing
#   BAO_BIN=.venv/bin/bao PLUGIN_BIN=/tmp/tgt-prof/release/vault-plugin-auth-ratls \
#     bench/profile.sh [create|read|verify] [concurrency]
#
# The load is wrk (bench/wrk/load.py and bench.lua, as in bench/run.sh): a
# 1 s warm-up run, then a measured run that outlasts the perf window.
#
# Also profiles the start-up (launch → handshake line) when WHAT=startup.
# Prints perf's top symbols (self and inclusive); keeps perf.data files in
# the printed work directory.
set -euo pipefail

cd "$(dirname "$0")/.."
: "${BAO_BIN:?}" "${PLUGIN_BIN:?}"
LOAD=(python3 "$PWD/bench/wrk/load.py")
WHAT=${1:-create}
CONC=${2:-16}
SECONDS_=${PROFILE_SECONDS:-6}
PERF=${PERF:-perf}
PLUGIN=vault-plugin-auth-ratls
WORK=$(mktemp -d /tmp/ratls-prof.XXXXXX)
BAO_PID=""
cleanup() {
  if [[ -n "$BAO_PID" ]]; then
    kill -TERM "$BAO_PID" 2>/dev/null || true
    wait "$BAO_PID" 2>/dev/null || true
  fi
  echo "work directory: $WORK" >&2
}
trap cleanup EXIT

# Self time grouped by the crate that appears first in each symbol.
by_crate() {
  "$PERF" report -i "$1" --no-children --sort dso,sym -g none --percent-limit 0 2>/dev/null |
    grep -v '^#' | grep '%' | python3 -c '
import re, sys
crates = ["vault_plugin_auth_ratls", "tonic", "h2", "hyper", "tower", "tokio", "rustls",
          "aws_lc", "prost", "serde_json", "serde", "regex", "tracing", "uuid", "totp_rs",
          "sha1", "hmac", "indexmap", "hashbrown", "bytes", "http", "base64", "time", "alloc", "core", "std"]
groups = {}
for line in sys.stdin:
    m = re.match(r"\s*([\d.]+)%\s+(\S+)\s+\[(.)\]\s+(.*)", line)
    if not m:
        continue
    pct, dso, kind, sym = float(m[1]), m[2], m[3], m[4]
    if kind == "k":
        g = "kernel"
    elif dso.startswith("libc"):
        g = "libc " + ("malloc/free" if re.search(r"malloc|free|_int_|tcache|consolidate|realloc", sym)
                       else "memcpy/memmove" if "mem" in sym else sym.split("@")[0])
    else:
        best = None
        for c in crates:
            i = sym.find(c + "::") if c not in ("aws_lc",) else sym.find(c)
            if i >= 0 and (best is None or i < best[0]):
                best = (i, c)
        g = best[1] if best else ("jent/aws-lc C" if "jent" in sym or "aws_lc" in sym else "other: " + sym[:40])
    groups[g] = groups.get(g, 0) + pct
for g, pct in sorted(groups.items(), key=lambda kv: -kv[1])[:25]:
    print(f"{pct:6.2f}%  {g}")
'
}

report() {
  echo "== self time by crate =="
  by_crate "$1"
  echo "== self (top 30) =="
  "$PERF" report -i "$1" --no-children --sort dso,sym -g none --percent-limit 0.7 2>/dev/null |
    grep -v '^#' | grep '%' | head -30
  echo "== inclusive (top 40) =="
  "$PERF" report -i "$1" --children --sort sym -g none --percent-limit 2 2>/dev/null |
    grep -v '^#' | grep '%' | head -40
}

if [[ "$WHAT" == startup ]]; then
  pem=$(openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-521 -nodes -subj /CN=localhost \
    -days 1 -keyout /dev/null 2>/dev/null)
  for i in 1 2 3 4 5; do
    env -i VAULT_BACKEND_PLUGIN=6669da05-b1c8-4f49-97d9-c8e5bed98e20 PLUGIN_PROTOCOL_VERSIONS=5 \
      PLUGIN_CLIENT_CERT="$pem" TMPDIR="$WORK" \
      "$PERF" record -q -e cpu-clock -F 4999 -g -o "$WORK/startup.$i.data" -- "$PLUGIN_BIN" \
      >"$WORK/line.$i" 2>/dev/null &
    pid=$!
    for _ in $(seq 100); do [[ -s "$WORK/line.$i" ]] && break; sleep 0.02; done
    pkill -P "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  report "$WORK/startup.1.data"
  exit 0
fi

mkdir -p "$WORK/plugins" "$WORK/home" "$WORK/t"
cp "$PLUGIN_BIN" "$WORK/plugins/$PLUGIN"
printf 'plugin_directory = "%s"\n' "$WORK/plugins" >"$WORK/config.hcl"
PORT=$("${LOAD[@]}" free-port)
ADDR=127.0.0.1:$PORT
TOKEN=prof-root
HOME="$WORK/home" TMPDIR="$WORK/t" "$BAO_BIN" server -dev -dev-root-token-id=$TOKEN \
  -dev-listen-address="$ADDR" -config="$WORK/config.hcl" -log-level=info \
  </dev/null >"$WORK/server.out" 2>"$WORK/server.log" &
BAO_PID=$!
export BAO_ADDR="http://$ADDR" BAO_TOKEN=$TOKEN HOME="$WORK/home"
for _ in $(seq 100); do "$BAO_BIN" status >/dev/null 2>&1 && break; sleep 0.2; done
"$BAO_BIN" plugin register -sha256="$(sha256sum "$WORK/plugins/$PLUGIN" | cut -d' ' -f1)" auth $PLUGIN >/dev/null
"$BAO_BIN" auth enable -path=ratls $PLUGIN >/dev/null
PID=$(pgrep -P "$BAO_PID" -f "plugins/$PLUGIN")
EXP=$(($(date +%s) + 3600))
case $WHAT in
  create) args=(--method PUT --path /v1/auth/ratls/totp --body "{\"policy\":\"bench\",\"expiration\":$EXP}") ;;
  read)
    "${LOAD[@]}" run --addr "$ADDR" --token $TOKEN --duration 1 --warmup 0 --concurrency 4 --method PUT \
      --path /v1/auth/ratls/totp --body "{\"policy\":\"bench\",\"expiration\":$EXP}" \
      --save "$WORK/ids" --save-what uuid --tmpdir "$WORK/t" >/dev/null
    args=(--method GET --path '/v1/auth/ratls/totp/{id}' --ids "$WORK/ids") ;;
  verify)
    "$BAO_BIN" write auth/ratls/totp policy=verify-bench expiration=$EXP >/dev/null
    # v0.2.0 locks the policy out after a few wrong codes: the 429 path.
    args=(--method POST --path /v1/auth/ratls/totp/verify --body '{"policy":"verify-bench","code":"000000"}'
      --ok-status 429) ;;
  *) echo "unknown workload $WHAT" >&2; exit 2 ;;
esac
"${LOAD[@]}" run --addr "$ADDR" --token $TOKEN --concurrency "$CONC" --warmup 1 \
  --duration "$((SECONDS_ + 2))" --watch "plugin=$PID" --watch "bao=$BAO_PID" --tmpdir "$WORK/t" \
  "${args[@]}" >"$WORK/load.json" &
LOAD=$!
sleep 1.5
"$PERF" record -q -e cpu-clock -F 999 -g -p "$PID" -o "$WORK/plugin.data" -- sleep "$SECONDS_" 2>/dev/null
wait "$LOAD"
cat "$WORK/load.json"
report "$WORK/plugin.data"
