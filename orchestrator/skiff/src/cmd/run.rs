//! `skiff run`: one container through the Runtime trait, no cluster. Its
//! output is read back from the CRI log file and copied to this terminal,
//! so what you see is exactly what `kubectl logs` will show.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use skiff_runtime::logs::{Stream, parse_record};
use skiff_runtime::{
    ContainerConfig, ContainerState, DockerKeyring, ImageSpec, PodSandboxConfig, RegistryAuth,
    Resources, Runtime,
};
use skiff_runtime_native::{NativeRuntime, NativeRuntimeConfig};
use skiff_runtime_wasm::{
    REQUEST_TIMEOUT_ANNOTATION, WasmRuntime, WasmRuntimeConfig, parse_duration,
};

use crate::cli::{RunArgs, default_data_dir};

/// How long a served component gets to finish open requests after Ctrl-C.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// Runs the container and returns its exit code as ours.
pub fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let native = match args.runtime.as_str() {
        "wasmtime" => false,
        "native" | "runc" => true,
        other => bail!("unknown runtime {other:?}; use --runtime wasmtime or --runtime native"),
    };
    let config = container_config(&args)?;
    let rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    if native {
        rt.block_on(run_native(args, config))
    } else {
        rt.block_on(run_async(args, config))
    }
}

/// `--runtime native`: a Linux container from an OCI image (needs root).
/// The per-container shim is `$SKIFF_NATIVE_SHIM`, else `skiff-native-shim`
/// beside this executable.
async fn run_native(args: RunArgs, config: ContainerConfig) -> anyhow::Result<ExitCode> {
    let data_dir = args.data_dir.clone().unwrap_or_else(default_data_dir);
    let mut native = NativeRuntimeConfig::new(data_dir.join("native"));
    if let Some(shim) = std::env::var_os("SKIFF_NATIVE_SHIM") {
        native.shim = PathBuf::from(shim);
    }
    if !native.shim.is_file() {
        bail!(
            "the native runtime's shim {} is missing (build it with `cargo build -p skiff-runtime-native`, or set SKIFF_NATIVE_SHIM)",
            native.shim.display()
        );
    }
    let rt = tokio::task::spawn_blocking(move || NativeRuntime::new(native)).await??;
    if rt.images().image_status(&config.image).await?.is_none() {
        pull(&rt, &config.image, args.registry_config.as_deref()).await?;
    }
    drive(&rt, &args, config).await
}

/// Docker's credentials file: `--registry-config`, else
/// `$DOCKER_CONFIG/config.json` or `~/.docker/config.json` when present.
fn registry_keyring(flag: Option<&Path>) -> anyhow::Result<DockerKeyring> {
    let path = match flag {
        Some(p) => p.to_owned(),
        None => {
            let dir = std::env::var_os("DOCKER_CONFIG")
                .map(PathBuf::from)
                .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker")));
            match dir.map(|d| d.join("config.json")) {
                Some(p) if p.is_file() => p,
                _ => return Ok(DockerKeyring::default()),
            }
        }
    };
    let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    let mut keyring = DockerKeyring::default();
    keyring
        .add_json(&bytes)
        .with_context(|| format!("reading {}", path.display()))?;
    Ok(keyring)
}

/// Pulls with each credential the file holds for the image's registry (the
/// most specific first), or anonymously when it holds none, as the node
/// agent does with a pod's pull Secrets.
async fn pull(rt: &dyn Runtime, image: &ImageSpec, config: Option<&Path>) -> anyhow::Result<()> {
    let candidates = registry_keyring(config)?.lookup(&image.image);
    let Some((first, rest)) = candidates.split_first() else {
        rt.images()
            .pull_image(image, &RegistryAuth::Anonymous)
            .await?;
        return Ok(());
    };
    let error = match rt.images().pull_image(image, first).await {
        Ok(_) => return Ok(()),
        Err(e) => e,
    };
    for auth in rest {
        if rt.images().pull_image(image, auth).await.is_ok() {
            return Ok(());
        }
    }
    Err(error.into())
}

/// Turns the flags into a container config; every bad flag is one line.
fn container_config(args: &RunArgs) -> anyhow::Result<ContainerConfig> {
    let name = args
        .name
        .clone()
        .unwrap_or_else(|| default_name(&args.image));
    let resources = Resources::from_limits(args.memory.as_deref(), args.cpu.as_deref())?;
    let mut config = ContainerConfig::new(&name, ImageSpec::new(&args.image))
        .with_args(args.args.iter().cloned())
        .with_resources(resources);
    for e in &args.env {
        let Some((k, v)) = e.split_once('=') else {
            bail!("--env {e:?}: expected NAME=VALUE");
        };
        if k.is_empty() {
            bail!("--env {e:?}: empty variable name");
        }
        config = config.with_env(k, v);
    }
    for v in &args.volume {
        let (host, guest, readonly) = match v.split(':').collect::<Vec<_>>().as_slice() {
            [h, g] => (*h, *g, false),
            [h, g, "ro"] => (*h, *g, true),
            [h, g, "rw"] => (*h, *g, false),
            _ => bail!("--volume {v:?}: expected HOST_DIR:CONTAINER_PATH[:ro]"),
        };
        let host = std::fs::canonicalize(host)
            .with_context(|| format!("--volume {v:?}: host directory {host}"))?;
        config = config.with_mount(host, guest, readonly);
    }
    for p in &args.port {
        config = config.with_port(*p);
    }
    config.working_dir = args.workdir.clone();
    if let Some(t) = &args.request_timeout {
        if parse_duration(t).is_none() {
            bail!("--request-timeout {t:?}: expected a duration like 500ms or 30s");
        }
        config
            .annotations
            .insert(REQUEST_TIMEOUT_ANNOTATION.to_owned(), t.clone());
    }
    Ok(config)
}

fn default_name(image: &str) -> String {
    let base = image.rsplit('/').next().unwrap_or(image);
    let base = base.split(['@', ':']).next().unwrap_or(base);
    let base = base.strip_suffix(".wasm").unwrap_or(base);
    let name: String = base
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    if name.trim_matches('-').is_empty() {
        "container".to_owned()
    } else {
        name.trim_matches('-').to_owned()
    }
}

async fn run_async(args: RunArgs, mut config: ContainerConfig) -> anyhow::Result<ExitCode> {
    let data_dir = args.data_dir.clone().unwrap_or_else(default_data_dir);
    let root = data_dir.join("wasm");
    let rt = tokio::task::spawn_blocking(move || WasmRuntime::new(WasmRuntimeConfig::new(root)))
        .await??;

    // A path to an existing file is imported; anything else is an image
    // reference, used from the store or pulled.
    let path = Path::new(&args.image);
    if path.is_file() {
        let (reference, _) = rt.import_file(path, None).await?;
        config.image = ImageSpec::new(reference);
    } else if rt.images().image_status(&config.image).await?.is_none() {
        if args.image.ends_with(".wasm") {
            bail!("{}: no such file", args.image);
        }
        pull(&rt, &config.image, args.registry_config.as_deref()).await?;
    }
    drive(&rt, &args, config).await
}

/// Runs the container in a sandbox of its own, relays its log, and returns
/// its exit code.
async fn drive(
    rt: &dyn Runtime,
    args: &RunArgs,
    config: ContainerConfig,
) -> anyhow::Result<ExitCode> {
    let logs = tempfile::Builder::new()
        .prefix("skiff-run-")
        .tempdir()
        .context("creating a log directory")?;
    let mut sandbox = PodSandboxConfig::new("default", config.name.clone(), logs.path());
    sandbox.pod_ip = Some(args.address);
    let sandbox_id = rt.run_pod_sandbox(&sandbox).await?;
    let id = rt.create_container(&sandbox_id, &config).await?;
    rt.start_container(&id).await?;
    let status = rt.container_status(&id).await?;
    let log_path = status.log_path.clone();
    let mut relay = LogRelay::new(log_path);

    if !status.listening.is_empty() {
        for addr in &status.listening {
            eprintln!("serving {} on http://{addr}/ (Ctrl-C to stop)", args.image);
        }
        let mut poll = tokio::time::interval(Duration::from_millis(50));
        loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => break,
                _ = poll.tick() => relay.pump()?,
            }
        }
        rt.stop_container(&id, STOP_GRACE).await?;
    } else {
        let wait = rt.wait_container(&id);
        tokio::pin!(wait);
        let mut poll = tokio::time::interval(Duration::from_millis(20));
        loop {
            tokio::select! {
                done = &mut wait => { done?; break; }
                _ = tokio::signal::ctrl_c() => { rt.stop_container(&id, Duration::ZERO).await?; }
                _ = poll.tick() => relay.pump()?,
            }
        }
    }
    relay.pump()?;
    let status = rt.container_status(&id).await?;
    rt.remove_pod_sandbox(&sandbox_id).await?;
    debug_assert_eq!(status.state, ContainerState::Exited);
    let code = status.exit_code.unwrap_or(1);
    if code != 0 {
        let reason = status.reason.map(|r| r.to_string()).unwrap_or_default();
        match &status.message {
            Some(m) => eprintln!("skiff: container exited with code {code} ({reason}: {m})"),
            None => eprintln!("skiff: container exited with code {code} ({reason})"),
        }
    }
    Ok(ExitCode::from(
        u8::try_from(code.clamp(0, 255)).unwrap_or(1),
    ))
}

/// Copies new records of a CRI log file to stdout/stderr.
struct LogRelay {
    path: PathBuf,
    offset: u64,
    carry: Vec<u8>,
}

impl LogRelay {
    fn new(path: PathBuf) -> Self {
        LogRelay {
            path,
            offset: 0,
            carry: Vec::new(),
        }
    }

    fn pump(&mut self) -> anyhow::Result<()> {
        use std::io::{Read, Seek, SeekFrom};
        let Ok(mut f) = std::fs::File::open(&self.path) else {
            return Ok(());
        };
        let len = f.metadata().map(|m| m.len()).unwrap_or(0);
        if len < self.offset {
            // Rotated: start over on the new file.
            self.offset = 0;
        }
        f.seek(SeekFrom::Start(self.offset))?;
        let mut buf = Vec::new();
        f.read_to_end(&mut buf)?;
        self.offset += buf.len() as u64;
        self.carry.extend_from_slice(&buf);
        let (mut out, mut err) = (std::io::stdout().lock(), std::io::stderr().lock());
        while let Some(nl) = self.carry.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.carry.drain(..=nl).collect();
            let text = String::from_utf8_lossy(&line[..line.len() - 1]);
            if let Some(rec) = parse_record(&text) {
                let sink: &mut dyn Write = if rec.stream == Stream::Stdout {
                    &mut out
                } else {
                    &mut err
                };
                sink.write_all(rec.content.as_bytes())?;
                if rec.full {
                    sink.write_all(b"\n")?;
                }
            }
        }
        out.flush()?;
        err.flush()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::default_name;

    #[test]
    fn names_from_images() {
        assert_eq!(
            default_name("wasm-examples/out/hello-http.wasm"),
            "hello-http"
        );
        assert_eq!(default_name("127.0.0.1:5000/team/Job_1:v2"), "job-1");
        assert_eq!(default_name("::"), "container");
    }
}
