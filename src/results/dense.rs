//! The table of a downstream task (change detection, segmentation, BigEarthNet multi-label, EuroSAT
//! classification): one row per initialisation, encoder mode and label fraction, as plain data. A new run replaces
//! its own row and keeps the others; written as CSV, Markdown and a metrics TOML (plus per-image CSVs for change
//! detection) by [`DenseTable::write_tables`]. Figures (loss curves, overlays) are drawn by `plot` and written with
//! the table by `report::dense`.

use std::path::{Path, PathBuf};

use polars::prelude::*;
use serde::{Deserialize, Serialize};

use super::seg_metrics::{BinaryCounts, BinaryScores, SegConfusion, SegScores};
use super::writer;
use crate::{Error, Result};

/// Which task a table holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DenseTask {
    ChangeDetection,
    Segmentation,
    /// Image-level multi-label classification (BigEarthNet): one table shape for every downstream task.
    MultiLabel,
    /// Scene classification (EuroSAT), frozen probe or fine-tuned.
    Classification,
}

/// Scores of one row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DenseResult {
    Change {
        counts: BinaryCounts,
        scores: BinaryScores,
        /// (image name, counts) per test image.
        per_image: Vec<(String, BinaryCounts)>,
    },
    Segmentation {
        confusion: SegConfusion,
        scores: SegScores,
        /// Confusion of each test image, in test order (for bootstrap intervals); empty in rows stored before
        /// it existed.
        #[serde(default)]
        per_image: Vec<SegConfusion>,
    },
    Classification {
        metrics: super::metrics::Classification,
    },
    MultiLabel {
        /// Micro average precision over every (image, class) pair.
        micro_ap: f64,
        /// Average precision per class; NaN where the test set has no positive.
        per_class_ap: Vec<f64>,
    },
}

impl DenseResult {
    /// 95 % percentile bootstrap interval of the headline metric (change F1 from global pixel counts, mean IoU
    /// from the summed confusion) over resamples of the test images; `None` without per-image results.
    pub fn bootstrap_ci(&self, seed: u64) -> Option<[f64; 2]> {
        use super::bootstrap::{percentile_ci, LEVEL, N_RESAMPLES};
        match self {
            DenseResult::Change { per_image, .. } if !per_image.is_empty() => percentile_ci(
                per_image.len(),
                |idx| {
                    let mut total = BinaryCounts::default();
                    idx.iter().for_each(|&i| total.add(&per_image[i].1));
                    total.scores().f1
                },
                N_RESAMPLES,
                LEVEL,
                seed,
            ),
            DenseResult::Segmentation { per_image, .. } if !per_image.is_empty() => percentile_ci(
                per_image.len(),
                |idx| {
                    let mut total = SegConfusion::new(per_image[0].n_classes, per_image[0].ignore_index);
                    idx.iter().for_each(|&i| total.merge(&per_image[i]));
                    total.scores().mean_iou
                },
                N_RESAMPLES,
                LEVEL,
                seed,
            ),
            _ => None,
        }
    }
}

/// One evaluation: an initialisation, how the encoder was used, and its test scores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DenseRow {
    /// `random init` or the weights' file stem.
    pub init: String,
    pub arch: String,
    pub weights: String,
    /// `frozen` or `fine-tuned`.
    pub encoder: String,
    /// One line: epochs, batch, tiles, optimiser, augmentation, seed.
    pub recipe: String,
    pub epochs: usize,
    pub tile_size: usize,
    pub n_train_images: usize,
    pub n_train_tiles: usize,
    pub n_test_images: usize,
    /// Fraction of the training images used (label-fraction setting).
    #[serde(default = "full_fraction")]
    pub label_fraction: f64,
    pub result: DenseResult,
    pub epoch_losses: Vec<f64>,
    pub train_seconds: f64,
    pub eval_seconds: f64,
}

/// A table of one task on one dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DenseTable {
    /// File stem of the outputs, e.g. `change_levir-cd-samples`.
    pub name: String,
    pub title: String,
    pub task: DenseTask,
    pub dataset: String,
    /// Class names (segmentation); empty for change detection.
    pub classes: Vec<String>,
    /// Lines printed under the table (what the data are, published numbers for context).
    pub notes: Vec<String>,
    pub rows: Vec<DenseRow>,
}

fn full_fraction() -> f64 {
    1.0
}

fn pct(v: f64) -> f64 {
    100.0 * v
}

impl DenseTable {
    /// Adds `row`, replacing a row with the same `init`, `encoder` and label fraction.
    pub fn upsert(&mut self, row: DenseRow) {
        match self
            .rows
            .iter_mut()
            .find(|r| r.init == row.init && r.encoder == row.encoder && r.label_fraction == row.label_fraction)
        {
            Some(existing) => *existing = row,
            None => self.rows.push(row),
        }
    }

    /// The summary, one row per evaluation, scores in percent.
    pub fn dataframe(&self) -> Result<DataFrame> {
        let strings = |f: &dyn Fn(&DenseRow) -> String| self.rows.iter().map(f).collect::<Vec<String>>();
        let counts = |f: &dyn Fn(&DenseRow) -> usize| self.rows.iter().map(|r| f(r) as i64).collect::<Vec<i64>>();
        let mut columns = vec![
            Column::new("init".into(), strings(&|r| r.init.clone())),
            Column::new("backbone".into(), strings(&|r| r.arch.clone())),
            Column::new("encoder".into(), strings(&|r| r.encoder.clone())),
        ];
        match self.task {
            DenseTask::ChangeDetection => {
                let score = |f: fn(&BinaryScores) -> f64| -> Vec<f64> {
                    self.rows
                        .iter()
                        .map(|r| match &r.result {
                            DenseResult::Change { scores, .. } => pct(f(scores)),
                            _ => f64::NAN,
                        })
                        .collect()
                };
                columns.push(Column::new("f1".into(), score(|s| s.f1)));
                columns.push(Column::new("iou".into(), score(|s| s.iou)));
                columns.push(Column::new("precision".into(), score(|s| s.precision)));
                columns.push(Column::new("recall".into(), score(|s| s.recall)));
            }
            DenseTask::Segmentation => {
                let seg = |f: &dyn Fn(&SegScores) -> f64| -> Vec<f64> {
                    self.rows
                        .iter()
                        .map(|r| match &r.result {
                            DenseResult::Segmentation { scores, .. } => pct(f(scores)),
                            _ => f64::NAN,
                        })
                        .collect()
                };
                columns.push(Column::new("miou".into(), seg(&|s| s.mean_iou)));
                columns.push(Column::new("pixel_acc".into(), seg(&|s| s.pixel_accuracy)));
                for (c, class) in self.classes.iter().enumerate() {
                    let name = format!("iou_{}", class.to_lowercase().replace(' ', "_"));
                    columns.push(Column::new(
                        name.into(),
                        seg(&|s| s.per_class_iou.get(c).copied().unwrap_or(f64::NAN)),
                    ));
                }
            }
            DenseTask::Classification => {
                let acc: Vec<f64> = self
                    .rows
                    .iter()
                    .map(|r| match &r.result {
                        DenseResult::Classification { metrics } => pct(metrics.accuracy),
                        _ => f64::NAN,
                    })
                    .collect();
                columns.push(Column::new("accuracy".into(), acc));
            }
            DenseTask::MultiLabel => {
                let ap = |f: &dyn Fn(f64, &[f64]) -> f64| -> Vec<f64> {
                    self.rows
                        .iter()
                        .map(|r| match &r.result {
                            DenseResult::MultiLabel { micro_ap, per_class_ap } => pct(f(*micro_ap, per_class_ap)),
                            _ => f64::NAN,
                        })
                        .collect()
                };
                columns.push(Column::new("micro_map".into(), ap(&|m, _| m)));
                columns.push(Column::new(
                    "macro_map".into(),
                    ap(&|_, per_class| {
                        let defined: Vec<f64> = per_class.iter().copied().filter(|v| v.is_finite()).collect();
                        defined.iter().sum::<f64>() / defined.len().max(1) as f64
                    }),
                ));
            }
        }
        columns.push(Column::new(
            "label_fraction".into(),
            self.rows.iter().map(|r| r.label_fraction).collect::<Vec<f64>>(),
        ));
        columns.push(Column::new("n_train".into(), counts(&|r| r.n_train_images)));
        columns.push(Column::new("n_train_tiles".into(), counts(&|r| r.n_train_tiles)));
        columns.push(Column::new("n_test".into(), counts(&|r| r.n_test_images)));
        columns.push(Column::new("epochs".into(), counts(&|r| r.epochs)));
        columns.push(Column::new("tile".into(), counts(&|r| r.tile_size)));
        Ok(DataFrame::new_infer_height(columns)?)
    }

    /// Change detection: scores of every test image of every row (percent; `-` where undefined).
    pub fn per_image_dataframe(&self) -> Result<DataFrame> {
        let (mut init, mut encoder, mut image) = (vec![], vec![], vec![]);
        let (mut f1, mut iou, mut precision, mut recall, mut changed) = (vec![], vec![], vec![], vec![], vec![]);
        for row in &self.rows {
            if let DenseResult::Change { per_image, .. } = &row.result {
                for (name, c) in per_image {
                    let s = c.scores();
                    init.push(row.init.clone());
                    encoder.push(row.encoder.clone());
                    image.push(name.clone());
                    f1.push(pct(s.f1));
                    iou.push(pct(s.iou));
                    precision.push(pct(s.precision));
                    recall.push(pct(s.recall));
                    changed.push((c.true_pos + c.false_neg) as i64);
                }
            }
        }
        Ok(DataFrame::new_infer_height(vec![
            Column::new("init".into(), init),
            Column::new("encoder".into(), encoder),
            Column::new("image".into(), image),
            Column::new("f1".into(), f1),
            Column::new("iou".into(), iou),
            Column::new("precision".into(), precision),
            Column::new("recall".into(), recall),
            Column::new("changed_px".into(), changed),
        ])?)
    }

    /// Writes `tables/<name>.{csv,md,metrics.toml}` and `tables/<name>_per_image.csv` (change detection) under
    /// `out_dir`; returns the paths.
    pub fn write_tables(&self, out_dir: &Path) -> Result<Vec<PathBuf>> {
        let tables = out_dir.join("tables");
        let mut written = Vec::new();
        let metrics_path = tables.join(format!("{}.metrics.toml", self.name));
        writer::write_metrics(self, &metrics_path)?;
        written.push(metrics_path);

        let df = self.dataframe()?;
        let csv = tables.join(format!("{}.csv", self.name));
        writer::write_csv(&df, &csv)?;
        written.push(csv);
        if self.task == DenseTask::ChangeDetection {
            let per_image = tables.join(format!("{}_per_image.csv", self.name));
            writer::write_csv(&self.per_image_dataframe()?, &per_image)?;
            written.push(per_image);
        }
        let md = tables.join(format!("{}.md", self.name));
        let counted = match self.task {
            DenseTask::ChangeDetection => "change where the predicted probability is > 0.5",
            DenseTask::Segmentation => {
                "argmax class; pixels with an ignored truth left out; mIoU over the classes present"
            }
            DenseTask::Classification => "images: argmax class",
            DenseTask::MultiLabel => {
                "images: average precision of the probe's sigmoid scores, micro computed once over every test image and \
                 class (the authors average per-batch micro AP over the val batches, which depends on the batch size); \
                 macro over classes with a positive"
            }
        };
        let mut notes = vec![
            format!("Scores in percent on the test split, counted over every test pixel or image ({counted})."),
            String::new(),
        ];
        for row in &self.rows {
            notes.push(format!(
                "- {} ({}, {}): {}; train {:.0} s, test {:.0} s.",
                row.init, row.arch, row.encoder, row.recipe, row.train_seconds, row.eval_seconds
            ));
        }
        notes.push(String::new());
        notes.extend(self.notes.iter().cloned());
        writer::write_markdown(&df, &md, &self.title, &notes, 2)?;
        written.push(md);
        Ok(written)
    }

    /// Reads `tables/<name>.metrics.toml` back.
    pub fn read_metrics(path: &Path) -> Result<Self> {
        writer::read_metrics(path, "a dense-task metrics file")
    }

    /// The table stored under `out_dir` with this name, if any, else an empty one (so runs accumulate rows).
    pub fn load_or_new(out_dir: &Path, template: DenseTable) -> Result<Self> {
        let path = out_dir.join("tables").join(format!("{}.metrics.toml", template.name));
        if !path.is_file() {
            return Ok(template);
        }
        let mut stored = Self::read_metrics(&path)?;
        if stored.task != template.task || stored.classes != template.classes {
            return Err(Error::bad_input(
                &path,
                format!(
                    "holds a {} table with classes {:?}, not this task's ({}); remove it or use another --out-dir",
                    task_words(stored.task),
                    stored.classes,
                    task_words(template.task)
                ),
            ));
        }
        stored.title = template.title;
        stored.notes = template.notes;
        stored.dataset = template.dataset;
        Ok(stored)
    }
}

/// A task in words, for messages.
fn task_words(task: DenseTask) -> &'static str {
    match task {
        DenseTask::ChangeDetection => "change-detection",
        DenseTask::Segmentation => "segmentation",
        DenseTask::MultiLabel => "multi-label",
        DenseTask::Classification => "classification",
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn change_bootstrap_resamples_test_images_and_brackets_the_global_f1() {
        let counts = |tp, fp, fn_| BinaryCounts {
            true_pos: tp,
            false_pos: fp,
            false_neg: fn_,
            true_neg: 100,
        };
        // One easy and one hard image among ten: the interval is wide and holds the F1 of all pixels.
        let per_image: Vec<(String, BinaryCounts)> = (0..10)
            .map(|i| (format!("im{i}"), if i % 2 == 0 { counts(40, 5, 5) } else { counts(5, 20, 20) }))
            .collect();
        let mut total = BinaryCounts::default();
        per_image.iter().for_each(|(_, c)| total.add(c));
        let result = DenseResult::Change {
            counts: total,
            scores: total.scores(),
            per_image: per_image.clone(),
        };
        let [lo, hi] = result.bootstrap_ci(0).unwrap();
        let f1 = total.scores().f1;
        assert!(lo < f1 && f1 < hi && hi - lo > 0.05, "[{lo}, {hi}] around {f1}");
        // Identical images: no spread.
        let same = DenseResult::Change {
            counts: total,
            scores: total.scores(),
            per_image: vec![("a".into(), counts(10, 2, 3)); 6],
        };
        let [lo, hi] = same.bootstrap_ci(0).unwrap();
        assert!((hi - lo).abs() < 1e-12);
    }

    pub(crate) fn change_row(init: &str, tp: u64) -> DenseRow {
        let counts = BinaryCounts {
            true_pos: tp,
            false_pos: 1,
            false_neg: 1,
            true_neg: 7,
        };
        DenseRow {
            init: init.into(),
            arch: "resnet18".into(),
            weights: "random".into(),
            encoder: "frozen".into(),
            recipe: "2 epochs".into(),
            epochs: 2,
            tile_size: 32,
            n_train_images: 3,
            n_train_tiles: 12,
            n_test_images: 1,
            label_fraction: 1.0,
            result: DenseResult::Change {
                counts,
                scores: counts.scores(),
                per_image: vec![("a.png".into(), counts)],
            },
            epoch_losses: vec![0.7, 0.5],
            train_seconds: 1.0,
            eval_seconds: 0.5,
        }
    }

    pub(crate) fn change_table() -> DenseTable {
        DenseTable {
            name: "change_fake".into(),
            title: "Change detection on fake".into(),
            task: DenseTask::ChangeDetection,
            dataset: "fake".into(),
            classes: vec![],
            notes: vec![format!("- {}", crate::results::published::Published::committed().notes("change-detection")[0])],
            rows: vec![change_row("random init", 2)],
        }
    }

    #[test]
    fn change_table_writes_scores_in_percent_and_regenerates_from_metrics() {
        let dir = tempfile::tempdir().unwrap();
        let table = change_table();
        let written = table.write_tables(dir.path()).unwrap();
        for suffix in [
            "tables/change_fake.csv",
            "tables/change_fake.md",
            "tables/change_fake.metrics.toml",
            "tables/change_fake_per_image.csv",
        ] {
            assert!(written.contains(&dir.path().join(suffix)), "{suffix} not written");
        }
        // tp 2, fp 1, fn 1: F1 = 4/6, IoU = 2/4, precision = recall = 2/3.
        let md = std::fs::read_to_string(dir.path().join("tables/change_fake.md")).unwrap();
        assert!(
            md.contains(
                "| random init | resnet18 | frozen | 66.67 | 50.00 | 66.67 | 66.67 | 1.00 | 3 | 12 | 1 | 2 | 32 |"
            ),
            "{md}"
        );
        assert!(md.contains("46.94"), "{md}");
        let back = DenseTable::read_metrics(&dir.path().join("tables/change_fake.metrics.toml")).unwrap();
        assert_eq!(back, table);
        assert!(!dir.path().join("figures").exists(), "no figures from the plain-data writer");
    }

    #[test]
    fn a_new_run_replaces_its_own_row_and_keeps_the_others() {
        let dir = tempfile::tempdir().unwrap();
        change_table().write_tables(dir.path()).unwrap();
        let mut template = change_table();
        template.rows.clear();
        let mut table = DenseTable::load_or_new(dir.path(), template.clone()).unwrap();
        assert_eq!(table.rows.len(), 1);
        table.upsert(change_row("caco_r18", 3));
        table.upsert(change_row("random init", 1));
        assert_eq!(table.rows.len(), 2);
        assert_eq!(table.rows[0].init, "random init");
        assert!(matches!(table.rows[0].result, DenseResult::Change { counts, .. } if counts.true_pos == 1));
        // A stored table of another task is not silently mixed in.
        let mut seg = template;
        seg.task = DenseTask::Segmentation;
        let msg = DenseTable::load_or_new(dir.path(), seg).unwrap_err().to_string();
        assert!(msg.contains("change_fake.metrics.toml"), "{msg}");
    }

    #[test]
    fn segmentation_table_has_miou_and_per_class_columns_with_nan_as_dash() {
        let mut confusion = SegConfusion::new(3, 255);
        confusion.add(&[0, 0, 1, 1], &[0, 1, 1, 255]);
        let scores = confusion.scores();
        let mut row = change_row("random init", 1);
        row.result = DenseResult::Segmentation {
            confusion,
            scores,
            per_image: Vec::new(),
        };
        let table = DenseTable {
            name: "seg_fake".into(),
            title: "Segmentation".into(),
            task: DenseTask::Segmentation,
            dataset: "fake".into(),
            classes: vec!["Building".into(), "Land".into(), "Open water".into()],
            notes: vec![],
            rows: vec![row],
        };
        let dir = tempfile::tempdir().unwrap();
        table.write_tables(dir.path()).unwrap();
        let md = std::fs::read_to_string(dir.path().join("tables/seg_fake.md")).unwrap();
        // IoU: class 0 = 1/2, class 1 = 1/2, class 2 absent -> `-`; mIoU 50, pixel accuracy 2/3.
        assert!(
            md.contains("| miou | pixel_acc | iou_building | iou_land | iou_open_water |"),
            "{md}"
        );
        assert!(md.contains("| 50.00 | 66.67 | 50.00 | 50.00 | - |"), "{md}");
        assert!(!dir.path().join("tables/seg_fake_per_image.csv").exists());
    }

}
