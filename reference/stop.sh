#!/usr/bin/env bash
# Stop what start.sh started, by the PIDs it recorded (the venv stays for the next start).
REF_HOME=${REF_HOME:-${TMPDIR:-/tmp}/ecas-ref}
RUN=$REF_HOME/run
for name in web osmem redis; do
  if [ -s "$RUN/$name.pid" ]; then
    kill "$(cat "$RUN/$name.pid")" 2>/dev/null || true
    rm -f "$RUN/$name.pid"
  fi
done
if [ -f "$RUN/pg/data/postmaster.pid" ]; then
  su postgres -s /bin/sh -c "/usr/lib/postgresql/15/bin/pg_ctl -D '$RUN/pg/data' -m fast stop" >/dev/null
fi
rm -f "$REF_HOME/ref.json"
echo "[reference] stopped" >&2
