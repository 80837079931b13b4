//! What a container may not do: Docker's default capabilities, Kubernetes'
//! capability add/drop and `privileged`, no_new_privs, masked and read-only
//! paths, `readOnlyRootFilesystem`, the RuntimeDefault seccomp profile, the
//! devices cgroup, the open-files limit and the kubelet's /etc files.

use std::process::Command;
use std::time::Duration;

use skiff_runtime::logs::{Stream, lines};
use skiff_runtime::{
    ContainerConfig, ImageSpec, PodSandboxConfig, RegistryAuth, Runtime, SeccompProfile,
    SecurityContext,
};
use skiff_runtime_native::{NativeRuntime, NativeRuntimeConfig};

use crate::fixture::{Fixture, fixture, shim};

struct Pod {
    rt: NativeRuntime,
    id: String,
    image: ImageSpec,
    dir: tempfile::TempDir,
}

impl Drop for Pod {
    /// As in `run.rs`: after a failed assertion, kill and unmount what is left.
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        let _ = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "for p in {s}/containers/*/pid; do [ -f \"$p\" ] && kill -9 \"$(cat \"$p\")\"; done; sleep 0.3; \
                 awk '$2 ~ \"^{s}/\" {{print $2}}' /proc/mounts | sort -r | xargs -r -n1 umount -l",
                s = self.dir.path().join("state").display()
            ))
            .status();
    }
}

/// A pod named `name` whose sandbox config carries a pod IP (no network is
/// configured, so it only shows up in /etc/hosts).
async fn pod(f: &Fixture, name: &str) -> Pod {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = NativeRuntimeConfig::new(dir.path().join("state"));
    cfg.shim = shim().to_owned();
    let rt = NativeRuntime::new(cfg).unwrap();
    let image = ImageSpec::new(&f.image);
    rt.images()
        .pull_image(&image, &RegistryAuth::Anonymous)
        .await
        .unwrap();
    let mut sandbox = PodSandboxConfig::new("default", name, dir.path().join("logs"));
    sandbox.pod_ip = Some("10.244.7.9".parse().unwrap());
    let id = rt.run_pod_sandbox(&sandbox).await.unwrap();
    Pod { rt, id, image, dir }
}

impl Pod {
    /// Runs `script` with `security`; returns exit code, stdout and stderr lines.
    async fn sh(&self, name: &str, security: SecurityContext, script: &str) -> Output {
        let mut c = ContainerConfig::new(name, self.image.clone());
        c.command = vec!["sh".into(), "-c".into(), script.into()];
        c.security = security;
        let id = self.rt.create_container(&self.id, &c).await.unwrap();
        self.rt.start_container(&id).await.unwrap();
        let st = tokio::time::timeout(Duration::from_secs(60), self.rt.wait_container(&id))
            .await
            .expect("container did not exit in 60 s")
            .unwrap();
        let text = std::fs::read_to_string(&st.log_path).unwrap_or_default();
        self.rt.remove_container(&id).await.unwrap();
        Output {
            code: st.exit_code.unwrap_or(-1),
            out: lines(&text, Some(Stream::Stdout)),
            err: lines(&text, Some(Stream::Stderr)),
        }
    }

    async fn teardown(self) {
        self.rt.remove_pod_sandbox(&self.id).await.unwrap();
    }
}

#[derive(Debug)]
struct Output {
    code: i32,
    out: Vec<String>,
    err: Vec<String>,
}

impl Output {
    /// The value after `key` in a `key value` stdout line.
    fn get(&self, key: &str) -> Option<&str> {
        self.out
            .iter()
            .find_map(|l| l.strip_prefix(key))
            .map(str::trim)
    }
}

/// Prints the capability sets and no_new_privs of the container's process.
const STATUS: &str = "grep -E '^(CapEff|CapBnd|CapPrm|NoNewPrivs):' /proc/self/status";

/// The host's bounding set: what a privileged container gets.
fn host_bounding() -> String {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("CapBnd:"))
        .unwrap()
        .trim()
        .to_owned()
}

#[tokio::test]
async fn default_container_has_dockers_capabilities_and_no_new_privs() {
    let Some(f) = fixture() else { return };
    let pod = pod(f, "caps-default").await;
    let o = pod
        .sh(
            "caps",
            SecurityContext::default(),
            &format!(
                "{STATUS}; hostname other 2>/dev/null; echo hostname-rc $?; \
                 chown 1:1 /bin/busybox; echo chown-rc $?"
            ),
        )
        .await;
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(o.get("CapEff:"), Some("00000000a80425fb"), "{o:?}");
    assert_eq!(o.get("CapBnd:"), Some("00000000a80425fb"), "{o:?}");
    assert_eq!(o.get("NoNewPrivs:"), Some("1"), "{o:?}");
    // sethostname needs CAP_SYS_ADMIN, chown only CAP_CHOWN.
    assert_ne!(o.get("hostname-rc"), Some("0"), "{o:?}");
    assert_eq!(o.get("chown-rc"), Some("0"), "{o:?}");
    pod.teardown().await;
}

#[tokio::test]
async fn capabilities_add_drop_and_privileged() {
    let Some(f) = fixture() else { return };
    let pod = pod(f, "caps-changed").await;
    let add = SecurityContext {
        capabilities_add: vec!["NET_ADMIN".into()],
        capabilities_drop: vec!["CHOWN".into()],
        ..Default::default()
    };
    let o = pod
        .sh(
            "add",
            add,
            &format!("{STATUS}; ip link set lo mtu 1500; echo ip-rc $?"),
        )
        .await;
    // + NET_ADMIN (bit 12), - CHOWN (bit 0).
    assert_eq!(o.get("CapEff:"), Some("00000000a80435fa"), "{o:?}");
    assert_eq!(o.get("ip-rc"), Some("0"), "{o:?}");

    let none = SecurityContext {
        capabilities_drop: vec!["ALL".into()],
        ..Default::default()
    };
    let o = pod
        .sh(
            "none",
            none,
            &format!("{STATUS}; chown 1:1 /bin/busybox; echo chown-rc $?"),
        )
        .await;
    assert_eq!(o.get("CapEff:"), Some("0000000000000000"), "{o:?}");
    assert_ne!(o.get("chown-rc"), Some("0"), "{o:?}");

    let privileged = SecurityContext {
        privileged: true,
        seccomp: SeccompProfile::RuntimeDefault,
        ..Default::default()
    };
    let o = pod
        .sh(
            "privileged",
            privileged,
            &format!(
                "{STATUS}; hostname other; echo hostname-rc $?; \
                 [ -n \"$(head -c1 /proc/timer_list)\" ] && echo timer_list visible; unshare -U true; echo unshare-rc $?"
            ),
        )
        .await;
    let host = host_bounding();
    assert_eq!(o.get("CapEff:"), Some(host.as_str()), "{o:?}");
    assert_eq!(o.get("NoNewPrivs:"), Some("0"), "{o:?}");
    assert_eq!(o.get("hostname-rc"), Some("0"), "{o:?}");
    assert_eq!(o.get("timer_list"), Some("visible"), "{o:?}");
    assert_eq!(o.get("unshare-rc"), Some("0"), "{o:?}");

    let escalate = SecurityContext {
        allow_privilege_escalation: Some(true),
        ..Default::default()
    };
    let o = pod.sh("escalate", escalate, STATUS).await;
    assert_eq!(o.get("NoNewPrivs:"), Some("0"), "{o:?}");
    pod.teardown().await;
}

#[tokio::test]
async fn masked_and_read_only_paths() {
    let Some(f) = fixture() else { return };
    let pod = pod(f, "paths").await;
    let o = pod
        .sh(
            "paths",
            SecurityContext::default(),
            "[ -n \"$(head -c1 /proc/timer_list)\" ] || echo timer_list empty; ls /sys/firmware | wc -l | sed 's/^/firmware /'; \
             echo 1 > /proc/sys/kernel/ns_last_pid; echo sysctl-rc $?; \
             echo written > /etc/newfile; echo rootfs-rc $?",
        )
        .await;
    assert_eq!(o.get("timer_list"), Some("empty"), "{o:?}");
    assert_eq!(o.get("firmware"), Some("0"), "{o:?}");
    assert_ne!(o.get("sysctl-rc"), Some("0"), "{o:?}");
    assert_eq!(o.get("rootfs-rc"), Some("0"), "{o:?}");

    let ro = SecurityContext {
        read_only_root_filesystem: true,
        ..Default::default()
    };
    let o = pod
        .sh(
            "read-only",
            ro,
            "echo x > /etc/newfile; echo rootfs-rc $?; echo x > /dev/shm/f; echo shm-rc $?; \
             grep -c localhost /etc/hosts | sed 's/^/hosts /'",
        )
        .await;
    assert_ne!(o.get("rootfs-rc"), Some("0"), "{o:?}");
    assert!(o.err.iter().any(|l| l.contains("Read-only")), "{o:?}");
    // Mounts on top of the root stay writable.
    assert_eq!(o.get("shm-rc"), Some("0"), "{o:?}");
    assert_eq!(o.get("hosts"), Some("2"), "{o:?}");
    pod.teardown().await;
}

#[tokio::test]
async fn runtime_default_seccomp_refuses_namespaces_and_keys() {
    let Some(f) = fixture() else { return };
    let pod = pod(f, "seccomp").await;
    let script = "unshare -U true; echo unshare-rc $?";
    // Kubernetes' default: unconfined. A user namespace needs no capability.
    let o = pod
        .sh("unconfined", SecurityContext::default(), script)
        .await;
    assert_eq!(o.get("unshare-rc"), Some("0"), "{o:?}");
    let confined = SecurityContext {
        seccomp: SeccompProfile::RuntimeDefault,
        ..Default::default()
    };
    let o = pod.sh("confined", confined.clone(), script).await;
    assert_ne!(o.get("unshare-rc"), Some("0"), "{o:?}");
    assert!(
        o.err.iter().any(|l| l.contains("Operation not permitted")),
        "{o:?}"
    );
    // Ordinary work is untouched: fork, exec, files, pipes.
    let o = pod
        .sh(
            "ordinary",
            confined.clone(),
            "echo hi | sed s/hi/ok/ > /tmp/f && cat /tmp/f && sh -c 'exit 0' && echo done",
        )
        .await;
    assert_eq!(
        (o.code, o.out.as_slice()),
        (0, &["ok".to_owned(), "done".to_owned()][..]),
        "{o:?}"
    );
    // As in Docker, holding CAP_SYS_ADMIN lifts the namespace rules.
    let admin = SecurityContext {
        capabilities_add: vec!["SYS_ADMIN".into()],
        ..confined
    };
    let o = pod.sh("admin", admin, script).await;
    assert_eq!(o.get("unshare-rc"), Some("0"), "{o:?}");
    pod.teardown().await;
}

#[tokio::test]
async fn devices_rlimits_and_etc_files() {
    let Some(f) = fixture() else { return };
    let pod = pod(f, "etc-files").await;
    let o = pod
        .sh(
            "files",
            SecurityContext::default(),
            "mknod /memdev c 1 1 && echo mknod ok; head -c1 /memdev >/dev/null; echo mem-rc $?; \
             head -c1 /dev/urandom > /dev/null && echo urandom ok; \
             echo nofile $(ulimit -n); cat /etc/hosts; echo hostname $(cat /etc/hostname); \
             [ -f /etc/resolv.conf ] && echo resolv present; \
             grep -c '^nameserver 127\\.' /etc/resolv.conf | sed 's/^/loopback /'",
        )
        .await;
    assert_eq!(o.get("mknod"), Some("ok"), "{o:?}");
    // The devices cgroup lets it create /dev/mem's node but not open it.
    let v1_devices = std::path::Path::new("/sys/fs/cgroup/devices/devices.deny").exists();
    if v1_devices {
        assert_ne!(o.get("mem-rc"), Some("0"), "{o:?}");
    }
    assert_eq!(o.get("urandom"), Some("ok"), "{o:?}");
    let nr_open: u64 = std::fs::read_to_string("/proc/sys/fs/nr_open")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // Docker's 1048576, unless the kernel or this (test) process allows
    // fewer: the runtime never raises its own hard limit.
    let own_hard = std::process::Command::new("sh")
        .args(["-c", "ulimit -Hn"])
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse::<u64>().ok())
        .unwrap_or(u64::MAX);
    assert_eq!(
        o.get("nofile"),
        Some(nr_open.min(1_048_576).min(own_hard).to_string().as_str()),
        "{o:?}"
    );
    assert!(
        o.out
            .iter()
            .any(|l| l == "# Kubernetes-managed hosts file."),
        "{o:?}"
    );
    assert!(o.out.iter().any(|l| l == "10.244.7.9\tetc-files"), "{o:?}");
    assert_eq!(o.get("hostname"), Some("etc-files"), "{o:?}");
    assert_eq!(o.get("resolv"), Some("present"), "{o:?}");
    assert_eq!(o.get("loopback"), Some("0"), "{o:?}");
    pod.teardown().await;
}

#[tokio::test]
async fn exec_gets_the_same_confinement() {
    let Some(f) = fixture() else { return };
    let pod = pod(f, "exec-confined").await;
    let mut c = ContainerConfig::new("sleeper", pod.image.clone());
    c.command = vec!["sleep".into(), "30".into()];
    c.security = SecurityContext {
        seccomp: SeccompProfile::RuntimeDefault,
        ..Default::default()
    };
    let id = pod.rt.create_container(&pod.id, &c).await.unwrap();
    pod.rt.start_container(&id).await.unwrap();
    let cmd: Vec<String> = [
        "sh",
        "-c",
        "grep -E '^(CapEff|NoNewPrivs):' /proc/self/status; unshare -U true; echo unshare-rc $?",
    ]
    .map(String::from)
    .to_vec();
    let r = pod
        .rt
        .exec_sync(&id, &cmd, Duration::from_secs(20))
        .await
        .unwrap();
    let out = String::from_utf8_lossy(&r.stdout);
    let lines: Vec<String> = out
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    assert!(
        lines.iter().any(|l| l == "CapEff: 00000000a80425fb"),
        "{out}"
    );
    assert!(lines.iter().any(|l| l == "NoNewPrivs: 1"), "{out}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("unshare-rc ") && l != "unshare-rc 0"),
        "{out}"
    );
    pod.rt.stop_container(&id, Duration::ZERO).await.unwrap();
    pod.rt.remove_container(&id).await.unwrap();
    pod.teardown().await;
}

#[tokio::test]
async fn run_as_user_group_and_non_root() {
    let Some(f) = fixture() else { return };
    let pod = pod(f, "users").await;
    let ids = SecurityContext {
        run_as_user: Some(1000),
        run_as_group: Some(2000),
        supplemental_groups: vec![3000],
        ..Default::default()
    };
    let o = pod
        .sh(
            "ids",
            ids,
            "grep -E '^(Uid|Gid|Groups):' /proc/self/status; touch /etc/x; echo touch-rc $?",
        )
        .await;
    assert_eq!(o.get("Uid:").map(first), Some("1000"), "{o:?}");
    assert_eq!(o.get("Gid:").map(first), Some("2000"), "{o:?}");
    assert_eq!(o.get("Groups:"), Some("3000"), "{o:?}");
    assert_ne!(o.get("touch-rc"), Some("0"), "a non-root user: {o:?}");

    // busybox runs as root: runAsNonRoot refuses it before anything starts.
    let mut c = ContainerConfig::new("root", pod.image.clone());
    c.command = vec!["true".into()];
    c.security.run_as_non_root = true;
    let err = pod.rt.create_container(&pod.id, &c).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("container has runAsNonRoot and image will run as root"),
        "{err}"
    );
    pod.teardown().await;
}

/// The first field of a `/proc/self/status` id line (real id).
fn first(s: &str) -> &str {
    s.split_whitespace().next().unwrap_or_default()
}
