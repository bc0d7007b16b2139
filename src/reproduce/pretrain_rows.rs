//! Pre-training inside `reproduce-table`: the resolved config of a method row at a scale, and what its run adds to
//! the table (loss curves, CACo's per-epoch change estimate).

use std::path::{Path, PathBuf};


use super::cache::key;
use super::config::{merge, TableRow, TableScale};
use crate::config::{ExperimentConfig, PretrainConfig};
use crate::results::paper::{
    CacoEpoch, GmmParams, LossCurve, PaperTable,
};
use crate::ssl::Method;
use crate::train::log::MetricLog;
use crate::train::{pretrain, PretrainOptions};
use crate::{Error, Result};

use super::run::{Backbone, ReproduceContext};

/// Most points kept of a loss curve (evenly spaced steps), so stored metrics stay small.
const MAX_CURVE_POINTS: usize = 400;

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

pub(super) fn pretrain_row(
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

pub(super) fn round4(v: f64) -> f64 {
    if v.is_finite() {
        let scale = 10f64.powi(4 - v.abs().max(1e-12).log10().ceil() as i32);
        (v * scale).round() / scale
    } else {
        v
    }
}

/// Loss curve and, for CACo, the per-epoch change estimate (with the series' truth when it has one).
pub(super) fn collect_pretrain_figures(
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
