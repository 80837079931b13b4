//! Builds the busybox image once per test run and serves it from a loopback
//! `docker-registry` (see shared machine notes): no network beyond 127.0.0.1.

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

/// Set to skip these tests (they need root, umoci, skopeo, docker-registry
/// and runc). CI never sets it.
pub const SKIP_ENV: &str = "SKIFF_SKIP_NATIVE_TESTS";

pub struct Fixture {
    pub image: String,
    _registry: Mutex<Child>,
}

static FIXTURE: OnceLock<Fixture> = OnceLock::new();

/// `None` only when SKIP_ENV is set; otherwise panics if the machine lacks
/// what the tests need.
pub fn fixture() -> Option<&'static Fixture> {
    if std::env::var_os(SKIP_ENV).is_some() {
        eprintln!("skipped: {SKIP_ENV} is set");
        return None;
    }
    assert!(
        nix_is_root(),
        "native runtime tests need root (set {SKIP_ENV}=1 to skip them explicitly)"
    );
    Some(FIXTURE.get_or_init(build))
}

fn nix_is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
}

fn sh(cmd: &str) {
    let out = Command::new("sh").arg("-ec").arg(cmd).output().unwrap();
    assert!(
        out.status.success(),
        "{cmd}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn build() -> Fixture {
    let dir = tempfile::Builder::new()
        .prefix("skiff-native-fixture")
        .tempdir()
        .unwrap()
        .keep();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cfg = dir.join("registry.yml");
    std::fs::write(
        &cfg,
        format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n",
            dir.join("registry").display()
        ),
    )
    .unwrap();
    // The registry dies when this test process does, and the fixture
    // directory goes with it: its watchdog shell reads our end of a pipe,
    // which closes on exit.
    let mut registry = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "docker-registry serve {} >{}/registry.log 2>&1 & pid=$!; read _; kill $pid; wait $pid 2>/dev/null; rm -rf {}",
            cfg.display(),
            dir.display(),
            dir.display()
        ))
        .stdin(Stdio::piped())
        .spawn()
        .expect("docker-registry (apt install docker-registry)");
    let _ = registry.stdin.as_mut().map(|s| s.flush());
    let oci = dir.join("oci");
    let b = dir.join("bundle");
    sh(&format!(
        "umoci init --layout {o}
         umoci new --image {o}:1
         umoci unpack --image {o}:1 {b}
         mkdir -p {b}/rootfs/bin {b}/rootfs/tmp
         cp /bin/busybox {b}/rootfs/bin/busybox
         for a in $(/bin/busybox --list); do [ \"$a\" = busybox ] || ln -sf busybox {b}/rootfs/bin/$a; done
         umoci repack --image {o}:1 {b}
         umoci config --image {o}:1 --config.cmd=sh --config.env=PATH=/bin",
        o = oci.display(),
        b = b.display()
    ));
    wait_port(port);
    sh(&format!(
        "skopeo copy --quiet --dest-tls-verify=false oci:{}:1 docker://127.0.0.1:{port}/busybox:1",
        oci.display()
    ));
    Fixture {
        image: format!("127.0.0.1:{port}/busybox:1"),

        _registry: Mutex::new(registry),
    }
}

fn wait_port(port: u16) {
    for _ in 0..100 {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("registry on port {port} did not come up");
}

/// Path of the shim binary cargo built for these tests.
pub fn shim() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_skiff-native-shim"))
}
