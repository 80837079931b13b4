//! A registry that requires HTTP basic auth (htpasswd; `htpasswd` comes
//! with apache2-utils, which scripts/install.sh installs): the Wasm
//! runtime's pushes and pulls are refused without credentials, with the
//! registry's reason, and accepted with them.

use skiff_runtime::{ImageSpec, RegistryAuth, Runtime};

use crate::registry::start_registry;
use crate::support::Env;

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_registry_takes_basic_credentials() {
    let registry = start_registry(Some(("puller", "pa55word")));
    let basic = RegistryAuth::Basic {
        username: "puller".into(),
        password: "pa55word".into(),
    };
    let local = Env::new();
    let image = local.image("job").await;
    let target = format!("{}/private/job:v1", registry.addr);
    assert!(
        local
            .rt
            .push_image(&image.image, &target, &RegistryAuth::Anonymous)
            .await
            .is_err(),
        "an anonymous push must be refused"
    );
    local
        .rt
        .push_image(&image.image, &target, &basic)
        .await
        .unwrap();

    let node = Env::new();
    let spec = ImageSpec::new(&target);
    let err = node
        .rt
        .images()
        .pull_image(&spec, &RegistryAuth::Anonymous)
        .await
        .expect_err("an anonymous pull must be refused");
    let message = chain(&err).to_lowercase();
    assert!(
        message.contains("not authorized") || message.contains("unauthorized"),
        "the registry's reason is in the error: {message}"
    );
    assert!(
        node.rt
            .images()
            .image_status(&spec)
            .await
            .unwrap()
            .is_none()
    );
    node.rt.images().pull_image(&spec, &basic).await.unwrap();
    let config = skiff_runtime::ContainerConfig::new("private", spec).with_args(["exit", "3"]);
    let (st, _) = node.run(&config).await;
    assert_eq!(st.exit_code, Some(3));
}
