//! Training: the one pre-training loop shared by every method, its optimiser, checkpoints and metric log.

pub mod allocator;
pub mod autocast;
pub mod checkpoint;
pub mod log;
pub mod pretrain;
pub mod sgd;

pub use autocast::{autocast, Amp};
pub use pretrain::{pretrain, PretrainOptions, PretrainSummary, StepTime};
