//! Windowed reads of one Sentinel-2 scene through GDAL: a square patch of `size_px` 10 m pixels around a location,
//! in the scene's own CRS, every band read at its own resolution over the same footprint (one grid: the footprint
//! is snapped to the scene's 60 m lattice, so 10, 20 and 60 m pixels tile it exactly, as SeCo stores its 264, 132
//! and 44 px bands). The scene classification band (SCL, 20 m) is resampled (nearest) onto the 10 m grid and
//! counted per pixel: classes 3, 8, 9, 10 (cloud shadow, cloud, cirrus) are cloud, class 0 is no data. A patch over
//! a cloud or no-data limit is rejected before any other band is read. Remote COGs are read with HTTP range
//! requests through `/vsicurl/` (`s3://` hrefs through `/vsis3/` without signing).

use std::collections::BTreeMap;

use gdal::raster::ResampleAlg;
use gdal::spatial_ref::{AxisMappingStrategy, CoordTransform, SpatialRef};
use gdal::Dataset;

use super::stac::{Item, Radiometry};
use super::{asset_key, SCL_ASSET, SCL_CLOUD_CLASSES};
use crate::data::timeseries::band_resolution;
use crate::data::Image;
use crate::{Error, Result};

/// What to cut out of a scene.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchSpec {
    /// Patch side in 10 m pixels (a multiple of 6, so 20 m and 60 m pixels fit; SeCo: 264).
    pub size_px: usize,
    /// Bands in SeCo's naming, written in this order.
    pub bands: Vec<String>,
    /// Largest accepted share of cloud pixels.
    pub max_cloud_fraction: f64,
    /// Largest accepted share of pixels without data.
    pub max_nodata_fraction: f64,
}

/// A patch read from a scene.
#[derive(Debug, Clone)]
pub struct Patch {
    /// uint8-scaled values (0-255), one image per band at the band's resolution.
    pub bands: Vec<(String, Image)>,
    pub cloud_fraction: f64,
    pub nodata_fraction: f64,
    pub crs_wkt: String,
    pub epsg: Option<i64>,
    /// Geotransform of the patch's 10 m grid.
    pub geo_transform: [f64; 6],
    pub radiometry: BTreeMap<String, Radiometry>,
}

/// Why a scene did not give a usable patch (the next scene is tried).
#[derive(Debug, Clone, PartialEq)]
pub enum Rejection {
    Cloudy(f64),
    NoData(f64),
    /// The footprint is not inside the scene's rasters, or its grids do not line up.
    Outside(String),
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Rejection::Cloudy(x) => write!(f, "cloudy patch ({:.1} % cloud pixels)", 100.0 * x),
            Rejection::NoData(x) => write!(f, "patch without data ({:.1} % of pixels)", 100.0 * x),
            Rejection::Outside(m) => write!(f, "patch outside the scene: {m}"),
        }
    }
}

/// GDAL's path for an asset href.
pub fn gdal_path(href: &str) -> String {
    if href.starts_with("http://") || href.starts_with("https://") {
        format!("/vsicurl/{href}")
    } else if let Some(rest) = href.strip_prefix("s3://") {
        format!("/vsis3/{rest}")
    } else if let Some(rest) = href.strip_prefix("file://") {
        rest.to_string()
    } else {
        href.to_string()
    }
}

/// GDAL settings for reading remote COGs, each set only if neither the environment nor GDAL already has it: no
/// directory listings on open (one request per file instead of a listing of the whole bucket folder), only `.tif`
/// URLs are probed, retries on transient HTTP errors, unsigned S3 access.
pub fn configure_gdal_http() -> Result<()> {
    for (key, value) in [
        ("GDAL_DISABLE_READDIR_ON_OPEN", "EMPTY_DIR"),
        ("CPL_VSIL_CURL_ALLOWED_EXTENSIONS", ".tif,.TIF,.tiff"),
        ("GDAL_HTTP_MAX_RETRY", "3"),
        ("GDAL_HTTP_RETRY_DELAY", "1"),
        ("AWS_NO_SIGN_REQUEST", "YES"),
    ] {
        let current = gdal::config::get_config_option(key, "").unwrap_or_default();
        if current.is_empty() && std::env::var_os(key).is_none() {
            gdal::config::set_config_option(key, value)
                .map_err(|e| Error::Config(format!("GDAL config option {key}: {e}")))?;
        }
    }
    Ok(())
}

/// Top-left corner of the `size_px` x 10 m footprint centred on (x, y), snapped to the `snap_m` lattice through
/// the scene origin (`origin_x`, `origin_y`).
pub fn footprint_origin(x: f64, y: f64, size_px: usize, origin_x: f64, origin_y: f64, snap_m: f64) -> (f64, f64) {
    let half = size_px as f64 * 10.0 / 2.0;
    let x0 = origin_x + snap_m * ((x - half - origin_x) / snap_m).round();
    let y0 = origin_y - snap_m * ((origin_y - (y + half)) / snap_m).round();
    (x0, y0)
}

/// The pixel window (col, row, side) of the square footprint with top-left (x0, y0) and side `extent_m` in a raster
/// with geotransform `gt` and size `raster_size`, or why there is none.
pub fn pixel_window(
    gt: &[f64; 6],
    raster_size: (usize, usize),
    (x0, y0): (f64, f64),
    extent_m: f64,
) -> std::result::Result<(isize, isize, usize), String> {
    if gt[2] != 0.0 || gt[4] != 0.0 || !(gt[1] > 0.0) || !(gt[5] < 0.0) {
        return Err(format!("not a north-up grid: geotransform {gt:?}"));
    }
    let (res_x, res_y) = (gt[1], -gt[5]);
    let (col, row, side) = ((x0 - gt[0]) / res_x, (gt[3] - y0) / res_y, extent_m / res_x);
    let near_int = |v: f64| (v - v.round()).abs() < 1e-3;
    if (res_x - res_y).abs() > 1e-9 || !near_int(col) || !near_int(row) || !near_int(side) {
        return Err(format!(
            "a {extent_m} m footprint at ({x0}, {y0}) does not fall on whole {res_x} m pixels of geotransform {gt:?}"
        ));
    }
    let (col, row, side) = (col.round() as isize, row.round() as isize, side.round() as usize);
    let (width, height) = (raster_size.0 as isize, raster_size.1 as isize);
    if col < 0 || row < 0 || col + side as isize > width || row + side as isize > height {
        return Err(format!(
            "pixels {col}..{} x {row}..{} of a {width} x {height} raster",
            col + side as isize,
            row + side as isize
        ));
    }
    Ok((col, row, side))
}

fn open(href: &str) -> Result<Dataset> {
    let path = gdal_path(href);
    Dataset::open(&path).map_err(|e| Error::bad_input(href, format!("GDAL cannot open {path}: {e}")))
}

/// (x, y) of (lon, lat) in `srs`.
fn project(srs: &SpatialRef, lon: f64, lat: f64) -> Result<(f64, f64)> {
    let gdal_err = |e: gdal::errors::GdalError| Error::Config(format!("coordinate transform: {e}"));
    let mut wgs84 = SpatialRef::from_epsg(4326).map_err(gdal_err)?;
    wgs84.set_axis_mapping_strategy(AxisMappingStrategy::TraditionalGisOrder);
    let mut target = srs.clone();
    target.set_axis_mapping_strategy(AxisMappingStrategy::TraditionalGisOrder);
    let transform = CoordTransform::new(&wgs84, &target).map_err(gdal_err)?;
    let (mut xs, mut ys) = ([lon], [lat]);
    transform
        .transform_coords(&mut xs, &mut ys, &mut [])
        .map_err(gdal_err)?;
    Ok((xs[0], ys[0]))
}

/// Reads the patch of `spec` centred on (`lon`, `lat`) from `item`. `Ok(Err(_))` is a rejected scene (clouds, no
/// data, outside); `Err(_)` a failure to read (network, a broken file).
pub fn read_patch(item: &Item, lon: f64, lat: f64, spec: &PatchSpec) -> Result<std::result::Result<Patch, Rejection>> {
    let missing = |key: &str| Error::bad_input(&item.id, format!("STAC item has no `{key}` asset"));
    let scl_href = &item.assets.get(SCL_ASSET).ok_or_else(|| missing(SCL_ASSET))?.href;
    let scl = open(scl_href)?;
    let gdal_err = |href: &str, e: gdal::errors::GdalError| Error::bad_input(href, format!("GDAL: {e}"));
    let srs = scl.spatial_ref().map_err(|e| gdal_err(scl_href, e))?;
    let scl_gt = scl.geo_transform().map_err(|e| gdal_err(scl_href, e))?;
    let (x, y) = project(&srs, lon, lat)?;
    let extent_m = spec.size_px as f64 * 10.0;
    let origin = footprint_origin(x, y, spec.size_px, scl_gt[0], scl_gt[3], 60.0);
    let n = spec.size_px;

    // Clouds first, on the 10 m grid.
    let (col, row, side) = match pixel_window(&scl_gt, scl.raster_size(), origin, extent_m) {
        Ok(w) => w,
        Err(m) => return Ok(Err(Rejection::Outside(format!("{SCL_ASSET}: {m}")))),
    };
    let classes = scl
        .rasterband(1)
        .and_then(|b| b.read_as::<u8>((col, row), (side, side), (n, n), Some(ResampleAlg::NearestNeighbour)))
        .map_err(|e| gdal_err(scl_href, e))?;
    let count = |pred: &dyn Fn(u8) -> bool| classes.data().iter().filter(|&&c| pred(c)).count() as f64 / (n * n) as f64;
    let cloud_fraction = count(&|c| SCL_CLOUD_CLASSES.contains(&c));
    let mut nodata_fraction = count(&|c| c == 0);
    if nodata_fraction > spec.max_nodata_fraction {
        return Ok(Err(Rejection::NoData(nodata_fraction)));
    }
    if cloud_fraction > spec.max_cloud_fraction {
        return Ok(Err(Rejection::Cloudy(cloud_fraction)));
    }

    let mut bands = Vec::with_capacity(spec.bands.len());
    let mut radiometry = BTreeMap::new();
    for band in &spec.bands {
        let key = asset_key(band).ok_or_else(|| Error::Config(format!("unknown Sentinel-2 band `{band}`")))?;
        let asset = item.assets.get(key).ok_or_else(|| missing(key))?;
        let ds = open(&asset.href)?;
        let gt = ds.geo_transform().map_err(|e| gdal_err(&asset.href, e))?;
        let (col, row, side) = match pixel_window(&gt, ds.raster_size(), origin, extent_m) {
            Ok(w) => w,
            Err(m) => return Ok(Err(Rejection::Outside(format!("{key}: {m}")))),
        };
        let expected = n * 10 / band_resolution(band).unwrap_or(10) as usize;
        if side != expected {
            return Ok(Err(Rejection::Outside(format!(
                "{key}: {}-m pixels, {band} is a {} m band",
                gt[1],
                band_resolution(band).unwrap_or(0)
            ))));
        }
        let values = ds
            .rasterband(1)
            .and_then(|b| b.read_as::<f32>((col, row), (side, side), (side, side), None))
            .map_err(|e| gdal_err(&asset.href, e))?;
        let r = asset.radiometry();
        let mut n_nodata = 0usize;
        let data: Vec<f32> = values
            .data()
            .iter()
            .map(|&dn| {
                if r.nodata.is_some_and(|nd| dn as f64 == nd) {
                    n_nodata += 1;
                    0.0
                } else {
                    ((dn as f64 * r.scale + r.offset) * 255.0).clamp(0.0, 255.0) as f32
                }
            })
            .collect();
        nodata_fraction = nodata_fraction.max(n_nodata as f64 / (side * side) as f64);
        if nodata_fraction > spec.max_nodata_fraction {
            return Ok(Err(Rejection::NoData(nodata_fraction)));
        }
        radiometry.insert(band.clone(), r);
        bands.push((
            band.clone(),
            Image {
                n_bands: 1,
                height: side,
                width: side,
                data,
            },
        ));
    }
    let epsg = match srs.auth_name().as_deref() {
        Some("EPSG") => srs.auth_code().ok().map(i64::from),
        _ => None,
    };
    Ok(Ok(Patch {
        bands,
        cloud_fraction,
        nodata_fraction,
        crs_wkt: srs.to_wkt().unwrap_or_default(),
        epsg,
        geo_transform: [origin.0, 10.0, 0.0, origin.1, 0.0, -10.0],
        radiometry,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn footprints_snap_to_the_60m_lattice_and_map_to_whole_pixels_at_every_resolution() {
        // A Sentinel-2 tile's origin (T31TCH-like).
        let (ox, oy) = (300_000.0, 4_800_000.0);
        let (x0, y0) = footprint_origin(303_234.0, 4_796_765.0, 264, ox, oy, 60.0);
        assert_eq!(((x0 - ox) % 60.0, (oy - y0) % 60.0), (0.0, 0.0));
        // Centred within 30 m.
        assert!((x0 + 1320.0 - 303_234.0).abs() <= 30.0 && (y0 - 1320.0 - 4_796_765.0).abs() <= 30.0);
        for res in [10.0, 20.0, 60.0] {
            let gt = [ox, res, 0.0, oy, 0.0, -res];
            let n = (109_800.0 / res) as usize;
            let (col, row, side) = pixel_window(&gt, (n, n), (x0, y0), 2640.0).unwrap();
            assert_eq!(side as f64, 2640.0 / res);
            assert_eq!((col as f64 * res, row as f64 * res), (x0 - ox, oy - y0));
        }
        let gt = [ox, 10.0, 0.0, oy, 0.0, -10.0];
        let msg = pixel_window(&gt, (100, 100), (x0, y0), 2640.0).unwrap_err();
        assert!(msg.contains("of a 100 x 100 raster"), "{msg}");
        let msg = pixel_window(&gt, (10980, 10980), (x0 + 5.0, y0), 2640.0).unwrap_err();
        assert!(msg.contains("whole 10 m pixels"), "{msg}");
        assert!(pixel_window(&[0.0, 10.0, 0.1, 0.0, 0.0, -10.0], (9, 9), (0.0, 0.0), 10.0).is_err());
    }

    #[test]
    fn hrefs_become_gdal_paths() {
        assert_eq!(gdal_path("https://a/b.tif"), "/vsicurl/https://a/b.tif");
        assert_eq!(gdal_path("s3://sentinel-cogs/x.tif"), "/vsis3/sentinel-cogs/x.tif");
        assert_eq!(gdal_path("file:///tmp/x.tif"), "/tmp/x.tif");
        assert_eq!(gdal_path("/tmp/x.tif"), "/tmp/x.tif");
    }
}
