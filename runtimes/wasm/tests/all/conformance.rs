//! The shared Runtime conformance harness, run with P2 and P1 commands.

use skiff_runtime::conformance::{Fixture, assert_conformance};
use skiff_runtime::{ContainerConfig, ImageSpec, Runtime};

use crate::support::Env;

struct WasmFixture {
    env: Env,
    job: ImageSpec,
    writer: ImageSpec,
}

impl Fixture for WasmFixture {
    fn runtime(&self) -> &dyn Runtime {
        &self.env.rt
    }

    fn echo(&self, name: &str, words: &[&str]) -> ContainerConfig {
        let mut args = vec!["echo"];
        args.extend_from_slice(words);
        ContainerConfig::new(name, self.job.clone()).with_args(args)
    }

    fn exit_with(&self, name: &str, code: i32) -> ContainerConfig {
        ContainerConfig::new(name, self.job.clone())
            .with_args(["exit".to_owned(), code.to_string()])
    }

    fn sleep(&self, name: &str) -> ContainerConfig {
        ContainerConfig::new(name, self.job.clone()).with_args(["sleep"])
    }

    fn write_file(&self, name: &str, dir: &str, file: &str, content: &str) -> ContainerConfig {
        ContainerConfig::new(name, self.writer.clone())
            .with_args([format!("{dir}/{file}"), content.to_owned()])
    }
}

async fn fixture(job: &str) -> WasmFixture {
    let env = Env::new();
    let job = env.image(job).await;
    let writer = env.image("volume-writer").await;
    WasmFixture { env, job, writer }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p2_component_commands_conform() {
    assert_conformance(&fixture("job").await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p1_module_commands_conform() {
    assert_conformance(&fixture("job-p1").await).await;
}
