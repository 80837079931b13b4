//! `kubectl attach` at the runtime level: a client on the container's
//! attach socket types into PID 1 and reads what it prints, with a
//! terminal and with plain pipes; the CRI log keeps being written.

use std::time::Duration;

use skiff_runtime::attach::{CLOSE, Frame, STDERR, STDIN, STDOUT};
use skiff_runtime::logs::{Stream, lines};
use skiff_runtime::{
    ContainerConfig, ContainerState, ImageSpec, PodSandboxConfig, RegistryAuth, Runtime,
};
use skiff_runtime_native::{NativeRuntime, NativeRuntimeConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

use crate::fixture::{fixture, shim};

/// Bounds every wait, so a broken attach fails instead of hanging.
const WAIT: Duration = Duration::from_secs(30);

struct Env {
    rt: NativeRuntime,
    pod: String,
    image: ImageSpec,
    _dir: tempfile::TempDir,
}

async fn setup(image: &str, pod: &str) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = NativeRuntimeConfig::new(dir.path().join("state"));
    cfg.shim = shim().to_owned();
    let rt = NativeRuntime::new(cfg).unwrap();
    let image = ImageSpec::new(image);
    rt.images()
        .pull_image(&image, &RegistryAuth::Anonymous)
        .await
        .unwrap();
    let pod = rt
        .run_pod_sandbox(&PodSandboxConfig::new(
            "default",
            pod,
            dir.path().join("logs"),
        ))
        .await
        .unwrap();
    Env {
        rt,
        pod,
        image,
        _dir: dir,
    }
}

/// A client of the attach socket that collects what arrives per channel.
struct Client {
    stream: UnixStream,
    buf: Vec<u8>,
    stdout: String,
    stderr: String,
}

impl Client {
    async fn connect(env: &Env, id: &str) -> Client {
        let svc = env.rt.exec().expect("the native runtime can exec");
        let endpoint = svc.attach(id).unwrap();
        let stream = UnixStream::connect(&endpoint.socket).await.unwrap();
        Client {
            stream,
            buf: Vec::new(),
            stdout: String::new(),
            stderr: String::new(),
        }
    }

    async fn send(&mut self, f: Frame) {
        self.stream.write_all(&f.encode()).await.unwrap();
    }

    /// Reads until `done` holds for (stdout, stderr), or panics after WAIT.
    async fn until(&mut self, what: &str, done: impl Fn(&str, &str) -> bool) {
        let read = async {
            let mut chunk = [0u8; 4096];
            while !done(&self.stdout, &self.stderr) {
                let n = self.stream.read(&mut chunk).await.unwrap();
                assert!(n > 0, "the attach socket closed before {what}");
                self.buf.extend_from_slice(&chunk[..n]);
                while let Some((f, used)) = Frame::decode(&self.buf).unwrap() {
                    self.buf.drain(..used);
                    let text = String::from_utf8_lossy(&f.data);
                    match f.channel {
                        STDOUT => self.stdout.push_str(&text),
                        STDERR => self.stderr.push_str(&text),
                        other => panic!("unexpected channel {other}"),
                    }
                }
            }
        };
        if tokio::time::timeout(WAIT, read).await.is_err() {
            panic!(
                "no {what} within {WAIT:?}; stdout {:?}, stderr {:?}",
                self.stdout, self.stderr
            );
        }
    }
}

#[tokio::test]
async fn a_shell_on_a_terminal_takes_input_and_answers() {
    let Some(f) = fixture() else { return };
    let env = setup(&f.image, "attach-tty").await;
    let mut c = ContainerConfig::new("sh", env.image.clone());
    c.command = vec!["sh".into()];
    c.stdin = true;
    c.tty = true;
    let id = env.rt.create_container(&env.pod, &c).await.unwrap();
    env.rt.start_container(&id).await.unwrap();

    let mut client = Client::connect(&env, &id).await;
    client.send(Frame::new(STDIN, Vec::new())).await;
    client.send(Frame::resize(100, 40)).await;
    client
        .send(Frame::new(
            STDIN,
            b"[ -t 0 ] && [ -t 1 ] && echo on-a-terminal; tty; stty size; echo sum-$((6*7))\n"
                .to_vec(),
        ))
        .await;
    client
        .until("the shell's answer", |out, _| out.contains("sum-42"))
        .await;
    assert!(
        client.stdout.contains("\non-a-terminal"),
        "stdin is not a terminal: {:?}",
        client.stdout
    );
    assert!(
        !client.stdout.contains("not a tty"),
        "ttyname does not find the terminal: {:?}",
        client.stdout
    );
    assert!(
        client.stdout.contains("40 100"),
        "the resize did not apply: {:?}",
        client.stdout
    );
    client.send(Frame::new(STDIN, b"exit 3\n".to_vec())).await;
    let st = tokio::time::timeout(WAIT, env.rt.wait_container(&id))
        .await
        .expect("the shell did not exit")
        .unwrap();
    assert_eq!((st.state, st.exit_code), (ContainerState::Exited, Some(3)));
    // The terminal's output, the echo of what was typed included, was
    // logged as stdout while attached.
    let log = std::fs::read_to_string(&st.log_path).unwrap();
    assert!(
        lines(&log, Some(Stream::Stdout))
            .iter()
            .any(|l| l.contains("sum-42")),
        "log: {log}"
    );
    env.rt.remove_container(&id).await.unwrap();
    env.rt.remove_pod_sandbox(&env.pod).await.unwrap();
}

#[tokio::test]
async fn stdin_once_closes_stdin_when_the_client_is_done() {
    let Some(f) = fixture() else { return };
    let env = setup(&f.image, "attach-pipe").await;
    let mut c = ContainerConfig::new("reader", env.image.clone());
    c.command = vec![
        "sh".into(),
        "-c".into(),
        "while read l; do echo \"out $l\"; echo \"err $l\" >&2; done; echo end-of-input".into(),
    ];
    c.stdin = true;
    c.stdin_once = true;
    let id = env.rt.create_container(&env.pod, &c).await.unwrap();
    env.rt.start_container(&id).await.unwrap();

    // A second client only watches: it sees output, and its leaving
    // does not close stdin.
    let mut watcher = Client::connect(&env, &id).await;
    let mut client = Client::connect(&env, &id).await;
    client.send(Frame::new(STDIN, b"a\n".to_vec())).await;
    client
        .until("the first line", |out, err| {
            out.contains("out a") && err.contains("err a")
        })
        .await;
    watcher
        .until("the first line for the watcher", |out, _| {
            out.contains("out a")
        })
        .await;
    drop(watcher);
    client.send(Frame::new(STDIN, b"b\n".to_vec())).await;
    client
        .until("the second line", |out, _| out.contains("out b"))
        .await;
    client.send(Frame::new(CLOSE, vec![STDIN])).await;
    client
        .until("end of input", |out, _| out.contains("end-of-input"))
        .await;
    let st = tokio::time::timeout(WAIT, env.rt.wait_container(&id))
        .await
        .expect("the reader did not exit")
        .unwrap();
    assert_eq!(st.exit_code, Some(0));
    let log = std::fs::read_to_string(&st.log_path).unwrap();
    assert_eq!(
        lines(&log, Some(Stream::Stdout)),
        ["out a", "out b", "end-of-input"]
    );
    assert_eq!(lines(&log, Some(Stream::Stderr)), ["err a", "err b"]);
    env.rt.remove_container(&id).await.unwrap();
    env.rt.remove_pod_sandbox(&env.pod).await.unwrap();
}
