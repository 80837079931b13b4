//! A container's environment, built as the kubelet builds it
//! (`makeEnvironmentVariables`): `envFrom` first (ConfigMaps and Secrets,
//! with `prefix`, invalid names skipped), then `env` in order, each `value`
//! with its `$(VAR)` references expanded against the variables defined so
//! far, each `valueFrom` resolved from a ConfigMap or Secret key, a pod
//! field (`fieldRef`) or a container resource (`resourceFieldRef`).
//!
//! ConfigMaps and Secrets are read through the API ([`Objects`]), once per
//! container start ([`Lookup`] remembers what one start has read, as the
//! kubelet's per-call maps do). Service links (`enableServiceLinks`) are
//! not added: Skiff has no service environment yet.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::net::IpAddr;

use k8s_openapi::api::core::v1::{
    ConfigMap, Container, PersistentVolume, PersistentVolumeClaim, Pod, ResourceFieldSelector,
    Secret,
};
use kube::api::Api;
use kube::{Client, ResourceExt};
use skiff_api::quantity::Quantity;

/// Why a container's environment (or a volume's content) could not be built.
/// The messages are the kubelet's: they become the container's
/// `CreateContainerConfigError` message.
#[derive(Debug, thiserror::Error)]
pub enum EnvError {
    /// A ConfigMap that is not optional does not exist.
    #[error("configmap \"{name}\" not found")]
    ConfigMapNotFound {
        /// Its name.
        name: String,
    },
    /// A Secret that is not optional does not exist.
    #[error("secret \"{name}\" not found")]
    SecretNotFound {
        /// Its name.
        name: String,
    },
    /// A key that is not optional is missing from a ConfigMap.
    #[error("couldn't find key {key} in ConfigMap {namespace}/{name}")]
    ConfigMapKey {
        /// The key.
        key: String,
        /// The ConfigMap's namespace.
        namespace: String,
        /// Its name.
        name: String,
    },
    /// A key that is not optional is missing from a Secret.
    #[error("couldn't find key {key} in Secret {namespace}/{name}")]
    SecretKey {
        /// The key.
        key: String,
        /// The Secret's namespace.
        namespace: String,
        /// Its name.
        name: String,
    },
    /// A `fieldRef` names a field the downward API does not offer.
    #[error("unsupported fieldPath: {0}")]
    FieldPath(String),
    /// A `resourceFieldRef` names a resource the downward API does not offer.
    #[error("unsupported container resource : {0}")]
    Resource(String),
    /// A `resourceFieldRef` names a container the pod does not have.
    #[error("cannot find container {0:?} in the pod")]
    NoContainer(String),
    /// A quantity (limit, request or divisor) does not parse.
    #[error("invalid quantity {value:?}: {reason}")]
    Quantity {
        /// The text.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Reading a ConfigMap or Secret failed for another reason than absence.
    #[error("reading {kind} {namespace}/{name}: {source}")]
    Api {
        /// `configmap` or `secret`.
        kind: &'static str,
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
        /// The API error (boxed: it is large and rare).
        source: Box<kube::Error>,
    },
}

/// Where ConfigMaps and Secrets come from: the API server for the agent,
/// a map in tests.
pub trait Objects: Send + Sync {
    /// The ConfigMap, or `None` if it does not exist.
    fn config_map(
        &self,
        namespace: &str,
        name: &str,
    ) -> impl Future<Output = Result<Option<ConfigMap>, kube::Error>> + Send;
    /// The Secret, or `None` if it does not exist.
    fn secret(
        &self,
        namespace: &str,
        name: &str,
    ) -> impl Future<Output = Result<Option<Secret>, kube::Error>> + Send;
    /// The PersistentVolumeClaim, or `None` if it does not exist (or the
    /// source cannot show claims).
    fn persistent_volume_claim(
        &self,
        _namespace: &str,
        _name: &str,
    ) -> impl Future<Output = Result<Option<PersistentVolumeClaim>, kube::Error>> + Send {
        async { Ok(None) }
    }
    /// The PersistentVolume, or `None` if it does not exist (or the source
    /// cannot show volumes).
    fn persistent_volume(
        &self,
        _name: &str,
    ) -> impl Future<Output = Result<Option<PersistentVolume>, kube::Error>> + Send {
        async { Ok(None) }
    }
}

impl Objects for Client {
    async fn config_map(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<ConfigMap>, kube::Error> {
        Api::<ConfigMap>::namespaced(self.clone(), namespace)
            .get_opt(name)
            .await
    }

    async fn secret(&self, namespace: &str, name: &str) -> Result<Option<Secret>, kube::Error> {
        Api::<Secret>::namespaced(self.clone(), namespace)
            .get_opt(name)
            .await
    }

    async fn persistent_volume_claim(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<PersistentVolumeClaim>, kube::Error> {
        Api::<PersistentVolumeClaim>::namespaced(self.clone(), namespace)
            .get_opt(name)
            .await
    }

    async fn persistent_volume(&self, name: &str) -> Result<Option<PersistentVolume>, kube::Error> {
        Api::<PersistentVolume>::all(self.clone())
            .get_opt(name)
            .await
    }
}

/// A ConfigMap's or Secret's keys as bytes (ConfigMap `binaryData` included).
pub type Data = BTreeMap<String, Vec<u8>>;

/// Reads each ConfigMap and Secret at most once.
pub struct Lookup<'a, O> {
    objects: &'a O,
    namespace: String,
    config_maps: HashMap<String, Option<(Data, Data)>>,
    secrets: HashMap<String, Option<Data>>,
}

impl<'a, O: Objects> Lookup<'a, O> {
    /// Reads from `objects` in `namespace`.
    pub fn new(objects: &'a O, namespace: &str) -> Self {
        Lookup {
            objects,
            namespace: namespace.to_owned(),
            config_maps: HashMap::new(),
            secrets: HashMap::new(),
        }
    }

    /// The namespace read from.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The source read from (for objects read once, uncached: claims and
    /// volumes).
    pub fn objects(&self) -> &'a O {
        self.objects
    }

    /// A ConfigMap's `data` and `binaryData`, `None` if it does not exist.
    pub async fn config_map(&mut self, name: &str) -> Result<Option<&(Data, Data)>, EnvError> {
        if !self.config_maps.contains_key(name) {
            let cm = self
                .objects
                .config_map(&self.namespace, name)
                .await
                .map_err(|e| EnvError::Api {
                    kind: "configmap",
                    namespace: self.namespace.clone(),
                    name: name.to_owned(),
                    source: Box::new(e),
                })?;
            let cm = cm.map(|cm| {
                let data = cm
                    .data
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(k, v)| (k, v.into_bytes()))
                    .collect();
                let binary = cm
                    .binary_data
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(k, v)| (k, v.0))
                    .collect();
                (data, binary)
            });
            self.config_maps.insert(name.to_owned(), cm);
        }
        Ok(self.config_maps.get(name).and_then(Option::as_ref))
    }

    /// A Secret's `data` (with `stringData` folded in, should the server
    /// have left it), `None` if it does not exist.
    pub async fn secret(&mut self, name: &str) -> Result<Option<&Data>, EnvError> {
        if !self.secrets.contains_key(name) {
            let s = self
                .objects
                .secret(&self.namespace, name)
                .await
                .map_err(|e| EnvError::Api {
                    kind: "secret",
                    namespace: self.namespace.clone(),
                    name: name.to_owned(),
                    source: Box::new(e),
                })?;
            let s = s.map(|s| {
                let mut data: Data = s
                    .data
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(k, v)| (k, v.0))
                    .collect();
                for (k, v) in s.string_data.unwrap_or_default() {
                    data.insert(k, v.into_bytes());
                }
                data
            });
            self.secrets.insert(name.to_owned(), s);
        }
        Ok(self.secrets.get(name).and_then(Option::as_ref))
    }
}

/// What the node allocates to pods; a container without a limit sees
/// these in `resourceFieldRef` (the kubelet's `defaultPodLimitsForDownwardAPI`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Allocatable {
    /// CPU in millicores.
    pub cpu_millis: i128,
    /// Memory in bytes.
    pub memory_bytes: i128,
    /// Ephemeral storage in bytes.
    pub ephemeral_bytes: i128,
}

impl Allocatable {
    /// What this node reports as allocatable (see [`crate::register::status`]),
    /// with ephemeral storage the size of the filesystem holding `data_dir`.
    /// Called on the async runtime: /proc and `statvfs` answer from kernel
    /// memory, never waiting on a disk. Every container start asks, so the
    /// answer is kept for a few seconds (reading /proc/meminfo per pod was
    /// 2 % of the node's CPU while pods started at ~300/s).
    pub fn of_node(data_dir: &std::path::Path) -> Self {
        use std::sync::{Mutex, PoisonError};
        use std::time::{Duration, Instant};
        type Cached = Option<(Instant, std::path::PathBuf, Allocatable)>;
        static CACHE: Mutex<Cached> = Mutex::new(None);
        const FRESH: Duration = Duration::from_secs(10);
        let mut cache = CACHE.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((at, dir, a)) = cache.as_ref()
            && dir == data_dir
            && at.elapsed() < FRESH
        {
            return *a;
        }
        let a = Self::measure(data_dir);
        *cache = Some((Instant::now(), data_dir.to_owned(), a));
        a
    }

    fn measure(data_dir: &std::path::Path) -> Self {
        let mem_kib = crate::sysinfo::memory_kib().saturating_sub(100 * 1024);
        let ephemeral = nix::sys::statvfs::statvfs(data_dir)
            .map(|s| i128::from(s.blocks()) * i128::from(s.fragment_size()))
            .unwrap_or(0);
        Allocatable {
            cpu_millis: i128::try_from(crate::sysinfo::cpus()).unwrap_or(1) * 1000,
            memory_bytes: i128::from(mem_kib) * 1024,
            ephemeral_bytes: ephemeral,
        }
    }
}

/// What the downward API can tell a container about its pod.
#[derive(Debug, Clone, Copy)]
pub struct PodInfo<'a> {
    /// The pod.
    pub pod: &'a Pod,
    /// This node's name (`spec.nodeName`).
    pub node_name: &'a str,
    /// This node's address (`status.hostIP`).
    pub host_ip: IpAddr,
    /// The pod's address (`status.podIP`).
    pub pod_ip: Option<IpAddr>,
    /// Defaults for missing limits.
    pub allocatable: Allocatable,
}

impl PodInfo<'_> {
    /// The pod's namespace.
    pub fn namespace(&self) -> String {
        self.pod.namespace().unwrap_or_else(|| "default".into())
    }

    /// A `fieldRef` value (the kubelet's `podFieldSelectorRuntimeValue`).
    pub fn field(&self, path: &str) -> Result<String, EnvError> {
        let spec = self.pod.spec.as_ref();
        Ok(match path {
            "metadata.name" => self.pod.name_any(),
            "metadata.namespace" => self.namespace(),
            "metadata.uid" => self.pod.metadata.uid.clone().unwrap_or_default(),
            "metadata.labels" => format_map(self.pod.labels()),
            "metadata.annotations" => format_map(self.pod.annotations()),
            "spec.nodeName" => self.node_name.to_owned(),
            "spec.serviceAccountName" => spec
                .and_then(|s| s.service_account_name.clone())
                .unwrap_or_default(),
            "status.hostIP" | "status.hostIPs" => self.host_ip.to_string(),
            "status.podIP" | "status.podIPs" => {
                self.pod_ip.map(|i| i.to_string()).unwrap_or_default()
            }
            _ => {
                let key =
                    |prefix: &str| path.strip_prefix(prefix).and_then(|s| s.strip_suffix("']"));
                if let Some(k) = key("metadata.labels['") {
                    self.pod.labels().get(k).cloned().unwrap_or_default()
                } else if let Some(k) = key("metadata.annotations['") {
                    self.pod.annotations().get(k).cloned().unwrap_or_default()
                } else {
                    return Err(EnvError::FieldPath(path.to_owned()));
                }
            }
        })
    }

    /// A `resourceFieldRef` value for `container` (the kubelet's
    /// `ExtractContainerResourceValue` after defaulting missing limits to
    /// the node's allocatable): rounded up in units of the divisor.
    pub fn resource(
        &self,
        sel: &ResourceFieldSelector,
        container: &str,
    ) -> Result<String, EnvError> {
        let c = self
            .pod
            .spec
            .iter()
            .flat_map(|s| {
                s.containers
                    .iter()
                    .chain(s.init_containers.iter().flatten())
            })
            .find(|c| c.name == container)
            .ok_or_else(|| EnvError::NoContainer(container.to_owned()))?;
        resource_value(sel, c, &self.allocatable)
    }
}

fn parse_quantity(
    q: &k8s_openapi::apimachinery::pkg::api::resource::Quantity,
) -> Result<Quantity, EnvError> {
    Quantity::try_from(q).map_err(|e| EnvError::Quantity {
        value: q.0.clone(),
        reason: e.to_string(),
    })
}

/// A container's resource as the downward API reports it.
pub fn resource_value(
    sel: &ResourceFieldSelector,
    c: &Container,
    alloc: &Allocatable,
) -> Result<String, EnvError> {
    let divisor = match &sel.divisor {
        Some(d) => parse_quantity(d)?,
        None => Quantity::from_units(1, skiff_api::quantity::Format::DecimalSI),
    };
    let divisor = if divisor.is_zero() {
        Quantity::from_units(1, skiff_api::quantity::Format::DecimalSI)
    } else {
        divisor
    };
    let (section, name) = sel
        .resource
        .split_once('.')
        .ok_or_else(|| EnvError::Resource(sel.resource.clone()))?;
    let resources = c.resources.as_ref();
    let list = match section {
        "limits" => resources.and_then(|r| r.limits.as_ref()),
        "requests" => resources.and_then(|r| r.requests.as_ref()),
        _ => return Err(EnvError::Resource(sel.resource.clone())),
    };
    let value = list
        .and_then(|l| l.get(name))
        .map(parse_quantity)
        .transpose()?;
    // Only limits default to what the node allocates; a missing request is 0.
    let default = |alloc_value: i128| if section == "limits" { alloc_value } else { 0 };
    let ceil_div = |a: i128, b: i128| if b == 0 { 0 } else { (a + b - 1).div_euclid(b) };
    let n = match name {
        "cpu" => {
            let v = value.map_or_else(|| default(alloc.cpu_millis), |q| q.as_millis());
            ceil_div(v, divisor.as_millis())
        }
        "memory" => {
            let v = value.map_or_else(|| default(alloc.memory_bytes), |q| q.as_units());
            ceil_div(v, divisor.as_units())
        }
        "ephemeral-storage" => {
            let v = value.map_or_else(|| default(alloc.ephemeral_bytes), |q| q.as_units());
            ceil_div(v, divisor.as_units())
        }
        _ => return Err(EnvError::Resource(sel.resource.clone())),
    };
    Ok(n.to_string())
}

/// Go's `%q` for the strings Kubernetes puts in label and annotation files.
fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => {
                let n = u32::from(c);
                if n < 0x100 {
                    out.push_str(&format!("\\x{n:02x}"));
                } else {
                    out.push_str(&format!("\\u{n:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Labels or annotations as the downward API writes them: `key="value"`
/// lines sorted by key, no trailing newline (the kubelet's `FormatMap`).
pub fn format_map(m: &BTreeMap<String, String>) -> String {
    m.iter()
        .map(|(k, v)| format!("{k}={}", go_quote(v)))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Expands `$(VAR)` references in `input` as Kubernetes does: `$$` is an
/// escaped `$`, a reference `lookup` does not know stays as written, and
/// an unterminated `$(` is kept literally.
pub fn expand(input: &str, lookup: impl Fn(&str) -> Option<String>) -> String {
    let bytes = input.as_bytes();
    let mut out = String::with_capacity(input.len());
    let mut checkpoint = 0;
    let mut cursor = 0;
    while cursor < bytes.len() {
        if bytes[cursor] == b'$' && cursor + 1 < bytes.len() {
            out.push_str(&input[checkpoint..cursor]);
            let rest = &input[cursor + 1..];
            let advance = match rest.as_bytes()[0] {
                b'$' => {
                    out.push('$');
                    1
                }
                b'(' => match rest.find(')') {
                    Some(close) => {
                        let name = &rest[1..close];
                        match lookup(name) {
                            Some(v) => out.push_str(&v),
                            None => {
                                out.push_str("$(");
                                out.push_str(name);
                                out.push(')');
                            }
                        }
                        close + 1
                    }
                    None => {
                        out.push_str("$(");
                        1
                    }
                },
                _ => {
                    // `$` followed by anything else is kept with that
                    // character (a whole one: the input is UTF-8).
                    let ch = rest.chars().next().map_or(1, char::len_utf8);
                    out.push('$');
                    out.push_str(&rest[..ch]);
                    ch
                }
            };
            cursor += advance;
            checkpoint = cursor + 1;
        }
        cursor += 1;
    }
    out.push_str(&input[checkpoint.min(input.len())..]);
    out
}

/// Whether `name` is a valid environment variable name (Kubernetes'
/// `IsEnvVarName`: `[-._a-zA-Z][-._a-zA-Z0-9]*`, not `.` or `..`).
pub fn is_env_var_name(name: &str) -> bool {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || matches!(c, '-' | '.' | '_'));
    first_ok
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
        && name != "."
        && name != ".."
}

/// The variables in order of first definition (a later definition
/// replaces the value in place), and the `InvalidEnvironmentVariableNames`
/// warnings to post.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Environment {
    /// Name and value.
    pub vars: Vec<(String, String)>,
    /// Event messages for skipped `envFrom` keys.
    pub warnings: Vec<String>,
}

impl Environment {
    fn get(&self, name: &str) -> Option<String> {
        self.vars
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    }

    fn set(&mut self, name: &str, value: String) {
        match self.vars.iter_mut().find(|(n, _)| n == name) {
            Some(slot) => slot.1 = value,
            None => self.vars.push((name.to_owned(), value)),
        }
    }
}

/// Builds `c`'s environment.
pub async fn container_env<O: Objects>(
    info: &PodInfo<'_>,
    c: &Container,
    lookup: &mut Lookup<'_, O>,
) -> Result<Environment, EnvError> {
    let ns = lookup.namespace().to_owned();
    let mut env = Environment::default();
    for from in c.env_from.iter().flatten() {
        let prefix = from.prefix.clone().unwrap_or_default();
        let (kind, name, data) = if let Some(r) = &from.config_map_ref {
            let optional = r.optional.unwrap_or(false);
            match lookup.config_map(&r.name).await? {
                Some((data, _)) => ("configMap", r.name.clone(), data.clone()),
                None if optional => continue,
                None => {
                    return Err(EnvError::ConfigMapNotFound {
                        name: r.name.clone(),
                    });
                }
            }
        } else if let Some(r) = &from.secret_ref {
            let optional = r.optional.unwrap_or(false);
            match lookup.secret(&r.name).await? {
                Some(data) => ("secret", r.name.clone(), data.clone()),
                None if optional => continue,
                None => {
                    return Err(EnvError::SecretNotFound {
                        name: r.name.clone(),
                    });
                }
            }
        } else {
            continue;
        };
        let mut invalid = Vec::new();
        for (k, v) in data {
            let k = format!("{prefix}{k}");
            if !is_env_var_name(&k) {
                invalid.push(k);
                continue;
            }
            env.set(&k, String::from_utf8_lossy(&v).into_owned());
        }
        if !invalid.is_empty() {
            invalid.sort();
            env.warnings.push(format!(
                "Keys [{}] from the EnvFrom {kind} {ns}/{name} were skipped since they are considered invalid environment variable names.",
                invalid.join(", ")
            ));
        }
    }
    for e in c.env.iter().flatten() {
        let value = match (e.value.as_deref().filter(|v| !v.is_empty()), &e.value_from) {
            (Some(v), _) => expand(v, |name| env.get(name)),
            (None, Some(from)) => {
                if let Some(f) = &from.field_ref {
                    info.field(&f.field_path)?
                } else if let Some(r) = &from.resource_field_ref {
                    let container = r
                        .container_name
                        .as_deref()
                        .filter(|n| !n.is_empty())
                        .unwrap_or(&c.name);
                    if container == c.name {
                        resource_value(r, c, &info.allocatable)?
                    } else {
                        info.resource(r, container)?
                    }
                } else if let Some(r) = &from.config_map_key_ref {
                    let optional = r.optional.unwrap_or(false);
                    let value = match lookup.config_map(&r.name).await? {
                        Some((data, _)) => data.get(&r.key).cloned(),
                        None if optional => continue,
                        None => {
                            return Err(EnvError::ConfigMapNotFound {
                                name: r.name.clone(),
                            });
                        }
                    };
                    match value {
                        Some(v) => String::from_utf8_lossy(&v).into_owned(),
                        None if optional => continue,
                        None => {
                            return Err(EnvError::ConfigMapKey {
                                key: r.key.clone(),
                                namespace: ns,
                                name: r.name.clone(),
                            });
                        }
                    }
                } else if let Some(r) = &from.secret_key_ref {
                    let optional = r.optional.unwrap_or(false);
                    let value = match lookup.secret(&r.name).await? {
                        Some(data) => data.get(&r.key).cloned(),
                        None if optional => continue,
                        None => {
                            return Err(EnvError::SecretNotFound {
                                name: r.name.clone(),
                            });
                        }
                    };
                    match value {
                        Some(v) => String::from_utf8_lossy(&v).into_owned(),
                        None if optional => continue,
                        None => {
                            return Err(EnvError::SecretKey {
                                key: r.key.clone(),
                                namespace: ns,
                                name: r.name.clone(),
                            });
                        }
                    }
                } else {
                    String::new()
                }
            }
            (None, None) => String::new(),
        };
        env.set(&e.name, value);
    }
    Ok(env)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use k8s_openapi::ByteString;
    use k8s_openapi::api::core::v1::{
        ConfigMapEnvSource, ConfigMapKeySelector, EnvFromSource, EnvVar, EnvVarSource,
        ObjectFieldSelector, PodSpec, ResourceRequirements, SecretEnvSource, SecretKeySelector,
    };
    use k8s_openapi::apimachinery::pkg::api::resource::Quantity as KQ;

    /// ConfigMaps and Secrets held in memory.
    #[derive(Default)]
    pub(crate) struct Fake {
        pub(crate) config_maps: BTreeMap<String, ConfigMap>,
        pub(crate) secrets: BTreeMap<String, Secret>,
    }

    impl Fake {
        pub(crate) fn with_cm(mut self, name: &str, data: &[(&str, &str)]) -> Self {
            let mut cm = ConfigMap::default();
            cm.metadata.name = Some(name.into());
            cm.data = Some(
                data.iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect(),
            );
            self.config_maps.insert(name.into(), cm);
            self
        }

        pub(crate) fn with_secret(mut self, name: &str, data: &[(&str, &str)]) -> Self {
            let mut s = Secret::default();
            s.metadata.name = Some(name.into());
            s.data = Some(
                data.iter()
                    .map(|(k, v)| ((*k).to_owned(), ByteString(v.as_bytes().to_vec())))
                    .collect(),
            );
            self.secrets.insert(name.into(), s);
            self
        }
    }

    impl Objects for Fake {
        async fn config_map(&self, _: &str, name: &str) -> Result<Option<ConfigMap>, kube::Error> {
            Ok(self.config_maps.get(name).cloned())
        }
        async fn secret(&self, _: &str, name: &str) -> Result<Option<Secret>, kube::Error> {
            Ok(self.secrets.get(name).cloned())
        }
    }

    pub(crate) fn pod() -> Pod {
        let mut p = Pod::default();
        p.metadata.name = Some("web".into());
        p.metadata.namespace = Some("ns1".into());
        p.metadata.uid = Some("u-1".into());
        p.metadata.labels = Some(BTreeMap::from([
            ("app".to_owned(), "web".to_owned()),
            ("tier".to_owned(), "a \"b\"\n".to_owned()),
        ]));
        p.spec = Some(PodSpec {
            containers: vec![Container {
                name: "main".into(),
                resources: Some(ResourceRequirements {
                    limits: Some(BTreeMap::from([("memory".to_owned(), KQ("64Mi".into()))])),
                    requests: Some(BTreeMap::from([("cpu".to_owned(), KQ("250m".into()))])),
                    ..Default::default()
                }),
                ..Default::default()
            }],
            ..Default::default()
        });
        p
    }

    pub(crate) const ALLOC: Allocatable = Allocatable {
        cpu_millis: 4000,
        memory_bytes: 8 << 30,
        ephemeral_bytes: 100 << 30,
    };

    pub(crate) fn info(p: &Pod) -> PodInfo<'_> {
        PodInfo {
            pod: p,
            node_name: "node-1",
            host_ip: IpAddr::from([127, 0, 0, 1]),
            pod_ip: Some(IpAddr::from([127, 42, 0, 2])),
            allocatable: ALLOC,
        }
    }

    fn map(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: BTreeMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k| m.get(k).cloned()
    }

    #[test]
    fn expansion_follows_kubernetes() {
        let m = map(&[("VAR_A", "A"), ("VAR_B", "B"), ("EMPTY", "")]);
        for (input, want) in [
            ("$(VAR_A)", "A"),
            ("___$(VAR_B)___", "___B___"),
            ("$(VAR_A)-$(VAR_B)", "A-B"),
            ("$$(VAR_A)", "$(VAR_A)"),
            ("$$$(VAR_A)", "$A"),
            ("$$$$(VAR_A)", "$$(VAR_A)"),
            ("$(UNKNOWN)", "$(UNKNOWN)"),
            ("$(EMPTY)x", "x"),
            ("$(VAR_A", "$(VAR_A"),
            ("$()", "$()"),
            ("$VAR_A", "$VAR_A"),
            ("x$", "x$"),
            ("$", "$"),
            ("$$", "$"),
            ("$é", "$é"),
            ("ü$(VAR_A)ü", "üAü"),
            ("$(VAR_A)$(VAR_A", "A$(VAR_A"),
            ("", ""),
        ] {
            assert_eq!(expand(input, &m), want, "input {input:?}");
        }
    }

    #[test]
    fn env_var_names() {
        for ok in ["A", "my.env-name", "MY_ENV.NAME", "MyEnvName1", "_x", "-a"] {
            assert!(is_env_var_name(ok), "{ok}");
        }
        for bad in ["", "1A", "a b", "a=b", ".", "..", "ü"] {
            assert!(!is_env_var_name(bad), "{bad}");
        }
    }

    fn var(name: &str, value: &str) -> EnvVar {
        EnvVar {
            name: name.into(),
            value: Some(value.into()),
            value_from: None,
        }
    }

    fn from(name: &str, src: EnvVarSource) -> EnvVar {
        EnvVar {
            name: name.into(),
            value: None,
            value_from: Some(src),
        }
    }

    fn cm_key(name: &str, key: &str, optional: Option<bool>) -> EnvVarSource {
        EnvVarSource {
            config_map_key_ref: Some(ConfigMapKeySelector {
                name: name.into(),
                key: key.into(),
                optional,
            }),
            ..Default::default()
        }
    }

    async fn build(c: &Container, fake: &Fake) -> Result<Environment, EnvError> {
        let p = pod();
        let mut lookup = Lookup::new(fake, "ns1");
        container_env(&info(&p), c, &mut lookup).await
    }

    #[tokio::test]
    async fn env_from_then_env_with_references() {
        let fake = Fake::default()
            .with_cm("cfg", &[("mode", "fast"), ("bad key", "x"), ("1st", "y")])
            .with_secret("sec", &[("password", "hunter2")]);
        let c = Container {
            name: "main".into(),
            env_from: Some(vec![
                EnvFromSource {
                    config_map_ref: Some(ConfigMapEnvSource {
                        name: "cfg".into(),
                        optional: None,
                    }),
                    prefix: Some("CFG_".into()),
                    secret_ref: None,
                },
                EnvFromSource {
                    secret_ref: Some(SecretEnvSource {
                        name: "sec".into(),
                        optional: None,
                    }),
                    ..Default::default()
                },
                EnvFromSource {
                    secret_ref: Some(SecretEnvSource {
                        name: "absent".into(),
                        optional: Some(true),
                    }),
                    ..Default::default()
                },
            ]),
            env: Some(vec![
                var("A", "a"),
                var("B", "$(A)-$(CFG_mode)-$(C)"),
                var("C", "c"),
                var("password", "override $(password)"),
                from(
                    "NAME",
                    EnvVarSource {
                        field_ref: Some(ObjectFieldSelector {
                            field_path: "metadata.name".into(),
                            api_version: None,
                        }),
                        ..Default::default()
                    },
                ),
                from("OPT", cm_key("cfg", "nope", Some(true))),
                from("OPT2", cm_key("gone", "k", Some(true))),
                from("MODE", cm_key("cfg", "mode", None)),
                from(
                    "PW",
                    EnvVarSource {
                        secret_key_ref: Some(SecretKeySelector {
                            name: "sec".into(),
                            key: "password".into(),
                            optional: None,
                        }),
                        ..Default::default()
                    },
                ),
            ]),
            ..Default::default()
        };
        let env = build(&c, &fake).await.unwrap();
        let got: Vec<(&str, &str)> = env
            .vars
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("CFG_1st", "y"),
                ("CFG_mode", "fast"),
                ("password", "override hunter2"),
                ("A", "a"),
                ("B", "a-fast-$(C)"),
                ("C", "c"),
                ("NAME", "web"),
                ("MODE", "fast"),
                ("PW", "hunter2"),
            ]
        );
        assert_eq!(
            env.warnings,
            [
                "Keys [CFG_bad key] from the EnvFrom configMap ns1/cfg were skipped since they are considered invalid environment variable names."
            ]
        );
    }

    #[tokio::test]
    async fn missing_references_are_the_kubelets_errors() {
        let fake = Fake::default().with_cm("cfg", &[("a", "1")]);
        let one = |src| Container {
            name: "main".into(),
            env: Some(vec![from("X", src)]),
            ..Default::default()
        };
        let e = build(&one(cm_key("cfg", "b", None)), &fake)
            .await
            .unwrap_err();
        assert_eq!(e.to_string(), "couldn't find key b in ConfigMap ns1/cfg");
        let e = build(&one(cm_key("gone", "b", Some(false))), &fake)
            .await
            .unwrap_err();
        assert_eq!(e.to_string(), "configmap \"gone\" not found");
        let secret = EnvVarSource {
            secret_key_ref: Some(SecretKeySelector {
                name: "s".into(),
                key: "k".into(),
                optional: None,
            }),
            ..Default::default()
        };
        let e = build(&one(secret), &fake).await.unwrap_err();
        assert_eq!(e.to_string(), "secret \"s\" not found");
        let c = Container {
            name: "main".into(),
            env_from: Some(vec![EnvFromSource {
                config_map_ref: Some(ConfigMapEnvSource {
                    name: "gone".into(),
                    optional: None,
                }),
                ..Default::default()
            }]),
            ..Default::default()
        };
        let e = build(&c, &fake).await.unwrap_err();
        assert_eq!(e.to_string(), "configmap \"gone\" not found");
    }

    #[test]
    fn fields_and_resources() {
        let p = pod();
        let i = info(&p);
        assert_eq!(i.field("metadata.namespace").unwrap(), "ns1");
        assert_eq!(i.field("metadata.labels['app']").unwrap(), "web");
        assert_eq!(
            i.field("metadata.labels").unwrap(),
            "app=\"web\"\ntier=\"a \\\"b\\\"\\n\""
        );
        assert_eq!(i.field("status.podIP").unwrap(), "127.42.0.2");
        assert_eq!(i.field("spec.nodeName").unwrap(), "node-1");
        assert_eq!(
            i.field("spec.foo").unwrap_err().to_string(),
            "unsupported fieldPath: spec.foo"
        );
        let sel = |r: &str, d: Option<&str>| ResourceFieldSelector {
            container_name: None,
            resource: r.into(),
            divisor: d.map(|d| KQ(d.into())),
        };
        let r = |r: &str, d: Option<&str>| i.resource(&sel(r, d), "main").unwrap();
        assert_eq!(r("limits.memory", None), "67108864");
        assert_eq!(r("limits.memory", Some("1Mi")), "64");
        assert_eq!(r("limits.memory", Some("1G")), "1");
        assert_eq!(r("limits.cpu", None), "4");
        assert_eq!(r("limits.cpu", Some("1m")), "4000");
        assert_eq!(r("requests.cpu", None), "1");
        assert_eq!(r("requests.cpu", Some("1m")), "250");
        assert_eq!(r("requests.memory", None), "0");
        assert_eq!(r("limits.ephemeral-storage", Some("1Gi")), "100");
        assert_eq!(r("limits.memory", Some("0")), "67108864");
        assert!(i.resource(&sel("limits.gpu", None), "main").is_err());
        assert!(i.resource(&sel("limits.cpu", None), "other").is_err());
    }
}
