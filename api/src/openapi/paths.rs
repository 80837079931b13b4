//! The operations of each served resource, in Kubernetes' shape
//! (operation ids, `x-kubernetes-action`, `x-kubernetes-group-version-kind`,
//! query parameters), rendered as Swagger 2.0 or OpenAPI 3.0.

use serde_json::{Map, Value, json};

use crate::registry::{Origin, Resource, Subresource};

use super::builtin::{DELETE_OPTIONS, PATCH, STATUS};

/// One query or path parameter.
struct Param {
    name: &'static str,
    location: &'static str,
    ty: &'static str,
    required: bool,
    description: String,
}

fn query(name: &'static str, ty: &'static str, description: &str) -> Param {
    Param {
        name,
        location: "query",
        ty,
        required: false,
        description: description.to_owned(),
    }
}

const DRY_RUN: &str = "When present, indicates that modifications should not be persisted. An invalid or unrecognized dryRun directive will result in an error response and no further processing of the request. Valid values are: - All: all dry run stages will be processed";
const FIELD_MANAGER: &str = "fieldManager is a name associated with the actor or entity that is making these changes. The value must be less than or 128 characters long, and only contain printable characters, as defined by https://golang.org/pkg/unicode/#IsPrint.";
const FIELD_VALIDATION: &str = "fieldValidation instructs the server on how to handle objects in the request (POST/PUT/PATCH) containing unknown or duplicate fields. Valid values are: - Ignore: This will ignore any unknown fields that are silently dropped from the object, and will ignore all but the last duplicate field that the decoder encounters. This is the default behavior prior to v1.23. - Warn: This will send a warning via the standard warning response header for each unknown field that is dropped from the object, and for each duplicate field that is encountered. The request will still succeed if there are no other errors, and will only persist the last of any duplicate fields. This is the default in v1.23+ - Strict: This will fail the request with a BadRequest error if any unknown fields would be dropped from the object, or if any duplicate fields are present. The error returned from the server will contain all unknown and duplicate fields encountered.";
const FORCE: &str = "Force is going to \"force\" Apply requests. It means user will re-acquire conflicting fields owned by other people. Force flag must be unset for non-apply patch requests.";

fn write_params(with_force: bool) -> Vec<Param> {
    let mut p = vec![
        query("dryRun", "string", DRY_RUN),
        query("fieldManager", "string", FIELD_MANAGER),
        query("fieldValidation", "string", FIELD_VALIDATION),
    ];
    if with_force {
        p.push(query("force", "boolean", FORCE));
    }
    p
}

fn list_params() -> Vec<Param> {
    vec![
        query(
            "allowWatchBookmarks",
            "boolean",
            "allowWatchBookmarks requests watch events with type \"BOOKMARK\". Servers that do not implement bookmarks may ignore this flag and bookmarks are sent at the server's discretion.",
        ),
        query(
            "continue",
            "string",
            "The continue option should be set when retrieving more results from the server.",
        ),
        query(
            "fieldSelector",
            "string",
            "A selector to restrict the list of returned objects by their fields. Defaults to everything.",
        ),
        query(
            "labelSelector",
            "string",
            "A selector to restrict the list of returned objects by their labels. Defaults to everything.",
        ),
        query(
            "limit",
            "integer",
            "limit is a maximum number of responses to return for a list call.",
        ),
        query(
            "resourceVersion",
            "string",
            "resourceVersion sets a constraint on what resource versions a request may be served from.",
        ),
        query(
            "resourceVersionMatch",
            "string",
            "resourceVersionMatch determines how resourceVersion is applied to list calls.",
        ),
        query(
            "sendInitialEvents",
            "boolean",
            "`sendInitialEvents=true` may be set together with `watch=true`: the watch starts with synthetic events for the current state.",
        ),
        query(
            "timeoutSeconds",
            "integer",
            "Timeout for the list/watch call.",
        ),
        query(
            "watch",
            "boolean",
            "Watch for changes to the described resources and return them as a stream of add, update, and remove notifications.",
        ),
    ]
}

fn delete_params() -> Vec<Param> {
    vec![
        query("dryRun", "string", DRY_RUN),
        query(
            "gracePeriodSeconds",
            "integer",
            "The duration in seconds before the object should be deleted. Value must be non-negative integer. The value zero indicates delete immediately.",
        ),
        query(
            "orphanDependents",
            "boolean",
            "Deprecated: please use the PropagationPolicy, this field will be deprecated in 1.7. Should the dependent objects be orphaned.",
        ),
        query(
            "propagationPolicy",
            "string",
            "Whether and how garbage collection will be performed. Acceptable values are: 'Orphan', 'Background', 'Foreground'.",
        ),
    ]
}

/// What a request body or response carries.
#[derive(Clone)]
enum Payload {
    Def(String),
    Text,
}

/// One operation on one path.
struct Operation {
    method: &'static str,
    action: &'static str,
    id: String,
    description: String,
    gvk: (String, String, String),
    params: Vec<Param>,
    body: Option<(Payload, bool)>,
    patch: bool,
    strategic: bool,
    responses: Vec<(&'static str, &'static str, Payload)>,
}

/// One path with its path parameters and operations.
pub(super) struct PathItem {
    pub path: String,
    params: Vec<Param>,
    ops: Vec<Operation>,
}

/// `apps` → `Apps`, `rbac.authorization.k8s.io` → `RbacAuthorization`,
/// `` → `Core`, as Kubernetes forms operation ids.
fn group_camel(group: &str) -> String {
    if group.is_empty() {
        return "Core".into();
    }
    let g = group.strip_suffix(".k8s.io").unwrap_or(group);
    g.split(['.', '-']).map(upper_first).collect()
}

fn upper_first(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// The tag of a group version: `apps_v1`, `core_v1`, `rbacAuthorization_v1`.
fn tag(group: &str, version: &str) -> String {
    let camel = group_camel(group);
    let mut c = camel.chars();
    let lower: String = c
        .next()
        .map(|f| f.to_lowercase().chain(c).collect())
        .unwrap_or_default();
    format!("{lower}_{version}")
}

/// Every path a resource serves, with its operations.
pub(super) fn resource_paths(r: &Resource, def: &str) -> Vec<PathItem> {
    let gv = format!("{}{}", group_camel(&r.group), upper_first(&r.version));
    let scope = if r.namespaced { "Namespaced" } else { "" };
    let prefix = r.path_prefix();
    let collection = if r.namespaced {
        format!("{prefix}/namespaces/{{namespace}}/{}", r.plural)
    } else {
        format!("{prefix}/{}", r.plural)
    };
    let list_def = format!("{def}List");
    let gvk = (r.group.clone(), r.version.clone(), r.kind.clone());
    let builtin = r.origin == Origin::Builtin;
    let kind = &r.kind;
    let has = |v: &str| r.verbs.iter().any(|x| x == v);
    let name_param = || Param {
        name: "name",
        location: "path",
        ty: "string",
        required: true,
        description: format!("name of the {kind}"),
    };
    let ns_param = || Param {
        name: "namespace",
        location: "path",
        ty: "string",
        required: true,
        description: "object name and auth scope, such as for teams and projects".into(),
    };
    let pretty = || {
        query(
            "pretty",
            "string",
            "If 'true', then the output is pretty printed.",
        )
    };
    let base_params = |named: bool| {
        let mut p = Vec::new();
        if named {
            p.push(name_param());
        }
        if r.namespaced {
            p.push(ns_param());
        }
        p.push(pretty());
        p
    };
    let obj = Payload::Def(def.to_owned());
    let ok = |p: &Payload| vec![("200", "OK", p.clone())];
    let created = |p: &Payload| {
        vec![
            ("200", "OK", p.clone()),
            ("201", "Created", p.clone()),
            ("202", "Accepted", p.clone()),
        ]
    };
    let op = |method, action, id: String, description: String, params, body, responses| Operation {
        method,
        action,
        id,
        description,
        gvk: gvk.clone(),
        params,
        body,
        patch: method == "patch",
        strategic: builtin,
        responses,
    };

    let mut items = Vec::new();
    // The collection.
    let mut ops = Vec::new();
    if has("list") || has("watch") {
        ops.push(op(
            "get",
            "list",
            format!("list{gv}{scope}{kind}"),
            format!("list or watch objects of kind {kind}"),
            list_params(),
            None,
            ok(&Payload::Def(list_def.clone())),
        ));
    }
    if has("create") {
        ops.push(op(
            "post",
            "post",
            format!("create{gv}{scope}{kind}"),
            format!("create a {kind}"),
            write_params(false),
            Some((obj.clone(), true)),
            created(&obj),
        ));
    }
    if has("deletecollection") {
        let mut params = delete_params();
        params.extend(list_params());
        ops.push(op(
            "delete",
            "deletecollection",
            format!("delete{gv}Collection{scope}{kind}"),
            format!("delete collection of {kind}"),
            params,
            Some((Payload::Def(DELETE_OPTIONS.into()), false)),
            ok(&Payload::Def(STATUS.into())),
        ));
    }
    if !ops.is_empty() {
        items.push(PathItem {
            path: collection.clone(),
            params: base_params(false),
            ops,
        });
    }
    // Across all namespaces.
    if r.namespaced && has("list") {
        items.push(PathItem {
            path: format!("{prefix}/{}", r.plural),
            params: vec![pretty()],
            ops: vec![op(
                "get",
                "list",
                format!("list{gv}{kind}ForAllNamespaces"),
                format!("list or watch objects of kind {kind}"),
                list_params(),
                None,
                ok(&Payload::Def(list_def)),
            )],
        });
    }
    // One object.
    let object = format!("{collection}/{{name}}");
    let mut ops = Vec::new();
    if has("get") {
        ops.push(op(
            "get",
            "get",
            format!("read{gv}{scope}{kind}"),
            format!("read the specified {kind}"),
            vec![],
            None,
            ok(&obj),
        ));
    }
    if has("update") {
        ops.push(op(
            "put",
            "put",
            format!("replace{gv}{scope}{kind}"),
            format!("replace the specified {kind}"),
            write_params(false),
            Some((obj.clone(), true)),
            vec![("200", "OK", obj.clone()), ("201", "Created", obj.clone())],
        ));
    }
    if has("patch") {
        ops.push(op(
            "patch",
            "patch",
            format!("patch{gv}{scope}{kind}"),
            format!("partially update the specified {kind}"),
            write_params(true),
            Some((Payload::Def(PATCH.into()), true)),
            vec![("200", "OK", obj.clone()), ("201", "Created", obj.clone())],
        ));
    }
    if has("delete") {
        ops.push(op(
            "delete",
            "delete",
            format!("delete{gv}{scope}{kind}"),
            format!("delete a {kind}"),
            delete_params(),
            Some((Payload::Def(DELETE_OPTIONS.into()), false)),
            vec![
                ("200", "OK", Payload::Def(STATUS.into())),
                ("202", "Accepted", Payload::Def(STATUS.into())),
            ],
        ));
    }
    if !ops.is_empty() {
        items.push(PathItem {
            path: object.clone(),
            params: base_params(true),
            ops,
        });
    }
    // Subresources.
    for sub in &r.subresources {
        let sub_name = upper_first(sub.name());
        let path = format!("{object}/{}", sub.name());
        let (sg, sv, sk) = sub.kind(kind);
        let sub_def = match sub {
            Subresource::Status | Subresource::Finalize => Some(def.to_owned()),
            _ => super::builtin::builtins()
                .definition(sg, sv, sk)
                .map(str::to_owned),
        };
        let sub_gvk = match sub {
            Subresource::Status | Subresource::Finalize => gvk.clone(),
            _ => (sg.to_owned(), sv.to_owned(), sk.to_owned()),
        };
        let payload = sub_def.map_or(Payload::Text, Payload::Def);
        let mut ops = Vec::new();
        let mut sop =
            |method: &'static str, action: &'static str, verb: &str, params, body, responses| {
                ops.push(Operation {
                    method,
                    action,
                    id: match verb.strip_prefix("connect") {
                        Some(m) => format!("connect{gv}{m}{scope}{kind}{sub_name}"),
                        None => format!("{verb}{gv}{scope}{kind}{sub_name}"),
                    },
                    description: format!("{verb} {} of the specified {kind}", sub.name()),
                    gvk: sub_gvk.clone(),
                    params,
                    body,
                    patch: method == "patch",
                    strategic: builtin,
                    responses,
                });
            };
        match sub {
            Subresource::Status | Subresource::Scale(_) => {
                sop("get", "get", "read", vec![], None, ok(&payload));
                sop(
                    "put",
                    "put",
                    "replace",
                    write_params(false),
                    Some((payload.clone(), true)),
                    vec![
                        ("200", "OK", payload.clone()),
                        ("201", "Created", payload.clone()),
                    ],
                );
                sop(
                    "patch",
                    "patch",
                    "patch",
                    write_params(true),
                    Some((Payload::Def(PATCH.into()), true)),
                    vec![
                        ("200", "OK", payload.clone()),
                        ("201", "Created", payload.clone()),
                    ],
                );
            }
            Subresource::Finalize => sop(
                "put",
                "put",
                "replace",
                write_params(false),
                Some((payload.clone(), true)),
                vec![
                    ("200", "OK", payload.clone()),
                    ("201", "Created", payload.clone()),
                ],
            ),
            Subresource::Binding | Subresource::Eviction => sop(
                "post",
                "post",
                "create",
                write_params(false),
                Some((payload.clone(), true)),
                created(&payload),
            ),
            Subresource::Log => sop("get", "get", "read", log_params(), None, ok(&Payload::Text)),
            Subresource::Exec | Subresource::Attach | Subresource::PortForward => {
                let params = connect_params(sub);
                sop(
                    "get",
                    "connect",
                    "connectGet",
                    params,
                    None,
                    ok(&Payload::Text),
                );
                sop(
                    "post",
                    "connect",
                    "connectPost",
                    connect_params(sub),
                    None,
                    ok(&Payload::Text),
                );
            }
        }
        items.push(PathItem {
            path,
            params: base_params(true),
            ops,
        });
    }
    items
}

fn log_params() -> Vec<Param> {
    [
        ("container", "string"),
        ("follow", "boolean"),
        ("insecureSkipTLSVerifyBackend", "boolean"),
        ("limitBytes", "integer"),
        ("previous", "boolean"),
        ("sinceSeconds", "integer"),
        ("stream", "string"),
        ("tailLines", "integer"),
        ("timestamps", "boolean"),
    ]
    .into_iter()
    .map(|(n, t)| query(n, t, &format!("{n} of the log request")))
    .collect()
}

fn connect_params(sub: &Subresource) -> Vec<Param> {
    let names: &[(&'static str, &'static str)] = match sub {
        Subresource::PortForward => &[("ports", "integer")],
        Subresource::Attach => &[
            ("container", "string"),
            ("stderr", "boolean"),
            ("stdin", "boolean"),
            ("stdout", "boolean"),
            ("tty", "boolean"),
        ],
        _ => &[
            ("command", "string"),
            ("container", "string"),
            ("stderr", "boolean"),
            ("stdin", "boolean"),
            ("stdout", "boolean"),
            ("tty", "boolean"),
        ],
    };
    names
        .iter()
        .map(|(n, t)| query(n, t, &format!("{n} of the {} request", sub.name())))
        .collect()
}

const PRODUCES: &[&str] = &["application/json", "application/yaml"];

fn patch_types(strategic: bool) -> Vec<&'static str> {
    let mut v = vec![
        "application/json-patch+json",
        "application/merge-patch+json",
    ];
    if strategic {
        v.push("application/strategic-merge-patch+json");
    }
    v.push("application/apply-patch+yaml");
    v
}

fn gvk_object((g, v, k): &(String, String, String)) -> Value {
    json!({"group": g, "kind": k, "version": v})
}

impl PathItem {
    /// The Swagger 2.0 path item.
    pub fn to_v2(&self, tag_name: &str) -> Value {
        let mut item = Map::new();
        for op in &self.ops {
            let mut params: Vec<Value> = Vec::new();
            if let Some((payload, required)) = &op.body {
                let schema = match payload {
                    Payload::Def(d) => json!({"$ref": format!("#/definitions/{d}")}),
                    Payload::Text => json!({"type": "string"}),
                };
                params.push(
                    json!({"in": "body", "name": "body", "required": required, "schema": schema}),
                );
            }
            params.extend(op.params.iter().map(param_v2));
            let mut responses = Map::new();
            for (code, desc, payload) in &op.responses {
                let schema = match payload {
                    Payload::Def(d) => json!({"$ref": format!("#/definitions/{d}")}),
                    Payload::Text => json!({"type": "string"}),
                };
                responses.insert(
                    (*code).into(),
                    json!({"description": desc, "schema": schema}),
                );
            }
            responses.insert("401".into(), json!({"description": "Unauthorized"}));
            let consumes = if op.patch {
                patch_types(op.strategic)
            } else {
                vec!["*/*"]
            };
            item.insert(
                op.method.into(),
                json!({
                    "consumes": consumes,
                    "description": op.description,
                    "operationId": op.id,
                    "parameters": params,
                    "produces": PRODUCES,
                    "responses": responses,
                    "schemes": ["https"],
                    "tags": [tag_name],
                    "x-kubernetes-action": op.action,
                    "x-kubernetes-group-version-kind": gvk_object(&op.gvk),
                }),
            );
        }
        item.insert(
            "parameters".into(),
            Value::Array(self.params.iter().map(param_v2).collect()),
        );
        Value::Object(item)
    }

    /// The OpenAPI 3.0 path item.
    pub fn to_v3(&self, tag_name: &str) -> Value {
        let mut item = Map::new();
        for op in &self.ops {
            let content = |payload: &Payload, types: &[&str]| -> Value {
                let schema = match payload {
                    Payload::Def(d) => json!({"$ref": format!("#/components/schemas/{d}")}),
                    Payload::Text => json!({"type": "string"}),
                };
                let mut m = Map::new();
                for t in types {
                    m.insert((*t).into(), json!({"schema": schema}));
                }
                Value::Object(m)
            };
            let mut responses = Map::new();
            for (code, desc, payload) in &op.responses {
                responses.insert(
                    (*code).into(),
                    json!({"description": desc, "content": content(payload, PRODUCES)}),
                );
            }
            responses.insert("401".into(), json!({"description": "Unauthorized"}));
            let mut o = Map::new();
            o.insert("tags".into(), json!([tag_name]));
            o.insert("description".into(), Value::from(op.description.as_str()));
            o.insert("operationId".into(), Value::from(op.id.as_str()));
            o.insert(
                "parameters".into(),
                Value::Array(op.params.iter().map(param_v3).collect()),
            );
            if let Some((payload, required)) = &op.body {
                let types = if op.patch {
                    patch_types(op.strategic)
                } else {
                    vec!["*/*"]
                };
                o.insert(
                    "requestBody".into(),
                    json!({"content": content(payload, &types), "required": required}),
                );
            }
            o.insert("responses".into(), Value::Object(responses));
            o.insert("x-kubernetes-action".into(), Value::from(op.action));
            o.insert(
                "x-kubernetes-group-version-kind".into(),
                gvk_object(&op.gvk),
            );
            item.insert(op.method.into(), Value::Object(o));
        }
        item.insert(
            "parameters".into(),
            Value::Array(self.params.iter().map(param_v3).collect()),
        );
        Value::Object(item)
    }
}

fn param_v2(p: &Param) -> Value {
    let mut v = json!({
        "description": p.description,
        "in": p.location,
        "name": p.name,
        "type": p.ty,
        "uniqueItems": true,
    });
    if p.required {
        v["required"] = Value::Bool(true);
    }
    v
}

fn param_v3(p: &Param) -> Value {
    let mut v = json!({
        "name": p.name,
        "in": p.location,
        "description": p.description,
        "schema": {"type": p.ty, "uniqueItems": true},
    });
    if p.required {
        v["required"] = Value::Bool(true);
    }
    v
}

/// The tag of a resource's group version.
pub(super) fn tag_of(r: &Resource) -> String {
    tag(&r.group, &r.version)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_kubernetes() {
        assert_eq!(group_camel(""), "Core");
        assert_eq!(group_camel("apps"), "Apps");
        assert_eq!(
            group_camel("rbac.authorization.k8s.io"),
            "RbacAuthorization"
        );
        assert_eq!(group_camel("example.com"), "ExampleCom");
        assert_eq!(tag("", "v1"), "core_v1");
        assert_eq!(tag("networking.k8s.io", "v1"), "networking_v1");
    }
}
