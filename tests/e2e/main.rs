//! Whole-system tests: the real `skiff` binary, real kubectl, the official
//! Python client and kube-rs, on loopback.

mod api;
mod apply;
mod attach;
mod config;
mod daemonsets;
mod durability;
mod fsgroup;
mod garbage;
mod gc;
mod hostns;
mod images;
mod init;
mod jobs;
mod kubectl;
mod logrotate;
mod node_api;
mod pods;
mod probes;
mod pullsecrets;
mod python;
mod restart;
mod run_it;
mod sidecars;
mod statefulsets;
mod top;
mod workloads;
