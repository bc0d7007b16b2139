//! `caco eval change-detection`.

use std::path::PathBuf;

use anyhow::Result;
use caco::data::change::LayoutChoice;
use caco::data::oscd::OscdDates;
use caco::data::split::SplitChoice;
use caco::eval::tasks::{self, ChangeOptions, TaskData};

use super::{announce, finish, CommonArgs};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// levir-cd-samples, eurosat-seasons-change, oscd, or the folder (under the data root) of any change set:
    /// LEVIR-CD (A/, B/, label/), time1-time2 or OSCD layout
    #[arg(long, value_name = "NAME", default_value = "levir-cd-samples")]
    dataset: String,
    /// Folder names of a change set (default: detected, else levir)
    #[arg(long, value_name = "levir|time1-time2")]
    layout: Option<String>,
    /// Folder of the first date's images, replacing the layout's
    #[arg(long, value_name = "NAME")]
    a_dir: Option<String>,
    /// Folder of the second date's images, replacing the layout's
    #[arg(long, value_name = "NAME")]
    b_dir: Option<String>,
    /// Folder of the change masks (0/255 or 0/1), replacing the layout's
    #[arg(long, value_name = "NAME")]
    label_dir: Option<String>,
    /// `lists` (the dataset's own lists or file-name prefixes) or `seeded:TRAIN,VAL,TEST` (e.g. seeded:0.6,0.2,0.2;
    /// OSCD: seeded:TRAIN,TEST by city; `@SEED` appended for another seed than 42), written to --split-dir
    /// (default: experiments/splits/<dataset>)
    #[arg(long, value_name = "lists|seeded:F,F,F", default_value = "lists")]
    split: String,
    /// OSCD's date folders: the authors' imgs_1 or torchgeo's imgs_1_rect
    #[arg(long, value_name = "imgs_1|imgs_1_rect", default_value = "imgs_1")]
    dates: String,
    /// eurosat-seasons-change: the simulated series (default: derived/eurosat-seasons)
    #[arg(long, value_name = "DIR")]
    seasons_dir: Option<PathBuf>,
    #[command(flatten)]
    common: CommonArgs,
}

pub fn run(args: Args) -> Result<()> {
    let dataset = args.dataset;
    let change = ChangeOptions {
        layout: LayoutChoice {
            layout: args.layout,
            a_dir: args.a_dir,
            b_dir: args.b_dir,
            label_dir: args.label_dir,
        },
        split: SplitChoice::parse(&args.split)?,
        dates: OscdDates::parse(&args.dates)?,
    };
    let mut c = args.common.resolve(|root| tasks::change_tile_size(&dataset, root), None)?;
    let mut data = TaskData {
        data_root: c.data_root.clone(),
        split_dir: c.split_dir.take(),
        change,
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
