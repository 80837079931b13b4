//! The shared runtime conformance harness, on busybox.

use skiff_runtime::conformance::{Fixture, assert_conformance};
use skiff_runtime::{ContainerConfig, ImageSpec, RegistryAuth, Runtime};
use skiff_runtime_native::{NativeRuntime, NativeRuntimeConfig};

use crate::fixture::{fixture, shim};

struct Busybox {
    rt: NativeRuntime,
    image: ImageSpec,
}

impl Busybox {
    fn sh(&self, name: &str, script: &str, args: &[&str]) -> ContainerConfig {
        let mut c = ContainerConfig::new(name, self.image.clone());
        c.command = vec!["sh".into(), "-c".into(), script.into(), "sh".into()];
        c.args = args.iter().map(|a| (*a).to_owned()).collect();
        c
    }
}

impl Fixture for Busybox {
    fn runtime(&self) -> &dyn Runtime {
        &self.rt
    }

    fn echo(&self, name: &str, words: &[&str]) -> ContainerConfig {
        self.sh(
            name,
            r#"for w in "$@"; do echo "$w"; done; echo "SKIFF_CONFORMANCE=$SKIFF_CONFORMANCE"; echo to stderr >&2"#,
            words,
        )
    }

    fn exit_with(&self, name: &str, code: i32) -> ContainerConfig {
        self.sh(name, r#"exit "$1""#, &[&code.to_string()])
    }

    fn sleep(&self, name: &str) -> ContainerConfig {
        self.sh(name, r#"trap "" TERM; while true; do sleep 1; done"#, &[])
    }

    fn write_file(&self, name: &str, dir: &str, file: &str, content: &str) -> ContainerConfig {
        self.sh(name, r#"printf %s "$3" > "$1/$2""#, &[dir, file, content])
    }
}

#[tokio::test]
async fn native_runtime_passes_conformance() {
    let Some(f) = fixture() else { return };
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = NativeRuntimeConfig::new(dir.path().join("state"));
    cfg.shim = shim().to_owned();
    let rt = NativeRuntime::new(cfg).unwrap();
    let image = ImageSpec::new(&f.image);
    rt.images()
        .pull_image(&image, &RegistryAuth::Anonymous)
        .await
        .unwrap();
    assert_conformance(&Busybox { rt, image }).await;
}
