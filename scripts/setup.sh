#!/usr/bin/env bash
# Set up a development environment: .venv with every extra, and the Redis server that the
# fleet tests start for themselves. README.md's test command and .ci/run both run this.
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[dev,cli,redis,otel]'

if ! command -v redis-server >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "== installing redis-server (Debian's package) for the fleet tests"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
    else
        echo "note: no redis-server: the fleet tests will be skipped" \
            "(sudo apt-get install redis-server)" >&2
    fi
fi
