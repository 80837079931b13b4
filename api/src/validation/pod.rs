//! Pod and PodSpec validation (`ValidatePodSpec` and friends), and the QoS class.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::field::{FieldError, FieldPath};
use super::meta::{validate_annotations, validate_labels};
use super::names::{is_dns1123_label, is_dns1123_subdomain, is_valid_port_name, is_valid_port_num};
use super::{get, get_i64, get_list, get_str, str_or_empty};
use crate::quantity::Quantity;

/// Every volume source a `Volume` may name, in the order Kubernetes checks them.
pub(super) const VOLUME_SOURCES: &[&str] = &[
    "emptyDir",
    "hostPath",
    "gitRepo",
    "gcePersistentDisk",
    "awsElasticBlockStore",
    "secret",
    "nfs",
    "iscsi",
    "glusterfs",
    "persistentVolumeClaim",
    "rbd",
    "flexVolume",
    "cinder",
    "cephfs",
    "flocker",
    "downwardAPI",
    "fc",
    "azureFile",
    "configMap",
    "vsphereVolume",
    "quobyte",
    "azureDisk",
    "photonPersistentDisk",
    "portworxVolume",
    "projected",
    "scaleIO",
    "storageos",
    "csi",
    "ephemeral",
    "image",
];

const PORT_PROTOCOLS: &[&str] = &["SCTP", "TCP", "UDP"];

pub(crate) fn validate_pod(obj: &Value) -> Vec<FieldError> {
    let spec_path = FieldPath::new("spec");
    let empty = Value::Null;
    let spec = get(obj, "spec").unwrap_or(&empty);
    let mut errs = validate_pod_spec(spec, &spec_path);
    if !get_list(spec, "ephemeralContainers").is_empty() {
        errs.push(FieldError::forbidden(
            &spec_path.child("ephemeralContainers"),
            "cannot be set on create",
        ));
    }
    errs
}

pub(crate) fn validate_pod_template(obj: &Value) -> Vec<FieldError> {
    let empty = Value::Null;
    validate_template(
        get(obj, "template").unwrap_or(&empty),
        &FieldPath::new("template"),
    )
}

/// Validates a PodTemplateSpec (`metadata` labels and annotations, and `spec`).
pub(crate) fn validate_template(template: &Value, path: &FieldPath) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let empty = Value::Null;
    let meta = get(template, "metadata").unwrap_or(&empty);
    let meta_path = path.child("metadata");
    errs.extend(validate_labels(
        get(meta, "labels"),
        &meta_path.child("labels"),
    ));
    errs.extend(validate_annotations(
        get(meta, "annotations"),
        &meta_path.child("annotations"),
    ));
    errs.extend(validate_pod_spec(
        get(template, "spec").unwrap_or(&empty),
        &path.child("spec"),
    ));
    errs
}

/// Validates a PodSpec at `path`.
pub(crate) fn validate_pod_spec(spec: &Value, path: &FieldPath) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let volumes = validate_volumes(get_list(spec, "volumes"), &path.child("volumes"), &mut errs);
    let containers = get_list(spec, "containers");
    let containers_path = path.child("containers");
    if containers.is_empty() {
        errs.push(FieldError::required(&containers_path, ""));
    }
    let mut names = BTreeSet::new();
    for (i, c) in containers.iter().enumerate() {
        validate_container(
            c,
            &containers_path.index(i),
            &volumes,
            &mut names,
            &mut errs,
        );
    }
    let init_path = path.child("initContainers");
    for (i, c) in get_list(spec, "initContainers").iter().enumerate() {
        validate_container(c, &init_path.index(i), &volumes, &mut names, &mut errs);
    }
    validate_host_ports(spec, path, &mut errs);
    match str_or_empty(spec, "restartPolicy") {
        "Always" | "OnFailure" | "Never" => {}
        "" => errs.push(FieldError::required(&path.child("restartPolicy"), "")),
        other => errs.push(FieldError::not_supported(
            &path.child("restartPolicy"),
            other,
            &["Always", "OnFailure", "Never"],
        )),
    }
    match str_or_empty(spec, "dnsPolicy") {
        "ClusterFirstWithHostNet" | "ClusterFirst" | "Default" | "None" => {}
        "" => errs.push(FieldError::required(&path.child("dnsPolicy"), "")),
        other => errs.push(FieldError::not_supported(
            &path.child("dnsPolicy"),
            other,
            &["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"],
        )),
    }
    errs.extend(validate_labels(
        get(spec, "nodeSelector"),
        &path.child("nodeSelector"),
    ));
    for (field, check) in [
        (
            "serviceAccountName",
            is_dns1123_subdomain as fn(&str) -> Vec<String>,
        ),
        ("nodeName", is_dns1123_subdomain),
        ("hostname", is_dns1123_label),
        ("subdomain", is_dns1123_label),
    ] {
        let v = str_or_empty(spec, field);
        if !v.is_empty() {
            for msg in check(v) {
                errs.push(FieldError::invalid(&path.child(field), v, msg));
            }
        }
    }
    if let Some(d) = get_i64(spec, "activeDeadlineSeconds")
        && !(1..=i64::from(i32::MAX)).contains(&d)
    {
        errs.push(FieldError::invalid(
            &path.child("activeDeadlineSeconds"),
            d,
            format!("must be between 1 and {}, inclusive", i32::MAX),
        ));
    }
    validate_tolerations(
        get_list(spec, "tolerations"),
        &path.child("tolerations"),
        &mut errs,
    );
    errs
}

/// Checks volume names and sources; returns the set of valid names.
fn validate_volumes(
    volumes: &[Value],
    path: &FieldPath,
    errs: &mut Vec<FieldError>,
) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for (i, v) in volumes.iter().enumerate() {
        let vpath = path.index(i);
        let name = str_or_empty(v, "name");
        let mut ok = true;
        if name.is_empty() {
            errs.push(FieldError::required(&vpath.child("name"), ""));
            ok = false;
        } else {
            for msg in is_dns1123_label(name) {
                errs.push(FieldError::invalid(&vpath.child("name"), name, msg));
                ok = false;
            }
        }
        if ok {
            if names.contains(name) {
                errs.push(FieldError::duplicate(&vpath.child("name"), name));
            } else {
                names.insert(name.to_owned());
            }
        }
        let mut found = 0;
        for src in VOLUME_SOURCES {
            let Some(s) = get(v, src) else { continue };
            found += 1;
            if found > 1 {
                errs.push(FieldError::forbidden(
                    &vpath.child(src),
                    "may not specify more than 1 volume type",
                ));
                continue;
            }
            let spath = vpath.child(src);
            let required = match *src {
                "secret" => Some("secretName"),
                "configMap" => Some("name"),
                "persistentVolumeClaim" => Some("claimName"),
                "hostPath" => Some("path"),
                _ => None,
            };
            if let Some(field) = required
                && str_or_empty(s, field).is_empty()
            {
                errs.push(FieldError::required(&spath.child(field), ""));
            }
        }
        if found == 0 {
            errs.push(FieldError::required(&vpath, "must specify a volume type"));
        }
    }
    names
}

fn validate_container(
    c: &Value,
    path: &FieldPath,
    volumes: &BTreeSet<String>,
    names: &mut BTreeSet<String>,
    errs: &mut Vec<FieldError>,
) {
    let name = str_or_empty(c, "name");
    let name_path = path.child("name");
    if name.is_empty() {
        errs.push(FieldError::required(&name_path, ""));
    } else {
        for msg in is_dns1123_label(name) {
            errs.push(FieldError::invalid(&name_path, name, msg));
        }
    }
    if names.contains(name) {
        errs.push(FieldError::duplicate(&name_path, name));
    } else {
        names.insert(name.to_owned());
    }
    let image = str_or_empty(c, "image");
    if image.is_empty() {
        errs.push(FieldError::required(&path.child("image"), ""));
    } else if image.trim() != image {
        errs.push(FieldError::invalid(
            &path.child("image"),
            image,
            "must not have leading or trailing whitespace",
        ));
    }
    match str_or_empty(c, "imagePullPolicy") {
        "Always" | "IfNotPresent" | "Never" => {}
        "" => errs.push(FieldError::required(&path.child("imagePullPolicy"), "")),
        other => errs.push(FieldError::not_supported(
            &path.child("imagePullPolicy"),
            other,
            &["Always", "IfNotPresent", "Never"],
        )),
    }
    match str_or_empty(c, "terminationMessagePolicy") {
        "File" | "FallbackToLogsOnError" => {}
        "" => errs.push(FieldError::required(
            &path.child("terminationMessagePolicy"),
            "",
        )),
        other => errs.push(FieldError::not_supported(
            &path.child("terminationMessagePolicy"),
            other,
            &["File", "FallbackToLogsOnError"],
        )),
    }
    validate_ports(get_list(c, "ports"), &path.child("ports"), errs);
    validate_env(get_list(c, "env"), &path.child("env"), errs);
    validate_mounts(
        get_list(c, "volumeMounts"),
        &path.child("volumeMounts"),
        volumes,
        errs,
    );
    if let Some(r) = get(c, "resources") {
        validate_resources(r, &path.child("resources"), errs);
    }
}

fn validate_ports(ports: &[Value], path: &FieldPath, errs: &mut Vec<FieldError>) {
    let mut names = BTreeSet::new();
    for (i, p) in ports.iter().enumerate() {
        let ppath = path.index(i);
        let name = str_or_empty(p, "name");
        if !name.is_empty() {
            let msgs = is_valid_port_name(name);
            if !msgs.is_empty() {
                for m in msgs {
                    errs.push(FieldError::invalid(&ppath.child("name"), name, m));
                }
            } else if !names.insert(name.to_owned()) {
                errs.push(FieldError::duplicate(&ppath.child("name"), name));
            }
        }
        match get_i64(p, "containerPort") {
            None | Some(0) => errs.push(FieldError::required(&ppath.child("containerPort"), "")),
            Some(n) => {
                for m in is_valid_port_num(n) {
                    errs.push(FieldError::invalid(&ppath.child("containerPort"), n, m));
                }
            }
        }
        if let Some(h) = get_i64(p, "hostPort").filter(|h| *h != 0) {
            for m in is_valid_port_num(h) {
                errs.push(FieldError::invalid(&ppath.child("hostPort"), h, m));
            }
        }
        validate_protocol(p, &ppath, errs);
    }
}

pub(crate) fn validate_protocol(p: &Value, path: &FieldPath, errs: &mut Vec<FieldError>) {
    match str_or_empty(p, "protocol") {
        "" => errs.push(FieldError::required(&path.child("protocol"), "")),
        proto if PORT_PROTOCOLS.contains(&proto) => {}
        proto => errs.push(FieldError::not_supported(
            &path.child("protocol"),
            proto,
            PORT_PROTOCOLS,
        )),
    }
}

/// Host ports must be unique per protocol and host IP across all containers.
fn validate_host_ports(spec: &Value, path: &FieldPath, errs: &mut Vec<FieldError>) {
    let mut seen = BTreeSet::new();
    for field in ["containers", "initContainers"] {
        let cpath = path.child(field);
        for (i, c) in get_list(spec, field).iter().enumerate() {
            for (j, p) in get_list(c, "ports").iter().enumerate() {
                let Some(host_port) = get_i64(p, "hostPort").filter(|h| *h != 0) else {
                    continue;
                };
                let key = format!(
                    "{}/{}/{}",
                    str_or_empty(p, "hostIP"),
                    host_port,
                    str_or_empty(p, "protocol")
                );
                if !seen.insert(key) {
                    errs.push(FieldError::duplicate(
                        &cpath.index(i).child("ports").index(j).child("hostPort"),
                        format!("{host_port}/{}", str_or_empty(p, "protocol")),
                    ));
                }
            }
        }
    }
}

fn validate_env(env: &[Value], path: &FieldPath, errs: &mut Vec<FieldError>) {
    for (i, e) in env.iter().enumerate() {
        let name = str_or_empty(e, "name");
        let npath = path.index(i).child("name");
        if name.is_empty() {
            errs.push(FieldError::required(&npath, ""));
        } else if name
            .chars()
            .any(|c| !c.is_ascii() || c.is_ascii_control() || c == '=')
        {
            // RelaxedEnvironmentVariableValidation is on by default since v1.32.
            errs.push(FieldError::invalid(
                &npath,
                name,
                "a valid environment variable name must consist only of printable ASCII characters other than '='",
            ));
        }
        if !str_or_empty(e, "value").is_empty() && get(e, "valueFrom").is_some() {
            errs.push(FieldError::invalid(
                &path.index(i).child("valueFrom"),
                "",
                "may not be specified when `value` is not empty",
            ));
        }
    }
}

fn validate_mounts(
    mounts: &[Value],
    path: &FieldPath,
    volumes: &BTreeSet<String>,
    errs: &mut Vec<FieldError>,
) {
    let mut mount_points = BTreeSet::new();
    for (i, m) in mounts.iter().enumerate() {
        let mpath = path.index(i);
        let name = str_or_empty(m, "name");
        if name.is_empty() {
            errs.push(FieldError::required(&mpath.child("name"), ""));
        } else if !volumes.contains(name) {
            errs.push(FieldError::not_found(&mpath.child("name"), name));
        }
        let mount_path = str_or_empty(m, "mountPath");
        if mount_path.is_empty() {
            errs.push(FieldError::required(&mpath.child("mountPath"), ""));
        } else if !mount_points.insert(mount_path.to_owned()) {
            errs.push(FieldError::invalid(
                &mpath.child("mountPath"),
                mount_path,
                "must be unique",
            ));
        }
        let sub_path = str_or_empty(m, "subPath");
        if !sub_path.is_empty() {
            if sub_path.starts_with('/') {
                errs.push(FieldError::invalid(
                    &mpath.child("subPath"),
                    sub_path,
                    "must be a relative path",
                ));
            }
            if sub_path.split('/').any(|part| part == "..") {
                errs.push(FieldError::invalid(
                    &mpath.child("subPath"),
                    sub_path,
                    "must not contain '..'",
                ));
            }
        }
    }
}

/// Standard resources may be overcommitted (request below limit); hugepages
/// and extended resources may not.
fn overcommit_allowed(name: &str) -> bool {
    !(name.starts_with("hugepages-") || (name.contains('/') && !name.starts_with("kubernetes.io/")))
}

fn parse_resource_list(
    list: Option<&Value>,
    path: &FieldPath,
    errs: &mut Vec<FieldError>,
) -> BTreeMap<String, Quantity> {
    let mut out = BTreeMap::new();
    let Some(map) = list.and_then(Value::as_object) else {
        return out;
    };
    for (name, v) in map {
        let qpath = path.key(name);
        let text = match v {
            Value::String(s) => s.trim().to_owned(),
            Value::Number(n) => n.to_string(),
            other => other.to_string(),
        };
        match Quantity::parse(&text) {
            Ok(q) => {
                if q.signum() < 0 {
                    errs.push(FieldError::invalid(
                        &qpath,
                        q.to_string(),
                        "must be greater than or equal to 0",
                    ));
                }
                out.insert(name.clone(), q);
            }
            Err(e) => errs.push(FieldError::invalid(&qpath, text, e.to_string())),
        }
    }
    out
}

fn validate_resources(r: &Value, path: &FieldPath, errs: &mut Vec<FieldError>) {
    let lim_path = path.child("limits");
    let req_path = path.child("requests");
    let limits = parse_resource_list(get(r, "limits"), &lim_path, errs);
    let requests = parse_resource_list(get(r, "requests"), &req_path, errs);
    for (name, req) in &requests {
        match limits.get(name) {
            Some(lim) if req != lim && !overcommit_allowed(name) => {
                errs.push(FieldError::invalid(
                    &req_path,
                    req.to_string(),
                    format!("must be equal to {name} limit of {lim}"),
                ));
            }
            Some(lim) if req > lim => errs.push(FieldError::invalid(
                &req_path,
                req.to_string(),
                format!("must be less than or equal to {name} limit of {lim}"),
            )),
            Some(_) => {}
            None if !overcommit_allowed(name) => errs.push(FieldError::required(
                &lim_path,
                "Limit must be set for non overcommitable resources",
            )),
            None => {}
        }
    }
}

fn validate_tolerations(tolerations: &[Value], path: &FieldPath, errs: &mut Vec<FieldError>) {
    for (i, t) in tolerations.iter().enumerate() {
        let tpath = path.index(i);
        let key = str_or_empty(t, "key");
        let operator = str_or_empty(t, "operator");
        if key.is_empty() && operator != "Exists" {
            errs.push(FieldError::invalid(
                &tpath.child("operator"),
                operator,
                "operator must be Exists when `key` is empty, which means \"match all values and all keys\"",
            ));
        }
        match operator {
            "" | "Equal" => {}
            "Exists" => {
                let value = str_or_empty(t, "value");
                if !value.is_empty() {
                    errs.push(FieldError::invalid(
                        &tpath.child("operator"),
                        value,
                        "value must be empty when `operator` is 'Exists'",
                    ));
                }
            }
            other => errs.push(FieldError::not_supported(
                &tpath.child("operator"),
                other,
                &["Equal", "Exists"],
            )),
        }
        match str_or_empty(t, "effect") {
            "" | "NoSchedule" | "PreferNoSchedule" | "NoExecute" => {}
            other => errs.push(FieldError::not_supported(
                &tpath.child("effect"),
                other,
                &["NoExecute", "NoSchedule", "PreferNoSchedule"],
            )),
        }
        if get(t, "tolerationSeconds").is_some() && str_or_empty(t, "effect") != "NoExecute" {
            errs.push(FieldError::invalid(
                &tpath.child("effect"),
                str_or_empty(t, "effect"),
                "effect must be 'NoExecute' when `tolerationSeconds` is set",
            ));
        }
    }
}

/// The QoS class of a pod (`Guaranteed`, `Burstable` or `BestEffort`), from
/// its containers' cpu and memory requests and limits, as Kubernetes' `GetPodQOS`.
pub fn qos_class(pod: &Value) -> &'static str {
    let empty = Value::Null;
    let spec = get(pod, "spec").unwrap_or(&empty);
    let mut requests: BTreeMap<&str, Quantity> = BTreeMap::new();
    let mut limits: BTreeMap<&str, Quantity> = BTreeMap::new();
    let mut guaranteed = true;
    let positive = |v: &Value| -> Option<Quantity> {
        let q = match v {
            Value::String(s) => Quantity::parse(s.trim()).ok()?,
            Value::Number(n) => Quantity::parse(&n.to_string()).ok()?,
            _ => return None,
        };
        (q.signum() > 0).then_some(q)
    };
    let add = |map: &mut BTreeMap<&'static str, Quantity>, name: &'static str, q: Quantity| {
        let sum = match map.get(name) {
            Some(prev) => prev.checked_add(&q).unwrap_or(q),
            None => q,
        };
        map.insert(name, sum);
    };
    for c in get_list(spec, "initContainers")
        .iter()
        .chain(get_list(spec, "containers"))
    {
        let res = get(c, "resources").unwrap_or(&empty);
        let mut limits_found = BTreeSet::new();
        for name in ["cpu", "memory"] {
            if let Some(q) = get(res, "requests")
                .and_then(|r| get(r, name))
                .and_then(positive)
            {
                add(&mut requests, name, q);
            }
            if let Some(q) = get(res, "limits")
                .and_then(|r| get(r, name))
                .and_then(positive)
            {
                limits_found.insert(name);
                add(&mut limits, name, q);
            }
        }
        if limits_found.len() != 2 {
            guaranteed = false;
        }
    }
    if requests.is_empty() && limits.is_empty() {
        return "BestEffort";
    }
    if guaranteed {
        for (name, req) in &requests {
            if limits.get(name) != Some(req) {
                guaranteed = false;
            }
        }
    }
    if guaranteed && requests.len() == limits.len() {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

/// The labels of a pod template, as a map (for selector checks).
pub(crate) fn template_labels(template: &Value) -> BTreeMap<String, String> {
    template
        .get("metadata")
        .and_then(|m| m.get("labels"))
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_owned())))
                .collect()
        })
        .unwrap_or_default()
}

/// The restart policy of a pod template's spec.
pub(crate) fn template_restart_policy(template: &Value) -> &str {
    template
        .get("spec")
        .and_then(|s| get_str(s, "restartPolicy"))
        .unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validation::{default_object, validate};
    use serde_json::json;

    fn pod(spec: Value) -> Value {
        let mut p = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "default"}, "spec": spec});
        default_object("", "Pod", &mut p);
        p
    }

    fn msgs(v: &Value) -> Vec<String> {
        validate("", "Pod", v)
            .iter()
            .map(FieldError::message)
            .collect()
    }

    #[test]
    fn valid_pod() {
        let p = pod(json!({
            "containers": [{"name": "web", "image": "nginx:1.27",
                "ports": [{"name": "http", "containerPort": 80}],
                "env": [{"name": "A", "value": "1"}],
                "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                "resources": {"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "500m"}}}],
            "volumes": [{"name": "data", "emptyDir": {}}]
        }));
        assert!(msgs(&p).is_empty(), "{:?}", msgs(&p));
    }

    #[test]
    fn containers_required() {
        assert_eq!(msgs(&pod(json!({}))), ["spec.containers: Required value"]);
        assert_eq!(
            msgs(&pod(json!({"containers": []}))),
            ["spec.containers: Required value"]
        );
    }

    #[test]
    fn container_names_and_images() {
        let p = pod(json!({"containers": [
            {"name": "Web", "image": "x"},
            {"name": "b", "image": ""},
            {"name": "b", "image": " x"},
            {"image": "x"}
        ]}));
        let m = msgs(&p);
        assert!(m[0].starts_with(
            "spec.containers[0].name: Invalid value: \"Web\": a lowercase RFC 1123 label"
        ));
        assert!(m.contains(&"spec.containers[1].image: Required value".to_owned()));
        assert!(m.contains(&"spec.containers[2].name: Duplicate value: \"b\"".to_owned()));
        assert!(m.contains(&"spec.containers[2].image: Invalid value: \" x\": must not have leading or trailing whitespace".to_owned()));
        assert!(m.contains(&"spec.containers[3].name: Required value".to_owned()));
    }

    #[test]
    fn init_container_names_clash_with_containers() {
        let p = pod(
            json!({"containers": [{"name": "a", "image": "x"}], "initContainers": [{"name": "a", "image": "x"}]}),
        );
        assert_eq!(
            msgs(&p),
            ["spec.initContainers[0].name: Duplicate value: \"a\""]
        );
    }

    #[test]
    fn ports() {
        let p = pod(json!({"containers": [{"name": "a", "image": "x", "ports": [
            {"name": "http", "containerPort": 80},
            {"name": "http", "containerPort": 81},
            {"name": "HTTP", "containerPort": 70000},
            {"containerPort": 0, "protocol": "ICMP"},
            {"containerPort": 90, "hostPort": 8080},
        ]}, {"name": "b", "image": "x", "ports": [{"containerPort": 91, "hostPort": 8080}]}]}));
        let m = msgs(&p);
        assert!(
            m.contains(&"spec.containers[0].ports[1].name: Duplicate value: \"http\"".to_owned()),
            "{m:?}"
        );
        assert!(m.contains(&"spec.containers[0].ports[2].name: Invalid value: \"HTTP\": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)".to_owned()));
        assert!(m.contains(&"spec.containers[0].ports[2].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive".to_owned()));
        assert!(
            m.contains(&"spec.containers[0].ports[3].containerPort: Required value".to_owned())
        );
        assert!(m.contains(&"spec.containers[0].ports[3].protocol: Unsupported value: \"ICMP\": supported values: \"SCTP\", \"TCP\", \"UDP\"".to_owned()));
        assert!(
            m.contains(
                &"spec.containers[1].ports[0].hostPort: Duplicate value: \"8080/TCP\"".to_owned()
            ),
            "{m:?}"
        );
    }

    #[test]
    fn restart_and_dns_policy() {
        let mut p = pod(json!({"containers": [{"name": "a", "image": "x"}]}));
        p["spec"]["restartPolicy"] = json!("Sometimes");
        p["spec"]["dnsPolicy"] = json!("Weird");
        let m = msgs(&p);
        assert!(m.contains(&"spec.restartPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", \"OnFailure\", \"Never\"".to_owned()));
        assert!(m.contains(&"spec.dnsPolicy: Unsupported value: \"Weird\": supported values: \"ClusterFirstWithHostNet\", \"ClusterFirst\", \"Default\", \"None\"".to_owned()));
        // without defaulting, the policies are required
        let raw = json!({"spec": {"containers": [{"name": "a", "image": "x", "imagePullPolicy": "Always", "terminationMessagePolicy": "File"}]}});
        let m: Vec<String> = validate("", "Pod", &raw)
            .iter()
            .map(FieldError::message)
            .collect();
        assert_eq!(
            m,
            [
                "spec.restartPolicy: Required value",
                "spec.dnsPolicy: Required value"
            ]
        );
    }

    #[test]
    fn volumes_and_mounts() {
        let p = pod(json!({
            "containers": [{"name": "a", "image": "x", "volumeMounts": [
                {"name": "missing", "mountPath": "/a"},
                {"name": "v1", "mountPath": "/a"},
                {"name": "v1", "mountPath": "/b", "subPath": "../etc"},
                {"name": "v1", "mountPath": ""},
            ]}],
            "volumes": [
                {"name": "v1", "emptyDir": {}},
                {"name": "v1", "emptyDir": {}},
                {"name": "Bad", "emptyDir": {}},
                {"name": "two", "emptyDir": {}, "hostPath": {"path": "/x"}},
                {"name": "pvc", "persistentVolumeClaim": {}},
            ]
        }));
        let m = msgs(&p);
        for want in [
            "spec.volumes[1].name: Duplicate value: \"v1\"",
            "spec.volumes[3].hostPath: Forbidden: may not specify more than 1 volume type",
            "spec.volumes[4].persistentVolumeClaim.claimName: Required value",
            "spec.containers[0].volumeMounts[0].name: Not found: \"missing\"",
            "spec.containers[0].volumeMounts[1].mountPath: Invalid value: \"/a\": must be unique",
            "spec.containers[0].volumeMounts[2].subPath: Invalid value: \"../etc\": must not contain '..'",
            "spec.containers[0].volumeMounts[3].mountPath: Required value",
        ] {
            assert!(m.contains(&want.to_owned()), "missing {want}\n{m:#?}");
        }
        assert!(
            m.iter()
                .any(|x| x.starts_with("spec.volumes[2].name: Invalid value: \"Bad\""))
        );
    }

    #[test]
    fn volume_without_source() {
        let raw = json!({"spec": {"restartPolicy": "Always", "dnsPolicy": "ClusterFirst",
            "containers": [{"name": "a", "image": "x", "imagePullPolicy": "Always", "terminationMessagePolicy": "File"}],
            "volumes": [{"name": "v"}]}});
        let m: Vec<String> = validate("", "Pod", &raw)
            .iter()
            .map(FieldError::message)
            .collect();
        assert_eq!(
            m,
            ["spec.volumes[0]: Required value: must specify a volume type"]
        );
    }

    #[test]
    fn resources() {
        let p = pod(
            json!({"containers": [{"name": "a", "image": "x", "resources": {
                "limits": {"cpu": "1", "example.com/gpu": "1"},
                "requests": {"cpu": "2", "memory": "-1Gi", "example.com/gpu": "2", "hugepages-2Mi": "1Gi", "x": "1q"}
            }}]}),
        );
        let m = msgs(&p);
        for want in [
            "spec.containers[0].resources.requests: Invalid value: \"2\": must be less than or equal to cpu limit of 1",
            "spec.containers[0].resources.requests[memory]: Invalid value: \"-1Gi\": must be greater than or equal to 0",
            "spec.containers[0].resources.requests: Invalid value: \"2\": must be equal to example.com/gpu limit of 1",
            "spec.containers[0].resources.limits: Required value: Limit must be set for non overcommitable resources",
        ] {
            assert!(m.contains(&want.to_owned()), "missing {want}\n{m:#?}");
        }
        assert!(m.iter().any(|x| {
            x.starts_with("spec.containers[0].resources.requests[x]: Invalid value: \"1q\"")
        }));
    }

    #[test]
    fn env_names() {
        let p = pod(json!({"containers": [{"name": "a", "image": "x", "env": [
            {"name": "OK_1"}, {"name": ""}, {"name": "A=B"}, {"name": "x", "value": "1", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}
        ]}]}));
        let m = msgs(&p);
        assert!(m.contains(&"spec.containers[0].env[1].name: Required value".to_owned()));
        assert!(m.contains(&"spec.containers[0].env[2].name: Invalid value: \"A=B\": a valid environment variable name must consist only of printable ASCII characters other than '='".to_owned()));
        assert!(
            m.iter()
                .any(|x| x.starts_with("spec.containers[0].env[3].valueFrom"))
        );
    }

    #[test]
    fn misc_spec_fields() {
        let p = pod(json!({"containers": [{"name": "a", "image": "x"}],
            "nodeSelector": {"bad key": "v"}, "hostname": "A", "activeDeadlineSeconds": 0,
            "serviceAccountName": "Bad_SA", "ephemeralContainers": [{"name": "e", "image": "x"}],
            "tolerations": [{"operator": "Equal", "value": "x"}, {"key": "k", "operator": "Exists", "value": "v"}, {"key": "k", "effect": "Sometimes"}]}));
        let m = msgs(&p);
        assert!(
            m.iter()
                .any(|x| x.starts_with("spec.nodeSelector: Invalid value: \"bad key\""))
        );
        assert!(
            m.iter()
                .any(|x| x.starts_with("spec.hostname: Invalid value: \"A\""))
        );
        assert!(
            m.iter()
                .any(|x| x.starts_with("spec.serviceAccountName: Invalid value: \"Bad_SA\""))
        );
        assert!(m.contains(&"spec.activeDeadlineSeconds: Invalid value: 0: must be between 1 and 2147483647, inclusive".to_owned()));
        assert!(
            m.contains(&"spec.ephemeralContainers: Forbidden: cannot be set on create".to_owned())
        );
        assert!(m.iter().any(|x| x.starts_with(
            "spec.tolerations[0].operator: Invalid value: \"Equal\": operator must be Exists"
        )));
        assert!(m.contains(&"spec.tolerations[1].operator: Invalid value: \"v\": value must be empty when `operator` is 'Exists'".to_owned()));
        assert!(m.iter().any(|x| {
            x.starts_with("spec.tolerations[2].effect: Unsupported value: \"Sometimes\"")
        }));
    }

    #[test]
    fn qos() {
        let best = json!({"spec": {"containers": [{"name": "a"}]}});
        assert_eq!(qos_class(&best), "BestEffort");
        let burst = json!({"spec": {"containers": [{"name": "a", "resources": {"requests": {"cpu": "100m"}}}]}});
        assert_eq!(qos_class(&burst), "Burstable");
        let guar = json!({"spec": {"containers": [{"name": "a", "resources": {
            "limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "1000m", "memory": "1Gi"}}}]}});
        assert_eq!(qos_class(&guar), "Guaranteed");
        let mixed = json!({"spec": {"containers": [
            {"name": "a", "resources": {"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "1", "memory": "1Gi"}}},
            {"name": "b"}]}});
        assert_eq!(qos_class(&mixed), "Burstable");
        let zero = json!({"spec": {"containers": [{"name": "a", "resources": {"requests": {"cpu": "0"}}}]}});
        assert_eq!(qos_class(&zero), "BestEffort");
        assert_eq!(qos_class(&json!(null)), "BestEffort");
    }

    #[test]
    fn pod_template_kind() {
        let t = json!({"template": {"metadata": {"labels": {"-bad": "x"}}, "spec": {}}});
        let m: Vec<String> = validate("", "PodTemplate", &t)
            .iter()
            .map(FieldError::message)
            .collect();
        assert!(m[0].starts_with("template.metadata.labels: Invalid value: \"-bad\""));
        assert!(m.contains(&"template.spec.containers: Required value".to_owned()));
    }
}
