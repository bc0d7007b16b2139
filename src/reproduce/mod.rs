//! `reproduce-table`: from data to the paper's comparison table and figures in one command. A table definition
//! ([`config::TableConfig`], `experiments/tables/*.toml`) names rows (initialisations) and tasks; a scale preset
//! sizes the work; [`run::reproduce`] pre-trains and evaluates with every unit of work cached by the hash of its
//! resolved config; `report::paper_output::write` (no libtorch, so that notebooks reach it) writes the table (CSV,
//! Parquet, Markdown, metrics TOML) and figures, and `report::regenerate` redoes them from the metrics alone for
//! `caco report`. [`datasets`] checks every dataset a table needs before any work starts.

pub mod cache;
pub mod config;
pub mod datasets;
mod pretrain_rows;
pub mod run;
mod task_rows;

pub use config::TableConfig;
pub use run::{reproduce, ReproduceContext};
