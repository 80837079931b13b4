#!/usr/bin/env bash
# Builds every Wasm example: components for wasm32-wasip2, and the job once
# more as a WASI P1 core module for wasm32-wasip1. Results are copied to
# wasm-examples/out/<name>.wasm (the job's P1 build as job-p1.wasm).
set -euo pipefail
cd "$(dirname "$0")"
export PATH="$HOME/.cargo/bin:$PATH"
cargo build --quiet --release --target wasm32-wasip2
cargo build --quiet --release --target wasm32-wasip1 -p job
mkdir -p out
for name in job cpu-hog mem-hog volume-writer env-echo; do
  cp -f "target/wasm32-wasip2/release/$name.wasm" "out/$name.wasm"
done
for name in hello-http http-caller; do
  cp -f "target/wasm32-wasip2/release/${name//-/_}.wasm" "out/$name.wasm"
done
cp -f target/wasm32-wasip1/release/job.wasm out/job-p1.wasm
