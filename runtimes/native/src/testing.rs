//! Test fixtures shared by this crate's tests and the end-to-end tests
//! (feature `testing`): a tiny busybox image built without any network
//! (umoci + the host's static busybox) and a `docker-registry` on loopback
//! serving it — in the test's own network namespace or in one it created.
//! See the machine notes for the tools (`apt-get install docker-registry
//! umoci skopeo busybox-static`).

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

/// Port the registry listens on inside a namespace the test created (it is
/// fresh, so nothing else holds it).
const NETNS_PORT: u16 = 5000;

fn sh(cmd: &str) {
    let out = Command::new("sh")
        .arg("-ec")
        .arg(cmd)
        .output()
        .unwrap_or_else(|e| panic!("running sh: {e}"));
    assert!(
        out.status.success(),
        "{cmd}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The busybox image as an OCI layout (tag `1`): one layer with
/// /bin/busybox and its applet links, `CMD ["sh"]`. Built once per machine
/// into the temp directory (moved into place whole, so concurrent test
/// processes never see half of one) and reused.
pub fn busybox_layout() -> &'static Path {
    static LAYOUT: OnceLock<PathBuf> = OnceLock::new();
    LAYOUT.get_or_init(|| {
        let target = std::env::temp_dir().join("skiff-busybox-oci-1");
        if target.join("index.json").exists() {
            return target;
        }
        let dir = tempfile::Builder::new()
            .prefix("skiff-busybox-")
            .tempdir()
            .unwrap_or_else(|e| panic!("temp dir: {e}"));
        let oci = dir.path().join("oci");
        let b = dir.path().join("bundle");
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
        // Another process may have won the race: its layout is as good.
        if std::fs::rename(&oci, &target).is_err() {
            assert!(
                target.join("index.json").exists(),
                "could not move the busybox layout to {}",
                target.display()
            );
        }
        target
    })
}

/// A `docker-registry` on 127.0.0.1, with its storage in a temp directory.
pub struct Registry {
    /// `127.0.0.1:PORT`, as seen from the namespace it runs in.
    pub addr: String,
    /// The user name and password it requires, if it requires any.
    pub credentials: Option<(String, String)>,
    netns: Option<PathBuf>,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Registry {
    /// Starts one in this process's network namespace, or in the one at
    /// `netns` (a file such as /run/netns/NAME); panics if the machine
    /// lacks `docker-registry`. It stops when dropped, and in any case
    /// when this process exits (a watchdog shell reads our end of a pipe).
    pub fn start(netns: Option<&Path>) -> Registry {
        Registry::start_inner(netns, None)
    }

    /// Like [`Registry::start`], but every request needs HTTP basic auth as
    /// `username`/`password` (an htpasswd file, bcrypt as the registry
    /// demands; `htpasswd` comes with apache2-utils).
    pub fn start_with_auth(netns: Option<&Path>, username: &str, password: &str) -> Registry {
        Registry::start_inner(netns, Some((username, password)))
    }

    fn start_inner(netns: Option<&Path>, auth: Option<(&str, &str)>) -> Registry {
        let dir = tempfile::Builder::new()
            .prefix("skiff-registry-")
            .tempdir()
            .unwrap_or_else(|e| panic!("temp dir: {e}"));
        let port = match netns {
            Some(_) => NETNS_PORT,
            None => TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .map(|a| a.port())
                .unwrap_or_else(|e| panic!("picking a port: {e}")),
        };
        let cfg = dir.path().join("registry.yml");
        let mut yaml = format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n",
            dir.path().join("registry").display()
        );
        if let Some((user, pass)) = auth {
            let file = dir.path().join("htpasswd");
            let out = Command::new("htpasswd")
                .args(["-Bbn", user, pass])
                .output()
                .unwrap_or_else(|e| panic!("htpasswd (apt install apache2-utils): {e}"));
            assert!(out.status.success(), "htpasswd failed");
            std::fs::write(&file, &out.stdout)
                .unwrap_or_else(|e| panic!("writing {}: {e}", file.display()));
            yaml.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: skiff-test\n    path: {}\n",
                file.display()
            ));
        }
        let written = std::fs::write(&cfg, yaml);
        written.unwrap_or_else(|e| panic!("writing {}: {e}", cfg.display()));
        let mut cmd = wrap(netns, "sh");
        cmd.arg("-c")
            .arg(format!(
                "docker-registry serve {} >{d}/registry.log 2>&1 & pid=$!; read _; kill $pid; wait $pid 2>/dev/null; rm -rf {d}",
                cfg.display(),
                d = dir.path().display(),
            ))
            .stdin(Stdio::piped());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("docker-registry (apt install docker-registry): {e}"));
        let _ = child.stdin.as_mut().map(|s| s.flush());
        let r = Registry {
            addr: format!("127.0.0.1:{port}"),
            credentials: auth.map(|(u, p)| (u.to_owned(), p.to_owned())),
            netns: netns.map(Path::to_path_buf),
            child,
            _dir: dir,
        };
        r.wait_ready();
        r
    }

    fn wait_ready(&self) {
        let addr = self.addr.clone();
        let probe = move || {
            (0..100).any(|_| {
                let up = TcpStream::connect(addr.as_str()).is_ok();
                if !up {
                    std::thread::sleep(Duration::from_millis(100));
                }
                up
            })
        };
        let up = match &self.netns {
            None => probe(),
            Some(ns) => {
                let file = std::fs::File::open(ns).unwrap_or_else(|e| panic!("{ns:?}: {e}"));
                std::thread::spawn(move || {
                    nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET)
                        .is_ok_and(|()| probe())
                })
                .join()
                .unwrap_or(false)
            }
        };
        assert!(up, "registry on {} did not come up", self.addr);
    }

    /// Pushes the busybox image as `busybox:TAG`; its reference for pulls
    /// from the registry's namespace.
    pub fn push_busybox(&self, tag: &str) -> String {
        let image = format!("{}/busybox:{tag}", self.addr);
        let mut copy = wrap(self.netns.as_deref(), "skopeo");
        copy.args(["copy", "--quiet", "--dest-tls-verify=false"]);
        if let Some((user, pass)) = &self.credentials {
            copy.arg(format!("--dest-creds={user}:{pass}"));
        }
        let out = copy
            .arg(format!("oci:{}:1", busybox_layout().display()))
            .arg(format!("docker://{image}"))
            .output()
            .unwrap_or_else(|e| panic!("skopeo (apt install skopeo): {e}"));
        assert!(
            out.status.success(),
            "skopeo copy: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        image
    }
}

fn wrap(netns: Option<&Path>, program: &str) -> Command {
    match netns {
        Some(ns) => {
            let mut c = Command::new("nsenter");
            c.arg(format!("--net={}", ns.display()))
                .arg("--")
                .arg(program);
            c
        }
        None => Command::new(program),
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        // Closing its stdin makes the watchdog stop the registry.
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}
