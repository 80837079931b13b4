//! Sandboxes sharing the node's namespaces (`hostNetwork`, `hostPID`,
//! `hostIPC`): the containers are in the namespaces of the process that
//! runs the runtime, which here is the test itself.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::time::Duration;

use skiff_runtime::logs::{Stream, lines};
use skiff_runtime::{
    ContainerConfig, ContainerState, ImageSpec, NamespaceMode, NamespaceOption, PodSandboxConfig,
    RegistryAuth, Runtime,
};
use skiff_runtime_native::{NativeRuntime, NativeRuntimeConfig};

use crate::fixture::{Fixture, fixture, shim};

struct Env {
    rt: NativeRuntime,
    pod: String,
    image: ImageSpec,
    dir: tempfile::TempDir,
}

impl Drop for Env {
    /// A failed assertion skips the clean-up: kill what is left and
    /// unmount, so one failure leaves nothing running on the machine.
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        let state = self.dir.path().join("state");
        let _ = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!(
                "for p in {s}/containers/*/pid; do [ -f \"$p\" ] && kill -9 \"$(cat \"$p\")\"; done; sleep 0.3; \
                 awk '$2 ~ \"^{s}/\" {{print $2}}' /proc/mounts | sort -r | xargs -r -n1 umount -l",
                s = state.display()
            ))
            .status();
    }
}

fn config(dir: &Path) -> NativeRuntimeConfig {
    let mut cfg = NativeRuntimeConfig::new(dir.join("state"));
    cfg.shim = shim().to_owned();
    cfg.pids_limit = Some(256);
    cfg
}

async fn setup(f: &Fixture, pod_name: &str, namespaces: NamespaceOption) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let rt = NativeRuntime::new(config(dir.path())).unwrap();
    let image = ImageSpec::new(&f.image);
    rt.images()
        .pull_image(&image, &RegistryAuth::Anonymous)
        .await
        .unwrap();
    let mut sandbox = PodSandboxConfig::new("default", pod_name, dir.path().join("logs"));
    sandbox.pod_ip = Some(Ipv4Addr::LOCALHOST.into());
    sandbox.namespaces = namespaces;
    let pod = rt.run_pod_sandbox(&sandbox).await.unwrap();
    Env {
        rt,
        pod,
        image,
        dir,
    }
}

fn shell(env: &Env, name: &str, script: &str) -> ContainerConfig {
    let mut c = ContainerConfig::new(name, env.image.clone());
    c.command = vec!["sh".into(), "-c".into(), script.into()];
    c
}

/// Runs `script` to completion; its stdout lines.
async fn output(env: &Env, name: &str, script: &str) -> Vec<String> {
    let id = env
        .rt
        .create_container(&env.pod, &shell(env, name, script))
        .await
        .unwrap();
    env.rt.start_container(&id).await.unwrap();
    let st = tokio::time::timeout(Duration::from_secs(60), env.rt.wait_container(&id))
        .await
        .expect("container did not exit in 60 s")
        .unwrap();
    let text = std::fs::read_to_string(&st.log_path).unwrap_or_default();
    assert_eq!(
        st.exit_code,
        Some(0),
        "{name}: {:?}",
        lines(&text, Some(Stream::Stderr))
    );
    env.rt.remove_container(&id).await.unwrap();
    lines(&text, Some(Stream::Stdout))
}

/// The test process's namespace of `kind`, as `readlink` prints it.
fn own_ns(kind: &str) -> String {
    std::fs::read_link(format!("/proc/self/ns/{kind}"))
        .unwrap()
        .display()
        .to_string()
}

/// Interface names in /proc/net/dev of the reader's network namespace.
fn interfaces(proc_net_dev: &str) -> Vec<String> {
    proc_net_dev
        .lines()
        .skip(2)
        .filter_map(|l| l.split(':').next())
        .map(|n| n.trim().to_owned())
        .collect()
}

/// A port free on 127.0.0.1 just now.
fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// GET / on 127.0.0.1:`port`, retried while the server comes up.
fn http_get(port: u16) -> Option<String> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    for _ in 0..100 {
        if let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_secs(1)) {
            let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
            let _ = s.write_all(b"GET /index.html HTTP/1.0\r\nHost: x\r\n\r\n");
            let mut body = String::new();
            let _ = s.read_to_string(&mut body);
            if !body.is_empty() {
                return Some(body);
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    None
}

#[tokio::test]
async fn host_net_container_is_in_the_callers_network_namespace() {
    let Some(f) = fixture() else { return };
    let env = setup(f, "hostns-net", NamespaceOption::host(true, false, false)).await;
    let ours = interfaces(&std::fs::read_to_string("/proc/net/dev").unwrap());
    let node_hostname = nix::unistd::gethostname()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let out = output(
        &env,
        "look",
        "readlink /proc/self/ns/net; hostname; cat /etc/hostname; head -n 1 /etc/hosts; \
         tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '",
    )
    .await;
    assert_eq!(out.first(), Some(&own_ns("net")), "{out:?}");
    assert_eq!(out.get(1), Some(&node_hostname), "uname hostname: {out:?}");
    assert_eq!(out.get(2), Some(&node_hostname), "/etc/hostname: {out:?}");
    assert_eq!(
        out.get(3).map(String::as_str),
        Some("# Kubernetes-managed hosts file (host network).")
    );
    let theirs = out.get(4..).unwrap_or_default();
    // Veth pairs come and go as other tests on the machine run.
    for i in ours.iter().filter(|i| !i.starts_with("veth")) {
        assert!(
            theirs.contains(i),
            "{i} missing from the container's {theirs:?}"
        );
    }
    // The node's hostname was not changed by the container.
    assert_eq!(
        nix::unistd::gethostname().unwrap().to_string_lossy(),
        node_hostname
    );

    // A server in the container listens on the caller's loopback.
    let port = free_port();
    let server = shell(
        &env,
        "web",
        &format!(
            "mkdir -p /www; echo from-the-pod > /www/index.html; exec httpd -f -p 127.0.0.1:{port} -h /www"
        ),
    );
    let id = env.rt.create_container(&env.pod, &server).await.unwrap();
    env.rt.start_container(&id).await.unwrap();
    let body = tokio::task::spawn_blocking(move || http_get(port))
        .await
        .unwrap();
    assert!(
        body.as_deref().is_some_and(|b| b.contains("from-the-pod")),
        "{body:?}"
    );

    // exec joins it there too.
    let cmd = ["sh", "-c", "readlink /proc/self/ns/net; hostname"].map(String::from);
    let r = env
        .rt
        .exec_sync(&id, &cmd, Duration::from_secs(20))
        .await
        .unwrap();
    assert_eq!(r.exit_code, 0, "{}", String::from_utf8_lossy(&r.stderr));
    assert_eq!(
        String::from_utf8_lossy(&r.stdout)
            .lines()
            .collect::<Vec<_>>(),
        [own_ns("net"), node_hostname.clone()]
    );

    // A new runtime process (the agent restarted) adopts the sandbox as it
    // was: on the node's network, with no namespace file to keep.
    let again = NativeRuntime::new(config(env.dir.path())).unwrap();
    let listed = again.list_pod_sandboxes().await.unwrap();
    let sb = listed.iter().find(|s| s.id == env.pod).expect("listed");
    assert_eq!(sb.config.namespaces.network, NamespaceMode::Node);
    assert_eq!(
        again.container_status(&id).await.unwrap().state,
        ContainerState::Running
    );
    again
        .stop_container(&id, Duration::from_secs(1))
        .await
        .unwrap();
    again.remove_pod_sandbox(&env.pod).await.unwrap();
    assert!(again.list_pod_sandboxes().await.unwrap().is_empty());
    assert!(
        !env.dir.path().join("state/netns").exists()
            || std::fs::read_dir(env.dir.path().join("state/netns"))
                .unwrap()
                .next()
                .is_none(),
        "no network namespace file for a host-network sandbox"
    );
}

#[tokio::test]
async fn host_pid_container_sees_the_callers_processes() {
    let Some(f) = fixture() else { return };
    let me = std::process::id();
    let env = setup(f, "hostns-pid", NamespaceOption::host(false, true, true)).await;
    let out = output(
        &env,
        "ps",
        &format!(
            "readlink /proc/self/ns/pid; readlink /proc/self/ns/ipc; readlink /proc/self/ns/net; \
             echo $$; ls /proc | grep -x {me}; tr '\\0' ' ' < /proc/{me}/cmdline"
        ),
    )
    .await;
    assert_eq!(out.first(), Some(&own_ns("pid")), "{out:?}");
    assert_eq!(out.get(1), Some(&own_ns("ipc")), "{out:?}");
    assert_ne!(
        out.get(2),
        Some(&own_ns("net")),
        "the network stays the pod's"
    );
    assert_ne!(
        out.get(3).map(String::as_str),
        Some("1"),
        "not PID 1: {out:?}"
    );
    assert_eq!(out.get(4), Some(&me.to_string()), "{out:?}");
    let exe = std::env::args().next().unwrap_or_default();
    assert!(
        out.get(5).is_some_and(|c| c.starts_with(&exe)),
        "the test's command line: {out:?}"
    );

    // What the main process leaves behind goes with it, as in a PID
    // namespace of its own.
    let out = output(&env, "orphan", "sleep 1000 & echo $!").await;
    let orphan: i32 = out.first().and_then(|p| p.parse().ok()).expect("a pid");
    let gone = (0..100).any(|_| {
        let alive = std::fs::read_to_string(format!("/proc/{orphan}/cmdline"))
            .is_ok_and(|c| c.starts_with("sleep"));
        if alive {
            std::thread::sleep(Duration::from_millis(50));
        }
        !alive
    });
    assert!(gone, "sleep {orphan} outlived its container");

    // A pod-private PID namespace does not show the caller.
    let private = setup(f, "hostns-private", NamespaceOption::default()).await;
    let out = output(
        &private,
        "ps",
        &format!("echo $$; ls /proc | grep -cx {me} || true"),
    )
    .await;
    assert_eq!(out, ["1", "0"]);
    private.rt.remove_pod_sandbox(&private.pod).await.unwrap();
    env.rt.remove_pod_sandbox(&env.pod).await.unwrap();
}
