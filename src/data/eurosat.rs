//! EuroSAT readers (Helber et al. 2019): RGB JPEGs and 13-band Sentinel-2 GeoTIFFs in class folders,
//! `root/<Class>/<Class>_<n>.{jpg,tif}`, 64x64 px. Split lists live in [`super::split`].

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::Image;
use crate::{Error, Result};

/// The ten EuroSAT classes, in the alphabetical order of their folders.
pub const EUROSAT_CLASSES: [&str; 10] = [
    "AnnualCrop",
    "Forest",
    "HerbaceousVegetation",
    "Highway",
    "Industrial",
    "Pasture",
    "PermanentCrop",
    "Residential",
    "River",
    "SeaLake",
];

/// EuroSAT patches are 64x64 pixels.
pub const EUROSAT_SIZE: usize = 64;

/// Band order of the EuroSAT MS GeoTIFFs.
pub const EUROSAT_MS_BANDS: [&str; 13] = [
    "B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B09", "B10", "B11", "B12", "B8A",
];

/// Which EuroSAT product a folder holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EurosatVariant {
    /// 8-bit RGB JPEGs (`EuroSAT.zip`).
    Rgb,
    /// 13-band uint16 GeoTIFFs (`EuroSATallBands.zip`).
    Ms,
}

impl EurosatVariant {
    pub fn n_bands(self) -> usize {
        match self {
            EurosatVariant::Rgb => 3,
            EurosatVariant::Ms => EUROSAT_MS_BANDS.len(),
        }
    }

    /// File extensions (lower case) of this variant's images.
    pub fn extensions(self) -> &'static [&'static str] {
        match self {
            EurosatVariant::Rgb => &["jpg", "jpeg"],
            EurosatVariant::Ms => &["tif", "tiff"],
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            EurosatVariant::Rgb => "eurosat-rgb",
            EurosatVariant::Ms => "eurosat-ms",
        }
    }

    fn hint(self) -> String {
        let (zip, inner) = match self {
            EurosatVariant::Rgb => ("https://madm.dfki.de/files/sentinel/EuroSAT.zip", "2750"),
            EurosatVariant::Ms => (
                "https://madm.dfki.de/files/sentinel/EuroSATallBands.zip",
                "ds/images/remote_sensing/otherDatasets/sentinel_2/tif",
            ),
        };
        format!(
            "download {zip}, unzip it and move the class folders found under `{inner}/` so that \
             <folder>/AnnualCrop/AnnualCrop_1.{} exists; point --data-dir or {} at the parent folder",
            self.extensions()[0],
            super::DATA_ENV
        )
    }
}

/// One image of the dataset: its path relative to the root and its class.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    pub rel_path: String,
    pub class_idx: usize,
}

/// A EuroSAT folder, scanned once: class names (sorted folder names) and every image in them.
#[derive(Debug, Clone)]
pub struct Eurosat {
    pub root: PathBuf,
    pub variant: EurosatVariant,
    pub classes: Vec<String>,
    pub samples: Vec<Sample>,
}

impl Eurosat {
    /// Scans `root` for class folders. Errors name the folder searched, an empty class folder, or a root
    /// with no class folders at all.
    pub fn open(root: impl AsRef<Path>, variant: EurosatVariant) -> Result<Self> {
        let root = root.as_ref().to_path_buf();
        if !root.is_dir() {
            return Err(super::not_found(variant.name(), &root, variant.hint()));
        }
        let mut class_dirs: Vec<(String, PathBuf)> = read_dir_sorted(&root)?
            .into_iter()
            .filter(|p| p.is_dir())
            .filter_map(|p| Some((p.file_name()?.to_str()?.to_string(), p)))
            .filter(|(name, _)| !name.starts_with('.'))
            .collect();
        class_dirs.sort();
        if class_dirs.is_empty() {
            return Err(Error::bad_input(
                &root,
                format!(
                    "no class folders found (expected e.g. {}/AnnualCrop/); {}",
                    root.display(),
                    variant.hint()
                ),
            ));
        }
        let mut classes = Vec::with_capacity(class_dirs.len());
        let mut samples = Vec::new();
        for (class_idx, (name, dir)) in class_dirs.iter().enumerate() {
            let files: Vec<String> = read_dir_sorted(dir)?
                .into_iter()
                .filter(|p| p.is_file() && has_extension(p, variant.extensions()))
                .filter_map(|p| Some(p.file_name()?.to_str()?.to_string()))
                .collect();
            if files.is_empty() {
                return Err(Error::bad_input(
                    dir,
                    format!("class folder `{name}` has no .{} images", variant.extensions()[0]),
                ));
            }
            samples.extend(files.into_iter().map(|f| Sample {
                rel_path: format!("{name}/{f}"),
                class_idx,
            }));
            classes.push(name.clone());
        }
        Ok(Eurosat {
            root,
            variant,
            classes,
            samples,
        })
    }

    pub fn len(&self) -> usize {
        self.samples.len()
    }

    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    pub fn n_bands(&self) -> usize {
        self.variant.n_bands()
    }

    pub fn path(&self, idx: usize) -> PathBuf {
        self.root.join(&self.samples[idx].rel_path)
    }

    /// Reads and validates image `idx`.
    pub fn load(&self, idx: usize) -> Result<Image> {
        load_file(&self.path(idx), self.variant)
    }

    /// Reads many images on `n_threads` threads, keeping the order of `indices`; the error of the first bad image
    /// in that order.
    pub fn load_many(&self, indices: &[usize], n_threads: usize) -> Result<Vec<Image>> {
        crate::pool::try_parallel_map(indices, n_threads, |&i| self.load(i))
    }

    /// Dataset indices of the entries of a split list. Entries may be `Class/Class_n.ext` or, as in the SeCo/CACo
    /// lists, a bare `Class_n.ext`; the extension may differ from this variant's (RGB lists used for MS).
    pub fn indices_of(&self, entries: &[String], list_path: &Path) -> Result<Vec<usize>> {
        let by_key: HashMap<String, usize> = self
            .samples
            .iter()
            .enumerate()
            .map(|(i, s)| (sample_key(&s.rel_path), i))
            .collect();
        entries
            .iter()
            .enumerate()
            .map(|(line_idx, entry)| {
                let key = sample_key(&qualify_entry(entry));
                by_key.get(&key).copied().ok_or_else(|| {
                    Error::bad_input(
                        list_path,
                        format!(
                            "line {}: `{entry}` is not an image of {}",
                            line_idx + 1,
                            self.root.display()
                        ),
                    )
                })
            })
            .collect()
    }

    pub fn labels(&self, indices: &[usize]) -> Vec<usize> {
        indices.iter().map(|&i| self.samples[i].class_idx).collect()
    }
}

/// `Class_12.jpg` -> `Class/Class_12.jpg`; entries with a folder are kept.
fn qualify_entry(entry: &str) -> String {
    if entry.contains('/') {
        return entry.to_string();
    }
    match entry.rsplit_once('_') {
        Some((class, _)) => format!("{class}/{entry}"),
        None => entry.to_string(),
    }
}

/// Path without extension, the identity of a sample across RGB and MS.
fn sample_key(rel_path: &str) -> String {
    match rel_path.rsplit_once('.') {
        Some((stem, _)) if !stem.is_empty() && !stem.ends_with('/') => stem.to_string(),
        _ => rel_path.to_string(),
    }
}

fn has_extension(path: &Path, extensions: &[&str]) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| extensions.iter().any(|x| x.eq_ignore_ascii_case(e)))
}

fn read_dir_sorted(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .map(|entry| entry.map(|e| e.path()).map_err(|e| Error::io(dir, e)))
        .collect::<Result<_>>()?;
    paths.sort();
    Ok(paths)
}

/// Reads one EuroSAT image and checks its size and band count.
pub fn load_file(path: &Path, variant: EurosatVariant) -> Result<Image> {
    let image = match variant {
        EurosatVariant::Rgb => load_jpeg_rgb(path)?,
        EurosatVariant::Ms => load_geotiff(path)?,
    };
    if image.n_bands != variant.n_bands() {
        return Err(Error::bad_input(
            path,
            format!("expected {} bands, found {}", variant.n_bands(), image.n_bands),
        ));
    }
    if (image.height, image.width) != (EUROSAT_SIZE, EUROSAT_SIZE) {
        return Err(Error::bad_input(
            path,
            format!(
                "expected {EUROSAT_SIZE}x{EUROSAT_SIZE} pixels, found {}x{}",
                image.width, image.height
            ),
        ));
    }
    Ok(image)
}

/// Decodes an 8-bit JPEG into a band-major image (values 0-255). A file without the end-of-image marker is
/// reported as truncated: JPEG decoders otherwise pad a cut file with grey.
pub fn load_jpeg_rgb(path: &Path) -> Result<Image> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    if bytes.len() < 4 || bytes[..2] != [0xFF, 0xD8] {
        return Err(Error::bad_input(path, "not a JPEG file (no start-of-image marker)"));
    }
    let tail = &bytes[bytes.len().saturating_sub(64)..];
    if !tail.windows(2).any(|w| w == [0xFF, 0xD9]) {
        return Err(Error::bad_input(path, "truncated JPEG (no end-of-image marker)"));
    }
    let decoded = image::load_from_memory_with_format(&bytes, image::ImageFormat::Jpeg)
        .map_err(|e| Error::bad_input(path, format!("cannot decode JPEG: {e}")))?;
    let n_bands = decoded.color().channel_count() as usize;
    let (width, height) = (decoded.width() as usize, decoded.height() as usize);
    if n_bands != 3 {
        return Err(Error::bad_input(path, format!("expected 3 bands, found {n_bands}")));
    }
    let rgb = decoded.into_rgb8();
    Ok(Image {
        n_bands: 3,
        height,
        width,
        data: interleaved_to_planar(rgb.as_raw(), 3),
    })
}

/// `[h*w*c]` interleaved bytes to band-major `f32`.
pub fn interleaved_to_planar(raw: &[u8], n_bands: usize) -> Vec<f32> {
    let n = raw.len() / n_bands;
    let mut data = vec![0f32; raw.len()];
    for (px, chunk) in raw.chunks_exact(n_bands).enumerate() {
        for (b, &v) in chunk.iter().enumerate() {
            data[b * n + px] = v as f32;
        }
    }
    data
}

#[cfg(feature = "gdal")]
/// Reads every band of a GeoTIFF (or any GDAL raster) as `f32`, band-major.
pub fn load_geotiff(path: &Path) -> Result<Image> {
    if !path.is_file() {
        return Err(Error::bad_input(path, "file does not exist"));
    }
    let dataset = gdal::Dataset::open(path).map_err(|e| Error::bad_input(path, format!("GDAL cannot open it: {e}")))?;
    let (width, height) = dataset.raster_size();
    let n_bands = dataset.raster_count();
    let mut data = Vec::with_capacity(n_bands * width * height);
    for band_idx in 1..=n_bands {
        let band = dataset
            .rasterband(band_idx)
            .map_err(|e| Error::bad_input(path, format!("band {band_idx}: {e}")))?;
        let buffer = band
            .read_as::<f32>((0, 0), (width, height), (width, height), None)
            .map_err(|e| Error::bad_input(path, format!("cannot read band {band_idx}: {e}")))?;
        data.extend_from_slice(buffer.data());
    }
    Ok(Image {
        n_bands,
        height,
        width,
        data,
    })
}

#[cfg(not(feature = "gdal"))]
pub fn load_geotiff(path: &Path) -> Result<Image> {
    Err(Error::bad_input(path, "GeoTIFF reading needs caco's `gdal` feature"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::fake;

    #[test]
    fn split_entries_are_qualified_with_their_class_folder() {
        assert_eq!(qualify_entry("AnnualCrop_12.jpg"), "AnnualCrop/AnnualCrop_12.jpg");
        assert_eq!(
            qualify_entry("HerbaceousVegetation_3.tif"),
            "HerbaceousVegetation/HerbaceousVegetation_3.tif"
        );
        assert_eq!(qualify_entry("Forest/Forest_1.jpg"), "Forest/Forest_1.jpg");
        assert_eq!(sample_key("Forest/Forest_1.jpg"), "Forest/Forest_1");
    }

    #[test]
    fn rgb_round_trip_preserves_classes_counts_and_pixels() {
        let dir = tempfile::tempdir().unwrap();
        let spec = fake::FakeEurosat {
            classes: vec!["Alpha".into(), "Beta".into(), "Gamma".into()],
            n_per_class: 4,
            seed: 3,
            variant: EurosatVariant::Rgb,
        };
        let written = fake::write_eurosat_rgb(dir.path(), &spec).unwrap();
        let ds = Eurosat::open(dir.path(), EurosatVariant::Rgb).unwrap();
        assert_eq!(ds.classes, vec!["Alpha", "Beta", "Gamma"]);
        assert_eq!(ds.len(), 12);
        assert_eq!(
            ds.labels(&(0..12).collect::<Vec<_>>()),
            vec![0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2]
        );
        // Fake tiles are a class colour plus noise; JPEG is lossy, so compare band means.
        for (idx, sample) in ds.samples.iter().enumerate() {
            let img = ds.load(idx).unwrap();
            assert_eq!((img.n_bands, img.height, img.width), (3, 64, 64));
            let expected = &written[&sample.rel_path];
            for b in 0..3 {
                let mean = img.band(b).iter().sum::<f32>() / 4096.0;
                let want = expected.band(b).iter().sum::<f32>() / 4096.0;
                assert!(
                    (mean - want).abs() < 3.0,
                    "{} band {b}: {mean} vs {want}",
                    sample.rel_path
                );
            }
        }
    }

    #[test]
    fn ms_round_trip_is_exact() {
        let dir = tempfile::tempdir().unwrap();
        let spec = fake::FakeEurosat {
            classes: vec!["Alpha".into(), "Beta".into()],
            n_per_class: 3,
            seed: 5,
            variant: EurosatVariant::Ms,
        };
        let written = fake::write_eurosat_ms(dir.path(), &spec).unwrap();
        let ds = Eurosat::open(dir.path(), EurosatVariant::Ms).unwrap();
        assert_eq!(ds.len(), 6);
        for (idx, sample) in ds.samples.iter().enumerate() {
            let img = ds.load(idx).unwrap();
            assert_eq!(img.n_bands, 13);
            assert_eq!(&img, &written[&sample.rel_path], "{}", sample.rel_path);
        }
    }

    #[test]
    fn load_many_keeps_order() {
        let dir = tempfile::tempdir().unwrap();
        let spec = fake::FakeEurosat {
            classes: vec!["A".into(), "B".into()],
            n_per_class: 5,
            seed: 1,
            variant: EurosatVariant::Rgb,
        };
        fake::write_eurosat_rgb(dir.path(), &spec).unwrap();
        let ds = Eurosat::open(dir.path(), EurosatVariant::Rgb).unwrap();
        let order = vec![9, 0, 4, 7, 2];
        let many = ds.load_many(&order, 3).unwrap();
        for (img, &i) in many.iter().zip(&order) {
            assert_eq!(img, &ds.load(i).unwrap());
        }
    }

    fn err_text<T: std::fmt::Debug>(r: Result<T>) -> String {
        r.expect_err("expected an error").to_string()
    }

    #[test]
    fn missing_dataset_names_folder_and_how_to_get_it() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("eurosat-rgb");
        let msg = err_text(Eurosat::open(&root, EurosatVariant::Rgb));
        assert!(msg.contains("not found"), "{msg}");
        assert!(msg.contains(&root.display().to_string()), "{msg}");
        assert!(msg.contains("EuroSAT.zip"), "{msg}");
    }

    #[test]
    fn empty_class_folder_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let spec = fake::FakeEurosat {
            classes: vec!["A".into()],
            n_per_class: 2,
            seed: 1,
            variant: EurosatVariant::Rgb,
        };
        fake::write_eurosat_rgb(dir.path(), &spec).unwrap();
        std::fs::create_dir(dir.path().join("Empty")).unwrap();
        let msg = err_text(Eurosat::open(dir.path(), EurosatVariant::Rgb));
        assert!(msg.contains("Empty") && msg.contains("no .jpg images"), "{msg}");
        // A folder without class folders says what was expected there, as a path (not a quoted debug string).
        let bare = dir.path().join("bare");
        std::fs::create_dir(&bare).unwrap();
        let msg = err_text(Eurosat::open(&bare, EurosatVariant::Rgb));
        assert!(
            msg.contains(&format!("expected e.g. {}/AnnualCrop/", bare.display())) && msg.contains("EuroSAT.zip"),
            "{msg}"
        );
    }

    #[test]
    fn corrupt_truncated_and_wrong_size_jpegs_are_rejected_with_the_file_named() {
        let dir = tempfile::tempdir().unwrap();
        let spec = fake::FakeEurosat {
            classes: vec!["A".into()],
            n_per_class: 1,
            seed: 1,
            variant: EurosatVariant::Rgb,
        };
        fake::write_eurosat_rgb(dir.path(), &spec).unwrap();
        let good = std::fs::read(dir.path().join("A/A_1.jpg")).unwrap();

        let truncated = dir.path().join("A/A_2.jpg");
        std::fs::write(&truncated, &good[..good.len() / 2]).unwrap();
        let msg = err_text(load_file(&truncated, EurosatVariant::Rgb));
        assert!(msg.contains("A_2.jpg") && msg.contains("truncated"), "{msg}");

        let corrupt = dir.path().join("A/A_3.jpg");
        let mut bytes = good.clone();
        for b in bytes[2..good.len() - 2].iter_mut() {
            *b = 0x55;
        }
        std::fs::write(&corrupt, &bytes).unwrap();
        let msg = err_text(load_file(&corrupt, EurosatVariant::Rgb));
        assert!(msg.contains("A_3.jpg") && msg.contains("cannot decode"), "{msg}");

        let not_jpeg = dir.path().join("A/A_4.jpg");
        std::fs::write(&not_jpeg, b"hello").unwrap();
        assert!(err_text(load_file(&not_jpeg, EurosatVariant::Rgb)).contains("not a JPEG"));

        let small = dir.path().join("A/A_5.jpg");
        crate::data::image_io::write_jpeg(&small, &fake::solid_image(3, 32, 40, &[10.0, 20.0, 30.0])).unwrap();
        let msg = err_text(load_file(&small, EurosatVariant::Rgb));
        assert!(
            msg.contains("A_5.jpg") && msg.contains("expected 64x64 pixels, found 40x32"),
            "{msg}"
        );

        let gray = dir.path().join("A/A_6.jpg");
        crate::data::image_io::write_jpeg(&gray, &fake::solid_image(1, 64, 64, &[10.0])).unwrap();
        let msg = err_text(load_file(&gray, EurosatVariant::Rgb));
        assert!(msg.contains("expected 3 bands, found 1"), "{msg}");
    }

    #[test]
    fn geotiff_with_wrong_band_count_or_garbage_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let wrong = dir.path().join("wrong.tif");
        crate::data::image_io::write_geotiff_u16(&wrong, &fake::solid_image(12, 64, 64, &[100.0; 12])).unwrap();
        let msg = err_text(load_file(&wrong, EurosatVariant::Ms));
        assert!(
            msg.contains("wrong.tif") && msg.contains("expected 13 bands, found 12"),
            "{msg}"
        );

        let garbage = dir.path().join("garbage.tif");
        std::fs::write(&garbage, b"II*\0garbage").unwrap();
        let msg = err_text(load_file(&garbage, EurosatVariant::Ms));
        assert!(msg.contains("garbage.tif") && msg.contains("GDAL cannot open"), "{msg}");

        let small = dir.path().join("small.tif");
        crate::data::image_io::write_geotiff_u16(&small, &fake::solid_image(13, 16, 16, &[1.0; 13])).unwrap();
        assert!(err_text(load_file(&small, EurosatVariant::Ms)).contains("found 16x16"));
    }

    #[test]
    fn split_entries_not_in_the_dataset_are_reported_with_line_number() {
        let dir = tempfile::tempdir().unwrap();
        let spec = fake::FakeEurosat {
            classes: vec!["A".into()],
            n_per_class: 2,
            seed: 1,
            variant: EurosatVariant::Rgb,
        };
        fake::write_eurosat_rgb(dir.path(), &spec).unwrap();
        let ds = Eurosat::open(dir.path(), EurosatVariant::Rgb).unwrap();
        let list = Path::new("train.txt");
        assert_eq!(
            ds.indices_of(&["A_2.jpg".into(), "A/A_1.tif".into()], list).unwrap(),
            vec![1, 0]
        );
        let msg = err_text(ds.indices_of(&["A_1.jpg".into(), "A_9.jpg".into()], list));
        assert!(
            msg.contains("train.txt") && msg.contains("line 2") && msg.contains("A_9.jpg"),
            "{msg}"
        );
    }
}
