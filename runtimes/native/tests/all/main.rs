//! Integration tests of the native runtime: real registry on loopback, real
//! namespaces, cgroups and overlayfs (root), and a cross-check against runc.

mod attach;
mod auth;
mod conformance;
mod fixture;
mod gc;
mod hostns;
mod import;
mod logrotate;
mod run;
mod security;
