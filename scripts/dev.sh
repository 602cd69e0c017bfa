#!/usr/bin/env bash
# Starts an OpenBao dev server on loopback with the plugin registered by
# sha256 under its version (one file per version, as the README's upgrade
# procedure wants) and enabled at auth/ratls at that version, then leaves it
# running in the background.
# `scripts/dev.sh stop` stops it. Called by `make dev` / `make dev-stop`.
set -euo pipefail

cd "$(dirname "$0")/.."
DEV_DIR="$PWD/.dev"
PORT="${DEV_PORT:-8200}"
TOKEN="${DEV_TOKEN:-root}"
PID_FILE="$DEV_DIR/bao.pid"

stop() {
  if [[ -f "$PID_FILE" ]]; then
    local pid
    pid=$(cat "$PID_FILE")
    if kill -0 "$pid" 2>/dev/null; then
      kill -INT "$pid"
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
      echo "Stopped the OpenBao dev server (pid $pid)."
    fi
    rm -f "$PID_FILE"
  fi
}

if [[ "${1:-}" == "stop" ]]; then
  stop
  exit 0
fi

: "${BAO_BIN:?set BAO_BIN (make dev does)}"
: "${PLUGIN_BIN:?set PLUGIN_BIN (make dev does)}"
stop
mkdir -p "$DEV_DIR/plugins"
# The version the binary reports, as its Cargo.toml says.
VERSION="v$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)"
PLUGIN_FILE="vault-plugin-auth-ratls-$VERSION"
cp "$PLUGIN_BIN" "$DEV_DIR/plugins/$PLUGIN_FILE"
cat > "$DEV_DIR/config.hcl" <<HCL
plugin_directory = "$DEV_DIR/plugins"
HCL

export BAO_ADDR="http://127.0.0.1:$PORT"
export BAO_TOKEN="$TOKEN"
nohup "$BAO_BIN" server -dev -dev-root-token-id="$TOKEN" \
  -dev-listen-address="127.0.0.1:$PORT" -config="$DEV_DIR/config.hcl" \
  >"$DEV_DIR/bao.log" 2>&1 &
echo $! >"$PID_FILE"

for _ in $(seq 100); do
  "$BAO_BIN" status >/dev/null 2>&1 && break
  sleep 0.1
done
"$BAO_BIN" status >/dev/null || { echo "OpenBao did not start; see $DEV_DIR/bao.log" >&2; exit 1; }

SHA256=$(sha256sum "$DEV_DIR/plugins/$PLUGIN_FILE" | cut -d' ' -f1)
"$BAO_BIN" plugin register -sha256="$SHA256" -version="$VERSION" \
  -command="$PLUGIN_FILE" auth vault-plugin-auth-ratls
"$BAO_BIN" auth enable -path=ratls -plugin-version="$VERSION" vault-plugin-auth-ratls

cat <<INFO

OpenBao dev server is running (pid $(cat "$PID_FILE"), log: .dev/bao.log).

    export BAO_ADDR=$BAO_ADDR
    export BAO_TOKEN=$TOKEN
    export PATH="$(dirname "$BAO_BIN"):\$PATH"

Try it:

    bao write auth/ratls/totp policy=my-policy expiration=\$(( \$(date +%s) + 3600 ))
    bao list -detailed auth/ratls/totp
    bao read auth/ratls/totp/accessor/<accessor>
    bao read auth/ratls/totp/accessor/<accessor>/code
    bao write auth/ratls/totp/lookup uuid=<uuid>
    bao write auth/ratls/totp/verify policy=my-policy code=<code>
    bao write auth/ratls/totp/redeem uuid=<uuid> policy=my-policy
    bao delete auth/ratls/totp/<uuid>

Stop it with: make dev-stop
INFO
