#!/usr/bin/env bash
# `make test`: every test, with those that wait minutes of real time (marker "realtime", the
# demo's rep calls past the 5-minute bucket) run beside the others on a stack of their own.
# They mostly sleep, so the suite takes about as long as the rest alone.
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
# Its own temporary folder: pytest's cleanup of old runs must not touch the other's.
"$python" -m pytest -m realtime --basetemp "$side_tmp/pytest" -p no:cacheprovider "$@" \
  >"$side_log" 2>&1 &
side=$!

"$python" -m pytest -m "not chaos and not realtime" "$@"
main=$?
wait "$side"
realtime=$?
# pytest exits 5 when no test was selected (e.g. a path without realtime tests): not a failure.
[ "$realtime" -eq 5 ] && realtime=0

echo
echo "=== tests that wait in real time (run beside the others) ==="
cat "$side_log"
exit $(( main != 0 ? main : realtime ))
