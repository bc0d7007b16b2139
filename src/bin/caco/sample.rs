//! `caco sample`: build a SeCo- or CACo-layout time series from open Sentinel-2 L2A data (`caco::sampling`).

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

use crate::Args;

fn number<T: std::str::FromStr>(args: &mut Args, name: &str, default: T) -> Result<T>
where
    T::Err: std::fmt::Display,
{
    match args.value(name)? {
        Some(v) => v.parse().map_err(|e| anyhow::anyhow!("{name} `{v}`: {e}")),
        None => Ok(default),
    }
}

pub(crate) fn run(mut args: Args) -> Result<()> {
    let layout = match args.value("--layout")?.as_deref() {
        None | Some("caco") => Layout::Caco,
        Some("seco") => Layout::Seco,
        Some(other) => bail!("--layout must be seco or caco, got `{other}`"),
    };
    let layout_name = if layout == Layout::Caco { "caco" } else { "seco" };
    let out = PathBuf::from(
        args.value("--out")?
            .unwrap_or_else(|| format!("derived/sample-{layout_name}")),
    );
    let n_cities = number(&mut args, "--n-cities", 10_000usize)?;
    let sampler = match args.value("--sampler")?.as_deref().unwrap_or(match layout {
        Layout::Seco => "seco",
        Layout::Caco => "geography",
    }) {
        "seco" => SamplerConfig::Seco(SecoSampler {
            n_cities,
            sigma_km: number(&mut args, "--sigma-km", 50.0)?,
        }),
        "geography" => SamplerConfig::Geography(GeographySampler {
            n_cities,
            ..Default::default()
        }),
        other => bail!("--sampler must be seco or geography, got `{other}`"),
    };
    let mut schedule = match args.value("--years")? {
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
    schedule.window_days = number(&mut args, "--window-days", schedule.window_days)?;
    let bands: Vec<String> = match args.value("--bands")?.as_deref() {
        None | Some("all") => SENTINEL2_BANDS.iter().map(|b| b.to_string()).collect(),
        Some("rgb") => ["B4", "B3", "B2"].iter().map(|b| b.to_string()).collect(),
        Some(list) => list.split(',').map(|b| b.trim().to_string()).collect(),
    };
    let data_dir = args.value("--data-dir")?.map(PathBuf::from);
    let cities_path = match args.value("--cities")? {
        Some(path) => PathBuf::from(path),
        None => data_root(data_dir.as_deref())
            .join("world-cities")
            .join("ne_10m_populated_places.geojson"),
    };
    let config = SampleConfig {
        layout,
        sampler,
        schedule,
        size_px: number(&mut args, "--size", 264)?,
        bands,
        stac_url: args.value("--stac-url")?.unwrap_or_else(|| EARTH_SEARCH_URL.into()),
        collection: args
            .value("--collection")?
            .unwrap_or_else(|| EARTH_SEARCH_COLLECTION.into()),
        max_scene_cloud_percent: number(&mut args, "--max-scene-cloud", 20.0)?,
        max_cloud_fraction: number(&mut args, "--max-cloud", 0.1)?,
        max_nodata_fraction: number(&mut args, "--max-nodata", 0.0)?,
        seed: number(&mut args, "--seed", 0)?,
        cities: cities_path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        n_locations: number(&mut args, "--n-locations", 100)?,
        max_attempts: number(&mut args, "--max-attempts", 10)?,
        max_scenes_per_date: number(&mut args, "--scenes-per-date", 3)?,
        workers: number(&mut args, "--workers", 4)?,
    };
    let quiet = args.switch("--quiet");
    args.finish()?;
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
