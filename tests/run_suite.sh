#!/usr/bin/env bash
# `make test`: every test, with those that wait minutes of real time (marker "realtime", the
# demo's rep calls past the 5-minute bucket) run beside the others on a stack of their own.
# They mostly sleep, so the suite takes about as long as the rest alone. With no pytest args,
# the integration tests (on that lane's stack) and then the unit tests (pure logic) run in
# that lane too: they use the CPU the sleeping leaves, instead of adding their minutes to the
# end-to-end lane. Every test in tests/e2e is marked e2e, which is how the lanes split them.
# Usage: tests/run_suite.sh PYTHON [pytest args...]
set -uo pipefail
python=$1
shift

# On a Kafka and PostgreSQL given from outside, two stacks would share databases and topics:
# one run, one after the other.
if [ -n "${KAFKA_BOOTSTRAP_SERVERS:-}" ] || [ -n "${DATABASE_URL:-}" ]; then
  exec "$python" -m pytest "$@"
fi

side_log=$(mktemp)
side_tmp=$(mktemp -d)
trap 'rm -rf "$side_log" "$side_tmp"' EXIT
unit_lane=$([ "$#" -eq 0 ] && echo yes || echo no)

side_lane() {
  # Its own temporary folder: pytest's cleanup of old runs must not touch the other's.
  if [ "$unit_lane" = yes ]; then
    "$python" -m pytest tests/e2e tests/integration -m "not chaos and (realtime or not e2e)" \
      --basetemp "$side_tmp/pytest" -p no:cacheprovider
  else
    "$python" -m pytest -m realtime --basetemp "$side_tmp/pytest" -p no:cacheprovider "$@"
  fi
  local on_stack=$?
  # pytest exits 5 when no test was selected (e.g. a path without realtime tests): not a failure.
  [ "$on_stack" -eq 5 ] && on_stack=0
  [ "$unit_lane" = no ] && return "$on_stack"
  echo
  echo "=== unit tests (run beside the others) ==="
  "$python" -m pytest tests/unit -m "not chaos and not realtime" \
    --basetemp "$side_tmp/pytest-unit" -p no:cacheprovider
  local unit=$?
  return $(( on_stack != 0 ? on_stack : unit ))
}
side_lane "$@" >"$side_log" 2>&1 &
side=$!

if [ "$unit_lane" = yes ]; then
  "$python" -m pytest tests/e2e -m "not chaos and not realtime and e2e"
else
  "$python" -m pytest -m "not chaos and not realtime" "$@"
fi
main=$?
wait "$side"
beside=$?

echo
echo "=== tests that wait in real time, then integration and unit tests (run beside the others) ==="
cat "$side_log"
exit $(( main != 0 ? main : beside ))
