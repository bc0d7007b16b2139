//! The `reproduce-table` runner: for every seed and row, the backbone (random, a weights file, or pre-trained by
//! the table, cached by the hash of its resolved config and resumed when unfinished), then every task on it
//! (cached the same way), gathered into a [`PaperTable`].

use std::path::{Path, PathBuf};
use std::time::Instant;

use tch::Device;

use super::cache::{file_identity, WorkCache};
use super::config::{metric_columns, TableConfig, TableRow, TableScale, TaskKind, TaskSpec};
use crate::data::fake::{self, FakeEurosat, FakeTimeSeries};
use crate::data::timeseries::{Layout, RGB_BANDS};
use crate::data::{aerial_seg, bigearthnet, change};
use crate::eval::tasks::TaskData;
use crate::config::ExperimentConfig;
use crate::models::Arch;
use crate::results::paper::{
    MetricColumn, PaperTable, PublishedValue,
};
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
    /// Leave out the tasks whose data are absent (cells "n/a (data absent)", with a note) instead of failing; an
    /// `optional` task is always left out so.
    pub skip_missing: bool,
}


/// A backbone of one row and seed.
pub(super) struct Backbone {
    /// `"random"` or a `.safetensors` path.
    pub(super) weights: String,
    /// What determines its weights (for cache keys).
    pub(super) identity: String,
    pub(super) arch: Arch,
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
    if generated.is_none() {
        for row in &config.rows {
            if let Some(method) = row.method {
                let root = super::pretrain_rows::pretrain_config(method, scale, 0, None)?.data.root;
                super::datasets::build_simulated_series(&root, config, &ctx.data_root, ctx.quiet)?;
            }
        }
    }
    let eurosat_dir = crate::eval::eurosat_config::EurosatTableConfig::load(&config.eurosat_config)?
        .dataset
        .dir
        .display()
        .to_string();
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
                if (task.optional || ctx.skip_missing) && !task_data_present(task, &data, &eurosat_dir) {
                    let dataset = super::datasets::task_dataset(task, &eurosat_dir);
                    skipped.insert(format!(
                        "{} on {dataset} skipped, n/a (data absent): no data in {}",
                        task.kind.name(),
                        data.data_root.join(&dataset).display()
                    ));
                    for (id, _) in metric_columns(task) {
                        if !table.absent.contains(&id) {
                            table.absent.push(id);
                        }
                    }
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

/// Whether a task's data are there: its folder under the data root; for the simulated change pairs, their export,
/// the simulated series or EuroSAT they are built from.
fn task_data_present(task: &TaskSpec, data: &TaskData, eurosat_dir: &str) -> bool {
    let dataset = super::datasets::task_dataset(task, eurosat_dir);
    if dataset == crate::eval::tasks::SEASONS_CHANGE {
        return data.derived_dir.join(&dataset).is_dir()
            || data.seasons_dir.is_dir()
            || data.data_root.join(eurosat_dir).is_dir();
    }
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
                crate::data::fake::oscd::write_fake_release(&root.join(dataset), &cities, 3, 48, 1)?;
            }
            TaskKind::ChangeDetection => {
                // CLCD-like names get CLCD's layout: time1/ time2/ and only train and val lists.
                let clcd = dataset.contains("clcd");
                let spec = crate::data::fake::change::FakeChange {
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
                crate::data::fake::change::write_fake(&root.join(dataset), &spec)?;
            }
            TaskKind::Segmentation => {
                let spec = crate::data::fake::aerial_seg::FakeAerial {
                    n_big_tiles: 4,
                    n_per_tile: 1,
                    sizes: vec![(40, 44)],
                    seed: 1,
                };
                crate::data::fake::aerial_seg::write_fake(&root.join(dataset), &spec)?;
            }
            _ => {}
        }
    }
    #[cfg(feature = "gdal")]
    crate::data::fake::bigearthnet::write_fake(&root.join(bigearthnet::DATASET_DIR), [8, 0, 4], 7)?;
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

use super::pretrain_rows::pretrain_row;
use super::task_rows::{run_task, TaskRun};

