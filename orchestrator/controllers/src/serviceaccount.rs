//! The ServiceAccount controller: every active namespace has a `default`
//! ServiceAccount, created with the namespace and again whenever it is
//! deleted, as Kubernetes' serviceaccounts-controller does. The
//! `kube-root-ca.crt` ConfigMap beside it is [`crate::rootca`]'s.

use std::sync::Arc;

use k8s_openapi::api::core::v1::ServiceAccount;

use crate::everynamespace::{self, Wanted};
use crate::{Ctx, Shutdown};

/// The ServiceAccount every namespace gets.
pub const DEFAULT: &str = "default";

/// Runs the ServiceAccount controller until `shutdown` completes.
pub async fn run(ctx: Arc<Ctx>, shutdown: Shutdown) {
    let wanted = Wanted {
        name: DEFAULT,
        build: Box::new(ServiceAccount::default),
        // Its contents are the user's; only its existence is ours.
        is_current: Box::new(|_: &ServiceAccount| true),
    };
    everynamespace::run(ctx, wanted, shutdown).await;
}
