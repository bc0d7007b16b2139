//! Tiny Sentinel-2 scenes for tests (torchgeo's habit: fake data in the real layout): per scene one COG per band
//! (written with GDAL's COG driver) on a UTM grid with the real 10/20/60 m resolutions, an SCL band, and the STAC
//! item that describes it; plus the item search that a test's loopback server answers `/search` with.
//!
//! Reflectances are a known function of the ground position ([`reflectance`]), the same in every scene, so a test
//! can check that a patch was cut at the right place and harmonised: scenes can store their numbers with the
//! processing-baseline-04 offset (DN = 10000 * (reflectance + 0.1)) or without it.

use std::path::Path;

use gdal::raster::{Buffer, RasterCreationOptions};
use gdal::spatial_ref::{AxisMappingStrategy, CoordTransform, SpatialRef};

use super::stac::{Asset, Item, ItemCollection, ItemProperties, RasterBand, SearchRequest};
use super::{asset_key, SCL_ASSET};
use crate::data::dates::Date;
use crate::data::timeseries::band_resolution;
use crate::fetch::loopback::{Reply, Server};
use crate::{Error, Result};

/// One fake scene.
#[derive(Debug, Clone)]
pub struct FixtureScene {
    pub id: String,
    pub date: Date,
    /// The item's `eo:cloud_cover` (percent), whatever the pixels say.
    pub cloud_cover: f64,
    /// The scene is centred here and `side_px` 10 m pixels wide (a multiple of 6).
    pub lon: f64,
    pub lat: f64,
    pub side_px: usize,
    /// Bands in SeCo's naming; the SCL asset is always written.
    pub bands: Vec<String>,
    /// Share of SCL rows, from the top, classified as cloud (class 9); the rest is vegetation (class 4).
    pub cloudy_rows: f64,
    /// Store DN = 10000 * (reflectance + 0.1) and declare offset -0.1, as processing baseline 04.00 and later do.
    pub baseline_offset: bool,
}

/// Surface reflectance of `band_idx` at the 10 m cell (`cell_x`, `cell_y`) = (floor(x / 10), floor(y / 10)) of the
/// scene CRS: a pattern that changes from pixel to pixel and band to band, in 0.03..0.8, and a whole number of
/// uint8 steps (8 + 4k) / 255, so that the sampler's uint8 values are exact.
pub fn reflectance(band_idx: usize, cell_x: i64, cell_y: i64) -> f64 {
    (8 + 4 * (cell_x * 7 + cell_y * 13 + band_idx as i64 * 5).rem_euclid(50)) as f64 / 255.0
}

/// The WGS84 UTM zone's EPSG code for a point (326zz north, 327zz south).
pub fn utm_epsg(lon: f64, lat: f64) -> u32 {
    let zone = (((lon + 180.0) / 6.0).floor() as i64).clamp(0, 59) as u32 + 1;
    if lat >= 0.0 {
        32600 + zone
    } else {
        32700 + zone
    }
}

fn transform(from: u32, to: u32) -> Result<CoordTransform> {
    let gdal_err = |e: gdal::errors::GdalError| Error::Config(format!("fixture CRS: {e}"));
    let mut a = SpatialRef::from_epsg(from).map_err(gdal_err)?;
    let mut b = SpatialRef::from_epsg(to).map_err(gdal_err)?;
    a.set_axis_mapping_strategy(AxisMappingStrategy::TraditionalGisOrder);
    b.set_axis_mapping_strategy(AxisMappingStrategy::TraditionalGisOrder);
    CoordTransform::new(&a, &b).map_err(gdal_err)
}

/// Writes `scene`'s COGs under `dir/<id>/<asset>.tif` and returns its STAC item with hrefs `base_url/<id>/<asset>.tif`.
pub fn write_scene(dir: &Path, base_url: &str, scene: &FixtureScene) -> Result<Item> {
    if scene.side_px % 6 != 0 {
        return Err(Error::Config(format!(
            "fixture side_px must be a multiple of 6, got {}",
            scene.side_px
        )));
    }
    let epsg = utm_epsg(scene.lon, scene.lat);
    let (mut xs, mut ys) = ([scene.lon], [scene.lat]);
    transform(4326, epsg)?
        .transform_coords(&mut xs, &mut ys, &mut [])
        .map_err(|e| Error::Config(format!("fixture CRS: {e}")))?;
    let half = scene.side_px as f64 * 5.0;
    let (x0, y0) = (
        60.0 * ((xs[0] - half) / 60.0).floor(),
        60.0 * ((ys[0] + half) / 60.0).ceil(),
    );
    let scene_dir = dir.join(&scene.id);
    std::fs::create_dir_all(&scene_dir).map_err(|e| Error::io(&scene_dir, e))?;
    let srs = SpatialRef::from_epsg(epsg).map_err(|e| Error::Config(format!("fixture CRS: {e}")))?;

    let mut assets = std::collections::BTreeMap::new();
    let offset = if scene.baseline_offset { -0.1 } else { 0.0 };
    for (band_idx, band) in crate::data::timeseries::SENTINEL2_BANDS.iter().enumerate() {
        if !scene.bands.iter().any(|b| b == band) {
            continue;
        }
        let res = band_resolution(band).unwrap_or(10) as usize;
        let n = scene.side_px * 10 / res;
        let mut values = Vec::with_capacity(n * n);
        for row in 0..n {
            for col in 0..n {
                // The 10 m cell at the top-left of this pixel.
                let cell_x = ((x0 + (col * res) as f64) / 10.0).round() as i64;
                let cell_y = ((y0 - (row * res) as f64) / 10.0).round() as i64 - 1;
                let dn = ((reflectance(band_idx, cell_x, cell_y) - offset) * 10_000.0).round();
                values.push(dn as u16);
            }
        }
        let key = asset_key(band).expect("known band");
        let path = scene_dir.join(format!("{key}.tif"));
        write_cog(&path, n, [x0, res as f64, 0.0, y0, 0.0, -(res as f64)], &srs, values)?;
        assets.insert(
            key.to_string(),
            Asset {
                href: format!("{base_url}/{}/{key}.tif", scene.id),
                raster_bands: vec![RasterBand {
                    scale: Some(1e-4),
                    offset: Some(offset),
                    nodata: Some(0.0),
                }],
            },
        );
    }
    let n = scene.side_px / 2;
    let cloudy = (scene.cloudy_rows * n as f64).round() as usize;
    let classes: Vec<u8> = (0..n * n).map(|i| if i / n < cloudy { 9 } else { 4 }).collect();
    let path = scene_dir.join(format!("{SCL_ASSET}.tif"));
    write_cog(&path, n, [x0, 20.0, 0.0, y0, 0.0, -20.0], &srs, classes)?;
    assets.insert(
        SCL_ASSET.to_string(),
        Asset {
            href: format!("{base_url}/{}/{SCL_ASSET}.tif", scene.id),
            raster_bands: vec![RasterBand {
                nodata: Some(0.0),
                ..Default::default()
            }],
        },
    );

    // bbox in lon/lat from the corners.
    let extent = scene.side_px as f64 * 10.0;
    let (mut cx, mut cy) = ([x0, x0 + extent, x0, x0 + extent], [y0, y0, y0 - extent, y0 - extent]);
    transform(epsg, 4326)?
        .transform_coords(&mut cx, &mut cy, &mut [])
        .map_err(|e| Error::Config(format!("fixture CRS: {e}")))?;
    let fold = |v: &[f64], f: fn(f64, f64) -> f64, init: f64| v.iter().copied().fold(init, f);
    let bbox = vec![
        fold(&cx, f64::min, f64::INFINITY),
        fold(&cy, f64::min, f64::INFINITY),
        fold(&cx, f64::max, f64::NEG_INFINITY),
        fold(&cy, f64::max, f64::NEG_INFINITY),
    ];
    let stamp = scene.date.compact();
    Ok(Item {
        id: scene.id.clone(),
        bbox: Some(bbox),
        properties: ItemProperties {
            datetime: format!("{}T10:30:00.000000Z", scene.date),
            cloud_cover: Some(scene.cloud_cover),
            product_uri: Some(format!(
                "S2A_MSIL2A_{stamp}T103000_N0509_R008_TFAKE_{stamp}T120000.SAFE"
            )),
            epsg: Some(epsg as i64),
        },
        assets,
    })
}

fn write_cog<T: gdal::raster::GdalType + Copy>(
    path: &Path,
    n: usize,
    gt: [f64; 6],
    srs: &SpatialRef,
    values: Vec<T>,
) -> Result<()> {
    let gdal_err = |e: gdal::errors::GdalError| Error::bad_input(path, format!("GDAL: {e}"));
    let mem = gdal::DriverManager::get_driver_by_name("MEM").map_err(gdal_err)?;
    let mut ds = mem.create_with_band_type::<T, _>("", n, n, 1).map_err(gdal_err)?;
    ds.set_geo_transform(&gt).map_err(gdal_err)?;
    ds.set_spatial_ref(srs).map_err(gdal_err)?;
    let mut buffer = Buffer::new((n, n), values);
    ds.rasterband(1)
        .map_err(gdal_err)?
        .write((0, 0), (n, n), &mut buffer)
        .map_err(gdal_err)?;
    let cog = gdal::DriverManager::get_driver_by_name("COG").map_err(gdal_err)?;
    // Small blocks, so that a patch is read with range requests of a few tiles, as from a real 10980 px scene.
    let options = RasterCreationOptions::from_iter(["COMPRESS=DEFLATE", "BLOCKSIZE=128", "OVERVIEWS=NONE"]);
    ds.create_copy(&cog, path, &options).map_err(gdal_err)?;
    Ok(())
}

/// The items of `catalogue` that match `request` (date window, bbox intersection, `eo:cloud_cover` limit, limit).
pub fn search(catalogue: &[Item], request: &SearchRequest) -> ItemCollection {
    let [w, s, e, n] = request.bbox;
    let (first, last) = request
        .date_range()
        .unwrap_or((Date::from_days(i64::MIN / 4), Date::from_days(i64::MAX / 4)));
    let max_cloud = request.max_cloud_percent().unwrap_or(100.0);
    let features = catalogue
        .iter()
        .filter(|item| item.date().is_some_and(|d| first <= d && d <= last))
        .filter(|item| item.properties.cloud_cover.unwrap_or(0.0) <= max_cloud)
        .filter(|item| {
            item.bbox
                .as_ref()
                .is_some_and(|b| b.len() == 4 && b[0] <= e && w <= b[2] && b[1] <= n && s <= b[3])
        })
        .take(request.limit)
        .cloned()
        .collect();
    ItemCollection { features }
}

/// Serves `catalogue` as a STAC API on `server`: `GET /search?...` (as [`super::stac::HttpStac`] asks) and
/// `POST /search` with a JSON body; an unparsable search gets 400.
pub fn serve_stac(server: &Server, catalogue: Vec<Item>) {
    server.add_handler("/search", move |req| {
        let request = match req.method.as_str() {
            "GET" => req
                .target
                .split_once('?')
                .and_then(|(_, q)| SearchRequest::from_query_string(q)),
            "POST" => serde_json::from_slice(&req.body).ok(),
            _ => None,
        };
        match request {
            Some(request) => {
                let mut value = serde_json::to_value(search(&catalogue, &request)).expect("items serialise");
                value["type"] = "FeatureCollection".into();
                Reply::new(200, "application/geo+json", serde_json::to_vec(&value).expect("json"))
            }
            None => Reply::new(
                400,
                "text/plain",
                format!("not a search: {}\n", req.target).into_bytes(),
            ),
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sampling::cog::{read_patch, PatchSpec};

    #[test]
    fn a_fixture_scene_reads_back_as_a_patch_with_its_reflectances() {
        let dir = tempfile::tempdir().unwrap();
        let scene = FixtureScene {
            id: "S2A_FAKE_20210310".into(),
            date: Date::new(2021, 3, 10).unwrap(),
            cloud_cover: 3.0,
            lon: 2.35,
            lat: 48.85,
            side_px: 120,
            bands: vec!["B4".into(), "B11".into(), "B1".into()],
            cloudy_rows: 0.0,
            baseline_offset: true,
        };
        // Local files: the same reader, without HTTP.
        let item = write_scene(dir.path(), &dir.path().display().to_string(), &scene).unwrap();
        assert_eq!(item.properties.epsg, Some(32631));
        let spec = PatchSpec {
            size_px: 24,
            bands: vec!["B4".into(), "B11".into(), "B1".into()],
            max_cloud_fraction: 0.1,
            max_nodata_fraction: 0.0,
        };
        let patch = read_patch(&item, 2.35, 48.85, &spec).unwrap().unwrap();
        assert_eq!(patch.epsg, Some(32631));
        assert_eq!(patch.cloud_fraction, 0.0);
        let sizes: Vec<usize> = patch.bands.iter().map(|(_, img)| img.width).collect();
        assert_eq!(sizes, [24, 12, 4]);
        // The offset is undone: values are 255 * reflectance at the patch's own cells.
        let [x0, _, _, y0, _, _] = patch.geo_transform;
        for (b, (name, img)) in patch.bands.iter().enumerate() {
            let band_idx = crate::data::timeseries::SENTINEL2_BANDS
                .iter()
                .position(|s| s == name)
                .unwrap();
            let res = [10.0, 20.0, 60.0][b];
            for row in 0..img.height {
                for col in 0..img.width {
                    let cell_x = ((x0 + col as f64 * res) / 10.0).round() as i64;
                    let cell_y = ((y0 - row as f64 * res) / 10.0).round() as i64 - 1;
                    let want = 255.0 * reflectance(band_idx, cell_x, cell_y);
                    let got = img.data[row * img.width + col] as f64;
                    assert!((got - want).abs() < 0.05, "{name} ({row}, {col}): {got} vs {want}");
                }
            }
        }
        // Far from the centre: outside the 1.2 km scene.
        let outside = read_patch(&item, 2.40, 48.85, &spec).unwrap().unwrap_err();
        assert!(
            matches!(outside, crate::sampling::cog::Rejection::Outside(_)),
            "{outside}"
        );
    }

    #[test]
    fn cloudy_scl_rows_reject_the_patch() {
        let dir = tempfile::tempdir().unwrap();
        let scene = FixtureScene {
            id: "cloudy".into(),
            date: Date::new(2021, 3, 10).unwrap(),
            cloud_cover: 1.0,
            lon: -60.0,
            lat: -3.0,
            side_px: 60,
            bands: vec!["B2".into()],
            cloudy_rows: 1.0,
            baseline_offset: false,
        };
        let item = write_scene(dir.path(), &dir.path().display().to_string(), &scene).unwrap();
        assert_eq!(item.properties.epsg, Some(32721));
        let spec = PatchSpec {
            size_px: 12,
            bands: vec!["B2".into()],
            max_cloud_fraction: 0.1,
            max_nodata_fraction: 0.0,
        };
        let rejection = read_patch(&item, -60.0, -3.0, &spec).unwrap().unwrap_err();
        assert_eq!(rejection, crate::sampling::cog::Rejection::Cloudy(1.0));
    }
}
