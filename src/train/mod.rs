//! Training: the one pre-training loop shared by every method, its optimiser, checkpoints and metric log.

pub mod allocator;
pub mod checkpoint;
pub mod data_parallel;
pub mod log;
pub mod pretrain;
pub mod sgd;

/// Mixed precision lives with the models (the SSL model runs its encoders under it); re-exported for run configs.
pub use crate::models::autocast::{autocast, Amp};
pub use pretrain::{pretrain, PretrainOptions, PretrainSummary, StepTime};
