//! Push to and pull from a real registry (Debian's docker-registry, the CNCF
//! distribution registry) on loopback. Requires `docker-registry` on PATH
//! (scripts/install.sh installs it); fails, never skips, without it.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use oci_client::client::{ClientConfig, ClientProtocol, Config, ImageLayer};
use skiff_runtime::{ImageSpec, RegistryAuth, Runtime, RuntimeError};

use crate::support::{Env, examples};

/// A `docker-registry` on a free loopback port, killed on drop.
pub(crate) struct Registry {
    child: Child,
    pub(crate) addr: String,
    _dir: tempfile::TempDir,
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts a registry; with `basic = Some((user, password))` it requires
/// HTTP basic auth (an htpasswd file; `htpasswd` comes with apache2-utils).
pub(crate) fn start_registry(basic: Option<(&str, &str)>) -> Registry {
    let dir = tempfile::tempdir().unwrap();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let mut config = format!(
        "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {addr}\n",
        dir.path().join("data").display()
    );
    if let Some((user, password)) = basic {
        let htpasswd = Command::new("htpasswd")
            .args(["-Bbn", user, password])
            .output()
            .expect(
                "htpasswd is not installed: run scripts/install.sh (apt-get install apache2-utils)",
            );
        assert!(htpasswd.status.success());
        let users = dir.path().join("htpasswd");
        std::fs::write(&users, htpasswd.stdout).unwrap();
        config.push_str(&format!(
            "auth:\n  htpasswd:\n    realm: skiff-test\n    path: {}\n",
            users.display()
        ));
    }
    let path = dir.path().join("config.yml");
    std::fs::write(&path, config).unwrap();
    let child = Command::new("docker-registry")
        .arg("serve")
        .arg(&path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("docker-registry is not installed: run scripts/install.sh (apt-get install docker-registry)");
    let t0 = Instant::now();
    while std::net::TcpStream::connect(&addr).is_err() {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "docker-registry did not start on {addr}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Registry {
        child,
        addr,
        _dir: dir,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_then_pull_a_wasm_artifact_and_run_it() {
    let registry = start_registry(None);
    let local = Env::new();
    let image = local.image("job").await;
    let target = format!("{}/skiff/job:v1", registry.addr);
    let url = local
        .rt
        .push_image(&image.image, &target, &RegistryAuth::Anonymous)
        .await
        .unwrap();
    assert!(
        url.starts_with(&format!("http://{}/v2/skiff/job/manifests/", registry.addr)),
        "{url}"
    );

    // A different node (fresh store) pulls it by tag and runs it.
    let node = Env::new();
    let status = node
        .rt
        .images()
        .pull_image(&ImageSpec::new(&target), &RegistryAuth::Anonymous)
        .await
        .unwrap();
    let local_id = local
        .rt
        .images()
        .image_status(&image)
        .await
        .unwrap()
        .unwrap()
        .id;
    assert_eq!(
        status.id, local_id,
        "the pulled binary differs from the pushed one"
    );
    assert_eq!(status.repo_digests.len(), 1);
    let config = skiff_runtime::ContainerConfig::new("pulled", ImageSpec::new(&target))
        .with_args(["echo", "from the registry"]);
    let (st, out) = node.run(&config).await;
    assert_eq!(st.exit_code, Some(0));
    assert_eq!(out[0], "from the registry");

    // Pull by digest too.
    let by_digest = format!(
        "{}/skiff/job@{}",
        registry.addr,
        status.repo_digests[0].rsplit_once('@').unwrap().1
    );
    node.rt
        .images()
        .pull_image(&ImageSpec::new(&by_digest), &RegistryAuth::Anonymous)
        .await
        .unwrap();

    // A missing tag is an image pull error naming the image.
    let err = node
        .rt
        .images()
        .pull_image(
            &ImageSpec::new(format!("{}/skiff/job:nope", registry.addr)),
            &RegistryAuth::Anonymous,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, RuntimeError::ImagePull { .. }), "{err:?}");
    assert_eq!(err.reason(), "ErrImagePull");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_an_ordinary_image_with_one_wasm_in_its_layer() {
    let registry = start_registry(None);
    let wasm = std::fs::read(examples().join("job-p1.wasm")).unwrap();
    // A gzipped tar layer holding /app/job.wasm, as `docker build` of a
    // `FROM scratch` + `COPY job.wasm /app/` image would produce.
    let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::fast(),
    ));
    let mut header = tar::Header::new_gnu();
    header.set_size(wasm.len() as u64);
    header.set_mode(0o755);
    header.set_cksum();
    tar.append_data(&mut header, "app/job.wasm", wasm.as_slice())
        .unwrap();
    let layer = tar.into_inner().unwrap().finish().unwrap();
    let reference: oci_client::Reference =
        format!("{}/plain/job:1", registry.addr).parse().unwrap();
    let client = oci_client::Client::new(ClientConfig {
        protocol: ClientProtocol::Http,
        ..Default::default()
    });
    let config =
        br#"{"architecture":"wasm","os":"wasip1","rootfs":{"type":"layers","diff_ids":[]}}"#
            .to_vec();
    client
        .push(
            &reference,
            &[ImageLayer::new(
                layer,
                "application/vnd.oci.image.layer.v1.tar+gzip".to_owned(),
                None,
            )],
            Config::new(
                config,
                "application/vnd.oci.image.config.v1+json".to_owned(),
                None,
            ),
            &oci_client::secrets::RegistryAuth::Anonymous,
            None,
        )
        .await
        .unwrap();

    let node = Env::new();
    node.rt
        .images()
        .pull_image(&ImageSpec::new(reference.whole()), &RegistryAuth::Anonymous)
        .await
        .unwrap();
    let config = skiff_runtime::ContainerConfig::new("plain", ImageSpec::new(reference.whole()))
        .with_args(["exit", "5"]);
    let (st, _) = node.run(&config).await;
    assert_eq!(st.exit_code, Some(5));
}
