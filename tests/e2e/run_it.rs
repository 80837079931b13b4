//! `skiff run -it` with the native runtime: an interactive container as
//! `docker run -it` gives one, attached to the caller's terminal (`script`
//! provides one) through the runtime's attach socket; and `-i` alone
//! relays piped input. No cluster: busybox from a registry on loopback.

use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use skiff_runtime_native::testing::Registry;

/// Bounds every `skiff run`.
const WAIT: Duration = Duration::from_secs(120);

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Runs `cmd` with `input` on its stdin; panics if it outlives [`WAIT`].
fn run_bounded(mut cmd: Command, input: &str) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawning {cmd:?}: {e}"));
    let pid = child.id();
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(input.as_bytes()).unwrap();
    }
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(WAIT) {
        Ok(out) => out.unwrap_or_else(|e| panic!("waiting for {cmd:?}: {e}")),
        Err(_) => {
            let _ = Command::new("kill").arg(pid.to_string()).status();
            panic!("{cmd:?} did not finish within {WAIT:?}");
        }
    }
}

#[test]
fn run_it_gives_a_terminal_and_the_exit_code() {
    let registry = Registry::start(None);
    let image = registry.push_busybox("1");
    let data = tempfile::tempdir().unwrap();
    let skiff = skiff_tests::skiff_bin();
    // The caller's terminal: its size reaches the container's, and its
    // settings (raw mode while attached) come back afterwards.
    let line = format!(
        "stty rows 33 cols 77; before=$(stty -g); {} run --runtime native --data-dir {} -it {image} -- sh -c 'read x; echo got $x; test -t 0 && echo tty; stty size; exit 4'; rc=$?; test \"$(stty -g)\" = \"$before\" && echo restored; exit $rc",
        skiff.display(),
        data.path().display()
    );
    let mut cmd = Command::new("script");
    cmd.args(["-qec", &line, "/dev/null"])
        .env("SKIFF_NATIVE_SHIM", skiff_tests::native_shim());
    let out = run_bounded(cmd, "hello\n");
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("got hello"),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    // The shell's stdin is a terminal.
    assert!(
        stdout.lines().any(|l| l.trim() == "tty"),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    for want in ["33 77", "restored"] {
        assert!(
            stdout.lines().any(|l| l.trim() == want),
            "{want}: {stdout}\n{}",
            text(&out.stderr)
        );
    }
    assert_eq!(
        out.status.code(),
        Some(4),
        "{stdout}\n{}",
        text(&out.stderr)
    );
}

#[test]
fn run_i_relays_piped_input() {
    let registry = Registry::start(None);
    let image = registry.push_busybox("1");
    let data = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(skiff_tests::skiff_bin());
    cmd.args(["run", "--runtime", "native", "--data-dir"])
        .arg(data.path())
        .args(["-i", &image, "--", "cat"])
        .env("SKIFF_NATIVE_SHIM", skiff_tests::native_shim());
    let out = run_bounded(cmd, "hi\n");
    assert_eq!(text(&out.stdout), "hi\n", "{}", text(&out.stderr));
    assert!(out.status.success(), "{}", text(&out.stderr));
}

#[test]
fn run_it_with_wasm_says_why_not() {
    let data = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(skiff_tests::skiff_bin());
    cmd.args(["run", "--data-dir"])
        .arg(data.path())
        .args(["-ti", "hello.wasm"]);
    let out = run_bounded(cmd, "");
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("interactive mode (-i/-t) needs the native runtime"),
        "{}",
        text(&out.stderr)
    );
}
