//! `skiff kubectl …`: the real kubectl with this cluster's kubeconfig.

use std::process::{Command, ExitCode};

use anyhow::Context;

use crate::cli::{KubectlArgs, default_data_dir};

/// Runs kubectl and returns its exit code.
pub fn run(args: KubectlArgs) -> anyhow::Result<ExitCode> {
    let dir = args.data_dir.unwrap_or_else(default_data_dir);
    let kubeconfig = dir.join("kubeconfig.yaml");
    if !kubeconfig.exists() {
        anyhow::bail!(
            "no kubeconfig at {}: start `skiff server` first",
            kubeconfig.display()
        );
    }
    let status = Command::new("kubectl")
        .args(&args.args)
        .env("KUBECONFIG", &kubeconfig)
        .status()
        .context("running kubectl (is it installed?)")?;
    Ok(ExitCode::from(
        u8::try_from(status.code().unwrap_or(1)).unwrap_or(1),
    ))
}
