//! The comparison table of `reproduce-table` as stored metrics: everything the table and its figures need, written
//! once as `results/tables/<name>.metrics.toml` by a run, read back by `caco report` to regenerate every table and
//! figure without training. Plain data (no libtorch).

use std::path::{Path, PathBuf};

use polars::prelude::*;
use serde::{Deserialize, Serialize};

use super::writer;
use crate::Result;

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
    /// Metric ids of tasks left out because their data were absent (`reproduce-table --skip-missing`): their cells
    /// read "n/a (data absent)".
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub absent: Vec<String>,
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
        writer::write_metrics(self, path)
    }

    pub fn read_metrics(path: &Path) -> Result<Self> {
        writer::read_metrics(path, "a reproduce-table metrics file")
    }
}

/// The summary: per row, per metric the mean over seeds, its standard deviation, the number of seeds, the 95 %
/// bootstrap interval (`_ci_low`, `_ci_high`; NaN where none) and the published value (NaN where none).
pub fn dataframe(t: &PaperTable) -> Result<DataFrame> {
    let mut columns = vec![Column::new("row".into(), t.rows.clone())];
    for m in &t.metrics {
        let stats: Vec<Option<(f64, f64)>> = t.rows.iter().map(|r| mean_std(&t.values(r, &m.id))).collect();
        let published: Vec<f64> = t
            .rows
            .iter()
            .map(|r| t.published_value(r, &m.id).map_or(f64::NAN, |p| p.value))
            .collect();
        columns.push(Column::new(
            m.id.clone().into(),
            stats.iter().map(|s| s.map_or(f64::NAN, |s| s.0)).collect::<Vec<f64>>(),
        ));
        columns.push(Column::new(
            format!("{}_std", m.id).into(),
            stats.iter().map(|s| s.map_or(f64::NAN, |s| s.1)).collect::<Vec<f64>>(),
        ));
        columns.push(Column::new(
            format!("{}_n", m.id).into(),
            t.rows
                .iter()
                .map(|r| t.values(r, &m.id).len() as i64)
                .collect::<Vec<i64>>(),
        ));
        let intervals: Vec<Option<[f64; 2]>> = t.rows.iter().map(|r| t.interval(r, &m.id)).collect();
        for (suffix, bound) in [("ci_low", 0), ("ci_high", 1)] {
            columns.push(Column::new(
                format!("{}_{suffix}", m.id).into(),
                intervals.iter().map(|c| c.map_or(f64::NAN, |c| c[bound])).collect::<Vec<f64>>(),
            ));
        }
        columns.push(Column::new(format!("{}_published", m.id).into(), published));
    }
    Ok(DataFrame::new_infer_height(columns)?)
}

/// The Markdown table: `mean ± std` cells (percent), a `published` column after each metric that has any.
pub fn markdown(t: &PaperTable) -> String {
    let with_published: Vec<bool> = t
        .metrics
        .iter()
        .map(|m| t.rows.iter().any(|r| t.published_value(r, &m.id).is_some()))
        .collect();
    let mut header = vec!["initialisation".to_string()];
    for (m, &p) in t.metrics.iter().zip(&with_published) {
        header.push(m.label.clone());
        if p {
            header.push(format!("{} (published†)", m.label));
        }
    }
    let mut out = format!("# {}\n\n", t.title);
    out += &format!(
        "| {} |\n|{}|\n",
        header.join(" | "),
        vec!["---"; header.len()].join("|")
    );
    let multi_seed = t
        .cells
        .iter()
        .map(|c| c.seed)
        .collect::<std::collections::BTreeSet<_>>()
        .len()
        > 1;
    for r in &t.rows {
        let mut cells = vec![r.clone()];
        for (m, &p) in t.metrics.iter().zip(&with_published) {
            let ci = t
                .interval(r, &m.id)
                .map_or(String::new(), |[lo, hi]| format!(" [{lo:.1}, {hi:.1}]"));
            cells.push(match mean_std(&t.values(r, &m.id)) {
                Some((mean, _)) if mean.is_nan() => "n/a".into(),
                Some((mean, std)) if multi_seed => format!("{mean:.2} ± {std:.2}{ci}"),
                Some((mean, _)) => format!("{mean:.2}{ci}"),
                None if t.absent.contains(&m.id) => "n/a (data absent)".into(),
                None => "–".into(),
            });
            if p {
                cells.push(
                    t.published_value(r, &m.id)
                        .map_or("".into(), |v| format!("{:.2}", v.value)),
                );
            }
        }
        out += &format!("| {} |\n", cells.join(" | "));
    }
    out += "\nScores in percent on each task's scored split (test; EuroSAT's probe and CLCD: val, the authors' metric \
            and CLCD's last public list)";
    out += if multi_seed {
        " (mean ± standard deviation over seeds)"
    } else {
        " (one seed)"
    };
    out += if t.cells.iter().any(|c| c.ci.is_some()) {
        "; in brackets the 95 % percentile bootstrap interval over the scored items (1,000 resamples of the \
         images, image pairs, kNN queries or held-out locations; with several seeds, the mean of the seeds' \
         bounds).\n"
    } else {
        ".\n"
    };
    let sources: Vec<String> = t
        .published
        .iter()
        .map(|p| format!("- {} {}: {:.2}, {}", p.row, p.metric, p.value, p.source))
        .collect();
    if !sources.is_empty() {
        out += "\n† Published numbers, for context only: other data (the official pre-training sets and splits) and \
                longer schedules; they are not comparable with the rows above.\n\n";
        out += &sources.join("\n");
        out += "\n";
    }
    let beats = beats_random(t);
    if !beats.is_empty() {
        out += "\nRows above random init (mean):\n\n";
        out += &beats.join("\n");
        out += "\n";
    }
    if !t.notes.is_empty() {
        out += "\n";
        out += &t.notes.iter().map(|n| format!("{n}\n")).collect::<String>();
    }
    out += &format!("\nWall time of the run: {:.0} s.\n", t.wall_seconds);
    if let Some(p) = &t.provenance {
        out += &format!("\n{}\n", p.line());
    }
    out
}

/// Per metric, the rows whose mean beats the first row named like "random".
pub fn beats_random(t: &PaperTable) -> Vec<String> {
    let Some(random) = t.rows.iter().find(|r| r.to_lowercase().contains("random")) else {
        return vec![];
    };
    t.metrics
        .iter()
        .filter_map(|m| {
            let base = mean_std(&t.values(random, &m.id))?.0;
            let better: Vec<String> = t
                .rows
                .iter()
                .filter(|r| *r != random)
                .filter_map(|r| {
                    let v = mean_std(&t.values(r, &m.id))?.0;
                    (v > base).then(|| format!("{r} ({v:.2})"))
                })
                .collect();
            Some(format!(
                "- {} (random init {base:.2}): {}",
                m.label,
                if better.is_empty() {
                    "none".to_string()
                } else {
                    better.join(", ")
                }
            ))
        })
        .collect()
}

/// Writes `tables/<name>.{metrics.toml,csv,parquet,md}` under `out_dir`; returns the paths written. The figures
/// are drawn by `report::paper_output::write`, which calls this first.
pub fn write_tables(t: &PaperTable, out_dir: &Path) -> Result<Vec<PathBuf>> {
    let tables = out_dir.join("tables");
    let metrics = tables.join(format!("{}.metrics.toml", t.name));
    t.write_metrics(&metrics)?;
    let df = dataframe(t)?;
    let csv = tables.join(format!("{}.csv", t.name));
    writer::write_csv(&df, &csv)?;
    let parquet = tables.join(format!("{}.parquet", t.name));
    writer::write_parquet(&df, &parquet)?;
    let md = tables.join(format!("{}.md", t.name));
    writer::write_text(&md, &markdown(t))?;
    Ok(vec![metrics, csv, parquet, md])
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
