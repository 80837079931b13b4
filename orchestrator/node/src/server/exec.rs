//! `kubectl exec` on the node: a WebSocket (channel protocol) or SPDY
//! upgrade ([`super::remotecommand`]), a process started through the runtime's
//! [`skiff_runtime::ExecService::exec_command`], its stdio pumped to and
//! from the channels, and its exit status sent on the error channel
//! (which is how kubectl learns the exit code).
//!
//! With `tty=true` the command gets a pseudo-terminal (stdout and stderr
//! both go to it) that follows the client's resize messages. The command
//! does not get it as its controlling terminal (that needs `setsid` in the
//! child), so shells run without job control.

use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use skiff_runtime::{ContainerFilter, ContainerState, Runtime};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

use super::channel;
use super::remotecommand::{Channels, Input, accept};
use super::{Body, Node, query_pairs, status};

/// How long output still drains after the command exited (a background
/// child may hold the pipes open forever).
const DRAIN: Duration = Duration::from_secs(2);

/// What the client asked to run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecRequest {
    /// The command and its arguments.
    pub command: Vec<String>,
    /// Attach stdin.
    pub stdin: bool,
    /// Allocate a terminal.
    pub tty: bool,
}

impl ExecRequest {
    /// Reads `command` (repeated), `stdin` and `tty` from a query.
    pub fn from_query(q: &[(String, String)]) -> Self {
        let flag = |k: &str| super::query_flag(q, k);
        ExecRequest {
            command: q
                .iter()
                .filter(|(k, _)| k == "command")
                .map(|(_, v)| v.clone())
                .collect(),
            stdin: flag("stdin"),
            tty: flag("tty"),
        }
    }
}

/// Answers the upgrade and runs the command on the upgraded connection.
pub fn upgrade(
    node: Arc<Node>,
    req: Request<Incoming>,
    ns: String,
    pod: String,
    container: String,
) -> Response<Body> {
    let exec = ExecRequest::from_query(&query_pairs(req.uri().query()));
    if exec.command.is_empty() {
        return status(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "you must specify at least one command for the container",
        );
    }
    accept(req, "exec", move |chans| async move {
        run(&node, chans, &ns, &pod, &container, &exec).await;
    })
}

/// The running container `container` of pod `ns/pod`, by its log path
/// (`<data>/pods/<ns>_<pod>_<uid>/<container>/<n>.log`), and its runtime.
pub async fn find_container(
    runtimes: &[Arc<dyn Runtime>],
    data_dir: &Path,
    ns: &str,
    pod: &str,
    container: &str,
) -> Option<(Arc<dyn Runtime>, String)> {
    let pods = data_dir.join("pods");
    let prefix = format!("{ns}_{pod}_");
    let filter = ContainerFilter {
        sandbox_id: None,
        state: Some(ContainerState::Running),
    };
    for rt in runtimes {
        let Ok(list) = rt.list_containers(&filter).await else {
            continue;
        };
        for c in list {
            let Ok(rel) = c.log_path.strip_prefix(&pods) else {
                continue;
            };
            let mut parts = rel.iter().filter_map(|p| p.to_str());
            let (Some(dir), Some(name)) = (parts.next(), parts.next()) else {
                continue;
            };
            let uid_ok = dir.strip_prefix(&prefix).is_some_and(|u| !u.contains('_'));
            if uid_ok && name == container && c.state == ContainerState::Running {
                return Some((rt.clone(), c.id));
            }
        }
    }
    None
}

type Reader = Box<dyn AsyncRead + Unpin + Send>;
type Writer = Box<dyn AsyncWrite + Unpin + Send>;

/// The started command: its stdio and the child.
struct Started {
    child: tokio::process::Child,
    stdin: Option<Writer>,
    outputs: Vec<(u8, Reader)>,
    /// The terminal's controlling side, for resizes.
    terminal: Option<std::fs::File>,
}

fn spawn(mut cmd: std::process::Command, exec: &ExecRequest) -> Result<Started, String> {
    if exec.tty {
        let pty =
            nix::pty::openpty(None, None).map_err(|e| format!("allocating a terminal: {e}"))?;
        let slave = std::fs::File::from(pty.slave);
        let dup = |f: &std::fs::File| f.try_clone().map_err(|e| format!("terminal: {e}"));
        cmd.stdin(Stdio::from(dup(&slave)?))
            .stdout(Stdio::from(dup(&slave)?))
            .stderr(Stdio::from(slave));
        let child = tokio::process::Command::from(cmd)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("starting the exec process: {e}"))?;
        let master = std::fs::File::from(pty.master);
        let writer = dup(&master)?;
        let terminal = Some(dup(&master)?);
        let stdin: Option<Writer> = exec
            .stdin
            .then(|| Box::new(tokio::fs::File::from_std(writer)) as Writer);
        Ok(Started {
            child,
            stdin,
            outputs: vec![(channel::STDOUT, Box::new(tokio::fs::File::from_std(master)))],
            terminal,
        })
    } else {
        cmd.stdin(if exec.stdin {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let mut child = tokio::process::Command::from(cmd)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("starting the exec process: {e}"))?;
        let stdin = child.stdin.take().map(|s| Box::new(s) as Writer);
        let mut outputs: Vec<(u8, Reader)> = Vec::new();
        if let Some(o) = child.stdout.take() {
            outputs.push((channel::STDOUT, Box::new(o)));
        }
        if let Some(e) = child.stderr.take() {
            outputs.push((channel::STDERR, Box::new(e)));
        }
        Ok(Started {
            child,
            stdin,
            outputs,
            terminal: None,
        })
    }
}

async fn start(
    node: &Node,
    ns: &str,
    pod: &str,
    container: &str,
    exec: &ExecRequest,
) -> Result<Started, String> {
    let (rt, id) = find_container(&node.runtimes, &node.data_dir, ns, pod, container)
        .await
        .ok_or_else(|| format!("container not found (\"{container}\")"))?;
    let Some(svc) = rt.exec() else {
        return Err(format!(
            "exec is not supported for container \"{container}\" of pod \"{pod}\": it runs in the {} runtime, and a WebAssembly program has no processes to run a command in",
            rt.handler()
        ));
    };
    let cmd = svc
        .exec_command(&id, &exec.command)
        .map_err(|e| e.to_string())?;
    spawn(cmd, exec)
}

/// Runs the session to its end; every path closes the connection.
async fn run(
    node: &Node,
    mut chans: Channels,
    ns: &str,
    pod: &str,
    container: &str,
    exec: &ExecRequest,
) {
    let mut started = match start(node, ns, pod, container, exec).await {
        Ok(s) => s,
        Err(m) => {
            chans.finish(&channel::failure(&m)).await;
            return;
        }
    };
    let (out_tx, mut out_rx) = mpsc::channel::<(u8, Vec<u8>)>(32);
    let mut pumps = Vec::new();
    for (ch, mut r) in std::mem::take(&mut started.outputs) {
        let tx = out_tx.clone();
        pumps.push(tokio::spawn(async move {
            let mut buf = vec![0u8; 32 * 1024];
            // Ends at end of file, or EIO once a terminal's last user is gone.
            while let Ok(n) = r.read(&mut buf).await {
                if n == 0 || tx.send((ch, buf[..n].to_vec())).await.is_err() {
                    break;
                }
            }
        }));
    }
    drop(out_tx);
    let mut stdin = started.stdin.take();
    let code = loop {
        tokio::select! {
            exit = started.child.wait() => {
                break match exit {
                    Ok(s) => s.code().unwrap_or(KILLED),
                    Err(_) => KILLED,
                };
            }
            Some((ch, out)) = out_rx.recv() => {
                if !chans.send(ch, &out).await {
                    return;
                }
            }
            input = chans.recv() => match input {
                Input::Stdin(data) => {
                    if let Some(w) = stdin.as_mut()
                        && (w.write_all(&data).await.is_err() || w.flush().await.is_err())
                    {
                        stdin = None;
                    }
                }
                Input::StdinClosed => stdin = None,
                Input::Resize(size) => {
                    if let Some(t) = &started.terminal {
                        resize(t, size);
                    }
                }
                // The client left: the child is killed on drop.
                Input::Gone => return,
            },
        }
    };
    drop(stdin);
    let drain = async {
        while let Some((ch, out)) = out_rx.recv().await {
            if !chans.send(ch, &out).await {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(DRAIN, drain).await;
    for p in pumps {
        p.abort();
    }
    chans
        .finish(&channel::exit_status(&exec.command, code))
        .await;
}

/// Applies a client's terminal size to the command's terminal.
fn resize(terminal: &std::fs::File, size: channel::TermSize) {
    let ws = rustix::termios::Winsize {
        ws_row: size.height,
        ws_col: size.width,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    if let Err(e) = rustix::termios::tcsetwinsize(terminal, ws) {
        tracing::debug!(error = %e, "terminal resize failed");
    }
}

/// The code reported for a command killed by a signal we cannot name.
pub const KILLED: i32 = skiff_runtime::EXIT_CODE_KILLED;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_query() {
        let q = query_pairs(Some(
            "command=sh&command=-c&command=exit+3&stdin=true&stdout=true&tty=false",
        ));
        let e = ExecRequest::from_query(&q);
        assert_eq!(e.command, ["sh", "-c", "exit 3"]);
        assert!(e.stdin && !e.tty);
    }
}
