//! `skiff run`: one container through the Runtime trait, no cluster. Its
//! output is read back from the CRI log file and copied to this terminal,
//! so what you see is exactly what `kubectl logs` will show. With `-i` or
//! `-t` (native runtime) the output comes from the runtime's attach socket
//! instead, which also takes this terminal's input and window size, as
//! `docker run -it` does.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use skiff_runtime::attach::{self, Frame};
use skiff_runtime::logs::{Stream, parse_record};
use skiff_runtime::{
    ContainerConfig, ContainerState, DockerKeyring, ImageSpec, PodSandboxConfig, RegistryAuth,
    Resources, Runtime,
};
use skiff_runtime_native::{NativeRuntime, NativeRuntimeConfig};
use skiff_runtime_wasm::{
    REQUEST_TIMEOUT_ANNOTATION, WasmRuntime, WasmRuntimeConfig, parse_duration,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

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
    if !native && (args.interactive || args.tty) {
        bail!(
            "interactive mode (-i/-t) needs the native runtime (--runtime native): a WebAssembly program has no process stdio to attach to"
        );
    }
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
    // As `docker run -i`: stdin closes (the process reads end of file)
    // when ours does.
    config.stdin = args.interactive;
    config.stdin_once = args.interactive;
    config.tty = args.tty;
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

    let attached = (config.stdin || config.tty) && interact(rt, &id, &mut relay).await?;
    if attached {
        // Attached until the output ended: the process has exited or is
        // about to. Its log holds the same output, already shown.
        rt.wait_container(&id).await?;
    } else if !status.listening.is_empty() {
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
    if !attached {
        relay.pump()?;
    }
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

/// Attaches this terminal to the container's main process until its output
/// ends: output to stdout/stderr, stdin (with `-i`) and window sizes (with
/// `-t`) to the container. False when the process was gone before we could
/// attach (its output is then in the log, for the caller to relay).
async fn interact(rt: &dyn Runtime, id: &str, relay: &mut LogRelay) -> anyhow::Result<bool> {
    let svc = rt
        .exec()
        .context("interactive mode (-i/-t) needs the native runtime (--runtime native)")?;
    // What the process wrote before we attach is only in its log.
    relay.pump()?;
    let endpoint = match svc.attach(id) {
        Ok(e) => e,
        Err(_) if rt.container_status(id).await?.state == ContainerState::Exited => {
            return Ok(false);
        }
        Err(e) => return Err(e).context("attaching to the container"),
    };
    let stream = match tokio::net::UnixStream::connect(&endpoint.socket).await {
        Ok(s) => s,
        Err(_) if rt.container_status(id).await?.state == ContainerState::Exited => {
            return Ok(false);
        }
        Err(e) => {
            return Err(e).with_context(|| format!("attaching to {}", endpoint.socket.display()));
        }
    };
    let (mut from_rt, mut to_rt) = stream.into_split();

    // Raw mode only when keys go to a terminal in the container: it then
    // echoes and interprets them (^C included) itself.
    let _raw = if endpoint.tty && endpoint.stdin {
        RawMode::enter()
    } else {
        None
    };
    let mut winch = if endpoint.tty {
        if let Some((w, h)) = window_size() {
            to_rt.write_all(&Frame::resize(w, h).encode()).await?;
        }
        Some(
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::window_change())
                .context("watching window size changes")?,
        )
    } else {
        None
    };
    let mut input = if endpoint.stdin {
        // An empty frame announces a client that sends input, so the
        // runtime closes stdin when we leave (`stdinOnce`).
        to_rt
            .write_all(&Frame::new(attach::STDIN, Vec::new()).encode())
            .await?;
        Some(read_stdin())
    } else {
        None
    };
    // Input is best effort: once the runtime stops taking it, output
    // still goes on until it ends.
    let mut sending = true;
    let (mut out, mut err) = (tokio::io::stdout(), tokio::io::stderr());
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 32 * 1024];
    loop {
        let mut frame = None;
        tokio::select! {
            read = from_rt.read(&mut chunk) => {
                let n = match read {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
                while let Some((f, used)) = Frame::decode(&buf)? {
                    buf.drain(..used);
                    let sink: &mut (dyn tokio::io::AsyncWrite + Unpin + Send) =
                        if f.channel == attach::STDERR { &mut err } else { &mut out };
                    sink.write_all(&f.data).await?;
                    sink.flush().await?;
                }
            }
            data = recv(&mut input) => {
                frame = Some(match data {
                    Some(d) => Frame::new(attach::STDIN, d),
                    None => {
                        input = None;
                        Frame::new(attach::CLOSE, vec![attach::STDIN])
                    }
                });
            }
            Some(()) = next_signal(&mut winch) => {
                frame = window_size().map(|(w, h)| Frame::resize(w, h));
            }
            // In raw mode ^C is a key for the container; otherwise it
            // stops the container, as without -i.
            _ = tokio::signal::ctrl_c() => {
                rt.stop_container(id, Duration::ZERO).await?;
            }
        }
        if let Some(f) = frame
            && sending
            && to_rt.write_all(&f.encode()).await.is_err()
        {
            sending = false;
            input = None;
        }
    }
    Ok(true)
}

/// The next chunk of our stdin, `None` at its end; pending forever once
/// there is no input to read.
async fn recv(input: &mut Option<tokio::sync::mpsc::Receiver<Vec<u8>>>) -> Option<Vec<u8>> {
    match input {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// The next signal, pending forever when not watching.
async fn next_signal(sig: &mut Option<tokio::signal::unix::Signal>) -> Option<()> {
    match sig {
        Some(s) => s.recv().await,
        None => std::future::pending().await,
    }
}

/// Reads stdin on a thread of its own: a read blocked on a terminal never
/// returns when we are done, and the process exits without joining it
/// (tokio's stdin would hold the runtime's shutdown instead).
fn read_stdin() -> tokio::sync::mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin();
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            match stdin.read(&mut buf) {
                Ok(0) => return,
                Ok(n) => {
                    let data = buf.get(..n).unwrap_or_default().to_vec();
                    if tx.blocking_send(data).is_err() {
                        return;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => return,
            }
        }
    });
    rx
}

/// This terminal's size as (columns, rows), from stdout or else stdin;
/// `None` when neither is a terminal.
fn window_size() -> Option<(u16, u16)> {
    let ws = rustix::termios::tcgetwinsize(std::io::stdout())
        .or_else(|_| rustix::termios::tcgetwinsize(std::io::stdin()))
        .ok()?;
    (ws.ws_col > 0 && ws.ws_row > 0).then_some((ws.ws_col, ws.ws_row))
}

/// Our stdin terminal in raw mode (keys go through unprocessed and
/// unechoed); the saved settings come back when this is dropped, on every
/// way out of the session.
struct RawMode {
    saved: rustix::termios::Termios,
}

impl RawMode {
    /// `None` when stdin is not a terminal (piped input stays as it is).
    fn enter() -> Option<RawMode> {
        let stdin = std::io::stdin();
        if !rustix::termios::isatty(&stdin) {
            return None;
        }
        let saved = rustix::termios::tcgetattr(&stdin).ok()?;
        let mut raw = saved.clone();
        raw.make_raw();
        // `Now`, not `Flush`: input typed (or piped in) already is kept.
        rustix::termios::tcsetattr(&stdin, rustix::termios::OptionalActions::Now, &raw).ok()?;
        Some(RawMode { saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = rustix::termios::tcsetattr(
            std::io::stdin(),
            rustix::termios::OptionalActions::Now,
            &self.saved,
        );
    }
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
