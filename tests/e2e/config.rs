//! ConfigMaps, Secrets and the downward API reaching pods end to end, as the
//! kubelet delivers them: env (`value` with `$(VAR)`, `valueFrom`, `envFrom`
//! with a prefix) and files (configMap, secret with items and modes,
//! downwardAPI) that follow later changes of their source in a running pod.
//! Against a real `skiff up` with real kubectl, using the `env-echo` Wasm
//! example, which prints its env and files to its log.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use skiff_runtime_native::testing::Registry;
use skiff_tests::Cluster;

const ECHO: &str = "localhost/skiff-e2e/env-echo:1";

fn up() -> Cluster {
    Cluster::up_with_wasm(&[("env-echo", ECHO)])
}

const OBJECTS: &str = r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: app-config
data:
  greeting: hello
  color: blue
  1st: skipped
---
apiVersion: v1
kind: Secret
metadata:
  name: app-secret
stringData:
  password: s3cret
  token: abc
"#;

/// An env-echo pod reporting every half second.
fn echo_pod(name: &str, env: &str, volumes: &str, mounts: &str, paths: &[&str]) -> String {
    let mut args = vec!["\"--every\"".to_owned(), "\"0.5\"".to_owned()];
    args.extend(paths.iter().map(|p| format!("\"{p}\"")));
    format!(
        r#"apiVersion: v1
kind: Pod
metadata:
  name: {name}
  labels:
    app: echo
spec:
  runtimeClassName: wasmtime
  containers:
  - name: echo
    image: {ECHO}
    args: [{}]
{env}{mounts}{volumes}"#,
        args.join(", ")
    )
}

/// The container log as `kubectl logs` prints it. Until the API server can
/// proxy to the node agent, `kubectl logs` answers ServiceUnavailable; the
/// same lines are then read from the node's CRI log file
/// (`pods/<ns>_<name>_<uid>/<container>/<attempt>.log`).
fn pod_log(c: &Cluster, pod: &str, container: &str) -> String {
    let out = c.kubectl(&["logs", pod, "--tail=150"]);
    if out.status.success() {
        return String::from_utf8_lossy(&out.stdout).into_owned();
    }
    let mut dirs = Vec::new();
    find_dirs(c.dir.path(), "", 3, &mut dirs);
    let prefix = format!("default_{pod}_");
    let Some(dir) = dirs.iter().find(|d| {
        d.file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with(&prefix))
    }) else {
        return String::new();
    };
    let Some(file) = std::fs::read_dir(dir.join(container))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .max_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok())
    else {
        return String::new();
    };
    // CRI lines: `<time> <stream> <P|F> <text>`; P continues on the next line.
    let raw = std::fs::read_to_string(file).unwrap_or_default();
    let mut text = String::new();
    for line in raw.lines() {
        let mut parts = line.splitn(4, ' ');
        let (_, _, tag, rest) = (parts.next(), parts.next(), parts.next(), parts.next());
        text.push_str(rest.unwrap_or(""));
        if tag != Some("P") {
            text.push('\n');
        }
    }
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(150)..].join("\n");
    tail + "\n"
}

/// Polls the pod's log until every string in `want` is in its tail;
/// returns the tail.
async fn wait_logs(
    c: &Cluster,
    pod: &str,
    container: &str,
    want: &[&str],
    timeout: Duration,
) -> String {
    let deadline = Instant::now() + timeout;
    loop {
        let log = pod_log(c, pod, container);
        if want.iter().all(|w| log.contains(w)) {
            return log;
        }
        assert!(
            Instant::now() < deadline,
            "pod {pod}: {want:?} not in its log within {timeout:?}:\n{log}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn wait_pod(
    api: &Api<Pod>,
    name: &str,
    timeout: Duration,
    done: impl Fn(&Pod) -> bool,
) -> Pod {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(Some(p)) = api.get_opt(name).await {
            if done(&p) {
                return p;
            }
            assert!(
                Instant::now() < deadline,
                "pod {name} not as expected in {timeout:?}: {:?}",
                p.status
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn waiting_reason(p: &Pod) -> Option<(String, String)> {
    let w = p
        .status
        .as_ref()?
        .container_statuses
        .as_ref()?
        .first()?
        .state
        .as_ref()?
        .waiting
        .clone()?;
    Some((w.reason.unwrap_or_default(), w.message.unwrap_or_default()))
}

fn running(p: &Pod) -> bool {
    p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")
}

/// Directories named `name` under `dir` (a few levels deep).
fn find_dirs(dir: &Path, name: &str, depth: usize, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            if name.is_empty() || e.file_name() == name {
                out.push(p.clone());
            }
            if depth > 0 {
                find_dirs(&p, name, depth - 1, out);
            }
        }
    }
}

#[tokio::test]
async fn config_maps_and_secrets_become_env_and_live_files() -> anyhow::Result<()> {
    let c = up();
    c.apply(OBJECTS);
    let env = r#"    env:
    - name: POD_NAME
      valueFrom: {fieldRef: {fieldPath: metadata.name}}
    - name: GREETING
      valueFrom: {configMapKeyRef: {name: app-config, key: greeting}}
    - name: MESSAGE
      value: "$(GREETING) from $(POD_NAME), $(LATER) $$(GREETING)"
    - name: LATER
      value: later
    - name: PW
      valueFrom: {secretKeyRef: {name: app-secret, key: password}}
    - name: MAYBE
      valueFrom: {configMapKeyRef: {name: app-config, key: nope, optional: true}}
    - name: MEM_MI
      valueFrom: {resourceFieldRef: {resource: limits.memory, divisor: 1Mi}}
    resources:
      limits: {memory: 64Mi}
    envFrom:
    - configMapRef: {name: app-config}
      prefix: CFG_
    - configMapRef: {name: app-config}
    - secretRef: {name: app-secret}
      prefix: SEC_
"#;
    let mounts = r#"    volumeMounts:
    - {name: config, mountPath: /etc/config}
    - {name: secret, mountPath: /etc/secret}
    - {name: podinfo, mountPath: /etc/podinfo}
    - {name: all, mountPath: /etc/all}
    - {name: host, mountPath: /host, readOnly: true}
"#;
    let volumes = r#"  volumes:
  - name: config
    configMap: {name: app-config}
  - name: secret
    secret:
      secretName: app-secret
      items: [{key: password, path: creds/pw, mode: 0400}]
  - name: podinfo
    downwardAPI:
      items:
      - path: labels
        fieldRef: {fieldPath: metadata.labels}
  - name: all
    projected:
      sources:
      - configMap:
          name: app-config
          items: [{key: color, path: cfg/color}]
      - downwardAPI:
          items: [{path: podname, fieldRef: {fieldPath: metadata.name}}]
  - name: host
    hostPath: {path: HOSTDIR, type: DirectoryOrCreate}
"#;
    let host_dir = c.dir.path().join("hostdata");
    let volumes = volumes.replace("HOSTDIR", &host_dir.display().to_string());
    c.apply(&echo_pod(
        "echo",
        env,
        &volumes,
        mounts,
        &[
            "/etc/config/greeting",
            "/etc/secret/creds/pw",
            "/etc/secret/token",
            "/etc/podinfo/labels",
            "/etc/all/cfg/color",
            "/etc/all/podname",
            "/host/note",
        ],
    ));
    let api: Api<Pod> = Api::namespaced(c.client().await?, "default");
    let p = wait_pod(&api, "echo", Duration::from_secs(30), running).await;
    let uid = p.metadata.uid.clone().unwrap_or_default();
    let log = wait_logs(
        &c,
        "echo",
        "echo",
        &[
            "ENV GREETING=hello\n",
            "ENV MESSAGE=hello from echo, $(LATER) $(GREETING)\n",
            "ENV PW=s3cret\n",
            "ENV CFG_greeting=hello\n",
            "ENV CFG_color=blue\n",
            "ENV SEC_token=abc\n",
            "ENV MEM_MI=64\n",
            "FILE /etc/config/greeting\nhello\nEND",
            "FILE /etc/secret/creds/pw\ns3cret\nEND",
            "MISSING /etc/secret/token",
            "FILE /etc/podinfo/labels\napp=\"echo\"\nEND",
            "FILE /etc/all/cfg/color\nblue\nEND",
            "FILE /etc/all/podname\necho\nEND",
            "MISSING /host/note",
        ],
        Duration::from_secs(20),
    )
    .await;
    assert!(
        !log.contains("ENV MAYBE="),
        "optional missing key set:\n{log}"
    );
    assert!(!log.contains("ENV 1st="), "invalid name passed:\n{log}");
    assert!(log.contains("ENV color=blue\n"), "{log}");
    let describe = c.kubectl_ok(&["describe", "pod", "echo"]);
    assert!(
        describe.contains("InvalidEnvironmentVariableNames")
            && describe.contains("Keys [1st] from the EnvFrom configMap default/app-config"),
        "{describe}"
    );

    // The hostPath was created and is the host's directory itself.
    assert!(host_dir.is_dir());
    std::fs::write(host_dir.join("note"), "from the host")?;
    wait_logs(
        &c,
        "echo",
        "echo",
        &["FILE /host/note\nfrom the host\nEND"],
        Duration::from_secs(20),
    )
    .await;

    // The volume layout is the kubelet's, the secret file has its mode.
    let mut dirs = Vec::new();
    find_dirs(c.dir.path(), &uid, 3, &mut dirs);
    let pod_dir = dirs
        .iter()
        .find(|d| d.join("volumes").is_dir())
        .unwrap_or_else(|| panic!("no pods/{uid}/volumes under {}", c.dir.path().display()))
        .clone();
    let secret = pod_dir.join("volumes/kubernetes.io~secret/secret");
    assert!(
        std::fs::read_link(secret.join("..data"))?
            .to_string_lossy()
            .starts_with("..")
    );
    assert_eq!(
        std::fs::read_link(secret.join("creds"))?,
        Path::new("..data/creds")
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(secret.join("creds/pw"))?
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o400);

    // A ConfigMap change reaches the file in the running pod, not its env.
    c.kubectl_ok(&[
        "patch",
        "configmap",
        "app-config",
        "--type=merge",
        "-p",
        r#"{"data":{"greeting":"bonjour"}}"#,
    ]);
    let log = wait_logs(
        &c,
        "echo",
        "echo",
        &["FILE /etc/config/greeting\nbonjour\nEND"],
        Duration::from_secs(20),
    )
    .await;
    assert!(log.contains("ENV GREETING=hello\n"), "{log}");
    // So does a Secret change.
    c.kubectl_ok(&[
        "patch",
        "secret",
        "app-secret",
        "--type=merge",
        "-p",
        r#"{"stringData":{"password":"rotated"}}"#,
    ]);
    wait_logs(
        &c,
        "echo",
        "echo",
        &["FILE /etc/secret/creds/pw\nrotated\nEND"],
        Duration::from_secs(20),
    )
    .await;
    // And new labels reach the downward API file.
    c.kubectl_ok(&["label", "pod", "echo", "tier=gold"]);
    wait_logs(
        &c,
        "echo",
        "echo",
        &["FILE /etc/podinfo/labels\napp=\"echo\"\ntier=\"gold\"\nEND"],
        Duration::from_secs(20),
    )
    .await;

    // Deleting the pod removes its volumes.
    c.kubectl_ok(&["delete", "pod", "echo", "--grace-period=1"]);
    let deadline = Instant::now() + Duration::from_secs(20);
    while pod_dir.join("volumes").exists() {
        assert!(
            Instant::now() < deadline,
            "{} left behind",
            pod_dir.display()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

#[tokio::test]
async fn missing_key_is_a_create_container_config_error() -> anyhow::Result<()> {
    let c = up();
    c.apply(OBJECTS);
    let env = r#"    env:
    - name: X
      valueFrom: {configMapKeyRef: {name: app-config, key: nope}}
"#;
    c.apply(&echo_pod("nokey", env, "", "", &[]));
    let api: Api<Pod> = Api::namespaced(c.client().await?, "default");
    let p = wait_pod(&api, "nokey", Duration::from_secs(30), |p| {
        waiting_reason(p).is_some_and(|(r, _)| r == "CreateContainerConfigError")
    })
    .await;
    let (_, message) = waiting_reason(&p).unwrap_or_default();
    assert_eq!(
        message,
        "couldn't find key nope in ConfigMap default/app-config"
    );
    let get = c.kubectl_ok(&["get", "pod", "nokey"]);
    assert!(get.contains("CreateContainerConfigError"), "{get}");
    assert_eq!(
        p.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Pending")
    );

    // A missing ConfigMap says so, in the kubelet's words.
    let env = r#"    envFrom:
    - configMapRef: {name: absent}
"#;
    c.apply(&echo_pod("nocm", env, "", "", &[]));
    let p = wait_pod(&api, "nocm", Duration::from_secs(30), |p| {
        waiting_reason(p).is_some_and(|(r, _)| r == "CreateContainerConfigError")
    })
    .await;
    assert_eq!(
        waiting_reason(&p).map(|(_, m)| m).as_deref(),
        Some("configmap \"absent\" not found")
    );
    let describe = c.kubectl_ok(&["describe", "pod", "nocm"]);
    assert!(
        describe.contains("Error: configmap \"absent\" not found"),
        "{describe}"
    );

    // Creating the ConfigMap lets the pod start on a later attempt.
    c.apply("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: absent\ndata:\n  late: yes-now\n");
    wait_pod(&api, "nocm", Duration::from_secs(60), running).await;
    wait_logs(
        &c,
        "nocm",
        "echo",
        &["ENV late=yes-now\n"],
        Duration::from_secs(20),
    )
    .await;
    Ok(())
}

#[tokio::test]
async fn missing_config_map_volume_waits_in_container_creating() -> anyhow::Result<()> {
    let c = up();
    let mounts = "    volumeMounts:\n    - {name: cfg, mountPath: /cfg}\n";
    let volumes = "  volumes:\n  - name: cfg\n    configMap: {name: later}\n";
    c.apply(&echo_pod("vol", "", volumes, mounts, &["/cfg/k"]));
    let api: Api<Pod> = Api::namespaced(c.client().await?, "default");
    wait_pod(&api, "vol", Duration::from_secs(30), |p| {
        waiting_reason(p).is_some_and(|(r, _)| r == "ContainerCreating")
    })
    .await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let d = c.kubectl_ok(&["describe", "pod", "vol"]);
        if d.contains("FailedMount")
            && d.contains(
                "MountVolume.SetUp failed for volume \"cfg\" : configmap \"later\" not found",
            )
        {
            break;
        }
        assert!(Instant::now() < deadline, "no FailedMount event:\n{d}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    c.apply("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: later\ndata:\n  k: v1\n");
    wait_pod(&api, "vol", Duration::from_secs(60), running).await;
    wait_logs(
        &c,
        "vol",
        "echo",
        &["FILE /cfg/k\nv1\nEND"],
        Duration::from_secs(20),
    )
    .await;
    Ok(())
}

#[tokio::test]
async fn native_pods_get_the_same_env_and_volumes() -> anyhow::Result<()> {
    let c = up();
    let ns = c.netns().expect("skiff up runs in a netns").path();
    let registry = Registry::start(Some(&ns));
    let busybox = registry.push_busybox("1");
    c.apply(OBJECTS);
    let script = "while true; do echo \"ENV G=$G\"; echo \"ENV P=$SEC_password\"; \
                  echo FILE /etc/config/greeting; cat /etc/config/greeting; echo; echo END; \
                  echo \"MOUNT $(grep ' /scratch ' /proc/mounts)\"; \
                  if touch /etc/config/x 2>/dev/null; then echo CONFIG RW; else echo CONFIG RO; fi; \
                  sleep 0.5; done";
    let yaml = format!(
        r#"apiVersion: v1
kind: Pod
metadata:
  name: native
spec:
  containers:
  - name: main
    image: {busybox}
    command: ["sh", "-c", "{}"]
    env:
    - name: G
      valueFrom: {{configMapKeyRef: {{name: app-config, key: greeting}}}}
    envFrom:
    - secretRef: {{name: app-secret}}
      prefix: SEC_
    volumeMounts:
    - {{name: config, mountPath: /etc/config}}
    - {{name: scratch, mountPath: /scratch}}
  volumes:
  - name: config
    configMap: {{name: app-config}}
  - name: scratch
    emptyDir: {{medium: Memory, sizeLimit: 8Mi}}
"#,
        script.replace('\\', "\\\\").replace('"', "\\\"")
    );
    c.apply(&yaml);
    let api: Api<Pod> = Api::namespaced(c.client().await?, "default");
    wait_pod(&api, "native", Duration::from_secs(60), running).await;
    let log = wait_logs(
        &c,
        "native",
        "main",
        &[
            "ENV G=hello\n",
            "ENV P=s3cret\n",
            "FILE /etc/config/greeting\nhello\nEND",
            "CONFIG RO\n",
            "MOUNT tmpfs /scratch tmpfs",
        ],
        Duration::from_secs(30),
    )
    .await;
    assert!(
        log.contains("size=8192k"),
        "tmpfs size not the sizeLimit:\n{log}"
    );
    c.kubectl_ok(&[
        "patch",
        "configmap",
        "app-config",
        "--type=merge",
        "-p",
        r#"{"data":{"greeting":"hallo"}}"#,
    ]);
    wait_logs(
        &c,
        "native",
        "main",
        &["FILE /etc/config/greeting\nhallo\nEND"],
        Duration::from_secs(20),
    )
    .await;
    // Deleting the pod unmounts its tmpfs.
    c.kubectl_ok(&[
        "delete",
        "pod",
        "native",
        "--grace-period=1",
        "--timeout=60s",
    ]);
    let mounts = std::fs::read_to_string("/proc/self/mountinfo")?;
    let root = c.dir.path().display().to_string();
    assert!(
        !mounts
            .lines()
            .any(|l| l.contains(&root) && l.contains("empty-dir")),
        "tmpfs left mounted:\n{mounts}"
    );
    Ok(())
}
