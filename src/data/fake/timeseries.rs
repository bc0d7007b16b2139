//! Fake SeCo/CACo time series (Mañas et al. 2021; Mall et al. 2023) in their folder layouts: one folder per
//! location, one per product (date), one uint8 GeoTIFF per band and a `metadata.json`.

use std::path::Path;

use rand::{Rng, SeedableRng};

use super::{FakeDataset, FakeSpec};
use crate::data::dates::Date;
use crate::data::timeseries::{band_resolution, write_product, Layout, ProductMetadata, RGB_BANDS};
use crate::data::Image;
use crate::Result;

/// A fake SeCo/CACo time series: `n_locations` folders with `dates_per_era` (SeCo) or twice that many (CACo)
/// product folders of tiny uint8 GeoTIFFs, each band at its Sentinel-2 resolution on a `size` px 10 m grid
/// (`size` a multiple of 6), with metadata.json.
#[derive(Debug, Clone)]
pub struct FakeTimeSeries {
    pub layout: Layout,
    pub n_locations: usize,
    pub dates_per_era: usize,
    pub bands: Vec<String>,
    pub size: usize,
    pub seed: u64,
}

impl FakeDataset for FakeTimeSeries {
    /// Every product's metadata, location by location, in date order.
    type Written = Vec<Vec<ProductMetadata>>;

    /// `spec.n` locations in the CACo layout, two eras of 5 dates, bands B4, B3, B2 on a 24 px grid.
    fn from_spec(spec: &FakeSpec) -> Self {
        FakeTimeSeries {
            layout: Layout::Caco,
            n_locations: spec.n,
            dates_per_era: 5,
            bands: RGB_BANDS.iter().map(|b| b.to_string()).collect(),
            size: 24,
            seed: spec.seed,
        }
    }

    fn write(&self, root: &Path) -> Result<Self::Written> {
        write_timeseries(root, self)
    }

    fn count(written: &Self::Written) -> usize {
        written.iter().map(Vec::len).sum()
    }
}

/// Writes the fake series; returns every product's metadata, location by location, in date order.
pub fn write_timeseries(root: &Path, spec: &FakeTimeSeries) -> Result<Vec<Vec<ProductMetadata>>> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(spec.seed);
    let n_eras = if spec.layout == Layout::Caco { 2 } else { 1 };
    let mut all = Vec::new();
    for loc in 0..spec.n_locations {
        let (lon, lat) = (rng.random_range(-10.0..30.0), rng.random_range(36.0..60.0));
        let mut metas = Vec::new();
        for era in 0..n_eras {
            let start = Date {
                year: 2017 + 4 * era as i32,
                month: 1,
                day: 1,
            }
            .add_days(rng.random_range(0..365));
            for k in 0..spec.dates_per_era {
                let date = start.add_days(84 * k as i64);
                let meta = ProductMetadata {
                    product_id: format!("{}T100000_{}_T00FAKE", date.compact(), date.compact()),
                    date,
                    lon,
                    lat,
                    cloud_fraction: Some(0.0),
                };
                let bands: Vec<(&str, Image)> = spec
                    .bands
                    .iter()
                    .map(|b| {
                        let side = spec.size * 10 / band_resolution(b).unwrap_or(10) as usize;
                        let data = (0..side * side).map(|_| rng.random_range(0..=255u8) as f32).collect();
                        (
                            b.as_str(),
                            Image {
                                n_bands: 1,
                                height: side,
                                width: side,
                                data,
                            },
                        )
                    })
                    .collect();
                write_product(&root.join(format!("{loc:06}")).join(&meta.product_id), &meta, &bands)?;
                metas.push(meta);
            }
        }
        all.push(metas);
    }
    Ok(all)
}
