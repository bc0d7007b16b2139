//! Readers of the Sentinel-2 time-series layouts used for pre-training:
//! SeCo (Mañas et al. 2021) `root/{location:06d}/{product id}/{B1..B12}.tif` with 5 dates per location, and
//! CACo (Mall et al. 2023), the same folders with two eras of 5 dates per location; dataset item 2k is the older
//! era of location k, item 2k+1 the recent era (METHODS.md). Each product folder may hold a `metadata.json` with
//! the date and coordinates; without one the date is read from the product id (`YYYYMMDD...`).
//! Bands at 20 m and 60 m are resampled (bilinear, by GDAL) onto the grid of the finest selected band.
//! SSL4EO-S12 (Wang et al. 2022), 4 seasons per location in L1C or L2A, is read here too; its own facts (level
//! folders, bands, coordinates from the GeoTIFFs) are in [`super::ssl4eo`].

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::dates::Date;
use super::Image;
use crate::{Error, Result};

/// SeCo's 12 Sentinel-2 L2A bands (B10 is not in L2A), in its file names.
pub const SENTINEL2_BANDS: [&str; 12] = [
    "B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9", "B11", "B12",
];

/// RGB as SeCo stacks it: red, green, blue.
pub const RGB_BANDS: [&str; 3] = ["B4", "B3", "B2"];

/// Ground sampling distance of a Sentinel-2 band in metres (10, 20 or 60).
pub fn band_resolution(band: &str) -> Option<u32> {
    match band {
        "B2" | "B3" | "B4" | "B8" => Some(10),
        "B5" | "B6" | "B7" | "B8A" | "B11" | "B12" => Some(20),
        "B1" | "B9" | "B10" => Some(60),
        _ => None,
    }
}

/// Which layout a folder holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Layout {
    /// One series of dates per location; item = location.
    Seco,
    /// Two eras per location (older, recent); item 2k = older era of location k, 2k+1 = recent era.
    Caco,
    /// SSL4EO-S12: one series of 4 seasons per location (item = location), dates from the product ids,
    /// coordinates from the GeoTIFFs; the root may be the folder holding `s2c/` or `s2a/` ([`super::ssl4eo`]).
    Ssl4eoS12,
}

impl Layout {
    /// The name a config spells (`data.layout`).
    pub fn name(self) -> &'static str {
        match self {
            Layout::Seco => "seco",
            Layout::Caco => "caco",
            Layout::Ssl4eoS12 => "ssl4eo-s12",
        }
    }
}

/// `metadata.json` of a product folder. Other fields (as in the originals' files) are ignored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProductMetadata {
    pub product_id: String,
    pub date: Date,
    /// Longitude and latitude of the patch centre, degrees (WGS84).
    pub lon: f64,
    pub lat: f64,
    #[serde(default)]
    pub cloud_fraction: Option<f64>,
}

/// One acquisition of a location.
#[derive(Debug, Clone, PartialEq)]
pub struct Product {
    pub id: String,
    pub date: Date,
    pub dir: PathBuf,
}

/// One place: its products sorted by date, and its coordinates (NaN when no metadata gives them).
#[derive(Debug, Clone, PartialEq)]
pub struct Location {
    pub id: String,
    pub dir: PathBuf,
    pub lon: f64,
    pub lat: f64,
    pub products: Vec<Product>,
}

/// How to open a time-series folder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeSeriesOptions {
    pub layout: Layout,
    /// Band file stems to read, in this order (e.g. `["B4", "B3", "B2"]`).
    pub bands: Vec<String>,
    /// Dates per era (SeCo and CACo: 5; not used by SSL4EO-S12, whose locations have 4 seasons).
    #[serde(default = "default_dates_per_era")]
    pub dates_per_era: usize,
    /// Skip (and count) bad locations instead of failing on the first one.
    #[serde(default)]
    pub skip_bad: bool,
    /// Applied as images are read, before any augmentation (SeCo stretches its uint8 RGB this way).
    #[serde(default)]
    pub stretch: Option<BandStretch>,
}

/// SeCo's uint8 stretch: per band `floor(255 * clamp((x - lo) / (hi - lo), 0, 1))` (clip, then the cast to uint8),
/// one (lo, hi) per selected band.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BandStretch {
    pub lo: Vec<f32>,
    pub hi: Vec<f32>,
}

/// SeCo's RGB quantiles in its uint8 domain (METHODS.md): B2 3-88, B3 2-103, B4 0-129.
const SECO_RGB_QUANTILES: [(&str, f32, f32); 3] = [("B2", 3.0, 88.0), ("B3", 2.0, 103.0), ("B4", 0.0, 129.0)];

impl BandStretch {
    /// SeCo's RGB quantiles for bands B4, B3, B2 in this order.
    pub fn seco_rgb() -> Self {
        Self::seco_rgb_for(&["B4", "B3", "B2"]).expect("RGB bands")
    }

    /// SeCo's RGB quantiles matched to `bands` by name (`B4` or `B04`, any order); another band is an error.
    pub fn seco_rgb_for<S: AsRef<str>>(bands: &[S]) -> Result<Self> {
        let mut lo = Vec::new();
        let mut hi = Vec::new();
        for band in bands {
            let name = band.as_ref();
            let canonical = name.replacen("B0", "B", 1);
            let (_, l, h) = SECO_RGB_QUANTILES
                .iter()
                .find(|(b, _, _)| *b == canonical)
                .ok_or_else(|| {
                    Error::Config(format!(
                        "stretch \"seco-rgb\" covers B2, B3 and B4 only (SeCo's RGB quantiles); band `{name}` has none"
                    ))
                })?;
            lo.push(*l);
            hi.push(*h);
        }
        Ok(BandStretch { lo, hi })
    }

    pub fn apply(&self, image: &mut Image) {
        let n = image.height * image.width;
        for (b, band) in image.data.chunks_mut(n).enumerate() {
            let (lo, hi) = (self.lo[b], self.hi[b]);
            band.iter_mut()
                .for_each(|x| *x = (255.0 * ((*x - lo) / (hi - lo)).clamp(0.0, 1.0)).floor());
        }
    }
}

/// A stretch in a config: a named preset resolved against the selected bands (`"seco-rgb"`), or explicit bounds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum StretchSpec {
    Named(String),
    Bounds(BandStretch),
}

impl StretchSpec {
    /// The per-band stretch for `bands` (in their order).
    pub fn resolve<S: AsRef<str>>(&self, bands: &[S]) -> Result<BandStretch> {
        match self {
            StretchSpec::Named(name) if name == "seco-rgb" => BandStretch::seco_rgb_for(bands),
            StretchSpec::Named(name) => Err(Error::Config(format!(
                "unknown stretch `{name}` (known: \"seco-rgb\", or {{ lo = [...], hi = [...] }})"
            ))),
            StretchSpec::Bounds(b) => Ok(b.clone()),
        }
    }
}

fn default_dates_per_era() -> usize {
    5
}

impl TimeSeriesOptions {
    pub fn new(layout: Layout, bands: &[&str]) -> Self {
        TimeSeriesOptions {
            layout,
            bands: bands.iter().map(|b| b.to_string()).collect(),
            dates_per_era: 5,
            skip_bad: false,
            stretch: None,
        }
    }

    fn validate(&self) -> Result<()> {
        if self.bands.is_empty() || self.dates_per_era == 0 {
            return Err(Error::Config(
                "time series: need at least one band and dates_per_era > 0".into(),
            ));
        }
        if let Some(s) = &self.stretch {
            if s.lo.len() != self.bands.len()
                || s.hi.len() != self.bands.len()
                || s.lo.iter().zip(&s.hi).any(|(l, h)| !(l < h))
            {
                return Err(Error::Config(format!(
                    "time series: stretch needs one lo < hi per band ({} bands), got lo {:?}, hi {:?}",
                    self.bands.len(),
                    s.lo,
                    s.hi
                )));
            }
        }
        if let Some(b) = self.bands.iter().find(|b| band_resolution(b).is_none()) {
            return Err(Error::Config(format!(
                "time series: unknown Sentinel-2 band `{b}` (known: {SENTINEL2_BANDS:?})"
            )));
        }
        Ok(())
    }

    /// Dates a location must have.
    pub fn dates_needed(&self) -> usize {
        match self.layout {
            Layout::Seco => self.dates_per_era,
            Layout::Caco => 2 * self.dates_per_era,
            Layout::Ssl4eoS12 => super::ssl4eo::SEASONS,
        }
    }
}

/// A scanned time-series folder.
#[derive(Debug, Clone)]
pub struct TimeSeries {
    pub root: PathBuf,
    pub options: TimeSeriesOptions,
    pub locations: Vec<Location>,
    /// Locations skipped under `skip_bad`, with the reason.
    pub skipped: Vec<(PathBuf, String)>,
}

impl TimeSeries {
    /// Scans `root`: every location folder, its product folders and metadata, and checks that every selected band
    /// file exists and that there are enough dates. Band sizes are checked when images are read.
    pub fn open(root: impl AsRef<Path>, options: TimeSeriesOptions) -> Result<Self> {
        options.validate()?;
        let root = root.as_ref().to_path_buf();
        if !root.is_dir() && options.layout == Layout::Ssl4eoS12 {
            return Err(Error::DatasetNotFound {
                dataset: "SSL4EO-S12".into(),
                root,
                hint: super::ssl4eo::not_found_hint(),
            });
        }
        if !root.is_dir() {
            return Err(super::not_found(
                &format!("{} time series", options.layout.name()),
                &root,
                "the simulated set: `cargo xtask data simulate` (writes derived/eurosat-seasons); SeCo: \
                 the SeCo-100k/1M archives of ServiceNow/seasonal-contrast; CACo: the CACo-10k/1M archives \
                 (Zenodo record 10913174)",
            ));
        }
        let root = match options.layout {
            Layout::Ssl4eoS12 => super::ssl4eo::level_root(&root, &options.bands)?,
            _ => root,
        };
        let mut locations = Vec::new();
        let mut skipped = Vec::new();
        for dir in subdirs(&root)? {
            match scan_location(&dir, &options) {
                Ok(location) => locations.push(location),
                Err(e) if options.skip_bad => skipped.push((dir, e.to_string())),
                Err(e) => return Err(e),
            }
        }
        if locations.is_empty() {
            return Err(Error::bad_input(
                &root,
                format!("no usable location folders ({} skipped)", skipped.len()),
            ));
        }
        Ok(TimeSeries {
            root,
            options,
            locations,
            skipped,
        })
    }

    /// A one-line summary of skipped locations, if any.
    pub fn skipped_summary(&self) -> Option<String> {
        let (first, reason) = self.skipped.first()?;
        Some(format!(
            "skipped {} of {} locations in {} (first: {}: {reason})",
            self.skipped.len(),
            self.skipped.len() + self.locations.len(),
            self.root.display(),
            first.display()
        ))
    }

    /// Dataset items: locations (SeCo) or location eras (CACo).
    pub fn n_items(&self) -> usize {
        match self.options.layout {
            Layout::Seco | Layout::Ssl4eoS12 => self.locations.len(),
            Layout::Caco => 2 * self.locations.len(),
        }
    }

    pub fn location_idx(&self, item_idx: usize) -> usize {
        match self.options.layout {
            Layout::Seco | Layout::Ssl4eoS12 => item_idx,
            Layout::Caco => item_idx / 2,
        }
    }

    /// 0 for the older era, 1 for the recent one (always 0 for SeCo).
    pub fn era(&self, item_idx: usize) -> usize {
        match self.options.layout {
            Layout::Seco | Layout::Ssl4eoS12 => 0,
            Layout::Caco => item_idx % 2,
        }
    }

    /// The dates an item's views are drawn from: every date (SeCo) or the item's era (CACo: the first
    /// `dates_per_era` dates are the older era, the last `dates_per_era` the recent one).
    pub fn item_products(&self, item_idx: usize) -> &[Product] {
        let products = &self.locations[self.location_idx(item_idx)].products;
        let n = self.options.dates_per_era;
        match (self.options.layout, self.era(item_idx)) {
            (Layout::Seco | Layout::Ssl4eoS12, _) => products,
            (Layout::Caco, 0) => &products[..n],
            (Layout::Caco, _) => &products[products.len() - n..],
        }
    }

    /// (lon, lat) of an item's location.
    pub fn coordinates(&self, item_idx: usize) -> (f64, f64) {
        let loc = &self.locations[self.location_idx(item_idx)];
        (loc.lon, loc.lat)
    }

    /// Reads the selected bands of one product onto the grid of the finest selected band.
    pub fn load(&self, product: &Product) -> Result<Image> {
        let mut image = load_product(&product.dir, &self.options.bands)?;
        if let Some(stretch) = &self.options.stretch {
            stretch.apply(&mut image);
        }
        Ok(image)
    }
}

fn subdirs(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_dir()
                && !p
                    .file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with('.'))
        })
        .collect();
    dirs.sort();
    Ok(dirs)
}

/// How a user gets past a bad location.
const SKIP_BAD_FIX: &str = "set `skip_bad = true` under [data] to skip such locations";

fn scan_location(dir: &Path, options: &TimeSeriesOptions) -> Result<Location> {
    let id = dir.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
    let (mut lon, mut lat) = (f64::NAN, f64::NAN);
    let mut products = Vec::new();
    for product_dir in subdirs(dir)? {
        let product_id = product_dir
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        let meta_path = product_dir.join("metadata.json");
        // SSL4EO-S12's folders may hold the authors' Earth Engine properties there, not caco's product metadata.
        let date = if meta_path.is_file() && options.layout != Layout::Ssl4eoS12 {
            let text = std::fs::read_to_string(&meta_path).map_err(|e| Error::io(&meta_path, e))?;
            let meta: ProductMetadata = serde_json::from_str(&text)
                .map_err(|e| Error::bad_input(&meta_path, format!("not a product metadata file: {e}")))?;
            if lon.is_nan() {
                (lon, lat) = (meta.lon, meta.lat);
            }
            meta.date
        } else {
            Date::parse(&product_id).ok_or_else(|| {
                Error::bad_input(
                    &product_dir,
                    "no metadata.json and the folder name does not start with YYYYMMDD",
                )
            })?
        };
        for band in &options.bands {
            let path = product_dir.join(format!("{band}.tif"));
            if !path.is_file() {
                let hint = match options.layout {
                    Layout::Ssl4eoS12 => super::ssl4eo::missing_band_hint(band),
                    _ => "",
                };
                return Err(Error::bad_input(
                    &path,
                    format!("missing band {band}{hint}; {SKIP_BAD_FIX}"),
                ));
            }
        }
        products.push(Product {
            id: product_id,
            date,
            dir: product_dir,
        });
    }
    if products.len() < options.dates_needed() {
        return Err(Error::bad_input(
            dir,
            format!(
                "{} dates, the {} layout needs {}; {SKIP_BAD_FIX}",
                products.len(),
                options.layout.name(),
                options.dates_needed()
            ),
        ));
    }
    products.sort_by(|a, b| (a.date, &a.id).cmp(&(b.date, &b.id)));
    if options.layout == Layout::Ssl4eoS12 {
        (lon, lat) = super::ssl4eo::footprint_centre(&products[0].dir.join(format!("{}.tif", options.bands[0])))?;
    }
    Ok(Location {
        id,
        dir: dir.to_path_buf(),
        lon,
        lat,
        products,
    })
}

/// Reads `dir/{band}.tif` for every band onto the grid of the finest one. A band whose size does not match its
/// resolution on that grid, a multi-band file or an unreadable file is an error naming the file.
#[cfg(feature = "gdal")]
pub fn load_product(dir: &Path, bands: &[String]) -> Result<Image> {
    let finest = bands
        .iter()
        .min_by_key(|b| band_resolution(b).unwrap_or(u32::MAX))
        .ok_or_else(|| Error::Config("no bands selected".into()))?;
    let finest_res = band_resolution(finest).unwrap_or(10);
    let open = |band: &str| -> Result<(PathBuf, gdal::Dataset)> {
        let path = dir.join(format!("{band}.tif"));
        let ds =
            gdal::Dataset::open(&path).map_err(|e| Error::bad_input(&path, format!("GDAL cannot open it: {e}")))?;
        if ds.raster_count() != 1 {
            return Err(Error::bad_input(
                &path,
                format!("expected 1 band per file, found {}", ds.raster_count()),
            ));
        }
        Ok((path, ds))
    };
    let (_, grid_ds) = open(finest)?;
    let (width, height) = grid_ds.raster_size();
    drop(grid_ds);
    let mut data = Vec::with_capacity(bands.len() * width * height);
    for band in bands {
        let (path, ds) = open(band)?;
        let ratio = band_resolution(band).unwrap_or(finest_res) as f64 / finest_res as f64;
        let expected = (
            (width as f64 / ratio).round() as usize,
            (height as f64 / ratio).round() as usize,
        );
        let size = ds.raster_size();
        if size.0.abs_diff(expected.0) > 1 || size.1.abs_diff(expected.1) > 1 {
            return Err(Error::bad_input(
                &path,
                format!(
                    "{}x{} px, expected {}x{} for a {} m band on the {width}x{height} grid of {finest}.tif",
                    size.0,
                    size.1,
                    expected.0,
                    expected.1,
                    band_resolution(band).unwrap_or(0)
                ),
            ));
        }
        let raster = ds.rasterband(1).map_err(|e| Error::bad_input(&path, e.to_string()))?;
        let resample = (size != (width, height)).then_some(gdal::raster::ResampleAlg::Bilinear);
        let buffer = raster
            .read_as::<f32>((0, 0), size, (width, height), resample)
            .map_err(|e| Error::bad_input(&path, format!("cannot read: {e}")))?;
        data.extend_from_slice(buffer.data());
    }
    Ok(Image {
        n_bands: bands.len(),
        height,
        width,
        data,
    })
}

/// Reads single-band rasters (one file per band, in order) onto the grid of the largest of them, resampling the
/// coarser ones bilinearly. Used by the OSCD and BigEarthNet readers, whose bands are files of their own.
#[cfg(feature = "gdal")]
pub fn read_band_files(paths: &[PathBuf], dataset: &str) -> Result<Image> {
    let mut opened = Vec::with_capacity(paths.len());
    for path in paths {
        let ds = gdal::Dataset::open(path).map_err(|e| Error::bad_input(path, format!("GDAL cannot open it: {e}")))?;
        opened.push((path, ds));
    }
    let (width, height) = opened
        .iter()
        .map(|(_, ds)| ds.raster_size())
        .max_by_key(|&(w, h)| w * h)
        .ok_or_else(|| Error::Config(format!("{dataset}: no bands selected")))?;
    let mut data = Vec::with_capacity(paths.len() * width * height);
    for (path, ds) in &opened {
        let size = ds.raster_size();
        let raster = ds.rasterband(1).map_err(|e| Error::bad_input(*path, e.to_string()))?;
        let resample = (size != (width, height)).then_some(gdal::raster::ResampleAlg::Bilinear);
        let buffer = raster
            .read_as::<f32>((0, 0), size, (width, height), resample)
            .map_err(|e| Error::bad_input(*path, format!("cannot read: {e}")))?;
        data.extend_from_slice(buffer.data());
    }
    Ok(Image {
        n_bands: paths.len(),
        height,
        width,
        data,
    })
}

#[cfg(not(feature = "gdal"))]
pub fn load_product(dir: &Path, _bands: &[String]) -> Result<Image> {
    Err(Error::bad_input(dir, "GeoTIFF reading needs caco's `gdal` feature"))
}

/// Writes one product folder: `dir/{band}.tif` (uint8 GeoTIFF per band; `image` bands in `bands` order, each band
/// at its own size) and `dir/metadata.json`.
pub fn write_product(dir: &Path, meta: &ProductMetadata, bands: &[(&str, Image)]) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    for (name, image) in bands {
        super::image_io::write_geotiff_u8(&dir.join(format!("{name}.tif")), image)?;
    }
    let meta_path = dir.join("metadata.json");
    let text = serde_json::to_string_pretty(meta).expect("metadata serialises");
    std::fs::write(&meta_path, text).map_err(|e| Error::io(&meta_path, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::fake::timeseries::{write_timeseries, FakeTimeSeries};

    fn spec(layout: Layout, bands: &[&str]) -> FakeTimeSeries {
        FakeTimeSeries {
            layout,
            n_locations: 3,
            dates_per_era: 5,
            bands: bands.iter().map(|b| b.to_string()).collect(),
            size: 12,
            seed: 4,
        }
    }

    #[test]
    fn seco_layout_round_trip_with_rgb_selection() {
        let dir = tempfile::tempdir().unwrap();
        let written = write_timeseries(dir.path(), &spec(Layout::Seco, &SENTINEL2_BANDS)).unwrap();
        let ts = TimeSeries::open(dir.path(), TimeSeriesOptions::new(Layout::Seco, &RGB_BANDS)).unwrap();
        assert_eq!(ts.n_items(), 3);
        let products = ts.item_products(1);
        assert_eq!(products.len(), 5);
        assert!(products.windows(2).all(|w| w[0].date < w[1].date));
        assert_eq!(products[0].date, written[1][0].date);
        assert_eq!(ts.coordinates(1), (written[1][0].lon, written[1][0].lat));
        let img = ts.load(&products[2]).unwrap();
        assert_eq!((img.n_bands, img.height, img.width), (3, 12, 12));
        // Band order follows the selection: B4 first. Compare with the file read alone.
        let b4 = load_product(&products[2].dir, &["B4".to_string()]).unwrap();
        assert_eq!(img.band(0), &b4.data[..]);
    }

    #[test]
    fn all_bands_are_resampled_onto_the_10m_grid() {
        let dir = tempfile::tempdir().unwrap();
        write_timeseries(dir.path(), &spec(Layout::Seco, &SENTINEL2_BANDS)).unwrap();
        let ts = TimeSeries::open(dir.path(), TimeSeriesOptions::new(Layout::Seco, &SENTINEL2_BANDS)).unwrap();
        let product = &ts.item_products(0)[0];
        // Make B11 (20 m, 6x6) constant: after bilinear upsampling to 12x12 it must stay constant.
        crate::data::image_io::write_geotiff_u8(
            &product.dir.join("B11.tif"),
            &crate::data::fake::solid_image(1, 6, 6, &[77.0]),
        )
        .unwrap();
        let img = ts.load(product).unwrap();
        assert_eq!((img.n_bands, img.height, img.width), (12, 12, 12));
        let b11 = SENTINEL2_BANDS.iter().position(|b| *b == "B11").unwrap();
        assert!(img.band(b11).iter().all(|&v| (v - 77.0).abs() < 1e-3));
    }

    #[test]
    fn caco_items_are_eras_of_locations() {
        let dir = tempfile::tempdir().unwrap();
        let written = write_timeseries(dir.path(), &spec(Layout::Caco, &RGB_BANDS)).unwrap();
        let ts = TimeSeries::open(dir.path(), TimeSeriesOptions::new(Layout::Caco, &RGB_BANDS)).unwrap();
        assert_eq!(ts.n_items(), 6);
        for k in 0..3 {
            let (older, recent) = (ts.item_products(2 * k), ts.item_products(2 * k + 1));
            assert_eq!((older.len(), recent.len()), (5, 5));
            assert!(older.last().unwrap().date < recent[0].date);
            assert_eq!(older[0].date, written[k][0].date);
            assert_eq!(recent[4].date, written[k][9].date);
            assert_eq!((ts.era(2 * k), ts.era(2 * k + 1)), (0, 1));
            assert_eq!(ts.coordinates(2 * k), ts.coordinates(2 * k + 1));
        }
    }

    fn err_text<T: std::fmt::Debug>(r: Result<T>) -> String {
        r.expect_err("expected an error").to_string()
    }

    #[test]
    fn bad_locations_are_errors_naming_the_path_or_skipped_and_counted() {
        let dir = tempfile::tempdir().unwrap();
        write_timeseries(dir.path(), &spec(Layout::Seco, &RGB_BANDS)).unwrap();
        let options = TimeSeriesOptions::new(Layout::Seco, &RGB_BANDS);
        let ts = TimeSeries::open(dir.path(), options.clone()).unwrap();
        let victim = ts.locations[1].products[3].dir.clone();

        std::fs::remove_file(victim.join("B3.tif")).unwrap();
        let msg = err_text(TimeSeries::open(dir.path(), options.clone()));
        assert!(
            msg.contains(&victim.join("B3.tif").display().to_string()) && msg.contains("missing band B3"),
            "{msg}"
        );

        let skipping = TimeSeries::open(
            dir.path(),
            TimeSeriesOptions {
                skip_bad: true,
                ..options.clone()
            },
        )
        .unwrap();
        assert_eq!((skipping.locations.len(), skipping.skipped.len()), (2, 1));
        let summary = skipping.skipped_summary().unwrap();
        assert!(
            summary.contains("skipped 1 of 3") && summary.contains("missing band B3"),
            "{summary}"
        );

        // Fewer dates than the layout needs.
        std::fs::remove_dir_all(&victim).unwrap();
        let msg = err_text(TimeSeries::open(dir.path(), options.clone()));
        assert!(
            msg.contains("000001") && msg.contains("4 dates") && msg.contains("needs 5"),
            "{msg}"
        );
        assert!(err_text(TimeSeries::open(
            dir.path(),
            TimeSeriesOptions::new(Layout::Caco, &RGB_BANDS)
        ))
        .contains("needs 10"));
    }

    #[test]
    fn mismatched_sizes_and_unreadable_files_are_errors_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        write_timeseries(dir.path(), &spec(Layout::Seco, &["B4", "B3", "B2", "B11"])).unwrap();
        let ts = TimeSeries::open(
            dir.path(),
            TimeSeriesOptions::new(Layout::Seco, &["B4", "B3", "B2", "B11"]),
        )
        .unwrap();
        let product = ts.item_products(0)[0].clone();
        let fake = crate::data::fake::solid_image(1, 9, 9, &[1.0]);
        crate::data::image_io::write_geotiff_u8(&product.dir.join("B3.tif"), &fake).unwrap();
        let msg = err_text(ts.load(&product));
        assert!(
            msg.contains("B3.tif") && msg.contains("9x9 px, expected 12x12"),
            "{msg}"
        );

        crate::data::image_io::write_geotiff_u8(
            &product.dir.join("B3.tif"),
            &crate::data::fake::solid_image(1, 12, 12, &[1.0]),
        )
        .unwrap();
        crate::data::image_io::write_geotiff_u8(
            &product.dir.join("B11.tif"),
            &crate::data::fake::solid_image(1, 12, 12, &[1.0]),
        )
        .unwrap();
        let msg = err_text(ts.load(&product));
        assert!(
            msg.contains("B11.tif") && msg.contains("expected 6x6 for a 20 m band"),
            "{msg}"
        );

        std::fs::write(product.dir.join("B2.tif"), b"not a tiff").unwrap();
        let msg = err_text(ts.load(&product));
        assert!(msg.contains("B2.tif") && msg.contains("GDAL cannot open"), "{msg}");

        std::fs::write(product.dir.join("metadata.json"), b"{").unwrap();
        let msg = err_text(TimeSeries::open(
            dir.path(),
            TimeSeriesOptions::new(Layout::Seco, &RGB_BANDS),
        ));
        assert!(
            msg.contains("metadata.json") && msg.contains("not a product metadata file"),
            "{msg}"
        );
    }

    #[test]
    fn seco_rgb_stretch_maps_quantiles_to_the_full_range() {
        let dir = tempfile::tempdir().unwrap();
        write_timeseries(dir.path(), &spec(Layout::Seco, &RGB_BANDS)).unwrap();
        let options = TimeSeriesOptions {
            stretch: Some(BandStretch::seco_rgb()),
            ..TimeSeriesOptions::new(Layout::Seco, &RGB_BANDS)
        };
        let ts = TimeSeries::open(dir.path(), options).unwrap();
        let product = ts.item_products(0)[0].clone();
        let raw = load_product(&product.dir, &ts.options.bands).unwrap();
        let stretched = ts.load(&product).unwrap();
        for (b, (lo, hi)) in [(0.0, 129.0), (2.0, 103.0), (3.0, 88.0)].into_iter().enumerate() {
            for (r, s) in raw.band(b).iter().zip(stretched.band(b)) {
                let want = (255.0 * ((r - lo) / (hi - lo)).clamp(0.0, 1.0)).floor();
                assert!((s - want).abs() < 1e-3, "band {b}: raw {r} -> {s}, want {want}");
            }
        }
        // B2 at 88 or above saturates; below 3 is black.
        assert!(stretched.band(2).iter().any(|&v| v == 255.0) && stretched.band(2).iter().any(|&v| v == 0.0));
        let bad = TimeSeriesOptions {
            stretch: Some(BandStretch {
                lo: vec![0.0],
                hi: vec![1.0],
            }),
            ..TimeSeriesOptions::new(Layout::Seco, &RGB_BANDS)
        };
        assert!(TimeSeries::open(dir.path(), bad)
            .unwrap_err()
            .to_string()
            .contains("one lo < hi per band"));
        // Matched by band name, whatever the order; a band without a SeCo quantile is an error naming it.
        let named = StretchSpec::Named("seco-rgb".into());
        assert_eq!(
            named.resolve(&["B02", "B4", "B3"]).unwrap(),
            BandStretch {
                lo: vec![3.0, 0.0, 2.0],
                hi: vec![88.0, 129.0, 103.0]
            }
        );
        assert_eq!(named.resolve(&["B4", "B3", "B2"]).unwrap(), BandStretch::seco_rgb());
        assert!(named.resolve(&["B8"]).unwrap_err().to_string().contains("`B8`"));
        assert!(StretchSpec::Named("x".into()).resolve(&["B4"]).is_err());
    }

    #[test]
    fn missing_folder_and_unknown_band_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let msg = err_text(TimeSeries::open(
            dir.path().join("nope"),
            TimeSeriesOptions::new(Layout::Caco, &RGB_BANDS),
        ));
        assert!(
            msg.contains("not found") && msg.contains("nope") && msg.contains("cargo xtask data simulate"),
            "{msg}"
        );
        let msg = err_text(TimeSeries::open(
            dir.path(),
            TimeSeriesOptions::new(Layout::Caco, &["B13"]),
        ));
        assert!(msg.contains("unknown Sentinel-2 band `B13`"), "{msg}");
    }
}
