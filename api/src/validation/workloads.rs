//! Workload validation: ReplicationController, Deployment, ReplicaSet,
//! StatefulSet, DaemonSet, Job, CronJob.

use std::collections::BTreeMap;

use serde_json::Value;

use super::field::{BadValue, FieldError, FieldPath, go_quote};
use super::meta::validate_labels;
use super::names::{is_qualified_name, is_valid_label_value, regex_error};
use super::pod::{template_labels, template_restart_policy, validate_template};
use super::{get, get_i64, get_list, get_str, nonnegative, str_or_empty};
use crate::selector::LabelSelector;

/// Go's `%#v` of a `map[string]string`.
fn go_map(m: Option<&BTreeMap<String, String>>) -> String {
    match m {
        None => "map[string]string(nil)".to_owned(),
        Some(m) => {
            let items: Vec<String> = m
                .iter()
                .map(|(k, v)| format!("{}:{}", go_quote(k), go_quote(v)))
                .collect();
            format!("map[string]string{{{}}}", items.join(", "))
        }
    }
}

fn json_string_map(v: Option<&Value>) -> Option<BTreeMap<String, String>> {
    v.and_then(Value::as_object).map(|m| {
        m.iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_owned()))
            .collect()
    })
}

/// Go's `%#v` of a `metav1.LabelSelector`.
fn go_label_selector(sel: &Value) -> BadValue {
    let labels = go_map(json_string_map(get(sel, "matchLabels")).as_ref());
    let exprs = get_list(sel, "matchExpressions");
    let exprs = if exprs.is_empty() {
        "[]v1.LabelSelectorRequirement(nil)".to_owned()
    } else {
        let items: Vec<String> = exprs
            .iter()
            .map(|e| {
                let values: Vec<&str> = get_list(e, "values")
                    .iter()
                    .filter_map(Value::as_str)
                    .collect();
                let values = if values.is_empty() {
                    "[]string(nil)".to_owned()
                } else {
                    BadValue::string_list(&values).to_string()
                };
                format!(
                    "v1.LabelSelectorRequirement{{Key:{}, Operator:{}, Values:{values}}}",
                    go_quote(str_or_empty(e, "key")),
                    go_quote(str_or_empty(e, "operator"))
                )
            })
            .collect();
        format!("[]v1.LabelSelectorRequirement{{{}}}", items.join(", "))
    };
    BadValue::Raw(format!(
        "v1.LabelSelector{{MatchLabels:{labels}, MatchExpressions:{exprs}}}"
    ))
}

/// Template labels as Go prints them in the selector-mismatch error.
fn go_template_labels(template: &Value) -> BadValue {
    let labels = template.get("metadata").and_then(|m| get(m, "labels"));
    BadValue::Raw(go_map(json_string_map(labels).as_ref()))
}

/// `metav1validation.ValidateLabelSelector`.
pub(crate) fn validate_label_selector(sel: &Value, path: &FieldPath) -> Vec<FieldError> {
    let mut errs = validate_labels(get(sel, "matchLabels"), &path.child("matchLabels"));
    for (i, e) in get_list(sel, "matchExpressions").iter().enumerate() {
        let epath = path.child("matchExpressions").index(i);
        let values = get_list(e, "values");
        match str_or_empty(e, "operator") {
            "In" | "NotIn" => {
                if values.is_empty() {
                    errs.push(FieldError::required(
                        &epath.child("values"),
                        "must be specified when `operator` is 'In' or 'NotIn'",
                    ));
                }
            }
            "Exists" | "DoesNotExist" => {
                if !values.is_empty() {
                    errs.push(FieldError::forbidden(
                        &epath.child("values"),
                        "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                    ));
                }
            }
            other => errs.push(FieldError::invalid(
                &epath.child("operator"),
                other,
                "not a valid selector operator",
            )),
        }
        let key = str_or_empty(e, "key");
        for msg in is_qualified_name(key) {
            errs.push(FieldError::invalid(&epath.child("key"), key, msg));
        }
        for (j, v) in values.iter().enumerate() {
            let v = v.as_str().unwrap_or("");
            for msg in is_valid_label_value(v) {
                errs.push(FieldError::invalid(&epath.child("values").index(j), v, msg));
            }
        }
    }
    errs
}

fn is_empty_selector(sel: &Value) -> bool {
    get(sel, "matchLabels")
        .and_then(Value::as_object)
        .is_none_or(|m| m.is_empty())
        && get_list(sel, "matchExpressions").is_empty()
}

/// What every selector-plus-template workload checks.
struct SelectorRules {
    /// The kind's name in "empty selector is invalid for …".
    noun: &'static str,
    /// Whether a missing selector is reported as `Required`.
    required: bool,
    /// Whether an empty selector is rejected.
    reject_empty: bool,
    /// Whether the template must match a selector that is empty.
    match_when_empty: bool,
}

fn validate_selector_and_template(
    spec: &Value,
    path: &FieldPath,
    rules: &SelectorRules,
    errs: &mut Vec<FieldError>,
) {
    let sel_path = path.child("selector");
    let sel_value = get(spec, "selector");
    match sel_value {
        None if rules.required => errs.push(FieldError::required(&sel_path, "")),
        None => {}
        Some(sel) => {
            errs.extend(validate_label_selector(sel, &sel_path));
            if rules.reject_empty && is_empty_selector(sel) {
                errs.push(FieldError::invalid(
                    &sel_path,
                    go_label_selector(sel),
                    format!("empty selector is invalid for {}", rules.noun),
                ));
            }
        }
    }
    let empty = Value::Null;
    let template = get(spec, "template").unwrap_or(&empty);
    match LabelSelector::from_json(sel_value) {
        Ok(selector) => {
            let check = rules.match_when_empty || !selector.is_empty();
            if check && !selector.matches(&template_labels(template)) {
                errs.push(FieldError::invalid(
                    &path.child("template").child("metadata").child("labels"),
                    go_template_labels(template),
                    "`selector` does not match template `labels`",
                ));
            }
        }
        Err(_) => {
            if let Some(sel) = sel_value {
                errs.push(FieldError::invalid(
                    &sel_path,
                    go_label_selector(sel),
                    "invalid label selector",
                ));
            }
        }
    }
    errs.extend(validate_template(template, &path.child("template")));
}

/// Pods of long-running controllers must restart always and have no deadline.
fn require_always_restart(spec: &Value, path: &FieldPath, kind: &str, errs: &mut Vec<FieldError>) {
    let empty = Value::Null;
    let template = get(spec, "template").unwrap_or(&empty);
    let policy = template_restart_policy(template);
    if policy != "Always" {
        errs.push(FieldError::not_supported(
            &path.child("template").child("spec").child("restartPolicy"),
            policy,
            &["Always"],
        ));
    }
    let deadline = template
        .get("spec")
        .and_then(|s| get_i64(s, "activeDeadlineSeconds"));
    if let Some(d) = deadline {
        let p = path
            .child("template")
            .child("spec")
            .child("activeDeadlineSeconds");
        let detail = format!("activeDeadlineSeconds in {kind} is not Supported");
        if kind == "StatefulSet" {
            errs.push(FieldError::forbidden(&p, detail));
        } else {
            errs.push(FieldError::invalid(&p, d, detail));
        }
    }
}

fn spec_of(obj: &Value) -> &Value {
    static NULL: Value = Value::Null;
    get(obj, "spec").unwrap_or(&NULL)
}

pub(crate) fn validate_replication_controller(obj: &Value) -> Vec<FieldError> {
    let spec = spec_of(obj);
    let path = FieldPath::new("spec");
    let mut errs = Vec::new();
    nonnegative(spec, "replicas", &path, &mut errs);
    nonnegative(spec, "minReadySeconds", &path, &mut errs);
    let selector = json_string_map(get(spec, "selector")).unwrap_or_default();
    if selector.is_empty() {
        errs.push(FieldError::required(&path.child("selector"), ""));
    }
    errs.extend(validate_labels(
        get(spec, "selector"),
        &path.child("selector"),
    ));
    match get(spec, "template") {
        None => errs.push(FieldError::required(&path.child("template"), "")),
        Some(t) => {
            if !selector.is_empty()
                && !LabelSelector::from_map(&selector).matches(&template_labels(t))
            {
                errs.push(FieldError::invalid(
                    &path.child("template").child("metadata").child("labels"),
                    go_template_labels(t),
                    "`selector` does not match template `labels`",
                ));
            }
            errs.extend(validate_template(t, &path.child("template")));
            require_always_restart(spec, &path, "ReplicationController", &mut errs);
        }
    }
    errs
}

fn validate_percent_or_int(v: Option<&Value>, path: &FieldPath, errs: &mut Vec<FieldError>) {
    match v {
        Some(Value::Number(n)) if n.as_i64().is_some_and(|n| n < 0) => {
            errs.push(FieldError::invalid(
                path,
                n.as_i64().unwrap_or(0),
                "must be greater than or equal to 0",
            ));
        }
        Some(Value::String(s)) => {
            let digits = s.strip_suffix('%').unwrap_or("");
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                errs.push(FieldError::invalid(
                    path,
                    BadValue::Raw(format!(
                        "intstr.IntOrString{{Type:1, IntVal:0, StrVal:{}}}",
                        go_quote(s)
                    )),
                    regex_error(
                        "a valid percent string must be a numeric string followed by an ending '%'",
                        "[0-9]+%",
                        &["1%", "93%"],
                    ),
                ));
            } else if digits.parse::<u64>().map_or(true, |p| p > 100) {
                errs.push(FieldError::invalid(
                    path,
                    s.as_str(),
                    "must not be greater than 100%",
                ));
            }
        }
        _ => {}
    }
}

fn is_zero_int_or_percent(v: Option<&Value>) -> bool {
    match v {
        None => true,
        Some(Value::Number(n)) => n.as_i64() == Some(0),
        Some(Value::String(s)) => s
            .strip_suffix('%')
            .is_some_and(|d| d.parse::<u64>() == Ok(0)),
        _ => false,
    }
}

pub(crate) fn validate_deployment(obj: &Value) -> Vec<FieldError> {
    let spec = spec_of(obj);
    let path = FieldPath::new("spec");
    let mut errs = Vec::new();
    nonnegative(spec, "replicas", &path, &mut errs);
    validate_selector_and_template(
        spec,
        &path,
        &SelectorRules {
            noun: "deployment",
            required: true,
            reject_empty: true,
            match_when_empty: false,
        },
        &mut errs,
    );
    require_always_restart(spec, &path, "ReplicaSet", &mut errs);
    let strategy_path = path.child("strategy");
    let empty = Value::Null;
    let strategy = get(spec, "strategy").unwrap_or(&empty);
    match str_or_empty(strategy, "type") {
        "Recreate" => {
            if get(strategy, "rollingUpdate").is_some() {
                errs.push(FieldError::forbidden(
                    &strategy_path.child("rollingUpdate"),
                    "may not be specified when strategy `type` is 'Recreate'",
                ));
            }
        }
        "RollingUpdate" => match get(strategy, "rollingUpdate") {
            None => errs.push(FieldError::required(
                &strategy_path.child("rollingUpdate"),
                "this should be defaulted and never be nil",
            )),
            Some(ru) => {
                let ru_path = strategy_path.child("rollingUpdate");
                validate_percent_or_int(
                    get(ru, "maxUnavailable"),
                    &ru_path.child("maxUnavailable"),
                    &mut errs,
                );
                validate_percent_or_int(get(ru, "maxSurge"), &ru_path.child("maxSurge"), &mut errs);
                if is_zero_int_or_percent(get(ru, "maxUnavailable"))
                    && is_zero_int_or_percent(get(ru, "maxSurge"))
                {
                    errs.push(FieldError::invalid(
                        &ru_path.child("maxUnavailable"),
                        BadValue::Raw(
                            get(ru, "maxUnavailable").map_or("0".to_owned(), Value::to_string),
                        ),
                        "may not be 0 when `maxSurge` is 0",
                    ));
                }
            }
        },
        other => errs.push(FieldError::not_supported(
            &strategy_path,
            other,
            &["Recreate", "RollingUpdate"],
        )),
    }
    nonnegative(spec, "minReadySeconds", &path, &mut errs);
    nonnegative(spec, "revisionHistoryLimit", &path, &mut errs);
    if let Some(pd) = get_i64(spec, "progressDeadlineSeconds")
        && pd <= get_i64(spec, "minReadySeconds").unwrap_or(0)
    {
        errs.push(FieldError::invalid(
            &path.child("progressDeadlineSeconds"),
            pd,
            "must be greater than minReadySeconds",
        ));
    }
    errs
}

pub(crate) fn validate_replica_set(obj: &Value) -> Vec<FieldError> {
    let spec = spec_of(obj);
    let path = FieldPath::new("spec");
    let mut errs = Vec::new();
    nonnegative(spec, "replicas", &path, &mut errs);
    nonnegative(spec, "minReadySeconds", &path, &mut errs);
    validate_selector_and_template(
        spec,
        &path,
        &SelectorRules {
            // Kubernetes' ReplicaSet validation reuses the Deployment message.
            noun: "deployment",
            required: true,
            reject_empty: true,
            match_when_empty: false,
        },
        &mut errs,
    );
    require_always_restart(spec, &path, "ReplicaSet", &mut errs);
    errs
}

/// The spec with each volumeClaimTemplate added to the pod template as the
/// `persistentVolumeClaim` volume the controller gives every pod, so that
/// volumeMounts naming a claim template validate (as in Kubernetes);
/// `None` when there are no claim templates.
fn with_claim_volumes(spec: &Value) -> Option<Value> {
    let claims = get_list(spec, "volumeClaimTemplates");
    if claims.is_empty() {
        return None;
    }
    let mut spec = spec.clone();
    let pod = &mut spec["template"]["spec"];
    if !pod.is_object() {
        return None;
    }
    if !pod["volumes"].is_array() {
        pod["volumes"] = Value::Array(Vec::new());
    }
    if let Some(volumes) = pod["volumes"].as_array_mut() {
        for c in claims {
            let name = c.pointer("/metadata/name").and_then(Value::as_str);
            if let Some(name) = name.filter(|n| !volumes.iter().any(|v| v["name"] == *n)) {
                volumes.push(serde_json::json!({
                    "name": name,
                    "persistentVolumeClaim": {"claimName": name},
                }));
            }
        }
    }
    Some(spec)
}

pub(crate) fn validate_stateful_set(obj: &Value) -> Vec<FieldError> {
    let spec = spec_of(obj);
    let path = FieldPath::new("spec");
    let mut errs = Vec::new();
    match str_or_empty(spec, "podManagementPolicy") {
        "" => errs.push(FieldError::required(&path.child("podManagementPolicy"), "")),
        "OrderedReady" | "Parallel" => {}
        other => errs.push(FieldError::invalid(
            &path.child("podManagementPolicy"),
            other,
            "must be 'OrderedReady' or 'Parallel'",
        )),
    }
    let us_path = path.child("updateStrategy");
    let empty = Value::Null;
    let us = get(spec, "updateStrategy").unwrap_or(&empty);
    match str_or_empty(us, "type") {
        "" => errs.push(FieldError::required(&us_path, "")),
        "OnDelete" => {
            if let Some(ru) = get(us, "rollingUpdate") {
                errs.push(FieldError::invalid(
                    &us_path.child("rollingUpdate"),
                    BadValue::Raw(ru.to_string()),
                    "only allowed for updateStrategy 'RollingUpdate'",
                ));
            }
        }
        "RollingUpdate" => {
            if let Some(ru) = get(us, "rollingUpdate") {
                nonnegative(ru, "partition", &us_path.child("rollingUpdate"), &mut errs);
            }
        }
        other => errs.push(FieldError::invalid(
            &us_path,
            BadValue::Raw(format!("{{Type:{other}}}")),
            "must be 'RollingUpdate' or 'OnDelete'",
        )),
    }
    nonnegative(spec, "replicas", &path, &mut errs);
    nonnegative(spec, "minReadySeconds", &path, &mut errs);
    let with_claims = with_claim_volumes(spec);
    validate_selector_and_template(
        with_claims.as_ref().unwrap_or(spec),
        &path,
        &SelectorRules {
            noun: "statefulset",
            required: true,
            reject_empty: true,
            match_when_empty: false,
        },
        &mut errs,
    );
    require_always_restart(spec, &path, "StatefulSet", &mut errs);
    if let Some(policy) = get(spec, "persistentVolumeClaimRetentionPolicy") {
        let ppath = path.child("persistentVolumeClaimRetentionPolicy");
        for field in ["whenDeleted", "whenScaled"] {
            let v = str_or_empty(policy, field);
            if !v.is_empty() && v != "Retain" && v != "Delete" {
                errs.push(FieldError::not_supported(
                    &ppath.child(field),
                    v,
                    &["Retain", "Delete"],
                ));
            }
        }
    }
    errs
}

pub(crate) fn validate_daemon_set(obj: &Value) -> Vec<FieldError> {
    let spec = spec_of(obj);
    let path = FieldPath::new("spec");
    let mut errs = Vec::new();
    validate_selector_and_template(
        spec,
        &path,
        &SelectorRules {
            noun: "daemonset",
            required: false,
            reject_empty: true,
            match_when_empty: true,
        },
        &mut errs,
    );
    require_always_restart(spec, &path, "DaemonSet", &mut errs);
    nonnegative(spec, "minReadySeconds", &path, &mut errs);
    nonnegative(spec, "revisionHistoryLimit", &path, &mut errs);
    let us_path = path.child("updateStrategy");
    let empty = Value::Null;
    let us = get(spec, "updateStrategy").unwrap_or(&empty);
    match str_or_empty(us, "type") {
        "OnDelete" => {}
        "RollingUpdate" => match get(us, "rollingUpdate") {
            None => errs.push(FieldError::required(&us_path.child("rollingUpdate"), "")),
            Some(ru) => {
                let ru_path = us_path.child("rollingUpdate");
                validate_percent_or_int(
                    get(ru, "maxUnavailable"),
                    &ru_path.child("maxUnavailable"),
                    &mut errs,
                );
                validate_percent_or_int(get(ru, "maxSurge"), &ru_path.child("maxSurge"), &mut errs);
                if is_zero_int_or_percent(get(ru, "maxUnavailable"))
                    && is_zero_int_or_percent(get(ru, "maxSurge"))
                {
                    errs.push(FieldError::invalid(
                        &ru_path.child("maxUnavailable"),
                        BadValue::Raw(
                            get(ru, "maxUnavailable").map_or("0".to_owned(), Value::to_string),
                        ),
                        "may not be 0 when `maxSurge` is 0",
                    ));
                }
            }
        },
        other => errs.push(FieldError::not_supported(
            &us_path,
            other,
            &["RollingUpdate", "OnDelete"],
        )),
    }
    errs
}

/// `validateJobSpec`: what a Job and a CronJob's job template share.
fn validate_job_spec_common(spec: &Value, path: &FieldPath, errs: &mut Vec<FieldError>) {
    for field in [
        "parallelism",
        "completions",
        "activeDeadlineSeconds",
        "backoffLimit",
        "ttlSecondsAfterFinished",
    ] {
        nonnegative(spec, field, path, errs);
    }
    match get_str(spec, "completionMode") {
        None | Some("NonIndexed") => {}
        Some("Indexed") => {
            if get(spec, "completions").is_none() {
                errs.push(FieldError::required(
                    &path.child("completions"),
                    "when completion mode is Indexed",
                ));
            }
        }
        Some(other) => errs.push(FieldError::not_supported(
            &path.child("completionMode"),
            other,
            &["NonIndexed", "Indexed"],
        )),
    }
    let empty = Value::Null;
    let template = get(spec, "template").unwrap_or(&empty);
    errs.extend(validate_template(template, &path.child("template")));
    let policy = template_restart_policy(template);
    if policy != "OnFailure" && policy != "Never" {
        errs.push(FieldError::not_supported(
            &path.child("template").child("spec").child("restartPolicy"),
            policy,
            &["OnFailure", "Never"],
        ));
    }
}

pub(crate) fn validate_job(obj: &Value) -> Vec<FieldError> {
    let spec = spec_of(obj);
    let path = FieldPath::new("spec");
    let mut errs = Vec::new();
    validate_job_spec_common(spec, &path, &mut errs);
    let sel_path = path.child("selector");
    let sel = get(spec, "selector");
    match sel {
        None => errs.push(FieldError::required(&sel_path, "")),
        Some(s) => errs.extend(validate_label_selector(s, &sel_path)),
    }
    if let Ok(selector) = LabelSelector::from_json(sel) {
        let empty = Value::Null;
        let template = get(spec, "template").unwrap_or(&empty);
        if !selector.matches(&template_labels(template)) {
            errs.push(FieldError::invalid(
                &path.child("template").child("metadata").child("labels"),
                go_template_labels(template),
                "`selector` does not match template `labels`",
            ));
        }
    }
    errs
}

pub(crate) fn validate_cron_job(obj: &Value) -> Vec<FieldError> {
    let spec = spec_of(obj);
    let path = FieldPath::new("spec");
    let mut errs = Vec::new();
    let name = obj
        .get("metadata")
        .and_then(|m| get_str(m, "name"))
        .unwrap_or("");
    if name.len() > 52 {
        errs.push(FieldError::invalid(
            &FieldPath::new("metadata").child("name"),
            name,
            "must be no more than 52 characters",
        ));
    }
    let schedule = str_or_empty(spec, "schedule");
    if schedule.is_empty() {
        errs.push(FieldError::required(&path.child("schedule"), ""));
    } else if schedule.contains("TZ") {
        errs.push(FieldError::invalid(
            &path.child("schedule"),
            schedule,
            "cannot use TZ or CRON_TZ in schedule, use timeZone field instead",
        ));
    } else if let Err(msg) = parse_cron(schedule) {
        errs.push(FieldError::invalid(&path.child("schedule"), schedule, msg));
    }
    nonnegative(spec, "startingDeadlineSeconds", &path, &mut errs);
    match str_or_empty(spec, "concurrencyPolicy") {
        "" => errs.push(FieldError::required(&path.child("concurrencyPolicy"), "")),
        "Allow" | "Forbid" | "Replace" => {}
        other => errs.push(FieldError::not_supported(
            &path.child("concurrencyPolicy"),
            other,
            &["Allow", "Forbid", "Replace"],
        )),
    }
    nonnegative(spec, "successfulJobsHistoryLimit", &path, &mut errs);
    nonnegative(spec, "failedJobsHistoryLimit", &path, &mut errs);
    let jt_path = path.child("jobTemplate");
    let empty = Value::Null;
    let jt = get(spec, "jobTemplate").unwrap_or(&empty);
    let jt_spec = get(jt, "spec").unwrap_or(&empty);
    let jt_spec_path = jt_path.child("spec");
    validate_job_spec_common(jt_spec, &jt_spec_path, &mut errs);
    if let Some(sel) = get(jt_spec, "selector") {
        errs.push(FieldError::invalid(
            &jt_spec_path.child("selector"),
            go_label_selector(sel),
            "`selector` will be auto-generated",
        ));
    }
    if jt_spec.get("manualSelector").and_then(Value::as_bool) == Some(true) {
        errs.push(FieldError::not_supported(
            &jt_spec_path.child("manualSelector"),
            true,
            &["nil", "false"],
        ));
    }
    errs
}

/// Checks a standard five-field cron schedule (or a `@` descriptor) the way
/// the cron library Kubernetes uses does, with its messages.
fn parse_cron(schedule: &str) -> Result<(), String> {
    if let Some(desc) = schedule.strip_prefix('@') {
        return match desc {
            "yearly" | "annually" | "monthly" | "weekly" | "daily" | "midnight" | "hourly" => {
                Ok(())
            }
            d if d.starts_with("every ") => Ok(()),
            _ => Err(format!("unrecognized descriptor: {schedule}")),
        };
    }
    let fields: Vec<&str> = schedule.split_whitespace().collect();
    if fields.len() != 5 {
        return Err(format!(
            "expected exactly 5 fields, found {}: [{}]",
            fields.len(),
            fields.join(" ")
        ));
    }
    const MONTHS: &[&str] = &[
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    const DAYS: &[&str] = &["sun", "mon", "tue", "wed", "thu", "fri", "sat"];
    let bounds: [(u32, u32, &[&str], u32); 5] = [
        (0, 59, &[], 0),
        (0, 23, &[], 0),
        (1, 31, &[], 0),
        (1, 12, MONTHS, 1),
        (0, 6, DAYS, 0),
    ];
    for (field, (min, max, names, offset)) in fields.iter().zip(bounds) {
        for expr in field.split(',') {
            parse_cron_range(expr, min, max, names, offset)?;
        }
    }
    Ok(())
}

fn parse_cron_range(
    expr: &str,
    min: u32,
    max: u32,
    names: &[&str],
    offset: u32,
) -> Result<(), String> {
    let parts: Vec<&str> = expr.split('/').collect();
    if parts.len() > 2 {
        return Err(format!("too many slashes: {expr}"));
    }
    let range: Vec<&str> = parts[0].split('-').collect();
    if range.len() > 2 {
        return Err(format!("too many hyphens: {expr}"));
    }
    let value = |s: &str| -> Result<u32, String> {
        if let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case(s)) {
            return Ok(i as u32 + offset);
        }
        s.parse::<u32>().map_err(|_| {
            format!(
                "failed to parse int from {s}: strconv.Atoi: parsing {}: invalid syntax",
                go_quote(s)
            )
        })
    };
    let (start, end) = if range[0] == "*" || range[0] == "?" {
        (min, max)
    } else {
        let start = value(range[0])?;
        let end = match range.get(1) {
            Some(e) => value(e)?,
            None => start,
        };
        (start, end)
    };
    if let Some(step) = parts.get(1) {
        let step = step.parse::<u32>().map_err(|_| {
            format!(
                "failed to parse int from {step}: strconv.Atoi: parsing {}: invalid syntax",
                go_quote(step)
            )
        })?;
        if step == 0 {
            return Err(format!("step of range should be a positive number: {expr}"));
        }
    }
    if start < min {
        return Err(format!(
            "beginning of range ({start}) below minimum ({min}): {expr}"
        ));
    }
    if end > max {
        return Err(format!(
            "end of range ({end}) above maximum ({max}): {expr}"
        ));
    }
    if start > end {
        return Err(format!(
            "beginning of range ({start}) beyond end of range ({end}): {expr}"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validation::{default_object, validate};
    use serde_json::json;

    fn msgs(group: &str, kind: &str, v: &Value) -> Vec<String> {
        validate(group, kind, v)
            .iter()
            .map(FieldError::message)
            .collect()
    }

    fn template(labels: Value, restart: Option<&str>) -> Value {
        let mut spec = json!({"containers": [{"name": "c", "image": "nginx"}]});
        if let Some(r) = restart {
            spec["restartPolicy"] = json!(r);
        }
        json!({"metadata": {"labels": labels}, "spec": spec})
    }

    fn defaulted(group: &str, kind: &str, mut v: Value) -> Value {
        default_object(group, kind, &mut v);
        v
    }

    #[test]
    fn valid_deployment() {
        let d = defaulted(
            "apps",
            "Deployment",
            json!({"metadata": {"name": "d"}, "spec": {
            "selector": {"matchLabels": {"app": "web"}}, "template": template(json!({"app": "web", "x": "y"}), None)}}),
        );
        assert!(
            msgs("apps", "Deployment", &d).is_empty(),
            "{:?}",
            msgs("apps", "Deployment", &d)
        );
    }

    #[test]
    fn deployment_errors() {
        let d = defaulted(
            "apps",
            "Deployment",
            json!({"spec": {"replicas": -1, "template": template(json!({"app": "web"}), None)}}),
        );
        let m = msgs("apps", "Deployment", &d);
        assert!(m.contains(
            &"spec.replicas: Invalid value: -1: must be greater than or equal to 0".to_owned()
        ));
        assert!(m.contains(&"spec.selector: Required value".to_owned()));
        assert!(m.contains(&"spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"web\"}: `selector` does not match template `labels`".to_owned()), "{m:?}");

        let d = defaulted(
            "apps",
            "Deployment",
            json!({"spec": {"selector": {"matchLabels": {"app": "db"}},
            "template": template(json!({"app": "web"}), Some("Never")),
            "strategy": {"type": "Recreate", "rollingUpdate": {}}}}),
        );
        let m = msgs("apps", "Deployment", &d);
        assert!(m.contains(&"spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"web\"}: `selector` does not match template `labels`".to_owned()));
        assert!(m.contains(&"spec.template.spec.restartPolicy: Unsupported value: \"Never\": supported values: \"Always\"".to_owned()));
        assert!(m.contains(&"spec.strategy.rollingUpdate: Forbidden: may not be specified when strategy `type` is 'Recreate'".to_owned()));

        let d = defaulted(
            "apps",
            "Deployment",
            json!({"spec": {"selector": {}, "template": template(json!({}), None)}}),
        );
        let m = msgs("apps", "Deployment", &d);
        assert_eq!(
            m,
            [
                "spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string(nil), MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: empty selector is invalid for deployment"
            ]
        );

        let d = defaulted(
            "apps",
            "Deployment",
            json!({"spec": {"selector": {"matchLabels": {"a": "b"}}, "template": template(json!({"a": "b"}), None),
            "strategy": {"rollingUpdate": {"maxUnavailable": 0, "maxSurge": "0%"}}, "progressDeadlineSeconds": 5, "minReadySeconds": 10}}),
        );
        let m = msgs("apps", "Deployment", &d);
        assert!(m.contains(&"spec.strategy.rollingUpdate.maxUnavailable: Invalid value: 0: may not be 0 when `maxSurge` is 0".to_owned()), "{m:?}");
        assert!(m.contains(&"spec.progressDeadlineSeconds: Invalid value: 5: must be greater than minReadySeconds".to_owned()));

        let d = defaulted(
            "apps",
            "Deployment",
            json!({"spec": {"selector": {"matchLabels": {"a": "b"}}, "template": template(json!({"a": "b"}), None),
            "strategy": {"rollingUpdate": {"maxUnavailable": "x", "maxSurge": "150%"}}}}),
        );
        let m = msgs("apps", "Deployment", &d);
        assert!(m.iter().any(|x| x.starts_with("spec.strategy.rollingUpdate.maxUnavailable: Invalid value: intstr.IntOrString{Type:1, IntVal:0, StrVal:\"x\"}: a valid percent string")), "{m:?}");
        assert!(m.contains(&"spec.strategy.rollingUpdate.maxSurge: Invalid value: \"150%\": must not be greater than 100%".to_owned()));
    }

    #[test]
    fn selector_expressions() {
        let d = defaulted(
            "apps",
            "ReplicaSet",
            json!({"spec": {"selector": {"matchExpressions": [
            {"key": "a", "operator": "In"},
            {"key": "b", "operator": "Exists", "values": ["x"]},
            {"key": "c", "operator": "Gt", "values": ["1"]}
        ]}, "template": template(json!({"a": "x", "b": "y"}), None)}}),
        );
        let m = msgs("apps", "ReplicaSet", &d);
        assert!(m.contains(&"spec.selector.matchExpressions[0].values: Required value: must be specified when `operator` is 'In' or 'NotIn'".to_owned()), "{m:?}");
        assert!(m.contains(&"spec.selector.matchExpressions[1].values: Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'".to_owned()));
        assert!(m.contains(&"spec.selector.matchExpressions[2].operator: Invalid value: \"Gt\": not a valid selector operator".to_owned()));
        assert!(m.iter().any(
            |x| x.starts_with("spec.selector: Invalid value: v1.LabelSelector{")
                && x.ends_with("invalid label selector")
        ));
    }

    #[test]
    fn stateful_and_daemon_sets() {
        let s = defaulted(
            "apps",
            "StatefulSet",
            json!({"spec": {"selector": {"matchLabels": {"a": "b"}}, "template": template(json!({"a": "b"}), None)}}),
        );
        assert!(
            msgs("apps", "StatefulSet", &s).is_empty(),
            "{:?}",
            msgs("apps", "StatefulSet", &s)
        );
        let mut s2 = s.clone();
        s2["spec"]["podManagementPolicy"] = json!("Random");
        s2["spec"]["template"]["spec"]["activeDeadlineSeconds"] = json!(5);
        let m = msgs("apps", "StatefulSet", &s2);
        assert!(m.contains(&"spec.podManagementPolicy: Invalid value: \"Random\": must be 'OrderedReady' or 'Parallel'".to_owned()));
        assert!(m.contains(&"spec.template.spec.activeDeadlineSeconds: Forbidden: activeDeadlineSeconds in StatefulSet is not Supported".to_owned()));

        // A mount of a volumeClaimTemplate is a volume of every pod.
        let mut s3 = s.clone();
        s3["spec"]["volumeClaimTemplates"] = json!([{"metadata": {"name": "data"},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}]);
        s3["spec"]["template"]["spec"]["containers"][0]["volumeMounts"] =
            json!([{"name": "data", "mountPath": "/data"}]);
        assert!(
            msgs("apps", "StatefulSet", &s3).is_empty(),
            "{:?}",
            msgs("apps", "StatefulSet", &s3)
        );
        s3["spec"]["template"]["spec"]["containers"][0]["volumeMounts"] =
            json!([{"name": "other", "mountPath": "/data"}]);
        assert!(
            msgs("apps", "StatefulSet", &s3).contains(
                &"spec.template.spec.containers[0].volumeMounts[0].name: Not found: \"other\""
                    .to_owned()
            ),
            "{:?}",
            msgs("apps", "StatefulSet", &s3)
        );

        let ds = defaulted(
            "apps",
            "DaemonSet",
            json!({"spec": {"selector": {"matchLabels": {"a": "b"}}, "template": template(json!({"a": "b"}), None)}}),
        );
        assert!(
            msgs("apps", "DaemonSet", &ds).is_empty(),
            "{:?}",
            msgs("apps", "DaemonSet", &ds)
        );
        let ds = defaulted(
            "apps",
            "DaemonSet",
            json!({"spec": {"template": template(json!({"a": "b"}), None)}}),
        );
        assert_eq!(
            msgs("apps", "DaemonSet", &ds),
            [
                "spec.template.metadata.labels: Invalid value: map[string]string{\"a\":\"b\"}: `selector` does not match template `labels`"
            ]
        );
        let mut ds2 = defaulted(
            "apps",
            "DaemonSet",
            json!({"spec": {"selector": {"matchLabels": {"a": "b"}}, "template": template(json!({"a": "b"}), None)}}),
        );
        ds2["spec"]["updateStrategy"] = json!({"type": "Sometimes"});
        assert_eq!(
            msgs("apps", "DaemonSet", &ds2),
            [
                "spec.updateStrategy: Unsupported value: \"Sometimes\": supported values: \"RollingUpdate\", \"OnDelete\""
            ]
        );
    }

    #[test]
    fn replication_controllers() {
        let rc = defaulted(
            "",
            "ReplicationController",
            json!({"spec": {"template": template(json!({"a": "b"}), None)}}),
        );
        assert!(
            msgs("", "ReplicationController", &rc).is_empty(),
            "{:?}",
            msgs("", "ReplicationController", &rc)
        );
        let rc = json!({"spec": {"selector": {"a": "c"}, "template": template(json!({"a": "b"}), Some("Always"))}});
        let m = msgs("", "ReplicationController", &rc);
        assert!(m.contains(&"spec.template.metadata.labels: Invalid value: map[string]string{\"a\":\"b\"}: `selector` does not match template `labels`".to_owned()));
    }

    #[test]
    fn jobs() {
        let mut job = json!({"metadata": {"name": "j", "uid": "u-1"}, "spec": {"template": template(json!(null), Some("Never"))}});
        default_object("batch", "Job", &mut job);
        assert!(
            msgs("batch", "Job", &job).is_empty(),
            "{:?}",
            msgs("batch", "Job", &job)
        );
        let mut job = json!({"metadata": {"name": "j", "uid": "u-1"}, "spec": {"template": template(json!(null), None), "completionMode": "Sideways", "backoffLimit": -1}});
        default_object("batch", "Job", &mut job);
        let m = msgs("batch", "Job", &job);
        assert!(m.contains(&"spec.template.spec.restartPolicy: Unsupported value: \"Always\": supported values: \"OnFailure\", \"Never\"".to_owned()), "{m:?}");
        assert!(m.contains(&"spec.completionMode: Unsupported value: \"Sideways\": supported values: \"NonIndexed\", \"Indexed\"".to_owned()));
        assert!(m.contains(
            &"spec.backoffLimit: Invalid value: -1: must be greater than or equal to 0".to_owned()
        ));
        let raw = json!({"spec": {"template": template(json!({"a": "b"}), Some("Never"))}});
        let m = msgs("batch", "Job", &raw);
        assert!(m.contains(&"spec.selector: Required value".to_owned()));
        let indexed = defaulted(
            "batch",
            "Job",
            json!({"spec": {"completionMode": "Indexed", "parallelism": 2, "selector": {"matchLabels": {"a": "b"}}, "template": template(json!({"a": "b"}), Some("Never"))}}),
        );
        assert_eq!(
            msgs("batch", "Job", &indexed),
            ["spec.completions: Required value: when completion mode is Indexed"]
        );
    }

    #[test]
    fn cron_jobs() {
        let cj = defaulted(
            "batch",
            "CronJob",
            json!({"metadata": {"name": "c"}, "spec": {"schedule": "*/5 * * * *",
            "jobTemplate": {"spec": {"template": template(json!(null), Some("OnFailure"))}}}}),
        );
        assert!(
            msgs("batch", "CronJob", &cj).is_empty(),
            "{:?}",
            msgs("batch", "CronJob", &cj)
        );
        let long = "a".repeat(53);
        let cj = defaulted(
            "batch",
            "CronJob",
            json!({"metadata": {"name": long}, "spec": {"schedule": "* * *",
            "concurrencyPolicy": "Sometimes",
            "jobTemplate": {"spec": {"selector": {"matchLabels": {"a": "b"}}, "manualSelector": true, "template": template(json!(null), Some("OnFailure"))}}}}),
        );
        let m = msgs("batch", "CronJob", &cj);
        assert!(
            m.iter()
                .any(|x| x.ends_with("must be no more than 52 characters"))
        );
        assert!(m.contains(&"spec.schedule: Invalid value: \"* * *\": expected exactly 5 fields, found 3: [* * *]".to_owned()));
        assert!(m.contains(&"spec.concurrencyPolicy: Unsupported value: \"Sometimes\": supported values: \"Allow\", \"Forbid\", \"Replace\"".to_owned()));
        assert!(m.iter().any(|x| {
            x.starts_with("spec.jobTemplate.spec.selector: Invalid value: v1.LabelSelector{")
                && x.ends_with("`selector` will be auto-generated")
        }));
        assert!(m.contains(&"spec.jobTemplate.spec.manualSelector: Unsupported value: true: supported values: \"nil\", \"false\"".to_owned()));
        let m = msgs(
            "batch",
            "CronJob",
            &json!({"spec": {"concurrencyPolicy": "Allow"}}),
        );
        assert!(m.contains(&"spec.schedule: Required value".to_owned()));
    }

    #[test]
    fn cron_parsing() {
        for ok in [
            "* * * * *",
            "0 0 1 1 *",
            "0-59/15 0,12 * JAN-dec mon-FRI",
            "@hourly",
            "@every 5m",
            "*/1 ? * * 0-6",
        ] {
            assert!(parse_cron(ok).is_ok(), "{ok}");
        }
        assert_eq!(
            parse_cron("@sometimes").unwrap_err(),
            "unrecognized descriptor: @sometimes"
        );
        assert_eq!(
            parse_cron("60 * * * *").unwrap_err(),
            "end of range (60) above maximum (59): 60"
        );
        assert_eq!(
            parse_cron("* * 0 * *").unwrap_err(),
            "beginning of range (0) below minimum (1): 0"
        );
        assert_eq!(
            parse_cron("5-1 * * * *").unwrap_err(),
            "beginning of range (5) beyond end of range (1): 5-1"
        );
        assert_eq!(
            parse_cron("*/0 * * * *").unwrap_err(),
            "step of range should be a positive number: */0"
        );
        assert_eq!(
            parse_cron("1-2-3 * * * *").unwrap_err(),
            "too many hyphens: 1-2-3"
        );
        assert_eq!(
            parse_cron("*/1/2 * * * *").unwrap_err(),
            "too many slashes: */1/2"
        );
        assert!(
            parse_cron("x * * * *")
                .unwrap_err()
                .starts_with("failed to parse int from x")
        );
    }
}
