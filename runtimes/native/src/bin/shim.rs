//! `skiff-native-shim`: the per-container process of the native runtime
//! (see `skiff_runtime_native::shim`).

fn main() {
    std::process::exit(skiff_runtime_native::shim::main());
}
