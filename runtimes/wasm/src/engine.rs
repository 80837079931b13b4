//! The wasmtime engine shared by every container of a runtime: one engine
//! (pooling allocator, epoch interruption, on-disk code cache), one linker
//! per host-state type, the epoch ticker, and compiled-and-linked code kept
//! by image digest so the second start of an image does no work and
//! concurrent first starts compile it once.

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use wasmtime::component::{Component, Linker};
use wasmtime::{
    Cache, CacheConfig, Config, Engine, InstanceAllocationStrategy, InstancePre, Module,
    PoolingAllocationConfig,
};
use wasmtime_wasi::p2::bindings::CommandPre;
use wasmtime_wasi_http::p2::bindings::ProxyPre;

use crate::error::CompileError;
use crate::host::{Host, P1Host, TICK};
use crate::singleflight::SingleFlight;

/// What a Wasm binary is, detected from its shape and exports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WasmKind {
    /// A core module exporting `_start` (WASI P1 command).
    P1Command,
    /// A component exporting `wasi:cli/run` (WASI P2 command).
    P2Command,
    /// A component exporting `wasi:http/incoming-handler` (WASI P2 service).
    HttpService,
}

impl std::fmt::Display for WasmKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            WasmKind::P1Command => "WASI P1 command (core module)",
            WasmKind::P2Command => "WASI P2 command (component, wasi:cli/run)",
            WasmKind::HttpService => "WASI P2 HTTP service (component, wasi:http/incoming-handler)",
        })
    }
}

/// Compiled, linked code ready to instantiate.
#[derive(Clone)]
pub enum Prepared {
    /// P1 command.
    P1(InstancePre<P1Host>),
    /// P2 command.
    P2(CommandPre<Host>),
    /// HTTP service.
    Http(ProxyPre<Host>),
}

impl Prepared {
    /// Its kind.
    pub fn kind(&self) -> WasmKind {
        match self {
            Prepared::P1(_) => WasmKind::P1Command,
            Prepared::P2(_) => WasmKind::P2Command,
            Prepared::Http(_) => WasmKind::HttpService,
        }
    }
}

/// Engine settings.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Most instances alive at once (pooling allocator slots).
    pub max_instances: u32,
    /// Whether to use the pooling allocator (falls back to on-demand
    /// allocation if the machine cannot reserve the pool).
    pub pooling: bool,
}

impl Default for EngineConfig {
    fn default() -> Self {
        // wasmtime serve's defaults: 1,000 of everything.
        EngineConfig {
            max_instances: 1000,
            pooling: true,
        }
    }
}

/// The engine, linkers and code caches of one runtime.
pub struct WasmEngine {
    engine: Engine,
    linker: Linker<Host>,
    p1_linker: wasmtime::Linker<P1Host>,
    prepared: SingleFlight<Prepared>,
    compilations: AtomicU64,
    _ticker: Ticker,
}

impl WasmEngine {
    /// Builds the engine; compiled code is cached on disk under `cache_dir`
    /// (wasmtime's cache keys entries by module hash, engine settings and
    /// wasmtime version, so an upgrade never loads stale code).
    pub fn new(config: &EngineConfig, cache_dir: &Path) -> Result<Self, CompileError> {
        let base = |pooling: Option<&PoolingAllocationConfig>| -> Result<Engine, CompileError> {
            let mut c = Config::new();
            c.epoch_interruption(true);
            c.wasm_component_model(true);
            let mut cache = CacheConfig::new();
            cache.with_directory(cache_dir);
            c.cache(Some(Cache::new(cache).map_err(CompileError::Engine)?));
            if let Some(p) = pooling {
                c.allocation_strategy(InstanceAllocationStrategy::Pooling(p.clone()));
            }
            Engine::new(&c).map_err(CompileError::Engine)
        };
        let engine = if config.pooling {
            let n = config.max_instances;
            let mut pool = PoolingAllocationConfig::default();
            // A component is several core instances (shims, adapters, the
            // program), each usually with one table.
            pool.total_component_instances(n)
                .total_core_instances(n * 4)
                .total_memories(n * 2)
                .total_tables(n * 4)
                .total_stacks(n);
            match base(Some(&pool)) {
                Ok(e) => e,
                Err(e) => {
                    tracing::warn!(
                        "pooling allocator unavailable ({e}); using on-demand allocation"
                    );
                    base(None)?
                }
            }
        } else {
            base(None)?
        };
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(CompileError::Link)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)
            .map_err(CompileError::Link)?;
        let mut p1_linker = wasmtime::Linker::new(&engine);
        wasmtime_wasi::p1::add_to_linker_async(&mut p1_linker, |h: &mut P1Host| &mut h.wasi)
            .map_err(CompileError::Link)?;
        let ticker = Ticker::spawn(&engine);
        Ok(WasmEngine {
            engine,
            linker,
            p1_linker,
            prepared: SingleFlight::new(),
            compilations: AtomicU64::new(0),
            _ticker: ticker,
        })
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Code for the image with this digest, if it was prepared before.
    pub fn cached(&self, digest: &str) -> Option<Prepared> {
        self.prepared.get(digest)
    }

    /// How many times this engine compiled (or loaded from the disk cache)
    /// a binary: one per image unless images are removed and re-created,
    /// however many containers of it start.
    pub fn compilations(&self) -> u64 {
        self.compilations.load(Ordering::Relaxed)
    }

    /// Compiles (or loads from the disk cache), detects the kind, links,
    /// and keeps the result by digest. CPU-heavy: call from a blocking
    /// thread. Callers that may race on one image use
    /// [`WasmEngine::prepare_shared`] instead.
    pub fn prepare(&self, digest: &str, wasm: &[u8]) -> Result<Prepared, CompileError> {
        if let Some(p) = self.cached(digest) {
            return Ok(p);
        }
        let prepared = self.compile(wasm)?;
        self.prepared.insert(digest, prepared.clone());
        Ok(prepared)
    }

    /// Code for the image with this digest: kept code, or the outcome of a
    /// compilation already running for it, or that of `compile` (started
    /// as a task of its own, typically a blocking-thread read of the image
    /// plus [`WasmEngine::compile`]). Concurrent callers for one digest
    /// share one compilation and all receive its error, which is not kept:
    /// the next call compiles again.
    pub async fn prepare_shared<F, Fut>(&self, digest: &str, compile: F) -> Result<Prepared, String>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Prepared, String>> + Send + 'static,
    {
        self.prepared.get_or_run(digest, compile).await
    }

    /// Compiles (or loads from the disk cache), detects the kind, and links,
    /// without keeping the result. CPU-heavy: call from a blocking thread.
    pub fn compile(&self, wasm: &[u8]) -> Result<Prepared, CompileError> {
        let encoding = detect_encoding(wasm)?;
        self.compilations.fetch_add(1, Ordering::Relaxed);
        let prepared = match encoding {
            Encoding::Module => {
                let module = Module::new(&self.engine, wasm).map_err(CompileError::Compile)?;
                if !module.exports().any(|e| e.name() == "_start") {
                    return Err(CompileError::UnknownKind(
                        "core module has no _start export: a library (reactor) module is not runnable".to_owned(),
                    ));
                }
                Prepared::P1(
                    self.p1_linker
                        .instantiate_pre(&module)
                        .map_err(CompileError::Link)?,
                )
            }
            Encoding::Component => {
                let component =
                    Component::new(&self.engine, wasm).map_err(CompileError::Compile)?;
                let ty = component.component_type();
                let names: Vec<String> = ty
                    .exports(&self.engine)
                    .map(|(n, _)| n.to_owned())
                    .collect();
                let has = |prefix: &str| names.iter().any(|n| n.starts_with(prefix));
                let pre = self
                    .linker
                    .instantiate_pre(&component)
                    .map_err(CompileError::Link)?;
                if has("wasi:http/incoming-handler@0.2") {
                    Prepared::Http(ProxyPre::new(pre).map_err(CompileError::Link)?)
                } else if has("wasi:cli/run@0.2") {
                    Prepared::P2(CommandPre::new(pre).map_err(CompileError::Link)?)
                } else {
                    return Err(CompileError::UnknownKind(format!(
                        "component exports neither wasi:cli/run nor wasi:http/incoming-handler (it exports: {})",
                        if names.is_empty() {
                            "nothing".to_owned()
                        } else {
                            names.join(", ")
                        }
                    )));
                }
            }
        };
        Ok(prepared)
    }

    /// Drops prepared code of an image (when the image is removed).
    pub fn forget(&self, digest: &str) {
        self.prepared.remove(digest);
    }
}

enum Encoding {
    Module,
    Component,
}

/// Tells a core module from a component by the preamble: both start with
/// `\0asm`; modules carry version 1, components version 0x0d with layer 1.
fn detect_encoding(wasm: &[u8]) -> Result<Encoding, CompileError> {
    match wasm.get(..8) {
        Some([0, b'a', b's', b'm', 1, 0, 0, 0]) => Ok(Encoding::Module),
        Some([0, b'a', b's', b'm', _, 0, 1, 0]) => Ok(Encoding::Component),
        _ => Err(CompileError::NotWasm),
    }
}

/// Advances the engine's epoch every [`TICK`]; stops when the engine is gone.
struct Ticker {
    stop: Arc<std::sync::atomic::AtomicBool>,
}

impl Ticker {
    fn spawn(engine: &Engine) -> Ticker {
        let weak = engine.weak();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let spawned = std::thread::Builder::new()
            .name("skiff-wasm-epoch".into())
            .spawn(move || {
                while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                    std::thread::sleep(TICK);
                    match weak.upgrade() {
                        Some(e) => e.increment_epoch(),
                        None => break,
                    }
                }
            });
        if let Err(e) = spawned {
            // Without the ticker, limits and stops of running guests cannot
            // take effect; say so loudly rather than fail every container.
            tracing::error!("cannot start the epoch ticker thread: {e}");
        }
        Ticker { stop }
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings() {
        assert!(matches!(
            detect_encoding(b"\0asm\x01\0\0\0rest"),
            Ok(Encoding::Module)
        ));
        assert!(matches!(
            detect_encoding(b"\0asm\x0d\0\x01\0rest"),
            Ok(Encoding::Component)
        ));
        assert!(matches!(
            detect_encoding(b"#!/bin/sh\n"),
            Err(CompileError::NotWasm)
        ));
        assert!(matches!(detect_encoding(b""), Err(CompileError::NotWasm)));
    }
}
