//! `skiff images import|ls|rm|prune`: the node's image store from the
//! command line, as `k3s ctr images`. `skiff up --import` and `skiff agent --import` use
//! the same [`import`].
//!
//! The native store's index is a file that the running node re-reads when
//! it changes, so an OCI layout imported here is usable by the node's next
//! pod at once (`imagePullPolicy: Never` or `IfNotPresent`). A `.wasm`
//! import lands in the Wasm store, which a running node reads at start.
//!
//! `rm` and `prune` delete layers no other image and no container uses
//! (containers hold theirs by leases in the store). `prune` covers the
//! native store only: the Wasm runtime's containers live in the node
//! process, so this command cannot tell which Wasm images are in use.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use skiff_runtime::{ContainerFilter, ImageSpec, ImageStatus, Runtime};
use skiff_runtime_native::{NativeRuntime, NativeRuntimeConfig};
use skiff_runtime_wasm::{WasmRuntime, WasmRuntimeConfig};

use crate::cli::{ImagesArgs, ImagesCommand, default_data_dir};

/// Imports one `DIR[:TAG]=REF` OCI image layout (into the native store) or
/// `FILE.wasm[=REF]` (into the Wasm store); prints what it stored.
pub async fn import(
    spec: &str,
    native: Option<&NativeRuntime>,
    wasm: &WasmRuntime,
) -> anyhow::Result<()> {
    let (path, reference) = match spec.split_once('=') {
        Some((p, r)) => (p, Some(r)),
        None => (spec, None),
    };
    // An OCI image layout directory is a container image for the native
    // runtime (`DIR[:TAG]=REF`); anything else is a `.wasm` file.
    let (dir, tag) = match path.rsplit_once(':') {
        Some((d, t)) if Path::new(d).join("index.json").is_file() => (d, Some(t)),
        _ => (path, None),
    };
    if Path::new(dir).join("index.json").is_file() {
        let native = native.with_context(|| {
            format!("importing {path}: the native runtime is not available on this host")
        })?;
        let reference = reference.with_context(|| {
            format!("importing {path}: name the image, as {path}=REGISTRY/NAME:TAG")
        })?;
        let st = native
            .native_images()
            .import_oci_layout(Path::new(dir), tag, reference)
            .await
            .with_context(|| format!("importing {path}"))?;
        println!("imported {path} as {reference} ({})", st.id);
        return Ok(());
    }
    let (r, id) = wasm
        .import_file(Path::new(path), reference)
        .await
        .with_context(|| format!("importing {path}"))?;
    println!("imported {path} as {r} ({id})");
    Ok(())
}

/// The agent's state directory under a data directory, as `skiff up` and
/// `skiff agent` lay it out.
fn agent_dir(data_dir: Option<PathBuf>) -> PathBuf {
    data_dir.unwrap_or_else(default_data_dir).join("agent")
}

/// Opens both stores of the agent directory without starting anything:
/// the native runtime only reads its state, and is absent (with a notice)
/// when its store cannot be opened.
async fn open(dir: &Path) -> anyhow::Result<(Option<NativeRuntime>, WasmRuntime)> {
    let wasm_root = dir.join("wasm");
    let wasm =
        tokio::task::spawn_blocking(move || WasmRuntime::new(WasmRuntimeConfig::new(wasm_root)))
            .await
            .context("opening the Wasm image store")?
            .context("opening the Wasm image store")?;
    let native_cfg = NativeRuntimeConfig::new(dir.join("native"));
    let native = match tokio::task::spawn_blocking(move || NativeRuntime::new(native_cfg)).await {
        Ok(Ok(rt)) => Some(rt),
        Ok(Err(e)) => {
            eprintln!("skiff: native image store unavailable: {e}");
            None
        }
        Err(e) => {
            eprintln!("skiff: native image store unavailable: {e}");
            None
        }
    };
    Ok((native, wasm))
}

/// One row per image: `REF  HANDLER  ID  SIZE`.
fn print_images(handler: &str, images: &[ImageStatus]) {
    for img in images {
        for r in &img.repo_tags {
            let id = img.id.strip_prefix("sha256:").unwrap_or(&img.id);
            let short = id.get(..12).unwrap_or(id);
            println!("{r:<50} {handler:<9} {short:<12} {}", img.size);
        }
    }
}

/// Removes `reference` (or, given an image id, every reference to the
/// image) from whichever store holds it.
async fn remove(reference: &str, runtimes: &[&dyn Runtime]) -> anyhow::Result<()> {
    for rt in runtimes {
        let images = rt.images();
        let refs: Vec<String> = match images.image_status(&ImageSpec::new(reference)).await? {
            Some(_) => vec![reference.to_owned()],
            None => images
                .list_images()
                .await?
                .into_iter()
                .find(|i| i.id == reference)
                .map(|i| i.repo_tags)
                .unwrap_or_default(),
        };
        if refs.is_empty() {
            continue;
        }
        for r in &refs {
            images
                .remove_image(&ImageSpec::new(r.clone()))
                .await
                .with_context(|| format!("removing {r}"))?;
            println!("removed {r} ({})", rt.handler());
        }
        return Ok(());
    }
    anyhow::bail!("no image {reference} in the node's stores")
}

/// Removes the native images that no container (running or exited) uses.
async fn prune(native: &NativeRuntime) -> anyhow::Result<()> {
    let used: std::collections::HashSet<String> = native
        .list_containers(&ContainerFilter::default())
        .await?
        .into_iter()
        .flat_map(|c| [c.image_ref, c.image.image])
        .collect();
    for img in native.images().list_images().await? {
        if used.contains(&img.id) || img.repo_tags.iter().any(|t| used.contains(t)) {
            continue;
        }
        native
            .images()
            .remove_image(&ImageSpec::new(img.id.clone()))
            .await
            .with_context(|| format!("removing {}", img.id))?;
        println!("removed {} ({})", img.repo_tags.join(", "), img.size);
    }
    Ok(())
}

/// Runs `skiff images …`.
pub fn run(args: ImagesArgs) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    rt.block_on(async move {
        match args.command {
            ImagesCommand::Import(a) => {
                let (native, wasm) = open(&agent_dir(a.data_dir)).await?;
                for spec in &a.images {
                    import(spec, native.as_ref(), &wasm).await?;
                }
            }
            ImagesCommand::Ls(a) => {
                let (native, wasm) = open(&agent_dir(a.data_dir)).await?;
                println!("{:<50} {:<9} {:<12} SIZE", "REF", "RUNTIME", "IMAGE ID");
                if let Some(native) = &native {
                    print_images(native.handler(), &native.images().list_images().await?);
                }
                print_images(wasm.handler(), &wasm.images().list_images().await?);
            }
            ImagesCommand::Rm(a) => {
                let (native, wasm) = open(&agent_dir(a.data_dir)).await?;
                let mut stores: Vec<&dyn Runtime> = Vec::new();
                if let Some(n) = &native {
                    stores.push(n);
                }
                stores.push(&wasm);
                for r in &a.images {
                    remove(r, &stores).await?;
                }
            }
            ImagesCommand::Prune(a) => {
                let (native, _) = open(&agent_dir(a.data_dir)).await?;
                let native = native.context("the native image store is unavailable")?;
                prune(&native).await?;
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}
