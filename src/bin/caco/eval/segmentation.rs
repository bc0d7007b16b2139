//! `caco eval segmentation`: Dubai aerial imagery, or DynamicEarthNet (monthly labels with the PlanetFusion image of
//! their date; the official split lists if the dataset has them, else a seeded split by AOI in
//! experiments/splits/dynamic-earthnet).

use anyhow::{bail, Result};
use caco::data::aerial_seg;
use caco::data::dynamic_earthnet::{self, DenOptions, PlanetBand, SnowIce};
use caco::eval::tasks::{self, TaskData};

use super::{announce, finish, CommonArgs};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// dubai-aerial-seg or dynamic-earthnet
    #[arg(long, value_name = "NAME", default_value = aerial_seg::DATASET_DIR)]
    dataset: String,
    /// dynamic-earthnet: PlanetFusion bands, R,G,B or R,G,B,NIR (default: R,G,B)
    #[arg(long, value_name = "BANDS", help_heading = "dynamic-earthnet")]
    bands: Option<String>,
    /// dynamic-earthnet: only the labels of these months, YYYY-MM,... (default: all)
    #[arg(long, value_name = "MONTHS", help_heading = "dynamic-earthnet")]
    months: Option<String>,
    /// dynamic-earthnet: skip labels without an image instead of failing
    #[arg(long, help_heading = "dynamic-earthnet")]
    skip_bad: bool,
    /// dynamic-earthnet: snow & ice as a 7th class (default: ignored, as dynnet)
    #[arg(long, help_heading = "dynamic-earthnet")]
    snow_as_class: bool,
    #[command(flatten)]
    common: CommonArgs,
}

pub fn run(args: Args) -> Result<()> {
    let dataset = args.dataset.as_str();
    if dataset == dynamic_earthnet::DATASET_DIR {
        return run_dynamic_earthnet(args);
    }
    if dataset != aerial_seg::DATASET_DIR {
        bail!(
            "segmentation: unknown dataset `{dataset}`: {} or {}",
            aerial_seg::DATASET_DIR,
            dynamic_earthnet::DATASET_DIR
        );
    }
    if args.bands.is_some() || args.months.is_some() || args.skip_bad || args.snow_as_class {
        bail!("--bands, --months, --skip-bad and --snow-as-class are flags of --dataset dynamic-earthnet");
    }
    let mut c = args.common.resolve(|_| 256, None)?;
    let data = TaskData {
        data_root: c.data_root.clone(),
        split_dir: c.split_dir.take(),
        ..Default::default()
    };
    c.options.overlay_dir = Some(c.out_dir.join("figures"));
    announce(&c, &format!("Semantic segmentation on {dataset}"));
    let (template, row) = tasks::segmentation_aerial(&data, &c.config, &c.options)?;
    finish(template, row, &c)
}

fn run_dynamic_earthnet(args: Args) -> Result<()> {
    let mut den = DenOptions::default();
    if let Some(bands) = &args.bands {
        den.bands = PlanetBand::parse_list(bands)?;
    }
    if let Some(months) = &args.months {
        den.months = months.split(',').map(|m| m.trim().to_string()).collect();
    }
    den.skip_bad = args.skip_bad;
    if args.snow_as_class {
        den.snow_ice = SnowIce::Class;
    }
    den.validate()?;
    let mut c = args.common.resolve(|_| 256, Some("DynamicEarthNet's per-band scaling (--bands)"))?;
    c.config.normalization = den.normalization();
    c.config.validate(den.bands.len())?;
    let data = TaskData {
        data_root: c.data_root.clone(),
        split_dir: c.split_dir.take(),
        ..Default::default()
    };
    c.options.overlay_dir = Some(c.out_dir.join("figures"));
    announce(&c, "Semantic segmentation on DynamicEarthNet");
    let (template, row) = tasks::segmentation_dynamic_earthnet(&data, &den, &c.config, &c.options)?;
    finish(template, row, &c)
}
