//! Layer garbage collection: removing an image deletes the unpacked layers
//! that no other image and no container uses; a shared base layer stays,
//! and a running container keeps its image's layers until it is removed.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use skiff_runtime::{ContainerConfig, ImageSpec, PodSandboxConfig, RegistryAuth, Runtime};
use skiff_runtime_native::testing::busybox_layout;
use skiff_runtime_native::{NativeRuntime, NativeRuntimeConfig};

use crate::fixture::{fixture, shim};

/// busybox plus a layer of its own holding `/extra`, as an OCI layout
/// (tag `2`), built once per test process with umoci.
fn layered_layout() -> &'static Path {
    static LAYOUT: std::sync::OnceLock<(tempfile::TempDir, PathBuf)> = std::sync::OnceLock::new();
    &LAYOUT
        .get_or_init(|| {
            let dir = tempfile::tempdir().unwrap();
            let oci = dir.path().join("oci");
            let b = dir.path().join("bundle");
            let script = format!(
                "set -e
                 cp -a {src} {o}
                 umoci unpack --image {o}:1 {b}
                 echo extra-content > {b}/rootfs/extra
                 umoci repack --image {o}:2 {b}",
                src = busybox_layout().display(),
                o = oci.display(),
                b = b.display()
            );
            let out = Command::new("sh").arg("-c").arg(&script).output().unwrap();
            assert!(
                out.status.success(),
                "building the layered image: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            (dir, oci)
        })
        .1
}

struct Env {
    rt: NativeRuntime,
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = NativeRuntimeConfig::new(dir.path().join("state"));
        cfg.shim = shim().to_owned();
        Env {
            rt: NativeRuntime::new(cfg).unwrap(),
            dir,
        }
    }

    /// How many unpacked layers the store holds.
    fn layers(&self) -> usize {
        std::fs::read_dir(self.dir.path().join("state/images/layers"))
            .unwrap()
            .count()
    }

    async fn import_layered(&self) -> ImageSpec {
        let image = ImageSpec::new("localhost/gc/layered:2");
        self.rt
            .native_images()
            .import_oci_layout(layered_layout(), Some("2"), &image.image)
            .await
            .unwrap();
        image
    }

    async fn remove(&self, image: &ImageSpec) {
        self.rt.images().remove_image(image).await.unwrap();
        assert!(
            self.rt
                .images()
                .image_status(image)
                .await
                .unwrap()
                .is_none(),
            "{image} still listed"
        );
    }
}

impl Drop for Env {
    /// A failed assertion leaves a container running: kill and unmount.
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        let state = self.dir.path().join("state");
        let _ = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "for p in {s}/containers/*/pid; do [ -f \"$p\" ] && kill -9 \"$(cat \"$p\")\"; done; sleep 0.3; \
                 awk '$2 ~ \"^{s}/\" {{print $2}}' /proc/mounts | sort -r | xargs -r -n1 umount -l",
                s = state.display()
            ))
            .status();
    }
}

#[tokio::test]
async fn removing_an_image_keeps_the_layers_another_image_shares() {
    let Some(f) = fixture() else { return };
    let env = Env::new();
    let busybox = ImageSpec::new(&f.image);
    env.rt
        .images()
        .pull_image(&busybox, &RegistryAuth::Anonymous)
        .await
        .unwrap();
    let layered = env.import_layered().await;
    assert_eq!(env.layers(), 2, "busybox's layer, shared, and /extra's");

    env.remove(&layered).await;
    assert_eq!(env.layers(), 1, "the shared layer stays, /extra's goes");
    assert!(
        env.rt
            .images()
            .image_status(&busybox)
            .await
            .unwrap()
            .is_some()
    );

    // The other way round: busybox's removal leaves the layer layered uses.
    let layered = env.import_layered().await;
    env.remove(&busybox).await;
    assert_eq!(env.layers(), 2);
    env.remove(&layered).await;
    assert_eq!(env.layers(), 0, "nothing left once no image remains");
}

#[tokio::test]
async fn a_running_container_keeps_its_layers_until_removed() {
    if fixture().is_none() {
        return;
    }
    let env = Env::new();
    let layered = env.import_layered().await;
    let pod = env
        .rt
        .run_pod_sandbox(&PodSandboxConfig::new(
            "default",
            "gc",
            env.dir.path().join("logs"),
        ))
        .await
        .unwrap();
    let mut c = ContainerConfig::new("sleeper", layered.clone());
    c.command = vec!["sleep".into(), "600".into()];
    let id = env.rt.create_container(&pod, &c).await.unwrap();
    env.rt.start_container(&id).await.unwrap();

    env.remove(&layered).await;
    assert_eq!(env.layers(), 2, "the container's layers survive");
    let exec = env.rt.exec().unwrap();
    let out = exec
        .exec_sync(
            &id,
            &["cat".into(), "/extra".into()],
            Duration::from_secs(30),
        )
        .await
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "extra-content\n");
    // A new container cannot be made from the removed image.
    assert!(env.rt.create_container(&pod, &c).await.is_err());

    env.rt.remove_container(&id).await.unwrap();
    assert_eq!(env.layers(), 0, "removing the container frees its layers");
    env.rt.remove_pod_sandbox(&pod).await.unwrap();
}
