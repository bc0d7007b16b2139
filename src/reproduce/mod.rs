//! `reproduce-table`: from data to the paper's comparison table and figures in one command. A table definition
//! ([`config::TableConfig`], `experiments/tables/*.toml`) names rows (initialisations) and tasks; a scale preset
//! sizes the work; [`run::reproduce`] pre-trains and evaluates with every unit of work cached by the hash of its
//! resolved config; [`output::write`] writes the table (CSV, Parquet, Markdown, metrics TOML) and figures, and
//! regenerates them from the metrics alone for `caco report`.

pub mod cache;
pub mod config;
pub mod output;
pub mod run;

pub use config::TableConfig;
pub use run::{reproduce, ReproduceContext};
