#!/usr/bin/env sh
# Makes sure the system programs Trireme runs are here: redis-server (the queue's store, started privately when no
# Redis is configured) and python3 (the example's Python tasks, on the shipped Python runner); with `test`, also what
# the tests drive for real: prometheus (promtool and a scraping server), chromium (the dashboard tests), postgresql
# (the history tests run initdb and a private server), redis-sentinel and redis-cli (the Sentinel and Cluster tests
# start their own on loopback), and Debian's python3-celery, python3-redis and rabbitmq-server (the Celery pool tests
# run Celery workers under /usr/bin/python3 and a private RabbitMQ). On Debian/Ubuntu as root it
# installs them; elsewhere it says what to install. Runs before `npm start` and `npm test`.
set -eu
missing=""
command -v redis-server >/dev/null 2>&1 || missing="$missing redis-server"
command -v python3 >/dev/null 2>&1 || missing="$missing python3"
if [ "${1:-}" = test ]; then
  command -v promtool >/dev/null 2>&1 || missing="$missing prometheus"
  command -v chromium >/dev/null 2>&1 || missing="$missing chromium"
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$missing postgresql"
  command -v redis-sentinel >/dev/null 2>&1 || missing="$missing redis-sentinel"
  command -v redis-cli >/dev/null 2>&1 || missing="$missing redis-tools"
  /usr/bin/python3 -c 'import celery' >/dev/null 2>&1 || missing="$missing python3-celery"
  /usr/bin/python3 -c 'import redis' >/dev/null 2>&1 || missing="$missing python3-redis"
  [ -x /usr/lib/rabbitmq/bin/rabbitmq-server ] || missing="$missing rabbitmq-server"
fi
[ -z "$missing" ] && exit 0
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "trireme: installing$missing with apt-get" >&2
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
  # Debian starts the packaged redis on :6379 (sentinel on :26379, prometheus on :9090); Trireme and its tests run their own.
  exit 0
fi
echo "trireme: missing$missing. Install it (Debian/Ubuntu: sudo apt-get install$missing; macOS: brew install redis python)," >&2
echo "or point Trireme at a running Redis with TRIREME_REDIS_URL=redis://HOST:6379." >&2
exit 1
