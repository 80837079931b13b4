//! # skiff-client
//!
//! The thin layer every Skiff component (scheduler, controllers, node
//! agent) shares as an API client, as kube-rs' `kube-client` sits under
//! `kube-runtime`: [`connect`] builds a `kube::Client` either on the API
//! server's router in the same process or over HTTPS with a bearer token,
//! and [`events::Recorder`] posts core/v1 Events that `kubectl describe`
//! shows. The Event wire shape itself lives in `skiff_api::events` (no I/O).

#![deny(missing_docs)]

pub mod connect;
pub mod events;
pub mod tls;
