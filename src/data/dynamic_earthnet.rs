//! DynamicEarthNet (Toker et al., "DynamicEarthNet: Daily Multi-Spectral Satellite Dataset for Semantic Change
//! Segmentation", CVPR 2022; https://mediatum.ub.tum.de/1650201) read for monthly semantic segmentation: each
//! monthly label of an area of interest (AOI) with the PlanetFusion image of the label's date.
//!
//! On-disk layout, as the release unpacks and as the dataset code of `aysim/dynnet` (`data/utae_dynamicen.py`),
//! torchgeo (`datasets/dynamic_earthnet.py`) and GEO-Bench-2 (`generate_benchmark/dynamic_earthnet.py`) read it:
//!
//! - images: `planet/<utm zone>/<tile>/<aoi>/PF-SR/<YYYY-MM-DD>.tif`, daily 1024x1024 4-band surface reflectance
//!   in band order B, G, R, NIR (dynnet reads bands 3, 2, 1 as R, G, B); the per-zone archives may unpack as
//!   `planet.10N/...`, so every `planet*` folder of the root is searched for `PF-SR` folders;
//! - labels: `labels/<aoi>_<utm zone>/Labels/Raster/<label tile>/<label tile>-<YYYY>_<MM>_01.tif` (some files spell
//!   the date `<YYYY>-<MM>-01`), 7 bands, one per class, 0 or 255;
//! - official split lists: `dynnet_training_splits/{train,val,test}.txt`, one monthly sample per line:
//!   `<planet folder> <label file> <YYYY-MM>`, the planet folder written with the capture prefix
//!   `/reprocess-cropped/UTM-24000/` (pangaea-bench rewrites it to `/planet/`); only the AOI (the folder above
//!   `PF-SR`) and the month are used, the files are found by the scan. Without these lists a seeded split by AOI is
//!   written once (see [`DynamicEarthNet::seeded_split`]).
//!
//! Folder names are a [`DenLayout`]. Class per pixel: the band holding 255; a pixel with no band or several bands
//! at 255 is [`IGNORE_INDEX`]; a value other than 0 and 255 is an error. As in dynnet's code (6 classes, snow & ice
//! mapped to its ignore index) snow & ice is ignored by default ([`SnowIce`]). Normalisation: the selected bands
//! (default R, G, B) are stretched to 0-255 with SeCo's mean ± 2 std rule and the band statistics of dynnet's
//! loader ([`den_stretch`]); the benchmark then applies ImageNet statistics as to every RGB set here. The Sentinel-1/2
//! monthly composites of the release are not read.

use std::path::{Path, PathBuf};

use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use super::dense::Mask;
use super::split::{self, Splits};
use super::timeseries::BandStretch;
use super::Image;
use crate::{Error, Result};

/// Dataset folder name under the data root.
pub const DATASET_DIR: &str = "dynamic-earthnet";

/// The seven land-cover classes in label-band order, with the colours of dynnet's `utils/palette.py` (snow & ice
/// from the paper's figure, as the palette's comment gives it).
pub const DEN_CLASSES: [(&str, [u8; 3]); 7] = [
    ("Impervious surface", [96, 96, 96]),
    ("Agriculture", [204, 204, 0]),
    ("Forest and other vegetation", [0, 204, 0]),
    ("Wetlands", [0, 0, 153]),
    ("Soil", [153, 76, 0]),
    ("Water", [0, 128, 255]),
    ("Snow and ice", [138, 178, 198]),
];

/// Label of ignored pixels (the `ignore_index` of the loss and the metrics).
pub const IGNORE_INDEX: u8 = 255;

/// Band statistics (mean, std) of PlanetFusion surface reflectance, R, G, B, NIR, as in dynnet's loader.
pub const PLANET_MEAN: [f64; 4] = [1042.59240722656, 915.618408203125, 671.260559082031, 2605.20922851562];
pub const PLANET_STD: [f64; 4] = [957.958435058593, 715.548767089843, 596.943908691406, 1059.90319824218];

/// A PlanetFusion band. Files store B, G, R, NIR as bands 1-4.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PlanetBand {
    Red,
    Green,
    Blue,
    Nir,
}

/// R, G, B: the default input.
pub const RGB_BANDS: [PlanetBand; 3] = [PlanetBand::Red, PlanetBand::Green, PlanetBand::Blue];

impl PlanetBand {
    /// 1-based band index in a PF-SR GeoTIFF.
    pub fn file_band(self) -> usize {
        match self {
            PlanetBand::Blue => 1,
            PlanetBand::Green => 2,
            PlanetBand::Red => 3,
            PlanetBand::Nir => 4,
        }
    }

    /// Index into [`PLANET_MEAN`] / [`PLANET_STD`].
    fn stats_idx(self) -> usize {
        match self {
            PlanetBand::Red => 0,
            PlanetBand::Green => 1,
            PlanetBand::Blue => 2,
            PlanetBand::Nir => 3,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            PlanetBand::Red => "R",
            PlanetBand::Green => "G",
            PlanetBand::Blue => "B",
            PlanetBand::Nir => "NIR",
        }
    }

    /// `R`, `G`, `B`, `NIR` (or `red`, `green`, `blue`, `nir`), any case.
    pub fn parse(name: &str) -> Result<Self> {
        match name.trim().to_ascii_lowercase().as_str() {
            "r" | "red" => Ok(PlanetBand::Red),
            "g" | "green" => Ok(PlanetBand::Green),
            "b" | "blue" => Ok(PlanetBand::Blue),
            "nir" | "n" => Ok(PlanetBand::Nir),
            other => Err(Error::Config(format!(
                "unknown PlanetFusion band `{other}`: R, G, B or NIR"
            ))),
        }
    }

    /// A comma-separated list: `R,G,B` or `R,G,B,NIR`. Empty lists and repeated bands are errors.
    pub fn parse_list(list: &str) -> Result<Vec<Self>> {
        let bands = list.split(',').map(Self::parse).collect::<Result<Vec<_>>>()?;
        if bands.iter().enumerate().any(|(i, b)| bands[..i].contains(b)) {
            return Err(Error::Config(format!("PlanetFusion band list `{list}` repeats a band")));
        }
        Ok(bands)
    }
}

/// SeCo's uint8 stretch (mean - 2 std, mean + 2 std) -> (0, 255) of `bands`, with [`PLANET_MEAN`] / [`PLANET_STD`].
pub fn den_stretch(bands: &[PlanetBand]) -> BandStretch {
    let (lo, hi) = bands
        .iter()
        .map(|b| {
            let (m, s) = (PLANET_MEAN[b.stats_idx()], PLANET_STD[b.stats_idx()]);
            ((m - 2.0 * s) as f32, (m + 2.0 * s) as f32)
        })
        .unzip();
    BandStretch { lo, hi }
}

/// What snow & ice (label band 7) becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SnowIce {
    /// [`IGNORE_INDEX`], six classes (dynnet's `num_classes = 6`; its loader maps band 7 to the ignore index).
    #[default]
    Ignored,
    /// Class 6, seven classes.
    Class,
}

impl SnowIce {
    pub fn n_classes(self) -> usize {
        match self {
            SnowIce::Ignored => 6,
            SnowIce::Class => 7,
        }
    }

    /// Class names in index order.
    pub fn class_names(self) -> Vec<String> {
        DEN_CLASSES[..self.n_classes()]
            .iter()
            .map(|(n, _)| n.to_string())
            .collect()
    }

    /// Mask colours in index order.
    pub fn palette(self) -> Vec<[u8; 3]> {
        DEN_CLASSES[..self.n_classes()].iter().map(|(_, c)| *c).collect()
    }
}

/// What a run reads of DynamicEarthNet besides the files: bands, snow & ice, months, and whether labels and split
/// entries without an image are skipped instead of failing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DenOptions {
    pub bands: Vec<PlanetBand>,
    pub snow_ice: SnowIce,
    /// `YYYY-MM` of the samples to use; empty: all.
    pub months: Vec<String>,
    pub skip_bad: bool,
}

impl Default for DenOptions {
    /// R, G, B; snow & ice ignored; every month; missing images are errors.
    fn default() -> Self {
        DenOptions {
            bands: RGB_BANDS.to_vec(),
            snow_ice: SnowIce::Ignored,
            months: vec![],
            skip_bad: false,
        }
    }
}

impl DenOptions {
    /// Model input after [`den_stretch`] (0-255): ImageNet statistics for R, G, B (the convention of every RGB set
    /// here and of the SeCo/CACo backbones), x / 255 for any other band choice.
    pub fn normalization(&self) -> super::Normalization {
        if self.bands == RGB_BANDS {
            super::Normalization::Imagenet
        } else {
            super::Normalization::Scale { scale: 255.0 }
        }
    }

    /// Checks the band list and the months (`YYYY-MM`).
    pub fn validate(&self) -> Result<()> {
        if self.bands.is_empty() {
            return Err(Error::Config("DynamicEarthNet: no bands selected".into()));
        }
        if let Some(bad) = self.months.iter().find(|m| {
            m.len() != 7 || m.as_bytes()[4] != b'-' || !m.bytes().enumerate().all(|(i, b)| i == 4 || b.is_ascii_digit())
        }) {
            return Err(Error::Config(format!("DynamicEarthNet: month `{bad}` is not YYYY-MM")));
        }
        Ok(())
    }
}

/// Folder names of a DynamicEarthNet copy (they differ between the release archives and re-packagings).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DenLayout {
    /// Image root(s): this folder and every `<planet_dir>.*` folder (per-zone archives) under the dataset root.
    pub planet_dir: String,
    /// Folder of the daily images of one AOI.
    pub image_dir: String,
    /// Label root.
    pub label_dir: String,
    /// Path from `<label_dir>/<aoi>_<zone>/` to the folder holding the label tile folder.
    pub label_raster_dir: String,
    /// Folder of the official `train.txt`, `val.txt`, `test.txt`.
    pub split_dir: String,
}

impl Default for DenLayout {
    /// The mediaTUM release with dynnet's split lists.
    fn default() -> Self {
        DenLayout {
            planet_dir: "planet".into(),
            image_dir: "PF-SR".into(),
            label_dir: "labels".into(),
            label_raster_dir: "Labels/Raster".into(),
            split_dir: "dynnet_training_splits".into(),
        }
    }
}

/// One monthly sample: a label and the image of its date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DenSample {
    /// AOI id, e.g. `1311_3077_13`.
    pub aoi: String,
    /// `YYYY-MM-DD` of the label (the first of the month in the release).
    pub date: String,
    pub image: PathBuf,
    pub label: PathBuf,
}

impl DenSample {
    /// `YYYY-MM`.
    pub fn year_month(&self) -> &str {
        &self.date[..7]
    }

    /// The split-list entry: `<aoi>/<YYYY-MM>`.
    pub fn key(&self) -> String {
        format!("{}/{}", self.aoi, self.year_month())
    }
}

/// A scanned DynamicEarthNet folder.
#[derive(Debug, Clone)]
pub struct DynamicEarthNet {
    pub root: PathBuf,
    pub layout: DenLayout,
    /// Sorted by AOI, then date.
    pub samples: Vec<DenSample>,
    /// Labels skipped for a missing image (only with `skip_bad`), as (label file, reason).
    pub skipped: Vec<(PathBuf, String)>,
}

fn hint() -> String {
    format!(
        "DynamicEarthNet (Toker et al. 2022): download the Planet archives and labels from \
         https://mediatum.ub.tum.de/1650201 and unpack them so that <folder>/planet/<zone>/<tile>/<aoi>/PF-SR/\
         <YYYY-MM-DD>.tif and <folder>/labels/<aoi>_<zone>/Labels/Raster/<tile>/<tile>-<YYYY>_<MM>_01.tif exist; put \
         dynnet's split lists (https://vision.in.tum.de/webshare/u/toker/dynnet_training_splits/) in \
         <folder>/dynnet_training_splits/ or let caco write a seeded split; point --data-dir or {} at the parent",
        super::DATA_ENV
    )
}

fn subdirs(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    Ok(dirs)
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map_or(String::new(), |n| n.to_string_lossy().to_string())
}

/// `YYYY-MM-DD` from a label file name ending in `-YYYY_MM_DD.tif` or `-YYYY-MM-DD.tif`.
pub fn label_date(file_name: &str) -> Option<String> {
    let stem = file_name.strip_suffix(".tif")?;
    let tail = stem.get(stem.len().checked_sub(10)?..)?;
    let digits: Vec<&str> = tail.split(['_', '-']).collect();
    let ok = digits.len() == 3
        && [4, 2, 2]
            .iter()
            .zip(&digits)
            .all(|(n, d)| d.len() == *n && d.bytes().all(|b| b.is_ascii_digit()))
        && stem.len() > 10
        && matches!(stem.as_bytes()[stem.len() - 11], b'-' | b'_');
    ok.then(|| digits.join("-"))
}

impl DynamicEarthNet {
    /// Scans `root`: every `PF-SR` folder under the planet folder(s) (its parent is the AOI), every label raster
    /// under the label folder, and pairs them. A label whose AOI has no image folder, or whose date has no image,
    /// is an error naming the label and the image looked for; with `skip_bad` it is skipped and listed in
    /// [`Self::skipped`] (the release lacks the Planet data of a few AOIs).
    pub fn open(root: impl AsRef<Path>, layout: DenLayout, skip_bad: bool) -> Result<Self> {
        let root = root.as_ref().to_path_buf();
        if !root.is_dir() {
            return Err(Error::DatasetNotFound {
                dataset: DATASET_DIR.into(),
                root,
                hint: hint(),
            });
        }
        let image_dirs = Self::scan_image_dirs(&root, &layout)?;
        let label_root = root.join(&layout.label_dir);
        if !label_root.is_dir() {
            return Err(Error::bad_input(
                &label_root,
                format!("label folder `{}/` missing (layout {layout:?})", layout.label_dir),
            ));
        }
        let mut samples = Vec::new();
        let mut skipped = Vec::new();
        for label_aoi_dir in subdirs(&label_root)? {
            let folder = file_name(&label_aoi_dir);
            let raster_dir = label_aoi_dir.join(&layout.label_raster_dir);
            if !raster_dir.is_dir() {
                return Err(Error::bad_input(
                    &raster_dir,
                    format!("label folder of `{folder}` has no `{}/`", layout.label_raster_dir),
                ));
            }
            let mut label_files = Vec::new();
            for tile_dir in subdirs(&raster_dir)? {
                for entry in std::fs::read_dir(&tile_dir).map_err(|e| Error::io(&tile_dir, e))? {
                    let path = entry.map_err(|e| Error::io(&tile_dir, e))?.path();
                    // `*.tif.aux.xml` side files are skipped by the extension test.
                    if path.is_file() && path.extension().is_some_and(|e| e == "tif") {
                        label_files.push(path);
                    }
                }
            }
            label_files.sort();
            // `<aoi>_<zone>` (or just `<aoi>`): the longest AOI the folder name starts with.
            let aoi = image_dirs
                .iter()
                .map(|(aoi, _)| aoi)
                .filter(|aoi| folder == **aoi || folder.starts_with(&format!("{aoi}_")))
                .max_by_key(|aoi| aoi.len())
                .cloned();
            for label in label_files {
                let Some(date) = label_date(&file_name(&label)) else {
                    return Err(Error::bad_input(
                        &label,
                        "label file name does not end in -YYYY_MM_DD.tif or -YYYY-MM-DD.tif",
                    ));
                };
                let found = match &aoi {
                    None => Err(format!(
                        "label without its image: no `{}/` folder of AOI `{folder}` (or a prefix of it ending before \
                         `_`) under {}",
                        layout.image_dir,
                        root.join(&layout.planet_dir).display()
                    )),
                    Some(aoi) => {
                        let dir = &image_dirs.iter().find(|(a, _)| a == aoi).expect("scanned").1;
                        let image = dir.join(format!("{date}.tif"));
                        if image.is_file() {
                            Ok((aoi.clone(), image))
                        } else {
                            Err(format!("label without its image: {} does not exist", image.display()))
                        }
                    }
                };
                match found {
                    Ok((aoi, image)) => samples.push(DenSample {
                        aoi,
                        date,
                        image,
                        label,
                    }),
                    Err(reason) if skip_bad => skipped.push((label, reason)),
                    Err(reason) => {
                        return Err(Error::bad_input(
                            &label,
                            format!("{reason} (--skip-bad skips such labels)"),
                        ))
                    }
                }
            }
        }
        samples.sort_by(|a, b| (&a.aoi, &a.date).cmp(&(&b.aoi, &b.date)));
        if samples.is_empty() {
            return Err(Error::bad_input(
                &label_root,
                format!(
                    "no labels with images (expected <aoi>_<zone>/{}/<tile>/<tile>-YYYY_MM_DD.tif{})",
                    layout.label_raster_dir,
                    if skipped.is_empty() {
                        String::new()
                    } else {
                        format!("; {} skipped for a missing image", skipped.len())
                    }
                ),
            ));
        }
        Ok(DynamicEarthNet {
            root,
            layout,
            samples,
            skipped,
        })
    }

    /// (AOI, its image folder) for every `<image_dir>` folder under the planet folder(s), at most 6 levels deep.
    fn scan_image_dirs(root: &Path, layout: &DenLayout) -> Result<Vec<(String, PathBuf)>> {
        let prefix = format!("{}.", layout.planet_dir);
        let tops: Vec<PathBuf> = subdirs(root)?
            .into_iter()
            .filter(|p| {
                let name = file_name(p);
                name == layout.planet_dir || name.starts_with(&prefix)
            })
            .collect();
        if tops.is_empty() {
            return Err(Error::bad_input(
                root.join(&layout.planet_dir),
                format!(
                    "image folder `{}/` missing (nor `{prefix}*/`; layout {layout:?})",
                    layout.planet_dir
                ),
            ));
        }
        let mut found: Vec<(String, PathBuf)> = Vec::new();
        let mut stack: Vec<(PathBuf, usize)> = tops.into_iter().map(|p| (p, 0)).collect();
        while let Some((dir, depth)) = stack.pop() {
            for sub in subdirs(&dir)? {
                if file_name(&sub) == layout.image_dir {
                    let aoi = file_name(&dir);
                    if let Some((_, other)) = found.iter().find(|(a, _)| *a == aoi) {
                        return Err(Error::bad_input(
                            &sub,
                            format!("AOI `{aoi}` has a second image folder (the first: {})", other.display()),
                        ));
                    }
                    found.push((aoi, sub));
                } else if depth < 6 {
                    stack.push((sub, depth + 1));
                }
            }
        }
        if found.is_empty() {
            return Err(Error::bad_input(
                root.join(&layout.planet_dir),
                format!(
                    "no `{}/` folders (expected <zone>/<tile>/<aoi>/{}/)",
                    layout.image_dir, layout.image_dir
                ),
            ));
        }
        found.sort();
        Ok(found)
    }

    pub fn len(&self) -> usize {
        self.samples.len()
    }

    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// The folder of the official split lists.
    pub fn official_split_dir(&self) -> PathBuf {
        self.root.join(&self.layout.split_dir)
    }

    /// Dataset indices of split-list entries: `<aoi>/<YYYY-MM>` or an official line (`<planet folder> <label
    /// file> <YYYY-MM>`, the AOI taken as the folder above `PF-SR`). Entries of months outside `months` (if not
    /// empty) are left out. An entry that is not a sample of the scan is an error naming the list and the line;
    /// with `skip_bad` it is left out (official lists name AOIs whose images the release lacks). No entry left is
    /// an error.
    pub fn indices_of(
        &self,
        entries: &[String],
        list_path: &Path,
        months: &[String],
        skip_bad: bool,
    ) -> Result<Vec<usize>> {
        let keys: Vec<String> = self.samples.iter().map(DenSample::key).collect();
        let mut indices = Vec::new();
        for (line_idx, entry) in entries.iter().enumerate() {
            let key = self.entry_key(entry).ok_or_else(|| {
                Error::bad_input(
                    list_path,
                    format!(
                        "line {}: `{entry}` is neither `<aoi>/<YYYY-MM>` nor `<planet folder> <label file> <YYYY-MM>`",
                        line_idx + 1
                    ),
                )
            })?;
            if !months.is_empty() && !months.iter().any(|m| key.ends_with(&format!("/{m}"))) {
                continue;
            }
            match keys.iter().position(|k| *k == key) {
                Some(i) => indices.push(i),
                None if skip_bad => {}
                None => {
                    return Err(Error::bad_input(
                        list_path,
                        format!(
                            "line {}: `{key}` is not a labelled sample with an image in {} (--skip-bad leaves such \
                             entries out)",
                            line_idx + 1,
                            self.root.display()
                        ),
                    ))
                }
            }
        }
        if indices.is_empty() {
            return Err(Error::bad_input(
                list_path,
                format!(
                    "empty split: none of its {} entries is a sample{}",
                    entries.len(),
                    if months.is_empty() {
                        String::new()
                    } else {
                        format!(" of the months {}", months.join(", "))
                    }
                ),
            ));
        }
        Ok(indices)
    }

    /// `<aoi>/<YYYY-MM>` of a split-list entry in either format.
    fn entry_key(&self, entry: &str) -> Option<String> {
        let fields: Vec<&str> = entry.split_whitespace().collect();
        let valid_month = |m: &str| {
            m.len() == 7 && m.as_bytes()[4] == b'-' && m.bytes().enumerate().all(|(i, b)| i == 4 || b.is_ascii_digit())
        };
        match fields.as_slice() {
            [key] => {
                let (aoi, month) = key.rsplit_once('/')?;
                (!aoi.is_empty() && valid_month(month)).then(|| key.to_string())
            }
            [planet, _label, month] if valid_month(month) => {
                let parts: Vec<&str> = planet.split('/').filter(|p| !p.is_empty()).collect();
                let aoi = match parts.iter().position(|p| *p == self.layout.image_dir) {
                    Some(i) if i > 0 => parts[i - 1],
                    Some(_) => return None,
                    None => parts.last()?,
                };
                Some(format!("{aoi}/{month}"))
            }
            _ => None,
        }
    }

    /// A seeded split by AOI ([`split::by_group`]): `n_val_aois` and `n_test_aois` AOIs with all their months for
    /// val and test, the rest for train; entries are `<aoi>/<YYYY-MM>`.
    pub fn seeded_split(&self, n_val_aois: usize, n_test_aois: usize, seed: u64) -> Result<Splits> {
        let entries: Vec<(String, String)> = self.samples.iter().map(|s| (s.key(), s.aoi.clone())).collect();
        split::by_group(&entries, n_val_aois, n_test_aois, seed, "AOI")
    }

    /// The number of AOIs.
    pub fn n_aois(&self) -> usize {
        let mut aois: Vec<&str> = self.samples.iter().map(|s| s.aoi.as_str()).collect();
        aois.dedup();
        aois.len()
    }

    /// The split lists and the folder they come from: `split_dir` if given (read, or a seeded split by AOI written
    /// there: 15 % of the AOIs each for val and test, at least one); else the official lists if the dataset has
    /// them; else `default_dir` (read or written as for `split_dir`).
    pub fn load_or_create_split(
        &self,
        split_dir: Option<&Path>,
        default_dir: &Path,
        seed: u64,
    ) -> Result<(Splits, PathBuf)> {
        let official = self.official_split_dir();
        let dir = match split_dir {
            Some(dir) => dir.to_path_buf(),
            None if official.join("train.txt").is_file() => return Ok((split::read(&official)?, official)),
            None => default_dir.to_path_buf(),
        };
        let n_held_out = ((self.n_aois() as f64 * 0.15).round() as usize).max(1);
        let splits = split::read_or_create(&dir, || self.seeded_split(n_held_out, n_held_out, seed))?;
        Ok((splits, dir))
    }

    /// Reads sample `idx`: `bands` of the image (each stretched per `stretch` if given) and the label as class
    /// indices. Errors name the file: a missing band, a label without 7 bands, a label value other than 0/255, a
    /// size mismatch between image and label.
    pub fn load(
        &self,
        idx: usize,
        bands: &[PlanetBand],
        stretch: Option<&BandStretch>,
        snow_ice: SnowIce,
    ) -> Result<(Image, Mask)> {
        let sample = &self.samples[idx];
        let mut image = load_planet(&sample.image, bands)?;
        if let Some(s) = stretch {
            s.apply(&mut image);
        }
        let label = super::eurosat::load_geotiff(&sample.label)?;
        let mask = label_to_mask(&label, &sample.label, snow_ice)?;
        if (mask.height, mask.width) != (image.height, image.width) {
            return Err(Error::bad_input(
                &sample.label,
                format!(
                    "size mismatch: label {}x{}, image {}x{} ({})",
                    mask.width,
                    mask.height,
                    image.width,
                    image.height,
                    sample.image.display()
                ),
            ));
        }
        Ok((image, mask))
    }
}

/// Reads `bands` of a PF-SR GeoTIFF (B, G, R, NIR in the file) in the order given.
pub fn load_planet(path: &Path, bands: &[PlanetBand]) -> Result<Image> {
    let all = super::eurosat::load_geotiff(path)?;
    let n = all.height * all.width;
    let mut data = Vec::with_capacity(bands.len() * n);
    for band in bands {
        if band.file_band() > all.n_bands {
            return Err(Error::bad_input(
                path,
                format!(
                    "missing band {} (band {} of B, G, R, NIR): the file has {} band(s)",
                    band.name(),
                    band.file_band(),
                    all.n_bands
                ),
            ));
        }
        data.extend_from_slice(all.band(band.file_band() - 1));
    }
    Ok(Image {
        n_bands: bands.len(),
        height: all.height,
        width: all.width,
        data,
    })
}

/// Class indices from a one-hot label (7 bands of 0/255): the band at 255; no band or several -> [`IGNORE_INDEX`];
/// snow & ice per `snow_ice`. A band count other than 7 or a value other than 0/255 is an error naming `path`,
/// the band, where the value first occurs and how many pixels are bad.
pub fn label_to_mask(label: &Image, path: &Path, snow_ice: SnowIce) -> Result<Mask> {
    if label.n_bands != DEN_CLASSES.len() {
        return Err(Error::bad_input(
            path,
            format!(
                "{} label band(s), expected {} (one 0/255 band per class: {}){}",
                label.n_bands,
                DEN_CLASSES.len(),
                DEN_CLASSES.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", "),
                if label.n_bands < DEN_CLASSES.len() {
                    " - missing band"
                } else {
                    ""
                }
            ),
        ));
    }
    let n = label.height * label.width;
    let mut data = vec![IGNORE_INDEX; n];
    let mut bad: Option<(usize, usize, f32)> = None;
    let mut n_bad = 0usize;
    for (px, class) in data.iter_mut().enumerate() {
        let mut set: Option<usize> = None;
        let mut n_set = 0;
        for b in 0..label.n_bands {
            let v = label.data[b * n + px];
            if v == 255.0 {
                set = Some(b);
                n_set += 1;
            } else if v != 0.0 {
                n_bad += 1;
                bad.get_or_insert((b, px, v));
            }
        }
        *class = match (set, n_set) {
            (Some(6), 1) if snow_ice == SnowIce::Ignored => IGNORE_INDEX,
            (Some(c), 1) => c as u8,
            _ => IGNORE_INDEX,
        };
    }
    if let Some((b, px, v)) = bad {
        return Err(Error::bad_input(
            path,
            format!(
                "label value {v} in band {} ({}) at row {}, column {} ({n_bad} such values); labels are 0 or 255",
                b + 1,
                DEN_CLASSES[b].0,
                px / label.width,
                px % label.width
            ),
        ));
    }
    Ok(Mask {
        height: label.height,
        width: label.width,
        data,
    })
}

/// What [`write_fake`] generates.
#[derive(Debug, Clone)]
pub struct FakeDen {
    pub n_aois: usize,
    /// `YYYY-MM` of the labels.
    pub months: Vec<String>,
    /// Days of each month with an image (the label's day 1 must be one of them).
    pub days: Vec<u32>,
    /// Side of the square images and labels.
    pub size: usize,
    /// Write dynnet's split lists with this many AOIs for (val, test) (the first AOIs go to train).
    pub official_split: Option<(usize, usize)>,
    pub seed: u64,
}

impl Default for FakeDen {
    /// 4 AOIs, 2 months, days 1 and 15, 64 px, official lists 2 / 1 / 1.
    fn default() -> Self {
        FakeDen {
            n_aois: 4,
            months: vec!["2018-01".into(), "2018-07".into()],
            days: vec![1, 15],
            size: 64,
            official_split: Some((1, 1)),
            seed: 0,
        }
    }
}

/// One fake AOI's names: (aoi, utm zone, planet tile, label tile).
fn fake_names(k: usize) -> (String, String, String, String) {
    let zone = ["10N", "33N", "36N"][k % 3].to_string();
    (
        format!("{}_{}_13", 1311 + 97 * k, 3077 + 31 * k),
        zone.clone(),
        format!("{}E-{}N", 20 + k, 180 + 2 * k),
        format!("{zone}-{}W-{}N-L3H-SR", 100 + k, 40 + k),
    )
}

/// Writes a tiny fake DynamicEarthNet in the release layout (via GDAL): per AOI and month, 4-band uint16 PF-SR
/// images for `days` and a 7-band uint8 one-hot label on day 1. Each label has vertical stripes of random classes
/// (snow & ice included), a corner with no class and a few rows with two classes; the image reflectance is the
/// class's mean per band plus noise. Labels of odd AOIs spell the date with `-`, of even ones with `_`. Returns
/// every label as class indices with snow & ice as class 6, by `<aoi>/<YYYY-MM>`.
pub fn write_fake(root: &Path, spec: &FakeDen) -> Result<Vec<(String, Mask)>> {
    // Mean reflectance (B, G, R, NIR) under each class.
    const MEAN_BGRN: [[f32; 4]; 7] = [
        [900.0, 1000.0, 1100.0, 1800.0],
        [500.0, 800.0, 700.0, 3000.0],
        [300.0, 500.0, 350.0, 2800.0],
        [400.0, 600.0, 500.0, 1500.0],
        [1000.0, 1300.0, 1600.0, 2200.0],
        [500.0, 500.0, 300.0, 200.0],
        [5000.0, 5000.0, 5000.0, 4500.0],
    ];
    let mut rng = rand::rngs::StdRng::seed_from_u64(spec.seed);
    let s = spec.size;
    let mut written = Vec::new();
    let mut split_lines: [Vec<String>; 3] = Default::default();
    for k in 0..spec.n_aois {
        let (aoi, zone, tile, label_tile) = fake_names(k);
        let image_dir = root.join("planet").join(&zone).join(&tile).join(&aoi).join("PF-SR");
        let label_dir = root
            .join("labels")
            .join(format!("{aoi}_{zone}"))
            .join("Labels/Raster")
            .join(&label_tile);
        for dir in [&image_dir, &label_dir] {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        for month in &spec.months {
            let n_stripes = rng.random_range(2..=4);
            let classes: Vec<u8> = (0..n_stripes).map(|_| rng.random_range(0..7)).collect();
            let mut mask = Mask {
                height: s,
                width: s,
                data: vec![0; s * s],
            };
            let mut label = Image {
                n_bands: 7,
                height: s,
                width: s,
                data: vec![0.0; 7 * s * s],
            };
            for r in 0..s {
                for c in 0..s {
                    let px = r * s + c;
                    let class = classes[c * n_stripes / s];
                    let unlabelled = r < s / 6 && c < s / 6;
                    let doubled = r >= s - 2 && c >= s / 2;
                    mask.data[px] = if unlabelled || doubled { IGNORE_INDEX } else { class };
                    if !unlabelled {
                        label.data[class as usize * s * s + px] = 255.0;
                    }
                    if doubled {
                        label.data[((class as usize + 1) % 7) * s * s + px] = 255.0;
                    }
                }
            }
            for &day in &spec.days {
                let mut image = Image {
                    n_bands: 4,
                    height: s,
                    width: s,
                    data: vec![0.0; 4 * s * s],
                };
                for px in 0..s * s {
                    let means = match mask.data[px] {
                        IGNORE_INDEX => [800.0, 900.0, 1000.0, 1500.0],
                        class => MEAN_BGRN[class as usize],
                    };
                    for (b, mean) in means.iter().enumerate() {
                        image.data[b * s * s + px] = mean * rng.random_range(0.9..1.1);
                    }
                }
                super::fake::write_geotiff_u16(&image_dir.join(format!("{month}-{day:02}.tif")), &image)?;
            }
            let date = if k % 2 == 1 {
                format!("{month}-01")
            } else {
                format!("{}_01", month.replace('-', "_"))
            };
            let label_path = label_dir.join(format!("{label_tile}-{date}.tif"));
            super::fake::write_geotiff_u8(&label_path, &label)?;
            if let Some((n_val, n_test)) = spec.official_split {
                let n_train = spec.n_aois.saturating_sub(n_val + n_test);
                let split_idx = if k < n_train {
                    0
                } else if k < n_train + n_val {
                    1
                } else {
                    2
                };
                split_lines[split_idx].push(format!(
                    "/reprocess-cropped/UTM-24000/{zone}/{tile}/{aoi}/PF-SR /labels/{aoi}_{zone}/Labels/Raster/\
                     {label_tile}/{label_tile}-{date}.tif {month}"
                ));
            }
            written.push((format!("{aoi}/{month}"), mask));
        }
    }
    if spec.official_split.is_some() {
        let dir = root.join("dynnet_training_splits");
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        for (name, lines) in split::SPLIT_NAMES.iter().zip(&split_lines) {
            let path = dir.join(format!("{name}.txt"));
            std::fs::write(&path, lines.join("\n") + "\n").map_err(|e| Error::io(&path, e))?;
        }
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err_text<T: std::fmt::Debug>(r: Result<T>) -> String {
        r.expect_err("expected an error").to_string()
    }

    #[test]
    fn label_dates_in_both_spellings() {
        assert_eq!(
            label_date("10N-122W-40N-L3H-SR-2018_01_01.tif").as_deref(),
            Some("2018-01-01")
        );
        assert_eq!(
            label_date("36N-30E-7N-L3H-SR-2018-06-01.tif").as_deref(),
            Some("2018-06-01")
        );
        assert_eq!(label_date("36N-30E-7N-L3H-SR-2018-06-01.tif.aux.xml"), None);
        assert_eq!(label_date("2018-06-01.tif"), None);
        assert_eq!(label_date("x-2018-6-01.tif"), None);
    }

    #[test]
    fn one_hot_labels_become_classes_with_ignored_none_and_several() {
        // 1x5 label: impervious, water, none, impervious + water, snow & ice.
        let mut label = Image {
            n_bands: 7,
            height: 1,
            width: 5,
            data: vec![0.0; 35],
        };
        for (band, px) in [(0, 0), (5, 1), (0, 3), (5, 3), (6, 4)] {
            label.data[band * 5 + px] = 255.0;
        }
        let path = Path::new("l.tif");
        assert_eq!(
            label_to_mask(&label, path, SnowIce::Ignored).unwrap().data,
            vec![0, 5, 255, 255, 255]
        );
        assert_eq!(
            label_to_mask(&label, path, SnowIce::Class).unwrap().data,
            vec![0, 5, 255, 255, 6]
        );
        label.data[2 * 5 + 2] = 128.0;
        let msg = err_text(label_to_mask(&label, path, SnowIce::Ignored));
        assert!(
            msg.contains("l.tif")
                && msg.contains("label value 128 in band 3 (Forest and other vegetation) at row 0, column 2"),
            "{msg}"
        );
        let six = Image {
            n_bands: 6,
            height: 1,
            width: 5,
            data: vec![0.0; 30],
        };
        let msg = err_text(label_to_mask(&six, path, SnowIce::Ignored));
        assert!(
            msg.contains("6 label band(s), expected 7") && msg.contains("missing band"),
            "{msg}"
        );
    }

    #[test]
    fn bands_parse_and_stretch_with_dynnet_statistics() {
        assert_eq!(PlanetBand::parse_list("R,G,B").unwrap(), RGB_BANDS.to_vec());
        assert_eq!(
            PlanetBand::parse_list("nir, red").unwrap(),
            vec![PlanetBand::Nir, PlanetBand::Red]
        );
        assert!(PlanetBand::parse_list("R,R").is_err());
        assert!(PlanetBand::parse_list("SWIR").is_err());
        let s = den_stretch(&[PlanetBand::Red, PlanetBand::Nir]);
        assert!((s.lo[0] - (1042.5924 - 2.0 * 957.95844)).abs() < 1e-2);
        assert!((s.hi[1] - (2605.2092 + 2.0 * 1059.9032)).abs() < 1e-2);
    }

    #[cfg(feature = "gdal")]
    mod with_gdal {
        use super::*;

        fn fake(dir: &Path, spec: &FakeDen) -> Vec<(String, Mask)> {
            write_fake(dir, spec).unwrap()
        }

        #[test]
        fn fake_release_round_trips_images_labels_and_official_splits() {
            let dir = tempfile::tempdir().unwrap();
            let written = fake(
                dir.path(),
                &FakeDen {
                    size: 24,
                    ..Default::default()
                },
            );
            let ds = DynamicEarthNet::open(dir.path(), DenLayout::default(), false).unwrap();
            assert_eq!((ds.len(), ds.n_aois()), (8, 4));
            let first = &ds.samples[0];
            assert_eq!(
                (first.aoi.as_str(), first.date.as_str()),
                ("1311_3077_13", "2018-01-01")
            );
            assert!(first
                .image
                .ends_with("planet/10N/20E-180N/1311_3077_13/PF-SR/2018-01-01.tif"));
            assert!(first.label.ends_with(
                "labels/1311_3077_13_10N/Labels/Raster/10N-100W-40N-L3H-SR/10N-100W-40N-L3H-SR-2018_01_01.tif"
            ));
            // The second AOI spells its label dates with dashes.
            assert!(ds.samples[2].label.to_string_lossy().ends_with("-2018-01-01.tif"));
            let stretch = den_stretch(&RGB_BANDS);
            for (key, truth) in &written {
                let idx = ds.samples.iter().position(|s| &s.key() == key).unwrap();
                let (image, mask) = ds.load(idx, &RGB_BANDS, Some(&stretch), SnowIce::Class).unwrap();
                assert_eq!(&mask, truth, "{key}");
                assert_eq!((image.n_bands, image.height, image.width), (3, 24, 24));
                assert!(image.data.iter().all(|v| (0.0..=255.0).contains(v)));
                let (_, ignored) = ds.load(idx, &RGB_BANDS, None, SnowIce::Ignored).unwrap();
                let want: Vec<u8> = truth
                    .data
                    .iter()
                    .map(|&c| if c == 6 { IGNORE_INDEX } else { c })
                    .collect();
                assert_eq!(ignored.data, want);
            }
            // Band order: R is file band 3. Raw values of the first pixel, all four bands.
            let raw = crate::data::eurosat::load_geotiff(&first.image).unwrap();
            let rgbn = load_planet(&first.image, &[PlanetBand::Red, PlanetBand::Nir]).unwrap();
            assert_eq!(rgbn.band(0), raw.band(2));
            assert_eq!(rgbn.band(1), raw.band(3));

            // The official lists: 2 / 1 / 1 AOIs, entries resolved from `<planet folder> <label> <YYYY-MM>`.
            let (splits, from) = ds.load_or_create_split(None, &dir.path().join("unused"), 42).unwrap();
            assert_eq!(from, dir.path().join("dynnet_training_splits"));
            assert!(!dir.path().join("unused").exists());
            let list = from.join("test.txt");
            let test = ds.indices_of(&splits.test, &list, &[], false).unwrap();
            let keys: Vec<String> = test.iter().map(|&i| ds.samples[i].key()).collect();
            assert_eq!(keys, vec!["1602_3170_13/2018-01", "1602_3170_13/2018-07"]);
            assert_eq!(ds.indices_of(&splits.train, &list, &[], false).unwrap().len(), 4);
            // A months filter keeps the listed months only.
            let july = ds.indices_of(&splits.train, &list, &["2018-07".into()], false).unwrap();
            assert!(july.iter().all(|&i| ds.samples[i].date == "2018-07-01") && july.len() == 2);
            let msg = err_text(ds.indices_of(&splits.train, &list, &["2019-12".into()], false));
            assert!(
                msg.contains("test.txt") && msg.contains("empty split") && msg.contains("2019-12"),
                "{msg}"
            );
        }

        #[test]
        fn seeded_split_by_aoi_is_written_once_when_there_are_no_official_lists() {
            let dir = tempfile::tempdir().unwrap();
            fake(
                dir.path(),
                &FakeDen {
                    n_aois: 5,
                    size: 12,
                    official_split: None,
                    ..Default::default()
                },
            );
            let ds = DynamicEarthNet::open(dir.path(), DenLayout::default(), false).unwrap();
            let split_dir = dir.path().join("splits");
            let (splits, from) = ds.load_or_create_split(None, &split_dir, 42).unwrap();
            assert_eq!(from, split_dir);
            // 5 AOIs: 1 val, 1 test (15 %, at least one), 3 train, two months each.
            assert_eq!((splits.train.len(), splits.val.len(), splits.test.len()), (6, 2, 2));
            let aoi = |e: &String| e.split('/').next().unwrap().to_string();
            assert_eq!(aoi(&splits.val[0]), aoi(&splits.val[1]));
            assert!(splits
                .train
                .iter()
                .all(|e| aoi(e) != aoi(&splits.val[0]) && aoi(e) != aoi(&splits.test[0])));
            assert_eq!(
                std::fs::read_to_string(split_dir.join("val.txt"))
                    .unwrap()
                    .lines()
                    .count(),
                2
            );
            // Read back whatever the seed; entries resolve.
            assert_eq!(
                ds.load_or_create_split(Some(&split_dir), &split_dir, 7).unwrap().0,
                splits
            );
            let idx = ds
                .indices_of(&splits.val, &split_dir.join("val.txt"), &[], false)
                .unwrap();
            assert_eq!(idx.len(), 2);
            // Unknown and malformed entries name the list and the line; an empty list file is an error.
            let msg = err_text(ds.indices_of(&["9999_1_13/2018-01".into()], Path::new("val.txt"), &[], false));
            assert!(
                msg.contains("val.txt") && msg.contains("line 1: `9999_1_13/2018-01`"),
                "{msg}"
            );
            assert!(ds
                .indices_of(&["9999_1_13/2018-01".into()], Path::new("v"), &[], true)
                .is_err());
            let msg = err_text(ds.indices_of(&["a b".into()], Path::new("val.txt"), &[], false));
            assert!(msg.contains("line 1: `a b` is neither"), "{msg}");
            std::fs::write(split_dir.join("test.txt"), "\n# nothing\n").unwrap();
            let msg = err_text(ds.load_or_create_split(Some(&split_dir), &split_dir, 7));
            assert!(msg.contains("test.txt") && msg.contains("empty"), "{msg}");
        }

        #[test]
        fn bad_inputs_are_errors_naming_the_file() {
            let dir = tempfile::tempdir().unwrap();
            let spec = FakeDen {
                n_aois: 3,
                size: 12,
                ..Default::default()
            };
            fake(dir.path(), &spec);
            let open = || DynamicEarthNet::open(dir.path(), DenLayout::default(), false);
            let ds = open().unwrap();
            let idx_of = |ds: &DynamicEarthNet, key: &str| ds.samples.iter().position(|s| s.key() == key).unwrap();
            let (aoi0, _, _, _) = fake_names(0);
            let (aoi1, zone1, tile1, _) = fake_names(1);
            let (aoi2, zone2, tile2, label_tile2) = fake_names(2);

            // Size mismatch: a 10x12 image for a 12x12 label.
            let image = dir
                .path()
                .join(format!("planet/{zone1}/{tile1}/{aoi1}/PF-SR/2018-07-01.tif"));
            let small = crate::data::fake::solid_image(4, 10, 12, &[1.0, 2.0, 3.0, 4.0]);
            crate::data::fake::write_geotiff_u16(&image, &small).unwrap();
            let msg = err_text(ds.load(
                idx_of(&ds, &format!("{aoi1}/2018-07")),
                &RGB_BANDS,
                None,
                SnowIce::Ignored,
            ));
            assert!(
                msg.contains("-2018-07-01.tif") && msg.contains("size mismatch: label 12x12, image 12x10"),
                "{msg}"
            );
            // Missing band: a 3-band image asked for NIR.
            let three = crate::data::fake::solid_image(3, 12, 12, &[1.0, 2.0, 3.0]);
            crate::data::fake::write_geotiff_u16(&image, &three).unwrap();
            let msg = err_text(ds.load(
                idx_of(&ds, &format!("{aoi1}/2018-07")),
                &[PlanetBand::Red, PlanetBand::Nir],
                None,
                SnowIce::Ignored,
            ));
            assert!(
                msg.contains("2018-07-01.tif") && msg.contains("missing band NIR"),
                "{msg}"
            );
            // Out-of-range label value; a label with 6 bands.
            let label = dir.path().join(format!(
                "labels/{aoi2}_{zone2}/Labels/Raster/{label_tile2}/{label_tile2}-2018_01_01.tif"
            ));
            let mut grey = crate::data::fake::solid_image(7, 12, 12, &[0.0; 7]);
            grey.data[3 * 144 + 5 * 12 + 4] = 7.0;
            crate::data::fake::write_geotiff_u8(&label, &grey).unwrap();
            let msg = err_text(ds.load(
                idx_of(&ds, &format!("{aoi2}/2018-01")),
                &RGB_BANDS,
                None,
                SnowIce::Ignored,
            ));
            assert!(
                msg.contains(&label_tile2) && msg.contains("label value 7 in band 4 (Wetlands) at row 5, column 4"),
                "{msg}"
            );
            let six = crate::data::fake::solid_image(6, 12, 12, &[0.0; 6]);
            crate::data::fake::write_geotiff_u8(&label, &six).unwrap();
            let msg = err_text(ds.load(
                idx_of(&ds, &format!("{aoi2}/2018-01")),
                &RGB_BANDS,
                None,
                SnowIce::Ignored,
            ));
            assert!(
                msg.contains("2018_01_01.tif") && msg.contains("6 label band(s), expected 7"),
                "{msg}"
            );

            // A label without its image: the date's image removed, then the AOI's image folder.
            std::fs::remove_file(
                dir.path()
                    .join(format!("planet/{zone2}/{tile2}/{aoi2}/PF-SR/2018-07-01.tif")),
            )
            .unwrap();
            let msg = err_text(open());
            assert!(
                msg.contains(&format!("{label_tile2}-2018_07_01.tif"))
                    && msg.contains("label without its image")
                    && msg.contains(&format!("{aoi2}/PF-SR/2018-07-01.tif does not exist")),
                "{msg}"
            );
            std::fs::remove_dir_all(dir.path().join(format!("planet/{zone2}"))).unwrap();
            let msg = err_text(open());
            assert!(
                msg.contains("label without its image") && msg.contains(&format!("AOI `{aoi2}_{zone2}`")),
                "{msg}"
            );
            // --skip-bad skips and lists them; the official lists then skip their entries too.
            let ds = DynamicEarthNet::open(dir.path(), DenLayout::default(), true).unwrap();
            assert_eq!((ds.len(), ds.skipped.len()), (4, 2));
            let (splits, from) = ds.load_or_create_split(None, dir.path(), 0).unwrap();
            let list = from.join("test.txt");
            let msg = err_text(ds.indices_of(&splits.test, &list, &[], false));
            assert!(
                msg.contains(&format!("`{aoi2}/2018-01` is not a labelled sample")),
                "{msg}"
            );
            let msg = err_text(ds.indices_of(&splits.test, &list, &[], true));
            assert!(msg.contains("empty split"), "{msg}");
            assert_eq!(ds.indices_of(&splits.train, &list, &[], true).unwrap().len(), 2);
            assert_eq!(ds.samples[0].aoi, aoi0);

            // A missing dataset names the folder and how to get it; a root without planet/ or labels/ names it.
            let msg = err_text(DynamicEarthNet::open(
                dir.path().join("nope"),
                DenLayout::default(),
                false,
            ));
            assert!(
                msg.contains("not found") && msg.contains("nope") && msg.contains("mediatum"),
                "{msg}"
            );
            std::fs::remove_dir_all(dir.path().join("labels")).unwrap();
            let msg = err_text(open());
            assert!(msg.contains("label folder `labels/` missing"), "{msg}");
        }

        #[test]
        fn per_zone_planet_folders_and_renamed_layouts_are_found() {
            let dir = tempfile::tempdir().unwrap();
            fake(
                dir.path(),
                &FakeDen {
                    n_aois: 2,
                    months: vec!["2019-03".into()],
                    days: vec![1],
                    size: 8,
                    official_split: None,
                    seed: 1,
                },
            );
            // The per-zone archive layout `planet.10N/10N/...`, and labels under another name.
            let (_, zone0, _, _) = fake_names(0);
            std::fs::create_dir(dir.path().join(format!("planet.{zone0}"))).unwrap();
            std::fs::rename(
                dir.path().join(format!("planet/{zone0}")),
                dir.path().join(format!("planet.{zone0}/{zone0}")),
            )
            .unwrap();
            std::fs::rename(dir.path().join("labels"), dir.path().join("label_rasters")).unwrap();
            assert!(DynamicEarthNet::open(dir.path(), DenLayout::default(), false).is_err());
            let layout = DenLayout {
                label_dir: "label_rasters".into(),
                ..Default::default()
            };
            let ds = DynamicEarthNet::open(dir.path(), layout, false).unwrap();
            assert_eq!(ds.len(), 2);
            assert!(ds.samples[0]
                .image
                .to_string_lossy()
                .contains(&format!("planet.{zone0}/")));
        }
    }
}
