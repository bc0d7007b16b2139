//! `caco bench loader`: images/s of the CACo data pipeline (decode + augment), views only, no model.

use std::path::PathBuf;

use anyhow::Result;
use caco::data::augment::AugmentConfig;
use caco::data::loader::{for_each_batch, LoaderConfig};
use caco::data::timeseries::{Layout, TimeSeries, TimeSeriesOptions, RGB_BANDS};
use caco::data::views::{paired_batches, DateDraw, SamplingUnit, SeasonalViews, Units};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// CACo-layout time series
    #[arg(long, value_name = "DIR", default_value = "derived/eurosat-seasons")]
    root: PathBuf,
    /// Era items per batch (even, so that both eras of a location share one)
    #[arg(long, value_name = "N", default_value_t = 64)]
    batch_size: usize,
    /// Timed batches, after one untimed
    #[arg(long, value_name = "N", default_value_t = 30)]
    batches: usize,
    /// Loader threads
    #[arg(long, value_name = "N", default_value_t = 2)]
    workers: usize,
    /// Side of the augmented views
    #[arg(long, value_name = "PX", default_value_t = 64)]
    size: usize,
}

pub fn run(args: Args) -> Result<()> {
    let series = TimeSeries::open(&args.root, TimeSeriesOptions::new(Layout::Caco, &RGB_BANDS))?;
    let augment = AugmentConfig {
        out_size: args.size,
        ..Default::default()
    };
    let era_items = Units::new(&series, SamplingUnit::EraItem);
    let views = SeasonalViews::new(
        &era_items,
        augment,
        caco::data::Normalization::Imagenet,
        DateDraw::Distinct,
    )?;
    let mut batches = paired_batches(series.locations.len(), args.batch_size, 0, 0, true)?;
    batches.truncate(args.batches + 1);
    let config = LoaderConfig {
        n_workers: args.workers,
        prefetch: 2,
        seed: 0,
    };
    let (mut start, mut n_items, mut i) = (None, 0usize, 0usize);
    for_each_batch(&views, &batches, 0, &config, |batch| {
        // Steady state: the clock starts when the first batch arrives, as in the Python reference.
        if i == 0 {
            start = Some(std::time::Instant::now());
        } else {
            n_items += batch.items.len();
        }
        i += 1;
        Ok(())
    })?;
    let seconds = start.map_or(0.0, |s| s.elapsed().as_secs_f64()).max(1e-9);
    println!(
        "images_per_s={:.1} items_per_s={:.1}",
        4.0 * n_items as f64 / seconds,
        n_items as f64 / seconds
    );
    Ok(())
}
