//! Backbones and heads. Models know nothing of SSL methods or of which dataset feeds them.

pub mod heads;
pub mod resnet;

pub use resnet::{Arch, FeatureMaps, ResNet};
