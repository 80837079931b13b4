//! Which resources exist, from the API server's discovery documents: the
//! garbage collector watches every one it may list, watch and delete, and
//! resolves an owner reference's `apiVersion`/`kind` to a resource here;
//! the namespace controller empties every namespaced one.

use std::collections::HashMap;

use kube::Client;
use kube::discovery::{ApiCapabilities, ApiResource, Discovery, Scope, verbs};

/// Events are never owners nor collected: Kubernetes' garbage collector
/// ignores them too, and `events.k8s.io` serves the same objects again.
const IGNORED: &[(&str, &str)] = &[("", "events"), ("events.k8s.io", "events")];

/// One served resource.
#[derive(Clone, Debug)]
pub struct Served {
    /// Group, version, kind and plural (the group's preferred version).
    pub resource: ApiResource,
    /// Whether objects live in namespaces.
    pub namespaced: bool,
    /// Verbs the resource supports.
    pub verbs: Vec<String>,
}

impl Served {
    fn new(resource: ApiResource, caps: &ApiCapabilities) -> Served {
        Served {
            resource,
            namespaced: caps.scope == Scope::Namespaced,
            verbs: caps.operations.clone(),
        }
    }

    /// Whether the resource supports `verb`.
    pub fn supports(&self, verb: &str) -> bool {
        self.verbs.iter().any(|v| v == verb)
    }

    /// `plural.group`, as Kubernetes names a resource in messages.
    pub fn group_resource(&self) -> String {
        format!("{}.{}", self.resource.plural, self.resource.group)
    }
}

/// The resources the API server serves, at one moment.
#[derive(Clone, Debug, Default)]
pub struct Resources {
    /// Every resource in its group's preferred version.
    pub preferred: Vec<Served>,
    /// (group, kind) → resource; the preferred version first, any other
    /// served version when the kind is only there.
    by_kind: HashMap<(String, String), Served>,
}

impl Resources {
    /// Resources the garbage collector keeps in its graph.
    pub fn collectable(&self) -> impl Iterator<Item = &Served> {
        self.preferred.iter().filter(|s| {
            [verbs::LIST, verbs::WATCH, verbs::DELETE]
                .iter()
                .all(|v| s.supports(v))
                && !IGNORED.contains(&(s.resource.group.as_str(), s.resource.plural.as_str()))
        })
    }

    /// Namespaced resources whose objects the namespace controller can
    /// delete and then list to see what remains.
    pub fn namespaced_deletable(&self) -> impl Iterator<Item = &Served> {
        self.preferred.iter().filter(|s| {
            s.namespaced
                && s.supports(verbs::LIST)
                && (s.supports(verbs::DELETE) || s.supports(verbs::DELETE_COLLECTION))
        })
    }

    /// The resource of an owner reference's `apiVersion` and `kind`.
    pub fn by_kind(&self, api_version: &str, kind: &str) -> Option<&Served> {
        let group = match api_version.split_once('/') {
            Some((g, _)) => g,
            None => "",
        };
        self.by_kind.get(&(group.to_owned(), kind.to_owned()))
    }

    /// Builds the index from a finished discovery.
    pub fn from_discovery(d: &Discovery) -> Resources {
        let mut out = Resources::default();
        for group in d.groups() {
            for (ar, caps) in group.recommended_resources() {
                let s = Served::new(ar, &caps);
                out.by_kind.insert(
                    (s.resource.group.clone(), s.resource.kind.clone()),
                    s.clone(),
                );
                out.preferred.push(s);
            }
            for version in group.versions() {
                for (ar, caps) in group.versioned_resources(version) {
                    out.by_kind
                        .entry((ar.group.clone(), ar.kind.clone()))
                        .or_insert_with(|| Served::new(ar, &caps));
                }
            }
        }
        out
    }
}

/// Runs discovery against the API server.
pub async fn discover(client: &Client) -> Result<Resources, kube::Error> {
    let d = Discovery::new(client.clone()).run().await?;
    Ok(Resources::from_discovery(&d))
}
