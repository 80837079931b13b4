//! # skiff-api
//!
//! The resource model and API machinery of Skiff, with no I/O (the role
//! `kube-core` plays for kube-rs). Everything the API server needs to know about
//! a request that can be decided without a socket or a disk lives here:
//!
//! - [`registry`]: which resources exist (group, version, kind, plural,
//!   scope, verbs, short names, subresources, printer columns), built-in and
//!   CustomResourceDefinition alike;
//! - [`selector`]: label and field selectors;
//! - [`patch`]: JSON patch, merge patch and strategic merge patch;
//! - [`apply`]: server-side apply and field ownership (`managedFields`);
//! - [`validation`]: names, labels and per-kind validation with field causes;
//! - [`status`]: the `metav1.Status` every error becomes;
//! - [`table`]: `meta.k8s.io/v1` Table conversion for `kubectl get`;
//! - [`openapi`] and [`schema`]: OpenAPI documents, and structural-schema
//!   validation, pruning and defaulting for custom resources.
//!
//! Objects travel through the server as `serde_json::Value`, so that a custom
//! resource and a built-in kind take the same path; typed `k8s-openapi`
//! structs are used where a kind's own rules need them.

pub mod apply;
pub mod events;
pub mod fields;
pub mod jsonpath;
pub mod openapi;
pub mod patch;
pub mod protobuf;
pub mod quantity;
pub mod registry;
pub mod schema;
pub mod selector;
pub mod status;
pub mod table;
pub mod typed;
pub mod validation;
