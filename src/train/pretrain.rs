//! The pre-training loop shared by MoCo-v2, SeCo, TeCo, CACo and GASSL: the method supplies its views, loss and
//! state ([`SslModel`]); this file only loads batches, steps the optimiser, logs, checkpoints and resumes.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use tch::{Device, Tensor};

use super::checkpoint::{self, Position};
use super::data_parallel;
use super::log::{MetricLog, StepRecord};
use super::sgd::Sgd;
use crate::config::{ExperimentConfig, PretrainConfig};
use crate::data::loader::{for_each_batch, LoaderConfig};
use crate::data::timeseries::TimeSeries;
use crate::data::views::{
    paired_batches, shuffled_batches, DateDraw, ItemViews, PositiveDate, SamplingUnit, SeasonalViews, TemporalViews,
    Units,
};
use crate::progress::Progress;
use crate::ssl::kmeans::kmeans;
use crate::ssl::model::{step_seed, ModelConfig, StepInput};
use crate::ssl::{Method, SslModel};
use crate::{Error, Result};

/// Set by Ctrl-C; the loop checkpoints and stops at the next step.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Installs the Ctrl-C handler (once per process).
pub fn install_interrupt_handler() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = ctrlc::set_handler(|| INTERRUPTED.store(true, Ordering::SeqCst));
    });
}

#[derive(Debug, Clone, Default)]
pub struct PretrainOptions {
    /// Continue from `<run>/checkpoint`.
    pub resume: bool,
    /// Stop (with a checkpoint) once this many steps are done in total.
    pub max_steps: Option<u64>,
    pub quiet: bool,
}

#[derive(Debug, Clone)]
pub struct PretrainSummary {
    pub run_dir: PathBuf,
    pub steps: u64,
    pub epochs_done: usize,
    pub stopped_early: bool,
    /// Median queries per second over the logged steps.
    pub images_per_s: f64,
    /// `<run>/backbone.safetensors` (torchvision names), usable as `weights` of a table row.
    pub backbone: PathBuf,
    /// Per step of this call, in order: (batch items, seconds waiting for the loader, seconds of the step itself).
    /// The two durations add up to the wall time between the ends of consecutive steps (benchmarks, profiling).
    pub step_times: Vec<StepTime>,
}

/// Wall time of one step, split into waiting for the batch and the step (transfer, forward, backward, update, log).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepTime {
    pub n_items: usize,
    pub data_wait_s: f64,
    pub step_s: f64,
}

pub fn parse_device(name: &str) -> Result<Device> {
    match name {
        "auto" => Ok(Device::cuda_if_available()),
        "cpu" => Ok(Device::Cpu),
        "cuda" if tch::Cuda::is_available() => Ok(Device::Cuda(0)),
        "cuda" => Err(Error::Config(
            "device `cuda`: libtorch sees no CUDA device (built without the `cuda` feature?)".into(),
        )),
        other => Err(Error::Config(format!(
            "`run.device` must be auto, cpu or cuda, got `{other}`"
        ))),
    }
}

/// GASSL's cluster id per sampling unit: k-means of the units' locations' (lat, lon).
fn geo_clusters(units: &Units, k: usize, seed: u64) -> Result<Vec<i64>> {
    let series = units.series;
    let points: Vec<[f64; 2]> = (0..units.len())
        .map(|i| &series.locations[units.location_idx(i)])
        .map(|loc| [loc.lat, loc.lon])
        .collect();
    if points.iter().any(|p| !p[0].is_finite() || !p[1].is_finite()) {
        return Err(Error::Config(format!(
            "GASSL needs coordinates: some locations of {} have no metadata.json with lon/lat",
            series.root.display()
        )));
    }
    Ok(kmeans(&points, k, 100, seed)
        .assignment
        .into_iter()
        .map(|a| a as i64)
        .collect())
}

/// Runs (or resumes) a pre-training run in `run_dir`.
///
/// Data-parallel when torchrun's variables are set (`torchrun`, `caco pretrain --nproc`; see docs/distributed.md):
/// every rank takes its contiguous slice of every global batch, gradients are averaged, keys and CACo's ratios are
/// gathered, and only rank 0 writes the run folder (every rank returns the same summary).
pub fn pretrain(config: &PretrainConfig, run_dir: &Path, options: &PretrainOptions) -> Result<PretrainSummary> {
    config.validate()?;
    let (dist, device) = data_parallel::join(parse_device(&config.run.device)?)?;
    let rows = data_parallel::rows_per_rank(config, &dist)?;
    let main = dist.is_main();
    let config_toml = config.to_toml();
    let series = TimeSeries::open(&config.data.root, config.data.series_options()?)?;
    if let Some(summary) = series.skipped_summary() {
        eprintln!("{summary}");
    }
    let method = config.method;
    let unit = Units::for_method(method.paired(), method == Method::Moco, config.data.layout);
    let units = Units::new(&series, unit);
    let n_units = units.len();
    let clusters = match method {
        Method::Gassl => Some(geo_clusters(&units, config.ssl.geo_clusters, config.run.seed)?),
        _ => None,
    };
    let clusters = data_parallel::clusters_from_main(clusters, &dist, device)?;
    let model_config = ModelConfig {
        method,
        arch: config.model.arch,
        in_channels: config.data.bands.len() as i64,
        embedding_dim: config.model.embedding_dim,
        queue_size: config.ssl.queue_size,
        temperature: config.ssl.temperature,
        encoder_momentum: config.ssl.encoder_momentum,
        geo_clusters: config.ssl.geo_clusters as i64,
        amp: config.run.amp,
        bn_groups: config.ssl.bn_groups as i64,
    };
    let mut model = crate::models::seeded(config.run.seed, || SslModel::new(model_config, n_units, device))?;
    model.set_dist(dist);
    let mut sgd = Sgd::new(&model.vs_q, config.optim.momentum, config.optim.weight_decay);
    if main {
        std::fs::create_dir_all(run_dir).map_err(|e| Error::io(run_dir, e))?;
    }
    let metrics_path = run_dir.join("metrics.parquet");
    // Only rank 0 reads the run folder; the others take its state in `sync_from_main` below.
    if main {
        checkpoint::recover(run_dir)?;
    }
    let has_checkpoint = main && checkpoint::checkpoint_dir(run_dir).join("state.toml").is_file();
    let (mut position, mut log) = match (options.resume, has_checkpoint) {
        (true, true) => {
            let position = checkpoint::load(run_dir, &mut model, &mut sgd, &config_toml)?;
            let log = if metrics_path.is_file() {
                MetricLog::read_parquet(&metrics_path, method.loss_names(), position.step)?
            } else {
                MetricLog::new(method.loss_names())
            };
            (position, log)
        }
        (true, false) if main => {
            return Err(Error::bad_input(
                run_dir,
                "--resume: no checkpoint in this run directory",
            ));
        }
        (false, true) => {
            return Err(Error::bad_input(
                run_dir,
                "this run directory already has a checkpoint: pass --resume to continue it, or choose another run directory",
            ));
        }
        (_, false) => (Position::default(), MetricLog::new(method.loss_names())),
    };
    data_parallel::sync_from_main(&mut model, &mut sgd, &mut position)?;
    let config_path = run_dir.join("config.toml");
    if main {
        std::fs::write(&config_path, &config_toml).map_err(|e| Error::io(&config_path, e))?;
    }

    let seasonal;
    let temporal;
    let views: &dyn ItemViews = match method {
        Method::Seco | Method::Teco | Method::Caco => {
            // CACo: 3 distinct dates of the era; SeCo and TeCo: with replacement (METHODS.md).
            let draw = if method == Method::Caco {
                DateDraw::Distinct
            } else {
                DateDraw::WithReplacement
            };
            seasonal = SeasonalViews::new(
                &units,
                config.augment.clone(),
                config.data.normalization.clone(),
                draw,
            )?;
            &seasonal
        }
        Method::Moco | Method::Gassl => {
            config.augment.validate()?;
            let positive = match (method, unit) {
                (Method::Moco, _) => PositiveDate::Same,
                (_, SamplingUnit::Location) if config.data.layout == crate::data::timeseries::Layout::Caco => {
                    PositiveDate::WithReplacement
                }
                _ => PositiveDate::Other,
            };
            temporal = TemporalViews {
                units: &units,
                augment: config.augment.clone(),
                normalization: config.data.normalization.clone(),
                positive,
            };
            &temporal
        }
    };
    let batches_of = |epoch: usize| {
        let (bs, seed, e) = (config.optim.batch_size, config.run.seed, epoch as u64);
        if method.paired() {
            paired_batches(series.locations.len(), bs, seed, e, true)
        } else {
            shuffled_batches(n_units, bs, seed, e, true)
        }
    };
    let n_batches = batches_of(0)?.len();
    if n_batches == 0 {
        return Err(Error::Config(format!(
            "`optim.batch_size` {} is larger than the {} sampling units ({}) of {}",
            config.optim.batch_size,
            n_units,
            match unit {
                crate::data::views::SamplingUnit::EraItem => "era items",
                crate::data::views::SamplingUnit::Location => "locations",
                crate::data::views::SamplingUnit::Image => "images",
            },
            series.root.display()
        )));
    }
    let total_steps = (config.optim.epochs * n_batches) as u64;
    let progress = Progress::new(
        total_steps,
        &format!("pretrain {}", config.name),
        "steps",
        options.quiet || !main,
    );
    progress.set(position.step);
    install_interrupt_handler();
    let loader_config = LoaderConfig {
        n_workers: config.run.n_workers,
        prefetch: 2,
        seed: config.run.seed,
    };
    let caco_dir = run_dir.join("caco");
    // Rank 0 writes the checkpoint (atomically: a temporary folder renamed) and the metric log; the others wait
    // for it, so that a rank that fails later never leaves the run folder ahead of or behind the others.
    let save = |model: &SslModel, sgd: &Sgd, position: &Position, log: &MetricLog| -> Result<()> {
        if model.dist().is_main() {
            checkpoint::save(run_dir, model, sgd, position, &config_toml)?;
            log.write_parquet(&metrics_path)?;
        }
        model.dist().barrier()
    };
    let mut stopped_early = false;
    let mut step_times = Vec::new();

    while position.epoch < config.optim.epochs {
        let epoch = position.epoch;
        let batches = data_parallel::rank_slices(batches_of(epoch)?, rows, model.dist());
        let mut last = Instant::now();
        let result = for_each_batch(
            views,
            &batches[position.batch_in_epoch..],
            epoch as u64,
            &loader_config,
            |batch| {
                let got_batch = Instant::now();
                let lr = config
                    .optim
                    .lr_at(epoch as f64 + position.batch_in_epoch as f64 / n_batches as f64);
                let tensors: Vec<Tensor> = batch
                    .views
                    .iter()
                    .map(|v| match config.run.channels_last {
                        true => v.to_tensor_channels_last().to_device(device),
                        false => v.to_tensor().to_device(device),
                    })
                    .collect();
                let era: Vec<i64> = batch.items.iter().map(|&i| units.era(i)).collect();
                let input = StepInput {
                    views: &tensors,
                    items: &batch.items,
                    era: &era,
                    clusters: clusters.as_deref(),
                    shuffle_seed: step_seed(config.run.seed, position.step),
                };
                // Autocast covers the encoders only (inside the model): heads and losses stay float32.
                let (loss, parts, keys) = model.loss(&input)?;
                sgd.backward_step_synced(&loss, lr, model.dist())?;
                model.after_step(keys)?;
                let interrupted = INTERRUPTED.load(Ordering::SeqCst);
                let (parts, interrupted) = data_parallel::global_parts(parts, interrupted, model.dist(), device)?;
                let n_items = batch.items.len() * model.dist().world();
                position.step += 1;
                position.batch_in_epoch += 1;
                let now = Instant::now();
                let images_per_s = n_items as f64 / now.duration_since(last).as_secs_f64().max(1e-9);
                step_times.push(StepTime {
                    n_items,
                    data_wait_s: got_batch.duration_since(last).as_secs_f64(),
                    step_s: now.duration_since(got_batch).as_secs_f64(),
                });
                last = now;
                let loss_value = parts.iter().sum();
                log.records.push(StepRecord {
                    step: position.step,
                    epoch: epoch as u64,
                    loss: loss_value,
                    parts,
                    lr,
                    images_per_s,
                });
                progress.set(position.step);
                progress.set_status(&format!("epoch {epoch} loss {loss_value:.3} lr {lr:.4}"));
                if position.step % config.run.checkpoint_every as u64 == 0 {
                    save(&model, &sgd, &position, &log)?;
                }
                if interrupted {
                    return Err(Error::Stopped("interrupted (Ctrl-C)".into()));
                }
                if options.max_steps.is_some_and(|m| position.step >= m) {
                    return Err(Error::Stopped(format!("reached {} steps", position.step)));
                }
                Ok(())
            },
        );
        match result {
            Ok(()) => {}
            Err(Error::Stopped(reason)) => {
                if !options.quiet && main {
                    eprintln!("stopping: {reason}; checkpoint at step {}", position.step);
                }
                stopped_early = true;
                break;
            }
            Err(e) => return Err(e),
        }
        // End of the epoch: CACo relabels from its running ratios.
        position.epoch += 1;
        position.batch_in_epoch = 0;
        if let Some(change) = model.change.as_mut() {
            // Every rank fits the same mixture to the same (gathered) ratios; rank 0 writes it.
            let export = change.end_epoch(epoch);
            if main {
                change.export(&export, &caco_dir)?;
            }
        }
        save(&model, &sgd, &position, &log)?;
    }
    save(&model, &sgd, &position, &log)?;
    progress.finish();
    let backbone = run_dir.join("backbone.safetensors");
    // The backbone carries its contract: what evaluation must feed it (see models::weights::BackboneContract).
    let contract = crate::models::weights::BackboneContract {
        arch: config.model.arch,
        in_channels: config.data.bands.len() as i64,
        bands: config.data.bands.clone(),
        normalization: Some(config.data.normalization.clone()),
        stretch: config.data.stretch.as_ref().and_then(|s| serde_json::to_string(s).ok()),
        method: serde_json::to_string(&config.method).ok().map(|m| m.trim_matches('"').to_string()),
    };
    if main {
        crate::models::weights::write_backbone(&backbone, &model.backbone_tensors(), &contract)?;
    }
    model.dist().barrier()?;
    let mut rates: Vec<f64> = log.records.iter().skip(1).map(|r| r.images_per_s).collect();
    rates.sort_by(|a, b| a.total_cmp(b));
    Ok(PretrainSummary {
        run_dir: run_dir.to_path_buf(),
        steps: position.step,
        epochs_done: position.epoch,
        stopped_early,
        images_per_s: rates.get(rates.len() / 2).copied().unwrap_or(f64::NAN),
        backbone,
        step_times,
    })
}
