//! Image pull credentials for a pod, as the kubelet gathers them: the
//! Secrets its `spec.imagePullSecrets` names, plus those its ServiceAccount
//! names (Skiff has no ServiceAccount admission plugin to copy them into
//! the pod, so the agent reads the account), parsed into a keyring and
//! tried in turn for the image's registry.
//!
//! Only `kubernetes.io/dockerconfigjson` (key `.dockerconfigjson`) and
//! `kubernetes.io/dockercfg` (key `.dockercfg`) Secrets count, as in the
//! kubelet's `MakeDockerKeyring`. A Secret that cannot be read is reported
//! by a `FailedToRetrieveImagePullSecret` event and the pull goes ahead; one
//! that does not parse fails the pull. When credentials match, each is
//! tried in order (most specific first) and the pull succeeds with the
//! first that works; when none match, the pull is anonymous — the kubelet
//! does not fall back to anonymous after matching credentials fail.

use k8s_openapi::api::core::v1::{Pod, Secret, ServiceAccount};
use kube::api::Api;
use kube::{Client, ResourceExt};
use skiff_runtime::{AuthError, DockerKeyring, ImageSpec, ImageStatus, RegistryAuth, RuntimeError};

/// Event reason for a pull Secret the agent could not read.
pub const MISSING_REASON: &str = "FailedToRetrieveImagePullSecret";

/// Secret type and data key of `config.json`-format credentials.
const DOCKER_CONFIG_JSON: (&str, &str) = ("kubernetes.io/dockerconfigjson", ".dockerconfigjson");
/// Secret type and data key of legacy `.dockercfg` credentials.
const DOCKERCFG: (&str, &str) = ("kubernetes.io/dockercfg", ".dockercfg");

/// Why a pull with the pod's credentials failed.
#[derive(Debug, thiserror::Error)]
pub enum PullError {
    /// A pull Secret's content is not Docker configuration.
    #[error("invalid image pull secret {name}: {message}")]
    BadSecret {
        /// The Secret's name.
        name: String,
        /// What is wrong with it.
        message: String,
    },
    /// The runtime's pull failed (with the most specific credential's
    /// error when several were tried). The whole chain is the message: the
    /// registry's own words ("unauthorized") are what a user needs to see
    /// in the pod's status.
    #[error("{}", chain(.0))]
    Runtime(RuntimeError),
}

/// What the pod's pull Secrets yielded.
#[derive(Debug, Default)]
pub struct PullCredentials {
    /// Credentials of every Secret that parsed.
    pub keyring: DockerKeyring,
    /// Names of Secrets that could not be read.
    pub missing: Vec<String>,
    /// The first Secret that did not parse, and why.
    pub invalid: Option<(String, AuthError)>,
}

impl PullCredentials {
    /// The kubelet's warning for unreadable Secrets, if any.
    pub fn warning(&self) -> Option<String> {
        (!self.missing.is_empty()).then(|| {
            format!(
                "Unable to retrieve some image pull secrets ({}); attempting to pull the image may not succeed.",
                self.missing.join(", ")
            )
        })
    }

    /// Adds one Secret's credentials; Secrets of other types add nothing.
    pub fn add_secret(&mut self, secret: &Secret) {
        let name = secret.name_any();
        let type_ = secret.type_.as_deref().unwrap_or("");
        let Some(data) = secret.data.as_ref() else {
            return;
        };
        let key = [DOCKER_CONFIG_JSON, DOCKERCFG]
            .into_iter()
            .find(|(t, _)| *t == type_)
            .map(|(_, k)| k);
        let Some(bytes) = key.and_then(|k| data.get(k)) else {
            return;
        };
        if let Err(source) = self.keyring.add_json(&bytes.0)
            && self.invalid.is_none()
        {
            self.invalid = Some((name, source));
        }
    }
}

/// An error and its sources on one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut next = e.source();
    while let Some(s) = next {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        next = s.source();
    }
    out
}

/// The names of the pod's pull Secrets: its own, then its ServiceAccount's,
/// without repeats.
fn secret_names(pod: &Pod, account: Option<&ServiceAccount>) -> Vec<String> {
    let own = pod
        .spec
        .as_ref()
        .and_then(|s| s.image_pull_secrets.as_ref());
    let sa = account.and_then(|a| a.image_pull_secrets.as_ref());
    let mut names: Vec<String> = Vec::new();
    for r in own.into_iter().chain(sa).flatten() {
        if !r.name.is_empty() && !names.contains(&r.name) {
            names.push(r.name.clone());
        }
    }
    names
}

/// Reads the pod's pull Secrets (and its ServiceAccount's) through the API.
pub async fn for_pod(client: &Client, pod: &Pod) -> PullCredentials {
    let ns = pod.namespace().unwrap_or_else(|| "default".into());
    let account_name = pod
        .spec
        .as_ref()
        .and_then(|s| s.service_account_name.clone())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "default".into());
    // An account that cannot be read contributes no Secrets; the pod's own
    // still count.
    let account = Api::<ServiceAccount>::namespaced(client.clone(), &ns)
        .get_opt(&account_name)
        .await
        .unwrap_or_else(|e| {
            tracing::debug!(error = %e, account = %account_name, "reading the pod's ServiceAccount");
            None
        });
    let secrets = Api::<Secret>::namespaced(client.clone(), &ns);
    let mut creds = PullCredentials::default();
    for name in secret_names(pod, account.as_ref()) {
        match secrets.get_opt(&name).await {
            Ok(Some(s)) => creds.add_secret(&s),
            Ok(None) => creds.missing.push(name),
            Err(e) => {
                tracing::warn!(error = %e, secret = %name, "reading an image pull secret");
                creds.missing.push(name);
            }
        }
    }
    creds
}

/// Pulls `spec` through `pull` with each matching credential in turn, or
/// anonymously when none matches. `pull` is the agent's single-flight pull
/// of one image with one credential.
pub async fn pull<F, Fut>(
    spec: &ImageSpec,
    creds: &PullCredentials,
    mut pull: F,
) -> Result<ImageStatus, PullError>
where
    F: FnMut(RegistryAuth) -> Fut,
    Fut: Future<Output = skiff_runtime::Result<ImageStatus>>,
{
    if let Some((name, source)) = &creds.invalid {
        return Err(PullError::BadSecret {
            name: name.clone(),
            message: source.to_string(),
        });
    }
    let mut candidates = creds.keyring.lookup(&spec.image).into_iter();
    let Some(first) = candidates.next() else {
        return pull(RegistryAuth::Anonymous)
            .await
            .map_err(PullError::Runtime);
    };
    let first_error = match pull(first).await {
        Ok(s) => return Ok(s),
        Err(e) => e,
    };
    for auth in candidates {
        if let Ok(s) = pull(auth).await {
            return Ok(s);
        }
    }
    Err(PullError::Runtime(first_error))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use k8s_openapi::ByteString;
    use k8s_openapi::api::core::v1::{LocalObjectReference, PodSpec};

    use super::*;

    fn secret(name: &str, type_: &str, key: &str, value: &str) -> Secret {
        Secret {
            metadata: kube::api::ObjectMeta {
                name: Some(name.into()),
                ..Default::default()
            },
            type_: Some(type_.into()),
            data: Some(BTreeMap::from([(
                key.to_owned(),
                ByteString(value.as_bytes().to_vec()),
            )])),
            ..Default::default()
        }
    }

    fn refs(names: &[&str]) -> Option<Vec<LocalObjectReference>> {
        Some(
            names
                .iter()
                .map(|n| LocalObjectReference { name: (*n).into() })
                .collect(),
        )
    }

    #[test]
    fn both_secret_types_count_and_others_do_not() {
        let mut c = PullCredentials::default();
        c.add_secret(&secret(
            "a",
            DOCKER_CONFIG_JSON.0,
            DOCKER_CONFIG_JSON.1,
            r#"{"auths":{"r1.io":{"username":"u1","password":"p1"}}}"#,
        ));
        c.add_secret(&secret(
            "b",
            DOCKERCFG.0,
            DOCKERCFG.1,
            r#"{"r2.io":{"username":"u2","password":"p2"}}"#,
        ));
        c.add_secret(&secret(
            "c",
            "Opaque",
            DOCKER_CONFIG_JSON.1,
            r#"{"auths":{"r3.io":{"username":"u3","password":"p3"}}}"#,
        ));
        assert_eq!(c.keyring.lookup("r1.io/app").len(), 1);
        assert_eq!(c.keyring.lookup("r2.io/app").len(), 1);
        assert!(c.keyring.lookup("r3.io/app").is_empty());
        assert!(c.invalid.is_none());
        c.add_secret(&secret("d", DOCKERCFG.0, DOCKERCFG.1, "{"));
        assert_eq!(c.invalid.as_ref().map(|(n, _)| n.as_str()), Some("d"));
    }

    #[test]
    fn names_come_from_the_pod_then_its_account_once_each() {
        let pod = Pod {
            spec: Some(PodSpec {
                image_pull_secrets: refs(&["a", "b"]),
                ..Default::default()
            }),
            ..Default::default()
        };
        let sa = ServiceAccount {
            image_pull_secrets: refs(&["b", "c"]),
            ..Default::default()
        };
        assert_eq!(secret_names(&pod, Some(&sa)), ["a", "b", "c"]);
        assert_eq!(secret_names(&pod, None), ["a", "b"]);
    }

    #[test]
    fn the_warning_names_missing_secrets_as_the_kubelet_does() {
        let c = PullCredentials {
            missing: vec!["x".into(), "y".into()],
            ..Default::default()
        };
        assert_eq!(
            c.warning().as_deref(),
            Some(
                "Unable to retrieve some image pull secrets (x, y); attempting to pull the image may not succeed."
            )
        );
        assert!(PullCredentials::default().warning().is_none());
    }
}
