//! The simulated series `eurosat-seasons` ([`super::seasons`]) exported as a bi-temporal change set in the LEVIR-CD
//! layout ([`super::change`]): an older-era date, a recent-era date and the location's known change mask, so the
//! change-detection benchmark reads simulated and real sets with one reader.

use std::path::{Path, PathBuf};

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use super::change::ChangeLayout;
use super::image_io::{load_binary_mask, write_binary_mask, write_rgb_png};
use super::split::{self, Splits};
use super::timeseries::{Layout, TimeSeries, TimeSeriesOptions, RGB_BANDS};
use crate::{Error, Result};

/// How [`export_seasons`] turns eurosat-seasons into change pairs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SeasonsExport {
    /// Locations to export (the first ones); `None`: all.
    pub n_locations: Option<usize>,
    pub train_fraction: f64,
    pub val_fraction: f64,
    /// Seed of the date choice and of the split.
    pub seed: u64,
}

impl Default for SeasonsExport {
    fn default() -> Self {
        SeasonsExport {
            n_locations: None,
            train_fraction: 0.6,
            val_fraction: 0.2,
            seed: 42,
        }
    }
}

/// Whether `out` already holds an export of `series_root` with `config`.
pub fn seasons_export_is_built(out: &Path, config: &SeasonsExport) -> bool {
    super::seasons::stored_config_is(&out.join("export.toml"), config) && out.join("list/test.txt").is_file()
}

/// Exports the simulated series `eurosat-seasons` (CACo layout, `<location>/change_mask.png`) as a LEVIR-CD-layout
/// change set under `out`: for each location, a seeded older-era date as `A/<location>.png`, a seeded recent-era
/// date as `B/<location>.png` and the truth mask as `label/<location>.png`; a seeded split of the locations into
/// `list/{train,val,test}.txt`. Writes into `<out>.partial` and renames at the end. Returns the number of pairs.
pub fn export_seasons(series_root: &Path, out: &Path, config: &SeasonsExport) -> Result<usize> {
    if !(config.train_fraction > 0.0 && config.val_fraction >= 0.0 && config.train_fraction + config.val_fraction < 1.0)
    {
        return Err(Error::Config(format!(
            "seasons export: need 0 < train, 0 <= val, train + val < 1; got {} and {}",
            config.train_fraction, config.val_fraction
        )));
    }
    let series = TimeSeries::open(series_root, TimeSeriesOptions::new(Layout::Caco, &RGB_BANDS))?;
    let n = config
        .n_locations
        .unwrap_or(series.locations.len())
        .min(series.locations.len());
    let partial = PathBuf::from(format!("{}.partial", out.display()));
    if partial.exists() {
        std::fs::remove_dir_all(&partial).map_err(|e| Error::io(&partial, e))?;
    }
    let layout = ChangeLayout::default();
    for dir in [&layout.a_dir, &layout.b_dir, &layout.label_dir] {
        let path = partial.join(dir);
        std::fs::create_dir_all(&path).map_err(|e| Error::io(&path, e))?;
    }
    let mut rng = rand::rngs::StdRng::seed_from_u64(config.seed);
    let per_era = series.options.dates_per_era;
    let mut names = Vec::with_capacity(n);
    for location in &series.locations[..n] {
        let products = &location.products;
        let older = &products[rng.random_range(0..per_era)];
        let recent = &products[products.len() - per_era + rng.random_range(0..per_era)];
        let name = format!("{}.png", location.id);
        write_rgb_png(&partial.join(&layout.a_dir).join(&name), &series.load(older)?)?;
        write_rgb_png(&partial.join(&layout.b_dir).join(&name), &series.load(recent)?)?;
        let mask_path = location.dir.join("change_mask.png");
        if !mask_path.is_file() {
            return Err(Error::bad_input(
                &mask_path,
                "missing change mask (is this eurosat-seasons?)",
            ));
        }
        write_binary_mask(
            &partial.join(&layout.label_dir).join(&name),
            &load_binary_mask(&mask_path)?,
        )?;
        names.push(name);
    }
    names.shuffle(&mut rng);
    let n_train = (n as f64 * config.train_fraction).round() as usize;
    let n_val = ((n as f64 * (config.train_fraction + config.val_fraction)).round() as usize).saturating_sub(n_train);
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    let splits = Splits {
        train: sorted(names[..n_train].to_vec()),
        val: sorted(names[n_train..n_train + n_val].to_vec()),
        test: sorted(names[n_train + n_val..].to_vec()),
    };
    split::write(&partial.join(&layout.list_dir), &splits)?;
    let meta = format!(
        "# eurosat-seasons-change: change pairs exported by caco from the SIMULATED series {} (not real data).\n\
         # A = a seeded older-era date, B = a seeded recent-era date, label = the location's change_mask.png.\n{}",
        series_root.display(),
        toml::to_string(config).expect("config serialises")
    );
    std::fs::write(partial.join("export.toml"), meta).map_err(|e| Error::io(&partial, e))?;
    if out.exists() {
        std::fs::remove_dir_all(out).map_err(|e| Error::io(out, e))?;
    }
    std::fs::rename(&partial, out).map_err(|e| Error::io(out, e))?;
    Ok(n)
}

#[cfg(all(test, feature = "gdal"))]
mod tests {
    use super::*;
    use crate::data::change::ChangeDataset;
    use crate::data::dense::Mask;
    use crate::data::fake::timeseries::{write_timeseries, FakeTimeSeries};
    use crate::data::split::SPLIT_NAMES;
    use crate::data::Image;

    fn err_text<T: std::fmt::Debug>(r: Result<T>) -> String {
        r.expect_err("expected an error").to_string()
    }

    #[test]
    fn seasons_export_pairs_an_older_and_a_recent_date_with_the_truth_mask() {
        let dir = tempfile::tempdir().unwrap();
        let series_root = dir.path().join("series");
        write_timeseries(
            &series_root,
            &FakeTimeSeries {
                layout: Layout::Caco,
                n_locations: 5,
                dates_per_era: 5,
                bands: RGB_BANDS.iter().map(|b| b.to_string()).collect(),
                size: 12,
                seed: 1,
            },
        )
        .unwrap();
        let out = dir.path().join("export");
        let config = SeasonsExport::default();
        // The fake series has no truth masks yet: the exporter names the missing one.
        let msg = err_text(export_seasons(&series_root, &out, &config));
        assert!(
            msg.contains("000000/change_mask.png") && msg.contains("missing change mask"),
            "{msg}"
        );
        // Location k: k rows changed.
        for k in 0..5 {
            let mut data = vec![0u8; 144];
            data[..12 * k].fill(1);
            let mask = Mask {
                height: 12,
                width: 12,
                data,
            };
            write_binary_mask(&series_root.join(format!("{k:06}/change_mask.png")), &mask).unwrap();
        }
        assert_eq!(export_seasons(&series_root, &out, &config).unwrap(), 5);
        assert!(seasons_export_is_built(&out, &config));
        assert!(!seasons_export_is_built(
            &out,
            &SeasonsExport {
                seed: 7,
                ..config.clone()
            }
        ));
        let ds = ChangeDataset::open(&out, ChangeLayout::default()).unwrap();
        assert_eq!(ds.len(), 5);
        let series = TimeSeries::open(&series_root, TimeSeriesOptions::new(Layout::Caco, &RGB_BANDS)).unwrap();
        let mut n_split = 0;
        for split in SPLIT_NAMES {
            n_split += ds.split(&ds.list_dir(), split).unwrap().len();
        }
        assert_eq!(n_split, 5);
        for (k, location) in series.locations.iter().enumerate() {
            let pair = ds.load(k).unwrap();
            assert_eq!(pair.name, format!("{}.png", location.id));
            assert_eq!(pair.label.data.iter().filter(|&&v| v == 1).count(), 12 * k);
            // A is one of the five older dates, B one of the five recent ones.
            let dates: Vec<Image> = location.products.iter().map(|p| series.load(p).unwrap()).collect();
            let a_idx = dates
                .iter()
                .position(|d| d == &pair.a)
                .expect("A is a date of the series");
            let b_idx = dates
                .iter()
                .position(|d| d == &pair.b)
                .expect("B is a date of the series");
            assert!(a_idx < 5 && b_idx >= 5, "{a_idx} {b_idx}");
        }
    }
}
