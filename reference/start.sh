#!/usr/bin/env bash
# Start a real InvenioRDM 13 on loopback, the reference the v3 sandbox is held against
# (reference/test_reference.py). PostgreSQL 15 and Redis from Debian, InvenioRDM from PyPI in
# its own venv, osmem-server standing in for OpenSearch. Every start is a fresh instance: two
# users (alice, who deposits, and reviewer) with personal tokens, and the sandbox's four
# communities (see ecasrepro/sandbox/v3/common.py). Prints {"url", "alice", "reviewer"} as its
# last line and writes it to $REF_HOME/ref.json. stop.sh stops it by the PIDs recorded here.
# Env: REF_HOME (default ${TMPDIR:-/tmp}/ecas-ref), REF_PG_PORT REF_REDIS_PORT REF_OS_PORT
# REF_WEB_PORT (25432 25379 25200 25000). Needs root (apt-get, su postgres; REF_HOME must be
# reachable by user postgres, so not under a 0700 home).
# The ports lie below Linux's ephemeral range (32768-60999), where any outgoing connection on
# the machine may hold one for a moment and fail our listen.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REF_HOME=${REF_HOME:-${TMPDIR:-/tmp}/ecas-ref}
export REF_PG_PORT=${REF_PG_PORT:-25432} REF_REDIS_PORT=${REF_REDIS_PORT:-25379}
export REF_OS_PORT=${REF_OS_PORT:-25200} REF_WEB_PORT=${REF_WEB_PORT:-25000}
RUN=$REF_HOME/run
V=$REF_HOME/venv
PGBIN=/usr/lib/postgresql/15/bin
URL=http://127.0.0.1:$REF_WEB_PORT
say() { echo "[reference] $*" >&2; }
mkdir -p "$RUN"
if [ -s "$RUN/web.pid" ] && kill -0 "$(cat "$RUN/web.pid")" 2>/dev/null; then
  say "already running"; cat "$REF_HOME/ref.json"; exit 0
fi
if [ -f "$RUN/pg/data/postmaster.pid" ] || ls "$RUN"/*.pid >/dev/null 2>&1; then
  say "a previous start left processes behind (its web app is gone): stopping them"
  "$HERE/stop.sh"
fi
for port in "$REF_PG_PORT" "$REF_REDIS_PORT" "$REF_OS_PORT" "$REF_WEB_PORT"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    say "port $port is taken by another program (not ours: no PID recorded); set REF_*_PORT"; exit 1
  fi
done
started=$(date +%s)
trap 'rc=$?; [ $rc -eq 0 ] || "$HERE/stop.sh"' EXIT  # a failed start leaves nothing running

if [ ! -x "$PGBIN/postgres" ] || ! command -v redis-server >/dev/null || ! command -v curl >/dev/null
then
  say "apt-get install postgresql-15 redis-server curl"
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql-15 redis-server curl \
    >"$REF_HOME/apt.log" 2>&1 || { say "apt-get install failed, see $REF_HOME/apt.log"; exit 1; }
fi
if [ ! -f "$V/.ok" ] || ! cmp -s "$HERE/requirements.txt" "$V/.ok"; then
  say "pip install -r reference/requirements.txt (a few minutes)"
  rm -rf "$V"; python3 -m venv "$V"
  nice "$V/bin/pip" install -q -r "$HERE/requirements.txt" >"$REF_HOME/pip.log" 2>&1 \
    || { say "pip install failed, see $REF_HOME/pip.log"; exit 1; }
  cp "$HERE/requirements.txt" "$V/.ok"
fi

export INVENIO_INSTANCE_PATH=$REF_HOME/instance
rm -rf "$INVENIO_INSTANCE_PATH" "$RUN/pg" "$RUN/files"
mkdir -p "$INVENIO_INSTANCE_PATH" "$RUN/pg" "$RUN/files"
cp "$HERE/invenio.cfg" "$INVENIO_INSTANCE_PATH/invenio.cfg"
"$V/bin/python" "$HERE/vocabularies.py" "$INVENIO_INSTANCE_PATH/app_data"

# PostgreSQL runs as user postgres: a fresh cluster each start.
chown postgres "$RUN/pg"
su postgres -s /bin/sh -c "$PGBIN/initdb -D '$RUN/pg/data' -U postgres --auth=trust -E UTF8" >"$RUN/pg.log" 2>&1
su postgres -s /bin/sh -c "$PGBIN/pg_ctl -D '$RUN/pg/data' -w -l '$RUN/pg/log' -o '-p $REF_PG_PORT -k $RUN/pg -c listen_addresses=127.0.0.1' start" >>"$RUN/pg.log"
psql -q -h 127.0.0.1 -p "$REF_PG_PORT" -U postgres -c "create user invenio with password 'invenio' superuser" -c "create database invenio owner invenio"

redis-server --port "$REF_REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no >"$RUN/redis.log" 2>&1 &
echo $! >"$RUN/redis.pid"
"$("$V/bin/python" -c 'import osmem_server; print(osmem_server.resolve_binary())')" \
  -addr "127.0.0.1:$REF_OS_PORT" -no-stdin-watch -no-ja >"$RUN/osmem.log" 2>&1 &
echo $! >"$RUN/osmem.pid"
for _ in $(seq 50); do
  redis-cli -p "$REF_REDIS_PORT" ping >/dev/null 2>&1 && curl -s "127.0.0.1:$REF_OS_PORT" >/dev/null && break
  sleep 0.2
done

say "database, indices, vocabularies"
# The invenio commands in one process (one app boot instead of a dozen).
nice "$V/bin/python" "$HERE/setup_instance.py" "$RUN" >"$RUN/setup.log" 2>&1 \
  || { say "setting up the instance failed, see $RUN/setup.log"; exit 1; }

"$V/bin/python" "$HERE/serve.py" >"$RUN/web.log" 2>&1 &
echo $! >"$RUN/web.pid"
# The app's first boot takes 15-60 s, more on a loaded machine: wait up to 5 min while it lives.
up() { curl -sf --max-time 30 "$URL/api/records?size=1" >/dev/null 2>&1; }
for _ in $(seq 600); do
  up && break
  kill -0 "$(cat "$RUN/web.pid")" 2>/dev/null || break
  sleep 0.5
done
up || { say "the web app did not start, see $RUN/web.log"; exit 1; }

# The sandbox's communities (B2SHARE's "everyone" review policy does not exist upstream: "open"
# is the nearest, and alice owns the two that use it, so she publishes to them directly).
community() {  # owner slug title review-policy submission-policy description
  curl -sf -o /dev/null -X POST "$URL/api/communities" -H "Authorization: Bearer $(cat "$RUN/$1.token")" \
    -H "Content-Type: application/json" -d "{\"slug\": \"$2\", \"metadata\": {\"title\": \"$3\",
    \"description\": \"$6\"}, \"access\": {\"visibility\": \"public\", \"review_policy\": \"$4\",
    \"record_submission_policy\": \"$5\", \"member_policy\": \"closed\"}}" \
    || { say "could not create community $2"; exit 1; }
}
community alice eudat EUDAT open open "The big Eudat community. Use this community if no other is suited for you"
community alice ecas ECAS open open "ENES Climate Analytics Service: reproducible climate analyses (notebooks, workflows and their results) derived from published datasets."
community reviewer ecas-review "ECAS Review" closed open "Curated ECAS results: every submission is reviewed by a curator before publication."
community reviewer ecas-members "ECAS Members" members closed "Only members of this community may submit records; members publish without review."
printf '{"url": "%s", "alice": "%s", "reviewer": "%s"}\n' "$URL" "$(cat "$RUN/alice.token")" \
  "$(cat "$RUN/reviewer.token")" >"$REF_HOME/ref.json"
say "started in $(( $(date +%s) - started ))s"
cat "$REF_HOME/ref.json"
