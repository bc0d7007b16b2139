//! `caco eval bigearthnet`: frozen features + multi-label probe on a seeded fraction of train (default 10 %, the
//! papers' setting); `--epochs` are the probe's, `--max-test N` caps the test patches for quick runs.

use anyhow::Result;
use caco::data::bigearthnet;
use caco::eval::bigearthnet::BigEarthNetConfig;
use caco::eval::multilabel_probe::MultiLabelProbeConfig;
use caco::results::dense::{DenseTable, DenseTask};

use super::{finish, CommonArgs};

/// The papers' label fraction for BigEarthNet when `--label-fraction` is not given.
const LABEL_FRACTION: f64 = 0.1;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// At most N test patches, for quick runs (default: all)
    #[arg(long, value_name = "N")]
    max_test: Option<usize>,
    #[command(flatten)]
    common: CommonArgs,
}

pub fn run(mut args: Args) -> Result<()> {
    let label_fraction = args.common.label_fraction.take().unwrap_or(LABEL_FRACTION);
    let c = args.common.resolve(|_| bigearthnet::INPUT_SIZE, Some("BigEarthNet's protocol (x/255, METHODS.md)"))?;
    let root = c.data_root.join(bigearthnet::DATASET_DIR);
    let config = BigEarthNetConfig {
        arch: c.config.arch,
        weights: c.config.weights.clone(),
        init_seed: c.config.init_seed,
        label_fraction,
        max_test: args.max_test,
        probe: MultiLabelProbeConfig {
            epochs: c.config.epochs,
            batch_size: c.config.batch_size,
            ..Default::default()
        },
        seed: c.config.seed,
        ..Default::default()
    };
    let template = DenseTable {
        name: bigearthnet::DATASET_DIR.into(),
        title: "BigEarthNet (19 classes, RGB): multi-label linear probe".into(),
        task: DenseTask::MultiLabel,
        dataset: root.display().to_string(),
        classes: bigearthnet::LABELS_19.iter().map(|s| s.to_string()).collect(),
        notes: vec![
            "Published, for context: R18 SeCo-1M 87.27, R50 SeCo-1M 87.81 micro mAP (torchgeo weights table, 10 % \
             of train)."
                .into(),
        ],
        rows: vec![],
    };
    if !c.options.quiet {
        eprintln!(
            "{}: {} on {}",
            template.title,
            config.weights,
            crate::shared::device_label(c.options.device)
        );
    }
    let row = caco::eval::bigearthnet::benchmark(&root, &config, c.options.device, c.options.quiet)?;
    finish(template, row, &c)
}
