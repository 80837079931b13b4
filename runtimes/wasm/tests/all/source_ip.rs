//! Outgoing HTTP leaves from the pod's IP: a Wasm service calling another
//! service is seen by the callee (and by NetworkPolicies) as its pod, as a
//! native pod would be, not as whatever address the node's routes prefer.
//!
//! Everything happens inside a network namespace the test creates, holding
//! two addresses on its loopback: the caller's pod IP and the callee's. The
//! kernel would pick the callee's own address as the source of a connection
//! to it, so only a bound source shows the pod IP.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::sched::{CloneFlags, setns};
use skiff_runtime::{ContainerState, PodSandboxConfig, Runtime};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::support::{Env, examples, http_get};

const POD_IP: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 1);
const UPSTREAM_IP: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 2);

fn ip(args: &[&str]) {
    let out = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("running ip (iproute2)");
    assert!(
        out.status.success(),
        "ip {} (this test needs root): {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr).trim()
    );
}

/// A network namespace with loopback up and both test addresses on it;
/// deleted on drop.
struct Netns {
    name: String,
}

impl Netns {
    fn new() -> Netns {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let ns = Netns {
            name: format!("skiff-wasm-src-{}-{n}", std::process::id()),
        };
        ip(&["netns", "add", &ns.name]);
        ip(&["-n", &ns.name, "link", "set", "lo", "up"]);
        for a in [POD_IP, UPSTREAM_IP] {
            ip(&[
                "-n",
                &ns.name,
                "addr",
                "add",
                &format!("{a}/32"),
                "dev",
                "lo",
            ]);
        }
        ns
    }

    /// Runs `f` on a new thread that entered the namespace; threads it
    /// starts (the tokio runtime's) are born inside too.
    fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        let file = std::fs::File::open(format!("/run/netns/{}", self.name)).unwrap();
        std::thread::scope(|s| {
            s.spawn(move || {
                setns(&file, CloneFlags::CLONE_NEWNET).unwrap();
                f()
            })
            .join()
            .unwrap()
        })
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// A plain HTTP/1.1 server that answers every request with the address it
/// came from, and records that address.
async fn upstream(listener: TcpListener, peers: Arc<Mutex<Vec<IpAddr>>>) {
    // Bounded: the test makes one call.
    for _ in 0..8 {
        let Ok((mut conn, peer)) = listener.accept().await else {
            return;
        };
        peers.lock().unwrap().push(peer.ip());
        let mut head = Vec::new();
        let mut buf = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            match conn.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => head.extend_from_slice(&buf[..n]),
            }
        }
        let body = format!("from {}\n", peer.ip());
        let resp = format!(
            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        let _ = conn.write_all(resp.as_bytes()).await;
        let _ = conn.shutdown().await;
    }
}

#[test]
fn outgoing_http_leaves_from_the_pod_ip() {
    // Built outside the namespace: the build needs nothing from it.
    examples();
    let ns = Netns::new();
    let (answer, peers) = ns.run(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let listener = TcpListener::bind(SocketAddr::new(UPSTREAM_IP.into(), 0))
                .await
                .unwrap();
            let target = listener.local_addr().unwrap();
            let peers = Arc::new(Mutex::new(Vec::new()));
            tokio::spawn(upstream(listener, peers.clone()));

            let env = Env::new();
            let mut sandbox =
                PodSandboxConfig::new("test", "caller", env.dir.path().join("logs/caller"));
            sandbox.pod_ip = Some(POD_IP.into());
            let sb = env.rt.run_pod_sandbox(&sandbox).await.unwrap();
            let config = env
                .config("http-caller", "caller")
                .await
                .with_port(0)
                .with_env("UPSTREAM_URL", format!("http://{target}/"));
            let id = env.rt.create_container(&sb, &config).await.unwrap();
            env.rt.start_container(&id).await.unwrap();
            let st = env.rt.container_status(&id).await.unwrap();
            assert_eq!(st.state, ContainerState::Running);
            let caller = st.listening[0];
            assert_eq!(caller.ip(), IpAddr::from(POD_IP), "listens on its pod IP");

            let answer = tokio::task::spawn_blocking(move || http_get(caller, "/"));
            let answer = tokio::time::timeout(Duration::from_secs(60), answer)
                .await
                .expect("the caller did not answer")
                .unwrap();
            env.rt
                .stop_container(&id, Duration::from_secs(1))
                .await
                .unwrap();
            let peers = peers.lock().unwrap().clone();
            (answer, peers)
        })
    });
    assert_eq!(
        answer,
        (200, format!("caller got 200: from {POD_IP}\n")),
        "the callee must see the caller's pod IP"
    );
    assert_eq!(peers, vec![IpAddr::from(POD_IP)]);
}
