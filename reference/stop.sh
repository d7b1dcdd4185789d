#!/usr/bin/env bash
# Stop what start.sh started, by the PIDs it recorded, and wait until each has exited (a port
# still held would fail the next start). The venv stays for the next start.
REF_HOME=${REF_HOME:-${TMPDIR:-/tmp}/ecas-ref}
RUN=$REF_HOME/run
gone() { ! kill -0 "$1" 2>/dev/null || [ "$(ps -o stat= -p "$1" 2>/dev/null | cut -c1)" = Z ]; }
for name in web osmem redis; do
  [ -s "$RUN/$name.pid" ] || continue
  pid=$(cat "$RUN/$name.pid")
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 50); do gone "$pid" && break; sleep 0.2; done
  gone "$pid" || kill -9 "$pid" 2>/dev/null || true
  rm -f "$RUN/$name.pid"
done
if [ -f "$RUN/pg/data/postmaster.pid" ]; then
  su postgres -s /bin/sh -c "/usr/lib/postgresql/15/bin/pg_ctl -D '$RUN/pg/data' -m fast -w stop" \
    >/dev/null 2>&1 || true
fi
rm -f "$REF_HOME/ref.json"
echo "[reference] stopped" >&2
