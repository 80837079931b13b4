//! Integration tests of the Wasm runtime over every example in
//! `wasm-examples/` (built by its build.sh on first use), plus the shared
//! conformance harness and a real registry on loopback. One test binary,
//! as wasmtime's `tests/all`.

mod auth;
mod commands;
mod conformance;
mod logrotate;
mod registry;
mod services;
mod source_ip;
mod support;
