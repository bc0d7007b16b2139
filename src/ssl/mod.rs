//! Self-supervised pre-training methods (METHODS.md): the parts (key queue, momentum update, losses as pure
//! functions, CACo's change state, the 1-D GMM, GASSL's k-means) and the model that combines them per method.

pub mod caco;
pub mod gmm;
pub mod kmeans;
pub mod losses;
pub mod model;
pub mod momentum;
pub mod queue;

pub use model::{Method, SslModel};
