//! The config of a pre-training run (`experiments/pretrain/*.toml`): method, backbone, data, augmentations, SSL,
//! optimiser and run settings, checked once by [`ExperimentConfig::validate`].

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{ExperimentConfig, OptimConfig};
use crate::data::Normalization;
use crate::{Error, Result};

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
    /// Folder of the time series (SeCo, CACo or SSL4EO-S12 layout); relative paths are taken from the working
    /// directory.
    pub root: PathBuf,
    pub layout: crate::data::timeseries::Layout,
    /// Band file stems in input order, e.g. `["B4", "B3", "B2"]`.
    pub bands: Vec<String>,
    /// Dates per era (SeCo, CACo: 5); not used by `ssl4eo-s12` (4 seasons per location).
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
    pub amp: crate::models::autocast::Amp,
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
            amp: crate::models::autocast::Amp::Off,
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
                format!("\"{}\"", self.data.layout.name()),
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
