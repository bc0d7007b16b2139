//! Downstream evaluation of frozen or fine-tuned backbones. `metrics` is plain data (no libtorch); the rest needs
//! the `torch` feature.

pub mod metrics;

#[cfg(feature = "torch")]
pub mod eurosat;
#[cfg(feature = "torch")]
pub mod features;
#[cfg(feature = "torch")]
pub mod knn;
#[cfg(feature = "torch")]
pub mod linear_probe;
