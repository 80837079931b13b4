#!/usr/bin/env bash
# Runs every check CI runs: formatting, lints, and all tests (unit,
# per-crate integration, end to end with the real binary, kubectl and the
# Python client). One build is shared by all of them.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh
export PATH="$HOME/.cargo/bin:$PATH"

wasm-examples/build.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
# The end-to-end tests run the skiff binary; build it once, with the tests.
cargo build --workspace --all-targets
cargo nextest run --workspace --no-fail-fast
cargo test --workspace --doc
