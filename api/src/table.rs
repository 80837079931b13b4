//! `meta.k8s.io/v1` Table conversion: what `kubectl get` prints.
//!
//! Kubernetes prints on the server, so kubectl shows the same columns for
//! every kind without knowing it. The columns and cell formats here follow
//! Kubernetes' printers for the common kinds; custom resources use their
//! CRD's `additionalPrinterColumns`; anything else gets Name and Age.

use serde_json::{Value, json};

use crate::jsonpath::JsonPath;
use crate::registry::{Origin, Resource};

/// What each row carries besides its cells (`includeObject`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Include {
    /// Nothing.
    None,
    /// PartialObjectMetadata (the default).
    Metadata,
    /// The whole object.
    Object,
}

/// A column: (name, type, priority). Priority 1 columns show with `-o wide`.
type Col = (&'static str, &'static str, i32);

/// The `PartialObjectMetadata` of an object.
pub fn partial_metadata(obj: &Value) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj.get("metadata").cloned().unwrap_or_else(|| json!({})),
    })
}

/// The metadata a Table row carries: PartialObjectMetadata without
/// `managedFields`, which `kubectl get` never shows and which would be most
/// of a large table's bytes.
fn row_metadata(obj: &Value) -> Value {
    let mut m = partial_metadata(obj);
    if let Some(meta) = m.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("managedFields");
    }
    m
}

/// Converts objects of one resource into a Table.
pub fn table(res: &Resource, objects: &[Value], include: Include, now: jiff::Timestamp) -> Value {
    let (defs, rows): (Vec<Value>, Vec<Value>) = match &res.origin {
        Origin::Custom { .. } if !res.printer_columns.is_empty() => custom(res, objects, now),
        _ => {
            let defs = builtin_defs(res);
            let rows = objects
                .iter()
                .map(|o| Value::Array(cells(&res.group, &res.kind, o, now)))
                .collect();
            (defs, rows)
        }
    };
    let rows: Vec<Value> = rows
        .into_iter()
        .zip(objects)
        .map(|(cells, obj)| {
            let mut row = json!({"cells": cells});
            match include {
                Include::None => {}
                Include::Metadata => row["object"] = row_metadata(obj),
                Include::Object => row["object"] = obj.clone(),
            }
            row
        })
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {},
        "columnDefinitions": defs,
        "rows": rows,
    })
}

/// The column definitions of a kind printed by [`cells`].
fn builtin_defs(res: &Resource) -> Vec<Value> {
    columns(&res.group, &res.kind)
        .iter()
        .map(|(name, ty, prio)| {
            let format = if *name == "Name" { "name" } else { "" };
            json!({"name": name, "type": ty, "format": format, "description": "", "priority": prio})
        })
        .collect()
}

/// One object for [`write_table`]: its JSON as stored, compact as
/// serde_json writes it, and the resourceVersion its metadata gets.
pub struct RawObject<'a> {
    /// The object's JSON bytes.
    pub json: &'a [u8],
    /// `metadata.resourceVersion` to serve.
    pub resource_version: &'a str,
}

/// Writes the Table of `objects` as JSON bytes, the same bytes as
/// serializing [`table`]'s Value (with `metadata` set to `list_meta`) of the
/// decoded objects, without decoding them whole: `kubectl get` on 10,000
/// pods would otherwise parse every `managedFields` and container spec only
/// to drop them. Each object is split at the top level and in `metadata`
/// by a scanner; only the fields the cells read are parsed, and the row's
/// metadata is copied from the input bytes.
///
/// `None` when this path does not apply (custom resources, whole objects
/// asked for, an object not in the expected shape): use [`table`] then.
pub fn write_table(
    res: &Resource,
    objects: &[RawObject<'_>],
    include: Include,
    now: jiff::Timestamp,
    list_meta: &Value,
) -> Option<Vec<u8>> {
    if !matches!(res.origin, Origin::Builtin) || include == Include::Object {
        return None;
    }
    let per_row = match include {
        Include::Metadata => 600,
        _ => 200,
    };
    let mut out = Vec::with_capacity(objects.len() * per_row + 1024);
    out.extend_from_slice(br#"{"kind":"Table","apiVersion":"meta.k8s.io/v1","metadata":"#);
    serde_json::to_writer(&mut out, list_meta).ok()?;
    out.extend_from_slice(br#","columnDefinitions":"#);
    serde_json::to_writer(&mut out, &builtin_defs(res)).ok()?;
    out.extend_from_slice(br#","rows":["#);
    for (n, o) in objects.iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        write_row(res, o, include, now, &mut out)?;
    }
    out.extend_from_slice(b"]}");
    Some(out)
}

/// Writes one row of [`write_table`]; `None` if the object is not a JSON
/// object with an object `metadata` whose keys need no unescaping.
fn write_row(
    res: &Resource,
    o: &RawObject<'_>,
    include: Include,
    now: jiff::Timestamp,
    out: &mut Vec<u8>,
) -> Option<()> {
    let top = raw::fields(o.json)?;
    let meta_bytes = top.iter().find(|(k, _)| *k == "metadata")?.1;
    let mut meta: Vec<(&str, &[u8])> = raw::fields(meta_bytes)?;
    // Duplicate keys would decode to one entry: leave those to `table`.
    if meta
        .iter()
        .enumerate()
        .any(|(i, (k, _))| meta[..i].iter().any(|(k2, _)| k2 == k))
    {
        return None;
    }
    // What the cells read: metadata without managedFields, and of a pod's
    // spec only what its printer looks at.
    let pod = res.group.is_empty() && res.kind == "Pod";
    let mut obj = serde_json::Map::new();
    for (k, v) in &top {
        let value = match *k {
            "metadata" => {
                let mut m = serde_json::Map::new();
                for (mk, mv) in meta.iter().filter(|(mk, _)| *mk != "managedFields") {
                    m.insert((*mk).to_owned(), serde_json::from_slice(mv).ok()?);
                }
                Value::Object(m)
            }
            "spec" if pod => pod_spec(v)?,
            _ => serde_json::from_slice(v).ok()?,
        };
        obj.insert((*k).to_owned(), value);
    }
    let obj = Value::Object(obj);
    out.extend_from_slice(br#"{"cells":"#);
    serde_json::to_writer(&mut *out, &cells(&res.group, &res.kind, &obj, now)).ok()?;
    if include == Include::Metadata {
        // As decoding does: resourceVersion set in place or appended, then
        // managedFields removed the way serde_json's map removes (the last
        // entry takes its place).
        let rv = serde_json::to_vec(o.resource_version).ok()?;
        match meta.iter_mut().find(|(k, _)| *k == "resourceVersion") {
            Some(e) => e.1 = &rv,
            None => meta.push(("resourceVersion", &rv)),
        }
        if let Some(i) = meta.iter().position(|(k, _)| *k == "managedFields") {
            meta.swap_remove(i);
        }
        out.extend_from_slice(
            br#","object":{"kind":"PartialObjectMetadata","apiVersion":"meta.k8s.io/v1","metadata":{"#,
        );
        for (i, (k, v)) in meta.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.push(b'"');
            out.extend_from_slice(k.as_bytes());
            out.extend_from_slice(b"\":");
            out.extend_from_slice(v);
        }
        out.extend_from_slice(b"}}");
    }
    out.push(b'}');
    Some(())
}

/// The part of a pod's spec [`pod_cells`] reads; containers only counted.
fn pod_spec(spec: &[u8]) -> Option<Value> {
    let mut m = serde_json::Map::new();
    for (k, v) in raw::fields(spec)? {
        let value = match k {
            "containers" => Value::Array(vec![Value::Null; raw::elements(v)?]),
            "initContainers" | "nodeName" | "readinessGates" => serde_json::from_slice(v).ok()?,
            _ => continue,
        };
        m.insert(k.to_owned(), value);
    }
    Some(Value::Object(m))
}

/// A scanner that splits JSON objects and arrays into their members'
/// bytes without parsing them. It trusts its input to be valid JSON (the
/// store holds what the server wrote); whatever it does not expect makes it
/// answer `None`.
mod raw {
    fn ws(b: &[u8], mut i: usize) -> usize {
        while matches!(b.get(i), Some(b' ' | b'\n' | b'\r' | b'\t')) {
            i += 1;
        }
        i
    }

    /// The index just past the string starting at `i`.
    fn string_end(b: &[u8], i: usize) -> Option<usize> {
        let mut j = i + 1;
        loop {
            match b.get(j)? {
                b'"' => return Some(j + 1),
                b'\\' => j += 2,
                _ => j += 1,
            }
        }
    }

    /// The index just past the value starting at `i`.
    fn value_end(b: &[u8], i: usize) -> Option<usize> {
        match b.get(i)? {
            b'"' => string_end(b, i),
            b'{' | b'[' => {
                let mut depth = 0usize;
                let mut j = i;
                loop {
                    match b.get(j)? {
                        b'"' => j = string_end(b, j)?,
                        b'{' | b'[' => {
                            depth += 1;
                            j += 1;
                        }
                        b'}' | b']' => {
                            depth = depth.checked_sub(1)?;
                            j += 1;
                            if depth == 0 {
                                return Some(j);
                            }
                        }
                        _ => j += 1,
                    }
                }
            }
            _ => {
                let mut j = i;
                while b.get(j).is_some_and(|c| {
                    !matches!(c, b',' | b'}' | b']' | b' ' | b'\n' | b'\r' | b'\t')
                }) {
                    j += 1;
                }
                (j > i).then_some(j)
            }
        }
    }

    /// The members of a JSON object, in order; `None` if `b` is not one or
    /// a key has escapes.
    pub(super) fn fields(b: &[u8]) -> Option<Vec<(&str, &[u8])>> {
        let mut out = Vec::with_capacity(8);
        let mut i = ws(b, 0);
        if b.get(i) != Some(&b'{') {
            return None;
        }
        i = ws(b, i + 1);
        if b.get(i) == Some(&b'}') {
            return (ws(b, i + 1) == b.len()).then_some(out);
        }
        loop {
            if b.get(i) != Some(&b'"') {
                return None;
            }
            let end = string_end(b, i)?;
            let key = b.get(i + 1..end - 1)?;
            if key.contains(&b'\\') {
                return None;
            }
            let key = std::str::from_utf8(key).ok()?;
            i = ws(b, end);
            if b.get(i) != Some(&b':') {
                return None;
            }
            i = ws(b, i + 1);
            let vend = value_end(b, i)?;
            out.push((key, b.get(i..vend)?));
            i = ws(b, vend);
            match b.get(i)? {
                b',' => i = ws(b, i + 1),
                b'}' => return (ws(b, i + 1) == b.len()).then_some(out),
                _ => return None,
            }
        }
    }

    /// How many elements a JSON array has; `None` if `b` is not one.
    pub(super) fn elements(b: &[u8]) -> Option<usize> {
        let mut i = ws(b, 0);
        if b.get(i) != Some(&b'[') {
            return None;
        }
        i = ws(b, i + 1);
        if b.get(i) == Some(&b']') {
            return (ws(b, i + 1) == b.len()).then_some(0);
        }
        let mut n = 0;
        loop {
            i = ws(b, value_end(b, i)?);
            n += 1;
            match b.get(i)? {
                b',' => i = ws(b, i + 1),
                b']' => return (ws(b, i + 1) == b.len()).then_some(n),
                _ => return None,
            }
        }
    }
}

fn custom(res: &Resource, objects: &[Value], now: jiff::Timestamp) -> (Vec<Value>, Vec<Value>) {
    let mut defs = vec![
        json!({"name": "Name", "type": "string", "format": "name", "description": "", "priority": 0}),
    ];
    let paths: Vec<Option<JsonPath>> = res
        .printer_columns
        .iter()
        .map(|c| JsonPath::parse(&c.json_path).ok())
        .collect();
    for c in &res.printer_columns {
        defs.push(json!({"name": c.name, "type": c.type_, "format": c.format, "description": c.description, "priority": c.priority}));
    }
    let has_age = res
        .printer_columns
        .iter()
        .any(|c| c.json_path == ".metadata.creationTimestamp");
    if !has_age {
        defs.push(
            json!({"name": "Age", "type": "date", "format": "", "description": "", "priority": 0}),
        );
    }
    let rows = objects
        .iter()
        .map(|o| {
            let mut cells = vec![Value::String(name(o).to_owned())];
            for (c, p) in res.printer_columns.iter().zip(&paths) {
                let v = p
                    .as_ref()
                    .and_then(|p| p.eval(o).first().map(|v| (*v).clone()));
                cells.push(match (c.type_.as_str(), v) {
                    ("date", Some(Value::String(s))) => age_since(&s, now).into(),
                    (_, Some(v)) => v,
                    (_, None) => Value::Null,
                });
            }
            if !has_age {
                cells.push(age(o, now).into());
            }
            Value::Array(cells)
        })
        .collect();
    (defs, rows)
}

fn columns(group: &str, kind: &str) -> Vec<Col> {
    let v: &[Col] = match (group, kind) {
        ("", "Pod") => &[
            ("Name", "string", 0),
            ("Ready", "string", 0),
            ("Status", "string", 0),
            ("Restarts", "string", 0),
            ("Age", "string", 0),
            ("IP", "string", 1),
            ("Node", "string", 1),
            ("Nominated Node", "string", 1),
            ("Readiness Gates", "string", 1),
        ],
        ("", "Namespace") => &[
            ("Name", "string", 0),
            ("Status", "string", 0),
            ("Age", "string", 0),
        ],
        ("", "Service") => &[
            ("Name", "string", 0),
            ("Type", "string", 0),
            ("Cluster-IP", "string", 0),
            ("External-IP", "string", 0),
            ("Port(s)", "string", 0),
            ("Age", "string", 0),
            ("Selector", "string", 1),
        ],
        ("", "ConfigMap") => &[
            ("Name", "string", 0),
            ("Data", "integer", 0),
            ("Age", "string", 0),
        ],
        ("", "Secret") => &[
            ("Name", "string", 0),
            ("Type", "string", 0),
            ("Data", "integer", 0),
            ("Age", "string", 0),
        ],
        ("", "ServiceAccount") => &[
            ("Name", "string", 0),
            ("Secrets", "integer", 0),
            ("Age", "string", 0),
        ],
        ("", "Endpoints") => &[
            ("Name", "string", 0),
            ("Endpoints", "string", 0),
            ("Age", "string", 0),
        ],
        ("", "Node") => &[
            ("Name", "string", 0),
            ("Status", "string", 0),
            ("Roles", "string", 0),
            ("Age", "string", 0),
            ("Version", "string", 0),
            ("Internal-IP", "string", 1),
            ("External-IP", "string", 1),
            ("OS-Image", "string", 1),
            ("Kernel-Version", "string", 1),
            ("Container-Runtime", "string", 1),
        ],
        ("", "Event") => &[
            ("Last Seen", "string", 0),
            ("Type", "string", 0),
            ("Reason", "string", 0),
            ("Object", "string", 0),
            ("Message", "string", 0),
        ],
        ("", "PersistentVolumeClaim") => &[
            ("Name", "string", 0),
            ("Status", "string", 0),
            ("Volume", "string", 0),
            ("Capacity", "string", 0),
            ("Access Modes", "string", 0),
            ("StorageClass", "string", 0),
            ("Age", "string", 0),
        ],
        ("", "PersistentVolume") => &[
            ("Name", "string", 0),
            ("Capacity", "string", 0),
            ("Access Modes", "string", 0),
            ("Reclaim Policy", "string", 0),
            ("Status", "string", 0),
            ("Claim", "string", 0),
            ("StorageClass", "string", 0),
            ("Age", "string", 0),
        ],
        ("apps", "Deployment") => &[
            ("Name", "string", 0),
            ("Ready", "string", 0),
            ("Up-to-date", "string", 0),
            ("Available", "string", 0),
            ("Age", "string", 0),
            ("Containers", "string", 1),
            ("Images", "string", 1),
            ("Selector", "string", 1),
        ],
        ("apps", "ReplicaSet") | ("", "ReplicationController") => &[
            ("Name", "string", 0),
            ("Desired", "integer", 0),
            ("Current", "integer", 0),
            ("Ready", "integer", 0),
            ("Age", "string", 0),
            ("Containers", "string", 1),
            ("Images", "string", 1),
            ("Selector", "string", 1),
        ],
        ("apps", "StatefulSet") => &[
            ("Name", "string", 0),
            ("Ready", "string", 0),
            ("Age", "string", 0),
            ("Containers", "string", 1),
            ("Images", "string", 1),
        ],
        ("apps", "DaemonSet") => &[
            ("Name", "string", 0),
            ("Desired", "integer", 0),
            ("Current", "integer", 0),
            ("Ready", "integer", 0),
            ("Up-to-date", "integer", 0),
            ("Available", "integer", 0),
            ("Node Selector", "string", 0),
            ("Age", "string", 0),
            ("Containers", "string", 1),
            ("Images", "string", 1),
            ("Selector", "string", 1),
        ],
        ("apps", "ControllerRevision") => &[
            ("Name", "string", 0),
            ("Controller", "string", 0),
            ("Revision", "integer", 0),
            ("Age", "string", 0),
        ],
        ("batch", "Job") => &[
            ("Name", "string", 0),
            ("Status", "string", 0),
            ("Completions", "string", 0),
            ("Duration", "string", 0),
            ("Age", "string", 0),
            ("Containers", "string", 1),
            ("Images", "string", 1),
            ("Selector", "string", 1),
        ],
        ("batch", "CronJob") => &[
            ("Name", "string", 0),
            ("Schedule", "string", 0),
            ("Timezone", "string", 0),
            ("Suspend", "boolean", 0),
            ("Active", "integer", 0),
            ("Last Schedule", "string", 0),
            ("Age", "string", 0),
            ("Containers", "string", 1),
            ("Images", "string", 1),
            ("Selector", "string", 1),
        ],
        ("coordination.k8s.io", "Lease") => &[
            ("Name", "string", 0),
            ("Holder", "string", 0),
            ("Age", "string", 0),
        ],
        ("node.k8s.io", "RuntimeClass") => &[
            ("Name", "string", 0),
            ("Handler", "string", 0),
            ("Age", "string", 0),
        ],
        ("networking.k8s.io", "Ingress") => &[
            ("Name", "string", 0),
            ("Class", "string", 0),
            ("Hosts", "string", 0),
            ("Address", "string", 0),
            ("Ports", "string", 0),
            ("Age", "string", 0),
        ],
        ("apiextensions.k8s.io", "CustomResourceDefinition") => {
            &[("Name", "string", 0), ("Created At", "date", 0)]
        }
        _ => &[("Name", "string", 0), ("Age", "string", 0)],
    };
    v.to_vec()
}

fn s<'a>(o: &'a Value, p: &str) -> &'a str {
    o.pointer(p).and_then(Value::as_str).unwrap_or("")
}

fn i(o: &Value, p: &str) -> i64 {
    o.pointer(p).and_then(Value::as_i64).unwrap_or(0)
}

fn name(o: &Value) -> &str {
    s(o, "/metadata/name")
}

fn or_none(v: String) -> String {
    if v.is_empty() { "<none>".into() } else { v }
}

fn age(o: &Value, now: jiff::Timestamp) -> String {
    age_since(s(o, "/metadata/creationTimestamp"), now)
}

fn age_since(ts: &str, now: jiff::Timestamp) -> String {
    match ts.parse::<jiff::Timestamp>() {
        Ok(t) => human_duration((now - t).get_seconds()),
        Err(_) => "<unknown>".into(),
    }
}

/// kubectl's short human durations: `45s`, `3m20s`, `5h`, `2d3h`, `3y`.
pub fn human_duration(secs: i64) -> String {
    let secs = secs.max(0);
    let (m, h, d) = (secs / 60, secs / 3600, secs / 86400);
    match secs {
        s if s < 120 => format!("{s}s"),
        _ if m < 10 => match secs % 60 {
            0 => format!("{m}m"),
            r => format!("{m}m{r}s"),
        },
        _ if h < 3 => format!("{m}m"),
        _ if h < 8 => match m % 60 {
            0 => format!("{h}h"),
            r => format!("{h}h{r}m"),
        },
        _ if h < 48 => format!("{h}h"),
        _ if h < 24 * 8 => match h % 24 {
            0 => format!("{d}d"),
            r => format!("{d}d{r}h"),
        },
        _ if d < 365 * 2 => format!("{d}d"),
        _ if d < 365 * 8 => match d % 365 {
            0 => format!("{}y", d / 365),
            r => format!("{}y{r}d", d / 365),
        },
        _ => format!("{}y", d / 365),
    }
}

fn template_containers(o: &Value, spec: &str) -> (String, String) {
    let cs = o
        .pointer(spec)
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let names: Vec<&str> = cs.iter().map(|c| s(c, "/name")).collect();
    let images: Vec<&str> = cs.iter().map(|c| s(c, "/image")).collect();
    (names.join(","), images.join(","))
}

fn selector(o: &Value) -> String {
    let mut parts: Vec<String> = o
        .pointer("/spec/selector/matchLabels")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                .collect()
        })
        .unwrap_or_default();
    if let Some(exprs) = o
        .pointer("/spec/selector/matchExpressions")
        .and_then(Value::as_array)
    {
        for e in exprs {
            let vals: Vec<&str> = e["values"]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            parts.push(match s(e, "/operator") {
                "In" => format!("{} in ({})", s(e, "/key"), vals.join(",")),
                "NotIn" => format!("{} notin ({})", s(e, "/key"), vals.join(",")),
                "Exists" => s(e, "/key").to_owned(),
                _ => format!("!{}", s(e, "/key")),
            });
        }
    }
    or_none(parts.join(","))
}

fn cells(group: &str, kind: &str, o: &Value, now: jiff::Timestamp) -> Vec<Value> {
    let n = Value::String(name(o).to_owned());
    let a = Value::String(age(o, now));
    match (group, kind) {
        ("", "Pod") => pod_cells(o, now),
        ("", "Namespace") => vec![n, s(o, "/status/phase").into(), a],
        ("", "Service") => service_cells(o, n, a),
        ("", "ConfigMap") => {
            let count = ["/data", "/binaryData"]
                .iter()
                .map(|p| {
                    o.pointer(p)
                        .and_then(Value::as_object)
                        .map_or(0, |m| m.len())
                })
                .sum::<usize>();
            vec![n, count.into(), a]
        }
        ("", "Secret") => {
            let count = o
                .pointer("/data")
                .and_then(Value::as_object)
                .map_or(0, |m| m.len());
            vec![n, s(o, "/type").into(), count.into(), a]
        }
        ("", "ServiceAccount") => vec![
            n,
            o.pointer("/secrets")
                .and_then(Value::as_array)
                .map_or(0, Vec::len)
                .into(),
            a,
        ],
        ("", "Endpoints") => {
            let mut eps = Vec::new();
            for sub in o
                .pointer("/subsets")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                for addr in sub["addresses"].as_array().into_iter().flatten() {
                    for port in sub["ports"].as_array().into_iter().flatten() {
                        eps.push(format!("{}:{}", s(addr, "/ip"), i(port, "/port")));
                    }
                }
            }
            vec![n, or_none(eps.join(",")).into(), a]
        }
        ("", "Node") => node_cells(o, n, a),
        ("", "Event") => {
            let last = s(o, "/lastTimestamp");
            let last = if last.is_empty() {
                s(o, "/eventTime")
            } else {
                last
            };
            vec![
                age_since(last, now).into(),
                s(o, "/type").into(),
                s(o, "/reason").into(),
                format!(
                    "{}/{}",
                    s(o, "/involvedObject/kind").to_ascii_lowercase(),
                    s(o, "/involvedObject/name")
                )
                .into(),
                s(o, "/message").into(),
            ]
        }
        ("", "PersistentVolumeClaim") => {
            let modes = o
                .pointer("/status/accessModes")
                .and_then(Value::as_array)
                .map(|a| access_modes(a))
                .unwrap_or_default();
            vec![
                n,
                s(o, "/status/phase").into(),
                s(o, "/spec/volumeName").into(),
                s(o, "/status/capacity/storage").into(),
                modes.into(),
                s(o, "/spec/storageClassName").into(),
                a,
            ]
        }
        ("", "PersistentVolume") => {
            let modes = o
                .pointer("/spec/accessModes")
                .and_then(Value::as_array)
                .map(|a| access_modes(a))
                .unwrap_or_default();
            let claim = match s(o, "/spec/claimRef/name") {
                "" => String::new(),
                c => format!("{}/{c}", s(o, "/spec/claimRef/namespace")),
            };
            vec![
                n,
                s(o, "/spec/capacity/storage").into(),
                modes.into(),
                s(o, "/spec/persistentVolumeReclaimPolicy").into(),
                s(o, "/status/phase").into(),
                claim.into(),
                s(o, "/spec/storageClassName").into(),
                a,
            ]
        }
        ("apps", "Deployment") => {
            let (c, im) = template_containers(o, "/spec/template/spec/containers");
            vec![
                n,
                format!(
                    "{}/{}",
                    i(o, "/status/readyReplicas"),
                    i(o, "/spec/replicas")
                )
                .into(),
                i(o, "/status/updatedReplicas").into(),
                i(o, "/status/availableReplicas").into(),
                a,
                c.into(),
                im.into(),
                selector(o).into(),
            ]
        }
        ("apps", "ReplicaSet") | ("", "ReplicationController") => {
            let (c, im) = template_containers(o, "/spec/template/spec/containers");
            vec![
                n,
                i(o, "/spec/replicas").into(),
                i(o, "/status/replicas").into(),
                i(o, "/status/readyReplicas").into(),
                a,
                c.into(),
                im.into(),
                selector(o).into(),
            ]
        }
        ("apps", "StatefulSet") => {
            let (c, im) = template_containers(o, "/spec/template/spec/containers");
            vec![
                n,
                format!(
                    "{}/{}",
                    i(o, "/status/readyReplicas"),
                    i(o, "/spec/replicas")
                )
                .into(),
                a,
                c.into(),
                im.into(),
            ]
        }
        ("apps", "DaemonSet") => {
            let (c, im) = template_containers(o, "/spec/template/spec/containers");
            let ns = o
                .pointer("/spec/template/spec/nodeSelector")
                .and_then(Value::as_object)
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .unwrap_or_default();
            vec![
                n,
                i(o, "/status/desiredNumberScheduled").into(),
                i(o, "/status/currentNumberScheduled").into(),
                i(o, "/status/numberReady").into(),
                i(o, "/status/updatedNumberScheduled").into(),
                i(o, "/status/numberAvailable").into(),
                or_none(ns).into(),
                a,
                c.into(),
                im.into(),
                selector(o).into(),
            ]
        }
        ("apps", "ControllerRevision") => {
            let owner = o
                .pointer("/metadata/ownerReferences")
                .and_then(Value::as_array)
                .and_then(|a| a.first())
                .map(|r| format!("{}/{}", s(r, "/kind").to_ascii_lowercase(), s(r, "/name")))
                .unwrap_or_else(|| "<none>".into());
            vec![n, owner.into(), i(o, "/revision").into(), a]
        }
        ("batch", "Job") => job_cells(o, n, a, now),
        ("batch", "CronJob") => {
            let (c, im) = template_containers(o, "/spec/jobTemplate/spec/template/spec/containers");
            let last = match s(o, "/status/lastScheduleTime") {
                "" => "<none>".to_owned(),
                t => age_since(t, now),
            };
            let tz = or_none(s(o, "/spec/timeZone").to_owned());
            let suspend = o
                .pointer("/spec/suspend")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            let active = o
                .pointer("/status/active")
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
            vec![
                n,
                s(o, "/spec/schedule").into(),
                tz.into(),
                suspend.into(),
                active.into(),
                last.into(),
                a,
                c.into(),
                im.into(),
                "<none>".into(),
            ]
        }
        ("coordination.k8s.io", "Lease") => vec![n, s(o, "/spec/holderIdentity").into(), a],
        ("node.k8s.io", "RuntimeClass") => vec![n, s(o, "/handler").into(), a],
        ("networking.k8s.io", "Ingress") => {
            let hosts: Vec<&str> = o
                .pointer("/spec/rules")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|r| s(r, "/host"))
                .filter(|h| !h.is_empty())
                .collect();
            let hosts = if hosts.is_empty() {
                "*".to_owned()
            } else {
                hosts.join(",")
            };
            let addrs: Vec<&str> = o
                .pointer("/status/loadBalancer/ingress")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|r| {
                    if s(r, "/ip").is_empty() {
                        s(r, "/hostname")
                    } else {
                        s(r, "/ip")
                    }
                })
                .collect();
            let ports = if o
                .pointer("/spec/tls")
                .and_then(Value::as_array)
                .is_some_and(|t| !t.is_empty())
            {
                "80, 443"
            } else {
                "80"
            };
            vec![
                n,
                or_none(s(o, "/spec/ingressClassName").to_owned()).into(),
                hosts.into(),
                addrs.join(",").into(),
                ports.into(),
                a,
            ]
        }
        ("apiextensions.k8s.io", "CustomResourceDefinition") => {
            vec![n, s(o, "/metadata/creationTimestamp").into()]
        }
        _ => vec![n, a],
    }
}

fn access_modes(a: &[Value]) -> String {
    a.iter()
        .filter_map(Value::as_str)
        .map(|m| match m {
            "ReadWriteOnce" => "RWO",
            "ReadOnlyMany" => "ROX",
            "ReadWriteMany" => "RWX",
            "ReadWriteOncePod" => "RWOP",
            other => other,
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn pod_cells(o: &Value, now: jiff::Timestamp) -> Vec<Value> {
    let mut specs = o
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    let statuses = o
        .pointer("/status/containerStatuses")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut ready = 0;
    let mut restarts: i64 = 0;
    let mut sidecar_restarts: i64 = 0;
    let mut reason = match s(o, "/status/reason") {
        "" => s(o, "/status/phase").to_owned(),
        r => r.to_owned(),
    };
    // Init containers not yet done show as Init:N/M, Init:<reason> or
    // Init:ExitCode:N, as kubectl's printPod does; sidecars (init
    // containers with restartPolicy Always) count as app containers once
    // started.
    let init_specs = o
        .pointer("/spec/initContainers")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let sidecar = |name: &Value| {
        init_specs
            .iter()
            .any(|c| &c["name"] == name && c["restartPolicy"] == "Always")
    };
    specs += init_specs
        .iter()
        .filter(|c| c["restartPolicy"] == "Always")
        .count();
    let inits = o
        .pointer("/status/initContainerStatuses")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut initializing = false;
    for (idx, c) in inits.iter().enumerate() {
        restarts += i(c, "/restartCount");
        if sidecar(&c["name"]) {
            sidecar_restarts += i(c, "/restartCount");
        }
        let terminated = c.pointer("/state/terminated").is_some_and(|t| !t.is_null());
        if terminated && i(c, "/state/terminated/exitCode") == 0 {
            continue;
        }
        if sidecar(&c["name"]) && c["started"] == true {
            if c["ready"] == true {
                ready += 1;
            }
            continue;
        }
        let waiting = s(c, "/state/waiting/reason");
        reason = if terminated {
            match s(c, "/state/terminated/reason") {
                "" => match i(c, "/state/terminated/signal") {
                    0 => format!("Init:ExitCode:{}", i(c, "/state/terminated/exitCode")),
                    sig => format!("Init:Signal:{sig}"),
                },
                r => format!("Init:{r}"),
            }
        } else if !waiting.is_empty() && waiting != "PodInitializing" {
            format!("Init:{waiting}")
        } else {
            format!("Init:{idx}/{}", init_specs.len())
        };
        initializing = true;
        break;
    }
    let initialized = o
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| {
            cs.iter()
                .any(|c| c["type"] == "Initialized" && c["status"] == "True")
        });
    if !initializing || initialized {
        restarts = sidecar_restarts;
        let mut running = false;
        for c in statuses.iter().rev() {
            restarts += i(c, "/restartCount");
            let waiting = s(c, "/state/waiting/reason");
            let term = s(c, "/state/terminated/reason");
            if !waiting.is_empty() {
                reason = waiting.to_owned();
            } else if !term.is_empty() {
                reason = term.to_owned();
            } else if c.pointer("/state/terminated").is_some() {
                let sig = i(c, "/state/terminated/signal");
                reason = if sig != 0 {
                    format!("Signal:{sig}")
                } else {
                    format!("ExitCode:{}", i(c, "/state/terminated/exitCode"))
                };
            } else if c["ready"] == true && c.pointer("/state/running").is_some() {
                running = true;
                ready += 1;
            }
        }
        if reason == "Completed" && running {
            let pod_ready = o
                .pointer("/status/conditions")
                .and_then(Value::as_array)
                .is_some_and(|cs| {
                    cs.iter()
                        .any(|c| c["type"] == "Ready" && c["status"] == "True")
                });
            reason = if pod_ready { "Running" } else { "NotReady" }.into();
        }
    }
    if o.pointer("/metadata/deletionTimestamp")
        .is_some_and(|v| !v.is_null())
    {
        reason = if s(o, "/status/reason") == "NodeLost" {
            "Unknown".into()
        } else {
            "Terminating".into()
        };
    }
    let ip = match s(o, "/status/podIP") {
        "" => "<none>",
        x => x,
    };
    let node = or_none(s(o, "/spec/nodeName").to_owned());
    let nominated = or_none(s(o, "/status/nominatedNodeName").to_owned());
    let gates = o
        .pointer("/spec/readinessGates")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    let gates = if gates == 0 {
        "<none>".to_owned()
    } else {
        format!("0/{gates}")
    };
    vec![
        name(o).into(),
        format!("{ready}/{specs}").into(),
        reason.into(),
        restarts.to_string().into(),
        age(o, now).into(),
        ip.into(),
        node.into(),
        nominated.into(),
        gates.into(),
    ]
}

fn service_cells(o: &Value, n: Value, a: Value) -> Vec<Value> {
    let ty = s(o, "/spec/type");
    let ty = if ty.is_empty() { "ClusterIP" } else { ty };
    let cluster_ip = or_none(s(o, "/spec/clusterIP").to_owned());
    let mut external: Vec<String> = o
        .pointer("/spec/externalIPs")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect();
    let lb: Vec<String> = o
        .pointer("/status/loadBalancer/ingress")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|r| {
            if s(r, "/ip").is_empty() {
                s(r, "/hostname").to_owned()
            } else {
                s(r, "/ip").to_owned()
            }
        })
        .collect();
    let external = match ty {
        "ExternalName" => s(o, "/spec/externalName").to_owned(),
        "LoadBalancer" => {
            external.extend(lb);
            if external.is_empty() {
                "<pending>".into()
            } else {
                external.join(",")
            }
        }
        _ => or_none(external.join(",")),
    };
    let ports: Vec<String> = o
        .pointer("/spec/ports")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|p| {
            let proto = match s(p, "/protocol") {
                "" => "TCP",
                x => x,
            };
            match i(p, "/nodePort") {
                0 => format!("{}/{proto}", i(p, "/port")),
                np => format!("{}:{np}/{proto}", i(p, "/port")),
            }
        })
        .collect();
    let sel = o
        .pointer("/spec/selector")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    vec![
        n,
        ty.into(),
        cluster_ip.into(),
        external.into(),
        or_none(ports.join(",")).into(),
        a,
        or_none(sel).into(),
    ]
}

fn node_cells(o: &Value, n: Value, a: Value) -> Vec<Value> {
    let ready = o
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|c| c["type"] == "Ready")
        .map(|c| s(c, "/status").to_owned());
    let mut status = match ready.as_deref() {
        Some("True") => "Ready".to_owned(),
        Some(_) => "NotReady".to_owned(),
        None => "Unknown".to_owned(),
    };
    if o.pointer("/spec/unschedulable").and_then(Value::as_bool) == Some(true) {
        status.push_str(",SchedulingDisabled");
    }
    let roles: Vec<String> = o
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter_map(|(k, _)| {
            k.strip_prefix("node-role.kubernetes.io/")
                .map(str::to_owned)
        })
        .collect();
    let addr = |t: &str| {
        o.pointer("/status/addresses")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .find(|x| x["type"] == t)
            .map(|x| s(x, "/address").to_owned())
            .unwrap_or_else(|| "<none>".into())
    };
    vec![
        n,
        status.into(),
        or_none(roles.join(",")).into(),
        a,
        s(o, "/status/nodeInfo/kubeletVersion").into(),
        addr("InternalIP").into(),
        addr("ExternalIP").into(),
        s(o, "/status/nodeInfo/osImage").into(),
        s(o, "/status/nodeInfo/kernelVersion").into(),
        s(o, "/status/nodeInfo/containerRuntimeVersion").into(),
    ]
}

fn job_cells(o: &Value, n: Value, a: Value, now: jiff::Timestamp) -> Vec<Value> {
    let (c, im) = template_containers(o, "/spec/template/spec/containers");
    let conds = o
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let has = |t: &str| {
        conds
            .iter()
            .any(|c| c["type"] == t && c["status"] == "True")
    };
    let status = if has("Failed") {
        "Failed"
    } else if has("Complete") {
        "Complete"
    } else if has("Suspended") {
        "Suspended"
    } else if has("FailureTarget") {
        "FailureTarget"
    } else if has("SuccessCriteriaMet") {
        "SuccessCriteriaMet"
    } else {
        "Running"
    };
    let completions = match o.pointer("/spec/completions").and_then(Value::as_i64) {
        Some(c) => format!("{}/{c}", i(o, "/status/succeeded")),
        None => format!(
            "{}/1 of {}",
            i(o, "/status/succeeded"),
            o.pointer("/spec/parallelism")
                .and_then(Value::as_i64)
                .unwrap_or(1)
        ),
    };
    let duration = match (
        s(o, "/status/startTime").parse::<jiff::Timestamp>(),
        s(o, "/status/completionTime").parse::<jiff::Timestamp>(),
    ) {
        (Ok(st), Ok(done)) => human_duration((done - st).get_seconds()),
        (Ok(st), Err(_)) => human_duration((now - st).get_seconds()),
        _ => String::new(),
    };
    vec![
        n,
        status.into(),
        completions.into(),
        duration.into(),
        a,
        c.into(),
        im.into(),
        selector(o).into(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Registry;

    /// Stored bytes (metadata first, no resourceVersion) of a realistic
    /// pod, as the server holds it after defaulting and apply tracking.
    fn stored_pod(name: &str, extra_status: Value) -> Vec<u8> {
        let mut status = json!({"phase": "Running", "podIP": "10.42.0.9", "conditions": [
            {"type": "Initialized", "status": "True"}, {"type": "Ready", "status": "True"}],
            "containerStatuses": [
            {"name": "web", "ready": true, "restartCount": 1, "started": true, "state": {"running": {"startedAt": "2026-01-01T00:00:05Z"}}},
            {"name": "log-shipper", "ready": true, "restartCount": 0, "state": {"running": {}}}]});
        if let (Some(s), Some(e)) = (status.as_object_mut(), extra_status.as_object()) {
            s.extend(e.clone());
        }
        let pod = json!({
            "metadata": {"name": name, "namespace": "bench", "uid": "0b5e-\u{e9}\u{1}\"q",
                "creationTimestamp": "2026-01-01T00:00:00Z",
                "labels": {"app": "web", "tier": "frontend"},
                "annotations": {"skiff.dev/benchmark": "issue-3", "weird": "a\\b\n"},
                "managedFields": [{"manager": "kubectl", "operation": "Update", "apiVersion": "v1",
                    "time": "2026-01-01T00:00:00Z", "fieldsType": "FieldsV1",
                    "fieldsV1": {"f:metadata": {"f:labels": {".": {}, "f:app": {}}}}}],
                "generation": 1},
            "apiVersion": "v1", "kind": "Pod",
            "spec": {"containers": [
                {"name": "web", "image": "nginx", "env": [{"name": "A", "value": "1"}],
                 "resources": {"requests": {"cpu": "100m"}}},
                {"name": "log-shipper", "image": "fluent-bit", "args": ["--x", "[}"]}],
                "initContainers": [{"name": "i", "image": "busybox", "restartPolicy": "Always"}],
                "nodeName": "node-1", "restartPolicy": "Always",
                "terminationGracePeriodSeconds": 30, "priority": 0.5},
            "status": status
        });
        serde_json::to_vec(&pod).expect("json")
    }

    /// What the list handler served before [`write_table`]: each object
    /// decoded, its resourceVersion set, [`table`] built and printed.
    fn decoded_table(
        res: &Resource,
        stored: &[(Vec<u8>, String)],
        include: Include,
        now: jiff::Timestamp,
        meta: &Value,
    ) -> Vec<u8> {
        let objects: Vec<Value> = stored
            .iter()
            .map(|(b, rv)| {
                let mut o: Value = serde_json::from_slice(b).expect("json");
                o["metadata"]["resourceVersion"] = rv.as_str().into();
                o
            })
            .collect();
        let mut t = table(res, &objects, include, now);
        t["metadata"] = meta.clone();
        serde_json::to_vec(&t).expect("json")
    }

    #[test]
    fn written_tables_equal_decoded_ones() {
        let reg = Registry::builtin();
        let now: jiff::Timestamp = "2026-01-02T03:04:05Z".parse().expect("ts");
        let meta = json!({"resourceVersion": "99", "continue": "abc", "remainingItemCount": 3});
        let mut no_mf: Value =
            serde_json::from_slice(&stored_pod("plain", json!({}))).expect("json");
        if let Some(m) = no_mf["metadata"].as_object_mut() {
            m.shift_remove("managedFields");
        }
        let mut mf_last: Value =
            serde_json::from_slice(&stored_pod("last", json!({}))).expect("json");
        if let Some(m) = mf_last["metadata"].as_object_mut()
            && let Some(mf) = m.shift_remove("managedFields")
        {
            m.insert("managedFields".into(), mf);
        }
        let pods = vec![
            (stored_pod("web-0", json!({})), "7".to_owned()),
            (stored_pod("web-1", json!({"reason": "Evicted", "initContainerStatuses": [
                {"name": "i", "ready": false, "restartCount": 3, "started": true,
                 "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]})), "8".to_owned()),
            (serde_json::to_vec(&no_mf).expect("json"), "9".to_owned()),
            (serde_json::to_vec(&mf_last).expect("json"), "10".to_owned()),
            (br#"{"metadata":{"name":"bare","deletionTimestamp":"2026-01-01T00:00:00Z"},"spec":{}}"#.to_vec(), "11".to_owned()),
            (br#"{"metadata":{}}"#.to_vec(), "12".to_owned()),
        ];
        let svc = (
            serde_json::to_vec(
                &json!({"metadata": {"name": "s", "creationTimestamp": "2026-01-01T00:00:00Z",
            "managedFields": []}, "spec": {"type": "NodePort", "clusterIP": "10.43.0.1",
            "ports": [{"port": 80, "nodePort": 30080}], "selector": {"app": "web"}}}),
            )
            .expect("json"),
            "5".to_owned(),
        );
        let cm = (
            serde_json::to_vec(&json!({"metadata": {"name": "c", "resourceVersion": "1"},
            "data": {"a": "1", "b": "2"}}))
            .expect("json"),
            "6".to_owned(),
        );
        let cases = [
            ("pods", pods),
            ("services", vec![svc]),
            ("configmaps", vec![cm]),
        ];
        for (resource, stored) in cases {
            let res = reg.get("", "v1", resource).expect("resource");
            for include in [Include::Metadata, Include::None] {
                let raws: Vec<RawObject<'_>> = stored
                    .iter()
                    .map(|(b, rv)| RawObject {
                        json: b,
                        resource_version: rv,
                    })
                    .collect();
                let written = write_table(&res, &raws, include, now, &meta).expect("fast path");
                let want = decoded_table(&res, &stored, include, now, &meta);
                assert_eq!(
                    String::from_utf8_lossy(&written),
                    String::from_utf8_lossy(&want),
                    "{resource} {include:?}"
                );
            }
        }
        // Whole objects and malformed bytes are left to `table`.
        let res = reg.get("", "v1", "pods").expect("pods");
        let raw = [RawObject {
            json: b"{\"metadata\":{\"name\":1}",
            resource_version: "1",
        }];
        assert!(write_table(&res, &raw, Include::Metadata, now, &meta).is_none());
        let raw = [RawObject {
            json: b"{\"metadata\":{}}",
            resource_version: "1",
        }];
        assert!(write_table(&res, &raw, Include::Object, now, &meta).is_none());
    }

    /// Where a 10,000-pod Table's time goes, old path against new. Prints
    /// numbers only: `cargo test --release -p skiff-api table_timings -- --ignored --nocapture`.
    #[test]
    #[ignore = "a timing harness, not a test"]
    fn table_timings() {
        let reg = Registry::builtin();
        let res = reg.get("", "v1", "pods").expect("pods");
        let now = jiff::Timestamp::now();
        let meta = json!({"resourceVersion": "1"});
        let stored: Vec<(Vec<u8>, String)> = (0..10_000)
            .map(|n| (stored_pod(&format!("pod-{n:06}"), json!({})), n.to_string()))
            .collect();
        let t = std::time::Instant::now();
        let objects: Vec<Value> = stored
            .iter()
            .map(|(b, _)| serde_json::from_slice(b).expect("json"))
            .collect();
        let decode = t.elapsed();
        let t = std::time::Instant::now();
        let rows: Vec<Vec<Value>> = objects.iter().map(|o| cells("", "Pod", o, now)).collect();
        let cells_t = t.elapsed();
        let t = std::time::Instant::now();
        let metas: Vec<Value> = objects.iter().map(row_metadata).collect();
        let meta_t = t.elapsed();
        let t = std::time::Instant::now();
        let out = serde_json::to_vec(&(rows, metas)).expect("json");
        let ser = t.elapsed();
        let t = std::time::Instant::now();
        let old = decoded_table(&res, &stored, Include::Metadata, now, &meta);
        let old_t = t.elapsed();
        let t = std::time::Instant::now();
        let raws: Vec<RawObject<'_>> = stored
            .iter()
            .map(|(b, rv)| RawObject {
                json: b,
                resource_version: rv,
            })
            .collect();
        let new = write_table(&res, &raws, Include::Metadata, now, &meta).expect("fast path");
        let new_t = t.elapsed();
        println!(
            "decode {decode:?}, cells {cells_t:?}, row_metadata {meta_t:?}, serialize {ser:?} ({} B); \
             whole old path {old_t:?} ({} B), write_table {new_t:?} ({} B)",
            out.len(),
            old.len(),
            new.len()
        );
    }

    #[test]
    fn durations_read_like_kubectl() {
        let cases = [
            (5, "5s"),
            (119, "119s"),
            (200, "3m20s"),
            (600, "10m"),
            (3 * 3600 + 120, "3h2m"),
            (9 * 3600, "9h"),
            (3 * 86400 + 3600, "3d1h"),
            (30 * 86400, "30d"),
            (3 * 365 * 86400, "3y"),
        ];
        for (secs, want) in cases {
            assert_eq!(human_duration(secs), want, "{secs}s");
        }
    }

    #[test]
    fn pod_rows_have_kubectl_columns() {
        let reg = Registry::builtin();
        let pods = reg.get("", "v1", "pods").expect("pods");
        let now: jiff::Timestamp = "2026-01-01T00:01:00Z".parse().expect("ts");
        let pod = json!({
            "metadata": {"name": "web", "creationTimestamp": "2026-01-01T00:00:00Z"},
            "spec": {"containers": [{"name": "a"}, {"name": "b"}], "nodeName": "n1"},
            "status": {"phase": "Running", "podIP": "10.42.0.5", "containerStatuses": [
                {"name": "a", "ready": true, "restartCount": 2, "state": {"running": {}}},
                {"name": "b", "ready": false, "restartCount": 1, "state": {"waiting": {"reason": "CrashLoopBackOff"}}}
            ]}
        });
        let t = table(&pods, &[pod], Include::Metadata, now);
        assert_eq!(t["columnDefinitions"][0]["name"], "Name");
        let cells = &t["rows"][0]["cells"];
        assert_eq!(cells[1], "1/2");
        assert_eq!(cells[2], "CrashLoopBackOff");
        assert_eq!(cells[3], "3");
        assert_eq!(cells[4], "60s");
        assert_eq!(cells[6], "n1");
        assert_eq!(t["rows"][0]["object"]["kind"], "PartialObjectMetadata");
    }

    /// The STATUS and RESTARTS cells kubectl prints for a pod with init
    /// containers (cases from kubectl's printPod tests).
    #[test]
    fn pod_status_shows_init_progress_like_kubectl() {
        let reg = Registry::builtin();
        let pods = reg.get("", "v1", "pods").expect("pods");
        let now: jiff::Timestamp = "2026-01-01T00:01:00Z".parse().expect("ts");
        let row = |inits: Value, conds: Value, apps: Value| {
            let pod = json!({
                "metadata": {"name": "p", "creationTimestamp": "2026-01-01T00:00:00Z"},
                "spec": {"initContainers": [{"name": "i1"}, {"name": "i2"}],
                         "containers": [{"name": "app"}]},
                "status": {"phase": "Pending", "conditions": conds,
                           "initContainerStatuses": inits, "containerStatuses": apps}
            });
            let t = table(&pods, &[pod], Include::Metadata, now);
            let cells = t["rows"][0]["cells"].clone();
            (
                cells[1].as_str().unwrap_or_default().to_owned(),
                cells[2].as_str().unwrap_or_default().to_owned(),
                cells[3].as_str().unwrap_or_default().to_owned(),
            )
        };
        let not_init = json!([{"type": "Initialized", "status": "False"}]);
        let app_waiting = |r: &str| {
            json!([{"name": "app", "ready": false, "restartCount": 0,
                                           "state": {"waiting": {"reason": r}}}])
        };
        let waiting = json!({"waiting": {"reason": "PodInitializing"}});
        let completed = json!({"terminated": {"exitCode": 0, "reason": "Completed"}});
        let s = |name: &str, state: &Value, restarts: i64| json!({"name": name, "ready": false, "restartCount": restarts, "state": state});
        // First init container running.
        let running = json!({"running": {}});
        assert_eq!(
            row(
                json!([s("i1", &running, 0), s("i2", &waiting, 0)]),
                not_init.clone(),
                app_waiting("PodInitializing")
            ),
            ("0/1".into(), "Init:0/2".into(), "0".into())
        );
        // First done, second running.
        assert_eq!(
            row(
                json!([s("i1", &completed, 0), s("i2", &running, 0)]),
                not_init.clone(),
                app_waiting("PodInitializing")
            )
            .1,
            "Init:1/2"
        );
        // Second failed: its reason, its restarts.
        let error = json!({"terminated": {"exitCode": 1, "reason": "Error"}});
        assert_eq!(
            row(
                json!([s("i1", &completed, 0), s("i2", &error, 2)]),
                not_init.clone(),
                app_waiting("PodInitializing")
            ),
            ("0/1".into(), "Init:Error".into(), "2".into())
        );
        let no_reason = json!({"terminated": {"exitCode": 3}});
        assert_eq!(
            row(
                json!([s("i1", &no_reason, 0), s("i2", &waiting, 0)]),
                not_init.clone(),
                app_waiting("PodInitializing")
            )
            .1,
            "Init:ExitCode:3"
        );
        let backoff = json!({"waiting": {"reason": "CrashLoopBackOff"}});
        assert_eq!(
            row(
                json!([s("i1", &backoff, 4), s("i2", &waiting, 0)]),
                not_init.clone(),
                app_waiting("PodInitializing")
            ),
            ("0/1".into(), "Init:CrashLoopBackOff".into(), "4".into())
        );
        // All done, app not yet started.
        let init_ok = json!([{"type": "Initialized", "status": "True"}]);
        assert_eq!(
            row(
                json!([s("i1", &completed, 1), s("i2", &completed, 0)]),
                init_ok.clone(),
                app_waiting("PodInitializing")
            ),
            ("0/1".into(), "PodInitializing".into(), "0".into())
        );
        // App running and ready: init restarts no longer counted.
        let app_running = json!([{"name": "app", "ready": true, "restartCount": 0,
                                  "state": {"running": {}}}]);
        assert_eq!(
            row(
                json!([s("i1", &completed, 1), s("i2", &completed, 0)]),
                init_ok,
                app_running
            ),
            ("1/1".into(), "Pending".into(), "0".into())
        );
    }
}
