//! Parses a resource URL into what the request is about, the way
//! Kubernetes' `RequestInfoFactory` does.
//!
//! `/api/v1/namespaces/default/pods/web/status` names the group, version,
//! namespace, resource, object and subresource; the HTTP method and query
//! then choose the verb. Paths that are not resource paths (discovery,
//! health, OpenAPI) are routed by axum before this runs.

use http::Method;
use skiff_api::status::ApiError;

/// What a resource request addresses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// API group, empty for core.
    pub group: String,
    /// API version.
    pub version: String,
    /// Namespace from the URL, if any.
    pub namespace: Option<String>,
    /// Plural resource name.
    pub resource: String,
    /// Object name, if any.
    pub name: Option<String>,
    /// Subresource, if any.
    pub subresource: Option<String>,
}

/// The verb of a resource request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verb {
    /// GET one object.
    Get,
    /// GET a collection.
    List,
    /// GET a collection with `watch=true` (or one object by field selector).
    Watch,
    /// POST.
    Create,
    /// PUT.
    Update,
    /// PATCH.
    Patch,
    /// DELETE one object.
    Delete,
    /// DELETE a collection.
    DeleteCollection,
}

impl Verb {
    /// The verb as RBAC and discovery name it.
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Get => "get",
            Verb::List => "list",
            Verb::Watch => "watch",
            Verb::Create => "create",
            Verb::Update => "update",
            Verb::Patch => "patch",
            Verb::Delete => "delete",
            Verb::DeleteCollection => "deletecollection",
        }
    }

    /// Chooses the verb from the method, whether a name is present, and
    /// whether `watch` was asked for.
    pub fn from_request(method: &Method, has_name: bool, watch: bool) -> Result<Verb, ApiError> {
        Ok(match (method.as_str(), has_name) {
            ("GET", _) if watch => Verb::Watch,
            ("GET", true) => Verb::Get,
            ("GET", false) => Verb::List,
            ("POST", _) => Verb::Create,
            ("PUT", true) => Verb::Update,
            ("PATCH", true) => Verb::Patch,
            ("DELETE", true) => Verb::Delete,
            ("DELETE", false) => Verb::DeleteCollection,
            (m, _) => return Err(ApiError::method_not_allowed(m, "collection")),
        })
    }
}

/// Parses `/api/v1/...` or `/apis/<group>/<version>/...` into a [`Target`].
///
/// Returns `None` for paths that are not resource paths.
pub fn parse(path: &str) -> Option<Target> {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, version, rest) = match parts.as_slice() {
        ["api", version, rest @ ..] => ("", *version, rest),
        ["apis", group, version, rest @ ..] => (*group, *version, rest),
        _ => return None,
    };
    if rest.is_empty() || rest.iter().any(|p| p.is_empty()) {
        return None;
    }
    // `namespaces/<ns>/<resource>...` scopes to a namespace; a bare
    // `namespaces[/<name>[/<sub>]]` addresses the Namespace objects.
    let (namespace, rest) = match rest {
        ["namespaces", ns, resource, tail @ ..] => (Some((*ns).to_owned()), {
            let mut v = vec![*resource];
            v.extend_from_slice(tail);
            v
        }),
        other => (None, other.to_vec()),
    };
    let (resource, name, subresource) = match rest.as_slice() {
        [resource] => (*resource, None, None),
        [resource, name] => (*resource, Some(*name), None),
        [resource, name, sub] => (*resource, Some(*name), Some(*sub)),
        _ => return None,
    };
    // `/api/v1/namespaces/<ns>/status` has the namespace as the object.
    let (namespace, resource, name, subresource) = match (namespace, resource, name, subresource) {
        (Some(ns), sub @ ("status" | "finalize"), None, None) => {
            (None, "namespaces", Some(ns), Some(sub.to_owned()))
        }
        (ns, r, n, s) => (ns, r, n.map(str::to_owned), s.map(str::to_owned)),
    };
    Some(Target {
        group: group.to_owned(),
        version: version.to_owned(),
        namespace,
        resource: resource.to_owned(),
        name,
        subresource,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(path: &str) -> Target {
        parse(path).unwrap_or_else(|| panic!("{path} should parse"))
    }

    #[test]
    fn namespaced_paths() {
        let x = t("/api/v1/namespaces/default/pods/web/status");
        assert_eq!(x.namespace.as_deref(), Some("default"));
        assert_eq!(x.resource, "pods");
        assert_eq!(x.name.as_deref(), Some("web"));
        assert_eq!(x.subresource.as_deref(), Some("status"));
        let y = t("/apis/apps/v1/namespaces/a/deployments");
        assert_eq!((y.group.as_str(), y.name), ("apps", None));
    }

    #[test]
    fn namespaces_themselves() {
        let x = t("/api/v1/namespaces/kube-system");
        assert_eq!((x.namespace, x.resource.as_str()), (None, "namespaces"));
        assert_eq!(x.name.as_deref(), Some("kube-system"));
        let s = t("/api/v1/namespaces/foo/finalize");
        assert_eq!(s.name.as_deref(), Some("foo"));
        assert_eq!(s.subresource.as_deref(), Some("finalize"));
        assert_eq!(t("/api/v1/namespaces").name, None);
    }

    #[test]
    fn cluster_wide_and_bad_paths() {
        assert_eq!(t("/api/v1/pods").namespace, None);
        assert_eq!(t("/api/v1/nodes/n1").name.as_deref(), Some("n1"));
        assert!(parse("/api/v1").is_none());
        assert!(parse("/apis/apps").is_none());
        assert!(parse("/api/v1/a/b/c/d").is_none());
        assert!(parse("/api/v1//pods").is_none());
        assert!(parse("/healthz").is_none());
    }
}
