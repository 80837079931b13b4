#!/usr/bin/env bash
# Installs everything Skiff's build and tests use, on Debian. Idempotent:
# each step checks first, so a second run is quick.
set -euo pipefail

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# Debian packages the tests use: kubectl's fallback, python, pip.
need=()
command -v python3 >/dev/null || need+=(python3)
python3 -m pip --version >/dev/null 2>&1 || need+=(python3-pip)
command -v curl >/dev/null || need+=(curl)
command -v gcc >/dev/null || need+=(build-essential)
command -v pkg-config >/dev/null || need+=(pkg-config)
# The Wasm runtime's registry tests push to and pull from a local registry.
command -v docker-registry >/dev/null || need+=(docker-registry)
# The native runtime's tests build a busybox image offline and cross-check
# bundles with runc.
command -v umoci >/dev/null || need+=(umoci)
command -v skopeo >/dev/null || need+=(skopeo)
[ -x /bin/busybox ] || need+=(busybox-static)
command -v runc >/dev/null || need+=(runc)
# htpasswd: the tests' registries that require basic auth.
command -v htpasswd >/dev/null || need+=(apache2-utils)
# The pod network (bridge, veths) is set up with iproute2; the end-to-end
# tests run each cluster in its own network namespace via nsenter.
command -v ip >/dev/null || need+=(iproute2)
command -v nsenter >/dev/null || need+=(util-linux)
# kubectl: keep one that is installed (these machines carry Google's);
# otherwise Debian's kubernetes-client.
command -v kubectl >/dev/null || need+=(kubernetes-client)
if [ ${#need[@]} -gt 0 ]; then
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
fi

# Rust: rustup's toolchain, the Wasm targets, and cargo-nextest.
if ! command -v cargo >/dev/null; then
  [ -x "$HOME/.cargo/bin/cargo" ] || curl -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
  export PATH="$HOME/.cargo/bin:$PATH"
fi
if command -v rustup >/dev/null; then
  installed=$(rustup target list --installed)
  for t in wasm32-wasip1 wasm32-wasip2; do
    grep -qx "$t" <<<"$installed" || rustup target add "$t"
  done
  rustup component list --installed | grep -q '^clippy' || rustup component add clippy rustfmt
fi
cargo nextest --version >/dev/null 2>&1 || cargo install --locked cargo-nextest

# The official Python client, for the compatibility tests.
if ! python3 -c 'import kubernetes' 2>/dev/null; then
  python3 -m pip install -q kubernetes 2>/dev/null \
    || python3 -m pip install -q --break-system-packages kubernetes
fi
