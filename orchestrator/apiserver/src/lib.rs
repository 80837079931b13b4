//! # skiff-apiserver
//!
//! Skiff's Kubernetes-compatible API server: the only component that
//! touches the store, and the one every other component — scheduler,
//! controllers, node agents, kubectl — talks to, through the Kubernetes REST
//! API and nothing else.
//!
//! A request goes: TLS → authentication ([`auth`]) → routing ([`route`]) →
//! decoding ([`body`]) → admission ([`admit`]: type check, defaulting,
//! validation) → the verb's handler ([`handlers`]) → the store
//! (`skiff_store`) → a response in the representation asked for
//! ([`negotiate`]). Errors at any step become a `metav1.Status`.
//!
//! ```no_run
//! # async fn run() -> Result<(), skiff_apiserver::ServerError> {
//! let server = skiff_apiserver::start(skiff_apiserver::Config::new("/tmp/skiff".into())).await?;
//! println!("kubeconfig: {}", server.kubeconfig.display());
//! server.wait().await;
//! # Ok(()) }
//! ```

pub mod admit;
pub mod alloc;
pub mod auth;
pub mod body;
mod bootstrap;
pub mod crd;
pub mod discovery;
pub mod handlers;
pub mod kinds;
pub mod managed;
pub mod negotiate;
pub mod objects;
pub mod pki;
pub mod route;
mod serve;
pub mod state;
pub mod watch_cache;

pub use serve::{Config, Server, ServerError, router, start};
