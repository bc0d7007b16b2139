//! The EuroSAT table (linear probe + kNN retrieval per initialisation) as plain data, written as CSV, Markdown and a
//! metrics TOML (from which `caco report` regenerates everything), beside the resolved config that produced it. The
//! confusion-matrix figure per row is drawn by `report::eurosat`.

use std::path::{Path, PathBuf};

use polars::prelude::*;
use serde::{Deserialize, Serialize};

use super::metrics::{AtK, Classification};
use super::published::Published;
use super::writer;
use crate::{Error, Result};

/// One row: an initialisation and its scores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EurosatRow {
    pub name: String,
    pub arch: String,
    pub weights: String,
    pub n_train: usize,
    pub n_val: usize,
    pub n_test: usize,
    /// Linear probe on the test split.
    pub test: Classification,
    pub val_accuracy: f64,
    /// 95 % bootstrap interval of `val_accuracy` over the val images.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub val_accuracy_ci: Option<[f64; 2]>,
    /// kNN retrieval on the val gallery (the first `n_knn` val images) with the sampled queries.
    pub knn: Vec<AtK>,
    /// kNN retrieval with every gallery image as a query.
    #[serde(default)]
    pub knn_all: Vec<AtK>,
    /// Size of the kNN gallery (val cut to whole batches of the notebook's drop_last loader).
    #[serde(default)]
    pub n_knn: usize,
    pub probe_final_loss: f64,
    pub feature_seconds: f64,
    pub probe_seconds: f64,
    /// (label fraction, test accuracy) of the extra probes on a fraction of train.
    #[serde(default)]
    pub fraction_accuracy: Vec<(f64, f64)>,
    /// Retrieval examples on val: (query image, nearest images first), paths relative to the dataset root.
    #[serde(default)]
    pub retrieval_examples: Vec<(String, Vec<String>)>,
}

/// A whole table run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EurosatTable {
    pub name: String,
    pub title: String,
    pub scale: String,
    pub dataset: String,
    pub classes: Vec<String>,
    pub rows: Vec<EurosatRow>,
    /// How the numbers were made (probe and kNN protocols), one paragraph each.
    #[serde(default)]
    pub notes: Vec<String>,
    pub wall_seconds: f64,
}

impl EurosatTable {
    /// The summary table, one row per initialisation, scores in percent.
    pub fn dataframe(&self) -> Result<DataFrame> {
        let pct = |f: &dyn Fn(&EurosatRow) -> f64| self.rows.iter().map(|r| 100.0 * f(r)).collect::<Vec<f64>>();
        let knn = |all: bool, k: usize, precision: bool| {
            pct(&move |r: &EurosatRow| {
                if all { &r.knn_all } else { &r.knn }
                    .iter()
                    .find(|a| a.k == k)
                    .map_or(f64::NAN, |a| if precision { a.precision } else { a.recall })
            })
        };
        let strings = |f: &dyn Fn(&EurosatRow) -> String| self.rows.iter().map(f).collect::<Vec<String>>();
        let counts = |f: &dyn Fn(&EurosatRow) -> usize| self.rows.iter().map(|r| f(r) as i64).collect::<Vec<i64>>();
        let mut columns = vec![
            Column::new("init".into(), strings(&|r| r.name.clone())),
            Column::new("backbone".into(), strings(&|r| r.arch.clone())),
            Column::new("probe_acc_test".into(), pct(&|r| r.test.accuracy)),
            Column::new("probe_acc_val".into(), pct(&|r| r.val_accuracy)),
        ];
        let mut ks: Vec<usize> = self.rows.iter().flat_map(|r| r.knn.iter().map(|a| a.k)).collect();
        ks.sort_unstable();
        ks.dedup();
        for &k in &ks {
            columns.push(Column::new(format!("knn_p@{k}").into(), knn(false, k, true)));
            columns.push(Column::new(format!("knn_r@{k}").into(), knn(false, k, false)));
        }
        if self.rows.iter().any(|r| !r.knn_all.is_empty()) {
            for &k in &ks {
                columns.push(Column::new(format!("knn_all_p@{k}").into(), knn(true, k, true)));
                columns.push(Column::new(format!("knn_all_r@{k}").into(), knn(true, k, false)));
            }
        }
        columns.push(Column::new("n_train".into(), counts(&|r| r.n_train)));
        columns.push(Column::new("n_val".into(), counts(&|r| r.n_val)));
        columns.push(Column::new("n_knn".into(), counts(&|r| r.n_knn)));
        columns.push(Column::new("n_test".into(), counts(&|r| r.n_test)));
        Ok(DataFrame::new_infer_height(columns)?)
    }

    /// Per-class test accuracy (percent), one column per row.
    pub fn per_class_dataframe(&self) -> Result<DataFrame> {
        let mut columns = vec![Column::new("class".into(), self.classes.clone())];
        for row in &self.rows {
            let values: Vec<f64> = row.test.per_class_accuracy.iter().map(|a| 100.0 * a).collect();
            columns.push(Column::new(row.name.as_str().into(), values));
        }
        Ok(DataFrame::new_infer_height(columns)?)
    }

    /// Writes `tables/<name>.{toml,metrics.toml,csv,md}` and `tables/<name>_per_class.csv` under `out_dir` (the
    /// `.toml` is the resolved config, `config_toml`, under a comment header); returns the paths written. The
    /// confusion-matrix figures are drawn by `report::eurosat::write`, which calls this first.
    pub fn write_tables(&self, config_toml: &str, out_dir: &Path) -> Result<Vec<PathBuf>> {
        let tables = out_dir.join("tables");
        let mut written = Vec::new();
        let config = tables.join(format!("{}.toml", self.name));
        writer::write_text(&config, &format!("{}{config_toml}", self.config_header()))?;
        written.push(config);
        let metrics = tables.join(format!("{}.metrics.toml", self.name));
        writer::write_text(
            &metrics,
            &toml::to_string(self).map_err(|e| Error::Report(format!("metrics do not serialise: {e}")))?,
        )?;
        written.push(metrics);

        let df = self.dataframe()?;
        let csv = tables.join(format!("{}.csv", self.name));
        writer::write_csv(&df, &csv)?;
        let per_class_csv = tables.join(format!("{}_per_class.csv", self.name));
        writer::write_csv(&self.per_class_dataframe()?, &per_class_csv)?;
        let md = tables.join(format!("{}.md", self.name));
        let mut notes = vec![
            format!(
                "Scale `{}` on `{}`; scores in percent; probe accuracy on val (the authors' metric) and test, kNN \
                 retrieval on val. Wall time {:.0} s.",
                self.scale, self.dataset, self.wall_seconds
            ),
            String::new(),
        ];
        for note in &self.notes {
            notes.extend([note.clone(), String::new()]);
        }
        notes.extend([
            "Per-class test accuracy:".into(),
            String::new(),
            writer::to_markdown(&self.per_class_dataframe()?, 1)?,
            "Published, for context (pre-trained backbones, not comparable to random init):".into(),
            String::new(),
        ]);
        notes.extend(Published::committed().notes("eurosat").iter().map(|p| format!("- {p}")));
        writer::write_markdown(&df, &md, &self.title, &notes, 2)?;
        written.extend([csv, per_class_csv, md]);
        Ok(written)
    }

    /// The comment line above a stored copy of the resolved config.
    pub fn config_header(&self) -> String {
        format!("# Resolved config of `{}` at scale `{}`.\n", self.name, self.scale)
    }

    /// File stem of `row`'s confusion-matrix figure under `out_dir`.
    pub fn confusion_stem(&self, out_dir: &Path, row: &EurosatRow) -> PathBuf {
        let file = if self.rows.len() == 1 {
            format!("{}_confusion", self.name)
        } else {
            format!("{}_confusion_{}", self.name, writer::slug(&row.name))
        };
        out_dir.join("figures").join(file)
    }

    /// Reads `tables/<name>.metrics.toml` back (for report regeneration without training).
    pub fn read_metrics(path: &Path) -> Result<Self> {
        writer::read_metrics(path, "a metrics file")
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn fixture() -> EurosatTable {
        let test = Classification::from_predictions(&[0, 1, 1, 0], &[0, 1, 1, 1], 2);
        EurosatTable {
            name: "eurosat".into(),
            title: "EuroSAT".into(),
            scale: "smoke".into(),
            dataset: "eurosat-rgb".into(),
            classes: vec!["A".into(), "B".into()],
            rows: vec![EurosatRow {
                name: "random init".into(),
                arch: "resnet18".into(),
                weights: "random".into(),
                n_train: 10,
                n_val: 4,
                n_test: 4,
                test,
                val_accuracy: 0.5,
                val_accuracy_ci: None,
                knn: vec![AtK {
                    k: 2,
                    precision: 0.5,
                    recall: 0.25,
                    precision_ci: None,
                }],
                knn_all: vec![AtK {
                    k: 2,
                    precision: 0.625,
                    recall: 0.375,
                    precision_ci: None,
                }],
                n_knn: 4,
                probe_final_loss: 0.7,
                feature_seconds: 1.0,
                probe_seconds: 2.0,
                fraction_accuracy: vec![(0.1, 0.5)],
                retrieval_examples: vec![],
            }],
            notes: vec!["Probe, protocol `authors`.".into()],
            wall_seconds: 3.0,
        }
    }

    #[test]
    fn writes_tables_and_metrics_and_regenerates_from_metrics() {
        let dir = tempfile::tempdir().unwrap();
        let table = fixture();
        let written = table.write_tables("name = \"eurosat\"\n", dir.path()).unwrap();
        for suffix in [
            "tables/eurosat.csv",
            "tables/eurosat.md",
            "tables/eurosat.toml",
        ] {
            assert!(written.contains(&dir.path().join(suffix)), "{suffix} not written");
        }
        let md = std::fs::read_to_string(dir.path().join("tables/eurosat.md")).unwrap();
        assert!(
            md.contains("| random init | resnet18 | 75.00 | 50.00 | 50.00 | 25.00 | 62.50 | 37.50 | 10 | 4 | 4 | 4 |"),
            "{md}"
        );
        assert!(
            md.contains("knn_all_p@2") && md.contains("Probe, protocol `authors`."),
            "{md}"
        );
        assert!(md.contains("probe accuracy on val (the authors' metric)"), "{md}");
        assert!(md.contains("93.14"), "published numbers missing");
        let back = EurosatTable::read_metrics(&dir.path().join("tables/eurosat.metrics.toml")).unwrap();
        assert_eq!(back, table);
        let again = tempfile::tempdir().unwrap();
        back.write_tables("name = \"eurosat\"\n", again.path()).unwrap();
        assert_eq!(
            std::fs::read_to_string(again.path().join("tables/eurosat.csv")).unwrap(),
            std::fs::read_to_string(dir.path().join("tables/eurosat.csv")).unwrap()
        );
    }

    #[test]
    fn metrics_written_before_knn_all_still_read() {
        let mut table = fixture();
        table.rows[0].knn_all.clear();
        table.rows[0].n_knn = 0;
        table.notes.clear();
        let text = toml::to_string(&table)
            .unwrap()
            .lines()
            .filter(|l| !["knn_all = []", "n_knn = 0", "notes = []"].contains(&l.trim()))
            .collect::<Vec<_>>()
            .join("\n");
        assert!(
            !text.contains("knn_all") && !text.contains("n_knn") && !text.contains("notes"),
            "{text}"
        );
        let back: EurosatTable = toml::from_str(&text).unwrap();
        assert!(back.rows[0].knn_all.is_empty() && back.rows[0].n_knn == 0);
        // No knn_all columns for such rows.
        let df = back.dataframe().unwrap();
        assert!(df.get_column_names().iter().all(|c| !c.starts_with("knn_all")));
    }
}
