//! The config of a EuroSAT table (`experiments/*.toml`): dataset, rows (backbone and weights), feature
//! extraction, linear probe, kNN retrieval, label fractions and scale presets.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::config::ExperimentConfig;
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
    pub probe: super::linear_probe::ProbeConfig,
    #[serde(default)]
    pub knn: super::knn::KnnConfig,
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
    use std::path::Path;

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
