//! `pods/eviction` (POST a `policy/v1` Eviction): a delete that respects
//! PodDisruptionBudgets, as Kubernetes' eviction REST does.
//!
//! The budget is checked and decremented in one compare-and-swap write of
//! its status (the evicted pod goes into `disruptedPods`, so the
//! disruption controller does not count it healthy before the deletion
//! shows), and only then is the pod deleted. Two evictions racing for the
//! last allowed disruption therefore cannot both pass.

use axum::response::Response;
use http::StatusCode;
use serde_json::{Value, json};
use skiff_api::selector::LabelSelector;
use skiff_api::status::{ApiError, Cause, Details, Reason};
use skiff_store::{ListOptions, Store};

use super::delete::{Options, delete_one};
use super::update::{Part, write};
use super::{Ctx, json_response};
use crate::route::Target;
use crate::state::{Api, store_error};
use crate::{body, objects};

/// The message Kubernetes answers a blocked eviction with (kubectl drain
/// prints it and retries).
pub const VIOLATION: &str = "Cannot evict pod as it would violate the pod's disruption budget.";

/// Kubernetes' `MaxDisruptedPodSize`: evictions not yet confirmed by the
/// disruption controller beyond this are refused.
const MAX_DISRUPTED_PODS: usize = 2000;

/// POST pods/NAME/eviction.
pub async fn evict<S: Store>(api: &Api<S>, ctx: &Ctx) -> Result<Response, ApiError> {
    let eviction = body::object(&ctx.headers, &ctx.body)?;
    let name = ctx.name().to_owned();
    if let Some(n) = eviction.pointer("/metadata/name").and_then(Value::as_str)
        && !n.is_empty()
        && n != name
    {
        return Err(ApiError::bad_request(format!(
            "name in URL does not match name in Eviction object: {name} vs {n}"
        )));
    }
    let opts = delete_options(&eviction);
    let (pod, _) = api.read(&ctx.res, ctx.ns(), &name).await?;
    if !can_ignore_budgets(&pod) {
        let budgets = matching_budgets(api, ctx, &pod).await?;
        match budgets.as_slice() {
            [] => {}
            [pdb] => {
                let skip = !is_ready(&pod) && unhealthy_may_go(pdb);
                if !skip {
                    take_disruption(api, ctx, pdb, &name).await?;
                }
            }
            _ => {
                return Err(ApiError::internal(
                    "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.",
                ));
            }
        }
    }
    mark_disruption_target(api, ctx).await?;
    delete_one(api, ctx, &name, &opts).await?;
    Ok(json_response(
        StatusCode::CREATED,
        &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}),
    ))
}

/// Kubernetes' `addConditionAndDeletePod`: before the delete, the pod gets
/// `DisruptionTarget=True` so that its controller (a Job's
/// podFailurePolicy, say) can tell an eviction from a failure.
async fn mark_disruption_target<S: Store>(api: &Api<S>, ctx: &Ctx) -> Result<(), ApiError> {
    let now = objects::now();
    write(api, ctx, Part::Status, None, |cur| {
        let mut next = cur.clone();
        let condition = json!({
            "type": "DisruptionTarget",
            "status": "True",
            "reason": "EvictionByEvictionAPI",
            "message": "Eviction API: evicting",
            "lastTransitionTime": now,
        });
        upsert_condition(&mut next, condition);
        Ok(next)
    })
    .await?;
    Ok(())
}

/// Puts `condition` into `status.conditions`, replacing one of its type;
/// the transition time stays when the status does not change.
fn upsert_condition(pod: &mut Value, mut condition: Value) {
    if !pod["status"].is_object() {
        pod["status"] = json!({});
    }
    if !pod["status"]["conditions"].is_array() {
        pod["status"]["conditions"] = json!([]);
    }
    let Some(conditions) = pod["status"]["conditions"].as_array_mut() else {
        return;
    };
    match conditions
        .iter_mut()
        .find(|c| c.get("type") == condition.get("type"))
    {
        Some(old) => {
            if old.get("status") == condition.get("status") {
                condition["lastTransitionTime"] = old["lastTransitionTime"].clone();
            }
            *old = condition;
        }
        None => conditions.push(condition),
    }
}

/// The Eviction's `deleteOptions`.
fn delete_options(eviction: &Value) -> Options {
    let o = eviction.get("deleteOptions");
    let s = |p: &str| {
        o.and_then(|o| o.pointer(p))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let mut propagation = s("/propagationPolicy");
    if o.and_then(|o| o.get("orphanDependents"))
        .and_then(Value::as_bool)
        == Some(true)
    {
        propagation = Some("Orphan".into());
    }
    Options {
        grace: o
            .and_then(|o| o.get("gracePeriodSeconds"))
            .and_then(Value::as_i64),
        uid: s("/preconditions/uid"),
        resource_version: s("/preconditions/resourceVersion"),
        propagation: propagation
            .filter(|p| matches!(p.as_str(), "Background" | "Foreground" | "Orphan")),
    }
}

/// Kubernetes' `canIgnorePDB`: pods that finished, never started or are
/// already going do not count against a budget.
fn can_ignore_budgets(pod: &Value) -> bool {
    objects::is_deleting(pod)
        || matches!(
            pod.pointer("/status/phase").and_then(Value::as_str),
            Some("Succeeded" | "Failed" | "Pending") | None
        )
}

fn is_ready(pod: &Value) -> bool {
    pod.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| {
            cs.iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        })
}

/// `unhealthyPodEvictionPolicy`: `AlwaysAllow` lets a pod that is not
/// ready go; the default `IfHealthyBudget` only while the budget is met.
fn unhealthy_may_go(pdb: &Value) -> bool {
    if pdb
        .pointer("/spec/unhealthyPodEvictionPolicy")
        .and_then(Value::as_str)
        == Some("AlwaysAllow")
    {
        return true;
    }
    let n = |p: &str| pdb.pointer(p).and_then(Value::as_i64).unwrap_or(0);
    let desired = n("/status/desiredHealthy");
    n("/status/currentHealthy") >= desired && desired > 0
}

/// The PodDisruptionBudgets of the pod's namespace whose selector matches
/// its labels.
async fn matching_budgets<S: Store>(
    api: &Api<S>,
    ctx: &Ctx,
    pod: &Value,
) -> Result<Vec<Value>, ApiError> {
    let Some(res) = api.registry().get("policy", "v1", "poddisruptionbudgets") else {
        return Ok(Vec::new());
    };
    let page = api
        .store
        .list(&res.collection_key(ctx.ns()), ListOptions::default())
        .await
        .map_err(|e| store_error(&res, "", e))?;
    let labels = objects::meta(pod).get("labels");
    let mut out = Vec::new();
    for kv in &page.items {
        let pdb = objects::decode(kv)?;
        // A budget with no or a broken selector protects nothing.
        let Ok(sel) = LabelSelector::from_json(pdb.pointer("/spec/selector")) else {
            continue;
        };
        if !sel.matches_nothing() && sel.matches_json(labels) {
            out.push(pdb);
        }
    }
    Ok(out)
}

/// Kubernetes' `checkAndDecrement`, as one CAS write of the budget status.
async fn take_disruption<S: Store>(
    api: &Api<S>,
    ctx: &Ctx,
    pdb: &Value,
    pod: &str,
) -> Result<(), ApiError> {
    let Some(res) = api.registry().get("policy", "v1", "poddisruptionbudgets") else {
        return Ok(());
    };
    let pdb_name = objects::name(pdb).to_owned();
    let pdb_ctx = Ctx {
        target: Target {
            group: "policy".into(),
            version: "v1".into(),
            namespace: ctx.target.namespace.clone(),
            resource: "poddisruptionbudgets".into(),
            name: Some(pdb_name.clone()),
            subresource: Some("status".into()),
        },
        res,
        query: ctx.query.clone(),
        headers: http::HeaderMap::new(),
        body: bytes::Bytes::new(),
        user: ctx.user.clone(),
    };
    let now = objects::now();
    // `write` re-reads and retries when another writer got in between, and
    // runs this check on every fresh copy: the budget is never overspent.
    write(api, &pdb_ctx, Part::Status, None, |cur| {
        let n = |p: &str| cur.pointer(p).and_then(Value::as_i64).unwrap_or(0);
        let generation = n("/metadata/generation");
        if n("/status/observedGeneration") < generation {
            return Err(too_many(format!(
                "The disruption budget {pdb_name} is still being processed by the server."
            )));
        }
        let allowed = n("/status/disruptionsAllowed");
        if allowed < 0 {
            return Err(ApiError::new(
                Reason::Forbidden,
                "pdb disruptions allowed is negative",
            ));
        }
        let disrupted = cur
            .pointer("/status/disruptedPods")
            .and_then(Value::as_object)
            .map_or(0, |m| m.len());
        if disrupted > MAX_DISRUPTED_PODS {
            return Err(ApiError::new(
                Reason::Forbidden,
                "DisruptedPods map too big - too many evictions not confirmed by PDB controller",
            ));
        }
        if allowed == 0 {
            return Err(too_many(format!(
                "The disruption budget {pdb_name} needs {} healthy pods and has {} currently",
                n("/status/desiredHealthy"),
                n("/status/currentHealthy")
            )));
        }
        let mut next = cur.clone();
        next["status"]["disruptionsAllowed"] = (allowed - 1).into();
        if !next["status"]["disruptedPods"].is_object() {
            next["status"]["disruptedPods"] = json!({});
        }
        next["status"]["disruptedPods"][pod] = now.clone().into();
        Ok(next)
    })
    .await?;
    Ok(())
}

/// 429 with the budget as the cause, as Kubernetes answers.
fn too_many(cause: String) -> ApiError {
    let mut e = ApiError::new(Reason::TooManyRequests, VIOLATION);
    e.details = Some(Box::new(Details {
        causes: vec![Cause {
            reason: "DisruptionBudget".into(),
            message: cause,
            field: String::new(),
        }],
        ..Details::default()
    }));
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_disruption_condition_replaces_its_type_and_keeps_its_time() {
        let mut pod = json!({"status": {"conditions": [
            {"type": "Ready", "status": "True"},
            {"type": "DisruptionTarget", "status": "True", "reason": "Old", "lastTransitionTime": "t0"},
        ]}});
        upsert_condition(
            &mut pod,
            json!({"type": "DisruptionTarget", "status": "True", "reason": "EvictionByEvictionAPI", "lastTransitionTime": "t1"}),
        );
        let conditions = pod["status"]["conditions"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert_eq!(conditions.len(), 2);
        assert_eq!(conditions[1]["reason"], "EvictionByEvictionAPI");
        assert_eq!(conditions[1]["lastTransitionTime"], "t0");
        let mut bare = json!({});
        upsert_condition(
            &mut bare,
            json!({"type": "DisruptionTarget", "status": "True"}),
        );
        assert_eq!(bare["status"]["conditions"][0]["type"], "DisruptionTarget");
    }

    #[test]
    fn finished_pending_and_deleting_pods_skip_budgets() {
        assert!(can_ignore_budgets(&json!({"status": {"phase": "Pending"}})));
        assert!(can_ignore_budgets(
            &json!({"status": {"phase": "Succeeded"}})
        ));
        assert!(can_ignore_budgets(
            &json!({"metadata": {"deletionTimestamp": "2026-01-01T00:00:00Z"}, "status": {"phase": "Running"}})
        ));
        assert!(!can_ignore_budgets(
            &json!({"status": {"phase": "Running"}})
        ));
    }

    #[test]
    fn unhealthy_pods_go_while_the_budget_holds() {
        let pdb = json!({"status": {"currentHealthy": 2, "desiredHealthy": 2}});
        assert!(unhealthy_may_go(&pdb));
        let short = json!({"status": {"currentHealthy": 1, "desiredHealthy": 2}});
        assert!(!unhealthy_may_go(&short));
        let always = json!({"spec": {"unhealthyPodEvictionPolicy": "AlwaysAllow"}});
        assert!(unhealthy_may_go(&always));
    }

    #[test]
    fn violations_carry_the_budget_cause() {
        let e = too_many("The disruption budget b needs 2 healthy pods and has 2 currently".into());
        assert_eq!(e.code(), 429);
        let s = e.to_status();
        assert_eq!(s["message"], VIOLATION);
        assert_eq!(s["details"]["causes"][0]["reason"], "DisruptionBudget");
    }
}
