//! Score plugins. Only least-allocated so far: prefer the node with the
//! most free CPU and memory after placing the pod (kube-scheduler's
//! `NodeResourcesFit` default strategy), 0–100.

use k8s_openapi::api::core::v1::Node;

use crate::resources::{Amounts, node_allocatable};

/// `((free cpu / allocatable cpu) + (free memory / allocatable memory)) / 2`,
/// as a percentage, after adding the pod's request.
pub fn least_allocated(node: &Node, used: &Amounts, request: &Amounts) -> i64 {
    let alloc = node_allocatable(node);
    let part = |cap: i128, used: i128, req: i128| -> i128 {
        if cap <= 0 {
            return 0;
        }
        ((cap - used - req).max(0) * 100) / cap
    };
    let cpu = part(alloc.cpu_millis, used.cpu_millis, request.cpu_millis);
    let mem = part(alloc.memory_bytes, used.memory_bytes, request.memory_bytes);
    i64::try_from((cpu + mem) / 2).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emptier_node_scores_higher() {
        let n: Node = serde_json::from_value(serde_json::json!({
            "status": {"allocatable": {"cpu": "2", "memory": "2Gi", "pods": "110"}}
        }))
        .expect("node");
        let req = Amounts {
            cpu_millis: 500,
            memory_bytes: 512 << 20,
            pods: 1,
        };
        let empty = least_allocated(&n, &Amounts::default(), &req);
        let busy = least_allocated(
            &n,
            &Amounts {
                cpu_millis: 1000,
                memory_bytes: 1 << 30,
                pods: 3,
            },
            &req,
        );
        assert_eq!(empty, 75);
        assert!(busy < empty);
    }
}
