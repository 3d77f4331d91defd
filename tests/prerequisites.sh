#!/usr/bin/env bash
# What the tests (and make bench) need beyond Python, checked before `make test` installs or runs anything, so a
# machine without them fails in seconds (not after twelve minutes of tests) and says what to
# install. Usage: tests/prerequisites.sh [java maven chromium go wrk ...]  (default: all four)
set -uo pipefail
wanted=("$@")
[ ${#wanted[@]} -eq 0 ] && wanted=(java maven chromium go)
chromium=${LEADLOOP_CHROMIUM:-/usr/bin/chromium}
missing=()

for what in "${wanted[@]}"; do
  case $what in
    java)
      # The local Kafka broker needs Java 17 or newer.
      version=$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1)
      if [ -z "$version" ] || [ "$version" -lt 17 ]; then
        missing+=("Java 17+ (the local Kafka broker; found: ${version:-none}): apt-get install openjdk-17-jre-headless")
      fi ;;
    maven)
      command -v mvn >/dev/null || missing+=("Maven (fetches the Kafka broker's jars): apt-get install maven") ;;
    chromium)
      # The browser tests drive this Chromium with Playwright; `playwright install` is not used.
      [ -x "$chromium" ] || missing+=("Chromium at $chromium (the browser tests): apt-get install chromium") ;;
    wrk)
      # make bench loads capture with wrk (bench/wrk.py): a C client costs little of the cores.
      command -v wrk >/dev/null || missing+=("wrk (make bench's HTTP load generator): apt-get install wrk") ;;
    go)
      # The deploy tests build two small Go programs (deploy/compose/validate, deploy/k8s/render).
      command -v go >/dev/null || missing+=("Go 1.21+ (the deploy tests' validators; it fetches the toolchain their go.mod names): apt-get install golang-go") ;;
    *) echo "unknown prerequisite: $what" >&2; exit 2 ;;
  esac
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "This needs what the machine lacks:" >&2
  printf '  - %s\n' "${missing[@]}" >&2
  echo "(.ci/run installs what the tests need when it is missing; make bench's wrk is yours to install.)" >&2
  exit 1
fi
