//! The Pod every benchmark writes: a realistic two-container web pod
//! (~1.5 KB of JSON once the server has defaulted it).

use serde_json::{Value, json};

/// A Pod named `name` in `namespace`.
pub(crate) fn pod(namespace: &str, name: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"app": "web", "tier": "frontend", "release": "stable", "bench": "skiff"},
            "annotations": {"skiff.dev/benchmark": "issue-3"}
        },
        "spec": {
            "containers": [
                {
                    "name": "web",
                    "image": "registry.local:5000/library/nginx:1.27.3",
                    "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
                    "env": [
                        {"name": "LOG_LEVEL", "value": "info"},
                        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}
                    ],
                    "resources": {
                        "requests": {"cpu": "100m", "memory": "128Mi"},
                        "limits": {"cpu": "500m", "memory": "256Mi"}
                    },
                    "readinessProbe": {
                        "httpGet": {"path": "/healthz", "port": 8080},
                        "periodSeconds": 5
                    },
                    "volumeMounts": [{"name": "config", "mountPath": "/etc/web", "readOnly": true}]
                },
                {
                    "name": "log-shipper",
                    "image": "registry.local:5000/library/fluent-bit:3.1.9",
                    "args": ["--config", "/etc/fluent-bit/fluent-bit.conf"],
                    "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}},
                    "volumeMounts": [{"name": "config", "mountPath": "/etc/fluent-bit", "readOnly": true}]
                }
            ],
            "volumes": [{"name": "config", "configMap": {"name": "web-config"}}],
            "restartPolicy": "Always",
            "terminationGracePeriodSeconds": 30
        }
    })
}

/// The same Pod as request bytes.
pub(crate) fn pod_bytes(namespace: &str, name: &str) -> Vec<u8> {
    serde_json::to_vec(&pod(namespace, name)).unwrap_or_default()
}
