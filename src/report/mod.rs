//! Tables (Polars) and the outputs that pair them with figures (drawn by [`crate::plot`]). Builds without libtorch (`--no-default-features`), so notebooks that only
//! read results compile fast.

pub mod bench;
pub mod dense;
pub mod eurosat;
pub mod notebook;
pub mod paper;
pub mod paper_output;
pub mod provenance;
pub mod table;
