//! The traits a runtime implements. They follow the CRI `RuntimeService` and
//! `ImageService` closely so the native runtime (and, one day, a CRI
//! client for containerd) fits the same shape.

use std::time::Duration;

use async_trait::async_trait;

use crate::{
    ContainerConfig, ContainerFilter, ContainerStats, ContainerStatus, ExecResult, ImageSpec,
    ImageStatus, PodSandboxConfig, PodSandboxStatus, RegistryAuth, Result, RuntimeError,
};

/// Image management (CRI `ImageService`).
#[async_trait]
pub trait ImageService: Send + Sync {
    /// Fetches an image (or finds it already present) and returns its status.
    async fn pull_image(&self, image: &ImageSpec, auth: &RegistryAuth) -> Result<ImageStatus>;
    /// The status of an image if it is present locally.
    async fn image_status(&self, image: &ImageSpec) -> Result<Option<ImageStatus>>;
    /// All local images.
    async fn list_images(&self) -> Result<Vec<ImageStatus>>;
    /// Removes an image; removing an absent one succeeds (as in CRI).
    async fn remove_image(&self, image: &ImageSpec) -> Result<()>;
}

/// The container runtime (CRI `RuntimeService`).
///
/// Ids are opaque strings chosen by the runtime. Calls are idempotent where
/// CRI makes them so: stopping an exited container or removing a removed one
/// succeeds.
#[async_trait]
pub trait Runtime: Send + Sync {
    /// The RuntimeClass handler this runtime serves (`wasmtime`, `runc` …).
    fn handler(&self) -> &str;

    /// Its image service.
    fn images(&self) -> &dyn ImageService;

    /// Creates and readies a pod sandbox; returns its id.
    async fn run_pod_sandbox(&self, config: &PodSandboxConfig) -> Result<String>;
    /// Stops every container of the sandbox (no grace) and marks it not ready.
    async fn stop_pod_sandbox(&self, sandbox_id: &str) -> Result<()>;
    /// Stops and removes the sandbox and all its containers.
    async fn remove_pod_sandbox(&self, sandbox_id: &str) -> Result<()>;
    /// The sandbox's status.
    async fn pod_sandbox_status(&self, sandbox_id: &str) -> Result<PodSandboxStatus>;
    /// Every sandbox the runtime holds, ready or not (CRI `ListPodSandbox`).
    /// A restarted node agent calls it first: it re-adopts the sandboxes of
    /// its pods (found by [`PodSandboxConfig::uid`](crate::PodSandboxConfig))
    /// and removes the rest, as the kubelet relists after a restart. A
    /// runtime whose sandboxes die with the agent's process answers only
    /// those created since it started.
    async fn list_pod_sandboxes(&self) -> Result<Vec<PodSandboxStatus>>;

    /// Creates a container in a sandbox from an image that has been pulled;
    /// returns its id. Compilation and validation happen here, so a broken
    /// image fails before anything starts.
    async fn create_container(&self, sandbox_id: &str, config: &ContainerConfig) -> Result<String>;
    /// Starts a created container. Returns once it runs (for a service: once
    /// it listens).
    async fn start_container(&self, container_id: &str) -> Result<()>;
    /// Asks the container to stop, and kills it after `grace` if it has not.
    /// Returns when it has exited.
    async fn stop_container(&self, container_id: &str, grace: Duration) -> Result<()>;
    /// Removes a container, killing it first if it still runs.
    async fn remove_container(&self, container_id: &str) -> Result<()>;
    /// A container's status.
    async fn container_status(&self, container_id: &str) -> Result<ContainerStatus>;
    /// Containers matching the filter.
    async fn list_containers(&self, filter: &ContainerFilter) -> Result<Vec<ContainerStatus>>;
    /// Waits until the container has exited and returns its final status
    /// (runwasi's `wait`; CRI clients poll `container_status` instead).
    async fn wait_container(&self, container_id: &str) -> Result<ContainerStatus>;

    /// The exec ability, if this runtime has it.
    fn exec(&self) -> Option<&dyn ExecService> {
        None
    }

    /// The stats ability, if this runtime has it.
    fn stats(&self) -> Option<&dyn StatsService> {
        None
    }

    /// Runs a command in a container, or answers [`RuntimeError::Unsupported`].
    async fn exec_sync(
        &self,
        container_id: &str,
        cmd: &[String],
        timeout: Duration,
    ) -> Result<ExecResult> {
        match self.exec() {
            Some(e) => e.exec_sync(container_id, cmd, timeout).await,
            None => Err(RuntimeError::Unsupported {
                runtime: self.handler().to_owned(),
                what: "exec".to_owned(),
            }),
        }
    }

    /// A container's resource usage, or [`RuntimeError::Unsupported`].
    async fn container_stats(&self, container_id: &str) -> Result<ContainerStats> {
        match self.stats() {
            Some(s) => s.container_stats(container_id).await,
            None => Err(RuntimeError::Unsupported {
                runtime: self.handler().to_owned(),
                what: "stats".to_owned(),
            }),
        }
    }
}

/// Running a command inside a running container (CRI `ExecSync`).
#[async_trait]
pub trait ExecService: Send + Sync {
    /// Runs `cmd` in the container and collects its output.
    async fn exec_sync(
        &self,
        container_id: &str,
        cmd: &[String],
        timeout: Duration,
    ) -> Result<ExecResult>;

    /// A command that runs `cmd` in the container once the caller spawns
    /// it with the stdio it chooses: streaming exec (`kubectl exec -i`,
    /// `-t`) needs stdin, stdout and stderr live rather than collected.
    /// The process exits with the command's status. Runtimes that can only
    /// collect output answer [`RuntimeError::Unsupported`].
    fn exec_command(&self, container_id: &str, cmd: &[String]) -> Result<std::process::Command> {
        let _ = (container_id, cmd);
        Err(RuntimeError::Unsupported {
            runtime: "this runtime".to_owned(),
            what: "streaming exec".to_owned(),
        })
    }

    /// Where to attach to the container's running main process
    /// (`kubectl attach`, `kubectl run -it`): a socket speaking
    /// [`crate::attach::Frame`]s that streams the process's output from now
    /// on and, if the container was created with `stdin`, takes its input.
    /// Runtimes without a main process to attach to answer
    /// [`RuntimeError::Unsupported`].
    fn attach(&self, container_id: &str) -> Result<crate::attach::AttachEndpoint> {
        let _ = container_id;
        Err(RuntimeError::Unsupported {
            runtime: "this runtime".to_owned(),
            what: "attach".to_owned(),
        })
    }
}

/// Resource usage (CRI `ContainerStats`).
#[async_trait]
pub trait StatsService: Send + Sync {
    /// Current usage of one container.
    async fn container_stats(&self, container_id: &str) -> Result<ContainerStats>;
}
