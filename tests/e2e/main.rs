//! Whole-system tests: the real `skiff` binary, real kubectl, the official
//! Python client and kube-rs, on loopback.

mod api;
mod apply;
mod config;
mod durability;
mod garbage;
mod gc;
mod jobs;
mod kubectl;
mod pods;
mod python;
mod workloads;
