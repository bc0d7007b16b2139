//! The comparison table of `reproduce-table` as stored metrics: everything the table and its figures need, written
//! once as `results/tables/<name>.metrics.toml` by a run, read back by `caco report` to regenerate every table and
//! figure without training. Plain data (no libtorch).

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// One metric column of the table, e.g. `eurosat_probe` ("EuroSAT probe acc."), in percent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricColumn {
    /// Stable id, also the CSV column stem.
    pub id: String,
    /// Header in the Markdown table and on figures.
    pub label: String,
    /// The task that produced it (`eurosat`, `change-detection`, ...).
    pub task: String,
    /// Dataset it was measured on.
    pub dataset: String,
}

/// One measured value: row x metric x seed, in percent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cell {
    pub row: String,
    pub metric: String,
    pub seed: u64,
    pub value: f64,
    /// 95 % percentile bootstrap interval of `value` over the task's test items (1,000 resamples), in percent;
    /// `None` where the task keeps no per-item results.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ci: Option<[f64; 2]>,
}

/// A published number for a row's method and a metric, shown in its own column (METHODS.md; other data and
/// backbones, so for context).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PublishedValue {
    pub row: String,
    pub metric: String,
    pub value: f64,
    /// Where it comes from, e.g. "CACo notebook, R18 CACo-100k".
    pub source: String,
}

/// Pre-training loss per step of one row and seed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LossCurve {
    pub row: String,
    pub seed: u64,
    pub steps: Vec<u64>,
    pub loss: Vec<f64>,
}

/// CACo's change estimate after one epoch: the running ratios of the items seen and the fitted mixture.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CacoEpoch {
    pub row: String,
    pub seed: u64,
    pub epoch: usize,
    /// Running ratio d_long / (d_short + 1e-4) of every seen item.
    pub ratios: Vec<f64>,
    /// Whether each of those items is truly changed (eurosat-seasons' truth.csv); empty when unknown.
    pub truly_changed: Vec<bool>,
    /// Mixture weights, means and variances (low component first); `None` when no mixture was fitted.
    pub gmm: Option<GmmParams>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GmmParams {
    pub weights: [f64; 2],
    pub means: [f64; 2],
    pub variances: [f64; 2],
}

/// One point of the label-fraction curve: a row's score when its task is trained on `fraction` of the labels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FractionPoint {
    pub row: String,
    pub metric: String,
    pub fraction: f64,
    pub seed: u64,
    pub value: f64,
}

/// Nearest-neighbour retrieval examples of one row: query images (paths relative to the dataset root) and their
/// nearest neighbours in feature space, with classes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Retrieval {
    pub row: String,
    pub queries: Vec<RetrievalQuery>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RetrievalQuery {
    pub image: String,
    pub class: String,
    /// Nearest first: (image, class).
    pub neighbours: Vec<(String, String)>,
}

/// Everything of one `reproduce-table` run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct PaperTable {
    pub name: String,
    pub title: String,
    pub scale: String,
    /// Row names in table order.
    pub rows: Vec<String>,
    pub metrics: Vec<MetricColumn>,
    pub cells: Vec<Cell>,
    pub published: Vec<PublishedValue>,
    pub loss_curves: Vec<LossCurve>,
    pub caco_epochs: Vec<CacoEpoch>,
    pub label_fractions: Vec<FractionPoint>,
    pub retrieval: Vec<Retrieval>,
    /// EuroSAT images for the sample grid: (path relative to the dataset root, class).
    pub samples: Vec<(String, String)>,
    /// Dataset root the sample and retrieval paths are relative to (as given at run time).
    pub eurosat_root: String,
    /// Lines printed under the table.
    pub notes: Vec<String>,
    pub wall_seconds: f64,
    /// The commit, features, machine and command that produced the table (absent in older metrics files).
    #[serde(default)]
    pub provenance: Option<super::provenance::Provenance>,
    /// Per row and seed, the era distances on the held-out simulated series (the change-awareness figure).
    #[serde(default)]
    pub awareness: Vec<AwarenessDistribution>,
}

/// One backbone's d_long (mean distance between the eras' dates, `eval::awareness`) per held-out location, with
/// the simulation's truth.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AwarenessDistribution {
    pub row: String,
    pub seed: u64,
    pub d_long: Vec<f64>,
    pub truly_changed: Vec<bool>,
}

/// Mean and sample standard deviation (0 for one value); `None` for no values.
pub fn mean_std(values: &[f64]) -> Option<(f64, f64)> {
    if values.is_empty() {
        return None;
    }
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let std = if values.len() > 1 {
        (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
    } else {
        0.0
    };
    Some((mean, std))
}

impl PaperTable {
    /// Bootstrap intervals of `row` x `metric` over seeds (only the seeds that have one).
    pub fn intervals(&self, row: &str, metric: &str) -> Vec<[f64; 2]> {
        self.cells
            .iter()
            .filter(|c| c.row == row && c.metric == metric)
            .filter_map(|c| c.ci)
            .collect()
    }

    /// The interval shown for `row` x `metric`: a seed's own interval, or with several seeds the mean of their
    /// bounds (each seed's bootstrap over the same test items).
    pub fn interval(&self, row: &str, metric: &str) -> Option<[f64; 2]> {
        let cis = self.intervals(row, metric);
        if cis.is_empty() {
            return None;
        }
        let n = cis.len() as f64;
        Some([
            cis.iter().map(|c| c[0]).sum::<f64>() / n,
            cis.iter().map(|c| c[1]).sum::<f64>() / n,
        ])
    }

    /// Values of `row` x `metric` over seeds.
    pub fn values(&self, row: &str, metric: &str) -> Vec<f64> {
        self.cells
            .iter()
            .filter(|c| c.row == row && c.metric == metric)
            .map(|c| c.value)
            .collect()
    }

    pub fn published_value(&self, row: &str, metric: &str) -> Option<&PublishedValue> {
        self.published.iter().find(|p| p.row == row && p.metric == metric)
    }

    pub fn write_metrics(&self, path: &Path) -> Result<()> {
        let text = toml::to_string(self).map_err(|e| Error::Report(format!("metrics do not serialise: {e}")))?;
        super::table::create_parent(path)?;
        let tmp = path.with_extension("toml.tmp");
        std::fs::write(&tmp, text).map_err(|e| Error::io(&tmp, e))?;
        std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
    }

    pub fn read_metrics(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        toml::from_str(&text).map_err(|e| Error::bad_input(path, format!("not a reproduce-table metrics file: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_and_sample_std() {
        assert_eq!(mean_std(&[]), None);
        assert_eq!(mean_std(&[3.0]), Some((3.0, 0.0)));
        let (m, s) = mean_std(&[1.0, 2.0, 3.0]).unwrap();
        assert!((m - 2.0).abs() < 1e-12 && (s - 1.0).abs() < 1e-12);
    }
}
