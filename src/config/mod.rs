//! Experiment configs: one TOML per table or run in `experiments/`, unknown keys rejected, paper defaults spelled
//! out, and named scale presets (`smoke`, `cpu`, ...) that shrink a run without editing the file. One file per kind
//! of config: [`pretrain`] (a pre-training run) and [`optim`] (its optimiser and learning-rate schedule); what every
//! config shares is the [`ExperimentConfig`] trait here (the EuroSAT table's config lives with its benchmark,
//! `eval::eurosat_config`, as its probe and kNN settings are the evaluation's own types).

pub mod optim;
pub mod pretrain;

use std::path::Path;

use crate::{Error, Result};

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
