//! Backbones and heads. Models know nothing of SSL methods or of which dataset feeds them.

pub mod autocast;
pub mod checkpoint;
pub mod dist;
pub mod heads;
pub mod init;
pub mod resnet;
pub mod siamese;
pub mod unet;
pub mod weights;

pub use resnet::{Arch, FeatureMaps, ResNet};

/// Runs `build` right after `tch::manual_seed(seed)`, holding a process-wide lock, so that the random
/// initialisation it draws from libtorch's global generator is the same whatever else runs in the process (e.g.
/// tests executed concurrently by `cargo test`). Build every randomly initialised model through this.
pub fn seeded<T>(seed: u64, build: impl FnOnce() -> T) -> T {
    static INIT: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = INIT.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    tch::manual_seed(seed as i64);
    build()
}
