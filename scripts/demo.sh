#!/usr/bin/env bash
# Cairn's main job on one machine, on the embedded defaults (SQLite, file key store, software
# hardware key): a dev server; this machine scanned, enrolled, approved by an operator and
# attested; then the boot story of DESIGN.md flow 3: an encrypted volume image and an instance
# created, and `cairn agent boot` unlocking the image with a key released only to this host;
# then flow 4: a customer seals a WebAssembly workload for this host's ephemeral root of trust,
# an auditor checks the receipt and its place in the transparency log, and the host runs the
# workload once; a monitor following the log sees all of it.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "build"
cargo build --quiet -p cairn
cairn=${CARGO_TARGET_DIR:-$PWD/target}/debug/cairn
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

# The image format this machine can make: LUKS2 (cryptsetup), else a LUKS qcow2 (qemu-img),
# else a bare key for the keyfile backend.
if command -v cryptsetup >/dev/null; then format=luks; image="$work/disk.luks"
elif command -v qemu-img >/dev/null; then format=qcow2; image="$work/disk.qcow2"
else format=""; fi

step "create an encrypted volume${format:+ ($format image)}: key generated, registered wrapped by the KEK"
if [ -n "$format" ]; then
  "$cairn" admin volumes create --id vol-root --format "$format" --size 32M --out "$image"
else
  "$cairn" admin volumes create --id vol-root
fi
"$cairn" admin volumes list

step "the control plane places instance i-demo on $host_id: its security token"
"$cairn" admin instances create --instance-id i-demo --host-id "$host_id" --volume vol-root --out "$work/token.jwt"

step "boot: scan → challenge → attest (PAT bound to the token and a per-boot key) → key release → unlock"
case "$format" in
  luks)  "$cairn" agent boot --hk "$hk" --volume vol-root --token-file "$work/token.jwt" --backend luks --device "$image" --verify-only ;;
  qcow2) "$cairn" agent boot --hk "$hk" --volume vol-root --token-file "$work/token.jwt" --backend qemu --image "$image" ;;
  *)     "$cairn" agent boot --hk "$hk" --volume vol-root --token-file "$work/token.jwt" --backend keyfile --key-out "$work/vol-root.key" ;;
esac
echo "exit code $? (unlocked)"

step "a token for another volume: the key broker refuses, boot halts (exit 11)"
"$cairn" admin volumes create --id vol-other
set +e
"$cairn" agent boot --hk "$hk" --volume vol-other --token-file "$work/token.jwt" --backend keyfile --key-out "$work/other.key"
echo "exit code $?"
set -e

step "a customer derives an ERoT for $host_id and seals a WebAssembly workload for it"
export CAIRN_TOKEN=$("$cairn" admin tokens create --role customer)
cat >"$work/hello.wat" <<'WAT'
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "hello from a sealed workload\n")
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 16))
    (i32.store (i32.const 4) (i32.const 29))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))
WAT
echo '{"name":"hello","runtime":"wasm","memory_mb":16,"timeout_s":10}' >"$work/workload.json"
"$cairn" workload erot --host-id "$host_id" --workload "$work/workload.json" --out "$work/erot.json"
cat "$work/erot.json"
"$cairn" workload seal "$work/hello.wat" --erot "$work/erot.json" --out "$work/hello.ewc"
erot_id=$(sed -n 's/.*"erot_id": "\(e_[0-9a-f]*\)".*/\1/p' "$work/erot.json")
"$cairn" workload receipt --erot-id "$erot_id" --ewc "$work/hello.ewc" --out "$work/receipt.jws"

step "an auditor verifies the receipt: the published keys, the container, its ERoT in the transparency log"
"$cairn" audit verify "$work/receipt.jws" --ewc "$work/hello.ewc"

step "a monitor follows the transparency log: each checkpoint signed and extending the last; what happened"
"$cairn" audit log --state "$work/monitor.json"

step "the host runs it: receipt checked, attested, ERoT key released once, decrypted, run, destroyed"
"$cairn" agent run "$work/hello.ewc" --receipt "$work/receipt.jws" --hk "$hk"

step "running it again: the ERoT is destroyed, its key is never released again (exit 11)"
set +e
"$cairn" agent run "$work/hello.ewc" --receipt "$work/receipt.jws" --hk "$hk"
echo "exit code $?"
set -e

step "the monitor again: the PATs, the ERoT released once and destroyed, as logged"
"$cairn" audit log --state "$work/monitor.json"
