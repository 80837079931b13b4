//! Registration of the Node object and its heartbeats: a Lease in
//! `kube-node-lease` renewed every 10 s, and the node's conditions every
//! minute (as kubelets with node leases do).

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Node;
use kube::Client;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

use crate::{Config, Error, sysinfo};

/// How long a lease is valid; renewed every quarter of it.
pub const LEASE_SECONDS: i32 = 40;

fn now() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

fn now_micro() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%S%.6fZ")
        .to_string()
}

/// The labels a node carries: os, arch, hostname (and their beta forms).
pub fn labels(cfg: &Config) -> BTreeMap<String, String> {
    let mut l = BTreeMap::new();
    for (k, v) in [
        ("kubernetes.io/os", "linux"),
        ("beta.kubernetes.io/os", "linux"),
        ("kubernetes.io/arch", sysinfo::go_arch()),
        ("beta.kubernetes.io/arch", sysinfo::go_arch()),
        ("kubernetes.io/hostname", cfg.node_name.as_str()),
    ] {
        l.insert(k.to_owned(), v.to_owned());
    }
    l.extend(cfg.labels.clone());
    l
}

/// The node's status as the kubelet writes it.
pub fn status(cfg: &Config, handlers: &[String], transition: &str) -> Value {
    let cpus = sysinfo::cpus();
    let mem = sysinfo::memory_kib();
    // The kubelet's default hard eviction threshold: memory.available<100Mi.
    let alloc_mem = mem.saturating_sub(100 * 1024);
    let heartbeat = now();
    let cond = |t: &str, s: &str, reason: &str, msg: &str| json!({"type": t, "status": s, "lastHeartbeatTime": heartbeat, "lastTransitionTime": transition, "reason": reason, "message": msg});
    json!({
        "capacity": {"cpu": cpus.to_string(), "memory": format!("{mem}Ki"), "pods": cfg.max_pods.to_string()},
        "allocatable": {"cpu": cpus.to_string(), "memory": format!("{alloc_mem}Ki"), "pods": cfg.max_pods.to_string()},
        "conditions": [
            cond("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
            cond("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
            cond("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
            cond("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
        ],
        "addresses": [
            {"type": "InternalIP", "address": cfg.address.to_string()},
            {"type": "Hostname", "address": cfg.node_name},
        ],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": cfg.kubelet_port}},
        "nodeInfo": {
            "machineID": sysinfo::machine_id(),
            "systemUUID": sysinfo::machine_id(),
            "bootID": sysinfo::boot_id(),
            "kernelVersion": sysinfo::kernel_version(),
            "osImage": sysinfo::os_image(),
            "containerRuntimeVersion": format!("skiff://{}", env!("CARGO_PKG_VERSION")),
            "kubeletVersion": format!("v1.33.0+skiff-{}", env!("CARGO_PKG_VERSION")),
            "kubeProxyVersion": "",
            "operatingSystem": "linux",
            "architecture": sysinfo::go_arch(),
        },
        "runtimeHandlers": handlers.iter().map(|h| json!({
            "name": h,
            "features": {"recursiveReadOnlyMounts": false, "userNamespaces": false}
        })).collect::<Vec<_>>(),
    })
}

/// The node's spec: its pod CIDR, which a single node owns itself (in a
/// cluster of several, the node IPAM controller would assign it).
pub fn spec(cfg: &Config) -> Value {
    match &cfg.network {
        Some(n) => {
            let cidr = n.pod_cidr.to_string();
            json!({"podCIDR": cidr, "podCIDRs": [cidr]})
        }
        None => json!({}),
    }
}

fn api_err(action: String) -> impl FnOnce(kube::Error) -> Error {
    move |source| Error::Api { action, source }
}

/// Creates the Node (or updates an existing one's labels) and writes its
/// status.
pub async fn register(client: &Client, cfg: &Config, handlers: &[String]) -> Result<(), Error> {
    let nodes = Api::<Node>::all(client.clone());
    let name = &cfg.node_name;
    match nodes
        .get_opt(name)
        .await
        .map_err(api_err(format!("reading node {name}")))?
    {
        Some(_) => {
            nodes
                .patch(
                    name,
                    &PatchParams::default(),
                    &Patch::Merge(json!({"metadata": {"labels": labels(cfg)}, "spec": spec(cfg)})),
                )
                .await
                .map_err(api_err(format!("updating node {name}")))?;
        }
        None => {
            let node: Node = serde_json::from_value(json!({
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {"name": name, "labels": labels(cfg)},
                "spec": spec(cfg),
            }))
            .map_err(|e| Error::Internal(format!("building the Node: {e}")))?;
            nodes
                .create(&PostParams::default(), &node)
                .await
                .map_err(api_err(format!("creating node {name}")))?;
        }
    }
    write_status(client, cfg, handlers, &now()).await
}

async fn write_status(
    client: &Client,
    cfg: &Config,
    handlers: &[String],
    transition: &str,
) -> Result<(), Error> {
    Api::<Node>::all(client.clone())
        .patch_status(
            &cfg.node_name,
            &PatchParams::default(),
            &Patch::Merge(json!({"status": status(cfg, handlers, transition)})),
        )
        .await
        .map_err(api_err(format!("writing status of node {}", cfg.node_name)))?;
    Ok(())
}

async fn renew_lease(client: &Client, cfg: &Config) -> Result<(), Error> {
    let leases = Api::<Lease>::namespaced(client.clone(), "kube-node-lease");
    let name = &cfg.node_name;
    let spec = json!({
        "holderIdentity": name,
        "leaseDurationSeconds": LEASE_SECONDS,
        "renewTime": now_micro(),
    });
    if leases
        .get_opt(name)
        .await
        .map_err(api_err(format!("reading lease {name}")))?
        .is_some()
    {
        leases
            .patch(
                name,
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": spec})),
            )
            .await
            .map_err(api_err(format!("renewing lease {name}")))?;
        return Ok(());
    }
    let lease: Lease = serde_json::from_value(json!({
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": name, "namespace": "kube-node-lease"},
        "spec": spec,
    }))
    .map_err(|e| Error::Internal(format!("building the Lease: {e}")))?;
    leases
        .create(&PostParams::default(), &lease)
        .await
        .map_err(api_err(format!("creating lease {name}")))?;
    Ok(())
}

/// Renews the lease every 10 s and the node status every minute, forever.
pub async fn heartbeat(client: Client, cfg: Config, handlers: Vec<String>) {
    let transition = now();
    let mut tick = tokio::time::interval(Duration::from_secs((LEASE_SECONDS / 4) as u64));
    let mut n: u64 = 0;
    loop {
        tick.tick().await;
        if let Err(e) = renew_lease(&client, &cfg).await {
            tracing::warn!(error = %e, "lease renewal failed");
        }
        if n > 0
            && n.is_multiple_of(6)
            && let Err(e) = write_status(&client, &cfg, &handlers, &transition).await
        {
            tracing::warn!(error = %e, "node status update failed");
        }
        n += 1;
    }
}
