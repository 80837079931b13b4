//! Validation of core kinds other than Pod: Service, ConfigMap, Secret,
//! Namespace, PersistentVolumeClaim.

use std::collections::BTreeSet;

use base64::Engine as _;
use serde_json::Value;

use super::field::{BadValue, FieldError, FieldPath};
use super::meta::validate_labels;
use super::names::{
    is_config_map_key, is_dns1123_label, is_dns1123_subdomain, is_qualified_name,
    is_valid_port_name, is_valid_port_num,
};
use super::pod::validate_protocol;
use super::{get, get_i64, get_list, str_or_empty};
use crate::quantity::Quantity;

/// The most bytes a ConfigMap's or Secret's data may hold.
const MAX_DATA_SIZE: usize = 1024 * 1024;
const NODE_PORT_MIN: i64 = 30000;
const NODE_PORT_MAX: i64 = 32767;

/// Go's `%#v` of the `ServicePort` key Kubernetes reports duplicates with.
fn service_port_key(protocol: &str, port: i64) -> BadValue {
    BadValue::Raw(format!(
        "core.ServicePort{{Name:\"\", Protocol:{}, AppProtocol:(*string)(nil), Port:{port}, TargetPort:intstr.IntOrString{{Type:0, IntVal:0, StrVal:\"\"}}, NodePort:0}}",
        super::field::go_quote(protocol)
    ))
}

/// `IsFullyQualifiedDomainName`: a subdomain of at least two labels.
fn fqdn_errors(path: &FieldPath, name: &str) -> Vec<FieldError> {
    if name.is_empty() {
        return vec![FieldError::required(path, "")];
    }
    let name = name.strip_suffix('.').unwrap_or(name);
    let msgs = is_dns1123_subdomain(name);
    if !msgs.is_empty() {
        return vec![FieldError::invalid(path, name, msgs.join(","))];
    }
    if name.split('.').count() < 2 {
        return vec![FieldError::invalid(
            path,
            name,
            "should be a domain with at least two segments separated by dots",
        )];
    }
    for label in name.split('.') {
        let msgs = is_dns1123_label(label);
        if !msgs.is_empty() {
            return vec![FieldError::invalid(path, label, msgs.join(","))];
        }
    }
    Vec::new()
}

pub(crate) fn validate_service(obj: &Value) -> Vec<FieldError> {
    let path = FieldPath::new("spec");
    let empty = Value::Null;
    let spec = get(obj, "spec").unwrap_or(&empty);
    let mut errs = Vec::new();
    let ty = str_or_empty(spec, "type");
    let cluster_ip = str_or_empty(spec, "clusterIP");
    let ports = get_list(spec, "ports");
    match ty {
        "" => errs.push(FieldError::required(&path.child("type"), "")),
        "ClusterIP" | "NodePort" | "LoadBalancer" | "ExternalName" => {}
        other => errs.push(FieldError::not_supported(
            &path.child("type"),
            other,
            &["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"],
        )),
    }
    if ports.is_empty() && cluster_ip != "None" && ty != "ExternalName" {
        errs.push(FieldError::required(&path.child("ports"), ""));
    }
    if ty == "ExternalName" {
        if !cluster_ip.is_empty() {
            errs.push(FieldError::forbidden(
                &path.child("clusterIPs"),
                "may not be set for ExternalName services",
            ));
        }
        errs.extend(fqdn_errors(
            &path.child("externalName"),
            str_or_empty(spec, "externalName"),
        ));
    }
    if cluster_ip == "None" && matches!(ty, "NodePort" | "LoadBalancer") {
        errs.push(FieldError::invalid(
            &path.child("clusterIPs").index(0),
            "None",
            format!("may not be set to 'None' for {ty} services"),
        ));
    }
    if !cluster_ip.is_empty()
        && cluster_ip != "None"
        && cluster_ip.parse::<std::net::IpAddr>().is_err()
    {
        errs.push(FieldError::invalid(
            &path.child("clusterIPs").index(0),
            cluster_ip,
            "must be empty, 'None', or a valid IP address",
        ));
    }
    let ports_path = path.child("ports");
    let require_name = ports.len() > 1;
    let mut names = BTreeSet::new();
    for (i, p) in ports.iter().enumerate() {
        let ppath = ports_path.index(i);
        let name = str_or_empty(p, "name");
        if require_name && name.is_empty() {
            errs.push(FieldError::required(&ppath.child("name"), ""));
        } else if !name.is_empty() {
            for msg in is_dns1123_label(name) {
                errs.push(FieldError::invalid(&ppath.child("name"), name, msg));
            }
            if !names.insert(name.to_owned()) {
                errs.push(FieldError::duplicate(&ppath.child("name"), name));
            }
        }
        let port = get_i64(p, "port").unwrap_or(0);
        for msg in is_valid_port_num(port) {
            errs.push(FieldError::invalid(&ppath.child("port"), port, msg));
        }
        validate_protocol(p, &ppath, &mut errs);
        match p.get("targetPort") {
            Some(Value::Number(n)) => {
                let n = n.as_i64().unwrap_or(0);
                for msg in is_valid_port_num(n) {
                    errs.push(FieldError::invalid(&ppath.child("targetPort"), n, msg));
                }
            }
            Some(Value::String(s)) => {
                for msg in is_valid_port_name(s) {
                    errs.push(FieldError::invalid(
                        &ppath.child("targetPort"),
                        s.as_str(),
                        msg,
                    ));
                }
            }
            _ => {}
        }
        let node_port = get_i64(p, "nodePort").unwrap_or(0);
        if node_port != 0 {
            if !matches!(ty, "NodePort" | "LoadBalancer") {
                errs.push(FieldError::forbidden(
                    &ppath.child("nodePort"),
                    format!("may not be used when `type` is '{ty}'"),
                ));
            } else if !(NODE_PORT_MIN..=NODE_PORT_MAX).contains(&node_port) {
                errs.push(FieldError::invalid(
                    &ppath.child("nodePort"),
                    node_port,
                    format!(
                        "provided port is not in the valid range. The range of valid ports is {NODE_PORT_MIN}-{NODE_PORT_MAX}"
                    ),
                ));
            }
        }
    }
    let mut seen = BTreeSet::new();
    let mut seen_node_ports = BTreeSet::new();
    for (i, p) in ports.iter().enumerate() {
        let protocol = str_or_empty(p, "protocol");
        let port = get_i64(p, "port").unwrap_or(0);
        if !seen.insert((protocol.to_owned(), port)) {
            errs.push(FieldError::duplicate(
                &ports_path.index(i),
                service_port_key(protocol, port),
            ));
        }
        let node_port = get_i64(p, "nodePort").unwrap_or(0);
        if node_port != 0 && !seen_node_ports.insert((protocol.to_owned(), node_port)) {
            errs.push(FieldError::duplicate(
                &ports_path.index(i).child("nodePort"),
                node_port,
            ));
        }
    }
    match str_or_empty(spec, "sessionAffinity") {
        "" => errs.push(FieldError::required(&path.child("sessionAffinity"), "")),
        "None" | "ClientIP" => {}
        other => errs.push(FieldError::not_supported(
            &path.child("sessionAffinity"),
            other,
            &["ClientIP", "None"],
        )),
    }
    errs.extend(validate_labels(
        get(spec, "selector"),
        &path.child("selector"),
    ));
    for (field, valid) in [
        (
            "ipFamilyPolicy",
            &["PreferDualStack", "RequireDualStack", "SingleStack"][..],
        ),
        ("internalTrafficPolicy", &["Cluster", "Local"][..]),
        ("externalTrafficPolicy", &["Cluster", "Local"][..]),
    ] {
        let v = str_or_empty(spec, field);
        if !v.is_empty() && !valid.contains(&v) {
            errs.push(FieldError::not_supported(&path.child(field), v, valid));
        }
    }
    for (i, fam) in get_list(spec, "ipFamilies").iter().enumerate() {
        let f = fam.as_str().unwrap_or("");
        if f != "IPv4" && f != "IPv6" {
            errs.push(FieldError::not_supported(
                &path.child("ipFamilies").index(i),
                f,
                &["IPv4", "IPv6"],
            ));
        }
    }
    errs
}

pub(crate) fn validate_config_map(obj: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut total = 0usize;
    let data = get(obj, "data").and_then(Value::as_object);
    let binary = get(obj, "binaryData").and_then(Value::as_object);
    let data_path = FieldPath::new("data");
    let binary_path = FieldPath::new("binaryData");
    for (k, v) in data.into_iter().flatten() {
        for msg in is_config_map_key(k) {
            errs.push(FieldError::invalid(&data_path.key(k), k.as_str(), msg));
        }
        if binary.is_some_and(|b| b.contains_key(k)) {
            errs.push(FieldError::invalid(
                &data_path.key(k),
                k.as_str(),
                "duplicate of key present in binaryData",
            ));
        }
        total = total.saturating_add(v.as_str().map_or(0, str::len));
    }
    for (k, v) in binary.into_iter().flatten() {
        for msg in is_config_map_key(k) {
            errs.push(FieldError::invalid(&binary_path.key(k), k.as_str(), msg));
        }
        match decode_b64(v) {
            Ok(n) => total = total.saturating_add(n),
            Err(msg) => errs.push(FieldError::invalid(
                &binary_path.key(k),
                "<binary data>",
                msg,
            )),
        }
    }
    if total > MAX_DATA_SIZE {
        // The empty path: Kubernetes reports the size against the whole object.
        errs.push(FieldError::too_long(&FieldPath::root(), MAX_DATA_SIZE));
    }
    errs
}

/// The decoded length of a base64 JSON string.
fn decode_b64(v: &Value) -> Result<usize, String> {
    let s = v.as_str().unwrap_or("");
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .map(|b| b.len())
        .map_err(|e| e.to_string())
}

fn has_key(data: Option<&serde_json::Map<String, Value>>, key: &str) -> bool {
    data.is_some_and(|d| d.contains_key(key))
}

pub(crate) fn validate_secret(obj: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let data_path = FieldPath::new("data");
    let data = get(obj, "data").and_then(Value::as_object);
    let mut total = 0usize;
    for (k, v) in data.into_iter().flatten() {
        for msg in is_config_map_key(k) {
            errs.push(FieldError::invalid(&data_path.key(k), k.as_str(), msg));
        }
        match decode_b64(v) {
            Ok(n) => total = total.saturating_add(n),
            Err(msg) => errs.push(FieldError::invalid(
                &data_path.key(k),
                "<secret contents redacted>",
                msg,
            )),
        }
    }
    if total > MAX_DATA_SIZE {
        errs.push(FieldError::too_long(&data_path, MAX_DATA_SIZE));
    }
    let require = |errs: &mut Vec<FieldError>, key: &str| {
        if !has_key(data, key) {
            errs.push(FieldError::required(&data_path.key(key), ""));
        }
    };
    match str_or_empty(obj, "type") {
        "kubernetes.io/service-account-token" => {
            let sa = obj
                .get("metadata")
                .and_then(|m| m.get("annotations"))
                .and_then(|a| a.get("kubernetes.io/service-account.name"))
                .and_then(Value::as_str)
                .unwrap_or("");
            if sa.is_empty() {
                errs.push(FieldError::required(
                    &FieldPath::new("metadata")
                        .child("annotations")
                        .key("kubernetes.io/service-account.name"),
                    "",
                ));
            }
        }
        "kubernetes.io/dockercfg" => require_json(data, ".dockercfg", &data_path, &mut errs),
        "kubernetes.io/dockerconfigjson" => {
            require_json(data, ".dockerconfigjson", &data_path, &mut errs);
        }
        "kubernetes.io/basic-auth" if !has_key(data, "username") && !has_key(data, "password") => {
            require(&mut errs, "username");
            require(&mut errs, "password");
        }
        "kubernetes.io/ssh-auth" => {
            let present = data
                .and_then(|d| d.get("ssh-privatekey"))
                .and_then(Value::as_str)
                .is_some_and(|s| !s.is_empty());
            if !present {
                errs.push(FieldError::required(&data_path.key("ssh-privatekey"), ""));
            }
        }
        "kubernetes.io/tls" => {
            require(&mut errs, "tls.crt");
            require(&mut errs, "tls.key");
        }
        _ => {}
    }
    errs
}

fn require_json(
    data: Option<&serde_json::Map<String, Value>>,
    key: &str,
    data_path: &FieldPath,
    errs: &mut Vec<FieldError>,
) {
    let Some(v) = data.and_then(|d| d.get(key)) else {
        errs.push(FieldError::required(&data_path.key(key), ""));
        return;
    };
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(v.as_str().unwrap_or(""))
        .unwrap_or_default();
    if let Err(e) = serde_json::from_slice::<serde_json::Map<String, Value>>(&bytes) {
        errs.push(FieldError::invalid(
            &data_path.key(key),
            "<secret contents redacted>",
            e.to_string(),
        ));
    }
}

pub(crate) fn validate_namespace(obj: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let path = FieldPath::new("spec").child("finalizers");
    for f in get(obj, "spec")
        .map(|s| get_list(s, "finalizers"))
        .unwrap_or(&[])
    {
        let f = f.as_str().unwrap_or("");
        let msgs = is_qualified_name(f);
        if !msgs.is_empty() {
            for m in msgs {
                errs.push(FieldError::invalid(&path, f, m));
            }
        } else if !f.contains('/') && f != "kubernetes" {
            errs.push(FieldError::invalid(
                &path,
                f,
                "name is neither a standard finalizer name nor is it fully qualified",
            ));
        }
    }
    errs
}

pub(crate) fn validate_pvc(obj: &Value) -> Vec<FieldError> {
    let path = FieldPath::new("spec");
    let empty = Value::Null;
    let spec = get(obj, "spec").unwrap_or(&empty);
    let mut errs = Vec::new();
    let modes = get_list(spec, "accessModes");
    if modes.is_empty() {
        errs.push(FieldError::required(
            &path.child("accessModes"),
            "at least 1 access mode is required",
        ));
    }
    let valid = [
        "ReadOnlyMany",
        "ReadWriteMany",
        "ReadWriteOnce",
        "ReadWriteOncePod",
    ];
    for m in modes {
        let m = m.as_str().unwrap_or("");
        if !valid.contains(&m) {
            errs.push(FieldError::not_supported(
                &path.child("accessModes"),
                m,
                &valid,
            ));
        }
    }
    let storage_path = path.child("resources").key("storage");
    let storage = get(spec, "resources")
        .and_then(|r| get(r, "requests"))
        .and_then(|r| get(r, "storage"));
    match storage {
        None => errs.push(FieldError::required(&storage_path, "")),
        Some(v) => {
            let text = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
            match Quantity::parse(text.trim()) {
                Ok(q) if q.signum() > 0 => {}
                Ok(q) => errs.push(FieldError::invalid(
                    &storage_path,
                    q.to_string(),
                    "must be greater than zero",
                )),
                Err(e) => errs.push(FieldError::invalid(&storage_path, text, e.to_string())),
            }
        }
    }
    match str_or_empty(spec, "volumeMode") {
        "" | "Block" | "Filesystem" => {}
        other => errs.push(FieldError::not_supported(
            &path.child("volumeMode"),
            other,
            &["Block", "Filesystem"],
        )),
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validation::{default_object, validate};
    use serde_json::json;

    fn msgs(kind: &str, v: &Value) -> Vec<String> {
        validate("", kind, v)
            .iter()
            .map(FieldError::message)
            .collect()
    }

    fn svc(spec: Value) -> Value {
        let mut s = json!({"metadata": {"name": "s", "namespace": "default"}, "spec": spec});
        default_object("", "Service", &mut s);
        s
    }

    #[test]
    fn valid_services() {
        assert!(
            msgs(
                "Service",
                &svc(json!({"ports": [{"port": 80}], "selector": {"app": "web"}}))
            )
            .is_empty()
        );
        assert!(msgs("Service", &svc(json!({"clusterIP": "None"}))).is_empty());
        assert!(
            msgs(
                "Service",
                &svc(json!({"type": "ExternalName", "externalName": "example.com"}))
            )
            .is_empty()
        );
        assert!(
            msgs(
                "Service",
                &svc(json!({"type": "NodePort", "ports": [{"port": 80, "nodePort": 30080}]}))
            )
            .is_empty()
        );
        assert!(msgs("Service", &svc(json!({"ports": [{"name": "a", "port": 80}, {"name": "b", "port": 81, "targetPort": "http"}]}))).is_empty());
    }

    #[test]
    fn service_errors() {
        assert_eq!(
            msgs("Service", &svc(json!({}))),
            ["spec.ports: Required value"]
        );
        let m = msgs(
            "Service",
            &svc(json!({"type": "Fancy", "ports": [{"port": 0}]})),
        );
        assert!(m.contains(&"spec.type: Unsupported value: \"Fancy\": supported values: \"ClusterIP\", \"ExternalName\", \"LoadBalancer\", \"NodePort\"".to_owned()), "{m:?}");
        assert!(
            m.contains(
                &"spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive"
                    .to_owned()
            )
        );
        let m = msgs(
            "Service",
            &svc(json!({"ports": [{"port": 80}, {"port": 80}]})),
        );
        assert!(m.contains(&"spec.ports[0].name: Required value".to_owned()));
        assert!(m.contains(&"spec.ports[1]: Duplicate value: core.ServicePort{Name:\"\", Protocol:\"TCP\", AppProtocol:(*string)(nil), Port:80, TargetPort:intstr.IntOrString{Type:0, IntVal:0, StrVal:\"\"}, NodePort:0}".to_owned()), "{m:?}");
        let m = msgs(
            "Service",
            &svc(json!({"ports": [{"port": 80, "nodePort": 30001}]})),
        );
        assert_eq!(
            m,
            ["spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'"]
        );
        let m = msgs(
            "Service",
            &svc(json!({"type": "NodePort", "ports": [{"port": 80, "nodePort": 80}]})),
        );
        assert_eq!(
            m,
            [
                "spec.ports[0].nodePort: Invalid value: 80: provided port is not in the valid range. The range of valid ports is 30000-32767"
            ]
        );
        let m = msgs(
            "Service",
            &svc(
                json!({"type": "NodePort", "clusterIP": "None", "ports": [{"name": "a", "port": 80, "nodePort": 30000}, {"name": "b", "port": 81, "nodePort": 30000}]}),
            ),
        );
        assert!(m.contains(&"spec.clusterIPs[0]: Invalid value: \"None\": may not be set to 'None' for NodePort services".to_owned()));
        assert!(m.contains(&"spec.ports[1].nodePort: Duplicate value: 30000".to_owned()));
        let m = msgs("Service", &svc(json!({"type": "ExternalName"})));
        assert_eq!(m, ["spec.externalName: Required value"]);
        let m = msgs(
            "Service",
            &svc(json!({"type": "ExternalName", "externalName": "localhost"})),
        );
        assert_eq!(
            m,
            [
                "spec.externalName: Invalid value: \"localhost\": should be a domain with at least two segments separated by dots"
            ]
        );
        let m = msgs(
            "Service",
            &svc(
                json!({"ports": [{"port": 80, "protocol": "HTTP", "targetPort": 0, "name": "Web"}], "sessionAffinity": "Sticky", "clusterIP": "1.2.3"}),
            ),
        );
        assert!(m.contains(&"spec.ports[0].protocol: Unsupported value: \"HTTP\": supported values: \"SCTP\", \"TCP\", \"UDP\"".to_owned()));
        let m2 = msgs(
            "Service",
            &json!({"spec": {"type": "ClusterIP", "sessionAffinity": "None", "ports": [{"port": 80, "protocol": "TCP", "targetPort": 70000}]}}),
        );
        assert_eq!(
            m2,
            [
                "spec.ports[0].targetPort: Invalid value: 70000: must be between 1 and 65535, inclusive"
            ]
        );
        assert!(m.contains(&"spec.sessionAffinity: Unsupported value: \"Sticky\": supported values: \"ClientIP\", \"None\"".to_owned()));
        assert!(
            m.iter()
                .any(|x| x.starts_with("spec.ports[0].name: Invalid value: \"Web\""))
        );
        assert!(
            m.iter()
                .any(|x| x.starts_with("spec.clusterIPs[0]: Invalid value: \"1.2.3\""))
        );
    }

    #[test]
    fn config_maps() {
        assert!(msgs("ConfigMap", &json!({"data": {"a.b": "x", "C_D-1": "y"}})).is_empty());
        let m = msgs(
            "ConfigMap",
            &json!({"data": {"a/b": "x", "k": "1"}, "binaryData": {"k": "eA==", "..": "eA=="}}),
        );
        assert!(m.iter().any(|x| {
            x.starts_with("data[a/b]: Invalid value: \"a/b\": a valid config key must consist")
        }));
        assert!(m.contains(
            &"data[k]: Invalid value: \"k\": duplicate of key present in binaryData".to_owned()
        ));
        assert!(m.contains(&"binaryData[..]: Invalid value: \"..\": must not be '..'".to_owned()));
        let big = "x".repeat(MAX_DATA_SIZE + 1);
        assert_eq!(
            msgs("ConfigMap", &json!({"data": {"k": big}})),
            [": Too long: may not be more than 1048576 bytes"]
        );
        let m = msgs("ConfigMap", &json!({"binaryData": {"k": "not base64!"}}));
        assert!(m[0].starts_with("binaryData[k]: Invalid value: \"<binary data>\""));
    }

    #[test]
    fn secrets() {
        assert!(msgs("Secret", &json!({"type": "Opaque", "data": {"k": "dg=="}})).is_empty());
        let m = msgs(
            "Secret",
            &json!({"type": "kubernetes.io/tls", "data": {"tls.crt": ""}}),
        );
        assert_eq!(m, ["data[tls.key]: Required value"]);
        let m = msgs("Secret", &json!({"type": "kubernetes.io/basic-auth"}));
        assert_eq!(
            m,
            [
                "data[username]: Required value",
                "data[password]: Required value"
            ]
        );
        let m = msgs(
            "Secret",
            &json!({"type": "kubernetes.io/service-account-token"}),
        );
        assert_eq!(
            m,
            ["metadata.annotations[kubernetes.io/service-account.name]: Required value"]
        );
        let m = msgs(
            "Secret",
            &json!({"type": "kubernetes.io/dockerconfigjson", "data": {".dockerconfigjson": "bm90IGpzb24="}}),
        );
        assert!(
            m[0].starts_with(
                "data[.dockerconfigjson]: Invalid value: \"<secret contents redacted>\""
            )
        );
        let m = msgs(
            "Secret",
            &json!({"type": "kubernetes.io/ssh-auth", "data": {"ssh-privatekey": ""}}),
        );
        assert_eq!(m, ["data[ssh-privatekey]: Required value"]);
        let big = base64::engine::general_purpose::STANDARD.encode(vec![0u8; MAX_DATA_SIZE + 1]);
        assert_eq!(
            msgs("Secret", &json!({"data": {"k": big}})),
            ["data: Too long: may not be more than 1048576 bytes"]
        );
        let m = msgs("Secret", &json!({"data": {"bad key": "%%%"}}));
        assert_eq!(m.len(), 2);
    }

    #[test]
    fn namespaces() {
        assert!(
            msgs(
                "Namespace",
                &json!({"spec": {"finalizers": ["kubernetes", "example.com/f"]}})
            )
            .is_empty()
        );
        let m = msgs("Namespace", &json!({"spec": {"finalizers": ["custom"]}}));
        assert_eq!(
            m,
            [
                "spec.finalizers: Invalid value: \"custom\": name is neither a standard finalizer name nor is it fully qualified"
            ]
        );
    }

    #[test]
    fn pvcs() {
        let ok = json!({"spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}});
        assert!(msgs("PersistentVolumeClaim", &ok).is_empty());
        let m = msgs("PersistentVolumeClaim", &json!({"spec": {}}));
        assert_eq!(
            m,
            [
                "spec.accessModes: Required value: at least 1 access mode is required",
                "spec.resources[storage]: Required value"
            ]
        );
        let m = msgs(
            "PersistentVolumeClaim",
            &json!({"spec": {"accessModes": ["Sometimes"], "volumeMode": "Disk", "resources": {"requests": {"storage": "0"}}}}),
        );
        assert_eq!(m.len(), 3);
        assert!(m.contains(
            &"spec.resources[storage]: Invalid value: \"0\": must be greater than zero".to_owned()
        ));
    }
}
