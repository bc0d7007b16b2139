//! `caco eval change-detection`.

use std::path::PathBuf;

use anyhow::Result;
use caco::eval::tasks::{self, TaskData};

use super::{announce, finish, CommonArgs};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// levir-cd-samples, eurosat-seasons-change, oscd, or the folder (under the data root) of any dataset in
    /// LEVIR-CD (A/, B/, label/) or time1-time2 layout
    #[arg(long, value_name = "NAME", default_value = "levir-cd-samples")]
    dataset: String,
    /// eurosat-seasons-change: the simulated series (default: derived/eurosat-seasons)
    #[arg(long, value_name = "DIR")]
    seasons_dir: Option<PathBuf>,
    #[command(flatten)]
    common: CommonArgs,
}

pub fn run(args: Args) -> Result<()> {
    let dataset = args.dataset;
    let mut c = args.common.resolve(|root| tasks::change_tile_size(&dataset, root))?;
    let mut data = TaskData {
        data_root: c.data_root.clone(),
        split_dir: c.split_dir.take(),
        ..Default::default()
    };
    if let Some(dir) = args.seasons_dir {
        data.seasons_dir = dir;
    }
    c.options.overlay_dir = Some(c.out_dir.join("figures"));
    announce(&c, &format!("Change detection on {dataset}"));
    let (template, row) = tasks::change_detection(&dataset, &data, &c.config, &c.options)?;
    finish(template, row, &c)
}
