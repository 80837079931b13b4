//! Whole-system tests: the real `skiff` binary, real kubectl, the official
//! Python client and kube-rs, on loopback.

mod api;
mod apply;
mod durability;
mod garbage;
mod kubectl;
mod pods;
mod python;
