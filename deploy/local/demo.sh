#!/usr/bin/env bash
# `make demo`: plays `leadloop demo` on the local stack. When the stack is not up, it is started
# here first and kept running afterwards for the dashboard, until Ctrl-C.
# Usage: deploy/local/demo.sh VENV_BIN [leadloop demo arguments...]
set -euo pipefail
bin=$1
shift
host=${LEADLOOP_STACK_HOST:-127.0.0.1}

ready() {  # every service answers /readyz?strict=true (database, Kafka and consumer up)
  "$bin/python" - "$host" <<'PY'
import sys, urllib.request
host = sys.argv[1]
try:
    for port in range(8001, 8006):
        urllib.request.urlopen(f"http://{host}:{port}/readyz?strict=true", timeout=2)
except Exception:
    sys.exit(1)
PY
}

stack=""
if ! ready; then
  mkdir -p .leadloop
  echo "Starting the local stack (log: .leadloop/demo-stack.log) ..."
  "$bin/python" -m leadloop_devstack run >.leadloop/demo-stack.log 2>&1 &
  stack=$!
  trap 'kill -INT "$stack" 2>/dev/null; wait "$stack" 2>/dev/null' EXIT
  deadline=$(( $(date +%s) + 300 ))
  until ready; do
    kill -0 "$stack" 2>/dev/null || { echo "the stack stopped; see .leadloop/demo-stack.log"; exit 1; }
    [ "$(date +%s)" -lt "$deadline" ] || { echo "the stack was not ready in 5 minutes"; exit 1; }
    sleep 1
  done
fi

"$bin/leadloop" demo "$@"
echo
echo "Dashboard: http://$host:8005/dashboard (sign in with LEADLOOP_DEV_ADMIN_KEY from .leadloop/dev-keys.env)"
if [ -n "$stack" ]; then
  echo "The stack keeps running for the dashboard; Ctrl-C stops it."
  wait "$stack"
fi
