//! Evaluating one row x seed x task inside `reproduce-table`: the EuroSAT probe and kNN, the dense tasks, change
//! awareness and BigEarthNet, each cached by the hash of its resolved config and turned into table cells.

use std::path::Path;


use super::cache::{key, WorkCache};
use super::config::{merge, metric_columns, TableConfig, TableRow, TableScale, TaskKind, TaskSpec};
use crate::config::ExperimentConfig;
use crate::eval::eurosat_config::{EurosatTableConfig, RowConfig};
use crate::data::{aerial_seg, bigearthnet, dynamic_earthnet};
use crate::eval::awareness::{self, Awareness, AwarenessConfig};
use crate::eval::bigearthnet::BigEarthNetConfig;
use crate::eval::dense::{BenchmarkOptions, DenseConfig};
use crate::eval::eurosat::{self, RunContext};
use crate::eval::tasks::{self, TaskData};
use crate::results::dense::{DenseResult, DenseRow, DenseTable};
use crate::results::eurosat::EurosatRow;
use crate::results::paper::{
    AwarenessDistribution, Cell, FractionPoint, PaperTable, Retrieval,
    RetrievalQuery,
};
use crate::{Error, Result};

use super::pretrain_rows::round4;
use super::run::{Backbone, ReproduceContext};

/// One row x seed x task.
pub(super) struct TaskRun<'a> {
    pub(super) row: &'a TableRow,
    pub(super) label: &'a str,
    pub(super) seed: u64,
    pub(super) backbone: &'a Backbone,
    pub(super) scale: &'a TableScale,
    pub(super) scale_name: &'a str,
    pub(super) ctx: &'a ReproduceContext,
    pub(super) cache: &'a WorkCache,
    pub(super) generated: Option<&'a Path>,
}

/// One cell in percent; `ci` a bootstrap interval of the same metric as a fraction (scaled here).
fn cell(table: &mut PaperTable, run: &TaskRun, metric: String, value: f64, ci: Option<[f64; 2]>) {
    table.cells.push(Cell {
        row: run.row.name.clone(),
        metric,
        seed: run.seed,
        value,
        ci: ci.map(|[lo, hi]| [100.0 * lo, 100.0 * hi]),
    });
}

pub(super) fn run_task(
    task: &TaskSpec,
    config: &TableConfig,
    run: &TaskRun,
    data: &TaskData,
    table: &mut PaperTable,
) -> Result<()> {
    let metrics = metric_columns(task);
    match task.kind {
        TaskKind::Eurosat => {
            let row = eurosat_row(config, run, data, table)?;
            // The authors' metric: accuracy on val (the EuroSAT table reports test beside it).
            cell(table, run, metrics[0].0.clone(), 100.0 * row.val_accuracy, row.val_accuracy_ci);
            let p20 = row
                .knn
                .iter()
                .find(|a| a.k == 20)
                .map_or(f64::NAN, |a| 100.0 * a.precision);
            let p20_ci = row.knn.iter().find(|a| a.k == 20).and_then(|a| a.precision_ci);
            cell(table, run, metrics[1].0.clone(), p20, p20_ci);
            for &(fraction, accuracy) in row.fraction_accuracy.iter().chain([(1.0, row.test.accuracy)].iter()) {
                table.label_fractions.push(FractionPoint {
                    row: run.row.name.clone(),
                    metric: metrics[0].0.clone(),
                    fraction,
                    seed: run.seed,
                    value: 100.0 * accuracy,
                });
            }
            if !table.retrieval.iter().any(|r| r.row == run.row.name) {
                let class_of = |p: &str| p.split('/').next().unwrap_or_default().to_string();
                table.retrieval.push(Retrieval {
                    row: run.row.name.clone(),
                    queries: row
                        .retrieval_examples
                        .iter()
                        .map(|(q, near)| RetrievalQuery {
                            image: q.clone(),
                            class: class_of(q),
                            neighbours: near.iter().map(|n| (n.clone(), class_of(n))).collect(),
                        })
                        .collect(),
                });
            }
        }
        TaskKind::ChangeDetection | TaskKind::Segmentation => {
            let row = dense_row(task, run, data)?;
            let value = match &row.result {
                DenseResult::Change { scores, .. } => scores.f1,
                DenseResult::Segmentation { scores, .. } => scores.mean_iou,
                _ => f64::NAN,
            };
            cell(table, run, metrics[0].0.clone(), 100.0 * value, row.result.bootstrap_ci(run.seed));
        }
        TaskKind::ChangeAwareness => {
            let a = awareness_row(task, config, run, data)?;
            cell(table, run, metrics[0].0.clone(), 100.0 * a.era_auroc, a.era_auroc_ci);
            cell(table, run, metrics[1].0.clone(), 100.0 * a.ratio_auroc, a.ratio_auroc_ci);
            cell(table, run, metrics[2].0.clone(), 100.0 * a.invariance, a.invariance_ci);
            table.awareness.push(AwarenessDistribution {
                row: run.row.name.clone(),
                seed: run.seed,
                d_long: a.d_long.iter().map(|&d| round4(d)).collect(),
                truly_changed: a.changed.clone(),
            });
        }
        TaskKind::Bigearthnet => {
            let row = bigearthnet_row(task, run, data)?;
            if let DenseResult::MultiLabel { micro_ap, .. } = row.result {
                cell(table, run, metrics[0].0.clone(), 100.0 * micro_ap, None);
            }
        }
    }
    Ok(())
}

fn eurosat_row(config: &TableConfig, run: &TaskRun, data: &TaskData, table: &mut PaperTable) -> Result<EurosatRow> {
    let mut es = EurosatTableConfig::load(&config.eurosat_config)?;
    if let Some(root) = run.generated {
        es.dataset.split_dir = root.join("splits").join("eurosat-rgb");
    }
    es.rows = vec![RowConfig {
        name: run.label.to_string(),
        arch: run.backbone.arch,
        weights: run.backbone.weights.clone(),
        init_seed: run.seed,
    }];
    es.probe.seed += run.seed;
    es.knn.seed += run.seed;
    let (resolved, preset) = es.with_scale(run.scale_name)?;
    if table.samples.is_empty() {
        let (dataset, splits) = eurosat::open_dataset(&resolved, preset.max_per_class, &data.data_root)?;
        let mut per_class = std::collections::HashMap::new();
        for &i in &splits.test {
            let sample = &dataset.samples[i];
            let n = per_class.entry(sample.class_idx).or_insert(0usize);
            if *n < 2 {
                *n += 1;
                table
                    .samples
                    .push((sample.rel_path.clone(), dataset.classes[sample.class_idx].clone()));
            }
        }
        table.samples.sort();
        table.eurosat_root = dataset.root.display().to_string();
    }
    let description = format!(
        "{}|{}|{}",
        resolved.to_toml(),
        run.backbone.identity,
        data.data_root.display()
    );
    run.cache.get_or(&key("eurosat", &description), || {
        let ctx = RunContext {
            data_root: data.data_root.clone(),
            cache_dir: run.ctx.cache_dir.clone(),
            device: run.ctx.device,
            quiet: run.ctx.quiet,
        };
        let result = eurosat::run(&es, run.scale_name, &ctx)?;
        result
            .rows
            .into_iter()
            .next()
            .ok_or_else(|| Error::Config("EuroSAT run returned no row".into()))
    })
}

fn dense_row(task: &TaskSpec, run: &TaskRun, data: &TaskData) -> Result<DenseRow> {
    let dataset = task.dataset.clone().unwrap_or_default();
    let mut t = toml::Table::try_from(DenseConfig::default()).map_err(|e| Error::Config(e.to_string()))?;
    if task.kind == TaskKind::ChangeDetection {
        t.insert("tile_size".into(), (tasks::change_tile_size(&dataset, &data.data_root) as i64).into());
    }
    merge(&mut t, &task.config);
    merge(&mut t, &run.scale.dense);
    if let Some(o) = run.scale.datasets.get(&dataset) {
        merge(&mut t, o);
    }
    let mut config: DenseConfig = toml::Value::Table(t)
        .try_into()
        .map_err(|e| Error::Config(format!("task {} on {dataset}: {e}", task.kind.name())))?;
    config.weights = run.backbone.weights.clone();
    config.arch = run.backbone.arch;
    config.init_seed = run.seed;
    config.seed += run.seed;
    // The backbone's recorded normalisation (its contract) unless the task, the scale or the dataset sets one.
    let set_here = |t: &toml::Table| t.contains_key("normalization");
    let explicit = set_here(&task.config)
        || set_here(&run.scale.dense)
        || run.scale.datasets.get(&dataset).is_some_and(set_here);
    if !explicit {
        if let (Some(line), false) = (config.adopt_contract_normalization()?, run.ctx.quiet) {
            eprintln!("{} on {dataset}, row {}: {line}", task.kind.name(), run.label);
        }
    }
    let mut data = data.clone();
    if task.kind == TaskKind::ChangeDetection {
        data.change = task.change_options()?;
    }
    if let Some(root) = run.generated {
        data.split_dir = Some(root.join("splits").join(&dataset));
    }
    let mut description = format!(
        "{:?}|{dataset}|{config:?}|{}|{}",
        task.kind,
        run.backbone.identity,
        data.data_root.display()
    );
    if data.change != tasks::ChangeOptions::default() {
        description.push_str(&format!("|{:?}", data.change));
    }
    run.cache
        .get_or(&key(&format!("{:?}", task.kind).to_lowercase(), &description), || {
            let options = BenchmarkOptions {
                device: run.ctx.device,
                quiet: run.ctx.quiet,
                overlay_dir: Some(run.ctx.out_dir.join("figures")),
                n_overlays: 1, // one change map per row and task: committed results stay small
                overlay_max_side: 384,
            };
            let (template, mut row) = match task.kind {
                TaskKind::ChangeDetection => tasks::change_detection(&dataset, &data, &config, &options)?,
                _ if dataset == aerial_seg::DATASET_DIR => tasks::segmentation_aerial(&data, &config, &options)?,
                _ if dataset == dynamic_earthnet::DATASET_DIR => {
                    let den = dynamic_earthnet::DenOptions::default();
                    let config = DenseConfig {
                        normalization: den.normalization(),
                        ..config.clone()
                    };
                    tasks::segmentation_dynamic_earthnet(&data, &den, &config, &options)?
                }
                _ => {
                    return Err(Error::Config(format!(
                        "segmentation on `{dataset}`: tables support {} and {}",
                        aerial_seg::DATASET_DIR,
                        dynamic_earthnet::DATASET_DIR
                    )))
                }
            };
            row.init = run.label.to_string();
            write_task_row(template, &row, &run.ctx.out_dir)?;
            Ok(row)
        })
}

/// The change-awareness scores of the row's backbone on the held-out series (built from the EuroSAT test split of
/// the table's EuroSAT config on first use).
fn awareness_row(task: &TaskSpec, config: &TableConfig, run: &TaskRun, data: &TaskData) -> Result<Awareness> {
    let mut t = toml::Table::try_from(AwarenessConfig::default()).map_err(|e| Error::Config(e.to_string()))?;
    merge(&mut t, &task.config);
    let aware: AwarenessConfig = toml::Value::Table(t)
        .try_into()
        .map_err(|e| Error::Config(format!("task change-awareness: {e}")))?;
    let mut es = EurosatTableConfig::load(&config.eurosat_config)?;
    if let Some(root) = run.generated {
        es.dataset.split_dir = root.join("splits").join("eurosat-rgb");
    }
    let (resolved, preset) = es.with_scale(run.scale_name)?;
    let (dataset, splits) = eurosat::open_dataset(&resolved, preset.max_per_class, &data.data_root)?;
    let heldout = data.derived_dir.join(awareness::HELDOUT_DIR);
    awareness::build_heldout(&dataset, &splits.test, &heldout, &aware, run.ctx.quiet)?;
    let description = format!(
        "{aware:?}|{:?}|{}|{}",
        aware.seasons(splits.test.len()),
        run.backbone.identity,
        data.data_root.display()
    );
    run.cache.get_or(&key("awareness", &description), || {
        let row = RowConfig {
            name: run.label.to_string(),
            arch: run.backbone.arch,
            weights: run.backbone.weights.clone(),
            init_seed: run.seed,
        };
        let (_vs, net) = eurosat::build_backbone(&row, 3, run.ctx.device)?;
        let (features, changed, dates_per_era) =
            awareness::series_features(&net, &heldout, aware.batch_size, run.ctx.device, run.ctx.quiet)?;
        awareness::scores(&features, &changed, dates_per_era, run.seed)
    })
}

fn bigearthnet_row(task: &TaskSpec, run: &TaskRun, data: &TaskData) -> Result<DenseRow> {
    let mut t = toml::Table::try_from(BigEarthNetConfig::default()).map_err(|e| Error::Config(e.to_string()))?;
    merge(&mut t, &task.config);
    merge(&mut t, &run.scale.bigearthnet);
    let mut config: BigEarthNetConfig = toml::Value::Table(t)
        .try_into()
        .map_err(|e| Error::Config(format!("task bigearthnet: {e}")))?;
    config.weights = run.backbone.weights.clone();
    config.arch = run.backbone.arch;
    config.init_seed = run.seed;
    config.seed += run.seed;
    let root = data.data_root.join(bigearthnet::DATASET_DIR);
    let description = format!("{config:?}|{}|{}", run.backbone.identity, root.display());
    run.cache.get_or(&key("bigearthnet", &description), || {
        let mut row = crate::eval::bigearthnet::benchmark(&root, &config, run.ctx.device, run.ctx.quiet)?;
        row.init = run.label.to_string();
        let template = DenseTable {
            name: bigearthnet::DATASET_DIR.into(),
            title: "BigEarthNet (19 classes, RGB): multi-label linear probe".into(),
            task: crate::results::dense::DenseTask::MultiLabel,
            dataset: root.display().to_string(),
            classes: bigearthnet::LABELS_19.iter().map(|s| s.to_string()).collect(),
            notes: vec![],
            rows: vec![],
        };
        write_task_row(template, &row, &run.ctx.out_dir)?;
        Ok(row)
    })
}

/// Adds the row to the task's own table under `out_dir` (its CSV, Markdown, loss figure).
fn write_task_row(template: DenseTable, row: &DenseRow, out_dir: &Path) -> Result<()> {
    let mut table = DenseTable::load_or_new(out_dir, template)?;
    table.upsert(row.clone());
    crate::report::dense::write(&table, out_dir)?;
    Ok(())
}
