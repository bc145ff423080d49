#!/usr/bin/env bash
# Cairn's main job on one machine, on the embedded defaults (SQLite, file key store, software
# hardware key): a dev server, this machine scanned and enrolled, approved by an operator,
# attested, and the physical attestation token printed with its claims.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "build"
cargo build --quiet -p cairn
cairn=$PWD/target/debug/cairn
work=$(mktemp -d)
trap 'kill "$server_pid" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT

step "start a dev server (temporary data dir, SQLite, file key store)"
"$cairn" server dev --listen 127.0.0.1:0 >"$work/server.out" 2>"$work/server.log" &
server_pid=$!
for _ in $(seq 100); do grep -q '^export ' "$work/server.out" 2>/dev/null && break; sleep 0.1; done
cat "$work/server.out"
eval "$(grep '^export ' "$work/server.out")"

step "scan this machine's hardware"
"$cairn" agent scan

step "enroll with a software hardware key (pending until approved)"
hk="soft:$work/hk.pem"
"$cairn" agent enroll --hk "$hk" --name "$(hostname)"
host_id=$("$cairn" admin hosts list --json | sed -n 's/.*"host_id": "\(h_[0-9a-f]*\)".*/\1/p' | head -1)

step "attest before approval: refused (exit 10)"
set +e; "$cairn" agent attest --hk "$hk"; echo "exit code $?"; set -e

step "operator approves $host_id"
"$cairn" admin hosts approve "$host_id"

step "attest: a physical attestation token, claims decoded"
"$cairn" agent attest --hk "$hk" --json

step "registry"
"$cairn" admin hosts list
