//! The busybox image served from a loopback `docker-registry`
//! ([`skiff_runtime_native::testing`], shared with the end-to-end tests):
//! no network beyond 127.0.0.1.

use std::path::Path;
use std::sync::{Mutex, OnceLock};

use skiff_runtime_native::testing::Registry;

/// Set to skip these tests (they need root, umoci, skopeo, docker-registry
/// and runc). CI never sets it.
pub const SKIP_ENV: &str = "SKIFF_SKIP_NATIVE_TESTS";

pub struct Fixture {
    pub image: String,
    _registry: Mutex<Registry>,
}

static FIXTURE: OnceLock<Fixture> = OnceLock::new();

/// `None` only when SKIP_ENV is set; otherwise panics if the machine lacks
/// what the tests need.
pub fn fixture() -> Option<&'static Fixture> {
    if std::env::var_os(SKIP_ENV).is_some() {
        eprintln!("skipped: {SKIP_ENV} is set");
        return None;
    }
    assert!(
        nix::unistd::geteuid().is_root(),
        "native runtime tests need root (set {SKIP_ENV}=1 to skip them explicitly)"
    );
    Some(FIXTURE.get_or_init(|| {
        let registry = Registry::start(None);
        Fixture {
            image: registry.push_busybox("1"),
            _registry: Mutex::new(registry),
        }
    }))
}

/// Path of the shim binary cargo built for these tests.
pub fn shim() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_skiff-native-shim"))
}
