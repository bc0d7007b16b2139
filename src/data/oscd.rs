//! OSCD, the Onera Satellite Change Detection dataset (Daudt et al. 2018), read as people hold it:
//! - **the release**, its zips unpacked side by side: `Onera Satellite Change Detection dataset - Images/<city>/`
//!   and `... - Train Labels/<city>/cm/` (and `... - Test Labels/` where present), `train.txt` / `test.txt` in the
//!   images folder;
//! - **merged** (SeCo's code, `cargo xtask data download oscd`): `root/<city>/imgs_1/`, `imgs_2/`, `cm/`.
//!
//! A date is `imgs_1/` (or, with `--dates imgs_1_rect`, torchgeo's `imgs_1_rect/`): one Sentinel-2 band per GeoTIFF
//! named `<product>_<band>.tif` or `<band>.tif` (13 bands at 10, 20 or 60 m), read through GDAL onto the grid of the
//! largest selected band (bilinear). Labels, with the release's quirks: `cm/<city>-cm.tif` holds 1 = no change,
//! 2 = change (its README says 0/1; both codings and 0/255 are accepted), and is preferred; `cm/cm.png` is RGBA 0/255
//! for most cities but an anti-aliased RGB image for aguasclaras, so a PNG is thresholded at half intensity. Sizes:
//! the 10 m images of a city may be a pixel larger than its label; all three are cropped to their common size (more
//! than 2 px apart is an error). Cities without a label (the test cities of a release without its test labels) are
//! listed in [`Oscd::unlabelled`] and not used. Cities: the official lists, a seeded split by city when they name
//! absent cities, or one asked for ([`Oscd::seeded_city_split`]).
//! SeCo's uint8 quantile stretch of B04/B03/B02 is [`oscd_rgb_stretch`].

use std::path::{Path, PathBuf};

use rand::seq::SliceRandom;
use rand::SeedableRng;

use super::change::ChangePair;
use super::dense::Mask;
use super::split;
use super::timeseries::BandStretch;
use super::Image;
use crate::{Error, Result};

// The fake-data generators live in `data::fake::oscd`; re-exported at their old paths.

/// RGB as SeCo reads OSCD: red, green, blue.
pub const OSCD_RGB_BANDS: [&str; 3] = ["B04", "B03", "B02"];

/// Dataset folder name under the data root.
pub const DATASET_DIR: &str = "oscd";

/// The release's top folders.
pub const RELEASE_IMAGES: &str = "Onera Satellite Change Detection dataset - Images";
pub const RELEASE_LABELS: [&str; 2] = [
    "Onera Satellite Change Detection dataset - Train Labels",
    "Onera Satellite Change Detection dataset - Test Labels",
];

/// SeCo's 2 %/98 % quantiles of B04, B03, B02 over OSCD (`datasets/oscd_dataset.py`), mapped to 0-255.
pub fn oscd_rgb_stretch() -> BandStretch {
    BandStretch {
        lo: vec![426.0, 667.0, 885.0],
        hi: vec![3698.0, 2969.0, 2620.0],
    }
}

/// Whether `root` holds OSCD in one of the two layouts (the release's images folder, or a city with `imgs_1/` or
/// `imgs_1_rect/`).
pub fn is_oscd(root: &Path) -> bool {
    root.join(RELEASE_IMAGES).is_dir()
        || std::fs::read_dir(root).is_ok_and(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .any(|p| OscdDates::ALL.iter().any(|d| d.dir(&p, 1).is_dir()))
        })
}

/// Which date folders are read (`--dates`): the authors' `imgs_1/`, `imgs_2/` or torchgeo's co-registered
/// `imgs_1_rect/`, `imgs_2_rect/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OscdDates {
    #[default]
    Imgs,
    Rect,
}

impl OscdDates {
    pub const ALL: [OscdDates; 2] = [OscdDates::Imgs, OscdDates::Rect];

    /// `imgs_1` or `imgs_1_rect`, as `--dates` takes it.
    pub fn name(self) -> &'static str {
        match self {
            OscdDates::Imgs => "imgs_1",
            OscdDates::Rect => "imgs_1_rect",
        }
    }

    pub fn parse(text: &str) -> Result<Self> {
        OscdDates::ALL.into_iter().find(|d| d.name() == text).ok_or_else(|| {
            Error::Config(format!(
                "--dates `{text}`: expected imgs_1 (the authors' folders, default) or imgs_1_rect (torchgeo's)"
            ))
        })
    }

    /// The folder of `date` (1 or 2) of `city`.
    pub fn dir(self, city: &Path, date: usize) -> PathBuf {
        match self {
            OscdDates::Imgs => city.join(format!("imgs_{date}")),
            OscdDates::Rect => city.join(format!("imgs_{date}_rect")),
        }
    }

    fn other(self) -> Self {
        match self {
            OscdDates::Imgs => OscdDates::Rect,
            OscdDates::Rect => OscdDates::Imgs,
        }
    }
}

/// A scanned OSCD folder.
#[derive(Debug, Clone)]
pub struct Oscd {
    /// The folder the user pointed at.
    pub root: PathBuf,
    /// The folder of the city image folders and the official `train.txt` / `test.txt`.
    pub images_root: PathBuf,
    /// Folders searched for `<city>/cm/`, in order (the images root itself when merged).
    pub label_roots: Vec<PathBuf>,
    /// `"release"` (two unpacked folders) or `"merged"`.
    pub layout: &'static str,
    /// Cities with images of both dates and a label, sorted.
    pub cities: Vec<String>,
    /// Cities with images but no label, sorted.
    pub unlabelled: Vec<String>,
    /// The date folders read.
    pub dates: OscdDates,
}

fn hint() -> String {
    "Onera Satellite Change Detection (https://rcdaudt.github.io/oscd/): unpack the images zip and the train labels \
     zip side by side in one folder (the release layout), or run `cargo xtask data download oscd --from <folder of \
     the zips>` to merge them; point --data-dir or CACO_DATA at the parent"
        .into()
}

impl Oscd {
    /// Scans `root` (release or merged layout) with the authors' `imgs_1/`, `imgs_2/`.
    pub fn open(root: impl AsRef<Path>) -> Result<Self> {
        Oscd::open_with(root, OscdDates::Imgs)
    }

    /// Scans `root` (release or merged layout) reading the date folders `dates`. Errors name the folder searched,
    /// a city missing its second date, or cities that only have the other kind of date folder (and the flag).
    pub fn open_with(root: impl AsRef<Path>, dates: OscdDates) -> Result<Self> {
        let root = root.as_ref().to_path_buf();
        if !root.is_dir() {
            let dataset: String = root
                .file_name()
                .map_or(DATASET_DIR.into(), |n| n.to_string_lossy().to_string());
            return Err(super::not_found(&dataset, &root, hint()));
        }
        let (images_root, label_roots, layout) = if root.join(RELEASE_IMAGES).is_dir() {
            let labels: Vec<PathBuf> = RELEASE_LABELS
                .iter()
                .map(|l| root.join(l))
                .filter(|p| p.is_dir())
                .collect();
            (root.join(RELEASE_IMAGES), labels, "release")
        } else {
            (root.clone(), vec![root.clone()], "merged")
        };
        let (mut cities, mut unlabelled, mut other_only) = (Vec::new(), Vec::new(), Vec::new());
        let entries = std::fs::read_dir(&images_root).map_err(|e| Error::io(&images_root, e))?;
        for dir in entries.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.is_dir()) {
            if !dates.dir(&dir, 1).is_dir() {
                if dates.other().dir(&dir, 1).is_dir() {
                    other_only.push(dir);
                }
                continue;
            }
            if !dates.dir(&dir, 2).is_dir() {
                let (first, second) = (dates.dir(&dir, 1), dates.dir(&dir, 2));
                return Err(Error::bad_input(
                    &second,
                    format!(
                        "missing: the city has {}/ but no {}/ (both dates are needed)",
                        first.file_name().unwrap_or_default().to_string_lossy(),
                        second.file_name().unwrap_or_default().to_string_lossy()
                    ),
                ));
            }
            let Some(name) = dir.file_name().and_then(|n| n.to_str()).map(str::to_string) else {
                continue;
            };
            let labelled = label_roots.iter().any(|r| label_files(&r.join(&name)).is_some());
            if labelled {
                cities.push(name);
            } else {
                unlabelled.push(name);
            }
        }
        cities.sort();
        unlabelled.sort();
        if cities.is_empty() && unlabelled.is_empty() {
            if let Some(city) = other_only.first() {
                let other = dates.other();
                return Err(Error::bad_input(
                    &images_root,
                    format!(
                        "no city has {}/; {} cities have {}/ instead (e.g. {}): pass `--dates {}` (`dates = \"{}\"` \
                         in a table task) to read those",
                        dates.name(),
                        other_only.len(),
                        other.name(),
                        other.dir(city, 1).display(),
                        other.name(),
                        other.name()
                    ),
                ));
            }
        }
        if cities.is_empty() {
            let what = if unlabelled.is_empty() {
                format!(
                    "no city folders with {}/ (expected e.g. `paris/{}/`, or the release's `{RELEASE_IMAGES}/`)",
                    dates.name(),
                    dates.name()
                )
            } else {
                format!(
                    "no city has a change label (cm/<city>-cm.tif or cm/cm.png); {} cities without: {}",
                    unlabelled.len(),
                    unlabelled.join(", ")
                )
            };
            return Err(Error::bad_input(&images_root, what));
        }
        Ok(Oscd {
            root,
            images_root,
            label_roots,
            layout,
            cities,
            unlabelled,
            dates,
        })
    }

    /// Cities of the official `<images root>/<split>.txt` (comma-separated as released, or one per line); an empty
    /// list or a city that is absent or unlabelled here is an error naming the list.
    pub fn split(&self, split: &str) -> Result<Vec<String>> {
        self.read_city_list(&self.images_root.join(format!("{split}.txt")))
    }

    fn read_city_list(&self, path: &Path) -> Result<Vec<String>> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let names: Vec<String> = text
            .lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .flat_map(|l| l.split(','))
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        if names.is_empty() {
            return Err(Error::bad_input(path, "split list is empty"));
        }
        if let Some(unknown) = names.iter().find(|n| !self.cities.contains(n)) {
            let why = if self.unlabelled.contains(unknown) {
                "has no change label here"
            } else {
                "is absent"
            };
            return Err(Error::bad_input(
                path,
                format!(
                    "`{unknown}` {why} in {} (labelled cities: {}); split the cities present with \
                     `--split seeded:TRAIN,TEST` (e.g. seeded:0.6,0.4), or give lists of them with --split-dir",
                    self.root.display(),
                    self.cities.join(", ")
                ),
            ));
        }
        Ok(names)
    }

    /// The (train, test) cities: `split_dir/train.txt` and `test.txt` when they exist; else the official lists
    /// when every city they name is labelled here (nothing written); else a seeded split of the labelled cities by
    /// city (`n_test` of them test, the rest train), written to `split_dir` with a comment saying how it was made.
    pub fn load_or_create_split(&self, split_dir: &Path, n_test: usize, seed: u64) -> Result<(Vec<String>, Vec<String>)> {
        if split_dir.join("train.txt").is_file() {
            return Ok((
                self.read_city_list(&split_dir.join("train.txt"))?,
                self.read_city_list(&split_dir.join("test.txt"))?,
            ));
        }
        let (train, test, source) = match (self.split("train"), self.split("test")) {
            (Ok(train), Ok(test)) => return Ok((train, test)),
            _ => {
                if n_test == 0 || n_test >= self.cities.len() {
                    return Err(Error::Config(format!(
                        "OSCD split: {n_test} test cities asked of {} labelled ({})",
                        self.cities.len(),
                        self.cities.join(", ")
                    )));
                }
                let mut shuffled = self.cities.clone();
                shuffled.shuffle(&mut rand::rngs::StdRng::seed_from_u64(seed));
                let (mut test, mut train) = (shuffled[..n_test].to_vec(), shuffled[n_test..].to_vec());
                test.sort();
                train.sort();
                (
                    train,
                    test,
                    format!(
                        "a seeded split by city (seed {seed}, {n_test} test) of the {} labelled cities of {}",
                        self.cities.len(),
                        self.root.display()
                    ),
                )
            }
        };
        std::fs::create_dir_all(split_dir).map_err(|e| Error::io(split_dir, e))?;
        for (name, list) in [("train", &train), ("test", &test)] {
            let path = split_dir.join(format!("{name}.txt"));
            let text = format!("# OSCD {name} cities: {source} (written by caco)\n{}\n", list.join("\n"));
            std::fs::write(&path, text).map_err(|e| Error::io(&path, e))?;
        }
        Ok((train, test))
    }

    /// The (train, test) cities of a seeded split by city asked for with `--split seeded:TRAIN,TEST` (a val
    /// fraction is refused: OSCD is scored on its test cities), written to `split_dir` once with the choice as its
    /// first line and read back later; returns whether the lists were written now.
    pub fn seeded_city_split(
        &self,
        split_dir: &Path,
        choice: &split::SplitChoice,
    ) -> Result<(Vec<String>, Vec<String>, bool)> {
        if let split::SplitChoice::Seeded { val, .. } = choice {
            if *val > 0.0 {
                return Err(Error::Config(format!(
                    "--split {choice}: OSCD is split into train and test cities only; give two fractions, e.g. \
                     --split seeded:0.6,0.4"
                )));
            }
        }
        let (splits, written) = split::seeded_lists(split_dir, choice, "city", || split::seeded(&self.cities, choice))?;
        for city in splits.train.iter().chain(&splits.test) {
            if !self.cities.contains(city) {
                return Err(Error::bad_input(
                    split_dir.join("train.txt"),
                    format!(
                        "`{city}` is not a labelled city of {} (labelled: {}); remove {} to split anew",
                        self.root.display(),
                        self.cities.join(", "),
                        split_dir.display()
                    ),
                ));
            }
        }
        Ok((splits.train, splits.test, written))
    }

    /// Reads one city: both dates with `bands` (e.g. [`OSCD_RGB_BANDS`]), `stretch` applied if given, and the
    /// change mask, cropped to their common size.
    pub fn load(&self, city: &str, bands: &[&str], stretch: Option<&BandStretch>) -> Result<ChangePair> {
        let dir = self.images_root.join(city);
        let read = |date: usize| -> Result<Image> {
            let folder = self.dates.dir(&dir, date);
            if !folder.is_dir() {
                return Err(Error::bad_input(&folder, "missing date folder"));
            }
            let mut image = load_bands(&folder, bands)?;
            if let Some(s) = stretch {
                s.apply(&mut image);
            }
            Ok(image)
        };
        let (a, b) = (read(1)?, read(2)?);
        let (label_path, label) = self.load_label(city)?;
        let sizes = [(a.height, a.width), (b.height, b.width), (label.height, label.width)];
        let height = sizes.iter().map(|s| s.0).min().unwrap_or(0);
        let width = sizes.iter().map(|s| s.1).min().unwrap_or(0);
        if sizes.iter().any(|&(h, w)| h > height + 2 || w > width + 2) {
            return Err(Error::bad_input(
                &label_path,
                format!(
                    "size mismatch: label {}x{}, imgs_1 {}x{}, imgs_2 {}x{} (width x height; at most 2 px apart are \
                     cropped to the common size)",
                    label.width, label.height, a.width, a.height, b.width, b.height
                ),
            ));
        }
        Ok(ChangePair {
            name: city.to_string(),
            a: super::dense::crop(&a, 0, 0, height, width),
            b: super::dense::crop(&b, 0, 0, height, width),
            label: label.crop(0, 0, height, width),
        })
    }

    /// The change label of `city` as 0/1 and the file it came from: `cm/<city>-cm.tif` (1/2, 0/1 or 0/255 coding)
    /// where GDAL is available, else `cm/cm.png` thresholded at half intensity.
    pub fn load_label(&self, city: &str) -> Result<(PathBuf, Mask)> {
        let files = self
            .label_roots
            .iter()
            .find_map(|r| label_files(&r.join(city)))
            .ok_or_else(|| Error::bad_input(self.images_root.join(city), "no change label (cm/) for this city"))?;
        #[cfg(feature = "gdal")]
        if let Some(tif) = &files.tif {
            return Ok((tif.clone(), read_label_tif(tif)?));
        }
        let png = files.png.ok_or_else(|| {
            Error::bad_input(
                self.images_root.join(city),
                "only a .tif label, and reading it needs caco's `gdal` feature",
            )
        })?;
        Ok((png.clone(), read_label_png(&png)?))
    }
}

/// The label files of one city folder, if it has any.
struct LabelFiles {
    tif: Option<PathBuf>,
    png: Option<PathBuf>,
}

fn label_files(city_dir: &Path) -> Option<LabelFiles> {
    let cm = city_dir.join("cm");
    let city = city_dir.file_name()?.to_str()?;
    let tif = Some(cm.join(format!("{city}-cm.tif"))).filter(|p| p.is_file());
    let png = Some(cm.join("cm.png")).filter(|p| p.is_file());
    (tif.is_some() || png.is_some()).then_some(LabelFiles { tif, png })
}

/// Values of a label raster as 0/1: the release's 1 = no change / 2 = change (checked first, so a city without
/// change, all 1, reads as no change), else 0/1 or 0/255. Any other value is an error naming the file.
pub fn label_values_to_mask(values: &[f32], path: &Path) -> Result<Vec<u8>> {
    let has = |allowed: &[f32]| values.iter().all(|v| allowed.contains(v));
    let change = if has(&[1.0, 2.0]) {
        2.0
    } else if has(&[0.0, 1.0]) {
        1.0
    } else if has(&[0.0, 255.0]) {
        255.0
    } else {
        let odd = values
            .iter()
            .find(|v| ![0.0, 1.0, 2.0, 255.0].contains(*v))
            .copied()
            .unwrap_or(f32::NAN);
        return Err(Error::bad_input(
            path,
            format!("change label values must be 1/2, 0/1 or 0/255 (found {odd}, or a mix of codings)"),
        ));
    };
    Ok(values.iter().map(|&v| u8::from(v == change)).collect())
}

#[cfg(feature = "gdal")]
fn read_label_tif(path: &Path) -> Result<Mask> {
    let image = super::timeseries::read_band_files(&[path.to_path_buf()], "OSCD")?;
    Ok(Mask {
        height: image.height,
        width: image.width,
        data: label_values_to_mask(&image.data, path)?,
    })
}

/// `cm/cm.png` in any colour type (RGBA 0/255 for most cities, anti-aliased RGB for aguasclaras): change where the
/// luminance is at least 128.
fn read_label_png(path: &Path) -> Result<Mask> {
    let decoded = image::open(path).map_err(|e| Error::bad_input(path, format!("cannot decode image: {e}")))?;
    let grey = decoded.to_luma8();
    Ok(Mask {
        height: grey.height() as usize,
        width: grey.width() as usize,
        data: grey.as_raw().iter().map(|&v| u8::from(v >= 128)).collect(),
    })
}

/// The file of `band` in `dir`: `<anything>_<band>.tif` or `<band>.tif`.
#[cfg_attr(not(feature = "gdal"), allow(dead_code))]
fn band_file(dir: &Path, band: &str) -> Result<PathBuf> {
    let plain = dir.join(format!("{band}.tif"));
    if plain.is_file() {
        return Ok(plain);
    }
    let suffix = format!("_{band}.tif");
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.ends_with(&suffix))
        })
        .collect();
    found.sort();
    found
        .into_iter()
        .next()
        .ok_or_else(|| Error::bad_input(dir, format!("missing band {band} (no *{suffix})")))
}

/// Reads `bands` of one date onto the grid of the largest of them (bilinear resampling of coarser bands).
#[cfg(feature = "gdal")]
pub fn load_bands(dir: &Path, bands: &[&str]) -> Result<Image> {
    let paths = bands
        .iter()
        .map(|band| band_file(dir, band))
        .collect::<Result<Vec<_>>>()?;
    super::timeseries::read_band_files(&paths, "OSCD")
}

#[cfg(not(feature = "gdal"))]
pub fn load_bands(dir: &Path, _bands: &[&str]) -> Result<Image> {
    Err(Error::bad_input(dir, "OSCD reading needs caco's `gdal` feature"))
}

#[cfg(test)]
#[cfg(feature = "gdal")]
mod tests {
    use super::*;
    use crate::data::fake::oscd::{write_fake, write_fake_release, write_fake_torchgeo};

    fn err_text<T: std::fmt::Debug>(r: Result<T>) -> String {
        r.expect_err("expected an error").to_string()
    }

    #[test]
    fn fake_oscd_reads_rgb_and_all_bands_on_the_10m_grid_with_its_splits() {
        let dir = tempfile::tempdir().unwrap();
        write_fake(dir.path(), &["abudhabi", "beirut", "paris"], 2, 24).unwrap();
        let ds = Oscd::open(dir.path()).unwrap();
        assert_eq!(ds.cities, vec!["abudhabi", "beirut", "paris"]);
        assert_eq!(ds.split("train").unwrap(), vec!["abudhabi", "beirut"]);
        assert_eq!(ds.split("test").unwrap(), vec!["paris"]);
        let pair = ds.load("paris", &OSCD_RGB_BANDS, None).unwrap();
        assert_eq!((pair.a.n_bands, pair.a.height, pair.a.width), (3, 24, 24));
        // B is 2000 brighter exactly where the mask says change (top 6, side 8 + 2 = 10 for the third city).
        let changed = pair.label.data.iter().filter(|&&v| v == 1).count();
        assert_eq!(changed, 10 * 10);
        for px in 0..24 * 24 {
            let diff = pair.b.data[px] - pair.a.data[px];
            assert_eq!(diff, if pair.label.data[px] == 1 { 2000.0 } else { 0.0 }, "pixel {px}");
        }
        // All 13 bands: 20 m and 60 m bands resampled onto the 24x24 grid.
        let all = [
            "B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10", "B11", "B12",
        ];
        let pair = ds.load("beirut", &all, None).unwrap();
        assert_eq!((pair.a.n_bands, pair.a.height), (13, 24));
        // SeCo's stretch maps B04 426 -> 0 and 3698 -> 255.
        let stretched = ds.load("paris", &OSCD_RGB_BANDS, Some(&oscd_rgb_stretch())).unwrap();
        assert!(stretched.b.data.iter().all(|v| (0.0..=255.0).contains(v)));
        // Changed B04 pixel (6, 6) of paris (city 2): 800 + 10 * 14 + 2000.
        let expected = (255.0f32 * (2940.0 - 426.0) / (3698.0 - 426.0)).floor();
        assert!(
            (stretched.b.data[24 * 6 + 6] - expected).abs() < 1e-3,
            "{}",
            stretched.b.data[24 * 6 + 6]
        );
    }

    #[test]
    fn missing_band_size_mismatch_and_bad_splits_are_named() {
        let dir = tempfile::tempdir().unwrap();
        write_fake(dir.path(), &["abudhabi", "beirut"], 1, 12).unwrap();
        let ds = Oscd::open(dir.path()).unwrap();
        assert_eq!(ds.layout, "merged");
        std::fs::remove_file(dir.path().join("beirut/imgs_2/S2A_OPER_FAKE_beirut_B03.tif")).unwrap();
        let msg = err_text(ds.load("beirut", &OSCD_RGB_BANDS, None));
        assert!(
            msg.contains("beirut/imgs_2") && msg.contains("missing band B03"),
            "{msg}"
        );

        // A label one pixel narrower is cropped to; three pixels narrower is an error.
        let mask = |width: usize| super::super::dense::Mask {
            height: 12,
            width,
            data: vec![0; 12 * width],
        };
        let cm = dir.path().join("abudhabi/cm/cm.png");
        super::super::image_io::write_binary_mask(&cm, &mask(11)).unwrap();
        let pair = ds.load("abudhabi", &OSCD_RGB_BANDS, None).unwrap();
        assert_eq!((pair.a.width, pair.b.width, pair.label.width, pair.a.height), (11, 11, 11, 12));
        super::super::image_io::write_binary_mask(&cm, &mask(9)).unwrap();
        let msg = err_text(ds.load("abudhabi", &OSCD_RGB_BANDS, None));
        assert!(msg.contains("cm/cm.png") && msg.contains("size mismatch: label 9x12"), "{msg}");

        std::fs::write(dir.path().join("test.txt"), " \n").unwrap();
        assert!(err_text(ds.split("test")).contains("empty"));
        std::fs::write(dir.path().join("test.txt"), "beirut,lyon").unwrap();
        let msg = err_text(ds.split("test"));
        assert!(msg.contains("test.txt") && msg.contains("`lyon` is absent"), "{msg}");

        // A city without a label is not used, and said so when none is left.
        std::fs::remove_file(&cm).unwrap();
        let ds = Oscd::open(dir.path()).unwrap();
        assert_eq!((ds.cities.clone(), ds.unlabelled.clone()), (vec!["beirut".to_string()], vec!["abudhabi".to_string()]));
        std::fs::remove_file(dir.path().join("beirut/cm/cm.png")).unwrap();
        let msg = err_text(Oscd::open(dir.path()));
        assert!(msg.contains("no city has a change label") && msg.contains("abudhabi, beirut"), "{msg}");
        let msg = err_text(Oscd::open(dir.path().join("nope")));
        assert!(msg.contains("not found") && msg.contains("images zip"), "{msg}");
    }

    #[test]
    fn the_release_layout_reads_with_its_quirks_and_a_seeded_city_split() {
        let dir = tempfile::tempdir().unwrap();
        let cities = ["abudhabi", "beirut", "cupertino", "paris", "rennes"];
        write_fake_release(dir.path(), &cities, 3, 24, 1).unwrap();
        assert!(is_oscd(dir.path()));
        let ds = Oscd::open(dir.path()).unwrap();
        assert_eq!(ds.layout, "release");
        assert_eq!(ds.cities, ["abudhabi", "beirut", "cupertino", "paris"]);
        assert_eq!(ds.unlabelled, ["rennes"]);
        // The release's train list names an absent city.
        let msg = err_text(ds.split("train"));
        assert!(msg.contains("`nantes` is absent"), "{msg}");
        // The 1/2-coded tif is read: change where 2; the merged fake's square (top 6, side 8 + k % 3).
        let pair = ds.load("beirut", &OSCD_RGB_BANDS, None).unwrap();
        assert_eq!(pair.label.data.iter().filter(|&&v| v == 1).count(), 9 * 9);
        // The anti-aliased PNG alone reads as the same square (grey edge pixels are below half intensity).
        let cm = dir.path().join(RELEASE_LABELS[0]).join("abudhabi/cm");
        let from_tif = ds.load_label("abudhabi").unwrap().1;
        std::fs::remove_file(cm.join("abudhabi-cm.tif")).unwrap();
        let (path, from_png) = ds.load_label("abudhabi").unwrap();
        assert!(path.ends_with("cm/cm.png"));
        assert_eq!(from_png.data, from_tif.data);
        assert_eq!(from_png.data.iter().filter(|&&v| v == 1).count(), 8 * 8);

        let splits = dir.path().join("splits");
        let (train, test) = ds.load_or_create_split(&splits, 2, 7).unwrap();
        assert_eq!((train.len(), test.len()), (2, 2));
        assert!(train.iter().chain(&test).all(|c| ds.cities.contains(c)));
        assert!(train.iter().all(|c| !test.contains(c)));
        let written = std::fs::read_to_string(splits.join("test.txt")).unwrap();
        assert!(written.starts_with("# OSCD test cities: a seeded split by city (seed 7"), "{written}");
        // Read back as written, whatever the seed now says.
        assert_eq!(ds.load_or_create_split(&splits, 1, 99).unwrap(), (train, test));
        assert!(label_values_to_mask(&[0.0, 3.0], Path::new("x.tif")).is_err());
        assert_eq!(label_values_to_mask(&[1.0, 1.0], Path::new("x.tif")).unwrap(), [0, 0]);
        assert_eq!(label_values_to_mask(&[0.0, 255.0], Path::new("x.tif")).unwrap(), [0, 1]);
    }

    #[test]
    fn torchgeo_rect_dates_read_with_the_flag_and_a_seeded_city_split_is_asked_for() {
        let dir = tempfile::tempdir().unwrap();
        let cities = ["abudhabi", "beirut", "cupertino", "paris"];
        write_fake_torchgeo(dir.path(), &cities, 3, 24, 0).unwrap();
        assert!(is_oscd(dir.path()));
        let msg = err_text(Oscd::open(dir.path()));
        assert!(
            msg.contains(RELEASE_IMAGES)
                && msg.contains("no city has imgs_1/; 4 cities have imgs_1_rect/ instead")
                && msg.contains("--dates imgs_1_rect"),
            "{msg}"
        );
        let ds = Oscd::open_with(dir.path(), OscdDates::parse("imgs_1_rect").unwrap()).unwrap();
        assert_eq!(ds.cities, cities);
        // Band files named by band only (`B04.tif`); the same change square as the release fake.
        let pair = ds.load("beirut", &OSCD_RGB_BANDS, None).unwrap();
        assert_eq!(pair.label.data.iter().filter(|&&v| v == 1).count(), 9 * 9);
        assert!(err_text(OscdDates::parse("rect")).contains("imgs_1 (the authors' folders, default)"));

        let splits = dir.path().join("splits");
        let choice = split::SplitChoice::parse("seeded:0.5,0.5").unwrap();
        let (train, test, written) = ds.seeded_city_split(&splits, &choice).unwrap();
        assert!(written);
        assert_eq!((train.len(), test.len()), (2, 2));
        assert!(train.iter().all(|c| !test.contains(c)));
        assert_eq!(ds.seeded_city_split(&splits, &choice).unwrap(), (train, test, false));
        let with_val = split::SplitChoice::parse("seeded:0.5,0.25,0.25").unwrap();
        let msg = err_text(ds.seeded_city_split(&splits, &with_val));
        assert!(msg.contains("train and test cities only"), "{msg}");
        // The official train list names a city absent here: the message says how to split what is here.
        let msg = err_text(ds.split("train"));
        assert!(msg.contains("`nantes` is absent") && msg.contains("--split seeded:TRAIN,TEST"), "{msg}");
        // A city with its first date only.
        std::fs::remove_dir_all(dir.path().join(RELEASE_IMAGES).join("paris/imgs_2_rect")).unwrap();
        let msg = err_text(Oscd::open_with(dir.path(), OscdDates::Rect));
        assert!(msg.contains("paris/imgs_2_rect") && msg.contains("has imgs_1_rect/ but no imgs_2_rect/"), "{msg}");
    }
}
