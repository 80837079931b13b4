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
//! skiff_controllers::run(client, Default::default(), std::future::pending()).await;
//! # }
//! ```

#![deny(missing_docs)]

pub mod cache;
pub mod cronjob;
pub mod daemonset;
pub mod deployment;
pub mod disruption;
pub mod everynamespace;
pub mod gc;
pub mod history;
pub mod job;
pub mod localpath;
pub mod namespace;
pub mod nodelifecycle;
pub mod owner;
pub mod pods;
pub mod replicaset;
pub mod rootca;
pub mod serviceaccount;
pub mod statefulset;

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

/// How the controller manager is set up.
#[derive(Clone, Debug, Default)]
pub struct Config {
    /// The cluster CA (PEM) the root CA publisher puts into every
    /// namespace as `kube-root-ca.crt`; `None` leaves that controller off.
    pub root_ca: Option<String>,
}

/// Runs every controller until `shutdown` completes.
pub async fn run(client: Client, cfg: Config, shutdown: impl Future<Output = ()> + Send + 'static) {
    let shutdown: Shutdown = shutdown.boxed().shared();
    let ctx = Arc::new(Ctx { client });
    let mut controllers: Vec<BoxFuture<'static, ()>> = vec![
        // One line per controller.
        job::run(ctx.clone(), job::Config::default(), shutdown.clone()).boxed(),
        cronjob::run(ctx.clone(), cronjob::Config::default(), shutdown.clone()).boxed(),
        replicaset::run(ctx.clone(), shutdown.clone()).boxed(),
        deployment::run(ctx.clone(), shutdown.clone()).boxed(),
        gc::run(ctx.clone(), shutdown.clone()).boxed(),
        namespace::run(ctx.clone(), shutdown.clone()).boxed(),
        serviceaccount::run(ctx.clone(), shutdown.clone()).boxed(),
        daemonset::run(ctx.clone(), shutdown.clone()).boxed(),
        disruption::run(ctx.clone(), shutdown.clone()).boxed(),
        localpath::run(ctx.clone(), shutdown.clone()).boxed(),
        statefulset::run(ctx.clone(), shutdown.clone()).boxed(),
        nodelifecycle::run(
            ctx.clone(),
            nodelifecycle::Config::default(),
            shutdown.clone(),
        )
        .boxed(),
    ];
    if let Some(ca) = cfg.root_ca {
        controllers.push(rootca::run(ctx.clone(), ca, shutdown.clone()).boxed());
    }
    futures::future::join_all(controllers).await;
    shutdown.await;
}
