//! SSL4EO-S12 (Wang et al. 2022, arXiv:2211.07044), its Sentinel-2 part: `<root>/{s2c,s2a}/<location>/<product id>/
//! B*.tif` with 4 seasonal products per location, Level-1C (`s2c/`, 13 bands with B10) or Level-2A (`s2a/`, 12
//! bands), each band one GeoTIFF at its own resolution (264, 132 or 44 px for 10, 20 or 60 m) in longitude/latitude
//! (the authors' downloader writes `+proj=latlong`). Product ids are Earth Engine indices
//! `YYYYMMDDTHHMMSS_YYYYMMDDTHHMMSS_T<tile>`, so the date is the folder name's. The layout is read by
//! [`super::timeseries`] as `Layout::Ssl4eoS12`; this file holds the dataset's own facts: levels, bands, seasons, the
//! level folder and the location's coordinates (the centre of a band's footprint). Sources: the authors' README and
//! `ssl4eo_s12_downloader.py` (zhu-xlab/SSL4EO-S12), torchgeo's `SSL4EOS12` (`torchgeo/datasets/ssl4eo.py`).

use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// Seasonal products per location.
pub const SEASONS: usize = 4;

/// Level-1C (top of atmosphere) bands, as the files are named.
pub const L1C_BANDS: [&str; 13] = [
    "B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9", "B10", "B11", "B12",
];

/// Level-2A (surface reflectance) bands: L1C without the cirrus band B10.
pub const L2A_BANDS: [&str; 12] = [
    "B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9", "B11", "B12",
];

/// The processing level of a Sentinel-2 folder of the dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    L1c,
    L2a,
}

impl Level {
    /// The folder of this level in the release (`s2c`, `s2a`).
    pub fn folder(self) -> &'static str {
        match self {
            Level::L1c => "s2c",
            Level::L2a => "s2a",
        }
    }

    pub fn bands(self) -> &'static [&'static str] {
        match self {
            Level::L1c => &L1C_BANDS,
            Level::L2a => &L2A_BANDS,
        }
    }

    /// The `caco data download` name of this level's archive.
    pub fn dataset_name(self) -> &'static str {
        match self {
            Level::L1c => "ssl4eo-s12-l1c",
            Level::L2a => "ssl4eo-s12-l2a",
        }
    }
}

/// What the not-found error of an SSL4EO-S12 root suggests.
pub fn not_found_hint() -> String {
    format!(
        "`caco data download {}` (13 bands) or `caco data download {}` (12 bands) fetch the authors' archives \
         (about 500 GB each) into <data root>/{0} or /{1}; an extracted copy (the folder holding s2c/ or s2a/, or \
         one of them) is imported with --from",
        Level::L1c.dataset_name(),
        Level::L2a.dataset_name()
    )
}

/// The folder of location folders under `root`: `root` itself, or its `s2c/` or `s2a/` (the release's top
/// folders). With both present, the bands decide (B10 is L1C only); otherwise it is an error naming both.
pub fn level_root(root: &Path, bands: &[String]) -> Result<PathBuf> {
    let present: Vec<Level> = [Level::L1c, Level::L2a]
        .into_iter()
        .filter(|l| root.join(l.folder()).is_dir())
        .collect();
    let wants_b10 = bands.iter().any(|b| b == "B10");
    match present.as_slice() {
        [] => Ok(root.to_path_buf()),
        [only] => Ok(root.join(only.folder())),
        _ if wants_b10 => Ok(root.join(Level::L1c.folder())),
        _ => Err(Error::bad_input(
            root,
            "holds both s2c/ (Level-1C) and s2a/ (Level-2A): set `data.root` to one of them",
        )),
    }
}

/// Appended to a missing band's error: B10 is not in Level-2A.
pub fn missing_band_hint(band: &str) -> &'static str {
    if band == "B10" {
        " (B10 is in Level-1C, s2c/, only: Level-2A, s2a/, has 12 bands)"
    } else {
        ""
    }
}

/// Longitude and latitude (degrees, WGS84) of the centre of a GeoTIFF's footprint: its geotransform in
/// longitude/latitude, or reprojected when its CRS is projected. NaN when the file has no geotransform.
#[cfg(feature = "gdal")]
pub fn footprint_centre(path: &Path) -> Result<(f64, f64)> {
    use gdal::spatial_ref::{AxisMappingStrategy, CoordTransform, SpatialRef};
    let ds = gdal::Dataset::open(path).map_err(|e| Error::bad_input(path, format!("GDAL cannot open it: {e}")))?;
    let Ok(gt) = ds.geo_transform() else {
        return Ok((f64::NAN, f64::NAN));
    };
    let (w, h) = ds.raster_size();
    let (half_w, half_h) = (w as f64 / 2.0, h as f64 / 2.0);
    let mut x = [gt[0] + gt[1] * half_w + gt[2] * half_h];
    let mut y = [gt[3] + gt[4] * half_w + gt[5] * half_h];
    if let Ok(mut source) = ds.spatial_ref() {
        if !source.is_geographic() {
            let mut reproject = || -> gdal::errors::Result<()> {
                source.set_axis_mapping_strategy(AxisMappingStrategy::TraditionalGisOrder);
                let mut wgs84 = SpatialRef::from_epsg(4326)?;
                wgs84.set_axis_mapping_strategy(AxisMappingStrategy::TraditionalGisOrder);
                CoordTransform::new(&source, &wgs84)?.transform_coords(&mut x, &mut y, &mut [])
            };
            reproject().map_err(|e| Error::bad_input(path, format!("cannot reproject its centre to WGS84: {e}")))?;
        }
    }
    Ok((x[0], y[0]))
}

#[cfg(not(feature = "gdal"))]
pub fn footprint_centre(_path: &Path) -> Result<(f64, f64)> {
    Ok((f64::NAN, f64::NAN))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::fake::ssl4eo::FakeSsl4eo;
    use crate::data::fake::FakeDataset;
    use crate::data::timeseries::{band_resolution, Layout, TimeSeries, TimeSeriesOptions, RGB_BANDS};

    fn fake(level: Level, n_locations: usize) -> FakeSsl4eo {
        FakeSsl4eo {
            level,
            n_locations,
            size: 12,
            seed: 7,
        }
    }

    fn options(bands: &[&str]) -> TimeSeriesOptions {
        TimeSeriesOptions::new(Layout::Ssl4eoS12, bands)
    }

    #[cfg(feature = "gdal")]
    #[test]
    fn a_projected_footprint_is_reprojected_to_longitude_then_latitude() {
        // A 10x10 px, 10 m patch centred on easting 500,000 m (the central meridian, 15° E) of UTM zone 33N, at the
        // northing of about 42° N.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("B2.tif");
        let driver = gdal::DriverManager::get_driver_by_name("GTiff").unwrap();
        let mut ds = driver.create_with_band_type::<u16, _>(&path, 10, 10, 1).unwrap();
        ds.set_geo_transform(&[499_950.0, 10.0, 0.0, 4_649_826.0, 0.0, -10.0])
            .unwrap();
        ds.set_spatial_ref(&gdal::spatial_ref::SpatialRef::from_epsg(32633).unwrap())
            .unwrap();
        drop(ds);
        let (lon, lat) = footprint_centre(&path).unwrap();
        assert!((lon - 15.0).abs() < 1e-6 && (lat - 42.0).abs() < 1e-3, "{lon} {lat}");
    }

    #[test]
    fn level_bands_are_sentinel2_bands() {
        assert!(L1C_BANDS.iter().all(|b| band_resolution(b).is_some()));
        assert_eq!(
            L1C_BANDS.iter().filter(|b| !L2A_BANDS.contains(b)).collect::<Vec<_>>(),
            [&"B10"]
        );
    }

    #[test]
    fn the_fake_l1c_set_reads_back_with_dates_coordinates_and_13_bands() {
        let dir = tempfile::tempdir().unwrap();
        let written = fake(Level::L1c, 3).write(dir.path()).unwrap();
        // The release's top folder is found from its parent.
        let ts = TimeSeries::open(dir.path(), options(&L1C_BANDS)).unwrap();
        assert_eq!(ts.root, dir.path().join("s2c"));
        assert_eq!((ts.n_items(), ts.locations.len()), (3, 3));
        for (k, location) in ts.locations.iter().enumerate() {
            assert_eq!(location.id, format!("{k:07}"));
            let products = ts.item_products(k);
            assert_eq!(products.len(), SEASONS);
            assert!(products.windows(2).all(|w| w[0].date < w[1].date));
            assert_eq!(
                products.iter().map(|p| p.date).collect::<Vec<_>>(),
                written[k].iter().map(|m| m.date).collect::<Vec<_>>()
            );
            assert_eq!(products[0].id, written[k][0].product_id);
            let (lon, lat) = ts.coordinates(k);
            assert!(
                (lon - written[k][0].lon).abs() < 1e-6 && (lat - written[k][0].lat).abs() < 1e-6,
                "{lon} {lat}"
            );
        }
        let image = ts.load(&ts.item_products(1)[2]).unwrap();
        assert_eq!((image.n_bands, image.height, image.width), (13, 12, 12));
        // uint16 reflectances, not a uint8 stretch.
        assert!(image.data.iter().any(|&v| v > 255.0));
    }

    #[test]
    fn l2a_has_no_b10_and_the_error_says_where_b10_is() {
        let dir = tempfile::tempdir().unwrap();
        fake(Level::L2a, 2).write(dir.path()).unwrap();
        let ts = TimeSeries::open(dir.path().join("s2a"), options(&L2A_BANDS)).unwrap();
        assert_eq!(ts.load(&ts.item_products(0)[0]).unwrap().n_bands, 12);
        let msg = TimeSeries::open(dir.path(), options(&["B10"])).unwrap_err().to_string();
        assert!(
            msg.contains("B10.tif") && msg.contains("missing band B10") && msg.contains("Level-1C"),
            "{msg}"
        );
    }

    #[test]
    fn a_location_with_three_seasons_is_an_error_naming_it_and_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        fake(Level::L1c, 3).write(dir.path()).unwrap();
        let ts = TimeSeries::open(dir.path(), options(&RGB_BANDS)).unwrap();
        let victim = ts.locations[1].dir.clone();
        std::fs::remove_dir_all(&ts.locations[1].products[3].dir).unwrap();
        let msg = TimeSeries::open(dir.path(), options(&RGB_BANDS))
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains(&victim.display().to_string())
                && msg.contains("3 dates")
                && msg.contains("needs 4")
                && msg.contains("skip_bad = true"),
            "{msg}"
        );
        let skipping = TimeSeries::open(
            dir.path(),
            TimeSeriesOptions {
                skip_bad: true,
                ..options(&RGB_BANDS)
            },
        )
        .unwrap();
        assert_eq!((skipping.locations.len(), skipping.skipped.len()), (2, 1));
    }

    #[test]
    fn the_authors_metadata_json_is_not_read_and_both_levels_need_a_choice() {
        let dir = tempfile::tempdir().unwrap();
        fake(Level::L1c, 2).write(dir.path()).unwrap();
        let ts = TimeSeries::open(dir.path(), options(&RGB_BANDS)).unwrap();
        // The authors' downloader writes Earth Engine properties there, not caco's product metadata.
        std::fs::write(
            ts.locations[0].products[0].dir.join("metadata.json"),
            r#"{"properties": {}}"#,
        )
        .unwrap();
        assert_eq!(
            TimeSeries::open(dir.path(), options(&RGB_BANDS))
                .unwrap()
                .locations
                .len(),
            2
        );
        fake(Level::L2a, 2).write(dir.path()).unwrap();
        let msg = TimeSeries::open(dir.path(), options(&RGB_BANDS))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("both s2c/") && msg.contains("data.root"), "{msg}");
        // B10 is L1C only, so it picks s2c/.
        assert_eq!(
            TimeSeries::open(dir.path(), options(&L1C_BANDS)).unwrap().root,
            dir.path().join("s2c")
        );
        let msg = TimeSeries::open(dir.path().join("absent"), options(&RGB_BANDS))
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("absent") && msg.contains("caco data download ssl4eo-s12-l1c"),
            "{msg}"
        );
    }
}
