//! # skiff-controllers
//!
//! Skiff's controller manager. Each controller is a module with one
//! `run(ctx, shutdown)` entry point: a level-triggered reconciler on
//! `kube::runtime` that reads desired and observed state through the API
//! server, acts, and requeues. Nothing lives only in memory that a restart
//! would lose — what a controller must remember (revisions, collision
//! counts, adoption) it writes into the objects, as Kubernetes does — so
//! the manager may be killed in the middle of a rollout and pick it up.
//!
//! Shared pieces: [`owner`] (controller references, adoption), [`pods`]
//! (the readiness and availability rules every workload controller uses).
//!
//! # Examples
//!
//! ```no_run
//! # async fn demo(client: kube::Client) {
//! skiff_controllers::run(client, std::future::pending()).await;
//! # }
//! ```

#![deny(missing_docs)]

pub mod deployment;
pub mod gc;
pub mod namespace;
pub mod cronjob;
pub mod job;
pub mod owner;
pub mod pods;
pub mod replicaset;
pub mod serviceaccount;

use std::future::Future;
use std::sync::Arc;

use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use kube::Client;

/// Completes when the manager is asked to stop; every controller holds a
/// clone.
pub type Shutdown = Shared<BoxFuture<'static, ()>>;

/// What every controller shares.
pub struct Ctx {
    /// The controller manager's API client
    /// (`system:kube-controller-manager`).
    pub client: Client,
}

/// Runs every controller until `shutdown` completes.
pub async fn run(client: Client, shutdown: impl Future<Output = ()> + Send + 'static) {
    let shutdown: Shutdown = shutdown.boxed().shared();
    let ctx = Arc::new(Ctx { client });
    let controllers: Vec<BoxFuture<'static, ()>> = vec![
        // One line per controller.
        job::run(ctx.clone(), job::Config::default(), shutdown.clone()).boxed(),
        cronjob::run(ctx.clone(), cronjob::Config::default(), shutdown.clone()).boxed(),
        replicaset::run(ctx.clone(), shutdown.clone()).boxed(),
        deployment::run(ctx.clone(), shutdown.clone()).boxed(),
        gc::run(ctx.clone(), shutdown.clone()).boxed(),
        namespace::run(ctx.clone(), shutdown.clone()).boxed(),
        serviceaccount::run(ctx.clone(), shutdown.clone()).boxed(),
    ];
    let _ = &ctx;
    futures::future::join_all(controllers).await;
    shutdown.await;
}
