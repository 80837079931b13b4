//! Pulls from a registry that requires HTTP basic auth (htpasswd): refused
//! anonymously with the registry's own reason, accepted with the right
//! credentials — what `imagePullSecrets` and `--registry-config` feed.

use skiff_runtime::{ImageSpec, RegistryAuth, Runtime};
use skiff_runtime_native::testing::Registry;
use skiff_runtime_native::{NativeRuntime, NativeRuntimeConfig};

use crate::fixture::{fixture, shim};

/// The error and its sources on one line, as a pod's status shows it.
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut next = e.source();
    while let Some(s) = next {
        out.push_str(": ");
        out.push_str(&s.to_string());
        next = s.source();
    }
    out
}

#[tokio::test]
async fn private_registry_needs_the_right_basic_credentials() {
    if fixture().is_none() {
        return;
    }
    let registry = Registry::start_with_auth(None, "puller", "pa55word");
    let image = ImageSpec::new(registry.push_busybox("private"));
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = NativeRuntimeConfig::new(dir.path().join("state"));
    cfg.shim = shim().to_owned();
    let rt = NativeRuntime::new(cfg).unwrap();

    let anonymous = rt
        .images()
        .pull_image(&image, &RegistryAuth::Anonymous)
        .await
        .expect_err("an anonymous pull must be refused");
    let message = chain(&anonymous).to_lowercase();
    assert!(
        message.contains("not authorized") || message.contains("unauthorized"),
        "the registry's reason is in the error: {message}"
    );

    let wrong = RegistryAuth::Basic {
        username: "puller".into(),
        password: "wrong".into(),
    };
    assert!(rt.images().pull_image(&image, &wrong).await.is_err());
    assert!(rt.images().image_status(&image).await.unwrap().is_none());

    let right = RegistryAuth::Basic {
        username: "puller".into(),
        password: "pa55word".into(),
    };
    let st = rt.images().pull_image(&image, &right).await.unwrap();
    assert!(st.id.starts_with("sha256:"));
    assert!(rt.images().image_status(&image).await.unwrap().is_some());
}
