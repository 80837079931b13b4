#!/usr/bin/env bash
# Installs what Skiff needs, builds it and the Wasm examples, starts
# `skiff up` (API server, scheduler and node agent in one process, state in
# redb under the data directory) and runs the example workload: a Wasm HTTP
# service pod and a Wasm job pod. Stop it with:
#   kill "$(cat "$SKIFF_DATA_DIR/skiff.pid")"
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh
export PATH="$HOME/.cargo/bin:$PATH"
wasm-examples/build.sh
cargo build --release -p skiff

if [ "$(id -u)" = 0 ]; then default_dir=/var/lib/skiff; else default_dir="${XDG_DATA_HOME:-$HOME/.local/share}/skiff"; fi
export SKIFF_DATA_DIR="${SKIFF_DATA_DIR:-$default_dir}"
mkdir -p "$SKIFF_DATA_DIR"
if [ -f "$SKIFF_DATA_DIR/skiff.pid" ] && kill -0 "$(cat "$SKIFF_DATA_DIR/skiff.pid")" 2>/dev/null; then
  echo "skiff is already running (pid $(cat "$SKIFF_DATA_DIR/skiff.pid"))"
else
  rm -f "$SKIFF_DATA_DIR/kubeconfig.yaml"
  nohup target/release/skiff up --data-dir "$SKIFF_DATA_DIR" --listen 127.0.0.1:6443 \
    --import "wasm-examples/out/hello-http.wasm=localhost/skiff/hello-http:v1" \
    --import "wasm-examples/out/job.wasm=localhost/skiff/job:v1" \
    >"$SKIFF_DATA_DIR/skiff.log" 2>&1 &
  echo $! >"$SKIFF_DATA_DIR/skiff.pid"
  for _ in $(seq 100); do [ -f "$SKIFF_DATA_DIR/kubeconfig.yaml" ] && break; sleep 0.1; done
fi
export KUBECONFIG="$SKIFF_DATA_DIR/kubeconfig.yaml"
kubectl wait --for=condition=Ready node --all --timeout=30s >/dev/null
kubectl apply -f examples/hello.yaml
kubectl wait -n hello --for=condition=Ready pod/hello-http --timeout=30s >/dev/null
for _ in $(seq 300); do
  [ "$(kubectl get pod -n hello hello-job -o jsonpath='{.status.phase}')" = Succeeded ] && break
  sleep 0.1
done
kubectl get pods -n hello -o wide
ip=$(kubectl get pod -n hello hello-http -o jsonpath='{.status.podIP}')
echo
echo "hello-http answers on its pod IP: $(curl -s "http://$ip:8080/")"
echo
echo "Skiff is up. Use it with:  export KUBECONFIG=$KUBECONFIG"
echo "or:                         target/release/skiff kubectl get pods -A"
