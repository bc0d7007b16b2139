//! The sampling loop: for each location slot, draw a location and its dates, search each date's window, read the
//! least cloudy scenes until one passes the per-pixel check, and write the location; a location with a date that no
//! scene satisfies is resampled (a new draw for the same slot, as SeCo does), up to `max_attempts` draws. Slots run
//! on `workers` threads. Every slot's draws come from (seed, slot, attempt), so a re-run draws the same locations
//! and skips the slots already written (see [`super::layout`]).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use rand::SeedableRng;
use serde::{Deserialize, Serialize};

use super::cities::CityTable;
use super::cog::{configure_gdal_http, read_patch, PatchSpec};
use super::layout::{self, LocationState, ProductPatch, SampledProduct};
use super::locations::{offset_point, LocationSampler, SampledLocation, SamplerConfig};
use super::schedule::ScheduleConfig;
use super::stac::{candidates, SearchRequest, StacApi};
use super::{asset_key, SCL_ASSET};
use crate::data::dates::Date;
use crate::data::timeseries::{band_resolution, Layout};
use crate::progress::Progress;
use crate::{Error, Result};

/// Everything that decides what is sampled, plus how hard to try.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SampleConfig {
    pub layout: Layout,
    pub sampler: SamplerConfig,
    pub schedule: ScheduleConfig,
    /// Patch side in 10 m pixels (a multiple of 6; SeCo: 264).
    pub size_px: usize,
    /// Bands in SeCo's naming (`B1`..`B12`, `B8A`).
    pub bands: Vec<String>,
    pub stac_url: String,
    pub collection: String,
    /// Scene cloud limit sent with the search (`eo:cloud_cover`, percent; SeCo: 10).
    pub max_scene_cloud_percent: f64,
    /// Largest share of cloud pixels (SCL 3, 8, 9, 10) in the patch.
    pub max_cloud_fraction: f64,
    /// Largest share of pixels without data.
    pub max_nodata_fraction: f64,
    pub seed: u64,
    /// The city table's file name, recorded so a re-run notices another table.
    pub cities: String,
    /// Location slots to fill (not part of the recorded settings: a re-run may ask for more).
    #[serde(skip)]
    pub n_locations: usize,
    /// Draws per slot before it counts as failed.
    #[serde(skip)]
    pub max_attempts: usize,
    /// Scenes tried per date before the draw is given up.
    #[serde(skip)]
    pub max_scenes_per_date: usize,
    /// Slots sampled at once (threads).
    #[serde(skip)]
    pub workers: usize,
}

impl SampleConfig {
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Config(format!("sample: {m}")));
        self.sampler.validate()?;
        self.schedule.validate()?;
        let eras = match self.layout {
            Layout::Seco => 1,
            Layout::Caco => 2,
            Layout::Ssl4eoS12 => return bad("the sampler writes the seco or caco layout, not ssl4eo-s12".into()),
        };
        if self.schedule.era_years.len() != eras {
            return bad(format!(
                "the {} layout needs {eras} era year(s), got {:?}",
                self.layout.name(), self.schedule.era_years
            ));
        }
        if self.size_px == 0 || self.size_px % 6 != 0 {
            return bad(format!(
                "size_px must be a positive multiple of 6 (so 20 m and 60 m pixels tile the patch), got {}",
                self.size_px
            ));
        }
        if self.bands.is_empty() {
            return bad("no bands".into());
        }
        if let Some(b) = self
            .bands
            .iter()
            .find(|b| asset_key(b).is_none() || band_resolution(b).is_none())
        {
            return bad(format!("unknown Sentinel-2 band `{b}`"));
        }
        for (name, v) in [
            ("max_cloud_fraction", self.max_cloud_fraction),
            ("max_nodata_fraction", self.max_nodata_fraction),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return bad(format!("{name} must be in [0, 1], got {v}"));
            }
        }
        if !(0.0..=100.0).contains(&self.max_scene_cloud_percent) {
            return bad(format!(
                "max_scene_cloud_percent must be in [0, 100], got {}",
                self.max_scene_cloud_percent
            ));
        }
        if self.max_attempts == 0 || self.max_scenes_per_date == 0 || self.workers == 0 {
            return bad("max_attempts, max_scenes_per_date and workers must be > 0".into());
        }
        Ok(())
    }

    fn patch_spec(&self) -> PatchSpec {
        PatchSpec {
            size_px: self.size_px,
            bands: self.bands.clone(),
            max_cloud_fraction: self.max_cloud_fraction,
            max_nodata_fraction: self.max_nodata_fraction,
        }
    }
}

/// Why one draw of a slot failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum FailureKind {
    /// No scene under the scene cloud limit in a date's window.
    NoScene,
    /// Scenes were found, but every one tried was cloudy, without data or did not cover the patch.
    Rejected,
    /// The STAC search failed.
    Search,
    /// A scene could not be read.
    Read,
}

impl std::fmt::Display for FailureKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            FailureKind::NoScene => "no scene under the cloud limit",
            FailureKind::Rejected => "every scene tried was cloudy, without data or too small",
            FailureKind::Search => "STAC search failed",
            FailureKind::Read => "scene could not be read",
        })
    }
}

/// What a run did.
#[derive(Debug, Clone, Default)]
pub struct SampleSummary {
    /// Slots written by this run.
    pub sampled: usize,
    /// Slots found complete and left alone.
    pub skipped: usize,
    /// Slots still empty after `max_attempts` draws.
    pub failed: usize,
    /// Draws given up and redrawn (in sampled and failed slots alike).
    pub resampled: usize,
    /// Per kind of failed draw: how many, and the first message.
    pub failures: BTreeMap<FailureKind, (usize, String)>,
    /// Slot folders this sampler did not write, left alone.
    pub foreign: Vec<String>,
    pub partials_removed: usize,
    pub root: PathBuf,
}

impl std::fmt::Display for SampleSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "{}: {} locations sampled, {} already there (skipped), {} failed; {} draws resampled",
            self.root.display(),
            self.sampled,
            self.skipped,
            self.failed,
            self.resampled
        )?;
        if self.partials_removed > 0 {
            writeln!(
                f,
                "  removed {} unfinished location folders of an earlier run",
                self.partials_removed
            )?;
        }
        for (kind, (n, example)) in &self.failures {
            writeln!(f, "  {n} draws failed: {kind} (first: {example})")?;
        }
        for m in &self.foreign {
            writeln!(f, "  left alone: {m}")?;
        }
        Ok(())
    }
}

struct Failure {
    kind: FailureKind,
    message: String,
}

/// The per-slot seed: SplitMix64 over (seed, slot, attempt).
fn draw_seed(seed: u64, slot: usize, attempt: usize) -> u64 {
    let mut z =
        seed ^ (slot as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (attempt as u64).wrapping_mul(0xD1B5_4A32_D192_ED03);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The draws of slot `slot`, attempt `attempt`: where and when.
pub fn draw(
    config: &SampleConfig,
    sampler: &LocationSampler,
    slot: usize,
    attempt: usize,
) -> (SampledLocation, Vec<Vec<Date>>) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(draw_seed(config.seed, slot, attempt));
    let location = sampler.sample(&mut rng);
    let eras = config.schedule.draw(&mut rng);
    (location, eras)
}

/// Samples into `root`: every slot `0..n_locations` not yet complete. Errors are reserved for what stops the whole
/// run (bad settings, a folder that cannot be written); failed draws end up in the summary.
pub fn sample(
    root: &std::path::Path,
    config: &SampleConfig,
    cities: &CityTable,
    stac: &dyn StacApi,
    quiet: bool,
) -> Result<SampleSummary> {
    config.validate()?;
    configure_gdal_http()?;
    let sampler = LocationSampler::new(config.sampler.clone(), cities)?;
    std::fs::create_dir_all(root).map_err(|e| Error::io(root, e))?;
    layout::check_settings(root, &serde_json::to_value(config).expect("settings serialise"))?;
    let mut summary = SampleSummary {
        root: root.to_path_buf(),
        partials_removed: layout::remove_partials(root)?,
        ..Default::default()
    };
    let dates_needed = config.schedule.era_years.len() * config.schedule.dates_per_era;
    let mut pending = Vec::new();
    for slot in 0..config.n_locations {
        match layout::location_state(root, slot, dates_needed) {
            LocationState::Missing => pending.push(slot),
            LocationState::Complete => summary.skipped += 1,
            LocationState::Foreign(m) => summary.foreign.push(m),
        }
    }

    let progress = Progress::new(pending.len() as u64, "sample", "locations", quiet);
    let n_failed = AtomicUsize::new(0);
    let outcomes = crate::pool::parallel_map(&pending, config.workers, |&slot| {
        let (outcome, failures) = sample_slot(root, config, &sampler, stac, slot);
        if matches!(outcome, Ok(false)) {
            n_failed.fetch_add(1, Ordering::SeqCst);
        }
        progress.inc(1);
        progress.set_status(&format!("{} failed", n_failed.load(Ordering::SeqCst)));
        outcome.map(|written| (written, failures))
    });
    progress.finish();
    // Merged in slot order; a fatal error (the first in slot order) ends the run.
    for outcome in outcomes.into_iter().flatten() {
        let (written, failures) = outcome?;
        // A failed draw is resampled unless it was the slot's last.
        let last_failed = !written as usize;
        summary.resampled += failures.len() - last_failed.min(failures.len());
        for f in failures {
            let entry = summary.failures.entry(f.kind).or_insert((0, f.message.clone()));
            entry.0 += 1;
        }
        if written {
            summary.sampled += 1;
        } else {
            summary.failed += 1;
        }
    }
    Ok(summary)
}

/// One slot: up to `max_attempts` draws. `Ok(true)` written, `Ok(false)` every draw failed, `Err` fatal.
fn sample_slot(
    root: &std::path::Path,
    config: &SampleConfig,
    sampler: &LocationSampler,
    stac: &dyn StacApi,
    slot: usize,
) -> (Result<bool>, Vec<Failure>) {
    let mut failures = Vec::new();
    for attempt in 0..config.max_attempts {
        let (location, eras) = draw(config, sampler, slot, attempt);
        match sample_draw(config, stac, &location, &eras) {
            Ok(products) => return (layout::write_location(root, slot, &products).map(|_| true), failures),
            Err(f) => failures.push(f),
        }
    }
    (Ok(false), failures)
}

/// The lon/lat box (west, south, east, north) around a patch of `size_px` 10 m pixels centred on (lon, lat).
pub fn patch_bbox(lon: f64, lat: f64, size_px: usize) -> [f64; 4] {
    let half_km = size_px as f64 * 10.0 / 2000.0;
    let (w, s) = offset_point(lon, lat, -half_km, -half_km);
    let (e, n) = offset_point(lon, lat, half_km, half_km);
    [w, s, e, n]
}

/// One draw: every date of every era, or the first failure.
fn sample_draw(
    config: &SampleConfig,
    stac: &dyn StacApi,
    location: &SampledLocation,
    eras: &[Vec<Date>],
) -> std::result::Result<Vec<ProductPatch>, Failure> {
    let spec = config.patch_spec();
    let mut needed: Vec<&str> = config.bands.iter().filter_map(|b| asset_key(b)).collect();
    needed.push(SCL_ASSET);
    let at = |date: Date| format!("({:.4}, {:.4}) around {date}", location.lon, location.lat);
    let mut products = Vec::new();
    for (era, dates) in eras.iter().enumerate() {
        for &date in dates {
            let window = config.schedule.window(date);
            let request = SearchRequest::new(
                &config.collection,
                patch_bbox(location.lon, location.lat, config.size_px),
                window,
                config.max_scene_cloud_percent,
            );
            let found = stac.search(&request).map_err(|e| Failure {
                kind: FailureKind::Search,
                message: format!("{}: {e}", at(date)),
            })?;
            let scenes = candidates(&found.features, &needed, config.max_scene_cloud_percent, date);
            if scenes.is_empty() {
                return Err(Failure {
                    kind: FailureKind::NoScene,
                    message: format!("{} ({} items found)", at(date), found.features.len()),
                });
            }
            let mut reasons = Vec::new();
            let mut read_errors = 0;
            let mut accepted = None;
            for item in scenes.into_iter().take(config.max_scenes_per_date) {
                match read_patch(item, location.lon, location.lat, &spec) {
                    Ok(Ok(patch)) => {
                        accepted = Some((item, patch));
                        break;
                    }
                    Ok(Err(rejection)) => reasons.push(format!("{}: {rejection}", item.id)),
                    Err(e) => {
                        read_errors += 1;
                        reasons.push(format!("{}: {e}", item.id));
                    }
                }
            }
            let Some((item, patch)) = accepted else {
                return Err(Failure {
                    kind: if read_errors == reasons.len() {
                        FailureKind::Read
                    } else {
                        FailureKind::Rejected
                    },
                    message: format!("{}: {}", at(date), reasons.join("; ")),
                });
            };
            let meta = SampledProduct {
                product_id: item.product_id(),
                date: item.date().unwrap_or(date),
                lon: location.lon,
                lat: location.lat,
                cloud_fraction: Some(patch.cloud_fraction),
                nodata_fraction: patch.nodata_fraction,
                item_id: item.id.clone(),
                scene_cloud_cover: item.properties.cloud_cover,
                era,
                target_date: date,
                window: [window.0, window.1],
                location: location.clone(),
                crs_wkt: patch.crs_wkt,
                epsg: patch.epsg,
                geo_transform: patch.geo_transform,
                size_px: config.size_px,
                radiometry: patch.radiometry,
                stac_url: config.stac_url.clone(),
                collection: config.collection.clone(),
            };
            products.push(ProductPatch {
                folder: item.folder_name(),
                meta,
                bands: patch.bands,
            });
        }
    }
    Ok(products)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draw_seeds_differ_by_slot_and_attempt() {
        let seeds: std::collections::HashSet<u64> = (0..50)
            .flat_map(|slot| (0..5).map(move |attempt| draw_seed(7, slot, attempt)))
            .collect();
        assert_eq!(seeds.len(), 250);
        assert_eq!(draw_seed(7, 3, 1), draw_seed(7, 3, 1));
        assert_ne!(draw_seed(7, 3, 1), draw_seed(8, 3, 1));
    }
}
