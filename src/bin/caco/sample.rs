//! `caco sample`: build a SeCo- or CACo-layout time series from open Sentinel-2 L2A data (`caco::sampling`); needs
//! internet; re-running continues where it stopped.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use caco::data::data_root;
use caco::data::timeseries::{Layout, SENTINEL2_BANDS};
use caco::sampling::cities::CityTable;
use caco::sampling::locations::{GeographySampler, SamplerConfig, SecoSampler};
use caco::sampling::run::{sample, SampleConfig};
use caco::sampling::schedule::ScheduleConfig;
use caco::sampling::stac::HttpStac;
use caco::sampling::{EARTH_SEARCH_COLLECTION, EARTH_SEARCH_URL};
use clap::ValueEnum;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LayoutArg {
    /// One era of dates per location
    Seco,
    /// Two eras (older, recent) per location
    Caco,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SamplerArg {
    /// SeCo's: a populous city plus a Gaussian offset
    Seco,
    /// The stratified urban / peri-urban / rural mix
    Geography,
}

/// The SeCo sampler's offset per axis when `--sigma-km` is not given.
const SIGMA_KM: f64 = 50.0;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Where the series is written (default: derived/sample-<layout>)
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = LayoutArg::Caco)]
    layout: LayoutArg,
    /// Location sampler (default: seco for the seco layout, geography for caco)
    #[arg(long, value_enum)]
    sampler: Option<SamplerArg>,
    /// Location folders to fill
    #[arg(long, value_name = "N", default_value_t = 100)]
    n_locations: usize,
    /// World-cities table (default: <data root>/world-cities/ne_10m_populated_places.geojson, from
    /// `caco data download world-cities`)
    #[arg(long, value_name = "FILE")]
    cities: Option<PathBuf>,
    /// Data root (default: $CACO_DATA, else ./data)
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Most populous cities drawn from
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    n_cities: usize,
    /// The seco sampler's offset per axis (default: 50)
    #[arg(long, value_name = "KM")]
    sigma_km: Option<f64>,
    /// Start year of each era (default: 2021 for the seco layout, 2019,2023 for caco)
    #[arg(long, value_name = "Y|Y1,Y2")]
    years: Option<String>,
    /// Search window around each date
    #[arg(long, value_name = "DAYS", default_value_t = ScheduleConfig::seco(2021).window_days)]
    window_days: u32,
    /// Patch side in 10 m pixels, a multiple of 6
    #[arg(long, value_name = "PX", default_value_t = 264)]
    size: usize,
    /// `all` (the 12 bands), `rgb` or a list such as B4,B3,B2
    #[arg(long, value_name = "all|rgb|B4,B3,..", default_value = "all")]
    bands: String,
    /// STAC API (default: Earth Search v1)
    #[arg(long, value_name = "URL", default_value = EARTH_SEARCH_URL)]
    stac_url: String,
    #[arg(long, value_name = "ID", default_value = EARTH_SEARCH_COLLECTION)]
    collection: String,
    /// Scene cloud limit of the search, percent
    #[arg(long, value_name = "PCT", default_value_t = 20.0)]
    max_scene_cloud: f64,
    /// Fraction of cloud, shadow and cirrus pixels (SCL 3, 8, 9, 10) allowed in a patch
    #[arg(long, value_name = "FRACTION", default_value_t = 0.1)]
    max_cloud: f64,
    /// Fraction of pixels without data allowed in a patch
    #[arg(long, value_name = "FRACTION", default_value_t = 0.0)]
    max_nodata: f64,
    /// Scenes tried per date before the location is resampled
    #[arg(long, value_name = "N", default_value_t = 3)]
    scenes_per_date: usize,
    /// Draws per location before it counts as failed
    #[arg(long, value_name = "N", default_value_t = 10)]
    max_attempts: usize,
    /// Locations sampled at once
    #[arg(long, value_name = "N", default_value_t = 4)]
    workers: usize,
    #[arg(long, value_name = "S", default_value_t = 0)]
    seed: u64,
    /// No progress output
    #[arg(long)]
    quiet: bool,
}

pub fn run(args: Args) -> Result<()> {
    let layout = match args.layout {
        LayoutArg::Caco => Layout::Caco,
        LayoutArg::Seco => Layout::Seco,
    };
    let layout_name = if layout == Layout::Caco { "caco" } else { "seco" };
    let out = args
        .out
        .unwrap_or_else(|| PathBuf::from(format!("derived/sample-{layout_name}")));
    let n_cities = args.n_cities;
    let sampler = match args.sampler.unwrap_or(match layout {
        Layout::Caco => SamplerArg::Geography,
        Layout::Seco | Layout::Ssl4eoS12 => SamplerArg::Seco,
    }) {
        SamplerArg::Seco => SamplerConfig::Seco(SecoSampler {
            n_cities,
            sigma_km: args.sigma_km.unwrap_or(SIGMA_KM),
        }),
        SamplerArg::Geography if args.sigma_km.is_some() => {
            bail!("--sigma-km is the seco sampler's; the geography sampler takes none")
        }
        SamplerArg::Geography => SamplerConfig::Geography(GeographySampler {
            n_cities,
            ..Default::default()
        }),
    };
    let mut schedule = match &args.years {
        Some(years) => {
            let years: Vec<i32> = years
                .split(',')
                .map(|y| y.trim().parse())
                .collect::<Result<_, _>>()
                .with_context(|| format!("--years `{years}`: one year, or two comma-separated"))?;
            ScheduleConfig {
                era_years: years,
                ..ScheduleConfig::seco(2021)
            }
        }
        None if layout == Layout::Seco => ScheduleConfig::seco(2021),
        None => ScheduleConfig::caco(2019, 2023),
    };
    schedule.window_days = args.window_days;
    let bands: Vec<String> = match args.bands.as_str() {
        "all" => SENTINEL2_BANDS.iter().map(|b| b.to_string()).collect(),
        "rgb" => ["B4", "B3", "B2"].iter().map(|b| b.to_string()).collect(),
        list => list.split(',').map(|b| b.trim().to_string()).collect(),
    };
    let cities_path = match args.cities {
        Some(path) => path,
        None => data_root(args.data_dir.as_deref())
            .join("world-cities")
            .join("ne_10m_populated_places.geojson"),
    };
    let config = SampleConfig {
        layout,
        sampler,
        schedule,
        size_px: args.size,
        bands,
        stac_url: args.stac_url,
        collection: args.collection,
        max_scene_cloud_percent: args.max_scene_cloud,
        max_cloud_fraction: args.max_cloud,
        max_nodata_fraction: args.max_nodata,
        seed: args.seed,
        cities: cities_path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        n_locations: args.n_locations,
        max_attempts: args.max_attempts,
        max_scenes_per_date: args.scenes_per_date,
        workers: args.workers,
    };
    let quiet = args.quiet;
    config.validate()?;
    let cities = CityTable::read(&cities_path)?;
    if !quiet {
        eprintln!(
            "sampling {} {layout_name}-layout locations into {} from {} ({} cities in {})",
            config.n_locations,
            out.display(),
            config.stac_url,
            cities.cities.len(),
            cities_path.display()
        );
    }
    let summary = sample(&out, &config, &cities, &HttpStac::new(&config.stac_url), quiet)?;
    eprint!("{summary}");
    if summary.sampled + summary.skipped == 0 && config.n_locations > 0 {
        bail!("no location could be sampled (see the failures above)");
    }
    Ok(())
}
