//! Table definitions (`experiments/tables/*.toml`): rows are initialisations (random, a method pre-trained by the
//! table, or a weights file such as an imported official checkpoint), tasks are downstream benchmarks, scales are
//! presets (`smoke`, `cpu`, `paper`). Unknown keys, methods and tasks are errors naming them.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::config::ExperimentConfig;
use crate::data::change::LayoutChoice;
use crate::data::oscd::OscdDates;
use crate::data::split::SplitChoice;
use crate::eval::tasks::ChangeOptions;
use crate::ssl::Method;
use crate::{Error, Result};

/// A downstream task of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TaskKind {
    /// EuroSAT linear probe accuracy and kNN P@20 (`eurosat_config`'s dataset and protocol).
    Eurosat,
    ChangeDetection,
    Segmentation,
    Bigearthnet,
    /// The change-awareness scores of a frozen backbone on the held-out simulated series (`eval::awareness`).
    ChangeAwareness,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableRow {
    /// Row label, e.g. "CACo".
    pub name: String,
    /// Pre-trained by the table with the scale's pre-training config of this method.
    #[serde(default)]
    pub method: Option<Method>,
    /// `"random"` or a `.safetensors` backbone (e.g. from `cargo xtask import-weights`).
    #[serde(default)]
    pub weights: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskSpec {
    pub kind: TaskKind,
    /// Dataset folder (change detection, segmentation).
    #[serde(default)]
    pub dataset: Option<String>,
    /// Skipped, with a note, when its data are missing (BigEarthNet is not on every machine).
    #[serde(default)]
    pub optional: bool,
    /// Overrides of the task's evaluation config (`DenseConfig` keys, `BigEarthNetConfig` keys, or
    /// `AwarenessConfig` keys).
    #[serde(default)]
    pub config: toml::Table,
    /// The scales this task runs at; empty: every scale.
    #[serde(default)]
    pub scales: Vec<String>,
    /// Change detection: `levir` or `time1-time2` (default: detected), as `--layout`.
    #[serde(default)]
    pub layout: Option<String>,
    /// Change detection: folder names replacing the layout's, as `--a-dir`, `--b-dir`, `--label-dir`.
    #[serde(default)]
    pub a_dir: Option<String>,
    #[serde(default)]
    pub b_dir: Option<String>,
    #[serde(default)]
    pub label_dir: Option<String>,
    /// Change detection: `lists` (default) or `seeded:TRAIN,VAL,TEST`, as `--split`.
    #[serde(default)]
    pub split: Option<String>,
    /// OSCD: `imgs_1` (default) or `imgs_1_rect`, as `--dates`.
    #[serde(default)]
    pub dates: Option<String>,
}

impl TaskKind {
    /// The kind as tables spell it (`change-detection`).
    pub fn name(self) -> &'static str {
        match self {
            TaskKind::Eurosat => "eurosat",
            TaskKind::ChangeDetection => "change-detection",
            TaskKind::Segmentation => "segmentation",
            TaskKind::Bigearthnet => "bigearthnet",
            TaskKind::ChangeAwareness => "change-awareness",
        }
    }
}

impl TaskSpec {
    pub fn runs_at(&self, scale: &str) -> bool {
        self.scales.is_empty() || self.scales.iter().any(|s| s == scale)
    }

    /// The change set's layout, split and OSCD date folders (`layout`, `a_dir`, `b_dir`, `label_dir`, `split`,
    /// `dates`); an error names the bad value.
    pub fn change_options(&self) -> Result<ChangeOptions> {
        Ok(ChangeOptions {
            layout: LayoutChoice {
                layout: self.layout.clone(),
                a_dir: self.a_dir.clone(),
                b_dir: self.b_dir.clone(),
                label_dir: self.label_dir.clone(),
            },
            split: self.split.as_deref().map_or(Ok(SplitChoice::Lists), SplitChoice::parse)?,
            dates: self.dates.as_deref().map_or(Ok(OscdDates::Imgs), OscdDates::parse)?,
        })
    }

    /// Whether the task fine-tunes the encoder (`config.finetune = true`).
    pub fn finetunes(&self) -> bool {
        self.config.get("finetune").and_then(|v| v.as_bool()) == Some(true)
    }
}

/// A scale preset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableScale {
    /// What the scale is for (printed in the table's notes).
    #[serde(default)]
    pub description: String,
    /// Run on generated data in the real layouts (CI) instead of the data root.
    #[serde(default)]
    pub generated_data: bool,
    /// Pre-training config of a method row; `{method}` is replaced by the method's name.
    pub pretrain: String,
    /// Merged into every pre-training config (e.g. `optim = { epochs = 1 }`).
    #[serde(default)]
    pub pretrain_overrides: toml::Table,
    /// Merged into the evaluation config of every change-detection and segmentation task (after the task's own
    /// `config`).
    #[serde(default)]
    pub dense: toml::Table,
    /// Per dataset, merged last into that task's evaluation config (e.g. fewer epochs for a large set).
    #[serde(default)]
    pub datasets: BTreeMap<String, toml::Table>,
    /// Merged into the BigEarthNet evaluation config.
    #[serde(default)]
    pub bigearthnet: toml::Table,
    /// One run per seed (pre-training and evaluation); tables show mean and standard deviation.
    #[serde(default = "one_seed")]
    pub seeds: Vec<u64>,
}

fn one_seed() -> Vec<u64> {
    vec![0]
}

fn default_eurosat() -> PathBuf {
    PathBuf::from("experiments/eurosat.toml")
}

fn default_published() -> PathBuf {
    PathBuf::from("experiments/tables/published.toml")
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableConfig {
    /// File stem of the outputs.
    pub name: String,
    pub title: String,
    /// The EuroSAT dataset, split and probe protocol (its own `[scales]` must have this table's scale names).
    #[serde(default = "default_eurosat")]
    pub eurosat_config: PathBuf,
    /// Published numbers, shown in their own columns.
    #[serde(default = "default_published")]
    pub published: PathBuf,
    pub rows: Vec<TableRow>,
    pub tasks: Vec<TaskSpec>,
    pub scales: BTreeMap<String, TableScale>,
}

impl ExperimentConfig for TableConfig {
    fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Config(format!("table `{}`: {m}", self.name)));
        if self.name.is_empty() || self.name.contains(['/', '\\']) {
            return bad("name must be a plain file stem".into());
        }
        if self.rows.is_empty() || self.tasks.is_empty() || self.scales.is_empty() {
            return bad("needs at least one row, one task and one scale".into());
        }
        let mut names = std::collections::HashSet::new();
        for row in &self.rows {
            if !names.insert(&row.name) {
                return bad(format!("row name `{}` appears twice", row.name));
            }
            match (&row.method, &row.weights) {
                (Some(_), None) => {}
                (None, Some(w)) if w == "random" || w.ends_with(".safetensors") => {}
                (None, Some(w)) => {
                    return bad(format!(
                        "row `{}`: weights must be \"random\" or a .safetensors file, got `{w}`",
                        row.name
                    ))
                }
                _ => return bad(format!("row `{}`: give exactly one of `method` or `weights`", row.name)),
            }
        }
        for task in &self.tasks {
            if let Some(unknown) = task.scales.iter().find(|s| !self.scales.contains_key(*s)) {
                return bad(format!("task {}: unknown scale `{unknown}` in `scales`", task.kind.name()));
            }
            let change_keys = [&task.layout, &task.a_dir, &task.b_dir, &task.label_dir, &task.split, &task.dates];
            if task.kind != TaskKind::ChangeDetection && change_keys.iter().any(|k| k.is_some()) {
                return bad(format!(
                    "task {}: layout, a_dir, b_dir, label_dir, split and dates are for change-detection tasks",
                    task.kind.name()
                ));
            }
            if task.kind == TaskKind::ChangeDetection {
                task.change_options()
                    .map_err(|e| Error::Config(format!("table `{}`, change-detection task: {e}", self.name)))?;
            }
            let needs_dataset = matches!(task.kind, TaskKind::ChangeDetection | TaskKind::Segmentation);
            if needs_dataset != task.dataset.is_some() {
                return bad(format!(
                    "task {}: `dataset` is {} for this kind",
                    task.kind.name(),
                    if needs_dataset { "required" } else { "not used" }
                ));
            }
        }
        for (name, scale) in &self.scales {
            if scale.seeds.is_empty() {
                return bad(format!("scale `{name}`: seeds must not be empty"));
            }
            if !scale.pretrain.contains("{method}") {
                return bad(format!(
                    "scale `{name}`: pretrain must contain `{{method}}`, got `{}`",
                    scale.pretrain
                ));
            }
        }
        Ok(())
    }
}

impl TableConfig {
    pub fn scale(&self, scale: &str) -> Result<&TableScale> {
        self.scales.get(scale).ok_or_else(|| {
            Error::Config(format!(
                "unknown scale `{scale}` for table `{}`; known: {}",
                self.name,
                self.scales.keys().cloned().collect::<Vec<_>>().join(", ")
            ))
        })
    }
}

/// The metric columns a task contributes: (id, label).
pub fn metric_columns(task: &TaskSpec) -> Vec<(String, String)> {
    let dataset = task.dataset.clone().unwrap_or_default();
    match task.kind {
        TaskKind::Eurosat => vec![
            ("eurosat_probe".into(), "EuroSAT probe acc. (val)".into()),
            ("eurosat_knn20".into(), "EuroSAT kNN P@20".into()),
        ],
        TaskKind::ChangeDetection if task.finetunes() => vec![(
            format!("change_{dataset}_finetuned_f1"),
            format!("{dataset} change F1 (fine-tuned)"),
        )],
        TaskKind::ChangeDetection => vec![(format!("change_{dataset}_f1"), format!("{dataset} change F1"))],
        TaskKind::Segmentation => vec![(format!("seg_{dataset}_miou"), format!("{dataset} mIoU"))],
        TaskKind::Bigearthnet => vec![("bigearthnet_map".into(), "BigEarthNet mAP".into())],
        TaskKind::ChangeAwareness => vec![
            ("aware_era_auroc".into(), "change AUROC: era distance".into()),
            ("aware_ratio_auroc".into(), "change AUROC: d_long/d_short".into()),
            ("aware_invariance".into(), "seasonal invariance (cos margin)".into()),
        ],
    }
}

/// `base` with `overrides` merged in, tables recursively (an override value replaces a non-table value).
pub fn merge(base: &mut toml::Table, overrides: &toml::Table) {
    for (key, value) in overrides {
        match (base.get_mut(key), value) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            _ => {
                base.insert(key.clone(), value.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    const TABLE: &str = r#"
name = "t"
title = "T"
[[rows]]
name = "Random init"
weights = "random"
[[rows]]
name = "CACo"
method = "caco"
[[tasks]]
kind = "eurosat"
[[tasks]]
kind = "change-detection"
dataset = "levir-cd-samples"
[scales.smoke]
pretrain = "experiments/pretrain/{method}-r18-cpu.toml"
pretrain_overrides = { optim = { epochs = 1 } }
"#;

    fn parse(text: &str) -> Result<TableConfig> {
        TableConfig::from_toml(text, Path::new("t.toml"))
    }

    #[test]
    fn committed_tables_parse_and_validate() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments/tables");
        let mut n = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.file_name().is_some_and(|n| n == "published.toml") {
                let published = crate::results::published::Published::load(&path).unwrap();
                for v in &published.values {
                    assert!(
                        Method::ALL.iter().any(|m| m.name() == v.method),
                        "published.toml: unknown method `{}`",
                        v.method
                    );
                }
            } else if path.extension().is_some_and(|e| e == "toml") {
                let table = TableConfig::load(&path).unwrap();
                assert!(table.scales.contains_key("smoke") && table.scales.contains_key("cpu"));
                n += 1;
            }
        }
        assert!(n >= 1);
    }

    #[test]
    fn a_small_table_parses_with_defaults() {
        let t = parse(TABLE).unwrap();
        assert_eq!(t.rows[1].method, Some(Method::Caco));
        assert_eq!(t.scale("smoke").unwrap().seeds, vec![0]);
        assert_eq!(t.eurosat_config, PathBuf::from("experiments/eurosat.toml"));
        let err = t.scale("huge").unwrap_err().to_string();
        assert!(err.contains("huge") && err.contains("smoke"), "{err}");
        let cols: Vec<String> = t.tasks.iter().flat_map(metric_columns).map(|c| c.0).collect();
        assert_eq!(cols, ["eurosat_probe", "eurosat_knn20", "change_levir-cd-samples_f1"]);
    }

    #[test]
    fn tasks_can_be_limited_to_scales_and_fine_tuning_gets_its_own_column() {
        let extra = "[[tasks]]\nkind = \"change-detection\"\ndataset = \"levir-cd-samples\"\n\
                     config = { finetune = true }\nscales = [\"smoke\"]\n\n[[tasks]]\nkind = \"change-awareness\"\n\n";
        let t = parse(&TABLE.replacen("[scales.", &format!("{extra}[scales."), 1)).unwrap();
        let ft = &t.tasks[2];
        assert!(ft.finetunes() && ft.runs_at("smoke") && !ft.runs_at("cpu"));
        assert!(t.tasks[3].runs_at("cpu"));
        let cols: Vec<String> = t.tasks[2..].iter().flat_map(metric_columns).map(|c| c.0).collect();
        assert_eq!(
            cols,
            [
                "change_levir-cd-samples_finetuned_f1",
                "aware_era_auroc",
                "aware_ratio_auroc",
                "aware_invariance"
            ]
        );
        let err = parse(&TABLE.replacen("[scales.", &format!("{}[scales.", extra.replace("smoke\"]", "galaxy\"]")), 1))
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown scale `galaxy`"), "{err}");
    }

    #[test]
    fn a_change_task_takes_the_layout_split_and_dates_of_the_command_line() {
        let set = "dataset = \"levir-cd-samples\"\nlayout = \"time1-time2\"\na_dir = \"before\"\n\
                   split = \"seeded:0.6,0.2,0.2@7\"\ndates = \"imgs_1_rect\"\n";
        let t = parse(&TABLE.replace("dataset = \"levir-cd-samples\"\n", set)).unwrap();
        let change = t.tasks[1].change_options().unwrap();
        assert_eq!(change.layout.layout.as_deref(), Some("time1-time2"));
        assert_eq!(change.layout.a_dir.as_deref(), Some("before"));
        assert_eq!(
            change.split,
            SplitChoice::Seeded {
                train: 0.6,
                val: 0.2,
                test: 0.2,
                seed: 7
            }
        );
        assert_eq!(change.dates, OscdDates::Rect);
        assert_eq!(parse(TABLE).unwrap().tasks[1].change_options().unwrap(), ChangeOptions::default());
        let err = parse(&TABLE.replace("dataset = \"levir-cd-samples\"\n", "dataset = \"x\"\nsplit = \"random\"\n"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("change-detection task") && err.contains("--split `random`"), "{err}");
        let err = parse(&TABLE.replace("kind = \"eurosat\"\n", "kind = \"eurosat\"\nlayout = \"levir\"\n"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("task eurosat") && err.contains("are for change-detection tasks"), "{err}");
    }

    #[test]
    fn unknown_method_task_and_key_are_errors_naming_them() {
        let err = parse(&TABLE.replace("method = \"caco\"", "method = \"simclr\""))
            .unwrap_err()
            .to_string();
        assert!(err.contains("simclr"), "{err}");
        let err = parse(&TABLE.replace("kind = \"eurosat\"", "kind = \"imagenet\""))
            .unwrap_err()
            .to_string();
        assert!(err.contains("imagenet"), "{err}");
        let err = parse(&TABLE.replace("title = \"T\"", "title = \"T\"\ncolour = 1"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("colour"), "{err}");
        let err = parse(&TABLE.replace("weights = \"random\"", "weights = \"random\"\nmethod = \"seco\"")).unwrap_err();
        assert!(err.to_string().contains("exactly one"), "{err}");
        let err = parse(&TABLE.replace("dataset = \"levir-cd-samples\"", ""))
            .unwrap_err()
            .to_string();
        assert!(err.contains("dataset") && err.contains("required"), "{err}");
        let err = parse(&TABLE.replace("{method}-r18", "caco-r18"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("{method}"), "{err}");
    }

    #[test]
    fn merge_is_recursive_and_replaces_leaves() {
        let mut base: toml::Table = toml::from_str("a = 1\n[optim]\nlr = 0.03\nepochs = 5").unwrap();
        let over: toml::Table = toml::from_str("b = 2\n[optim]\nepochs = 1").unwrap();
        merge(&mut base, &over);
        assert_eq!(base["optim"]["epochs"].as_integer(), Some(1));
        assert_eq!(base["optim"]["lr"].as_float(), Some(0.03));
        assert_eq!((base["a"].as_integer(), base["b"].as_integer()), (Some(1), Some(2)));
    }
}
