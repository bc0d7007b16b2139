//! `reproduce-table`: from data to the paper's comparison table and figures in one command. A table definition
//! ([`config::TableConfig`], `experiments/tables/*.toml`) names rows (initialisations) and tasks; a scale preset
//! sizes the work; [`run::reproduce`] pre-trains and evaluates with every unit of work cached by the hash of its
//! resolved config; [`output::write`] (in `report::paper_output`, so that notebooks reach it without libtorch) writes
//! the table (CSV, Parquet, Markdown, metrics TOML) and figures, and regenerates them from the metrics alone for
//! `caco report`.

pub mod cache;
pub mod config;
pub mod run;

/// The table's outputs live in `report` (no libtorch, so notebooks can regenerate them); kept here under its old name.
pub use crate::report::paper_output as output;

pub use config::TableConfig;
pub use run::{reproduce, ReproduceContext};
