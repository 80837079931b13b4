//! Running a command container (P1 module or P2 component) to its exit.

use std::sync::atomic::Ordering;

use skiff_runtime::{EXIT_CODE_KILLED, ExitReason};
use wasmtime::Engine;
use wasmtime_wasi::I32Exit;

use crate::engine::Prepared;
use crate::host::DeadlineExceeded;
use crate::spec::RunSpec;

/// Exit code reported for a guest trap (a crash, as SIGABRT's 128 + 6).
pub const EXIT_CODE_TRAP: i32 = 134;

/// How a container's run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Exit code.
    pub exit_code: i32,
    /// Kubernetes reason.
    pub reason: ExitReason,
    /// Detail for the status message.
    pub message: Option<String>,
}

impl Outcome {
    /// A plain exit with `code`.
    pub fn exited(code: i32) -> Self {
        Outcome {
            exit_code: code,
            reason: ExitReason::from_exit_code(code),
            message: None,
        }
    }

    /// Killed by the runtime.
    pub fn killed(message: &str) -> Self {
        Outcome {
            exit_code: EXIT_CODE_KILLED,
            reason: ExitReason::Error,
            message: Some(message.to_owned()),
        }
    }

    /// Never got to run.
    pub fn cannot_run(message: String) -> Self {
        Outcome {
            exit_code: 128,
            reason: ExitReason::ContainerCannotRun,
            message: Some(message),
        }
    }
}

/// Maps the error a guest call ended with onto an exit: `proc_exit` and
/// `exit-with-code` carry the code; a trap after hitting the memory limit is
/// an OOM kill; any other trap is a crash.
pub fn classify(err: &wasmtime::Error, spec: &RunSpec) -> Outcome {
    if let Some(I32Exit(code)) = err.downcast_ref::<I32Exit>() {
        return Outcome::exited(*code);
    }
    if spec.usage.oom.load(Ordering::Relaxed) {
        return Outcome {
            exit_code: EXIT_CODE_KILLED,
            reason: ExitReason::OomKilled,
            message: Some(format!(
                "memory limit of {} bytes reached",
                spec.memory_limit.unwrap_or(0)
            )),
        };
    }
    if err.downcast_ref::<DeadlineExceeded>().is_some() {
        return Outcome::killed("deadline exceeded");
    }
    Outcome {
        exit_code: EXIT_CODE_TRAP,
        reason: ExitReason::Error,
        message: Some(format!("wasm trap: {err:#}")),
    }
}

/// Instantiates and runs a command to completion.
pub async fn run(engine: &Engine, prepared: &Prepared, spec: &RunSpec) -> Outcome {
    let result = match prepared {
        Prepared::P2(pre) => {
            let mut store = match spec.component_store(engine, None) {
                Ok(s) => s,
                Err(e) => return Outcome::cannot_run(format!("{e:#}")),
            };
            match pre.instantiate_async(&mut store).await {
                Ok(cmd) => match cmd.wasi_cli_run().call_run(&mut store).await {
                    Ok(Ok(())) => Ok(()),
                    // `run` returning err is std's exit(non-zero) on WASI 0.2.
                    Ok(Err(())) => return Outcome::exited(1),
                    Err(e) => Err(e),
                },
                Err(e) => Err(e),
            }
        }
        Prepared::P1(pre) => {
            let mut store = match spec.module_store(engine) {
                Ok(s) => s,
                Err(e) => return Outcome::cannot_run(format!("{e:#}")),
            };
            match pre.instantiate_async(&mut store).await {
                Ok(instance) => match instance.get_typed_func::<(), ()>(&mut store, "_start") {
                    Ok(start) => start.call_async(&mut store, ()).await,
                    Err(e) => Err(e),
                },
                Err(e) => Err(e),
            }
        }
        Prepared::Http(_) => {
            return Outcome::cannot_run("an HTTP service is not a command".to_owned());
        }
    };
    spec.log.flush_partial();
    match result {
        Ok(()) => Outcome::exited(0),
        Err(e) => classify(&e, spec),
    }
}
