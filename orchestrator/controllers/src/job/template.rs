//! The pods a Job creates: its template plus the Job's labels, controller
//! reference, tracking finalizer and, in Indexed mode, the completion index.

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{EnvVar, EnvVarSource, ObjectFieldSelector, Pod};
use kube::ResourceExt;

/// Finalizer that keeps a finished pod until its outcome is in the Job's
/// status, so deleting a pod never loses a completion.
pub const TRACKING_FINALIZER: &str = "batch.kubernetes.io/job-tracking";
/// Label and annotation holding an Indexed Job pod's index.
pub const INDEX_KEY: &str = "batch.kubernetes.io/job-completion-index";
/// Annotation counting earlier failures of the pod's index
/// (`backoffLimitPerIndex`).
pub const INDEX_FAILURES: &str = "batch.kubernetes.io/job-index-failure-count";
/// The label carrying the owning Job's uid.
pub const CONTROLLER_UID: &str = "batch.kubernetes.io/controller-uid";

/// The pod for `index` (Indexed mode) or for any slot (`None`).
/// `index_failures` is how often this index already failed.
pub fn pod_for(job: &Job, index: Option<i32>, index_failures: u32) -> Pod {
    let name = job.name_any();
    let uid = job.uid().unwrap_or_default();
    let tpl = job
        .spec
        .as_ref()
        .map(|s| s.template.clone())
        .unwrap_or_default();
    let meta = tpl.metadata.unwrap_or_default();
    let mut labels = meta.labels.unwrap_or_default();
    // The API server adds these to the template when it generates the
    // selector; a manual selector may lack them, and pods need them to be
    // found again (and for `kubectl logs job/NAME`).
    for (k, v) in [
        (CONTROLLER_UID, uid.as_str()),
        ("controller-uid", uid.as_str()),
        ("batch.kubernetes.io/job-name", name.as_str()),
        ("job-name", name.as_str()),
    ] {
        labels.entry(k.to_owned()).or_insert_with(|| v.to_owned());
    }
    let mut annotations = meta.annotations.unwrap_or_default();
    let mut spec = tpl.spec.unwrap_or_default();
    let generate_name = match index {
        Some(i) => {
            labels.insert(INDEX_KEY.into(), i.to_string());
            annotations.insert(INDEX_KEY.into(), i.to_string());
            if index_failures > 0 {
                annotations.insert(INDEX_FAILURES.into(), index_failures.to_string());
            }
            // Stable host names per index, as Kubernetes gives them.
            if spec.hostname.is_none() {
                spec.hostname = Some(format!("{name}-{i}"));
            }
            let containers = spec
                .containers
                .iter_mut()
                .chain(spec.init_containers.iter_mut().flatten());
            for c in containers {
                let env = c.env.get_or_insert_with(Vec::new);
                if !env.iter().any(|e| e.name == "JOB_COMPLETION_INDEX") {
                    env.push(EnvVar {
                        name: "JOB_COMPLETION_INDEX".into(),
                        value: None,
                        value_from: Some(EnvVarSource {
                            field_ref: Some(ObjectFieldSelector {
                                api_version: Some("v1".into()),
                                field_path: format!("metadata.annotations['{INDEX_KEY}']"),
                            }),
                            ..Default::default()
                        }),
                    });
                }
            }
            format!("{name}-{i}-")
        }
        None => format!("{name}-"),
    };
    let mut finalizers = meta.finalizers.unwrap_or_default();
    finalizers.push(TRACKING_FINALIZER.into());
    Pod {
        metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
            generate_name: Some(generate_name),
            namespace: job.namespace(),
            labels: Some(labels),
            annotations: (!annotations.is_empty()).then_some(annotations),
            owner_references: Some(vec![crate::owner::controller_ref(job)]),
            finalizers: Some(finalizers),
            ..Default::default()
        },
        spec: Some(spec),
        status: None,
    }
}

/// The pod's completion index, if it has a valid one below `completions`.
pub fn index_of(pod: &Pod, completions: i32) -> Option<i32> {
    let from = |m: &Option<std::collections::BTreeMap<String, String>>| {
        m.as_ref()?.get(INDEX_KEY)?.parse::<i32>().ok()
    };
    from(&pod.metadata.annotations)
        .or_else(|| from(&pod.metadata.labels))
        .filter(|i| (0..completions).contains(i))
}

/// Earlier failures of the pod's index recorded on the pod.
pub fn recorded_failures(pod: &Pod) -> u32 {
    pod.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(INDEX_FAILURES))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Whether the pod still carries the tracking finalizer.
pub fn is_tracked(pod: &Pod) -> bool {
    pod.finalizers().iter().any(|f| f == TRACKING_FINALIZER)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indexed_pods_carry_their_index() {
        let job: Job = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "pi", "namespace": "ns", "uid": "u1"},
            "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "i"}]}}}
        }))
        .expect("job");
        let pod = pod_for(&job, Some(3), 0);
        assert_eq!(pod.metadata.generate_name.as_deref(), Some("pi-3-"));
        assert_eq!(index_of(&pod, 4), Some(3));
        assert_eq!(index_of(&pod, 3), None);
        assert!(is_tracked(&pod));
        let labels = pod.metadata.labels.clone().unwrap_or_default();
        assert_eq!(labels.get(CONTROLLER_UID).map(String::as_str), Some("u1"));
        assert_eq!(labels.get("job-name").map(String::as_str), Some("pi"));
        let env = pod
            .spec
            .as_ref()
            .and_then(|s| s.containers[0].env.clone())
            .unwrap_or_default();
        assert_eq!(env[0].name, "JOB_COMPLETION_INDEX");
        assert_eq!(
            crate::owner::controller_of(&pod.metadata).map(|r| r.uid.as_str()),
            Some("u1")
        );
    }
}
