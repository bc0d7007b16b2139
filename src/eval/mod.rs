//! Downstream evaluation of frozen or fine-tuned backbones. `metrics` is plain data (no libtorch); the rest needs
//! the `torch` feature.

#[cfg(feature = "torch")]
pub mod awareness;
pub mod bootstrap;
pub mod metrics;
pub mod seg_metrics;

#[cfg(feature = "torch")]
pub mod bigearthnet;
#[cfg(feature = "torch")]
pub mod change_detection;
#[cfg(feature = "torch")]
pub mod classification;
#[cfg(feature = "torch")]
pub mod dense;
#[cfg(feature = "torch")]
pub mod eurosat;
#[cfg(feature = "torch")]
pub mod features;
#[cfg(feature = "torch")]
pub mod knn;
#[cfg(feature = "torch")]
pub mod linear_probe;
#[cfg(feature = "torch")]
pub mod multilabel_probe;
#[cfg(feature = "torch")]
pub mod segmentation;
#[cfg(feature = "torch")]
pub mod tasks;
