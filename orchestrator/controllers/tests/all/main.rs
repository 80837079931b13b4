//! Controller tests against a real API server, one binary for all of them:
//! one link instead of one per controller keeps the build small and fast.

mod cronjob;
mod daemonset;
mod deployment;
mod disruption;
mod gc;
mod job;
mod localpath;
mod namespace;
mod nodelifecycle;
mod replicaset;
mod serviceaccount;
mod statefulset;
mod support;
