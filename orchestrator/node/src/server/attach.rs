//! `kubectl attach` (and `kubectl run -it`) on the node: the same WebSocket
//! or SPDY session as exec ([`super::remotecommand`]),
//! relayed to the runtime's attach socket
//! ([`skiff_runtime::ExecService::attach`]) that streams the container's
//! main process output from now on and takes its input. The session ends
//! when the process's output ends (a `Success` status, as the kubelet
//! sends) or when the client leaves; leaving does not stop the container.
//!
//! As in the kubelet, whether the stream is a terminal is the container's
//! (`tty` in its spec), not the client's choice; input is refused with a
//! clear error when the container was not created with `stdin: true`.

use std::sync::Arc;

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use skiff_runtime::attach::{self, AttachEndpoint, Frame as AttachFrame};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio::net::unix::OwnedWriteHalf;

use super::channel;
use super::exec::find_container;
use super::remotecommand::{Channels, Input, accept};
use super::{Body, Node, query_pairs, status};

/// What the client asked to attach.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AttachRequest {
    /// Send input.
    pub stdin: bool,
    /// Receive standard output.
    pub stdout: bool,
    /// Receive standard error.
    pub stderr: bool,
}

impl AttachRequest {
    /// Reads `stdin`, `stdout` and `stderr` from a query (`tty` is the
    /// container's to decide).
    pub fn from_query(q: &[(String, String)]) -> Self {
        let flag = |k: &str| super::query_flag(q, k);
        AttachRequest {
            stdin: flag("stdin"),
            stdout: flag("stdout"),
            stderr: flag("stderr"),
        }
    }
}

/// Answers the upgrade and relays the attach session on it.
pub fn upgrade(
    node: Arc<Node>,
    req: Request<Incoming>,
    ns: String,
    pod: String,
    container: String,
) -> Response<Body> {
    let want = AttachRequest::from_query(&query_pairs(req.uri().query()));
    if !(want.stdin || want.stdout || want.stderr) {
        return status(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "you must specify at least one of stdin, stdout, stderr",
        );
    }
    accept(req, "attach", move |chans| async move {
        run(&node, chans, &ns, &pod, &container, want).await;
    })
}

/// Finds the container and its attach socket, refusing what it cannot do.
async fn connect(
    node: &Node,
    ns: &str,
    pod: &str,
    container: &str,
    want: AttachRequest,
) -> Result<(AttachEndpoint, UnixStream), String> {
    let (rt, id) = find_container(&node.runtimes, &node.data_dir, ns, pod, container)
        .await
        .ok_or_else(|| format!("container not found (\"{container}\")"))?;
    let Some(svc) = rt.exec() else {
        return Err(format!(
            "attach is not supported for container \"{container}\" of pod \"{pod}\": it runs in the {} runtime, whose WebAssembly program has no process stdio to attach to (use kubectl logs -f)",
            rt.handler()
        ));
    };
    let endpoint = svc.attach(&id).map_err(|e| e.to_string())?;
    if want.stdin && !endpoint.stdin {
        return Err(format!(
            "stdin is not enabled for container \"{container}\" of pod \"{pod}\": its spec needs stdin: true to take input (attach without -i to watch its output)"
        ));
    }
    let stream = UnixStream::connect(&endpoint.socket)
        .await
        .map_err(|e| format!("attaching to container \"{container}\": {e}"))?;
    Ok((endpoint, stream))
}

/// Relays until the process's output ends or the client leaves.
async fn run(
    node: &Node,
    mut chans: Channels,
    ns: &str,
    pod: &str,
    container: &str,
    want: AttachRequest,
) {
    let (endpoint, stream) = match connect(node, ns, pod, container, want).await {
        Ok(c) => c,
        Err(m) => {
            chans.finish(&channel::failure(&m)).await;
            return;
        }
    };
    let (mut from_rt, to_rt) = stream.into_split();
    // Input goes to the runtime while it takes it. Once a write fails (the
    // process exited and the shim closed the socket) input is dropped, but
    // the output still buffered in the socket is relayed to the end: the
    // last line a process prints just before exiting must reach the client.
    let mut to_rt = Some(to_rt);
    if want.stdin {
        send_input(&mut to_rt, AttachFrame::new(attach::STDIN, Vec::new())).await;
    }
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 32 * 1024];
    loop {
        tokio::select! {
            read = from_rt.read(&mut chunk) => {
                let n = match read {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                buf.extend_from_slice(&chunk[..n]);
                loop {
                    let (f, used) = match AttachFrame::decode(&buf) {
                        Ok(Some(d)) => d,
                        Ok(None) => break,
                        Err(e) => {
                            tracing::debug!(error = %e, "attach socket sent a bad frame");
                            chans.close().await;
                            return;
                        }
                    };
                    buf.drain(..used);
                    // A terminal is one stream: kubectl reads it as stdout.
                    let ch = if endpoint.tty { channel::STDOUT } else { f.channel };
                    let wanted = match ch {
                        channel::STDOUT => want.stdout,
                        channel::STDERR => want.stderr,
                        _ => false,
                    };
                    if wanted && !chans.send(ch, &f.data).await {
                        return;
                    }
                }
            }
            input = chans.recv() => {
                let out = match input {
                    Input::Stdin(data) if want.stdin => Some(AttachFrame::new(attach::STDIN, data)),
                    Input::StdinClosed if want.stdin => {
                        Some(AttachFrame::new(attach::CLOSE, vec![attach::STDIN]))
                    }
                    Input::Resize(s) => Some(AttachFrame::resize(s.width, s.height)),
                    // The client left: the container goes on.
                    Input::Gone => return,
                    Input::Stdin(_) | Input::StdinClosed => None,
                };
                if let Some(f) = out {
                    send_input(&mut to_rt, f).await;
                }
            }
        }
    }
    chans.finish(&channel::exit_status(&[], 0)).await;
}

/// Writes `frame` to the runtime; after a failed write the runtime side is
/// dropped and later input is ignored.
async fn send_input(to_rt: &mut Option<OwnedWriteHalf>, frame: AttachFrame) {
    if let Some(w) = to_rt.as_mut()
        && w.write_all(&frame.encode()).await.is_err()
    {
        *to_rt = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attach_query() {
        let q = query_pairs(Some("container=main&stdin=true&stdout=true&tty=true"));
        let a = AttachRequest::from_query(&q);
        assert!(a.stdin && a.stdout && !a.stderr);
    }
}
