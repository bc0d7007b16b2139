//! `caco eval eurosat`: EuroSAT classification with a label fraction: the linear probe on frozen features
//! (default) or, with `--finetune`, the backbone and a linear head trained end to end.

use std::path::PathBuf;

use anyhow::Result;
use caco::config::ExperimentConfig;
use caco::eval::eurosat_config::EurosatTableConfig;
use caco::results::dense::{DenseTable, DenseTask};

use super::{announce, finish, CommonArgs};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Dataset, split and probe protocol
    #[arg(long, value_name = "TOML", default_value = "experiments/eurosat.toml")]
    config: PathBuf,
    /// At most N images per class in every split, for quick runs (default: all)
    #[arg(long, value_name = "N")]
    max_per_class: Option<usize>,
    #[command(flatten)]
    common: CommonArgs,
}

pub fn run(args: Args) -> Result<()> {
    let c = args.common.resolve(|_| 64, Some("the config's `dataset.normalization` and the probe's `protocol`"))?;
    let mut table_config = EurosatTableConfig::load(&args.config)?;
    // --split-dir replaces the config's split folder (the official lists of `caco data download eurosat-splits`).
    if let Some(dir) = &c.split_dir {
        table_config.dataset.split_dir = dir.clone();
    }
    let (dataset, splits) = caco::eval::eurosat::open_dataset(&table_config, args.max_per_class, &c.data_root)?;
    let mut config = c.config.clone();
    config.normalization = table_config.dataset.normalization.clone();
    config.validate(dataset.n_bands())?;
    let dir = table_config.dataset.dir.display().to_string();
    let template = DenseTable {
        name: format!("classification_{dir}"),
        title: format!("EuroSAT classification ({dir}): frozen linear probe and fine-tuning, by label fraction"),
        task: DenseTask::Classification,
        dataset: dataset.root.display().to_string(),
        classes: dataset.classes.clone(),
        notes: vec![format!(
            "Split lists: {} (the seeded stratified split unless official lists were given; the label fraction is a \
             seeded per-class subset of train).",
            table_config.dataset.split_dir.display()
        )],
        rows: vec![],
    };
    announce(&c, &template.title);
    let row = caco::eval::classification::benchmark(&dataset, &splits, &config, &table_config.probe, &c.options)?;
    finish(template, row, &c)
}
