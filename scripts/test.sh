#!/usr/bin/env bash
# Runs every test. Where tpm2-tss's development files are installed (Debian: libtss2-dev),
# cairn is built with the TPM hardware key (`--features cairn/tpm`) and its cases run; without
# them the TPM cases skip, saying why. Extra arguments go to `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."
features=()
if pkg-config --exists tss2-esys 2>/dev/null; then
  features=(--features cairn/tpm)
else
  echo "note: libtss2-dev not found: building without the TPM hardware key; its cases skip" >&2
fi
exec cargo test --workspace --locked "${features[@]}" "$@"
