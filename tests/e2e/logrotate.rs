//! Container log rotation end to end: with `--container-log-max-size 4Ki`
//! a native pod's log rotates several times while `kubectl logs -f`
//! follows it, and the follower sees every line once, in order; a plain
//! `kubectl logs` afterwards shows only the current file's tail.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use skiff_runtime_native::testing::Registry;
use skiff_tests::Cluster;

#[test]
fn kubectl_logs_follow_continues_across_rotations() {
    let c = match Cluster::up(&["--container-log-max-size", "4Ki"]) {
        Ok(c) => c,
        Err(e) => panic!("skiff up: {e:#}"),
    };
    let ns = c
        .netns()
        .map(|n| n.path())
        .unwrap_or_else(|| panic!("skiff up runs in a netns"));
    let registry = Registry::start(Some(&ns));
    let image = registry.push_busybox("1");
    // ~125-byte records, 200 of them: about six rotations at 4 KiB, paced
    // so the follower (polling every 200 ms) is attached before the first.
    let script = "sleep 8; i=0; while [ $i -lt 200 ]; do \
                  echo \"line-$i xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"; \
                  i=$((i+1)); sleep 0.05; done";
    c.apply(&format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: chatty\nspec:\n  restartPolicy: Never\n  containers:\n  - name: main\n    image: {image}\n    command: [\"sh\", \"-c\", {script:?}]\n"
    ));
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let phase = c.kubectl_ok(&["get", "pod", "chatty", "-o", "jsonpath={.status.phase}"]);
        if phase == "Running" {
            break;
        }
        assert!(Instant::now() < deadline, "pod chatty is {phase:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut follow = Command::new("kubectl")
        .args(["logs", "-f", "chatty"])
        .env("KUBECONFIG", &c.kubeconfig)
        .env("HOME", c.dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kubectl");
    let deadline = Instant::now() + Duration::from_secs(120);
    while follow.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = follow.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = follow.wait_with_output().expect("kubectl output");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let followed: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.split(' ').next().unwrap_or("").to_owned())
        .collect();
    let expected: Vec<String> = (0..200).map(|i| format!("line-{i}")).collect();
    assert_eq!(followed, expected);

    // Not following: the current file only, which rotation kept short.
    let current = c.kubectl_ok(&["logs", "chatty"]);
    let n = current.lines().count();
    println!("kubectl logs after rotation: {n} of 200 lines");
    assert!(n < 200, "the log did not rotate");
    assert!(current.ends_with(
        "line-199 xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n"
    ));
}
