//! Results as plain data: metrics computed from predictions, the rows and tables every task produces, and the one
//! writer that stores them (CSV, Parquet, Markdown, metrics TOML). No libtorch and no Plotters, so that every layer
//! can produce results and notebooks can read them without building libtorch; figures are drawn by `plot` and
//! written with their tables by `report`.
//!
//! Tables by kind: [`paper::PaperTable`] (`reproduce-table`'s comparison), [`dense::DenseTable`] (one downstream
//! task: change detection, segmentation, BigEarthNet, EuroSAT fine-tuning), [`eurosat::EurosatTable`] (the EuroSAT
//! probe and kNN table); [`StoredTable`] reads any stored one back.

pub mod bootstrap;
pub mod dense;
pub mod eurosat;
pub mod metrics;
pub mod paper;
pub mod provenance;
pub mod published;
pub mod seg_metrics;
pub mod writer;

use std::path::{Path, PathBuf};

use polars::prelude::DataFrame;

use crate::{Error, Result};

/// A stored `*.metrics.toml`, whichever command wrote it.
#[derive(Debug, Clone)]
pub enum StoredTable {
    /// `reproduce-table`'s comparison.
    Paper(paper::PaperTable),
    /// Change detection, segmentation, BigEarthNet, EuroSAT fine-tuning (`caco eval`).
    Dense(dense::DenseTable),
    /// The EuroSAT probe and kNN table.
    Eurosat(eurosat::EurosatTable),
}

impl StoredTable {
    /// Reads a metrics file, trying the three kinds in turn.
    pub fn read(path: &Path) -> Result<Self> {
        if let Ok(t) = paper::PaperTable::read_metrics(path) {
            return Ok(StoredTable::Paper(t));
        }
        if let Ok(t) = dense::DenseTable::read_metrics(path) {
            return Ok(StoredTable::Dense(t));
        }
        Ok(StoredTable::Eurosat(eurosat::EurosatTable::read_metrics(path)?))
    }

    pub fn name(&self) -> &str {
        match self {
            StoredTable::Paper(t) => &t.name,
            StoredTable::Dense(t) => &t.name,
            StoredTable::Eurosat(t) => &t.name,
        }
    }

    /// The summary table, scores in percent.
    pub fn dataframe(&self) -> Result<DataFrame> {
        match self {
            StoredTable::Paper(t) => paper::dataframe(t),
            StoredTable::Dense(t) => t.dataframe(),
            StoredTable::Eurosat(t) => t.dataframe(),
        }
    }
}

/// Every `tables/*.metrics.toml` under `results`, sorted; empty when there is no `tables/` folder.
pub fn metrics_files(results: &Path) -> Result<Vec<PathBuf>> {
    let tables = results.join("tables");
    if !tables.is_dir() {
        return Ok(vec![]);
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(&tables)
        .map_err(|e| Error::io(&tables, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(".metrics.toml"))
        .collect();
    files.sort();
    Ok(files)
}
