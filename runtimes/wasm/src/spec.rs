//! What every instance of a container is built from: argv, env, preopens,
//! limits and log streams, checked once at create time so a bad mount or
//! working directory fails `create_container`, not each start or request.

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use skiff_runtime::logs::Stream;
use skiff_runtime::{ContainerConfig, PodSandboxConfig, RuntimeError};
use wasmtime::Store;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{FsPerms, WasiCtxBuilder};
use wasmtime_wasi_http::WasiHttpCtx;

use crate::host::{CpuAccount, Host, Limiter, P1Host, Usage};
use crate::logs::LogFile;
use crate::outgoing::OutgoingHooks;

/// One preopened directory.
#[derive(Debug, Clone)]
struct Preopen {
    host: PathBuf,
    guest: String,
    readonly: bool,
}

/// The recipe for a container's stores.
pub struct RunSpec {
    argv: Vec<String>,
    env: Vec<(String, String)>,
    preopens: Vec<Preopen>,
    /// Memory limit in bytes.
    pub memory_limit: Option<u64>,
    /// CPU limit in millicores.
    pub cpu_millis: Option<u64>,
    /// Usage shared by all stores of the container.
    pub usage: Arc<Usage>,
    /// The container's log.
    pub log: LogFile,
    /// The sandbox's pod IP: the source address of outgoing HTTP.
    pub pod_ip: Option<IpAddr>,
}

impl RunSpec {
    /// Checks the config and builds the recipe.
    pub fn new(
        config: &ContainerConfig,
        sandbox: &PodSandboxConfig,
        log: LogFile,
    ) -> Result<RunSpec, RuntimeError> {
        // Kubernetes' `command` replaces the entrypoint; Wasm has none, so
        // argv[0] is the command's first word or else the container name.
        let mut argv = if config.command.is_empty() {
            vec![config.name.clone()]
        } else {
            config.command.clone()
        };
        argv.extend(config.args.iter().cloned());
        let mut env: Vec<(String, String)> = Vec::new();
        // The kubelet sets HOSTNAME to the pod name in every container.
        if !config.env.iter().any(|e| e.name == "HOSTNAME") {
            env.push(("HOSTNAME".to_owned(), sandbox.name.clone()));
        }
        for e in &config.env {
            if e.name.is_empty() || e.name.contains('=') {
                return Err(RuntimeError::invalid(
                    "env",
                    format!("bad variable name {:?}", e.name),
                ));
            }
            env.push((e.name.clone(), e.value.clone()));
        }
        let mut preopens = Vec::new();
        for m in &config.mounts {
            if !m.container_path.starts_with('/') {
                return Err(RuntimeError::invalid(
                    "volumeMounts.mountPath",
                    format!("{:?} is not absolute", m.container_path),
                ));
            }
            match std::fs::metadata(&m.host_path) {
                Ok(md) if md.is_dir() => {}
                Ok(_) => {
                    return Err(RuntimeError::invalid(
                        "volume",
                        format!(
                            "{} is not a directory (Wasm volumes are preopened directories)",
                            m.host_path.display()
                        ),
                    ));
                }
                Err(e) => return Err(RuntimeError::io(&m.host_path, e)),
            }
            preopens.push(Preopen {
                host: m.host_path.clone(),
                guest: m.container_path.clone(),
                readonly: m.readonly,
            });
        }
        if let Some(wd) = config
            .working_dir
            .as_deref()
            .filter(|w| !w.is_empty() && *w != "/")
        {
            // WASI has no working directory; wasi-libc resolves relative
            // paths against a preopen named ".", so the working directory
            // becomes that preopen. It must therefore lie in a volume.
            let wd = wd.trim_end_matches('/');
            let found = preopens.iter().find_map(|p| {
                let base = p.guest.trim_end_matches('/');
                let rest = wd.strip_prefix(base)?;
                (rest.is_empty() || rest.starts_with('/'))
                    .then(|| (p.host.join(rest.trim_start_matches('/')), p.readonly))
            });
            let Some((host, readonly)) = found else {
                return Err(RuntimeError::invalid(
                    "workingDir",
                    format!(
                        "{wd:?} is not inside a volume; a Wasm container can only work in a mounted directory"
                    ),
                ));
            };
            if !host.is_dir() {
                return Err(RuntimeError::invalid(
                    "workingDir",
                    format!("{wd:?} does not exist in its volume"),
                ));
            }
            preopens.push(Preopen {
                host,
                guest: ".".to_owned(),
                readonly,
            });
            env.push(("PWD".to_owned(), wd.to_owned()));
        }
        Ok(RunSpec {
            argv,
            env,
            preopens,
            memory_limit: config.resources.memory_limit_bytes,
            cpu_millis: config.resources.cpu_limit_millis,
            usage: Arc::new(Usage::default()),
            log,
            pod_ip: sandbox.pod_ip,
        })
    }

    fn wasi(&self) -> wasmtime::Result<WasiCtxBuilder> {
        let mut b = WasiCtxBuilder::new();
        b.args(&self.argv).envs(&self.env);
        b.stdout(self.log.stream(Stream::Stdout))
            .stderr(self.log.stream(Stream::Stderr));
        for p in &self.preopens {
            let perms = if p.readonly {
                FsPerms::ReadOnly
            } else {
                FsPerms::ReadWrite
            };
            b.preopened_dir(&p.host, &p.guest, perms)?;
        }
        Ok(b)
    }

    /// A store for one component instance; `deadline` bounds its run.
    pub fn component_store(
        &self,
        engine: &wasmtime::Engine,
        deadline: Option<Instant>,
    ) -> wasmtime::Result<Store<Host>> {
        let host = Host {
            table: ResourceTable::new(),
            wasi: self.wasi()?.build(),
            http: WasiHttpCtx::new(),
            outgoing: OutgoingHooks::new(self.pod_ip),
            limiter: Limiter::new(self.memory_limit, self.usage.clone()),
            cpu: CpuAccount::new(self.cpu_millis, self.usage.clone(), deadline),
        };
        let mut store = Store::new(engine, host);
        store.limiter(|h| &mut h.limiter);
        store.epoch_deadline_callback(|mut ctx| ctx.data_mut().cpu.on_tick());
        store.set_epoch_deadline(1);
        Ok(store)
    }

    /// A store for a core module (WASI P1).
    pub fn module_store(&self, engine: &wasmtime::Engine) -> wasmtime::Result<Store<P1Host>> {
        let host = P1Host {
            wasi: self.wasi()?.build_p1(),
            limiter: Limiter::new(self.memory_limit, self.usage.clone()),
            cpu: CpuAccount::new(self.cpu_millis, self.usage.clone(), None),
        };
        let mut store = Store::new(engine, host);
        store.limiter(|h| &mut h.limiter);
        store.epoch_deadline_callback(|mut ctx| ctx.data_mut().cpu.on_tick());
        store.set_epoch_deadline(1);
        Ok(store)
    }
}
