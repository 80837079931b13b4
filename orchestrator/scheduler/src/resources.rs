//! What a pod asks for and what a node has, in the units the filters
//! compare (millicores, bytes, pod slots).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity as K8sQuantity;
use skiff_api::quantity::Quantity;

/// An amount of each scheduled resource.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Amounts {
    /// CPU in millicores.
    pub cpu_millis: i128,
    /// Memory in bytes.
    pub memory_bytes: i128,
    /// Pod slots.
    pub pods: i128,
}

impl Amounts {
    /// Adds another amount.
    pub fn add(&mut self, o: &Amounts) {
        self.cpu_millis += o.cpu_millis;
        self.memory_bytes += o.memory_bytes;
        self.pods += o.pods;
    }

    fn max(&mut self, o: &Amounts) {
        self.cpu_millis = self.cpu_millis.max(o.cpu_millis);
        self.memory_bytes = self.memory_bytes.max(o.memory_bytes);
    }
}

fn parse(q: Option<&K8sQuantity>) -> Option<Quantity> {
    q.and_then(|q| q.0.parse::<Quantity>().ok())
}

fn from_map(map: Option<&BTreeMap<String, K8sQuantity>>) -> Amounts {
    let map = map.cloned().unwrap_or_default();
    Amounts {
        cpu_millis: parse(map.get("cpu")).map_or(0, |q| q.as_millis()),
        memory_bytes: parse(map.get("memory")).map_or(0, |q| q.as_bytes()),
        pods: parse(map.get("pods")).map_or(0, |q| q.as_units()),
    }
}

/// The pod's effective request, as Kubernetes computes it (`PodRequests`
/// in `pkg/api/v1/resource`): the app containers and the sidecars (init
/// containers with `restartPolicy: Always`) run together, so their sum;
/// but at least what any init container needs while it runs, which is its
/// own request plus every sidecar started before it (a sidecar's own turn:
/// the sidecars up to and including it); plus the pod overhead; one pod
/// slot. A container with limits but no requests requests its limits (API
/// defaulting).
pub fn pod_requests(pod: &Pod) -> Amounts {
    let Some(spec) = &pod.spec else {
        return Amounts {
            pods: 1,
            ..Amounts::default()
        };
    };
    let container = |c: &k8s_openapi::api::core::v1::Container| {
        let r = c.resources.as_ref();
        let req = from_map(r.and_then(|r| r.requests.as_ref()));
        let lim = from_map(r.and_then(|r| r.limits.as_ref()));
        let has = |key: &str| {
            r.and_then(|r| r.requests.as_ref())
                .is_some_and(|m| m.contains_key(key))
        };
        Amounts {
            cpu_millis: if has("cpu") {
                req.cpu_millis
            } else {
                lim.cpu_millis
            },
            memory_bytes: if has("memory") {
                req.memory_bytes
            } else {
                lim.memory_bytes
            },
            pods: 0,
        }
    };
    let mut sum = Amounts::default();
    for c in &spec.containers {
        sum.add(&container(c));
    }
    let (mut sidecars, mut init_peak) = (Amounts::default(), Amounts::default());
    for c in spec.init_containers.iter().flatten() {
        let own = container(c);
        let during = if c.restart_policy.as_deref() == Some("Always") {
            sum.add(&own);
            sidecars.add(&own);
            sidecars
        } else {
            let mut t = own;
            t.add(&sidecars);
            t
        };
        init_peak.max(&during);
    }
    sum.max(&init_peak);
    sum.add(&from_map(spec.overhead.as_ref()));
    sum.pods = 1;
    sum
}

/// The node's allocatable amounts (capacity when allocatable is absent).
pub fn node_allocatable(node: &Node) -> Amounts {
    let status = node.status.as_ref();
    let map = status
        .and_then(|s| s.allocatable.as_ref())
        .or_else(|| status.and_then(|s| s.capacity.as_ref()));
    from_map(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(json: serde_json::Value) -> Pod {
        serde_json::from_value(json).expect("pod")
    }

    #[test]
    fn requests_sum_containers_and_take_max_of_init() {
        let p = pod(serde_json::json!({
            "spec": {
                "containers": [
                    {"name": "a", "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}},
                    {"name": "b", "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}
                ],
                "initContainers": [{"name": "i", "resources": {"requests": {"cpu": "2"}}}],
                "overhead": {"memory": "1Mi"}
            }
        }));
        let r = pod_requests(&p);
        assert_eq!(r.cpu_millis, 2000);
        assert_eq!(r.memory_bytes, (64 + 1024 + 1) * 1024 * 1024);
        assert_eq!(r.pods, 1);
    }

    #[test]
    fn sidecars_add_to_containers_and_to_later_init_containers() {
        let p = pod(serde_json::json!({
            "spec": {
                "initContainers": [
                    {"name": "first", "resources": {"requests": {"cpu": "500m"}}},
                    {"name": "side", "restartPolicy": "Always",
                     "resources": {"requests": {"cpu": "200m", "memory": "100Mi"}}},
                    {"name": "migrate", "resources": {"requests": {"cpu": "1", "memory": "50Mi"}}},
                    {"name": "side2", "restartPolicy": "Always",
                     "resources": {"limits": {"cpu": "100m", "memory": "10Mi"}}}
                ],
                "containers": [
                    {"name": "app", "resources": {"requests": {"cpu": "300m", "memory": "200Mi"}}}
                ],
                "overhead": {"cpu": "10m"}
            }
        }));
        let r = pod_requests(&p);
        // cpu: max(init peak = migrate 1000 + side 200, app 300 + sidecars
        // 200 + 100) + overhead 10.
        assert_eq!(r.cpu_millis, 1210);
        // memory: max(migrate 50 + side 100 = 150, app 200 + sidecars 110).
        assert_eq!(r.memory_bytes, 310 * 1024 * 1024);
        // A regular init container with no sidecar before it needs only itself.
        let q = pod(serde_json::json!({
            "spec": {
                "initContainers": [
                    {"name": "big", "resources": {"requests": {"cpu": "2"}}},
                    {"name": "side", "restartPolicy": "Always",
                     "resources": {"requests": {"cpu": "1"}}}
                ],
                "containers": [{"name": "app", "resources": {"requests": {"cpu": "500m"}}}]
            }
        }));
        assert_eq!(pod_requests(&q).cpu_millis, 2000);
    }
}
