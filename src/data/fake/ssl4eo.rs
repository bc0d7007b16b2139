//! Fake SSL4EO-S12 (Wang et al. 2022) in the release's Sentinel-2 layout, as `super::super::ssl4eo` describes it:
//! `<root>/s2c/` (or `s2a/`), one 7-digit folder per location, 4 seasonal product folders named like Earth Engine
//! indices, one uint16 GeoTIFF per band at its own resolution, in longitude/latitude (EPSG:4326).

use std::path::Path;

use rand::{Rng, SeedableRng};

use super::{FakeDataset, FakeSpec};
use crate::data::dates::Date;
use crate::data::ssl4eo::{Level, SEASONS};
use crate::data::timeseries::{band_resolution, ProductMetadata};
use crate::data::Image;
use crate::Result;

/// A fake SSL4EO-S12 level folder: `n_locations` locations of [`SEASONS`] products, bands on a `size` px 10 m grid
/// (`size` a multiple of 6, so 60 m bands are `size / 6` px).
#[derive(Debug, Clone)]
pub struct FakeSsl4eo {
    pub level: Level,
    pub n_locations: usize,
    pub size: usize,
    pub seed: u64,
}

/// Degrees per 10 m pixel at the equator, about (the release's patches are 2.64 km wide).
const DEGREES_PER_10M: f64 = 9.0e-5;

impl FakeDataset for FakeSsl4eo {
    /// Every product as written (id, date, centre of its footprint), location by location, in date order.
    type Written = Vec<Vec<ProductMetadata>>;

    /// `spec.n` locations of Level-1C (13 bands) on a 24 px grid.
    fn from_spec(spec: &FakeSpec) -> Self {
        FakeSsl4eo {
            level: Level::L1c,
            n_locations: spec.n,
            size: 24,
            seed: spec.seed,
        }
    }

    fn write(&self, root: &Path) -> Result<Self::Written> {
        let mut rng = rand::rngs::StdRng::seed_from_u64(self.seed);
        let level_root = root.join(self.level.folder());
        let mut all = Vec::with_capacity(self.n_locations);
        for loc in 0..self.n_locations {
            let (lon, lat) = (rng.random_range(-170.0..170.0), rng.random_range(-60.0..70.0));
            let start = Date {
                year: 2020,
                month: 1,
                day: 1,
            }
            .add_days(rng.random_range(0..300));
            let mut products = Vec::with_capacity(SEASONS);
            for season in 0..SEASONS {
                let date = start.add_days(91 * season as i64 + rng.random_range(0..20));
                let (hour, minute) = (rng.random_range(8..14), rng.random_range(0..60));
                let sensed = format!("{}T{hour:02}{minute:02}00", date.compact());
                let meta = ProductMetadata {
                    product_id: format!("{sensed}_{sensed}_T{:02}FAK", loc % 60 + 1),
                    date,
                    lon,
                    lat,
                    cloud_fraction: None,
                };
                let dir = level_root.join(format!("{loc:07}")).join(&meta.product_id);
                std::fs::create_dir_all(&dir).map_err(|e| crate::Error::io(&dir, e))?;
                for band in self.level.bands() {
                    let res = band_resolution(band).unwrap_or(10) as usize;
                    let side = self.size * 10 / res;
                    let data = (0..side * side)
                        .map(|_| rng.random_range(0..10_000u16) as f32)
                        .collect();
                    let image = Image {
                        n_bands: 1,
                        height: side,
                        width: side,
                        data,
                    };
                    write_band(&dir.join(format!("{band}.tif")), &image, lon, lat, res)?;
                }
                products.push(meta);
            }
            all.push(products);
        }
        Ok(all)
    }

    fn count(written: &Self::Written) -> usize {
        written.iter().map(Vec::len).sum()
    }
}

/// One uint16 band centred on (lon, lat), `res` m pixels, in EPSG:4326.
#[cfg(feature = "gdal")]
fn write_band(path: &Path, image: &Image, lon: f64, lat: f64, res: usize) -> Result<()> {
    let gdal_err = |e: gdal::errors::GdalError| crate::Error::bad_input(path, format!("GDAL: {e}"));
    let pixel = DEGREES_PER_10M * res as f64 / 10.0;
    let (w, h) = (image.width as f64, image.height as f64);
    let geo_transform = [lon - pixel * w / 2.0, pixel, 0.0, lat + pixel * h / 2.0, 0.0, -pixel];
    let driver = gdal::DriverManager::get_driver_by_name("GTiff").map_err(gdal_err)?;
    let mut dataset = driver
        .create_with_band_type::<u16, _>(path, image.width, image.height, 1)
        .map_err(gdal_err)?;
    dataset.set_geo_transform(&geo_transform).map_err(gdal_err)?;
    let wgs84 = gdal::spatial_ref::SpatialRef::from_epsg(4326).map_err(gdal_err)?;
    dataset.set_spatial_ref(&wgs84).map_err(gdal_err)?;
    let values: Vec<u16> = image
        .data
        .iter()
        .map(|&v| v.clamp(0.0, 65535.0).round() as u16)
        .collect();
    let mut buffer = gdal::raster::Buffer::new((image.width, image.height), values);
    dataset
        .rasterband(1)
        .map_err(gdal_err)?
        .write((0, 0), (image.width, image.height), &mut buffer)
        .map_err(gdal_err)
}

#[cfg(not(feature = "gdal"))]
fn write_band(path: &Path, _image: &Image, _lon: f64, _lat: f64, _res: usize) -> Result<()> {
    Err(crate::Error::bad_input(
        path,
        "GeoTIFF writing needs caco's `gdal` feature",
    ))
}
