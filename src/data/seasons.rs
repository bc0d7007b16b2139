//! "eurosat-seasons": a simulated time series built from real EuroSAT RGB tiles, written in the CACo layout, so the
//! pre-training pipeline runs on CPU and CACo's change estimate can be checked against known truth. It is a test
//! bed, not real data. How it is made (also in the README and in the dataset's own README.md):
//!
//! 1. Locations: `n_locations` EuroSAT *train* tiles (seeded choice; val/test tiles never enter pre-training).
//! 2. Dates: two eras (`era_years`, default 2017 and 2021) of `dates_per_era` dates, `revisit_days` apart from a
//!    random day of the era's year (SeCo's schedule: 5 dates about 12 weeks apart).
//! 3. Seasons: with a per-location phase φ and s = sin(2π·doy/365.25 + φ), every band b of a date is
//!    `v·(1 + gain_b·s)·G + offset_b·s + O_b + n`, clamped to 0-255: a smooth yearly per-band gain/offset, a
//!    per-date illumination gain G ~ N(1, illumination_sigma), a per-date band offset O_b ~ N(0, band_offset_sigma)
//!    and per-pixel noise n ~ N(0, pixel_noise_sigma).
//! 4. Change: a seeded `changed_fraction` of locations get a true long-term change in the recent era: with
//!    probability `whole_tile_p` the whole tile is replaced by a train tile of another class, otherwise a random
//!    rectangle covering 20-70 % of it is. `truth.csv` lists every location with `changed` and `change_fraction`
//!    (replaced area / tile area); `<location>/change_mask.png` marks the replaced pixels (255).
//! 5. Coordinates: `n_geo_centres` centres drawn over Europe; each location is Gaussian around one of them
//!    (`geo_sigma_deg`), so GASSL's geo-cluster head has structure to learn.
//!
//! Bands are written as uint8 GeoTIFFs B4, B3, B2 (= the JPEG's R, G, B) with metadata.json per product.

use std::path::{Path, PathBuf};

use polars::prelude::*;
use rand::seq::{IndexedRandom, SliceRandom};
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Normal};
use serde::{Deserialize, Serialize};

use super::dates::Date;
use super::eurosat::Eurosat;
use super::timeseries::{write_product, ProductMetadata};
use super::Image;
use crate::progress::Progress;
use crate::{Error, Result};

/// Parameters of the simulation; [`Default`] is what `cargo xtask data simulate` builds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SeasonsConfig {
    /// Locations to build; `None`: every train tile.
    pub n_locations: Option<usize>,
    pub dates_per_era: usize,
    pub era_years: [i32; 2],
    pub revisit_days: i64,
    pub changed_fraction: f64,
    pub whole_tile_p: f64,
    /// Multiplicative yearly amplitude per band (R, G, B).
    pub season_gain: [f32; 3],
    /// Additive yearly amplitude per band (R, G, B), grey levels.
    pub season_offset: [f32; 3],
    pub illumination_sigma: f32,
    pub band_offset_sigma: f32,
    pub pixel_noise_sigma: f32,
    pub n_geo_centres: usize,
    pub geo_sigma_deg: f64,
    pub seed: u64,
}

impl Default for SeasonsConfig {
    fn default() -> Self {
        SeasonsConfig {
            n_locations: Some(2000),
            dates_per_era: 5,
            era_years: [2017, 2021],
            revisit_days: 84,
            changed_fraction: 0.3,
            whole_tile_p: 0.25,
            season_gain: [-0.10, 0.15, -0.05],
            season_offset: [-6.0, 0.0, -8.0],
            illumination_sigma: 0.04,
            band_offset_sigma: 2.0,
            pixel_noise_sigma: 1.5,
            n_geo_centres: 8,
            geo_sigma_deg: 0.5,
            seed: 0,
        }
    }
}

impl SeasonsConfig {
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Config(format!("eurosat-seasons: {m}")));
        if self.n_locations == Some(0) || self.dates_per_era == 0 || self.n_geo_centres == 0 {
            return bad("n_locations, dates_per_era and n_geo_centres must be > 0".into());
        }
        if !(0.0..=1.0).contains(&self.changed_fraction) || !(0.0..=1.0).contains(&self.whole_tile_p) {
            return bad(format!(
                "changed_fraction ({}) and whole_tile_p ({}) must be in [0, 1]",
                self.changed_fraction, self.whole_tile_p
            ));
        }
        if self.era_years[0] >= self.era_years[1] || self.revisit_days <= 0 {
            return bad(format!(
                "era_years {:?} must increase and revisit_days must be > 0",
                self.era_years
            ));
        }
        Ok(())
    }
}

/// The truth of one location.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TruthRow {
    pub location: String,
    pub changed: bool,
    pub change_fraction: f64,
    pub source_tile: String,
    pub replacement_tile: Option<String>,
    pub lon: f64,
    pub lat: f64,
    pub geo_centre: usize,
}

/// One location's plan, drawn up front from the global RNG so that the output does not depend on threads.
struct Plan {
    location: String,
    tile_idx: usize,
    /// Replacement tile and rectangle (top, left, height, width) for changed locations.
    change: Option<(usize, [usize; 4])>,
    lon: f64,
    lat: f64,
    geo_centre: usize,
    seed: u64,
}

/// Builds eurosat-seasons under `out` from the `train_indices` tiles of `eurosat`. Writes into `<out>.partial` and
/// renames at the end, so an interrupted run never leaves a half-built dataset behind.
pub fn simulate(
    eurosat: &Eurosat,
    train_indices: &[usize],
    out: &Path,
    config: &SeasonsConfig,
    quiet: bool,
) -> Result<Vec<TruthRow>> {
    config.validate()?;
    if eurosat.n_bands() != 3 {
        return Err(Error::Config("eurosat-seasons is built from EuroSAT RGB".into()));
    }
    let plans = plan(eurosat, train_indices, config)?;
    let partial = PathBuf::from(format!("{}.partial", out.display()));
    if partial.exists() {
        std::fs::remove_dir_all(&partial).map_err(|e| Error::io(&partial, e))?;
    }
    std::fs::create_dir_all(&partial).map_err(|e| Error::io(&partial, e))?;

    let progress = Progress::new(plans.len() as u64, "eurosat-seasons", "locations", quiet);
    let n_threads = std::thread::available_parallelism().map_or(2, |n| n.get()).min(8);
    crate::pool::try_parallel_map(&plans, n_threads, |p| {
        write_location(eurosat, p, &partial, config)?;
        progress.inc(1);
        Ok::<_, Error>(())
    })?;
    progress.finish();

    let truth: Vec<TruthRow> = plans
        .iter()
        .map(|p| TruthRow {
            location: p.location.clone(),
            changed: p.change.is_some(),
            change_fraction: p.change.map_or(0.0, |(_, [_, _, h, w])| (h * w) as f64 / (64.0 * 64.0)),
            source_tile: eurosat.samples[p.tile_idx].rel_path.clone(),
            replacement_tile: p.change.map(|(idx, _)| eurosat.samples[idx].rel_path.clone()),
            lon: p.lon,
            lat: p.lat,
            geo_centre: p.geo_centre,
        })
        .collect();
    write_truth(&truth, &partial.join("truth.csv"))?;
    let meta = format!(
        "# eurosat-seasons: SIMULATED time series built by caco from real EuroSAT RGB tiles ({}).\n\
         # Not real data: see src/data/seasons.rs and the README for how it is made.\n{}",
        eurosat.root.display(),
        toml::to_string(config).expect("config serialises")
    );
    std::fs::write(partial.join("simulation.toml"), meta).map_err(|e| Error::io(&partial, e))?;
    if out.exists() {
        std::fs::remove_dir_all(out).map_err(|e| Error::io(out, e))?;
    }
    std::fs::rename(&partial, out).map_err(|e| Error::io(out, e))?;
    Ok(truth)
}

/// Whether `out` already holds a complete set built with `config`.
pub fn is_built(out: &Path, config: &SeasonsConfig) -> bool {
    stored_config_is(&out.join("simulation.toml"), config) && out.join("truth.csv").is_file()
}

/// Whether the TOML at `path` (comment lines skipped) parses as a config equal to `config`: how a derived set
/// recognises that it was built with the same settings.
pub(crate) fn stored_config_is<T: serde::de::DeserializeOwned + PartialEq>(path: &Path, config: &T) -> bool {
    let Ok(text) = std::fs::read_to_string(path) else {
        return false;
    };
    let body: String = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect();
    toml::from_str::<T>(&body).is_ok_and(|c| &c == config)
}

fn plan(eurosat: &Eurosat, train_indices: &[usize], config: &SeasonsConfig) -> Result<Vec<Plan>> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(config.seed);
    let mut tiles = train_indices.to_vec();
    tiles.shuffle(&mut rng);
    let n = config.n_locations.unwrap_or(tiles.len());
    if n > tiles.len() {
        return Err(Error::Config(format!(
            "eurosat-seasons: {n} locations asked, only {} train tiles",
            tiles.len()
        )));
    }
    tiles.truncate(n);
    let n_changed = (config.changed_fraction * n as f64).round() as usize;
    let mut changed = vec![false; n];
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut rng);
    order[..n_changed].iter().for_each(|&i| changed[i] = true);
    let centres: Vec<(f64, f64)> = (0..config.n_geo_centres)
        .map(|_| (rng.random_range(-10.0..30.0), rng.random_range(36.0..60.0)))
        .collect();
    let geo = Normal::new(0.0, config.geo_sigma_deg).map_err(|e| Error::Config(format!("geo_sigma_deg: {e}")))?;
    tiles
        .iter()
        .enumerate()
        .map(|(k, &tile_idx)| {
            let geo_centre = rng.random_range(0..centres.len());
            let (clon, clat) = centres[geo_centre];
            let lat = clat + geo.sample(&mut rng);
            let lon = clon + geo.sample(&mut rng) / lat.to_radians().cos();
            let change = if changed[k] {
                let class = eurosat.samples[tile_idx].class_idx;
                let others: Vec<usize> = train_indices
                    .iter()
                    .copied()
                    .filter(|&i| eurosat.samples[i].class_idx != class)
                    .collect();
                let replacement = *others.choose(&mut rng).ok_or_else(|| {
                    Error::Config("eurosat-seasons: change needs tiles of at least two classes".into())
                })?;
                Some((replacement, change_rectangle(&mut rng, config.whole_tile_p)))
            } else {
                None
            };
            Ok(Plan {
                location: format!("{k:06}"),
                tile_idx,
                change,
                lon,
                lat,
                geo_centre,
                seed: rng.random(),
            })
        })
        .collect()
}

/// (top, left, height, width) on a 64x64 tile: the whole tile with probability `whole_p`, else a rectangle of
/// 20-70 % of the area with aspect ratio between 1:2 and 2:1.
fn change_rectangle(rng: &mut impl Rng, whole_p: f64) -> [usize; 4] {
    const S: f64 = 64.0;
    if rng.random_bool(whole_p) {
        return [0, 0, 64, 64];
    }
    let area = rng.random_range(0.2..0.7) * S * S;
    let aspect = (rng.random_range(0.5f64.ln()..2f64.ln())).exp();
    let h = ((area * aspect).sqrt().round() as usize).clamp(8, 64);
    let w = ((area / h as f64).round() as usize).clamp(8, 64);
    [rng.random_range(0..=64 - h), rng.random_range(0..=64 - w), h, w]
}

/// Era dates: `dates_per_era` dates `revisit_days` apart from a random day of the era's year.
fn schedule(rng: &mut impl Rng, year: i32, config: &SeasonsConfig) -> Vec<Date> {
    let start = Date { year, month: 1, day: 1 }.add_days(rng.random_range(0..365));
    (0..config.dates_per_era)
        .map(|k| start.add_days(config.revisit_days * k as i64))
        .collect()
}

/// The seasonal appearance of `base` on `date` (see the module docs).
fn season_view(base: &Image, date: Date, phase: f64, config: &SeasonsConfig, rng: &mut impl Rng) -> Image {
    let s = (std::f64::consts::TAU * date.day_of_year() as f64 / 365.25 + phase).sin() as f32;
    let gain = 1.0 + config.illumination_sigma * sample_std_normal(rng);
    let noise = Normal::new(0.0f32, config.pixel_noise_sigma.max(1e-6)).expect("valid sigma");
    let mut out = base.clone();
    let n = base.height * base.width;
    for (b, band) in out.data.chunks_mut(n).enumerate() {
        let mul = (1.0 + config.season_gain[b] * s) * gain;
        let add = config.season_offset[b] * s + config.band_offset_sigma * sample_std_normal(rng);
        for v in band.iter_mut() {
            *v = (*v * mul + add + noise.sample(rng)).clamp(0.0, 255.0).round();
        }
    }
    out
}

fn sample_std_normal(rng: &mut impl Rng) -> f32 {
    rand_distr::StandardNormal.sample(rng)
}

fn write_location(eurosat: &Eurosat, plan: &Plan, root: &Path, config: &SeasonsConfig) -> Result<()> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(plan.seed);
    let older = eurosat.load(plan.tile_idx)?;
    let mut recent = older.clone();
    let mut mask = vec![0u8; 64 * 64];
    if let Some((replacement_idx, [top, left, h, w])) = plan.change {
        let replacement = eurosat.load(replacement_idx)?;
        for b in 0..3 {
            for row in top..top + h {
                let start = b * 4096 + row * 64 + left;
                recent.data[start..start + w].copy_from_slice(&replacement.data[start..start + w]);
            }
        }
        for row in top..top + h {
            mask[row * 64 + left..row * 64 + left + w].fill(255);
        }
    }
    let loc_dir = root.join(&plan.location);
    std::fs::create_dir_all(&loc_dir).map_err(|e| Error::io(&loc_dir, e))?;
    let mask_path = loc_dir.join("change_mask.png");
    image::GrayImage::from_raw(64, 64, mask)
        .expect("64x64 mask")
        .save(&mask_path)
        .map_err(|e| Error::bad_input(&mask_path, format!("cannot write PNG: {e}")))?;
    let phase = rng.random_range(0.0..std::f64::consts::TAU);
    for (era, base) in [&older, &recent].into_iter().enumerate() {
        for date in schedule(&mut rng, config.era_years[era], config) {
            let view = season_view(base, date, phase, config, &mut rng);
            let id = format!(
                "{}T103021_{}T103021_SIM{}",
                date.compact(),
                date.compact(),
                plan.location
            );
            let meta = ProductMetadata {
                product_id: id.clone(),
                date,
                lon: plan.lon,
                lat: plan.lat,
                cloud_fraction: Some(0.0),
            };
            // B4, B3, B2 = R, G, B.
            let bands: Vec<(&str, Image)> = ["B4", "B3", "B2"]
                .iter()
                .enumerate()
                .map(|(b, name)| {
                    (
                        *name,
                        Image {
                            n_bands: 1,
                            height: 64,
                            width: 64,
                            data: view.band(b).to_vec(),
                        },
                    )
                })
                .collect();
            write_product(&loc_dir.join(&id), &meta, &bands)?;
        }
    }
    Ok(())
}

fn write_truth(rows: &[TruthRow], path: &Path) -> Result<()> {
    let df = DataFrame::new_infer_height(vec![
        Column::new(
            "location".into(),
            rows.iter().map(|r| r.location.clone()).collect::<Vec<_>>(),
        ),
        Column::new("changed".into(), rows.iter().map(|r| r.changed).collect::<Vec<_>>()),
        Column::new(
            "change_fraction".into(),
            rows.iter().map(|r| r.change_fraction).collect::<Vec<_>>(),
        ),
        Column::new(
            "source_tile".into(),
            rows.iter().map(|r| r.source_tile.clone()).collect::<Vec<_>>(),
        ),
        Column::new(
            "replacement_tile".into(),
            rows.iter()
                .map(|r| r.replacement_tile.clone().unwrap_or_default())
                .collect::<Vec<_>>(),
        ),
        Column::new("lon".into(), rows.iter().map(|r| r.lon).collect::<Vec<_>>()),
        Column::new("lat".into(), rows.iter().map(|r| r.lat).collect::<Vec<_>>()),
        Column::new(
            "geo_centre".into(),
            rows.iter().map(|r| r.geo_centre as i64).collect::<Vec<_>>(),
        ),
    ])?;
    crate::results::writer::write_csv(&df, path)
}

/// Reads `truth.csv` back.
pub fn read_truth(path: &Path) -> Result<Vec<TruthRow>> {
    let df = crate::results::writer::read_csv(path)?;
    let bad = |e: PolarsError| Error::bad_input(path, format!("not a eurosat-seasons truth file: {e}"));
    let str_col = |name: &str| -> Result<Vec<String>> {
        let c = df.column(name).map_err(bad)?;
        (0..df.height())
            .map(|i| Ok(c.get(i).map_err(bad)?.str_value().to_string()))
            .collect()
    };
    let f64_col = |name: &str| -> Result<Vec<f64>> {
        let c = df.column(name).map_err(bad)?;
        (0..df.height())
            .map(|i| Ok(c.get(i).map_err(bad)?.extract::<f64>().unwrap_or(f64::NAN)))
            .collect()
    };
    let (locations, sources, replacements) = (
        str_col("location")?,
        str_col("source_tile")?,
        str_col("replacement_tile")?,
    );
    let (fractions, lons, lats, centres) = (
        f64_col("change_fraction")?,
        f64_col("lon")?,
        f64_col("lat")?,
        f64_col("geo_centre")?,
    );
    let changed = str_col("changed")?;
    Ok((0..df.height())
        .map(|i| TruthRow {
            // Locations are zero-padded names; CSV inference may read them as integers.
            location: format!("{:0>6}", locations[i]),
            changed: changed[i] == "true",
            change_fraction: fractions[i],
            source_tile: sources[i].clone(),
            replacement_tile: (!replacements[i].is_empty() && replacements[i] != "null")
                .then(|| replacements[i].clone()),
            lon: lons[i],
            lat: lats[i],
            geo_centre: centres[i] as usize,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::eurosat::EurosatVariant;
    use crate::data::fake::eurosat::{write_eurosat_rgb, FakeEurosat};
    use crate::data::timeseries::{Layout, TimeSeries, TimeSeriesOptions, RGB_BANDS};

    fn source(dir: &Path) -> (Eurosat, Vec<usize>) {
        let spec = FakeEurosat {
            classes: vec!["A".into(), "B".into(), "C".into()],
            n_per_class: 8,
            seed: 2,
            variant: EurosatVariant::Rgb,
        };
        write_eurosat_rgb(&dir.join("eurosat"), &spec).unwrap();
        let ds = Eurosat::open(dir.join("eurosat"), EurosatVariant::Rgb).unwrap();
        let all = (0..ds.len()).collect();
        (ds, all)
    }

    fn config() -> SeasonsConfig {
        SeasonsConfig {
            n_locations: Some(12),
            changed_fraction: 0.5,
            whole_tile_p: 0.0,
            ..Default::default()
        }
    }

    fn mean_abs_diff(a: &[f32], b: &[f32], mask: &[bool], inside: bool) -> f32 {
        let (sum, n) = a
            .iter()
            .zip(b)
            .zip(mask)
            .filter(|(_, &m)| m == inside)
            .fold((0.0, 0), |(s, n), ((x, y), _)| (s + (x - y).abs(), n + 1));
        sum / n.max(1) as f32
    }

    #[test]
    fn builds_a_caco_layout_with_truth_masks_and_clustered_coordinates() {
        let dir = tempfile::tempdir().unwrap();
        let (ds, train) = source(dir.path());
        let out = dir.path().join("eurosat-seasons");
        let truth = simulate(&ds, &train, &out, &config(), true).unwrap();
        assert!(is_built(&out, &config()));
        assert!(!is_built(&out, &SeasonsConfig { seed: 1, ..config() }));
        assert_eq!(read_truth(&out.join("truth.csv")).unwrap(), truth);
        assert_eq!(truth.iter().filter(|t| t.changed).count(), 6);

        let ts = TimeSeries::open(&out, TimeSeriesOptions::new(Layout::Caco, &RGB_BANDS)).unwrap();
        assert_eq!(ts.n_items(), 24);
        for (k, t) in truth.iter().enumerate() {
            let (older, recent) = (ts.item_products(2 * k), ts.item_products(2 * k + 1));
            assert_eq!((older[0].date.year, recent[0].date.year), (2017, 2021));
            assert!(older
                .windows(2)
                .all(|w| w[1].date.to_days() - w[0].date.to_days() == 84));
            let (lon, lat) = ts.coordinates(2 * k);
            assert!((lon - t.lon).abs() < 1e-9 && (lat - t.lat).abs() < 1e-9);

            let mask_img = image::open(out.join(&t.location).join("change_mask.png"))
                .unwrap()
                .into_luma8();
            let mask: Vec<bool> = mask_img.as_raw().iter().map(|&v| v == 255).collect();
            let n_masked = mask.iter().filter(|&&m| m).count() as f64;
            assert!((n_masked / 4096.0 - t.change_fraction).abs() < 1e-9);
            assert_eq!(t.changed, n_masked > 0.0);
            if t.changed {
                assert!((0.19..0.72).contains(&t.change_fraction), "{}", t.change_fraction);
                // Same season index in both eras: inside the mask the place changed, outside only season and noise.
                let (a, b) = (ts.load(&older[0]).unwrap(), ts.load(&recent[0]).unwrap());
                let (mut inside, mut outside) = (0.0, 0.0);
                for band in 0..3 {
                    inside += mean_abs_diff(a.band(band), b.band(band), &mask, true);
                    outside += mean_abs_diff(a.band(band), b.band(band), &mask, false);
                }
                assert!(
                    inside > outside + 5.0,
                    "location {}: inside {inside}, outside {outside}",
                    t.location
                );
            }
        }
        // Coordinates cluster: every location within 3 sigma (in latitude) of the mean of its centre group.
        for centre in 0..8 {
            let lats: Vec<f64> = truth.iter().filter(|t| t.geo_centre == centre).map(|t| t.lat).collect();
            if lats.len() > 1 {
                let mean = lats.iter().sum::<f64>() / lats.len() as f64;
                assert!(lats.iter().all(|l| (l - mean).abs() < 3.0), "{lats:?}");
            }
        }
    }

    #[test]
    fn seasonal_appearance_changes_within_an_era_of_an_unchanged_location() {
        let dir = tempfile::tempdir().unwrap();
        let (ds, train) = source(dir.path());
        let out = dir.path().join("s");
        let cfg = SeasonsConfig {
            changed_fraction: 0.0,
            pixel_noise_sigma: 0.0,
            band_offset_sigma: 0.0,
            illumination_sigma: 0.0,
            ..config()
        };
        simulate(&ds, &train, &out, &cfg, true).unwrap();
        let ts = TimeSeries::open(&out, TimeSeriesOptions::new(Layout::Caco, &RGB_BANDS)).unwrap();
        // Green gain +0.15 with the yearly cycle: green's mean over the 5 dates of an era varies by several levels.
        let means: Vec<f32> = ts
            .item_products(0)
            .iter()
            .map(|p| {
                let img = ts.load(p).unwrap();
                img.band(1).iter().sum::<f32>() / 4096.0
            })
            .collect();
        let spread = means.iter().cloned().fold(f32::MIN, f32::max) - means.iter().cloned().fold(f32::MAX, f32::min);
        assert!(spread > 5.0, "green means over the year {means:?}");
    }

    #[test]
    fn deterministic_for_a_seed() {
        let dir = tempfile::tempdir().unwrap();
        let (ds, train) = source(dir.path());
        let (a, b, c) = (dir.path().join("a"), dir.path().join("b"), dir.path().join("c"));
        let ta = simulate(&ds, &train, &a, &config(), true).unwrap();
        let tb = simulate(&ds, &train, &b, &config(), true).unwrap();
        assert_eq!(ta, tb);
        let file = |root: &Path| {
            let ts = TimeSeries::open(root, TimeSeriesOptions::new(Layout::Caco, &RGB_BANDS)).unwrap();
            ts.load(&ts.item_products(5)[3]).unwrap()
        };
        assert_eq!(file(&a), file(&b));
        let tc = simulate(&ds, &train, &c, &SeasonsConfig { seed: 9, ..config() }, true).unwrap();
        assert_ne!(ta, tc);
    }

    #[test]
    fn bad_configs_are_rejected() {
        assert!(SeasonsConfig {
            changed_fraction: 1.5,
            ..Default::default()
        }
        .validate()
        .is_err());
        assert!(SeasonsConfig {
            n_locations: Some(0),
            ..Default::default()
        }
        .validate()
        .is_err());
        let dir = tempfile::tempdir().unwrap();
        let (ds, train) = source(dir.path());
        let msg = simulate(
            &ds,
            &train,
            &dir.path().join("x"),
            &SeasonsConfig {
                n_locations: Some(100),
                ..config()
            },
            true,
        )
        .unwrap_err()
        .to_string();
        assert!(msg.contains("100 locations asked, only 24"), "{msg}");
    }
}
