#!/usr/bin/env bash
# Installs what Skiff needs, builds it, starts it on its embedded default
# (one node, state in redb under the data directory) and applies the
# example workload. Stop it with: kill "$(cat "$SKIFF_DATA_DIR/skiff.pid")"
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh
export PATH="$HOME/.cargo/bin:$PATH"
cargo build --release -p skiff

if [ "$(id -u)" = 0 ]; then default_dir=/var/lib/skiff; else default_dir="${XDG_DATA_HOME:-$HOME/.local/share}/skiff"; fi
export SKIFF_DATA_DIR="${SKIFF_DATA_DIR:-$default_dir}"
mkdir -p "$SKIFF_DATA_DIR"
if [ -f "$SKIFF_DATA_DIR/skiff.pid" ] && kill -0 "$(cat "$SKIFF_DATA_DIR/skiff.pid")" 2>/dev/null; then
  echo "skiff is already running (pid $(cat "$SKIFF_DATA_DIR/skiff.pid"))"
else
  rm -f "$SKIFF_DATA_DIR/kubeconfig.yaml"
  nohup target/release/skiff server --data-dir "$SKIFF_DATA_DIR" >"$SKIFF_DATA_DIR/skiff.log" 2>&1 &
  echo $! >"$SKIFF_DATA_DIR/skiff.pid"
  for _ in $(seq 100); do [ -f "$SKIFF_DATA_DIR/kubeconfig.yaml" ] && break; sleep 0.1; done
fi
export KUBECONFIG="$SKIFF_DATA_DIR/kubeconfig.yaml"
kubectl apply -f examples/hello.yaml
kubectl get all -n hello
echo
echo "Skiff is up. Use it with:  export KUBECONFIG=$KUBECONFIG"
echo "or:                         target/release/skiff kubectl get ns"
