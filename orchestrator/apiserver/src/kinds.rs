//! The few kinds whose writes do more than store an object, in one place so
//! the verb handlers stay generic:
//!
//! - CustomResourceDefinition: checked, then established (served) or
//!   removed with its objects ([`crate::crd`]);
//! - Service: ClusterIP and NodePort allocation ([`crate::alloc`]).

use serde_json::Value;
use skiff_api::registry::Resource;
use skiff_api::status::{ApiError, Cause};
use skiff_store::Store;

use crate::alloc::{self, Reserved};
use crate::state::Api;
use crate::{crd, objects};

fn is(res: &Resource, group: &str, kind: &str) -> bool {
    res.group == group && res.kind == kind
}

/// Kind-specific checks and status before any write of `obj`.
pub fn prepare(res: &Resource, obj: &mut Value) -> Result<(), ApiError> {
    if is(res, "apiextensions.k8s.io", "CustomResourceDefinition") {
        crd::prepare(obj)?;
    }
    Ok(())
}

/// Allocations a new object needs before it is stored.
pub async fn before_create<S: Store>(
    api: &Api<S>,
    res: &Resource,
    obj: &mut Value,
    dry_run: bool,
) -> Result<Reserved, ApiError> {
    if is(res, "", "Service") {
        return alloc::allocate(api, obj, dry_run).await;
    }
    Ok(Reserved::default())
}

/// Carries allocated values a client may omit on update, refuses changes to
/// immutable ones, and allocates what a changed object newly needs.
pub async fn before_update<S: Store>(
    api: &Api<S>,
    res: &Resource,
    current: &Value,
    new: &mut Value,
    dry_run: bool,
) -> Result<Reserved, ApiError> {
    if !is(res, "", "Service") {
        return Ok(Reserved::default());
    }
    let old_ip = current
        .pointer("/spec/clusterIP")
        .and_then(Value::as_str)
        .unwrap_or("");
    match new
        .pointer("/spec/clusterIP")
        .and_then(Value::as_str)
        .unwrap_or("")
    {
        "" => {
            new["spec"]["clusterIP"] = current["spec"]["clusterIP"].clone();
            new["spec"]["clusterIPs"] = current["spec"]["clusterIPs"].clone();
        }
        ip if ip != old_ip && !old_ip.is_empty() => {
            return Err(ApiError::invalid(
                "",
                "Service",
                objects::name(new),
                vec![Cause {
                    reason: "FieldValueInvalid".into(),
                    message: format!("Invalid value: \"{ip}\": field is immutable"),
                    field: "spec.clusterIPs[0]".into(),
                }],
            ));
        }
        _ => {}
    }
    // Ports keep their node port when the client did not name one.
    let old_ports = current
        .pointer("/spec/ports")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let ty = new
        .pointer("/spec/type")
        .and_then(Value::as_str)
        .unwrap_or("ClusterIP")
        .to_owned();
    if let Some(ports) = new.pointer_mut("/spec/ports").and_then(Value::as_array_mut) {
        for p in ports.iter_mut() {
            if !matches!(ty.as_str(), "NodePort" | "LoadBalancer") {
                if let Some(o) = p.as_object_mut() {
                    o.remove("nodePort");
                }
                continue;
            }
            if p.get("nodePort").and_then(Value::as_i64).unwrap_or(0) == 0
                && let Some(old) = old_ports
                    .iter()
                    .find(|o| o["port"] == p["port"] && o["protocol"] == p["protocol"])
                && let Some(np) = old.get("nodePort").filter(|n| n.as_i64().unwrap_or(0) != 0)
            {
                p["nodePort"] = np.clone();
            }
        }
    }
    alloc::allocate_on_update(api, new, &alloc::held_by(current), dry_run).await
}

/// Undoes `before_*` allocations of a write that did not happen.
pub async fn abort<S: Store>(api: &Api<S>, reserved: Reserved) {
    alloc::release(api, reserved).await;
}

/// After `obj` was stored (created or updated from `previous`).
pub async fn after_write<S: Store>(
    api: &Api<S>,
    res: &Resource,
    previous: Option<&Value>,
    obj: &Value,
) {
    if is(res, "apiextensions.k8s.io", "CustomResourceDefinition") {
        crd::establish(api, obj);
    }
    if is(res, "", "Service")
        && let Some(prev) = previous
    {
        let now = alloc::held_by(obj);
        let gone: Vec<String> = alloc::held_by(prev)
            .keys()
            .iter()
            .filter(|k| !now.contains(k))
            .cloned()
            .collect();
        alloc::release(api, Reserved::from_keys(gone)).await;
    }
}

/// Before `obj` is removed from the store for good.
pub async fn before_delete<S: Store>(api: &Api<S>, res: &Resource, obj: &Value) {
    if is(res, "apiextensions.k8s.io", "CustomResourceDefinition") {
        crd::remove(api, obj).await;
    }
}

/// After `obj` was removed from the store.
pub async fn after_delete<S: Store>(api: &Api<S>, res: &Resource, obj: &Value) {
    if is(res, "", "Service") {
        alloc::release(api, alloc::held_by(obj)).await;
    }
}
