//! Writing the SeCo/CACo layout that `data::timeseries` reads: `root/{location:06d}/{product}/{band}.tif` (uint8,
//! one file per band at the band's own resolution, georeferenced in the scene's CRS) and `metadata.json` per
//! product (the reader's `product_id`, `date`, `lon`, `lat`, `cloud_fraction`, plus where the data came from).
//!
//! Re-runs continue where they stopped: a location is written into `root/.partial-{location:06d}/` (the reader
//! skips dot folders), each product's `metadata.json` last and by rename, and the folder is renamed to
//! `{location:06d}` when every product is in place. So a `{location:06d}` folder is always complete, and leftovers
//! of an interrupted run are removed and resampled. `root/sampling.json` holds the settings that decide what is
//! sampled; a re-run with other settings is refused instead of mixing two datasets.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::locations::SampledLocation;
use super::stac::Radiometry;
use crate::data::dates::Date;
use crate::data::Image;
use crate::{Error, Result};

/// `metadata.json` of a sampled product. The first five fields are what `data::timeseries::ProductMetadata` reads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SampledProduct {
    pub product_id: String,
    /// Acquisition day (UTC).
    pub date: Date,
    /// The location (patch centre), degrees WGS84.
    pub lon: f64,
    pub lat: f64,
    /// Share of the patch's pixels whose scene classification is cloud, cloud shadow or cirrus.
    pub cloud_fraction: Option<f64>,
    /// Share of pixels without data (SCL class 0 or a band's nodata value).
    pub nodata_fraction: f64,
    /// STAC item id and its whole-scene cloud cover (percent).
    pub item_id: String,
    pub scene_cloud_cover: Option<f64>,
    /// 0 for SeCo and CACo's older era, 1 for CACo's recent era.
    pub era: usize,
    /// The scheduled date and the search window around it.
    pub target_date: Date,
    pub window: [Date; 2],
    pub location: SampledLocation,
    /// The scene's CRS (WKT) and EPSG code when known.
    pub crs_wkt: String,
    pub epsg: Option<i64>,
    /// GDAL geotransform of the patch on the 10 m grid.
    pub geo_transform: [f64; 6],
    /// Patch side in 10 m pixels.
    pub size_px: usize,
    /// uint8 value = clamp(255 * (DN * scale + offset), 0, 255), per band.
    pub radiometry: BTreeMap<String, Radiometry>,
    pub stac_url: String,
    pub collection: String,
}

/// One product ready to write: its folder name, metadata and bands (values 0-255, each at its own resolution).
#[derive(Debug, Clone)]
pub struct ProductPatch {
    pub folder: String,
    pub meta: SampledProduct,
    pub bands: Vec<(String, Image)>,
}

/// The folder of location `idx`.
pub fn location_dir(root: &Path, idx: usize) -> PathBuf {
    root.join(format!("{idx:06}"))
}

#[cfg_attr(not(feature = "gdal"), allow(dead_code))]
fn partial_dir(root: &Path, idx: usize) -> PathBuf {
    root.join(format!(".partial-{idx:06}"))
}

/// What a re-run finds for a location.
#[derive(Debug, Clone, PartialEq)]
pub enum LocationState {
    Missing,
    Complete,
    /// A `{idx:06}` folder that this sampler did not finish (written by hand or by another tool).
    Foreign(String),
}

/// Whether location `idx` is done: its folder exists with `dates_needed` product folders, each with a
/// `metadata.json`.
pub fn location_state(root: &Path, idx: usize, dates_needed: usize) -> LocationState {
    let dir = location_dir(root, idx);
    if !dir.exists() {
        return LocationState::Missing;
    }
    let products: Vec<PathBuf> = match std::fs::read_dir(&dir) {
        Ok(entries) => entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_dir())
            .collect(),
        Err(e) => return LocationState::Foreign(format!("cannot list {}: {e}", dir.display())),
    };
    let with_meta = products.iter().filter(|p| p.join("metadata.json").is_file()).count();
    if products.len() == dates_needed && with_meta == dates_needed {
        LocationState::Complete
    } else {
        LocationState::Foreign(format!(
            "{} holds {} product folders ({with_meta} with metadata.json), {dates_needed} expected; delete it to \
             resample",
            dir.display(),
            products.len()
        ))
    }
}

/// Removes `.partial-*` folders left by an interrupted run; returns how many.
pub fn remove_partials(root: &Path) -> Result<usize> {
    let mut n = 0;
    for entry in std::fs::read_dir(root).map_err(|e| Error::io(root, e))? {
        let path = entry.map_err(|e| Error::io(root, e))?.path();
        let is_partial = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with(".partial-"));
        if is_partial && path.is_dir() {
            std::fs::remove_dir_all(&path).map_err(|e| Error::io(&path, e))?;
            n += 1;
        }
    }
    Ok(n)
}

/// File name of the settings record.
pub const SETTINGS_FILE: &str = "sampling.json";

/// Records `settings` in `root/sampling.json`, or checks that an existing record has the same ones. A difference
/// is an error naming the keys that differ.
pub fn check_settings(root: &Path, settings: &serde_json::Value) -> Result<()> {
    let path = root.join(SETTINGS_FILE);
    if path.is_file() {
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        let stored: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| Error::bad_input(&path, format!("not a sampling settings file: {e}")))?;
        if &stored != settings {
            let keys = |v: &serde_json::Value| v.as_object().cloned().unwrap_or_default();
            let (a, b) = (keys(&stored), keys(settings));
            let mut differ: Vec<&String> = a.keys().chain(b.keys()).filter(|k| a.get(*k) != b.get(*k)).collect();
            differ.sort();
            differ.dedup();
            return Err(Error::Config(format!(
                "{} was sampled with other settings (differing: {differ:?}); use another --out folder, or the same \
                 settings to continue it",
                root.display()
            )));
        }
        return Ok(());
    }
    write_atomically(&path, serde_json::to_string_pretty(settings).expect("json").as_bytes())
}

/// Writes `bytes` to `path` through a temporary file and a rename.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, bytes).map_err(|e| Error::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
}

/// Writes location `idx` atomically (see the module docs) and returns its folder.
#[cfg(feature = "gdal")]
pub fn write_location(root: &Path, idx: usize, products: &[ProductPatch]) -> Result<PathBuf> {
    let partial = partial_dir(root, idx);
    if partial.exists() {
        std::fs::remove_dir_all(&partial).map_err(|e| Error::io(&partial, e))?;
    }
    for product in products {
        let dir = partial.join(&product.folder);
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        for (band, image) in &product.bands {
            let pixel = product.meta.geo_transform[1] * (product.meta.size_px as f64 / image.width as f64);
            let gt = [
                product.meta.geo_transform[0],
                pixel,
                0.0,
                product.meta.geo_transform[3],
                0.0,
                -pixel,
            ];
            write_band(&dir.join(format!("{band}.tif")), image, gt, &product.meta.crs_wkt)?;
        }
        let text = serde_json::to_string_pretty(&product.meta).expect("metadata serialises");
        write_atomically(&dir.join("metadata.json"), text.as_bytes())?;
    }
    let dir = location_dir(root, idx);
    std::fs::rename(&partial, &dir).map_err(|e| Error::io(&dir, e))?;
    Ok(dir)
}

/// A single-band uint8 GeoTIFF (DEFLATE) with geotransform and CRS.
#[cfg(feature = "gdal")]
fn write_band(path: &Path, image: &Image, geo_transform: [f64; 6], crs_wkt: &str) -> Result<()> {
    use gdal::raster::{Buffer, RasterCreationOptions};
    let gdal_err = |e: gdal::errors::GdalError| Error::bad_input(path, format!("GDAL: {e}"));
    let driver = gdal::DriverManager::get_driver_by_name("GTiff").map_err(gdal_err)?;
    let options = RasterCreationOptions::from_iter(["COMPRESS=DEFLATE"]);
    let mut dataset = driver
        .create_with_band_type_with_options::<u8, _>(path, image.width, image.height, 1, &options)
        .map_err(gdal_err)?;
    dataset.set_geo_transform(&geo_transform).map_err(gdal_err)?;
    if !crs_wkt.is_empty() {
        dataset.set_projection(crs_wkt).map_err(gdal_err)?;
    }
    let values: Vec<u8> = image.data.iter().map(|v| v.clamp(0.0, 255.0).round() as u8).collect();
    let mut buffer = Buffer::new((image.width, image.height), values);
    dataset
        .rasterband(1)
        .map_err(gdal_err)?
        .write((0, 0), (image.width, image.height), &mut buffer)
        .map_err(gdal_err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_recorded_then_compared_by_key() {
        let dir = tempfile::tempdir().unwrap();
        let settings = serde_json::json!({"layout": "caco", "seed": 1, "bands": ["B4"]});
        check_settings(dir.path(), &settings).unwrap();
        check_settings(dir.path(), &settings).unwrap();
        let other = serde_json::json!({"layout": "caco", "seed": 2, "bands": ["B4"]});
        let msg = check_settings(dir.path(), &other).unwrap_err().to_string();
        assert!(msg.contains("[\"seed\"]") && msg.contains("other settings"), "{msg}");
    }

    #[test]
    fn location_states_and_partials() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        assert_eq!(location_state(root, 3, 2), LocationState::Missing);
        for p in ["a", "b"] {
            std::fs::create_dir_all(location_dir(root, 3).join(p)).unwrap();
            std::fs::write(location_dir(root, 3).join(p).join("metadata.json"), "{}").unwrap();
        }
        assert_eq!(location_state(root, 3, 2), LocationState::Complete);
        assert!(matches!(location_state(root, 3, 5), LocationState::Foreign(m) if m.contains("delete it")));
        std::fs::create_dir_all(partial_dir(root, 4).join("x")).unwrap();
        assert_eq!(remove_partials(root).unwrap(), 1);
        assert!(!partial_dir(root, 4).exists() && location_dir(root, 3).exists());
    }
}
