//! Pulling and pushing Wasm images with oci-client.
//!
//! Two layouts are understood: the Wasm OCI artifact (CNCF wasm-oci: config
//! `application/vnd.wasm.config.v0+json`, one `application/wasm` layer) and an
//! ordinary image whose single tar layer holds exactly one `.wasm` file.
//! Every layer is checked against its manifest digest. Registries on
//! 127.0.0.0/8 (or `localhost`, or listed as insecure) are spoken to over
//! plain HTTP, as Docker does; every other one needs TLS.

use std::io::Read;

use oci_client::client::{ClientConfig, ClientProtocol, Config, ImageLayer};
use oci_client::{Client, Reference};
use skiff_runtime::RegistryAuth;

use crate::error::ImageError;
use crate::images::{ImageRecord, ImageStore, looks_like_wasm, sha256_digest};

/// Layer media type of a Wasm binary.
pub const WASM_LAYER: &str = "application/wasm";
/// Config media type of a Wasm OCI artifact.
pub const WASM_CONFIG: &str = "application/vnd.wasm.config.v0+json";

const TAR_LAYERS: [&str; 4] = [
    "application/vnd.oci.image.layer.v1.tar",
    "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.docker.image.rootfs.diff.tar",
    "application/vnd.docker.image.rootfs.diff.tar.gzip",
];

/// Parses a reference, naming it in the error.
pub fn parse_reference(reference: &str) -> Result<Reference, ImageError> {
    reference
        .parse::<Reference>()
        .map_err(|e| ImageError::BadReference {
            reference: reference.to_owned(),
            message: e.to_string(),
        })
}

pub use skiff_runtime::is_loopback_registry;

fn client_for(reference: &Reference, insecure: &[String]) -> Client {
    let registry = reference.resolve_registry().to_owned();
    let plain = is_loopback_registry(&registry) || insecure.contains(&registry);
    let protocol = if plain {
        ClientProtocol::HttpsExcept(vec![registry])
    } else {
        ClientProtocol::Https
    };
    Client::new(ClientConfig {
        protocol,
        ..Default::default()
    })
}

fn oci_auth(auth: &RegistryAuth) -> oci_client::secrets::RegistryAuth {
    match auth {
        RegistryAuth::Anonymous => oci_client::secrets::RegistryAuth::Anonymous,
        RegistryAuth::Basic { username, password } => {
            oci_client::secrets::RegistryAuth::Basic(username.clone(), password.clone())
        }
    }
}

/// Pulls `reference` into the store and returns its record.
pub async fn pull(
    store: &ImageStore,
    reference: &str,
    auth: &RegistryAuth,
    insecure: &[String],
) -> Result<ImageRecord, ImageError> {
    let parsed = parse_reference(reference)?;
    let client = client_for(&parsed, insecure);
    let registry_err = |source| ImageError::Registry {
        reference: reference.to_owned(),
        source,
    };
    let mut accepted = vec![WASM_LAYER, "application/vnd.wasm.content.layer.v1+wasm"];
    accepted.extend(TAR_LAYERS);
    let image = client
        .pull(&parsed, &oci_auth(auth), accepted)
        .await
        .map_err(registry_err)?;
    let manifest = image.manifest.ok_or_else(|| ImageError::NotWasm {
        reference: reference.to_owned(),
        message: "registry returned no image manifest".to_owned(),
    })?;
    if let (Some(want), Some(got)) = (parsed.digest(), image.digest.as_deref())
        && want != got
    {
        return Err(ImageError::DigestMismatch {
            reference: reference.to_owned(),
            expected: want.to_owned(),
            actual: got.to_owned(),
        });
    }
    // Layers arrive in completion order: match each to its descriptor by digest.
    let mut wasm = None;
    for layer in &image.layers {
        let actual = sha256_digest(&layer.data);
        let Some(desc) = manifest.layers.iter().find(|d| d.digest == actual) else {
            return Err(ImageError::DigestMismatch {
                reference: reference.to_owned(),
                expected: manifest
                    .layers
                    .iter()
                    .map(|d| d.digest.clone())
                    .collect::<Vec<_>>()
                    .join(","),
                actual,
            });
        };
        if desc.media_type == WASM_LAYER || desc.media_type.ends_with("+wasm") {
            wasm = Some(layer.data.to_vec());
        }
    }
    let wasm = match wasm {
        Some(w) => w,
        None => match image.layers.as_slice() {
            [only] => wasm_from_tar(reference, &only.data, only.media_type.ends_with("gzip"))?,
            layers => {
                return Err(ImageError::NotWasm {
                    reference: reference.to_owned(),
                    message: format!(
                        "no application/wasm layer, and {} layers instead of one .wasm",
                        layers.len()
                    ),
                });
            }
        },
    };
    store.add(reference, &wasm, image.digest)
}

/// Extracts the one `.wasm` file of a (possibly gzipped) tar layer.
fn wasm_from_tar(reference: &str, data: &[u8], gzip: bool) -> Result<Vec<u8>, ImageError> {
    let not_wasm = |message: String| ImageError::NotWasm {
        reference: reference.to_owned(),
        message,
    };
    let reader: Box<dyn Read> = if gzip {
        Box::new(flate2::read::GzDecoder::new(data))
    } else {
        Box::new(data)
    };
    let mut archive = tar::Archive::new(reader);
    let mut found: Option<(String, Vec<u8>)> = None;
    let entries = archive
        .entries()
        .map_err(|e| not_wasm(format!("layer is not a tar archive: {e}")))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| not_wasm(format!("corrupt tar layer: {e}")))?;
        let name = entry
            .path()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        if !entry.header().entry_type().is_file() || !name.ends_with(".wasm") {
            continue;
        }
        if let Some((first, _)) = &found {
            return Err(not_wasm(format!(
                "layer holds more than one .wasm file ({first}, {name})"
            )));
        }
        let mut bytes = Vec::new();
        entry
            .read_to_end(&mut bytes)
            .map_err(|e| not_wasm(format!("reading {name} from the layer: {e}")))?;
        found = Some((name, bytes));
    }
    let (name, bytes) =
        found.ok_or_else(|| not_wasm("its layer holds no .wasm file".to_owned()))?;
    if !looks_like_wasm(&bytes) {
        return Err(not_wasm(format!("{name} is not WebAssembly")));
    }
    Ok(bytes)
}

/// Pushes a Wasm binary to `reference` as a Wasm OCI artifact; returns the
/// manifest URL.
pub async fn push(
    wasm: &[u8],
    reference: &str,
    auth: &RegistryAuth,
    insecure: &[String],
) -> Result<String, ImageError> {
    let parsed = parse_reference(reference)?;
    if !looks_like_wasm(wasm) {
        return Err(ImageError::NotWasm {
            reference: reference.to_owned(),
            message: "not WebAssembly".to_owned(),
        });
    }
    let client = client_for(&parsed, insecure);
    // A component's version field is 0x0d, a core module's 1.
    let os = if wasm.get(4) == Some(&1) {
        "wasip1"
    } else {
        "wasip2"
    };
    let config = serde_json::json!({
        "architecture": "wasm",
        "os": os,
        "layerDigests": [sha256_digest(wasm)],
    });
    let layer = ImageLayer::new(wasm.to_vec(), WASM_LAYER.to_owned(), None);
    let config = Config::new(
        config.to_string().into_bytes(),
        WASM_CONFIG.to_owned(),
        None,
    );
    let resp = client
        .push(&parsed, &[layer], config, &oci_auth(auth), None)
        .await
        .map_err(|source| ImageError::Registry {
            reference: reference.to_owned(),
            source,
        })?;
    Ok(resp.manifest_url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_registries() {
        assert!(is_loopback_registry("127.0.0.1:5000"));
        assert!(is_loopback_registry("127.8.9.10"));
        assert!(is_loopback_registry("localhost:5000"));
        assert!(is_loopback_registry("[::1]:5000"));
        assert!(!is_loopback_registry("10.0.0.1:5000"));
        assert!(!is_loopback_registry("registry.example.com"));
        assert!(!is_loopback_registry("127.0.0.1.example.com"));
    }

    #[test]
    fn tar_layers() {
        let mut builder = tar::Builder::new(Vec::new());
        let wasm = b"\0asm\x01\0\0\0";
        let mut header = tar::Header::new_gnu();
        header.set_size(wasm.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder
            .append_data(&mut header, "app/main.wasm", &wasm[..])
            .unwrap();
        let plain = builder.into_inner().unwrap();
        assert_eq!(wasm_from_tar("r", &plain, false).unwrap(), wasm);
        assert!(wasm_from_tar("r", b"not a tar", false).is_err());
        assert!(wasm_from_tar("r", &plain, true).is_err());
    }
}
