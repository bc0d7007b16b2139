//! Generators of tiny fake datasets in the real on-disk layouts (torchgeo's habit), for tests and smoke runs.
//! Each class gets its own mean colour so that a classifier can separate them.

use std::collections::HashMap;
use std::path::Path;

use rand::{Rng, SeedableRng};

use super::eurosat::{EUROSAT_MS_BANDS, EUROSAT_SIZE};
use super::Image;
use crate::{Error, Result};

/// What to generate: class folder names, images per class, and the seed.
#[derive(Debug, Clone)]
pub struct FakeEurosat {
    pub classes: Vec<String>,
    pub n_per_class: usize,
    pub seed: u64,
}

impl FakeEurosat {
    /// The ten real EuroSAT class names, `n_per_class` images each.
    pub fn with_eurosat_classes(n_per_class: usize, seed: u64) -> Self {
        let classes = super::eurosat::EUROSAT_CLASSES.iter().map(|c| c.to_string()).collect();
        FakeEurosat {
            classes,
            n_per_class,
            seed,
        }
    }
}

/// An image with every pixel of band `b` equal to `values[b]`.
pub fn solid_image(n_bands: usize, height: usize, width: usize, values: &[f32]) -> Image {
    let data = (0..n_bands)
        .flat_map(|b| std::iter::repeat_n(values[b], height * width))
        .collect();
    Image {
        n_bands,
        height,
        width,
        data,
    }
}

/// Class `class_idx` of `n_classes`: a mean per band, well apart from the other classes, plus uniform noise and a
/// horizontal gradient so images are not flat.
fn class_image(rng: &mut impl Rng, class_idx: usize, n_classes: usize, n_bands: usize, lo: f32, hi: f32) -> Image {
    let n = EUROSAT_SIZE * EUROSAT_SIZE;
    let span = hi - lo;
    let mut data = Vec::with_capacity(n_bands * n);
    for b in 0..n_bands {
        // Each band orders the classes differently (c * step mod n), so every pair of classes differs in
        // several bands by at least one grey level step of the class ladder.
        let step = [1, 3, 7, 9, 11, 13][b % 6];
        let rung = ((class_idx * step + b) % n_classes) as f32 / (n_classes.max(2) - 1) as f32;
        let mean = lo + span * (0.15 + 0.7 * rung);
        for px in 0..n {
            let col = (px % EUROSAT_SIZE) as f32 / EUROSAT_SIZE as f32;
            let v = mean + span * (0.05 * (col - 0.5) + rng.random_range(-0.04..0.04));
            data.push(v.clamp(lo, hi).round());
        }
    }
    Image {
        n_bands,
        height: EUROSAT_SIZE,
        width: EUROSAT_SIZE,
        data,
    }
}

fn write_classes(
    root: &Path,
    spec: &FakeEurosat,
    extension: &str,
    make: impl Fn(&mut rand::rngs::StdRng, usize) -> Image,
    write: impl Fn(&Path, &Image) -> Result<()>,
) -> Result<HashMap<String, Image>> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(spec.seed);
    let mut written = HashMap::new();
    for (class_idx, class) in spec.classes.iter().enumerate() {
        let dir = root.join(class);
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        for i in 1..=spec.n_per_class {
            let rel_path = format!("{class}/{class}_{i}.{extension}");
            let image = make(&mut rng, class_idx);
            write(&root.join(&rel_path), &image)?;
            written.insert(rel_path, image);
        }
    }
    Ok(written)
}

/// Writes `root/<Class>/<Class>_<n>.jpg` (64x64 RGB JPEG) and returns the images as generated (before JPEG loss).
pub fn write_eurosat_rgb(root: &Path, spec: &FakeEurosat) -> Result<HashMap<String, Image>> {
    let n_classes = spec.classes.len();
    write_classes(
        root,
        spec,
        "jpg",
        |rng, c| class_image(rng, c, n_classes, 3, 0.0, 255.0),
        write_jpeg,
    )
}

/// Writes `root/<Class>/<Class>_<n>.tif` (64x64, 13-band uint16 GeoTIFF, EuroSAT MS band order).
pub fn write_eurosat_ms(root: &Path, spec: &FakeEurosat) -> Result<HashMap<String, Image>> {
    let n_classes = spec.classes.len();
    let n_bands = EUROSAT_MS_BANDS.len();
    write_classes(
        root,
        spec,
        "tif",
        |rng, c| class_image(rng, c, n_classes, n_bands, 100.0, 4000.0),
        write_geotiff_u16,
    )
}

/// Writes a 1- or 3-band image (values 0-255) as a JPEG of quality 95.
pub fn write_jpeg(path: &Path, image: &Image) -> Result<()> {
    let n = image.height * image.width;
    let mut raw = vec![0u8; n * image.n_bands];
    for b in 0..image.n_bands {
        for (px, &v) in image.band(b).iter().enumerate() {
            raw[px * image.n_bands + b] = v.clamp(0.0, 255.0).round() as u8;
        }
    }
    let color = match image.n_bands {
        1 => image::ExtendedColorType::L8,
        3 => image::ExtendedColorType::Rgb8,
        n => return Err(Error::bad_input(path, format!("cannot write a {n}-band JPEG"))),
    };
    let file = std::fs::File::create(path).map_err(|e| Error::io(path, e))?;
    let mut encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(std::io::BufWriter::new(file), 95);
    encoder
        .encode(&raw, image.width as u32, image.height as u32, color)
        .map_err(|e| Error::bad_input(path, format!("JPEG encoding failed: {e}")))
}

/// Writes a uint16 GeoTIFF (UTM-like 10 m geotransform) with one band per image band.
pub fn write_geotiff_u16(path: &Path, image: &Image) -> Result<()> {
    write_geotiff(path, image, |v| v.clamp(0.0, 65535.0).round() as u16)
}

/// Writes a uint8 GeoTIFF (SeCo stores its bands as uint8) with one band per image band.
pub fn write_geotiff_u8(path: &Path, image: &Image) -> Result<()> {
    write_geotiff(path, image, |v| v.clamp(0.0, 255.0).round() as u8)
}

#[cfg(feature = "gdal")]
fn write_geotiff<T: gdal::raster::GdalType + Copy>(path: &Path, image: &Image, convert: fn(f32) -> T) -> Result<()> {
    let gdal_err = |e: gdal::errors::GdalError| Error::bad_input(path, format!("GDAL: {e}"));
    let driver = gdal::DriverManager::get_driver_by_name("GTiff").map_err(gdal_err)?;
    let mut dataset = driver
        .create_with_band_type::<T, _>(path, image.width, image.height, image.n_bands)
        .map_err(gdal_err)?;
    dataset
        .set_geo_transform(&[500_000.0, 10.0, 0.0, 5_000_000.0, 0.0, -10.0])
        .map_err(gdal_err)?;
    for b in 0..image.n_bands {
        let values: Vec<T> = image.band(b).iter().map(|&v| convert(v)).collect();
        let mut buffer = gdal::raster::Buffer::new((image.width, image.height), values);
        let mut band = dataset.rasterband(b + 1).map_err(gdal_err)?;
        band.write((0, 0), (image.width, image.height), &mut buffer)
            .map_err(gdal_err)?;
    }
    Ok(())
}

#[cfg(not(feature = "gdal"))]
fn write_geotiff<T>(path: &Path, _image: &Image, _convert: fn(f32) -> T) -> Result<()> {
    Err(Error::bad_input(path, "GeoTIFF writing needs caco's `gdal` feature"))
}

/// A fake SeCo/CACo time series: `n_locations` folders with `dates_per_era` (SeCo) or twice that many (CACo)
/// product folders of tiny uint8 GeoTIFFs, each band at its Sentinel-2 resolution on a `size` px 10 m grid
/// (`size` a multiple of 6), with metadata.json.
#[derive(Debug, Clone)]
pub struct FakeTimeSeries {
    pub layout: super::timeseries::Layout,
    pub n_locations: usize,
    pub dates_per_era: usize,
    pub bands: Vec<String>,
    pub size: usize,
    pub seed: u64,
}

/// Writes the fake series; returns every product's metadata, location by location, in date order.
pub fn write_timeseries(root: &Path, spec: &FakeTimeSeries) -> Result<Vec<Vec<super::timeseries::ProductMetadata>>> {
    use super::dates::Date;
    use super::timeseries::{band_resolution, write_product, Layout, ProductMetadata};
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
