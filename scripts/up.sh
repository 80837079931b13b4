#!/usr/bin/env bash
# Installs what Skiff needs, builds it and the Wasm examples, starts
# `skiff up` (API server, scheduler, controller manager and node agent in
# one process, state in redb under the data directory) and runs the example
# workload: a Wasm HTTP service pod, a Wasm job pod and (as root) a native
# busybox pod, each with an address on the pod network (bridge skiff0,
# 10.42.0.0/24). Stop it with:
#   kill "$(cat "$SKIFF_DATA_DIR/skiff.pid")"
# SKIFF_BIN=path skips the build and runs that skiff (with its
# skiff-native-shim beside it).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh
export PATH="$HOME/.cargo/bin:$PATH"
wasm-examples/build.sh
if [ -z "${SKIFF_BIN:-}" ]; then
  # skiff and the native runtime's per-container shim, side by side.
  cargo build --release -p skiff -p skiff-runtime-native
fi
skiff="${SKIFF_BIN:-target/release/skiff}"

if [ "$(id -u)" = 0 ]; then default_dir=/var/lib/skiff; else default_dir="${XDG_DATA_HOME:-$HOME/.local/share}/skiff"; fi
export SKIFF_DATA_DIR="${SKIFF_DATA_DIR:-$default_dir}"
mkdir -p "$SKIFF_DATA_DIR"

# The native example's image: busybox built locally (no network: umoci and
# the host's static busybox) as an OCI image layout, which `skiff up
# --import` loads into the node's store — no registry needed (as
# `k3s ctr images import`).
layout_dir="$SKIFF_DATA_DIR/example-images"
if [ ! -f "$layout_dir/busybox-oci/index.json" ]; then
  rm -rf "$layout_dir/busybox-oci" "$layout_dir/bundle"
  mkdir -p "$layout_dir"
  umoci init --layout "$layout_dir/busybox-oci"
  umoci new --image "$layout_dir/busybox-oci:v1"
  umoci unpack --rootless --image "$layout_dir/busybox-oci:v1" "$layout_dir/bundle" >/dev/null
  mkdir -p "$layout_dir/bundle/rootfs/bin" "$layout_dir/bundle/rootfs/tmp"
  cp /bin/busybox "$layout_dir/bundle/rootfs/bin/busybox"
  for a in $(/bin/busybox --list); do
    [ "$a" = busybox ] || ln -sf busybox "$layout_dir/bundle/rootfs/bin/$a"
  done
  umoci repack --image "$layout_dir/busybox-oci:v1" "$layout_dir/bundle"
  umoci config --image "$layout_dir/busybox-oci:v1" --config.cmd=sh --config.env=PATH=/bin
  rm -rf "$layout_dir/bundle"
fi
native_import=()
# Native containers need root (namespaces, cgroups); without it Skiff runs
# the Wasm pods only.
if [ "$(id -u)" = 0 ]; then
  native_import=(--import "$layout_dir/busybox-oci:v1=localhost/skiff/busybox:v1")
fi

if [ -f "$SKIFF_DATA_DIR/skiff.pid" ] && kill -0 "$(cat "$SKIFF_DATA_DIR/skiff.pid")" 2>/dev/null; then
  echo "skiff is already running (pid $(cat "$SKIFF_DATA_DIR/skiff.pid"))"
else
  rm -f "$SKIFF_DATA_DIR/kubeconfig.yaml"
  nohup "$skiff" up --data-dir "$SKIFF_DATA_DIR" --listen 127.0.0.1:6443 \
    --import "wasm-examples/out/hello-http.wasm=localhost/skiff/hello-http:v1" \
    --import "wasm-examples/out/job.wasm=localhost/skiff/job:v1" \
    "${native_import[@]}" \
    >"$SKIFF_DATA_DIR/skiff.log" 2>&1 &
  echo $! >"$SKIFF_DATA_DIR/skiff.pid"
  for _ in $(seq 100); do [ -f "$SKIFF_DATA_DIR/kubeconfig.yaml" ] && break; sleep 0.1; done
fi
export KUBECONFIG="$SKIFF_DATA_DIR/kubeconfig.yaml"
kubectl wait --for=condition=Ready node --all --timeout=30s >/dev/null
kubectl apply -f examples/hello.yaml
kubectl wait -n hello --for=condition=Ready pod/hello-http --timeout=30s >/dev/null
native=$(kubectl get node -o jsonpath='{.items[0].status.runtimeHandlers[*].name}')
if [[ " $native " == *" runc "* ]]; then
  kubectl wait -n hello --for=condition=Ready pod/hello-native --timeout=60s >/dev/null
else
  echo "(the native runtime is not available here — not root? — so hello-native stays Pending)"
fi
for _ in $(seq 300); do
  [ "$(kubectl get pod -n hello hello-job -o jsonpath='{.status.phase}')" = Succeeded ] && break
  sleep 0.1
done
kubectl get pods -n hello -o wide
ip=$(kubectl get pod -n hello hello-http -o jsonpath='{.status.podIP}')
echo
echo "hello-http (Wasm) answers on its pod IP $ip: $(curl -s --max-time 5 "http://$ip:8080/")"
if [[ " $native " == *" runc "* ]]; then
  nip=$(kubectl get pod -n hello hello-native -o jsonpath='{.status.podIP}')
  echo "hello-native (busybox) answers on its pod IP $nip: $(curl -s --max-time 5 "http://$nip:8080/")"
fi
echo
echo "Skiff is up. Use it with:  export KUBECONFIG=$KUBECONFIG"
echo "or:                         $skiff kubectl get pods -A"
