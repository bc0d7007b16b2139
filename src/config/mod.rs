//! Experiment configs: one TOML per table or run in `experiments/`, unknown keys rejected, paper defaults spelled
//! out, and named scale presets (`smoke`, `cpu`, ...) that shrink a run without editing the file. One file per kind
//! of config: [`eurosat`] (a EuroSAT table), [`pretrain`] (a pre-training run) and [`optim`] (its optimiser and
//! learning-rate schedule); what they share is the [`ExperimentConfig`] trait here.

pub mod eurosat;
pub mod optim;
pub mod pretrain;

use std::path::Path;

use crate::{Error, Result};

pub use eurosat::{EurosatDatasetConfig, EurosatTableConfig, FeatureConfig, RowConfig, ScaleConfig};
pub use optim::{OptimConfig, Schedule};
pub use pretrain::{PretrainConfig, PretrainDataConfig, PretrainModelConfig, RunConfig, SslConfig};

/// What every experiment TOML shares: parsing with unknown keys rejected, one validation pass, errors prefixed with
/// the file they came from, and serialisation of the resolved config written beside results.
pub trait ExperimentConfig: serde::Serialize + serde::de::DeserializeOwned {
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
