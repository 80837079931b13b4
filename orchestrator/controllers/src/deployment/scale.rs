//! Scaling without a rollout (Kubernetes' `sync` and `scale`): what a
//! paused Deployment or a change of `spec.replicas` does, proportionally
//! over the active ReplicaSets while a rollout is under way.

use k8s_openapi::api::apps::v1::ReplicaSet;
use kube::runtime::controller::Action;

use super::rolling::{is_recreate, max_surge, replicas, rs_available, rs_replicas, total_replicas};
use super::{Error, Run, revision};

impl Run<'_> {
    /// Kubernetes' `sync`: scaling (proportionally while a rollout is
    /// under way) and, when paused, history clean-up; no rollout progress.
    pub(super) async fn sync_scale(&mut self, rss: Vec<ReplicaSet>) -> Result<Action, Error> {
        let (mut new, mut old) = Box::pin(self.all_replica_sets(rss, false)).await?;
        self.scale_all(new.as_mut(), &mut old).await?;
        if self.paused() {
            self.cleanup(&old).await?;
        }
        self.sync_status(new.as_ref(), &old).await
    }

    /// Kubernetes' `scale`.
    async fn scale_all(
        &self,
        new: Option<&mut ReplicaSet>,
        old: &mut [ReplicaSet],
    ) -> Result<(), Error> {
        let want = replicas(&self.d);
        let new_saturated = new
            .as_ref()
            .is_some_and(|n| rs_replicas(n) == want && rs_available(n) == want);
        let mut all: Vec<&mut ReplicaSet> = old.iter_mut().chain(new).collect();
        let active = all.iter().filter(|rs| rs_replicas(rs) > 0).count();
        if active <= 1 {
            // The one active ReplicaSet, or the newest if none is.
            let target = match all.iter().position(|rs| rs_replicas(rs) > 0) {
                Some(i) => Some(i),
                None => (0..all.len())
                    .max_by_key(|i| all[*i].metadata.creation_timestamp.as_ref().map(|t| t.0)),
            };
            if let Some(i) = target {
                self.scale(all[i], want).await?;
            }
            return Ok(());
        }
        if new_saturated {
            let last = all.len() - 1;
            for rs in all.iter_mut().take(last) {
                if rs_replicas(rs) > 0 {
                    self.scale(rs, 0).await?;
                }
            }
            return Ok(());
        }
        if is_recreate(&self.d) {
            return Ok(());
        }
        // Proportional scaling: spread the difference over the active
        // ReplicaSets by their share of the old `max-replicas`.
        let mut active: Vec<&mut ReplicaSet> =
            all.into_iter().filter(|rs| rs_replicas(rs) > 0).collect();
        let allowed = want + max_surge(&self.d);
        let current = total_replicas(active.iter().map(|r| &**r));
        let to_add = allowed - current;
        let newer = |rs: &ReplicaSet| rs.metadata.creation_timestamp.as_ref().map(|t| t.0);
        if to_add > 0 {
            active.sort_by(|a, b| {
                rs_replicas(b)
                    .cmp(&rs_replicas(a))
                    .then_with(|| newer(b).cmp(&newer(a)))
            });
        } else {
            active.sort_by(|a, b| {
                rs_replicas(b)
                    .cmp(&rs_replicas(a))
                    .then_with(|| newer(a).cmp(&newer(b)))
            });
        }
        let status_replicas = self.d.status.as_ref().and_then(|s| s.replicas).unwrap_or(0);
        let mut sizes: Vec<i32> = Vec::with_capacity(active.len());
        let mut added = 0;
        for rs in &active {
            let size = rs_replicas(rs);
            let mut proportion = 0;
            if to_add != 0 && added != to_add {
                let fraction = if want == 0 {
                    -size
                } else {
                    let annotated = revision::int_annotation(rs, revision::MAX_REPLICAS)
                        .filter(|n| *n > 0)
                        .unwrap_or(status_replicas.max(1));
                    let target = f64::from(size) * f64::from(allowed) / f64::from(annotated);
                    // Within i32: size and allowed are i32 and annotated >= 1.
                    #[allow(
                        clippy::cast_possible_truncation,
                        reason = "the product over a positive divisor stays within i32"
                    )]
                    let rounded = target.round() as i32;
                    rounded - size
                };
                let left = to_add - added;
                proportion = if to_add > 0 {
                    fraction.min(left)
                } else {
                    fraction.max(left)
                };
            }
            added += proportion;
            sizes.push(size + proportion);
        }
        if let Some(first) = sizes.first_mut() {
            *first = (*first + to_add - added).max(0);
        }
        for (rs, size) in active.into_iter().zip(sizes) {
            self.scale(rs, size.max(0)).await?;
        }
        Ok(())
    }
}
