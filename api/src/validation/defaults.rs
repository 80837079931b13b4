//! Defaulting on create: Kubernetes' `SetDefaults_*` functions (v1.33), plus
//! the few fields its default admission plugins and registry strategies fill
//! in before validation (service account, priority, default tolerations,
//! Service IP families, Namespace finalizer, Job selector).
//!
//! Not here, because they need state: Service `clusterIP`/`nodePort`
//! allocation, `metadata.uid`/`creationTimestamp`, the service account token
//! volume.

use base64::Engine as _;
use serde_json::{Map, Value, json};

use crate::quantity::Quantity;

/// Fills in the defaults Kubernetes gives a new object of a built-in kind;
/// other kinds are left alone. Never fails: malformed parts are skipped
/// (validation reports them).
pub fn default_object(group: &str, kind: &str, obj: &mut Value) {
    if !obj.is_object() {
        return;
    }
    match (group, kind) {
        ("", "Pod") => default_pod(obj),
        ("", "PodTemplate") => with(obj, "template", default_template),
        ("", "ReplicationController") => default_replication_controller(obj),
        ("", "Service") => default_service(obj),
        ("", "Secret") => default_secret(obj),
        ("", "Namespace") => default_namespace(obj),
        ("", "PersistentVolumeClaim") => default_pvc(obj),
        ("", "PersistentVolume") => default_pv(obj),
        ("", "Endpoints") => default_endpoints(obj),
        ("apps", "Deployment") => default_deployment(obj),
        ("apps", "ReplicaSet") => {
            let spec = object_at(obj, "spec");
            set_default(spec, "replicas", json!(1));
            with(spec, "template", default_template);
        }
        ("apps", "StatefulSet") => default_stateful_set(obj),
        ("apps", "DaemonSet") => default_daemon_set(obj),
        ("batch", "Job") => default_job(obj),
        ("batch", "CronJob") => default_cron_job(obj),
        _ => {}
    }
}

/// The object at `key`, created (replacing a non-object) when missing.
fn object_at<'a>(v: &'a mut Value, key: &str) -> &'a mut Value {
    if !v.is_object() {
        *v = Value::Object(Map::new());
    }
    let Value::Object(map) = v else {
        return v;
    };
    let entry = map
        .entry(key.to_owned())
        .or_insert_with(|| Value::Object(Map::new()));
    if !entry.is_object() {
        *entry = Value::Object(Map::new());
    }
    entry
}

/// Runs `f` on the object at `key` if there is one.
fn with(v: &mut Value, key: &str, f: impl FnOnce(&mut Value)) {
    if let Some(x) = v.get_mut(key).filter(|x| x.is_object()) {
        f(x);
    }
}

/// Runs `f` on every object element of the list at `key`.
fn each(v: &mut Value, key: &str, mut f: impl FnMut(&mut Value)) {
    if let Some(list) = v.get_mut(key).and_then(Value::as_array_mut) {
        for item in list.iter_mut().filter(|x| x.is_object()) {
            f(item);
        }
    }
}

/// Sets `key` when it is missing or null.
fn set_default(v: &mut Value, key: &str, value: Value) {
    if let Some(map) = v.as_object_mut() {
        let slot = map.entry(key.to_owned()).or_insert(Value::Null);
        if slot.is_null() {
            *slot = value;
        }
    }
}

/// Sets `key` when it is missing, null or the empty string (Go's zero string).
fn set_default_str(v: &mut Value, key: &str, value: &str) {
    if let Some(map) = v.as_object_mut() {
        let slot = map.entry(key.to_owned()).or_insert(Value::Null);
        if slot.is_null() || slot.as_str() == Some("") {
            *slot = Value::String(value.to_owned());
        }
    }
}

/// Whether `key` is missing, null or an empty string.
fn is_unset(v: &Value, key: &str) -> bool {
    match v.get(key) {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s.is_empty(),
        _ => false,
    }
}

/// The pull policy Kubernetes picks: `Always` for `:latest` or no tag, else `IfNotPresent`.
fn pull_policy(image: &str) -> &'static str {
    let image = image.trim();
    if image.is_empty() {
        return "IfNotPresent";
    }
    let (name, digest) = match image.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (image, None),
    };
    let last = name.rsplit('/').next().unwrap_or(name);
    let tag = last.split_once(':').map(|(_, t)| t);
    match (tag, digest) {
        (Some("latest"), _) | (None, None) => "Always",
        _ => "IfNotPresent",
    }
}

fn default_probe(probe: &mut Value) {
    set_default(probe, "timeoutSeconds", json!(1));
    set_default(probe, "periodSeconds", json!(10));
    set_default(probe, "successThreshold", json!(1));
    set_default(probe, "failureThreshold", json!(3));
    with(probe, "httpGet", |h| {
        set_default_str(h, "path", "/");
        set_default_str(h, "scheme", "HTTP");
    });
}

/// Rounds every quantity of a resource list up to milli precision.
fn round_resource_list(list: &mut Value) {
    let Some(map) = list.as_object_mut() else {
        return;
    };
    for v in map.values_mut() {
        let Some(s) = v.as_str() else { continue };
        // Kubernetes decodes, rounds up to milli and re-encodes, which also
        // canonicalizes ("0.5Mi" is stored as "512Ki").
        if let Ok(q) = Quantity::parse(s.trim()) {
            let out = q.round_up(-3).to_string();
            if out != s {
                *v = Value::String(out);
            }
        }
    }
}

fn default_container(c: &mut Value) {
    if is_unset(c, "imagePullPolicy") {
        let policy = pull_policy(c.get("image").and_then(Value::as_str).unwrap_or(""));
        set_default_str(c, "imagePullPolicy", policy);
    }
    set_default_str(c, "terminationMessagePath", "/dev/termination-log");
    set_default_str(c, "terminationMessagePolicy", "File");
    each(c, "ports", |p| set_default_str(p, "protocol", "TCP"));
    for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
        with(c, probe, default_probe);
    }
    each(c, "env", |e| {
        with(e, "valueFrom", |vf| {
            with(vf, "fieldRef", |fr| set_default_str(fr, "apiVersion", "v1"));
        });
    });
    with(c, "resources", |r| {
        with(r, "limits", round_resource_list);
        with(r, "requests", round_resource_list);
    });
}

fn default_volume(v: &mut Value) {
    if !super::pod::VOLUME_SOURCES
        .iter()
        .any(|s| v.get(*s).is_some_and(|x| !x.is_null()))
        && let Some(m) = v.as_object_mut()
    {
        m.insert("emptyDir".to_owned(), json!({}));
    }
    for src in ["secret", "configMap", "downwardAPI", "projected"] {
        with(v, src, |s| set_default(s, "defaultMode", json!(420)));
    }
    with(v, "hostPath", |h| set_default(h, "type", json!("")));
    with(v, "projected", |p| {
        each(p, "sources", |s| {
            with(s, "serviceAccountToken", |t| {
                set_default(t, "expirationSeconds", json!(3600));
            });
        });
    });
    with(v, "image", |i| {
        if is_unset(i, "pullPolicy") {
            let policy = pull_policy(i.get("reference").and_then(Value::as_str).unwrap_or(""));
            set_default_str(i, "pullPolicy", policy);
        }
    });
}

/// `SetDefaults_PodSpec` and what it implies for containers and volumes.
fn default_pod_spec(spec: &mut Value) {
    set_default_str(spec, "dnsPolicy", "ClusterFirst");
    set_default_str(spec, "restartPolicy", "Always");
    set_default(spec, "securityContext", json!({}));
    set_default(spec, "terminationGracePeriodSeconds", json!(30));
    set_default_str(spec, "schedulerName", "default-scheduler");
    for list in ["containers", "initContainers", "ephemeralContainers"] {
        each(spec, list, default_container);
    }
    each(spec, "volumes", default_volume);
}

/// A PodTemplateSpec: only the PodSpec gets defaults.
fn default_template(template: &mut Value) {
    default_pod_spec(object_at(template, "spec"));
}

fn default_pod(obj: &mut Value) {
    let spec = object_at(obj, "spec");
    default_pod_spec(spec);
    // Requests default to limits on Pods only (not on templates).
    for list in ["containers", "initContainers"] {
        each(spec, list, |c| {
            let Some(limits) = c
                .pointer("/resources/limits")
                .and_then(Value::as_object)
                .cloned()
            else {
                return;
            };
            let requests = object_at(object_at(c, "resources"), "requests");
            for (k, v) in limits {
                set_default(requests, &k, v);
            }
        });
    }
    set_default(spec, "enableServiceLinks", json!(true));
    if spec.get("hostNetwork").and_then(Value::as_bool) == Some(true) {
        for list in ["containers", "initContainers"] {
            each(spec, list, |c| {
                each(c, "ports", |p| {
                    let container_port = p.get("containerPort").cloned().unwrap_or(json!(0));
                    if p.get("hostPort").and_then(Value::as_i64).unwrap_or(0) == 0
                        && let Some(m) = p.as_object_mut()
                    {
                        m.insert("hostPort".to_owned(), container_port);
                    }
                });
            });
        }
    }
    // What the ServiceAccount, Priority and DefaultTolerationSeconds
    // admission plugins add before validation.
    set_default_str(spec, "serviceAccountName", "default");
    let sa = spec
        .get("serviceAccountName")
        .cloned()
        .unwrap_or(json!("default"));
    set_default(spec, "serviceAccount", sa);
    if is_unset(spec, "priorityClassName") {
        set_default(spec, "priority", json!(0));
    }
    set_default_str(spec, "preemptionPolicy", "PreemptLowerPriority");
    add_default_tolerations(spec);
}

fn add_default_tolerations(spec: &mut Value) {
    let Some(map) = spec.as_object_mut() else {
        return;
    };
    let list = map
        .entry("tolerations".to_owned())
        .or_insert_with(|| json!([]));
    let Some(list) = list.as_array_mut() else {
        return;
    };
    for key in [
        "node.kubernetes.io/not-ready",
        "node.kubernetes.io/unreachable",
    ] {
        let tolerated = list.iter().any(|t| {
            let effect = t.get("effect").and_then(Value::as_str).unwrap_or("");
            let tkey = t.get("key").and_then(Value::as_str).unwrap_or("");
            let op = t.get("operator").and_then(Value::as_str).unwrap_or("");
            (effect.is_empty() || effect == "NoExecute")
                && (tkey == key || (tkey.is_empty() && op == "Exists"))
        });
        if !tolerated {
            list.push(json!({
                "key": key,
                "operator": "Exists",
                "effect": "NoExecute",
                "tolerationSeconds": 300
            }));
        }
    }
}

fn template_labels(spec: &Value) -> Option<Map<String, Value>> {
    spec.pointer("/template/metadata/labels")
        .and_then(Value::as_object)
        .cloned()
}

fn labels_empty(obj: &Value) -> bool {
    obj.pointer("/metadata/labels")
        .and_then(Value::as_object)
        .is_none_or(Map::is_empty)
}

fn default_replication_controller(obj: &mut Value) {
    let labels = obj.get("spec").and_then(template_labels);
    if let Some(labels) = labels {
        let spec = object_at(obj, "spec");
        let no_selector = spec
            .get("selector")
            .and_then(Value::as_object)
            .is_none_or(Map::is_empty);
        if no_selector && let Some(m) = spec.as_object_mut() {
            m.insert("selector".to_owned(), Value::Object(labels.clone()));
        }
        if labels_empty(obj) {
            object_at(obj, "metadata")
                .as_object_mut()
                .map(|m| m.insert("labels".to_owned(), Value::Object(labels)));
        }
    }
    let spec = object_at(obj, "spec");
    set_default(spec, "replicas", json!(1));
    with(spec, "template", default_template);
}

fn default_deployment(obj: &mut Value) {
    let spec = object_at(obj, "spec");
    set_default(spec, "replicas", json!(1));
    let strategy = object_at(spec, "strategy");
    set_default_str(strategy, "type", "RollingUpdate");
    if strategy.get("type").and_then(Value::as_str) == Some("RollingUpdate") {
        let ru = object_at(strategy, "rollingUpdate");
        set_default(ru, "maxUnavailable", json!("25%"));
        set_default(ru, "maxSurge", json!("25%"));
    }
    set_default(spec, "revisionHistoryLimit", json!(10));
    set_default(spec, "progressDeadlineSeconds", json!(600));
    with(spec, "template", default_template);
}

fn default_stateful_set(obj: &mut Value) {
    let spec = object_at(obj, "spec");
    set_default_str(spec, "podManagementPolicy", "OrderedReady");
    let us = object_at(spec, "updateStrategy");
    if is_unset(us, "type") {
        set_default_str(us, "type", "RollingUpdate");
        object_at(us, "rollingUpdate");
    }
    if us.get("type").and_then(Value::as_str) == Some("RollingUpdate") {
        with(us, "rollingUpdate", |ru| {
            set_default(ru, "partition", json!(0))
        });
    }
    let policy = object_at(spec, "persistentVolumeClaimRetentionPolicy");
    set_default_str(policy, "whenDeleted", "Retain");
    set_default_str(policy, "whenScaled", "Retain");
    set_default(spec, "replicas", json!(1));
    set_default(spec, "revisionHistoryLimit", json!(10));
    with(spec, "template", default_template);
    each(spec, "volumeClaimTemplates", default_pvc);
}

fn default_daemon_set(obj: &mut Value) {
    let spec = object_at(obj, "spec");
    let us = object_at(spec, "updateStrategy");
    set_default_str(us, "type", "RollingUpdate");
    if us.get("type").and_then(Value::as_str) == Some("RollingUpdate") {
        let ru = object_at(us, "rollingUpdate");
        set_default(ru, "maxUnavailable", json!(1));
        set_default(ru, "maxSurge", json!(0));
    }
    set_default(spec, "revisionHistoryLimit", json!(10));
    with(spec, "template", default_template);
}

fn default_job(obj: &mut Value) {
    let spec = object_at(obj, "spec");
    if spec.get("completions").is_none_or(Value::is_null)
        && spec.get("parallelism").is_none_or(Value::is_null)
    {
        set_default(spec, "completions", json!(1));
    }
    set_default(spec, "parallelism", json!(1));
    if spec
        .get("backoffLimitPerIndex")
        .is_some_and(|v| !v.is_null())
    {
        set_default(spec, "backoffLimit", json!(i32::MAX));
    } else {
        set_default(spec, "backoffLimit", json!(6));
    }
    set_default_str(spec, "completionMode", "NonIndexed");
    set_default(spec, "suspend", json!(false));
    let replacement = if spec.get("podFailurePolicy").is_some_and(|v| !v.is_null()) {
        "Failed"
    } else {
        "TerminatingOrFailed"
    };
    set_default_str(spec, "podReplacementPolicy", replacement);
    with(spec, "template", default_template);
    let labels = obj.get("spec").and_then(template_labels);
    if let Some(labels) = labels
        && labels_empty(obj)
    {
        object_at(obj, "metadata")
            .as_object_mut()
            .map(|m| m.insert("labels".to_owned(), Value::Object(labels)));
    }
    generate_job_selector(obj);
}

/// Generates a Job's selector and template labels from its name and
/// `metadata.uid`, unless `spec.manualSelector` is true. Kubernetes does
/// this once the uid is assigned; this does nothing while the uid is missing.
///
/// Adds `job-name`, `batch.kubernetes.io/job-name`, `controller-uid` and
/// `batch.kubernetes.io/controller-uid` to the template labels (keeping any
/// the user set) and `batch.kubernetes.io/controller-uid` to
/// `spec.selector.matchLabels`.
pub fn generate_job_selector(obj: &mut Value) {
    let manual = obj.pointer("/spec/manualSelector").and_then(Value::as_bool) == Some(true);
    let uid = obj
        .pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    if manual || uid.is_empty() {
        return;
    }
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let spec = object_at(obj, "spec");
    let labels = object_at(object_at(object_at(spec, "template"), "metadata"), "labels");
    for key in ["job-name", "batch.kubernetes.io/job-name"] {
        set_default(labels, key, json!(name));
    }
    for key in ["controller-uid", "batch.kubernetes.io/controller-uid"] {
        set_default(labels, key, json!(uid));
    }
    let match_labels = object_at(object_at(spec, "selector"), "matchLabels");
    set_default(
        match_labels,
        "batch.kubernetes.io/controller-uid",
        json!(uid),
    );
}

fn default_cron_job(obj: &mut Value) {
    let spec = object_at(obj, "spec");
    set_default_str(spec, "concurrencyPolicy", "Allow");
    set_default(spec, "suspend", json!(false));
    set_default(spec, "successfulJobsHistoryLimit", json!(3));
    set_default(spec, "failedJobsHistoryLimit", json!(1));
    with(spec, "jobTemplate", |jt| {
        with(jt, "spec", |js| with(js, "template", default_template));
    });
}

fn default_service(obj: &mut Value) {
    let spec = object_at(obj, "spec");
    set_default_str(spec, "sessionAffinity", "None");
    match spec.get("sessionAffinity").and_then(Value::as_str) {
        Some("None") => {
            if let Some(m) = spec.as_object_mut() {
                m.remove("sessionAffinityConfig");
            }
        }
        Some("ClientIP") => {
            let has_timeout = spec
                .pointer("/sessionAffinityConfig/clientIP/timeoutSeconds")
                .is_some_and(|v| !v.is_null());
            if !has_timeout && let Some(m) = spec.as_object_mut() {
                m.insert(
                    "sessionAffinityConfig".to_owned(),
                    json!({"clientIP": {"timeoutSeconds": 10800}}),
                );
            }
        }
        _ => {}
    }
    set_default_str(spec, "type", "ClusterIP");
    each(spec, "ports", |p| {
        set_default_str(p, "protocol", "TCP");
        let unset = match p.get("targetPort") {
            None | Some(Value::Null) => true,
            Some(Value::Number(n)) => n.as_i64() == Some(0),
            Some(Value::String(s)) => s.is_empty(),
            _ => false,
        };
        if unset {
            let port = p.get("port").cloned().unwrap_or(json!(0));
            if let Some(m) = p.as_object_mut() {
                m.insert("targetPort".to_owned(), port);
            }
        }
    });
    let ty = spec
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    if matches!(ty.as_str(), "NodePort" | "LoadBalancer") {
        set_default_str(spec, "externalTrafficPolicy", "Cluster");
    }
    if matches!(ty.as_str(), "NodePort" | "LoadBalancer" | "ClusterIP") {
        set_default(spec, "internalTrafficPolicy", json!("Cluster"));
    }
    if ty == "LoadBalancer" {
        set_default(spec, "allocateLoadBalancerNodePorts", json!(true));
    }
    if ty != "ExternalName" {
        // The registry's IP family defaults on a single-stack IPv4 cluster.
        set_default(spec, "ipFamilyPolicy", json!("SingleStack"));
        let families_empty = spec
            .get("ipFamilies")
            .and_then(Value::as_array)
            .is_none_or(Vec::is_empty);
        if families_empty && let Some(m) = spec.as_object_mut() {
            m.insert("ipFamilies".to_owned(), json!(["IPv4"]));
        }
    }
}

fn default_secret(obj: &mut Value) {
    set_default_str(obj, "type", "Opaque");
    // `stringData` is write-only: Kubernetes folds it into `data` on decode.
    let Some(string_data) = obj.as_object_mut().and_then(|m| m.remove("stringData")) else {
        return;
    };
    let Some(string_data) = string_data.as_object() else {
        return;
    };
    let data = object_at(obj, "data");
    if let Some(m) = data.as_object_mut() {
        for (k, v) in string_data {
            let s = v.as_str().unwrap_or("");
            m.insert(
                k.clone(),
                Value::String(base64::engine::general_purpose::STANDARD.encode(s)),
            );
        }
    }
}

fn default_namespace(obj: &mut Value) {
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    if !name.is_empty() {
        let labels = object_at(object_at(obj, "metadata"), "labels");
        if let Some(m) = labels.as_object_mut() {
            m.insert("kubernetes.io/metadata.name".to_owned(), json!(name));
        }
    }
    // The `kubernetes` finalizer is added on create only (the API
    // server's create path): defaulting runs on every write, and the
    // namespace controller must be able to remove it through `finalize`.
    set_default_str(object_at(obj, "status"), "phase", "Active");
}

fn default_pvc(obj: &mut Value) {
    set_default(object_at(obj, "spec"), "volumeMode", json!("Filesystem"));
    set_default_str(object_at(obj, "status"), "phase", "Pending");
}

fn default_pv(obj: &mut Value) {
    let spec = object_at(obj, "spec");
    set_default_str(spec, "persistentVolumeReclaimPolicy", "Retain");
    set_default(spec, "volumeMode", json!("Filesystem"));
    set_default_str(object_at(obj, "status"), "phase", "Pending");
}

fn default_endpoints(obj: &mut Value) {
    each(obj, "subsets", |s| {
        each(s, "ports", |p| set_default_str(p, "protocol", "TCP"));
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaulted(group: &str, kind: &str, mut v: Value) -> Value {
        default_object(group, kind, &mut v);
        v
    }

    #[test]
    fn pull_policies() {
        assert_eq!(pull_policy("nginx"), "Always");
        assert_eq!(pull_policy("nginx:latest"), "Always");
        assert_eq!(pull_policy("nginx:1.27"), "IfNotPresent");
        assert_eq!(pull_policy("localhost:5000/app"), "Always");
        assert_eq!(pull_policy("localhost:5000/app:v1"), "IfNotPresent");
        assert_eq!(pull_policy("nginx@sha256:abc"), "IfNotPresent");
        assert_eq!(pull_policy("nginx:latest@sha256:abc"), "Always");
        assert_eq!(pull_policy(""), "IfNotPresent");
    }

    #[test]
    fn pod_defaults() {
        let p = defaulted(
            "",
            "Pod",
            json!({"metadata": {"name": "p"}, "spec": {"containers": [
            {"name": "c", "image": "nginx:1.27", "ports": [{"containerPort": 80}],
             "livenessProbe": {"httpGet": {"port": 80}},
             "env": [{"name": "N", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
             "resources": {"limits": {"cpu": "1", "memory": "0.5Mi"}}}
        ], "volumes": [{"name": "v"}, {"name": "s", "secret": {"secretName": "x"}}]}}),
        );
        let s = &p["spec"];
        assert_eq!(s["restartPolicy"], "Always");
        assert_eq!(s["dnsPolicy"], "ClusterFirst");
        assert_eq!(s["terminationGracePeriodSeconds"], 30);
        assert_eq!(s["schedulerName"], "default-scheduler");
        assert_eq!(s["securityContext"], json!({}));
        assert_eq!(s["enableServiceLinks"], true);
        assert_eq!(s["serviceAccountName"], "default");
        assert_eq!(s["serviceAccount"], "default");
        assert_eq!(s["priority"], 0);
        assert_eq!(s["preemptionPolicy"], "PreemptLowerPriority");
        assert_eq!(s["tolerations"].as_array().unwrap().len(), 2);
        let c = &s["containers"][0];
        assert_eq!(c["imagePullPolicy"], "IfNotPresent");
        assert_eq!(c["terminationMessagePath"], "/dev/termination-log");
        assert_eq!(c["terminationMessagePolicy"], "File");
        assert_eq!(c["ports"][0]["protocol"], "TCP");
        assert_eq!(c["livenessProbe"]["timeoutSeconds"], 1);
        assert_eq!(c["livenessProbe"]["periodSeconds"], 10);
        assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/");
        assert_eq!(c["livenessProbe"]["httpGet"]["scheme"], "HTTP");
        assert_eq!(c["env"][0]["valueFrom"]["fieldRef"]["apiVersion"], "v1");
        assert_eq!(c["resources"]["requests"]["cpu"], "1");
        assert_eq!(c["resources"]["limits"]["memory"], "512Ki");
        assert_eq!(s["volumes"][0]["emptyDir"], json!({}));
        assert_eq!(s["volumes"][1]["secret"]["defaultMode"], 420);
    }

    #[test]
    fn pod_defaults_keep_user_values() {
        let p = defaulted(
            "",
            "Pod",
            json!({"spec": {"restartPolicy": "Never", "priorityClassName": "high",
            "serviceAccountName": "builder", "containers": [{"name": "c", "image": "x", "imagePullPolicy": "Never"}],
            "tolerations": [{"operator": "Exists"}], "hostNetwork": true}}),
        );
        let s = &p["spec"];
        assert_eq!(s["restartPolicy"], "Never");
        assert_eq!(s["serviceAccount"], "builder");
        assert!(s.get("priority").is_none());
        assert_eq!(s["containers"][0]["imagePullPolicy"], "Never");
        assert_eq!(s["tolerations"].as_array().unwrap().len(), 1);
        let hn = defaulted(
            "",
            "Pod",
            json!({"spec": {"hostNetwork": true, "containers": [{"name": "c", "image": "x", "ports": [{"containerPort": 8080}]}]}}),
        );
        assert_eq!(hn["spec"]["containers"][0]["ports"][0]["hostPort"], 8080);
    }

    #[test]
    fn templates_get_podspec_defaults_only() {
        let d = defaulted(
            "apps",
            "Deployment",
            json!({"spec": {"template": {"spec": {"containers": [
            {"name": "c", "image": "x", "resources": {"limits": {"cpu": "1"}}}]}}}}),
        );
        let s = &d["spec"];
        assert_eq!(s["replicas"], 1);
        assert_eq!(
            s["strategy"],
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}})
        );
        assert_eq!(s["revisionHistoryLimit"], 10);
        assert_eq!(s["progressDeadlineSeconds"], 600);
        let t = &s["template"]["spec"];
        assert_eq!(t["restartPolicy"], "Always");
        assert_eq!(t["containers"][0]["imagePullPolicy"], "Always");
        assert!(t.get("enableServiceLinks").is_none());
        assert!(t.get("serviceAccountName").is_none());
        assert!(t["containers"][0]["resources"].get("requests").is_none());
        let r = defaulted(
            "apps",
            "Deployment",
            json!({"spec": {"strategy": {"type": "Recreate"}}}),
        );
        assert_eq!(r["spec"]["strategy"], json!({"type": "Recreate"}));
    }

    #[test]
    fn workload_defaults() {
        let rs = defaulted("apps", "ReplicaSet", json!({}));
        assert_eq!(rs["spec"]["replicas"], 1);
        let ss = defaulted(
            "apps",
            "StatefulSet",
            json!({"spec": {"volumeClaimTemplates": [{"spec": {}}]}}),
        );
        let s = &ss["spec"];
        assert_eq!(s["podManagementPolicy"], "OrderedReady");
        assert_eq!(
            s["updateStrategy"],
            json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}})
        );
        assert_eq!(
            s["persistentVolumeClaimRetentionPolicy"],
            json!({"whenDeleted": "Retain", "whenScaled": "Retain"})
        );
        assert_eq!(s["replicas"], 1);
        assert_eq!(s["revisionHistoryLimit"], 10);
        assert_eq!(
            s["volumeClaimTemplates"][0]["spec"]["volumeMode"],
            "Filesystem"
        );
        let ss2 = defaulted(
            "apps",
            "StatefulSet",
            json!({"spec": {"updateStrategy": {"type": "OnDelete"}}}),
        );
        assert_eq!(ss2["spec"]["updateStrategy"], json!({"type": "OnDelete"}));
        let ds = defaulted("apps", "DaemonSet", json!({}));
        assert_eq!(
            ds["spec"]["updateStrategy"],
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}})
        );
        assert_eq!(ds["spec"]["revisionHistoryLimit"], 10);
        let rc = defaulted(
            "",
            "ReplicationController",
            json!({"spec": {"template": {"metadata": {"labels": {"a": "b"}}, "spec": {}}}}),
        );
        assert_eq!(rc["spec"]["selector"], json!({"a": "b"}));
        assert_eq!(rc["metadata"]["labels"], json!({"a": "b"}));
        assert_eq!(rc["spec"]["replicas"], 1);
    }

    #[test]
    fn job_defaults() {
        let j = defaulted(
            "batch",
            "Job",
            json!({"metadata": {"name": "pi", "uid": "abc"}, "spec": {"template": {"metadata": {"labels": {"x": "y"}}, "spec": {}}}}),
        );
        let s = &j["spec"];
        assert_eq!(s["completions"], 1);
        assert_eq!(s["parallelism"], 1);
        assert_eq!(s["backoffLimit"], 6);
        assert_eq!(s["completionMode"], "NonIndexed");
        assert_eq!(s["suspend"], false);
        assert_eq!(s["podReplacementPolicy"], "TerminatingOrFailed");
        assert_eq!(
            s["selector"]["matchLabels"]["batch.kubernetes.io/controller-uid"],
            "abc"
        );
        let l = &s["template"]["metadata"]["labels"];
        assert_eq!(l["job-name"], "pi");
        assert_eq!(l["batch.kubernetes.io/job-name"], "pi");
        assert_eq!(l["controller-uid"], "abc");
        assert_eq!(l["x"], "y");
        assert_eq!(j["metadata"]["labels"], json!({"x": "y"}));

        let p = defaulted(
            "batch",
            "Job",
            json!({"spec": {"parallelism": 3, "backoffLimitPerIndex": 1, "podFailurePolicy": {"rules": []}}}),
        );
        assert!(p["spec"].get("completions").is_none());
        assert_eq!(p["spec"]["backoffLimit"], i32::MAX);
        assert_eq!(p["spec"]["podReplacementPolicy"], "Failed");
        assert!(p["spec"].get("selector").is_none(), "no uid, no selector");
        let m = defaulted(
            "batch",
            "Job",
            json!({"metadata": {"name": "m", "uid": "u"}, "spec": {"manualSelector": true}}),
        );
        assert!(m["spec"].get("selector").is_none());
    }

    #[test]
    fn cron_job_defaults() {
        let c = defaulted(
            "batch",
            "CronJob",
            json!({"spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "x:1"}]}}}}}}),
        );
        let s = &c["spec"];
        assert_eq!(s["concurrencyPolicy"], "Allow");
        assert_eq!(s["suspend"], false);
        assert_eq!(s["successfulJobsHistoryLimit"], 3);
        assert_eq!(s["failedJobsHistoryLimit"], 1);
        assert_eq!(
            s["jobTemplate"]["spec"]["template"]["spec"]["dnsPolicy"],
            "ClusterFirst"
        );
        assert!(s["jobTemplate"]["spec"].get("backoffLimit").is_none());
    }

    #[test]
    fn service_defaults() {
        let s = defaulted(
            "",
            "Service",
            json!({"spec": {"ports": [{"port": 80}, {"port": 443, "targetPort": "https"}]}}),
        );
        let sp = &s["spec"];
        assert_eq!(sp["type"], "ClusterIP");
        assert_eq!(sp["sessionAffinity"], "None");
        assert_eq!(sp["ports"][0]["protocol"], "TCP");
        assert_eq!(sp["ports"][0]["targetPort"], 80);
        assert_eq!(sp["ports"][1]["targetPort"], "https");
        assert_eq!(sp["internalTrafficPolicy"], "Cluster");
        assert_eq!(sp["ipFamilyPolicy"], "SingleStack");
        assert_eq!(sp["ipFamilies"], json!(["IPv4"]));
        assert!(sp.get("externalTrafficPolicy").is_none());
        let lb = defaulted(
            "",
            "Service",
            json!({"spec": {"type": "LoadBalancer", "sessionAffinity": "ClientIP"}}),
        );
        assert_eq!(lb["spec"]["externalTrafficPolicy"], "Cluster");
        assert_eq!(lb["spec"]["allocateLoadBalancerNodePorts"], true);
        assert_eq!(
            lb["spec"]["sessionAffinityConfig"]["clientIP"]["timeoutSeconds"],
            10800
        );
        let en = defaulted(
            "",
            "Service",
            json!({"spec": {"type": "ExternalName", "externalName": "a.b"}}),
        );
        assert!(en["spec"].get("ipFamilies").is_none());
        assert!(en["spec"].get("internalTrafficPolicy").is_none());
    }

    #[test]
    fn secret_namespace_pvc_defaults() {
        let s = defaulted(
            "",
            "Secret",
            json!({"stringData": {"a": "hi"}, "data": {"b": "eA=="}}),
        );
        assert_eq!(s["type"], "Opaque");
        assert_eq!(s["data"], json!({"b": "eA==", "a": "aGk="}));
        assert!(s.get("stringData").is_none());
        let n = defaulted("", "Namespace", json!({"metadata": {"name": "dev"}}));
        assert!(n["spec"].get("finalizers").is_none());
        assert_eq!(n["status"]["phase"], "Active");
        assert_eq!(
            n["metadata"]["labels"]["kubernetes.io/metadata.name"],
            "dev"
        );
        let pvc = defaulted("", "PersistentVolumeClaim", json!({"spec": {}}));
        assert_eq!(pvc["spec"]["volumeMode"], "Filesystem");
        let pv = defaulted("", "PersistentVolume", json!({}));
        assert_eq!(pv["spec"]["persistentVolumeReclaimPolicy"], "Retain");
        let ep = defaulted(
            "",
            "Endpoints",
            json!({"subsets": [{"ports": [{"port": 80}]}]}),
        );
        assert_eq!(ep["subsets"][0]["ports"][0]["protocol"], "TCP");
    }

    #[test]
    fn garbage_does_not_panic() {
        for kind in [
            "Pod",
            "Service",
            "Secret",
            "Namespace",
            "PersistentVolumeClaim",
            "ReplicationController",
            "Endpoints",
            "PodTemplate",
        ] {
            for junk in [
                json!(null),
                json!(3),
                json!({"spec": 3}),
                json!({"spec": {"containers": "x", "ports": [1, "a"], "template": []}}),
                json!({"metadata": 1, "spec": {"template": {"spec": 5}}}),
            ] {
                let mut v = junk.clone();
                default_object("", kind, &mut v);
                let _ = crate::validation::validate("", kind, &v);
            }
        }
        for (g, kind) in [
            ("apps", "Deployment"),
            ("apps", "StatefulSet"),
            ("apps", "DaemonSet"),
            ("apps", "ReplicaSet"),
            ("batch", "Job"),
            ("batch", "CronJob"),
        ] {
            for junk in [
                json!({"spec": 3}),
                json!({"spec": {"strategy": 1, "updateStrategy": "x", "template": 2, "jobTemplate": 3, "selector": 4}}),
                json!({"metadata": {"name": 1, "uid": 2}}),
            ] {
                let mut v = junk.clone();
                default_object(g, kind, &mut v);
                let _ = crate::validation::validate(g, kind, &v);
            }
        }
    }
}
