//! The `reproduce-table` runner: for every seed and row, the backbone (random, a weights file, or pre-trained by
//! the table, cached by the hash of its resolved config and resumed when unfinished), then every task on it
//! (cached the same way), gathered into a [`PaperTable`].

use std::path::{Path, PathBuf};
use std::time::Instant;

use tch::Device;

use super::cache::{file_identity, key, WorkCache};
use super::config::{merge, metric_columns, TableConfig, TableRow, TableScale, TaskKind, TaskSpec};
use crate::config::{EurosatTableConfig, ExperimentConfig, PretrainConfig, RowConfig};
use crate::data::fake::{self, FakeEurosat, FakeTimeSeries};
use crate::data::timeseries::{Layout, RGB_BANDS};
use crate::data::{aerial_seg, bigearthnet, change, dynamic_earthnet};
use crate::eval::awareness::{self, Awareness, AwarenessConfig};
use crate::eval::bigearthnet::BigEarthNetConfig;
use crate::eval::dense::{BenchmarkOptions, DenseConfig};
use crate::eval::eurosat::{self, RunContext};
use crate::eval::tasks::{self, TaskData};
use crate::models::Arch;
use crate::results::dense::{DenseResult, DenseRow, DenseTable};
use crate::results::eurosat::EurosatRow;
use crate::results::paper::{
    AwarenessDistribution, CacoEpoch, Cell, FractionPoint, GmmParams, LossCurve, MetricColumn, PaperTable, PublishedValue, Retrieval,
    RetrievalQuery,
};
use crate::ssl::Method;
use crate::train::log::MetricLog;
use crate::train::{pretrain, PretrainOptions};
use crate::{Error, Result};

/// Where a run reads, caches and writes.
#[derive(Debug, Clone)]
pub struct ReproduceContext {
    pub data_root: PathBuf,
    /// Feature cache, generated data (`generated/`) and cached results (`reproduce/`).
    pub cache_dir: PathBuf,
    /// Pre-training runs, one folder per resolved config.
    pub runs_dir: PathBuf,
    /// `tables/` and `figures/`.
    pub out_dir: PathBuf,
    pub device: Device,
    pub quiet: bool,
    /// Redo every unit of work.
    pub force: bool,
}

/// Most points kept of a loss curve (evenly spaced steps), so stored metrics stay small.
const MAX_CURVE_POINTS: usize = 400;

/// A backbone of one row and seed.
struct Backbone {
    /// `"random"` or a `.safetensors` path.
    weights: String,
    /// What determines its weights (for cache keys).
    identity: String,
    arch: Arch,
}

/// Runs `config` at `scale`.
pub fn reproduce(config: &TableConfig, scale_name: &str, ctx: &ReproduceContext) -> Result<PaperTable> {
    let start = Instant::now();
    let scale = config.scale(scale_name)?;
    let cache = WorkCache::new(ctx.cache_dir.join("reproduce"), ctx.force);
    let mut data = TaskData {
        data_root: ctx.data_root.clone(),
        ..Default::default()
    };
    let mut generated: Option<PathBuf> = None;
    if scale.generated_data {
        let root = ctx
            .cache_dir
            .join("generated")
            .join(format!("{}-{scale_name}", config.name));
        generate_data(&root, config)?;
        data.data_root = root.clone();
        data.seasons_dir = root.join("timeseries");
        data.derived_dir = root.join("derived");
        data.export_seasons = false;
        generated = Some(root);
    }
    let published = crate::results::published::Published::load(&config.published)?;
    let mut table = PaperTable {
        name: config.name.clone(),
        title: config.title.clone(),
        scale: scale_name.to_string(),
        rows: config.rows.iter().map(|r| r.name.clone()).collect(),
        ..Default::default()
    };
    for task in config.tasks.iter().filter(|t| t.runs_at(scale_name)) {
        for (id, label) in metric_columns(task) {
            table.metrics.push(MetricColumn {
                id,
                label,
                task: format!("{:?}", task.kind),
                dataset: task
                    .dataset
                    .clone()
                    .unwrap_or_else(|| task_default_dataset(task.kind).into()),
            });
        }
    }
    for row in &config.rows {
        if let Some(method) = row.method {
            for entry in published.values.iter().filter(|p| p.method == method.name()) {
                if table.metrics.iter().any(|m| m.id == entry.metric) {
                    table.published.push(PublishedValue {
                        row: row.name.clone(),
                        metric: entry.metric.clone(),
                        value: entry.value,
                        source: entry.source.clone(),
                    });
                }
            }
        }
    }
    if !scale.description.is_empty() {
        table.notes.push(format!("Scale `{scale_name}`: {}", scale.description));
    }
    let mut skipped = std::collections::BTreeSet::new();
    for &seed in &scale.seeds {
        for row in &config.rows {
            let backbone = backbone_of(row, scale, seed, generated.as_deref(), ctx, &mut table)?;
            let label = if scale.seeds.len() > 1 {
                format!("{} (seed {seed})", row.name)
            } else {
                row.name.clone()
            };
            for task in config.tasks.iter().filter(|t| t.runs_at(scale_name)) {
                if task.optional && !task_data_present(task, &data) {
                    skipped.insert(format!(
                        "{:?} skipped: no data in {}",
                        task.kind,
                        data.data_root.join(task_default_dataset(task.kind)).display()
                    ));
                    continue;
                }
                let ctx_task = TaskRun {
                    row,
                    label: &label,
                    seed,
                    backbone: &backbone,
                    scale,
                    scale_name,
                    ctx,
                    cache: &cache,
                    generated: generated.as_deref(),
                };
                run_task(task, config, &ctx_task, &data, &mut table)?;
            }
        }
    }
    table.notes.extend(skipped);
    if !table.awareness.is_empty() {
        table.notes.push(
            "Change awareness (eval/awareness.rs; frozen backbones, nothing trained): held-out simulated locations \
             built like eurosat-seasons from EuroSAT TEST tiles only (derived/eurosat-seasons-heldout, own truth.csv). \
             Per location, d_long = mean embedding distance between the dates of different eras, d_short = within \
             an era; AUROC of d_long and of d_long / d_short against the truth; seasonal invariance = mean cosine of \
             a location's dates within an era minus that to another location's dates (x 100)."
                .into(),
        );
    }
    let (hits, misses) = cache.counts();
    if !ctx.quiet {
        eprintln!("reproduce-table: {hits} results from the cache, {misses} computed");
    }
    table.wall_seconds = start.elapsed().as_secs_f64();
    Ok(table)
}

fn task_default_dataset(kind: TaskKind) -> &'static str {
    match kind {
        TaskKind::Eurosat => "eurosat-rgb",
        TaskKind::Bigearthnet => bigearthnet::DATASET_DIR,
        TaskKind::ChangeDetection => "levir-cd-samples",
        TaskKind::Segmentation => aerial_seg::DATASET_DIR,
        TaskKind::ChangeAwareness => "eurosat-rgb",
    }
}

fn task_data_present(task: &TaskSpec, data: &TaskData) -> bool {
    let dataset = task.dataset.as_deref().unwrap_or(task_default_dataset(task.kind));
    data.data_root.join(dataset).is_dir()
}

/// Writes small fake datasets in the real layouts under `root` (once; `root/.complete` marks it).
pub fn generate_data(root: &Path, config: &TableConfig) -> Result<()> {
    let marker = root.join(".complete");
    if marker.is_file() {
        return Ok(());
    }
    // 60 per class: the smoke scale keeps 20 train per class, kNN needs more than 100 val images.
    fake::write_eurosat_rgb(&root.join("eurosat-rgb"), &FakeEurosat::with_eurosat_classes(60, 11))?;
    let series = FakeTimeSeries {
        layout: Layout::Caco,
        n_locations: 16,
        dates_per_era: 5,
        bands: RGB_BANDS.iter().map(|b| b.to_string()).collect(),
        size: 32,
        seed: 3,
    };
    fake::write_timeseries(&root.join("timeseries"), &series)?;
    for task in &config.tasks {
        let Some(dataset) = &task.dataset else { continue };
        match task.kind {
            #[cfg(feature = "gdal")]
            TaskKind::ChangeDetection if dataset.contains("oscd") => {
                // The release layout with its quirks, 4 labelled cities (a seeded 2 / 2 split) and 1 without.
                let cities = ["abudhabi", "beirut", "cupertino", "paris", "rennes"];
                crate::data::oscd::write_fake_release(&root.join(dataset), &cities, 3, 48, 1)?;
            }
            TaskKind::ChangeDetection => {
                // CLCD-like names get CLCD's layout: time1/ time2/ and only train and val lists.
                let clcd = dataset.contains("clcd");
                let spec = change::FakeChange {
                    layout: if clcd {
                        change::ChangeLayout::time1_time2()
                    } else {
                        Default::default()
                    },
                    n_pairs: if clcd { [3, 2, 0] } else { [3, 1, 2] },
                    height: 48,
                    width: 48,
                    seed: 5,
                };
                change::write_fake(&root.join(dataset), &spec)?;
            }
            TaskKind::Segmentation => {
                let spec = aerial_seg::FakeAerial {
                    n_big_tiles: 4,
                    n_per_tile: 1,
                    sizes: vec![(40, 44)],
                    seed: 1,
                };
                aerial_seg::write_fake(&root.join(dataset), &spec)?;
            }
            _ => {}
        }
    }
    #[cfg(feature = "gdal")]
    bigearthnet::write_fake(&root.join(bigearthnet::DATASET_DIR), [8, 0, 4], 7)?;
    std::fs::write(&marker, "generated by caco reproduce-table\n").map_err(|e| Error::io(&marker, e))
}

/// The backbone of `row` for `seed`: pre-trained (cached, resumed) for a method row.
fn backbone_of(
    row: &TableRow,
    scale: &TableScale,
    seed: u64,
    generated: Option<&Path>,
    ctx: &ReproduceContext,
    table: &mut PaperTable,
) -> Result<Backbone> {
    match (&row.method, &row.weights) {
        (Some(method), _) => pretrain_row(row, *method, scale, seed, generated, ctx, table),
        (None, Some(w)) if w == "random" => Ok(Backbone {
            weights: "random".into(),
            identity: format!("random:{seed}"),
            arch: Arch::Resnet18,
        }),
        (None, Some(w)) => Ok(Backbone {
            weights: w.clone(),
            identity: file_identity(Path::new(w))?,
            arch: Arch::Resnet18,
        }),
        (None, None) => Err(Error::Config(format!(
            "row `{}` has neither method nor weights",
            row.name
        ))),
    }
}

/// The resolved pre-training config of a method row: the scale's config of the method, its overrides, the seed,
/// and the generated series when the scale runs on generated data.
pub fn pretrain_config(
    method: Method,
    scale: &TableScale,
    seed: u64,
    generated: Option<&Path>,
) -> Result<PretrainConfig> {
    let name = format!("{method:?}").to_lowercase();
    let path = PathBuf::from(scale.pretrain.replace("{method}", &name));
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
    let mut t: toml::Table = toml::from_str(&text).map_err(|e| Error::Config(format!("{}: {e}", path.display())))?;
    merge(&mut t, &scale.pretrain_overrides);
    let mut forced = toml::Table::new();
    let base_name = t.get("name").and_then(|v| v.as_str()).unwrap_or(&name).to_string();
    forced.insert("name".into(), format!("{base_name}-s{seed}").into());
    let mut run = toml::Table::new();
    run.insert("seed".into(), (seed as i64).into());
    forced.insert("run".into(), run.into());
    if let Some(root) = generated {
        let mut data = toml::Table::new();
        data.insert("root".into(), root.join("timeseries").display().to_string().into());
        forced.insert("data".into(), data.into());
    }
    merge(&mut t, &forced);
    let text = toml::to_string(&t).map_err(|e| Error::Config(format!("{}: {e}", path.display())))?;
    PretrainConfig::from_toml(&text, &path)
}

fn pretrain_row(
    row: &TableRow,
    method: Method,
    scale: &TableScale,
    seed: u64,
    generated: Option<&Path>,
    ctx: &ReproduceContext,
    table: &mut PaperTable,
) -> Result<Backbone> {
    let config = pretrain_config(method, scale, seed, generated)?;
    let identity = key(&config.name, &config.to_toml());
    let run_dir = ctx.runs_dir.join(&identity);
    let done = run_dir.join("done.toml");
    if ctx.force && run_dir.exists() {
        std::fs::remove_dir_all(&run_dir).map_err(|e| Error::io(&run_dir, e))?;
    }
    if done.is_file() {
        if !ctx.quiet {
            eprintln!("{}: pre-trained already ({})", row.name, run_dir.display());
        }
    } else {
        let resume = run_dir.join("checkpoint").is_dir();
        if !ctx.quiet {
            eprintln!(
                "{}: {} {}",
                row.name,
                if resume { "resuming" } else { "pre-training" },
                run_dir.display()
            );
        }
        let options = PretrainOptions {
            resume,
            max_steps: None,
            quiet: ctx.quiet,
        };
        let summary = pretrain(&config, &run_dir, &options)?;
        if summary.stopped_early {
            return Err(Error::Config(format!(
                "pre-training of `{}` stopped early; run the same command again to resume it",
                row.name
            )));
        }
        let text = format!(
            "steps = {}\nepochs = {}\nimages_per_s = {}\n",
            summary.steps, summary.epochs_done, summary.images_per_s
        );
        std::fs::write(&done, text).map_err(|e| Error::io(&done, e))?;
    }
    collect_pretrain_figures(row, &config, seed, &run_dir, table)?;
    Ok(Backbone {
        weights: run_dir.join("backbone.safetensors").display().to_string(),
        identity,
        arch: config.model.arch,
    })
}

fn round4(v: f64) -> f64 {
    if v.is_finite() {
        let scale = 10f64.powi(4 - v.abs().max(1e-12).log10().ceil() as i32);
        (v * scale).round() / scale
    } else {
        v
    }
}

/// Loss curve and, for CACo, the per-epoch change estimate (with the series' truth when it has one).
fn collect_pretrain_figures(
    row: &TableRow,
    config: &PretrainConfig,
    seed: u64,
    run_dir: &Path,
    table: &mut PaperTable,
) -> Result<()> {
    let log = MetricLog::read_parquet(&run_dir.join("metrics.parquet"), config.method.loss_names(), u64::MAX)?;
    let every = log.records.len().div_ceil(MAX_CURVE_POINTS).max(1);
    let kept: Vec<_> = log.records.iter().step_by(every).collect();
    table.loss_curves.push(LossCurve {
        row: row.name.clone(),
        seed,
        steps: kept.iter().map(|r| r.step).collect(),
        loss: kept.iter().map(|r| round4(r.loss)).collect(),
    });
    if config.method != Method::Caco {
        return Ok(());
    }
    let truth_path = config.data.root.join("truth.csv");
    let truth = if truth_path.is_file() {
        Some(crate::data::seasons::read_truth(&truth_path)?)
    } else {
        None
    };
    let dir = run_dir.join("caco");
    let mut epoch = 0;
    loop {
        let stem = dir.join(format!("caco_epoch_{epoch:04}"));
        let csv = stem.with_extension("csv");
        if !csv.is_file() {
            break;
        }
        let (ratio, label) = crate::ssl::caco::read_export(&csv)?;
        let export_path = stem.with_extension("toml");
        let export: crate::ssl::caco::EpochExport =
            toml::from_str(&std::fs::read_to_string(&export_path).map_err(|e| Error::io(&export_path, e))?)
                .map_err(|e| Error::bad_input(&export_path, e.to_string()))?;
        let seen: Vec<usize> = (0..ratio.len()).filter(|&i| label[i] >= 0).collect();
        table.caco_epochs.push(CacoEpoch {
            row: row.name.clone(),
            seed,
            epoch,
            ratios: seen.iter().map(|&i| round4(ratio[i])).collect(),
            truly_changed: match &truth {
                Some(t) if t.len() * 2 == ratio.len() => seen.iter().map(|&i| t[i / 2].changed).collect(),
                _ => vec![],
            },
            gmm: export.gmm.map(|g| GmmParams {
                weights: g.weights,
                means: g.means,
                variances: g.variances,
            }),
        });
        epoch += 1;
    }
    Ok(())
}

/// One row x seed x task.
struct TaskRun<'a> {
    row: &'a TableRow,
    label: &'a str,
    seed: u64,
    backbone: &'a Backbone,
    scale: &'a TableScale,
    scale_name: &'a str,
    ctx: &'a ReproduceContext,
    cache: &'a WorkCache,
    generated: Option<&'a Path>,
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

fn run_task(
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
        .map_err(|e| Error::Config(format!("task {:?} on {dataset}: {e}", task.kind)))?;
    config.weights = run.backbone.weights.clone();
    config.arch = run.backbone.arch;
    config.init_seed = run.seed;
    config.seed += run.seed;
    let mut data = data.clone();
    if let Some(root) = run.generated {
        data.split_dir = Some(root.join("splits").join(&dataset));
    }
    let description = format!(
        "{:?}|{dataset}|{config:?}|{}|{}",
        task.kind,
        run.backbone.identity,
        data.data_root.display()
    );
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
