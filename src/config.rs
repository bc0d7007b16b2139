//! Experiment configs: one TOML per table in `experiments/`, unknown keys rejected, paper defaults spelled out,
//! and named scale presets (`smoke`, `cpu`, ...) that shrink a run without editing the file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::data::eurosat::EurosatVariant;
use crate::data::Normalization;
use crate::{Error, Result};

/// A EuroSAT table: linear probe + kNN retrieval for every row (initialisation).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EurosatTableConfig {
    /// File stem of the outputs (`tables/<name>.csv`, `figures/<name>_confusion.svg`, ...).
    pub name: String,
    pub title: String,
    pub dataset: EurosatDatasetConfig,
    pub rows: Vec<RowConfig>,
    #[serde(default)]
    pub features: FeatureConfig,
    #[serde(default)]
    pub probe: crate::eval::linear_probe::ProbeConfig,
    #[serde(default)]
    pub knn: crate::eval::knn::KnnConfig,
    /// Extra probes on a seeded per-class fraction of train (the label-fraction curve), e.g. `[0.01, 0.1]`.
    #[serde(default)]
    pub label_fractions: Vec<f64>,
    /// Named presets; `--scale <name>` applies one.
    #[serde(default)]
    pub scales: BTreeMap<String, ScaleConfig>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EurosatDatasetConfig {
    pub variant: EurosatVariant,
    /// Folder under the data root.
    pub dir: PathBuf,
    /// Folder with `train.txt`, `val.txt`, `test.txt`; a seeded stratified split is written there if absent.
    /// Relative paths are taken from the working directory (the repository root under `cargo xtask`).
    pub split_dir: PathBuf,
    #[serde(default = "default_split_seed")]
    pub split_seed: u64,
    #[serde(default = "default_train_fraction")]
    pub train_fraction: f64,
    #[serde(default = "default_val_fraction")]
    pub val_fraction: f64,
    pub normalization: Normalization,
}

fn default_split_seed() -> u64 {
    42
}
fn default_train_fraction() -> f64 {
    0.6
}
fn default_val_fraction() -> f64 {
    0.2
}

/// One row of a table: a backbone and where its weights come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RowConfig {
    /// Row label, e.g. "random init".
    pub name: String,
    pub arch: crate::models::Arch,
    /// `"random"` or the path of a `.safetensors` file with torchvision-named backbone weights.
    pub weights: String,
    /// Seed of the random initialisation (and of anything random in the backbone).
    #[serde(default)]
    pub init_seed: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FeatureConfig {
    pub batch_size: usize,
    /// Image decoding threads.
    pub n_workers: usize,
}

impl Default for FeatureConfig {
    fn default() -> Self {
        FeatureConfig {
            batch_size: 256,
            n_workers: 2,
        }
    }
}

/// A scale preset: what it changes of the full config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ScaleConfig {
    /// Keep at most this many images per class in each split (first ones of the list).
    pub max_per_class: Option<usize>,
    pub probe_epochs: Option<usize>,
    pub knn_n_queries: Option<usize>,
    pub label_fractions: Option<Vec<f64>>,
}

/// What every experiment TOML shares: parsing with unknown keys rejected, one validation pass, errors prefixed with
/// the file they came from, and serialisation of the resolved config written beside results.
pub trait ExperimentConfig: Serialize + serde::de::DeserializeOwned {
    /// Checks every value once; messages name the key.
    fn validate(&self) -> Result<()>;

    fn from_toml(text: &str, origin: &Path) -> Result<Self> {
        let config: Self = toml::from_str(text).map_err(|e| Error::Config(format!("{}: {e}", origin.display())))?;
        config.validate().map_err(|e| match e {
            Error::Config(m) => Error::Config(format!("{}: {m}", origin.display())),
            other => other,
        })?;
        Ok(config)
    }

    fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::from_toml(&text, path)
    }

    fn to_toml(&self) -> String {
        toml::to_string(self).expect("configs serialise")
    }
}

impl ExperimentConfig for EurosatTableConfig {
    fn validate(&self) -> Result<()> {
        if self.rows.is_empty() {
            return Err(Error::Config(format!("table `{}` has no rows", self.name)));
        }
        if self.name.is_empty() || self.name.contains(['/', '\\']) {
            return Err(Error::Config(format!(
                "table name `{}` must be a plain file stem",
                self.name
            )));
        }
        self.dataset.normalization.validate(self.dataset.variant.n_bands())?;
        self.probe.validate()?;
        if let Some(f) = self.label_fractions.iter().find(|f| !(**f > 0.0 && **f <= 1.0)) {
            return Err(Error::Config(format!("label_fractions: {f} is not in (0, 1]")));
        }
        for row in &self.rows {
            if row.weights != "random" && !row.weights.ends_with(".safetensors") {
                return Err(Error::Config(format!(
                    "row `{}`: weights must be \"random\" or a .safetensors file, got `{}`",
                    row.name, row.weights
                )));
            }
        }
        Ok(())
    }
}

impl EurosatTableConfig {
    /// This config with the preset `scale` applied; an unknown scale lists the known ones.
    pub fn with_scale(&self, scale: &str) -> Result<(Self, ScaleConfig)> {
        let preset = self.scales.get(scale).cloned().ok_or_else(|| {
            Error::Config(format!(
                "unknown scale `{scale}` for table `{}`; known: {}",
                self.name,
                self.scales.keys().cloned().collect::<Vec<_>>().join(", ")
            ))
        })?;
        let mut out = self.clone();
        if let Some(epochs) = preset.probe_epochs {
            out.probe.epochs = epochs;
        }
        if let Some(n) = preset.knn_n_queries {
            out.knn.n_queries = n;
        }
        if let Some(f) = &preset.label_fractions {
            out.label_fractions = f.clone();
        }
        out.validate()?;
        Ok((out, preset))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
name = "eurosat"
title = "t"
[dataset]
variant = "rgb"
dir = "eurosat-rgb"
split_dir = "splits"
normalization = { kind = "imagenet" }
[[rows]]
name = "random init"
arch = "resnet18"
weights = "random"
[scales.smoke]
max_per_class = 5
probe_epochs = 2
"#;

    #[test]
    fn minimal_config_gets_paper_defaults() {
        let c = EurosatTableConfig::from_toml(MINIMAL, Path::new("x.toml")).unwrap();
        assert_eq!(c.probe.epochs, 100);
        assert_eq!(c.probe.batch_size, 32);
        assert_eq!(c.knn.n_queries, 50);
        assert_eq!(c.dataset.train_fraction, 0.6);
        let (smoke, preset) = c.with_scale("smoke").unwrap();
        assert_eq!((smoke.probe.epochs, preset.max_per_class), (2, Some(5)));
        // Round trip through TOML (the resolved config is written beside results).
        assert_eq!(
            EurosatTableConfig::from_toml(&smoke.to_toml(), Path::new("y")).unwrap(),
            smoke
        );
    }

    #[test]
    fn unknown_keys_scales_and_bad_values_are_rejected() {
        let typo = MINIMAL
            .replace("split_seed", "x")
            .replace("[[rows]]", "batchsize = 3\n[[rows]]");
        let msg = EurosatTableConfig::from_toml(&typo, Path::new("typo.toml"))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("typo.toml") && msg.contains("batchsize"), "{msg}");

        let c = EurosatTableConfig::from_toml(MINIMAL, Path::new("x.toml")).unwrap();
        let msg = c.with_scale("huge").unwrap_err().to_string();
        assert!(msg.contains("huge") && msg.contains("smoke"), "{msg}");

        let ms_imagenet = MINIMAL.replace("variant = \"rgb\"", "variant = \"ms\"");
        assert!(EurosatTableConfig::from_toml(&ms_imagenet, Path::new("x"))
            .unwrap_err()
            .to_string()
            .contains("3 bands"));

        let bad_arch = MINIMAL.replace("resnet18", "resnet19");
        assert!(EurosatTableConfig::from_toml(&bad_arch, Path::new("x")).is_err());

        let bad_weights = MINIMAL.replace("weights = \"random\"", "weights = \"seco.pth\"");
        assert!(EurosatTableConfig::from_toml(&bad_weights, Path::new("x"))
            .unwrap_err()
            .to_string()
            .contains("seco.pth"));
    }
}

/// A pre-training run (`experiments/pretrain/*.toml`): method, backbone, data, SSL and optimiser settings.
/// Defaults are the papers' (METHODS.md); CPU presets override them in their files.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PretrainConfig {
    pub name: String,
    pub method: crate::ssl::Method,
    pub model: PretrainModelConfig,
    pub data: PretrainDataConfig,
    #[serde(default)]
    pub augment: crate::data::augment::AugmentConfig,
    #[serde(default)]
    pub ssl: SslConfig,
    #[serde(default)]
    pub optim: OptimConfig,
    #[serde(default)]
    pub run: RunConfig,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PretrainModelConfig {
    pub arch: crate::models::Arch,
    /// Projection output size (MoCo-v2: 128).
    #[serde(default = "default_embedding_dim")]
    pub embedding_dim: i64,
}

fn default_embedding_dim() -> i64 {
    128
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PretrainDataConfig {
    /// Folder of the time series (SeCo or CACo layout); relative paths are taken from the working directory.
    pub root: PathBuf,
    pub layout: crate::data::timeseries::Layout,
    /// Band file stems in input order, e.g. `["B4", "B3", "B2"]`.
    pub bands: Vec<String>,
    #[serde(default = "default_dates_per_era")]
    pub dates_per_era: usize,
    /// Skip (and report) bad locations instead of stopping.
    #[serde(default)]
    pub skip_bad: bool,
    /// SeCo's uint8 quantile stretch, applied when images are read: `"seco-rgb"` (matched to `bands` by name;
    /// every paper-scale RGB config sets it) or `{ lo = [...], hi = [...] }` per band.
    #[serde(default)]
    pub stretch: Option<crate::data::timeseries::StretchSpec>,
    pub normalization: Normalization,
}

fn default_dates_per_era() -> usize {
    5
}

impl PretrainDataConfig {
    pub fn series_options(&self) -> Result<crate::data::timeseries::TimeSeriesOptions> {
        Ok(crate::data::timeseries::TimeSeriesOptions {
            layout: self.layout,
            bands: self.bands.clone(),
            dates_per_era: self.dates_per_era,
            skip_bad: self.skip_bad,
            stretch: self.stretch.as_ref().map(|s| s.resolve(&self.bands)).transpose()?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SslConfig {
    /// Keys in each queue (SeCo/CACo 16384; GASSL 65536).
    pub queue_size: i64,
    pub temperature: f64,
    /// Momentum of the key encoder (0.999).
    pub encoder_momentum: f64,
    /// GASSL: k-means clusters of (lat, lon).
    pub geo_clusters: usize,
    /// BatchNorm groups of the encoders' forwards: 4 emulates GASSL's 4-GPU shuffle-BN on one device (the query
    /// batch in 4 groups; the key batch permuted, in 4 groups, un-permuted). 1 (one BatchNorm over the batch) for
    /// the single-GPU methods.
    pub bn_groups: usize,
}

impl Default for SslConfig {
    fn default() -> Self {
        SslConfig {
            queue_size: 16384,
            temperature: 0.07,
            encoder_momentum: 0.999,
            geo_clusters: 100,
            bn_groups: 1,
        }
    }
}

/// Learning-rate schedule over epochs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "kind", deny_unknown_fields)]
pub enum Schedule {
    /// lr x gamma at each milestone epoch (SeCo: 120 and 160 of 200). Milestones may be fractional (a run of
    /// one epoch decays at 0.6 and 0.8); the epoch position is fractional too (batch index / batches per epoch).
    Step { milestones: Vec<f64>, gamma: f64 },
    /// Half-cosine from lr to 0 over the epochs (GASSL).
    Cosine,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OptimConfig {
    pub lr: f64,
    pub momentum: f64,
    pub weight_decay: f64,
    pub schedule: Schedule,
    /// Linear warm-up from 0, in epochs (may be fractional).
    pub warmup_epochs: f64,
    pub epochs: usize,
    pub batch_size: usize,
}

impl Default for OptimConfig {
    fn default() -> Self {
        OptimConfig {
            lr: 0.03,
            momentum: 0.9,
            weight_decay: 1e-4,
            schedule: Schedule::Step {
                milestones: vec![120.0, 160.0],
                gamma: 0.1,
            },
            warmup_epochs: 0.0,
            epochs: 200,
            batch_size: 256,
        }
    }
}

impl OptimConfig {
    /// Learning rate at fractional epoch `e` (epoch index + position within it).
    pub fn lr_at(&self, e: f64) -> f64 {
        let base = match &self.schedule {
            Schedule::Step { milestones, gamma } => {
                self.lr * gamma.powi(milestones.iter().filter(|&&m| e >= m).count() as i32)
            }
            Schedule::Cosine => self.lr * 0.5 * (1.0 + (std::f64::consts::PI * e / self.epochs as f64).cos()),
        };
        if self.warmup_epochs > 0.0 && e < self.warmup_epochs {
            base * e / self.warmup_epochs
        } else {
            base
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RunConfig {
    pub seed: u64,
    pub n_workers: usize,
    /// Checkpoint every this many steps (and at the end of every epoch, and on Ctrl-C).
    pub checkpoint_every: usize,
    /// `auto` (CUDA when present), `cpu` or `cuda`.
    pub device: String,
    /// Mixed precision: `off` or `bf16` (libtorch autocast on the training device; meant for CUDA GPUs with bf16,
    /// i.e. Ampere or newer; on CPUs without bf16 units it is slower than `off`).
    pub amp: crate::train::Amp,
    /// Feed the views to the backbone in channels-last (NHWC) memory layout, which libtorch's oneDNN/cuDNN
    /// convolutions run faster than NCHW (weights stay NCHW, so checkpoints are unchanged). Only written to a
    /// config's TOML when off, so runs made before the key existed still resume.
    #[serde(skip_serializing_if = "is_true")]
    pub channels_last: bool,
}

fn is_true(value: &bool) -> bool {
    *value
}

impl Default for RunConfig {
    fn default() -> Self {
        RunConfig {
            seed: 0,
            n_workers: 2,
            checkpoint_every: 500,
            device: "auto".into(),
            amp: crate::train::Amp::Off,
            channels_last: true,
        }
    }
}

impl ExperimentConfig for PretrainConfig {
    fn validate(&self) -> Result<()> {
        let bad =
            |key: &str, rule: &str, value: String| Err(Error::Config(format!("`{key}` must be {rule}, got {value}")));
        let (s, o) = (&self.ssl, &self.optim);
        if s.queue_size <= 0 {
            return bad("ssl.queue_size", "> 0", s.queue_size.to_string());
        }
        if !(s.temperature > 0.0) {
            return bad("ssl.temperature", "> 0", s.temperature.to_string());
        }
        if !(0.0..=1.0).contains(&s.encoder_momentum) {
            return bad("ssl.encoder_momentum", "in [0, 1]", s.encoder_momentum.to_string());
        }
        if !(o.lr > 0.0) {
            return bad("optim.lr", "> 0", o.lr.to_string());
        }
        if o.momentum < 0.0 || o.weight_decay < 0.0 {
            return bad(
                "optim.momentum and optim.weight_decay",
                ">= 0",
                format!("{} and {}", o.momentum, o.weight_decay),
            );
        }
        if o.epochs == 0 || o.batch_size < 2 {
            return bad(
                "optim.epochs and optim.batch_size",
                "> 0 and >= 2",
                format!("{} and {}", o.epochs, o.batch_size),
            );
        }
        if self.method.paired() && o.batch_size % 2 != 0 {
            return bad(
                "optim.batch_size",
                "even for TeCo/CACo (pairs of eras)",
                o.batch_size.to_string(),
            );
        }
        if self.method.paired() && self.data.layout != crate::data::timeseries::Layout::Caco {
            return bad(
                "data.layout",
                "\"caco\" for TeCo/CACo",
                format!("{:?}", self.data.layout),
            );
        }
        if s.bn_groups == 0 || o.batch_size % s.bn_groups != 0 {
            return bad(
                "ssl.bn_groups",
                "> 0 and divide optim.batch_size",
                format!("{} (batch_size {})", s.bn_groups, o.batch_size),
            );
        }
        if self.method == crate::ssl::Method::Gassl && s.geo_clusters == 0 {
            return bad("ssl.geo_clusters", "> 0", "0".into());
        }
        if self.model.embedding_dim <= 0 || self.run.checkpoint_every == 0 {
            return bad(
                "model.embedding_dim and run.checkpoint_every",
                "> 0",
                format!("{} and {}", self.model.embedding_dim, self.run.checkpoint_every),
            );
        }
        self.augment.validate()?;
        self.data.normalization.validate(self.data.bands.len())?;
        self.data.series_options()?;
        Ok(())
    }
}

#[cfg(test)]
mod schedule_tests {
    use super::*;

    #[test]
    fn step_milestones_may_be_fractional_and_integers_still_parse() {
        // The cpu MoCo-v2 config: one epoch, lr x0.1 at 60 % and 80 % of it (the epoch position is fractional).
        let one_epoch: OptimConfig =
            toml::from_str("lr = 0.03\nepochs = 1\nschedule = { kind = \"step\", milestones = [0.6, 0.8], gamma = 0.1 }")
                .unwrap();
        assert_eq!(one_epoch.lr_at(0.59), 0.03);
        assert!((one_epoch.lr_at(0.6) - 0.003).abs() < 1e-12);
        assert!((one_epoch.lr_at(0.9) - 0.0003).abs() < 1e-12);
        let integers: OptimConfig =
            toml::from_str("lr = 0.03\nepochs = 5\nschedule = { kind = \"step\", milestones = [3, 4], gamma = 0.1 }")
                .unwrap();
        assert_eq!(integers.schedule, Schedule::Step { milestones: vec![3.0, 4.0], gamma: 0.1 });
        assert!((integers.lr_at(3.5) - 0.003).abs() < 1e-12);
    }
}
