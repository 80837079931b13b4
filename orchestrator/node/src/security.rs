//! A container's effective `securityContext`: the pod's
//! `PodSecurityContext` under the container's own, merged the way the
//! kubelet does (a field the container sets wins), into the plain
//! [`skiff_runtime::SecurityContext`] the runtimes enforce.
//!
//! The Wasm runtime ignores it: a Wasm container has no uid, capabilities
//! or syscalls to confine (see docs/pod-features.md).

use k8s_openapi::api::core::v1::{Container, PodSpec, SeccompProfile as K8sSeccomp};
use skiff_runtime::{SeccompProfile, SecurityContext};

/// The merged security settings of container `c` of a pod with `spec`; an
/// error is the message of a `CreateContainerConfigError`.
pub fn effective(spec: &PodSpec, c: &Container) -> Result<SecurityContext, String> {
    let pod = spec.security_context.clone().unwrap_or_default();
    let own = c.security_context.clone().unwrap_or_default();
    let caps = own.capabilities.unwrap_or_default();
    let id = |field: &str, v: Option<i64>| -> Result<Option<u32>, String> {
        v.map(|v| u32::try_from(v).map_err(|_| format!("{field} {v} is not a valid id")))
            .transpose()
    };
    let mut supplemental_groups = Vec::new();
    for g in pod.supplemental_groups.iter().flatten() {
        supplemental_groups.extend(id("supplementalGroups", Some(*g))?);
    }
    // The volumes are made group-owned by fsGroup in `volumes::ownership`.
    if let Some(g) = id("fsGroup", pod.fs_group)?
        && !supplemental_groups.contains(&g)
    {
        supplemental_groups.push(g);
    }
    Ok(SecurityContext {
        privileged: own.privileged.unwrap_or(false),
        capabilities_add: caps.add.unwrap_or_default(),
        capabilities_drop: caps.drop.unwrap_or_default(),
        allow_privilege_escalation: own.allow_privilege_escalation,
        read_only_root_filesystem: own.read_only_root_filesystem.unwrap_or(false),
        seccomp: seccomp(own.seccomp_profile.or(pod.seccomp_profile))?,
        run_as_user: id("runAsUser", own.run_as_user.or(pod.run_as_user))?,
        run_as_group: id("runAsGroup", own.run_as_group.or(pod.run_as_group))?,
        run_as_non_root: own.run_as_non_root.or(pod.run_as_non_root) == Some(true),
        supplemental_groups,
    })
}

/// `seccompProfile` by its `type`; unset means `Unconfined`, as in
/// Kubernetes.
fn seccomp(p: Option<K8sSeccomp>) -> Result<SeccompProfile, String> {
    let Some(p) = p else {
        return Ok(SeccompProfile::Unconfined);
    };
    match p.type_.as_str() {
        "Unconfined" => Ok(SeccompProfile::Unconfined),
        "RuntimeDefault" => Ok(SeccompProfile::RuntimeDefault),
        "Localhost" => p
            .localhost_profile
            .map(SeccompProfile::Localhost)
            .ok_or_else(|| "seccompProfile.localhostProfile must be set for Localhost".into()),
        other => Err(format!("unknown seccompProfile.type {other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::{
        Capabilities, PodSecurityContext, SecurityContext as K8sSecurityContext,
    };

    use super::*;

    fn spec(pod: PodSecurityContext) -> PodSpec {
        PodSpec {
            security_context: Some(pod),
            ..Default::default()
        }
    }

    #[test]
    fn container_fields_win_over_the_pods() {
        let pod = spec(PodSecurityContext {
            run_as_user: Some(1000),
            run_as_group: Some(3000),
            run_as_non_root: Some(true),
            fs_group: Some(2000),
            supplemental_groups: Some(vec![4000, 2000]),
            seccomp_profile: Some(K8sSeccomp {
                type_: "RuntimeDefault".into(),
                localhost_profile: None,
            }),
            ..Default::default()
        });
        let c = Container {
            security_context: Some(K8sSecurityContext {
                run_as_user: Some(1001),
                capabilities: Some(Capabilities {
                    add: Some(vec!["NET_ADMIN".into()]),
                    drop: Some(vec!["ALL".into()]),
                }),
                read_only_root_filesystem: Some(true),
                allow_privilege_escalation: Some(false),
                ..Default::default()
            }),
            ..Default::default()
        };
        let s = effective(&pod, &c).unwrap();
        assert_eq!(s.run_as_user, Some(1001));
        assert_eq!(s.run_as_group, Some(3000));
        assert!(s.run_as_non_root);
        assert_eq!(s.supplemental_groups, vec![4000, 2000]);
        assert_eq!(s.seccomp, SeccompProfile::RuntimeDefault);
        assert_eq!(s.capabilities_add, vec!["NET_ADMIN"]);
        assert_eq!(s.capabilities_drop, vec!["ALL"]);
        assert!(s.read_only_root_filesystem);
        assert_eq!(s.allow_privilege_escalation, Some(false));
    }

    #[test]
    fn defaults_and_bad_values() {
        let none = effective(&PodSpec::default(), &Container::default()).unwrap();
        assert_eq!(none, SecurityContext::default());
        let negative = spec(PodSecurityContext {
            run_as_user: Some(-1),
            ..Default::default()
        });
        assert_eq!(
            effective(&negative, &Container::default()).unwrap_err(),
            "runAsUser -1 is not a valid id"
        );
        let localhost = spec(PodSecurityContext {
            seccomp_profile: Some(K8sSeccomp {
                type_: "Localhost".into(),
                localhost_profile: None,
            }),
            ..Default::default()
        });
        assert!(effective(&localhost, &Container::default()).is_err());
    }
}
