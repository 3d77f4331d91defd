#!/usr/bin/env bash
# `make demo`: plays `leadloop demo` on the local stack. When the stack is not up, it is started
# here first and kept running afterwards for the dashboard, until Ctrl-C.
# Usage: deploy/local/demo.sh VENV_BIN [leadloop demo arguments...]
set -euo pipefail
bin=$1
shift
# Where the stack's services listen: its own settings (LEADLOOP_STACK_HOST, LEADLOOP_STACK_PORTS).
read -r host capture handoff outcomes all_ports < <("$bin/python" -c '
from leadloop_devstack.config import StackSettings
s = StackSettings()
print(s.host, s.ports["capture"], s.ports["handoff"], s.ports["outcomes"],
      ",".join(str(p) for p in s.ports.values()))')

ready() {  # every service answers /readyz?strict=true (database, Kafka and consumer up)
  "$bin/python" - "$host" "$all_ports" <<'PY'
import sys, urllib.request
host, ports = sys.argv[1], sys.argv[2].split(",")
try:
    for port in ports:
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

"$bin/leadloop" demo --capture-url "http://$host:$capture" --handoff-url "http://$host:$handoff" \
  --outcomes-url "http://$host:$outcomes" "$@"
echo
echo "Dashboard: http://$host:$outcomes/dashboard (sign in with LEADLOOP_DEV_ADMIN_KEY from .leadloop/dev-keys.env)"
if [ -n "$stack" ]; then
  echo "The stack keeps running for the dashboard; Ctrl-C stops it."
  wait "$stack"
fi
