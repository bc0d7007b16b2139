//! An open Sentinel-2 time-series sampler: SeCo/CACo-style datasets (METHODS.md, "SeCo" and "TeCo and CACo") built
//! from open data with no account. Sentinel-2 L2A scenes are found through a public STAC API (Earth Search v1 by
//! default) and read as windows of cloud-optimised GeoTIFFs through GDAL (`/vsicurl/`).
//!
//! The pipeline, one file per step:
//! - [`cities`]: the world-cities table (Natural Earth populated places, or any table with name, population and
//!   coordinates);
//! - [`locations`]: where to look: SeCo's sampler (one of the N most populous cities plus a Gaussian offset of about
//!   50 km, corrected for latitude) and a CACo-style stratified geography sampler;
//! - [`schedule`]: when to look: SeCo's 5 dates about 12 weeks apart with a random yearly offset, CACo's two eras;
//! - [`stac`]: the STAC search per location and date window, and the choice of scenes to try;
//! - `cog` (GDAL): the windowed reads on one grid, the per-pixel cloud check from the scene classification band;
//! - [`layout`]: the SeCo/CACo folders with `metadata.json`, written atomically so that a re-run continues;
//! - `run` (GDAL): the loop over locations with bounded concurrency, resampling of failed locations and the summary.
//!
//! `data::timeseries` reads what this writes. Nothing here touches a VarStore.

pub mod cities;
#[cfg(feature = "gdal")]
pub mod cog;
/// Tiny Sentinel-2 scenes for tests (not public API: behind the `testkit` feature).
#[cfg(all(feature = "gdal", any(test, feature = "testkit")))]
pub mod fixtures;
pub mod layout;
pub mod locations;
#[cfg(feature = "gdal")]
pub mod run;
pub mod schedule;
pub mod stac;

/// Earth Search v1 (Element 84), a public STAC API over the open Sentinel-2 COG archive on AWS.
pub const EARTH_SEARCH_URL: &str = "https://earth-search.aws.element84.com/v1";

/// Earth Search's Sentinel-2 L2A collection.
pub const EARTH_SEARCH_COLLECTION: &str = "sentinel-2-l2a";

/// The asset holding Sen2Cor's scene classification (SCL, 20 m).
pub const SCL_ASSET: &str = "scl";

/// SCL classes counted as cloud: 3 cloud shadow, 8 cloud medium probability, 9 cloud high probability,
/// 10 thin cirrus. Class 0 is "no data".
pub const SCL_CLOUD_CLASSES: [u8; 4] = [3, 8, 9, 10];

/// Earth Search's asset key of a Sentinel-2 band in SeCo's naming (`B4` -> `red`), or `None` for an unknown band.
pub fn asset_key(band: &str) -> Option<&'static str> {
    Some(match band {
        "B1" => "coastal",
        "B2" => "blue",
        "B3" => "green",
        "B4" => "red",
        "B5" => "rededge1",
        "B6" => "rededge2",
        "B7" => "rededge3",
        "B8" => "nir",
        "B8A" => "nir08",
        "B9" => "nir09",
        "B11" => "swir16",
        "B12" => "swir22",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::timeseries::{band_resolution, SENTINEL2_BANDS};

    #[test]
    fn every_seco_band_has_an_asset_and_a_resolution() {
        for band in SENTINEL2_BANDS {
            assert!(asset_key(band).is_some() && band_resolution(band).is_some(), "{band}");
        }
        assert_eq!(asset_key("B8A"), Some("nir08"));
        assert_eq!(asset_key("B10"), None);
    }
}
