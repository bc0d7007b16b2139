//! Projection heads of MoCo-v2: Linear(d, d) -> ReLU -> Linear(d, out), named like `nn.Sequential` (`0`, `2`),
//! with PyTorch's default Linear initialisation.

use tch::nn::{self, Module};
use tch::Tensor;

#[derive(Debug)]
pub struct ProjectionHead {
    fc1: nn::Linear,
    fc2: nn::Linear,
}

impl ProjectionHead {
    pub fn new(p: &nn::Path, in_dim: i64, out_dim: i64) -> Self {
        ProjectionHead {
            fc1: super::init::linear(p / "0", in_dim, in_dim),
            fc2: super::init::linear(p / "2", in_dim, out_dim),
        }
    }
}

impl Module for ProjectionHead {
    /// `[n, in_dim]` -> `[n, out_dim]`, not normalised.
    fn forward(&self, xs: &Tensor) -> Tensor {
        xs.apply(&self.fc1).relu().apply(&self.fc2)
    }
}

/// L2-normalises rows.
pub fn l2_normalize(xs: &Tensor) -> Tensor {
    xs / xs.norm_scalaropt_dim(2.0, [1], true).clamp_min(1e-12)
}
