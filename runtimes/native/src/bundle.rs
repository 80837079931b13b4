//! The OCI runtime bundle: `config.json` built with oci-spec from the image
//! config and the container config, plus `rootfs/` (an overlay mount). The
//! same directory runs under `runc run`, which is how tests cross-check the
//! executor.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use oci_spec::image::ImageConfiguration;
use oci_spec::runtime::{
    LinuxBuilder, LinuxCpuBuilder, LinuxMemoryBuilder, LinuxNamespaceBuilder, LinuxNamespaceType,
    LinuxPidsBuilder, LinuxResourcesBuilder, Mount, MountBuilder, ProcessBuilder, RootBuilder,
    Spec, SpecBuilder, UserBuilder, get_default_maskedpaths, get_default_mounts,
    get_default_readonly_paths,
};
use skiff_runtime::{
    ContainerConfig, NamespaceMode, NamespaceOption, RuntimeError, SecurityContext,
};

use crate::error::BundleError;
use crate::{etcfiles, security};

/// CFS period used for CPU limits (the kernel's and runc's default).
pub const CPU_PERIOD_US: u64 = 100_000;

/// Inputs of a bundle besides the two configs.
#[derive(Debug, Clone)]
pub struct BundleParams {
    /// The container's hostname (the pod name, as in Kubernetes; the
    /// node's for a pod on the node's network).
    pub hostname: String,
    /// Network namespace file of the pod to join; `None` with a pod
    /// network namespace asks for a new one.
    pub netns: Option<PathBuf>,
    /// Which namespaces are the node's: those get no `linux.namespaces`
    /// entry, so the container stays in the shim's (the agent's). A
    /// network namespace of the node's also means its UTS namespace (as
    /// containerd does), so the spec sets no hostname.
    pub namespaces: NamespaceOption,
    /// cgroup path relative to each hierarchy's root.
    pub cgroups_path: String,
    /// Pids limit (the kubelet's pod pids limit).
    pub pids_limit: Option<i64>,
    /// The pod's IP, named in `/etc/hosts`.
    pub pod_ip: Option<IpAddr>,
    /// Directory of the container's `/etc/hosts`, `/etc/hostname` and
    /// `/etc/resolv.conf` ([`write_etc_files`]); `None` leaves the image's.
    pub etc_dir: Option<PathBuf>,
}

/// Writes the files [`build_spec`] bind-mounts from `p.etc_dir`.
pub fn write_etc_files(p: &BundleParams) -> Result<(), RuntimeError> {
    if let Some(dir) = &p.etc_dir {
        etcfiles::write(dir, &p.hostname, p.pod_ip, p.namespaces.host_network())
            .map_err(|e| RuntimeError::io(dir, e))?;
    }
    Ok(())
}

/// The argv Kubernetes runs: `command` replaces the entrypoint, `args`
/// replaces the image's Cmd.
pub fn argv(image: &ImageConfiguration, c: &ContainerConfig) -> Vec<String> {
    let cfg = image.config().as_ref();
    let entrypoint = cfg.and_then(|c| c.entrypoint().clone()).unwrap_or_default();
    let cmd = cfg.and_then(|c| c.cmd().clone()).unwrap_or_default();
    match (c.command.is_empty(), c.args.is_empty()) {
        (false, _) => c.command.iter().chain(&c.args).cloned().collect(),
        (true, false) => entrypoint.into_iter().chain(c.args.clone()).collect(),
        (true, true) => entrypoint.into_iter().chain(cmd).collect(),
    }
}

/// Image env overridden by the container's, in order.
pub fn env(image: &ImageConfiguration, c: &ContainerConfig) -> Vec<String> {
    let mut out: Vec<(String, String)> = Vec::new();
    let image_env = image
        .config()
        .as_ref()
        .and_then(|c| c.env().clone())
        .unwrap_or_default();
    let mut set = |k: &str, v: &str| match out.iter_mut().find(|(n, _)| n == k) {
        Some(e) => e.1 = v.to_owned(),
        None => out.push((k.to_owned(), v.to_owned())),
    };
    if image_env.iter().all(|e| !e.starts_with("PATH=")) {
        set(
            "PATH",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        );
    }
    for e in &image_env {
        let (k, v) = e.split_once('=').unwrap_or((e, ""));
        set(k, v);
    }
    for e in &c.env {
        set(&e.name, &e.value);
    }
    out.into_iter().map(|(k, v)| format!("{k}={v}")).collect()
}

/// The process's `(uid, gid)`: the image's User, with `runAsUser` and
/// `runAsGroup` taking precedence, checked against `runAsNonRoot` with the
/// kubelet's wording.
pub fn process_user(
    image: &ImageConfiguration,
    sec: &SecurityContext,
) -> Result<(u32, u32), RuntimeError> {
    let (uid, gid) = match (sec.run_as_user, sec.run_as_group) {
        (Some(uid), Some(gid)) => (uid, gid),
        (Some(uid), None) => (uid, user(image).map_or(0, |(_, g)| g)),
        (None, group) => {
            let (uid, gid) = user(image)?;
            (uid, group.unwrap_or(gid))
        }
    };
    if sec.run_as_non_root && uid == 0 {
        return Err(RuntimeError::invalid(
            "securityContext.runAsNonRoot",
            "container has runAsNonRoot and image will run as root",
        ));
    }
    Ok((uid, gid))
}

/// Numeric `uid[:gid]` from the image's User.
pub fn user(image: &ImageConfiguration) -> Result<(u32, u32), RuntimeError> {
    let u = image
        .config()
        .as_ref()
        .and_then(|c| c.user().clone())
        .unwrap_or_default();
    if u.is_empty() {
        return Ok((0, 0));
    }
    let (uid, gid) = u.split_once(':').unwrap_or((&u, "0"));
    let parse = |s: &str| {
        s.parse::<u32>().map_err(|_| {
            RuntimeError::invalid(
                "image User",
                format!("{u:?}: only numeric uid[:gid] is supported yet"),
            )
        })
    };
    Ok((parse(uid)?, parse(gid)?))
}

fn bind(source: &Path, destination: &str, readonly: bool) -> Result<Mount, BundleError> {
    let mut options = vec!["rbind".to_owned(), "rprivate".to_owned()];
    if readonly {
        options.push("ro".to_owned());
    }
    Ok(MountBuilder::default()
        .destination(destination)
        .typ("bind")
        .source(source)
        .options(options)
        .build()?)
}

/// Each namespace kind a container may get, and whose it is: the mount
/// namespace is always the container's own; UTS goes with the network.
fn new_namespaces(o: &NamespaceOption) -> [(LinuxNamespaceType, NamespaceMode); 5] {
    [
        (LinuxNamespaceType::Pid, o.pid),
        (LinuxNamespaceType::Ipc, o.ipc),
        (LinuxNamespaceType::Uts, o.network),
        (LinuxNamespaceType::Mount, NamespaceMode::Pod),
        (LinuxNamespaceType::Network, o.network),
    ]
}

/// Builds the runtime spec.
pub fn build_spec(
    image: &ImageConfiguration,
    c: &ContainerConfig,
    p: &BundleParams,
) -> Result<Spec, RuntimeError> {
    let args = argv(image, c);
    if args.is_empty() {
        return Err(RuntimeError::invalid(
            "command",
            "neither the container nor the image names a command",
        ));
    }
    let (uid, gid) = process_user(image, &c.security)?;
    let cwd = c
        .working_dir
        .clone()
        .or_else(|| {
            image
                .config()
                .as_ref()
                .and_then(|c| c.working_dir().clone())
        })
        .filter(|w| !w.is_empty())
        .unwrap_or_else(|| "/".to_owned());
    let spec_err = |e: BundleError| RuntimeError::CreateContainer {
        name: c.name.clone(),
        source: Box::new(e),
    };
    let oci_err = |e: oci_spec::OciSpecError| spec_err(BundleError::Spec(e));
    let sec = &c.security;
    let caps = security::capability_set(sec)?;
    // runc's defaults, minus the cgroup mount (no cgroup namespace yet);
    // a privileged container's /sys is writable, as with containerd.
    let mut mounts: Vec<Mount> = get_default_mounts()
        .into_iter()
        .filter(|m| m.destination() != Path::new("/sys/fs/cgroup"))
        .map(|mut m| {
            if sec.privileged && m.destination() == Path::new("/sys") {
                let opts = m.options().clone().unwrap_or_default();
                m.set_options(Some(opts.into_iter().filter(|o| o != "ro").collect()));
            }
            m
        })
        .collect();
    if let Some(dir) = &p.etc_dir {
        for (file, dest) in etcfiles::FILES {
            mounts.push(bind(&dir.join(file), dest, false).map_err(spec_err)?);
        }
    }
    for m in &c.mounts {
        if !m.container_path.starts_with('/') {
            return Err(RuntimeError::invalid(
                "volumeMounts.mountPath",
                format!("{:?} is not absolute", m.container_path),
            ));
        }
        mounts.push(bind(&m.host_path, &m.container_path, m.readonly).map_err(spec_err)?);
    }
    let mut namespaces = Vec::new();
    for (typ, mode) in new_namespaces(&p.namespaces) {
        if mode == NamespaceMode::Node {
            continue;
        }
        let mut ns = LinuxNamespaceBuilder::default().typ(typ);
        if typ == LinuxNamespaceType::Network
            && let Some(path) = &p.netns
        {
            ns = ns.path(path.clone());
        }
        namespaces.push(ns.build().map_err(oci_err)?);
    }
    let mut resources = LinuxResourcesBuilder::default();
    if let Some(bytes) = c.resources.memory_limit_bytes {
        let bytes = i64::try_from(bytes).unwrap_or(i64::MAX);
        resources = resources.memory(
            LinuxMemoryBuilder::default()
                .limit(bytes)
                .swap(bytes)
                .build()
                .map_err(oci_err)?,
        );
    }
    if let Some(millis) = c.resources.cpu_limit_millis {
        let quota = i64::try_from(millis * CPU_PERIOD_US / 1000).unwrap_or(i64::MAX);
        resources = resources.cpu(
            LinuxCpuBuilder::default()
                .quota(quota.max(1000))
                .period(CPU_PERIOD_US)
                .shares((millis * 1024 / 1000).max(2))
                .build()
                .map_err(oci_err)?,
        );
    }
    if let Some(limit) = p.pids_limit {
        resources = resources.pids(
            LinuxPidsBuilder::default()
                .limit(limit)
                .build()
                .map_err(oci_err)?,
        );
    }
    resources = resources.devices(if sec.privileged {
        vec![
            oci_spec::runtime::LinuxDeviceCgroupBuilder::default()
                .allow(true)
                .access("rwm")
                .build()
                .map_err(oci_err)?,
        ]
    } else {
        security::default_devices()?
    });
    let process = ProcessBuilder::default()
        .terminal(false)
        .args(args)
        .env(env(image, c))
        .cwd(cwd)
        .user(
            UserBuilder::default()
                .uid(uid)
                .gid(gid)
                .additional_gids(sec.supplemental_groups.clone())
                .build()
                .map_err(oci_err)?,
        )
        .no_new_privileges(security::no_new_privileges(sec))
        .capabilities(security::linux_capabilities(&caps)?)
        .rlimits(security::rlimits()?)
        .build()
        .map_err(oci_err)?;
    let mut linux = LinuxBuilder::default()
        .namespaces(namespaces)
        .resources(resources.build().map_err(oci_err)?)
        .cgroups_path(PathBuf::from(format!("/{}", p.cgroups_path)));
    // Set both ways: oci-spec's builder defaults to the masked paths too.
    linux = if sec.privileged {
        linux.masked_paths(Vec::new()).readonly_paths(Vec::new())
    } else {
        linux
            .masked_paths(get_default_maskedpaths())
            .readonly_paths(get_default_readonly_paths())
    };
    if let Some(profile) = security::seccomp(sec, &caps)? {
        linux = linux.seccomp(profile);
    }
    let linux = linux.build().map_err(oci_err)?;
    let mut spec = SpecBuilder::default()
        .version("1.0.2")
        .root(
            RootBuilder::default()
                .path("rootfs")
                .readonly(sec.read_only_root_filesystem)
                .build()
                .map_err(oci_err)?,
        )
        .hostname(p.hostname.clone())
        .process(process)
        .mounts(mounts)
        .linux(linux)
        .build()
        .map_err(oci_err)?;
    if p.namespaces.host_network() {
        // Set in the node's UTS namespace, it would rename the node. (Not
        // merely left unset: the builder would fill in oci-spec's default.)
        spec.set_hostname(None);
    }
    Ok(spec)
}

#[cfg(test)]
mod tests {
    use super::*;
    use skiff_runtime::{ImageSpec, Resources};

    fn image(json: &str) -> ImageConfiguration {
        serde_json::from_str(json).unwrap()
    }

    fn namespace_kinds(spec: &serde_json::Value) -> Vec<String> {
        spec["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["type"].as_str().unwrap().to_owned())
            .collect()
    }

    #[test]
    fn kubernetes_command_rules() {
        let img = image(
            r#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},
               "config":{"Entrypoint":["/bin/ep"],"Cmd":["c1"],"Env":["A=1","PATH=/bin"],"User":"5:6"}}"#,
        );
        let c = ContainerConfig::new("x", ImageSpec::new("i"));
        assert_eq!(argv(&img, &c), ["/bin/ep", "c1"]);
        let c = c.with_args(["a"]);
        assert_eq!(argv(&img, &c), ["/bin/ep", "a"]);
        let mut c = c.with_env("A", "2").with_env("B", "3");
        c.command = vec!["sh".into()];
        assert_eq!(argv(&img, &c), ["sh", "a"]);
        assert_eq!(env(&img, &c), ["A=2", "PATH=/bin", "B=3"]);
        assert_eq!(user(&img).unwrap(), (5, 6));
        let mut sec = SecurityContext {
            run_as_user: Some(7),
            ..Default::default()
        };
        assert_eq!(process_user(&img, &sec).unwrap(), (7, 6));
        sec.run_as_group = Some(8);
        assert_eq!(process_user(&img, &sec).unwrap(), (7, 8));
        sec.run_as_user = Some(0);
        sec.run_as_non_root = true;
        let err = process_user(&img, &sec).unwrap_err().to_string();
        assert!(err.contains("image will run as root"), "{err}");
    }

    #[test]
    fn limits_become_linux_resources() {
        let img = image(
            r#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},
               "config":{"Cmd":["sh"]}}"#,
        );
        let c = ContainerConfig::new("x", ImageSpec::new("i"))
            .with_resources(Resources::from_limits(Some("64Mi"), Some("500m")).unwrap());
        let p = BundleParams {
            hostname: "h".into(),
            netns: Some("/run/netns/x".into()),
            cgroups_path: "skiff/c1".into(),
            pids_limit: Some(64),
            pod_ip: None,
            etc_dir: Some("/state/c1/etc".into()),
            namespaces: NamespaceOption::default(),
        };
        let spec = build_spec(&img, &c, &p).unwrap();
        let json = serde_json::to_value(&spec).unwrap();
        let r = &json["linux"]["resources"];
        assert_eq!(r["memory"]["limit"], 64 * 1024 * 1024);
        assert_eq!(r["cpu"]["quota"], 50_000);
        assert_eq!(r["pids"]["limit"], 64);
        assert_eq!(json["linux"]["cgroupsPath"], "/skiff/c1");
        assert_eq!(json["hostname"], "h");
        let mounts = json["mounts"].as_array().unwrap();
        assert!(
            mounts
                .iter()
                .any(|m| m["destination"] == "/etc/hosts" && m["source"] == "/state/c1/etc/hosts")
        );
        // Docker's defaults, so that runc applies the same.
        assert_eq!(
            json["process"]["capabilities"]["bounding"]
                .as_array()
                .unwrap()
                .len(),
            14
        );
        assert_eq!(json["process"]["noNewPrivileges"], true);
        assert!(json["linux"]["seccomp"].is_null());
        assert_eq!(json["linux"]["resources"]["devices"][0]["allow"], false);
        assert_eq!(
            namespace_kinds(&json),
            ["pid", "ipc", "uts", "mount", "network"]
        );
        assert_eq!(json["linux"]["namespaces"][4]["path"], "/run/netns/x");
    }

    #[test]
    fn host_namespaces_are_left_out_of_the_spec() {
        let img = image(
            r#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},
               "config":{"Cmd":["sh"]}}"#,
        );
        let c = ContainerConfig::new("x", ImageSpec::new("i"));
        let spec_of = |namespaces: NamespaceOption| {
            let p = BundleParams {
                hostname: "node-a".into(),
                netns: None,
                cgroups_path: "skiff/c1".into(),
                pids_limit: None,
                pod_ip: None,
                etc_dir: None,
                namespaces,
            };
            serde_json::to_value(build_spec(&img, &c, &p).unwrap()).unwrap()
        };
        let host_net = spec_of(NamespaceOption::host(true, false, false));
        assert_eq!(namespace_kinds(&host_net), ["pid", "ipc", "mount"]);
        assert!(host_net["hostname"].is_null(), "would rename the node");
        let host_pid_ipc = spec_of(NamespaceOption::host(false, true, true));
        assert_eq!(namespace_kinds(&host_pid_ipc), ["uts", "mount", "network"]);
        assert!(host_pid_ipc["linux"]["namespaces"][2]["path"].is_null());
        assert_eq!(host_pid_ipc["hostname"], "node-a");
    }
}
