//! Downstream evaluation of frozen or fine-tuned backbones (needs the `torch` feature). The metrics and rows it
//! produces are plain data in `crate::results`.

#[cfg(feature = "torch")]
pub mod awareness;

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
pub mod eurosat_config;
#[cfg(feature = "torch")]
pub mod explore;
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
pub mod subsets;
#[cfg(feature = "torch")]
pub mod tasks;
