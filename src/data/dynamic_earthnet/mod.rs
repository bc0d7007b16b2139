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
//!
//! Files: this one holds the classes, bands, options and layout; [`reader`] scans a copy and decodes its images and
//! labels; the fake-data generator is [`crate::data::fake::dynamic_earthnet`].

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::timeseries::BandStretch;
use crate::{Error, Result};

pub mod reader;

pub use reader::{label_date, label_to_mask, load_planet, DynamicEarthNet};
// The fake-data generator lives in `data::fake::dynamic_earthnet`; re-exported at its old path.

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
