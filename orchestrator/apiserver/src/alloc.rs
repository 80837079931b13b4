//! Service ClusterIP and NodePort allocation, as kube-apiserver does on
//! Service create.
//!
//! Each allocated IP or port is a reservation key in the store
//! (`/registry/ranges/serviceips/<ip>`, `/registry/ranges/servicenodeports/<port>`)
//! made with an atomic create, so two concurrent Services can never get the
//! same address. A reservation whose Service never got stored (a crash
//! between the two writes) is released by [`repair`] at start-up.

use std::net::Ipv4Addr;

use bytes::Bytes;
use rand::Rng;
use serde_json::{Value, json};
use skiff_api::status::{ApiError, Cause};
use skiff_store::{ListOptions, Store, StoreError};

use crate::objects;
use crate::state::Api;

/// The service CIDR (k3s's default): 10.43.0.0/16.
const NET: u32 = u32::from_be_bytes([10, 43, 0, 0]);
const PREFIX: u32 = 16;
/// Dynamic allocation avoids the lower band, which is left for Services
/// that ask for a fixed address (the API server's 10.43.0.1, DNS's 10.43.0.10).
const LOWER_BAND: u32 = 256;
/// NodePort range.
const PORTS: std::ops::RangeInclusive<u16> = 30000..=32767;
const IP_KEYS: &str = "/registry/ranges/serviceips/";
const PORT_KEYS: &str = "/registry/ranges/servicenodeports/";

/// Reservations made for one Service, released if its write fails.
#[derive(Debug, Default)]
pub struct Reserved(Vec<String>);

impl Reserved {
    /// Reservations by key.
    pub fn from_keys(keys: Vec<String>) -> Self {
        Reserved(keys)
    }

    /// The reservation keys.
    pub fn keys(&self) -> &[String] {
        &self.0
    }

    /// Whether `key` is among them.
    pub fn contains(&self, key: &str) -> bool {
        self.0.iter().any(|k| k == key)
    }
}

fn size() -> u32 {
    1 << (32 - PREFIX)
}

fn in_range(ip: Ipv4Addr) -> bool {
    let n = u32::from(ip);
    n & !(size() - 1) == NET && n != NET && n != NET + size() - 1
}

fn invalid(name: &str, field: &str, value: &str, detail: String) -> ApiError {
    ApiError::invalid(
        "",
        "Service",
        name,
        vec![Cause {
            reason: "FieldValueInvalid".into(),
            message: format!("Invalid value: {value}: {detail}"),
            field: field.into(),
        }],
    )
}

async fn reserve<S: Store>(api: &Api<S>, key: String, owner: &Value) -> Result<bool, ApiError> {
    let value = Bytes::from(serde_json::to_vec(owner).unwrap_or_default());
    match api.store.create(&key, value).await {
        Ok(_) => Ok(true),
        Err(StoreError::AlreadyExists { .. }) => Ok(false),
        Err(e) => Err(ApiError::internal(e.to_string())),
    }
}

/// Gives a new Service its ClusterIP(s) and NodePorts, checking those the
/// client chose. Call before storing; [`release`] on failure.
pub async fn allocate<S: Store>(
    api: &Api<S>,
    svc: &mut Value,
    dry_run: bool,
) -> Result<Reserved, ApiError> {
    let mut reserved = Reserved::default();
    match allocate_inner(api, svc, dry_run, &mut reserved).await {
        Ok(()) => Ok(reserved),
        Err(e) => {
            release(api, reserved).await;
            Err(e)
        }
    }
}

async fn allocate_inner<S: Store>(
    api: &Api<S>,
    svc: &mut Value,
    dry_run: bool,
    reserved: &mut Reserved,
) -> Result<(), ApiError> {
    let name = objects::name(svc).to_owned();
    let owner = json!({"namespace": objects::namespace(svc), "name": name});
    let ty = svc
        .pointer("/spec/type")
        .and_then(Value::as_str)
        .unwrap_or("ClusterIP")
        .to_owned();
    if ty != "ExternalName" {
        let asked = svc
            .pointer("/spec/clusterIP")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        let ip = match asked.as_str() {
            "None" => None,
            "" => Some(pick_ip(api, &owner, dry_run, reserved).await?),
            text => {
                let ip: Ipv4Addr = text.parse().map_err(|_| {
                    invalid(
                        &name,
                        "spec.clusterIPs",
                        &format!("[]string{{\"{text}\"}}"),
                        "must be a valid IP address".into(),
                    )
                })?;
                if !in_range(ip) {
                    return Err(invalid(
                        &name,
                        "spec.clusterIPs",
                        &format!("[]string{{\"{ip}\"}}"),
                        format!(
                            "failed to allocate IP {ip}: provided IP is not in the valid range. The range of valid IPs is 10.43.0.0/16"
                        ),
                    ));
                }
                let key = format!("{IP_KEYS}{ip}");
                if !dry_run {
                    if !reserve(api, key.clone(), &owner).await? {
                        return Err(invalid(
                            &name,
                            "spec.clusterIPs",
                            &format!("[]string{{\"{ip}\"}}"),
                            format!("failed to allocate IP {ip}: provided IP is already allocated"),
                        ));
                    }
                    reserved.0.push(key);
                }
                Some(ip.to_string())
            }
        };
        if let Some(ip) = ip {
            svc["spec"]["clusterIP"] = ip.clone().into();
            svc["spec"]["clusterIPs"] = json!([ip]);
        } else {
            svc["spec"]["clusterIPs"] = json!(["None"]);
        }
    }
    allocate_node_ports(api, svc, &Reserved::default(), dry_run, reserved).await
}

/// Allocates the node ports an updated Service newly needs; those in
/// `held` (its previous reservations) are kept as they are.
pub async fn allocate_on_update<S: Store>(
    api: &Api<S>,
    svc: &mut Value,
    held: &Reserved,
    dry_run: bool,
) -> Result<Reserved, ApiError> {
    let mut reserved = Reserved::default();
    match allocate_node_ports(api, svc, held, dry_run, &mut reserved).await {
        Ok(()) => Ok(reserved),
        Err(e) => {
            release(api, reserved).await;
            Err(e)
        }
    }
}

async fn pick_ip<S: Store>(
    api: &Api<S>,
    owner: &Value,
    dry_run: bool,
    reserved: &mut Reserved,
) -> Result<String, ApiError> {
    // Random probing: the range is large and mostly free, so a few tries
    // suffice; a scan afterwards finds the last free address of a full range.
    for attempt in 0..(size() + 64) {
        let offset = if attempt < 64 {
            rand::rng().random_range(LOWER_BAND..size() - 1)
        } else {
            LOWER_BAND + (attempt - 64) % (size() - 1 - LOWER_BAND)
        };
        let ip = Ipv4Addr::from(NET + offset);
        let key = format!("{IP_KEYS}{ip}");
        if dry_run {
            if api
                .store
                .get(&key)
                .await
                .map_err(|e| ApiError::internal(e.to_string()))?
                .is_none()
            {
                return Ok(ip.to_string());
            }
        } else if reserve(api, key.clone(), owner).await? {
            reserved.0.push(key);
            return Ok(ip.to_string());
        }
    }
    Err(ApiError::internal(
        "failed to allocate a service IP: range is full",
    ))
}

async fn allocate_node_ports<S: Store>(
    api: &Api<S>,
    svc: &mut Value,
    held: &Reserved,
    dry_run: bool,
    reserved: &mut Reserved,
) -> Result<(), ApiError> {
    let ty = svc
        .pointer("/spec/type")
        .and_then(Value::as_str)
        .unwrap_or("ClusterIP");
    if !matches!(ty, "NodePort" | "LoadBalancer") {
        return Ok(());
    }
    let name = objects::name(svc).to_owned();
    let name = name.as_str();
    let owner = json!({"namespace": objects::namespace(svc), "name": name});
    let owner = &owner;
    let Some(ports) = svc.pointer_mut("/spec/ports").and_then(Value::as_array_mut) else {
        return Ok(());
    };
    for (i, port) in ports.iter_mut().enumerate() {
        let asked = port.get("nodePort").and_then(Value::as_i64).unwrap_or(0);
        if asked != 0 && held.contains(&format!("{PORT_KEYS}{asked}")) {
            continue;
        }
        let field = format!("spec.ports[{i}].nodePort");
        let chosen = if asked != 0 {
            let p = u16::try_from(asked).ok().filter(|p| PORTS.contains(p)).ok_or_else(|| {
                invalid(name, &field, &asked.to_string(), "provided port is not in the valid range. The range of valid ports is 30000-32767".into())
            })?;
            let key = format!("{PORT_KEYS}{p}");
            if !dry_run {
                if !reserve(api, key.clone(), owner).await? {
                    return Err(invalid(
                        name,
                        &field,
                        &asked.to_string(),
                        "provided port is already allocated".into(),
                    ));
                }
                reserved.0.push(key);
            }
            p
        } else {
            let mut found = None;
            let span = u32::from(*PORTS.end() - *PORTS.start()) + 1;
            let start = rand::rng().random_range(0..span);
            for k in 0..span {
                let p = *PORTS.start() + u16::try_from((start + k) % span).unwrap_or(0);
                let key = format!("{PORT_KEYS}{p}");
                let free = if dry_run {
                    api.store
                        .get(&key)
                        .await
                        .map_err(|e| ApiError::internal(e.to_string()))?
                        .is_none()
                } else {
                    reserve(api, key.clone(), owner).await?
                };
                if free {
                    if !dry_run {
                        reserved.0.push(key);
                    }
                    found = Some(p);
                    break;
                }
            }
            found.ok_or_else(|| {
                ApiError::internal("failed to allocate a node port: range is full")
            })?
        };
        port["nodePort"] = chosen.into();
    }
    Ok(())
}

/// Gives back reservations (a failed create, or a deleted Service).
pub async fn release<S: Store>(api: &Api<S>, reserved: Reserved) {
    for key in reserved.0 {
        if let Err(e) = api.store.delete(&key, None).await
            && !matches!(e, StoreError::NotFound { .. })
        {
            tracing::warn!(%key, error = %e, "releasing a service reservation");
        }
    }
}

/// The reservations a stored Service holds.
pub fn held_by(svc: &Value) -> Reserved {
    let mut keys = Vec::new();
    for ip in svc
        .pointer("/spec/clusterIPs")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        if ip.parse::<Ipv4Addr>().is_ok() {
            keys.push(format!("{IP_KEYS}{ip}"));
        }
    }
    for p in svc
        .pointer("/spec/ports")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(n) = p
            .get("nodePort")
            .and_then(Value::as_i64)
            .filter(|n| *n != 0)
        {
            keys.push(format!("{PORT_KEYS}{n}"));
        }
    }
    Reserved(keys)
}

/// Releases reservations whose Service does not exist (start-up repair).
pub async fn repair<S: Store>(api: &Api<S>) -> Result<(), StoreError> {
    for prefix in [IP_KEYS, PORT_KEYS] {
        let page = api.store.list(prefix, ListOptions::default()).await?;
        for kv in page.items {
            let owner: Value = serde_json::from_slice(&kv.value).unwrap_or(Value::Null);
            let (Some(ns), Some(name)) = (owner["namespace"].as_str(), owner["name"].as_str())
            else {
                continue;
            };
            let svc_key = format!("/registry/core/services/{ns}/{name}");
            let holds = match api.store.get(&svc_key).await? {
                Some(svc) => objects::decode(&svc)
                    .map(|s| held_by(&s).0.contains(&kv.key))
                    .unwrap_or(false),
                None => false,
            };
            if !holds {
                tracing::info!(key = %kv.key, "releasing a reservation no Service holds");
                let _ = api.store.delete(&kv.key, Some(kv.mod_revision)).await;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_excludes_network_and_broadcast() {
        assert!(in_range("10.43.0.1".parse().expect("ip")));
        assert!(in_range("10.43.255.254".parse().expect("ip")));
        assert!(!in_range("10.43.0.0".parse().expect("ip")));
        assert!(!in_range("10.43.255.255".parse().expect("ip")));
        assert!(!in_range("10.44.0.1".parse().expect("ip")));
    }

    #[test]
    fn held_reservations_follow_the_spec() {
        let svc = json!({"spec": {"clusterIPs": ["10.43.1.2"], "ports": [{"nodePort": 30001}, {"port": 80}]}});
        assert_eq!(
            held_by(&svc).0,
            [
                "/registry/ranges/serviceips/10.43.1.2",
                "/registry/ranges/servicenodeports/30001"
            ]
        );
        assert!(
            held_by(&json!({"spec": {"clusterIPs": ["None"]}}))
                .0
                .is_empty()
        );
    }
}
