//! Writes results with their figures: a table from `results` plus its figures (drawn by `plot`), for the paper
//! table (`paper_output`), a downstream task (`dense`) and the EuroSAT table (`eurosat`); the one `regenerate` of
//! any stored table; the benchmark report; the notebooks' helpers. Builds without libtorch
//! (`--no-default-features`), so notebooks that only read results compile fast.

pub mod bench;
pub mod dense;
pub mod eurosat;
pub mod notebook;
pub mod paper_output;
pub mod regenerate;

pub use regenerate::regenerate;

