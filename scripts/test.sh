#!/usr/bin/env bash
# Runs every check CI runs: formatting, lints, and all tests (unit,
# per-crate integration, end to end with the real binary, kubectl and the
# Python client). One build is shared by all of them.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh
export PATH="$HOME/.cargo/bin:$PATH"
# A clean clone gains nothing from incremental state, and it costs gigabytes
# of disk; CI machines have little to spare.
export CARGO_INCREMENTAL=0

wasm-examples/build.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
# The end-to-end tests run the skiff binary; build it once, with the tests.
cargo build --workspace --all-targets
cargo nextest run --workspace --no-fail-fast
cargo test --workspace --doc
