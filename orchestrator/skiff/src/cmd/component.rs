//! `skiff scheduler` and `skiff controller-manager`: the control-plane
//! components `skiff up` runs in process, each alone in its own process
//! against a separate API server (as k3s can disable and run them apart).
//! Nothing but the client differs: the same code, another transport.

use std::future::Future;
use std::pin::Pin;
use std::process::ExitCode;

use anyhow::Context;

use crate::cli::{ControllerManagerArgs, RemoteArgs, SchedulerArgs};

/// Completes when the component should stop.
type Stop = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Connects with `remote`, then runs what `component` makes of the client
/// until it ends or SIGINT/SIGTERM asks it to stop.
fn serve<F>(
    what: &str,
    remote: &RemoteArgs,
    component: impl FnOnce(kube::Client, Stop) -> F,
) -> anyhow::Result<ExitCode>
where
    F: Future<Output = ()> + Send + 'static,
{
    let rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    rt.block_on(async move {
        // Built on this runtime: the client's request buffer is a task on it.
        let client = super::remote_client(remote).await?;
        let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
        let stop: Stop = Box::pin(async move {
            let _ = stop_rx.wait_for(|s| *s).await;
        });
        let mut task = tokio::spawn(component(client, stop));
        println!("Skiff {what} running against {}", remote.server);
        tokio::select! {
            signal = super::shutdown_signal() => signal?,
            ended = &mut task => {
                ended.with_context(|| format!("{what} task"))?;
                anyhow::bail!("{what} stopped");
            }
        }
        let _ = stop_tx.send(true);
        task.await.with_context(|| format!("{what} task"))?;
        Ok(ExitCode::SUCCESS)
    })
}

/// Runs the scheduler until SIGINT or SIGTERM.
pub fn scheduler(args: SchedulerArgs) -> anyhow::Result<ExitCode> {
    serve("scheduler", &args.remote, |client, stop| {
        skiff_scheduler::Scheduler::new(client).run(stop)
    })
}

/// Runs the controller manager until SIGINT or SIGTERM.
pub fn controller_manager(args: ControllerManagerArgs) -> anyhow::Result<ExitCode> {
    let root_ca = match args.root_ca_file.as_ref().or(args.remote.ca_file.as_ref()) {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .with_context(|| format!("reading the cluster CA {}", path.display()))?,
        ),
        None => None,
    };
    serve("controller manager", &args.remote, |client, stop| {
        skiff_controllers::run(client, skiff_controllers::Config { root_ca }, stop)
    })
}
