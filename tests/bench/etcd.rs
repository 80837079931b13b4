//! etcd for the store comparison: a single-member etcd on loopback ports
//! with its data in a temporary directory (fsync on, as etcd ships), driven
//! by the gRPC client `etcd-client` (cargo feature `etcd` of skiff-tests).

use std::time::Duration;

use bytes::Bytes;

use crate::stats::Run;

/// Starts etcd, puts `writes` values (the store bench's keys) from `clients`
/// clients with a connection each, stops etcd.
#[cfg(feature = "etcd")]
pub(crate) async fn run(
    bin: &str,
    clients: usize,
    writes: usize,
    limit: Duration,
    value: Bytes,
) -> anyhow::Result<Run> {
    use anyhow::Context;

    use crate::stats::drive;
    use crate::store::key;

    let server = Etcd::start(bin)?;
    let mut conns = Vec::with_capacity(clients);
    for _ in 0..clients.max(1) {
        conns.push(
            etcd_client::Client::connect([server.endpoint.as_str()], None)
                .await
                .context("connecting to etcd")?,
        );
    }
    // The member must have elected itself before the clock starts.
    let mut probe = conns[0].clone();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while let Err(e) = probe.put("/skiff-bench/ready", "1", None).await {
        if std::time::Instant::now() > deadline {
            return Err(e).context("etcd did not accept a put within 30 s");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let run = drive(conns.len(), writes, limit, move |w, i| {
        let mut client = conns[w % conns.len()].clone();
        let value = value.clone();
        async move {
            client.put(key(i), value.to_vec(), None).await?;
            Ok(())
        }
    })
    .await;
    drop(server);
    Ok(run)
}

/// Without the `etcd` feature there is no gRPC client to drive etcd with.
#[cfg(not(feature = "etcd"))]
pub(crate) async fn run(
    _bin: &str,
    _clients: usize,
    _writes: usize,
    _limit: Duration,
    _value: Bytes,
) -> anyhow::Result<Run> {
    anyhow::bail!(
        "built without the etcd client: run with `--features etcd` (needs protoc: apt-get install -y protobuf-compiler)"
    )
}

/// A running etcd process, killed and its data removed on drop.
#[cfg(feature = "etcd")]
struct Etcd {
    child: std::process::Child,
    endpoint: String,
    _dir: tempfile::TempDir,
}

#[cfg(feature = "etcd")]
impl Etcd {
    fn start(bin: &str) -> anyhow::Result<Etcd> {
        use std::process::{Command, Stdio};
        use std::time::Instant;

        use anyhow::{Context, bail};

        let dir = tempfile::Builder::new()
            .prefix("skiff-bench-etcd-")
            .tempdir()?;
        let (client_port, peer_port) = (free_port()?, free_port()?);
        let endpoint = format!("http://127.0.0.1:{client_port}");
        let peer = format!("http://127.0.0.1:{peer_port}");
        let log = std::fs::File::create(dir.path().join("etcd.log"))?;
        let child = Command::new(bin)
            .arg("--name=bench")
            .arg(format!("--data-dir={}", dir.path().join("data").display()))
            .arg(format!("--listen-client-urls={endpoint}"))
            .arg(format!("--advertise-client-urls={endpoint}"))
            .arg(format!("--listen-peer-urls={peer}"))
            .arg(format!("--initial-advertise-peer-urls={peer}"))
            .arg(format!("--initial-cluster=bench={peer}"))
            .arg("--listen-metrics-urls=")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {bin} (Debian: apt-get install -y etcd-server)"))?;
        let mut etcd = Etcd {
            child,
            endpoint,
            _dir: dir,
        };
        // Ready once it answers on the client port; a single member elects itself at once.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = etcd.child.try_wait()? {
                bail!(
                    "etcd exited with {status}: see {}",
                    etcd._dir.path().join("etcd.log").display()
                );
            }
            if std::net::TcpStream::connect(("127.0.0.1", client_port)).is_ok() {
                break;
            }
            if Instant::now() > deadline {
                bail!("etcd did not listen within 30 s");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let version = Command::new(bin).arg("--version").output().map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .unwrap_or("")
                .to_owned()
        });
        println!("etcd: {} on {}", version.unwrap_or_default(), etcd.endpoint);
        Ok(etcd)
    }
}

#[cfg(feature = "etcd")]
impl Drop for Etcd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(feature = "etcd")]
fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}
