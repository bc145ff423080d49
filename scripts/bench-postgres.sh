#!/usr/bin/env bash
# `cairn bench attest --server` against one `cairn server run` on a fresh PostgreSQL database
# (over TLS, its own private CA), and the CPU the server process and PostgreSQL spent over
# the run, to divide by the attestations it printed. Usage:
#   scripts/bench-postgres.sh [CAIRN_BINARY] [SECONDS] [POSTGRES_URL_WITHOUT_DATABASE]
# (defaults: target/release/cairn, 10, postgres://postgres@127.0.0.1:5432). Needs psql.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-target/release/cairn}
secs=${2:-10}
base=${3:-postgres://postgres@127.0.0.1:5432}
db="cairn_bench_$RANDOM"
psql -q "$base/postgres" -c "CREATE DATABASE $db"
url="$base/$db"
dir=$(mktemp -d)
cleanup() {
  kill "${pid:-}" 2>/dev/null || true
  wait 2>/dev/null || true
  psql -q "$base/postgres" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)"
  rm -rf "$dir"
}
trap cleanup EXIT
token=$("$bin" server init --tls --json --data-dir "$dir/srv" --database-url "$url" |
  sed -n 's/.*"admin_token": "\([^"]*\)".*/\1/p')
"$bin" server run --data-dir "$dir/srv" --database-url "$url" --listen 127.0.0.1:0 >"$dir/out" 2>"$dir/log" &
pid=$!
for _ in $(seq 100); do grep -q listening "$dir/out" 2>/dev/null && break; sleep 0.1; done
server=$(sed -n 's/cairn server listening on //p' "$dir/out")
# Clock ticks (user + system) of the given processes.
ticks() { local t=0; for p in "$@"; do [ -r "/proc/$p/stat" ] && t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done; echo "$t"; }
hz=$(getconf CLK_TCK)
s0=$(ticks "$pid"); p0=$(ticks $(pgrep -u postgres))
"$bin" bench attest --server "$server" --admin-token "$token" --ca-cert "$dir/srv/tls/ca.pem" \
  --clients 32 --seconds "$secs"
s1=$(ticks "$pid"); p1=$(ticks $(pgrep -u postgres))
echo "CPU over the run (setup included): server $(( (s1 - s0) * 1000 / hz )) ms, PostgreSQL $(( (p1 - p0) * 1000 / hz )) ms"
