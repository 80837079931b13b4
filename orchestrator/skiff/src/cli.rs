//! Command-line arguments, kept apart from the code that runs them.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Skiff: Kubernetes for WebAssembly and containers.
#[derive(Debug, Parser)]
#[command(name = "skiff", version, about)]
pub struct Cli {
    /// What to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the API server (the control plane's only stateful component).
    Server(ServerArgs),
    /// Run a whole cluster in one process: API server, scheduler,
    /// controller manager and node agent, each an API client with its own
    /// identity.
    Up(UpArgs),
    /// Run a node agent that joins a cluster's API server over HTTPS.
    Agent(AgentArgs),
    /// Run the scheduler against a cluster's API server over HTTPS.
    Scheduler(SchedulerArgs),
    /// Run the controller manager against a cluster's API server over HTTPS.
    ControllerManager(ControllerManagerArgs),
    /// Run the real kubectl against this machine's cluster (as `k3s kubectl`).
    #[command(disable_help_flag = true)]
    Kubectl(KubectlArgs),
    /// Run one container without a cluster (as `docker run`): a command
    /// runs to its exit; an HTTP component with --port serves until Ctrl-C.
    Run(Box<RunArgs>),
    /// The node's image store (as `k3s ctr images`): import OCI layouts
    /// and `.wasm` files, list what is stored.
    Images(ImagesArgs),
}

/// `skiff images`.
#[derive(Debug, Args)]
pub struct ImagesArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: ImagesCommand,
}

/// `skiff images` subcommands.
#[derive(Debug, Subcommand)]
pub enum ImagesCommand {
    /// Import images into the node's store; a running node uses an
    /// imported OCI layout at once.
    Import(ImagesImportArgs),
    /// List the images in the node's store.
    Ls(ImagesLsArgs),
    /// Remove images by reference or id; their layers go once no other
    /// image and no container uses them.
    Rm(ImagesRmArgs),
    /// Remove the container images no container on this node uses.
    Prune(ImagesLsArgs),
}

/// `skiff images rm`.
#[derive(Debug, Args)]
pub struct ImagesRmArgs {
    /// Data directory of the node.
    #[arg(long, env = "SKIFF_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// References (`registry/name:tag`) or image ids (`sha256:…`).
    #[arg(required = true, value_name = "REF")]
    pub images: Vec<String>,
}

/// `skiff images import`.
#[derive(Debug, Args)]
pub struct ImagesImportArgs {
    /// Data directory of the node (its agent state is under `agent/`).
    #[arg(long, env = "SKIFF_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// An OCI image layout as DIR[:TAG]=IMAGE_REF (what `skopeo copy …
    /// oci:DIR:TAG` writes), or a `.wasm` file as PATH[=IMAGE_REF].
    #[arg(required = true, value_name = "DIR[:TAG]=REF")]
    pub images: Vec<String>,
}

/// `skiff images ls` and `skiff images prune`.
#[derive(Debug, Args)]
pub struct ImagesLsArgs {
    /// Data directory of the node.
    #[arg(long, env = "SKIFF_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
}

/// `skiff server`.
#[derive(Debug, Args)]
pub struct ServerArgs {
    /// Data directory: store, certificates, tokens, kubeconfig.
    #[arg(long, env = "SKIFF_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Address to listen on.
    #[arg(long, default_value = "0.0.0.0:6443")]
    pub listen: SocketAddr,
    /// Extra subject alternative names for the serving certificate.
    #[arg(long = "tls-san")]
    pub tls_san: Vec<String>,
}

/// `skiff up`.
#[derive(Debug, Args)]
pub struct UpArgs {
    /// Data directory: store, certificates, tokens, kubeconfig, agent state.
    #[arg(long, env = "SKIFF_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Address the API server listens on.
    #[arg(long, default_value = "0.0.0.0:6443")]
    pub listen: SocketAddr,
    /// Extra subject alternative names for the serving certificate.
    #[arg(long = "tls-san")]
    pub tls_san: Vec<String>,
    /// This node's name (default: the host name).
    #[arg(long)]
    pub node_name: Option<String>,
    /// This node's address (its InternalIP and every pod's hostIP).
    #[arg(long, default_value = "127.0.0.1")]
    pub node_ip: std::net::IpAddr,
    /// Import an image into the node's store before starting (repeatable):
    /// a `.wasm` file as PATH or PATH=IMAGE_REF (the reference defaults to
    /// `localhost/<file stem>:latest`), or an OCI image layout directory
    /// (what `skopeo copy … oci:DIR:TAG` writes) as DIR[:TAG]=IMAGE_REF for
    /// the native runtime.
    #[arg(long = "import", value_name = "PATH[=REF]")]
    pub import: Vec<String>,
    /// Most pods this node runs at once: its `pods` capacity, as the
    /// kubelet's `--max-pods` (110).
    #[arg(long, default_value_t = skiff_node::DEFAULT_MAX_PODS)]
    pub max_pods: u32,
    /// Do not run the built-in controller manager (k3s's flag): run `skiff
    /// controller-manager` against this server instead, e.g. to give it a
    /// process, and resource accounting, of its own.
    #[arg(long)]
    pub disable_controller_manager: bool,
    /// The pod network.
    #[command(flatten)]
    pub network: NetworkArgs,
    /// Image garbage collection and log rotation.
    #[command(flatten)]
    pub disk: DiskArgs,
}

/// How a node keeps its disk in bounds: image garbage collection and
/// container log rotation (the kubelet's names and defaults).
#[derive(Debug, Clone, Args)]
pub struct DiskArgs {
    /// Disk usage (percent) of the data directory's filesystem at which
    /// unused images are removed; 100 turns image GC off.
    #[arg(long, default_value_t = 85, value_parser = clap::value_parser!(u8).range(0..=100))]
    pub image_gc_high_threshold: u8,
    /// Disk usage (percent) image GC brings the filesystem back under.
    #[arg(long, default_value_t = 80, value_parser = clap::value_parser!(u8).range(0..=100))]
    pub image_gc_low_threshold: u8,
    /// Size at which a container's log file is rotated (a quantity: 10Mi,
    /// 512Ki, 4096).
    #[arg(long, default_value = "10Mi", value_parser = parse_log_size)]
    pub container_log_max_size: u64,
    /// Log files kept per container, the current one included (at least 2).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(2..))]
    pub container_log_max_files: u32,
}

impl DiskArgs {
    /// The node agent's image GC policy; refuses a low threshold above the
    /// high one, as the kubelet does.
    pub fn image_gc(&self) -> anyhow::Result<skiff_node::imagegc::ImageGcPolicy> {
        let p = skiff_node::imagegc::ImageGcPolicy {
            high_threshold_percent: self.image_gc_high_threshold,
            low_threshold_percent: self.image_gc_low_threshold,
            ..Default::default()
        };
        p.validate().map_err(anyhow::Error::msg)?;
        Ok(p)
    }
}

/// A size as Kubernetes writes quantities (`10Mi`), through the same parser
/// as memory limits.
fn parse_log_size(s: &str) -> Result<u64, String> {
    skiff_runtime::Resources::from_limits(Some(s), None)
        .ok()
        .and_then(|r| r.memory_limit_bytes)
        .ok_or_else(|| format!("{s:?} is not a positive size like 10Mi"))
}

/// The pod network's flags (k3s's names and defaults).
#[derive(Debug, Clone, Args)]
pub struct NetworkArgs {
    /// The cluster's pod network; each node owns a /24 of it.
    #[arg(long, default_value = skiff_node::network::DEFAULT_CLUSTER_CIDR)]
    pub cluster_cidr: skiff_node::network::Ipv4Cidr,
    /// This node's pod CIDR (default: the first /24 of --cluster-cidr, as
    /// a single node gets).
    #[arg(long)]
    pub pod_cidr: Option<skiff_node::network::Ipv4Cidr>,
    /// Port of the node agent's HTTPS API (logs, exec) on the node's
    /// address, as the kubelet's 10250; 0 picks a free one.
    #[arg(long, default_value_t = skiff_node::server::DEFAULT_PORT)]
    pub kubelet_port: u16,
}

impl NetworkArgs {
    /// This node's pod CIDR.
    pub fn node_cidr(&self) -> anyhow::Result<skiff_node::network::Ipv4Cidr> {
        if let Some(c) = self.pod_cidr {
            return Ok(c);
        }
        let len = self.cluster_cidr.prefix_len().max(24);
        self.cluster_cidr
            .subnet(len, 0)
            .ok_or_else(|| anyhow::anyhow!("--cluster-cidr {} has no /{len}", self.cluster_cidr))
    }
}

/// `skiff agent`.
#[derive(Debug, Args)]
pub struct AgentArgs {
    /// Where the API server is and who this node is (a `tokens.csv` line
    /// on the server naming `system:node:<name>` in group `system:nodes`).
    #[command(flatten)]
    pub remote: RemoteArgs,
    /// Data directory; agent state goes under `agent/`.
    #[arg(long, env = "SKIFF_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// This node's name (default: the host name).
    #[arg(long)]
    pub node_name: Option<String>,
    /// This node's address (its InternalIP and every pod's hostIP).
    #[arg(long, default_value = "127.0.0.1")]
    pub node_ip: std::net::IpAddr,
    /// Import an image first (repeatable): a `.wasm` file as PATH or
    /// PATH=IMAGE_REF, or an OCI image layout as DIR[:TAG]=IMAGE_REF.
    #[arg(long = "import", value_name = "PATH[=REF]")]
    pub import: Vec<String>,
    /// Most pods this node runs at once: its `pods` capacity, as the
    /// kubelet's `--max-pods` (110).
    #[arg(long, default_value_t = skiff_node::DEFAULT_MAX_PODS)]
    pub max_pods: u32,
    /// The pod network.
    #[command(flatten)]
    pub network: NetworkArgs,
    /// Image garbage collection and log rotation.
    #[command(flatten)]
    pub disk: DiskArgs,
}

/// How a component reaches a separate API server over HTTPS.
#[derive(Debug, Args)]
pub struct RemoteArgs {
    /// The API server's URL, e.g. https://10.0.0.1:6443.
    #[arg(long, env = "SKIFF_SERVER")]
    pub server: String,
    /// This component's bearer token (a line of the server's `tokens.csv`).
    #[arg(long, env = "SKIFF_TOKEN", hide_env_values = true)]
    pub token: String,
    /// CA certificate that signed the server's certificate.
    #[arg(long)]
    pub ca_file: Option<PathBuf>,
    /// Do not verify the server's certificate (testing only).
    #[arg(long)]
    pub insecure_skip_tls_verify: bool,
}

/// `skiff scheduler`.
#[derive(Debug, Args)]
pub struct SchedulerArgs {
    /// Where the API server is and who the scheduler is
    /// (`system:kube-scheduler`).
    #[command(flatten)]
    pub remote: RemoteArgs,
}

/// `skiff controller-manager`.
#[derive(Debug, Args)]
pub struct ControllerManagerArgs {
    /// Where the API server is and who the manager is
    /// (`system:kube-controller-manager`).
    #[command(flatten)]
    pub remote: RemoteArgs,
    /// The cluster CA to publish as `kube-root-ca.crt` in every namespace
    /// (default: the --ca-file).
    #[arg(long)]
    pub root_ca_file: Option<PathBuf>,
}

/// `skiff kubectl ARGS…`.
#[derive(Debug, Args)]
pub struct KubectlArgs {
    /// Data directory whose kubeconfig to use.
    #[arg(long, env = "SKIFF_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Arguments passed to kubectl unchanged.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

/// `skiff run [FLAGS] IMAGE_OR_FILE [-- ARGS]`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Runtime to use (the RuntimeClass handler): `wasmtime` or `native`.
    #[arg(long, default_value = "wasmtime")]
    pub runtime: String,
    /// Environment variable NAME=VALUE (repeatable).
    #[arg(short = 'e', long = "env", value_name = "NAME=VALUE")]
    pub env: Vec<String>,
    /// Memory limit, a Kubernetes quantity (64Mi, 1G).
    #[arg(long)]
    pub memory: Option<String>,
    /// CPU limit, a Kubernetes quantity (500m, 2).
    #[arg(long)]
    pub cpu: Option<String>,
    /// Volume HOST_DIR:CONTAINER_PATH[:ro] (repeatable).
    #[arg(short = 'v', long = "volume", value_name = "HOST:GUEST[:ro]")]
    pub volume: Vec<String>,
    /// Port an HTTP component serves on (repeatable; 0 picks a free one).
    #[arg(short = 'p', long = "port")]
    pub port: Vec<u16>,
    /// Address the ports listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub address: std::net::IpAddr,
    /// Working directory inside the container (must lie in a volume).
    #[arg(short = 'w', long)]
    pub workdir: Option<String>,
    /// Container (and pod) name.
    #[arg(long)]
    pub name: Option<String>,
    /// Per-request deadline of an HTTP component (500ms, 30s).
    #[arg(long)]
    pub request_timeout: Option<String>,
    /// Data directory holding the image store and compiled-code cache.
    #[arg(long, env = "SKIFF_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Registry credentials for pulls, Docker's `config.json` format
    /// (default: `$DOCKER_CONFIG/config.json`, else
    /// `~/.docker/config.json`, when present).
    #[arg(long, value_name = "FILE")]
    pub registry_config: Option<PathBuf>,
    /// Keep stdin open and relay this terminal's input to the container,
    /// as `docker run -i` (native runtime).
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Give the container a pseudo-terminal, with this terminal in raw
    /// mode while attached, as `docker run -t` (native runtime).
    #[arg(short = 't', long)]
    pub tty: bool,
    /// A `.wasm` file, or an image reference (pulled if not stored).
    pub image: String,
    /// Arguments for the container (after `--`).
    #[arg(last = true)]
    pub args: Vec<String>,
}

/// The default data directory: `/var/lib/skiff` as root, else under
/// `$XDG_DATA_HOME` (or `~/.local/share`).
pub fn default_data_dir() -> PathBuf {
    // Root is uid 0; /proc avoids an unsafe libc call.
    let is_root = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false);
    if is_root {
        return PathBuf::from("/var/lib/skiff");
    }
    let base = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .unwrap_or_else(|| PathBuf::from("."));
    base.join("skiff")
}
