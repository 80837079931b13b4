//! The two rollout strategies (Kubernetes' `rolloutRolling` and
//! `rolloutRecreate`).

use std::time::Duration;

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;
use kube::api::{Api, ListParams};
use kube::runtime::controller::Action;

use super::rolling::{
    max_unavailable, new_rs_new_replicas, old_scale_down_budget, replicas, rs_available,
    rs_replicas, total_replicas,
};
use super::{Error, Run, selector_of, status};
use crate::{owner, pods};

impl Run<'_> {
    pub(super) async fn rollout_rolling(&mut self, rss: Vec<ReplicaSet>) -> Result<Action, Error> {
        let (mut new, mut old) = Box::pin(self.all_replica_sets(rss, true)).await?;
        if let Some(n) = new.as_mut() {
            let want = replicas(&self.d);
            let now = rs_replicas(n);
            if now != want {
                let target = if now > want {
                    want
                } else {
                    let all: Vec<&ReplicaSet> = old.iter().chain(std::iter::once(&*n)).collect();
                    new_rs_new_replicas(&self.d, &all, n)
                };
                if self.scale(n, target).await? {
                    return self.rollout_status(new.as_ref(), &old).await;
                }
            }
        }
        if self.reconcile_old(&mut old, new.as_ref()).await? {
            return self.rollout_status(new.as_ref(), &old).await;
        }
        let stored = self.d.status.clone().unwrap_or_default();
        if status::is_complete(&self.d, &stored) {
            self.cleanup(&old).await?;
        }
        self.rollout_status(new.as_ref(), &old).await
    }

    /// Kubernetes' `reconcileOldReplicaSets`: first the old pods that are
    /// not available anyway, then available ones down to
    /// `replicas - maxUnavailable`.
    async fn reconcile_old(
        &self,
        old: &mut [ReplicaSet],
        new: Option<&ReplicaSet>,
    ) -> Result<bool, Error> {
        if total_replicas(old.iter()) == 0 {
            return Ok(false);
        }
        let all: Vec<&ReplicaSet> = old.iter().chain(new).collect();
        let budget = old_scale_down_budget(&self.d, &all, new);
        if budget <= 0 {
            return Ok(false);
        }
        old.sort_by_key(|rs| {
            (
                rs.metadata.creation_timestamp.as_ref().map(|t| t.0),
                rs.name_any(),
            )
        });
        let mut cleaned = 0;
        for rs in old.iter_mut() {
            if cleaned >= budget {
                break;
            }
            let (size, available) = (rs_replicas(rs), rs_available(rs));
            if size == 0 || size == available {
                continue;
            }
            let n = (budget - cleaned).min(size - available);
            self.scale(rs, size - n).await?;
            cleaned += n;
        }
        let min_available = replicas(&self.d) - max_unavailable(&self.d);
        let available: i32 = old.iter().chain(new).map(rs_available).sum();
        let mut scaled = 0;
        if available > min_available {
            let total = available - min_available;
            for rs in old.iter_mut() {
                if scaled >= total {
                    break;
                }
                let size = rs_replicas(rs);
                if size == 0 {
                    continue;
                }
                let n = size.min(total - scaled);
                self.scale(rs, size - n).await?;
                scaled += n;
            }
        }
        Ok(cleaned + scaled > 0)
    }

    /// Kubernetes' `rolloutRecreate`: every old pod gone before the new
    /// ReplicaSet scales up.
    pub(super) async fn rollout_recreate(&mut self, rss: Vec<ReplicaSet>) -> Result<Action, Error> {
        let (new, mut old) = Box::pin(self.all_replica_sets(rss.clone(), false)).await?;
        let mut scaled = false;
        for rs in old.iter_mut() {
            if rs_replicas(rs) > 0 {
                scaled |= self.scale(rs, 0).await?;
            }
        }
        if scaled {
            return self.rollout_status(new.as_ref(), &old).await;
        }
        if self.old_pods_running(&old).await? {
            self.rollout_status(new.as_ref(), &old).await?;
            // Pods finishing their termination change no ReplicaSet, so
            // nothing would wake us.
            return Ok(Action::requeue(Duration::from_millis(500)));
        }
        let (mut new, old) = match new {
            Some(n) => (Some(n), old),
            None => Box::pin(self.all_replica_sets(rss, true)).await?,
        };
        if let Some(n) = new.as_mut() {
            self.scale(n, replicas(&self.d)).await?;
        }
        let stored = self.d.status.clone().unwrap_or_default();
        if status::is_complete(&self.d, &stored) {
            self.cleanup(&old).await?;
        }
        self.rollout_status(new.as_ref(), &old).await
    }

    /// Old ReplicaSets still count pods, or pods they controlled have not
    /// finished yet.
    async fn old_pods_running(&self, old: &[ReplicaSet]) -> Result<bool, Error> {
        if old
            .iter()
            .any(|rs| rs.status.as_ref().is_some_and(|s| s.replicas > 0))
        {
            return Ok(true);
        }
        let uids: Vec<String> = old.iter().filter_map(ResourceExt::uid).collect();
        let selector = selector_of(&self.d)?.to_string();
        let pods: Api<Pod> = Api::namespaced(self.st.client.clone(), &self.ns);
        let list = pods
            .list(&ListParams::default().labels(&selector))
            .await
            .map_err(self.api_err("listing old pods"))?;
        Ok(list.items.iter().any(|p| {
            owner::controller_of(&p.metadata).is_some_and(|r| uids.contains(&r.uid))
                && !pods::is_terminal(p)
        }))
    }
}
