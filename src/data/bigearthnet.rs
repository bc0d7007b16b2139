//! BigEarthNet v1.0 (Sumbul et al. 2019) as SeCo reads it (`datasets/bigearthnet_dataset.py`): one folder per
//! Sentinel-2 patch, `<patch>/<patch>_<band>.tif` (120x120 px at 10 m, 60x60 at 20 m, 20x20 at 60 m) and
//! `<patch>/<patch>_labels_metadata.json` with the CORINE labels of the 43-class nomenclature, mapped to the
//! 19-class nomenclature (METHODS.md; labels without a 19-class counterpart are dropped, as in SeCo). Split lists
//! `root/{train,val,test}.txt` name the patches; the patches lie in `root/BigEarthNet-v1.0/` or in `root/`; patches
//! listed in the published snow and cloud CSVs, if present in `root`, are left out. Fake data:
//! [`super::fake::bigearthnet`].

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use rand::seq::SliceRandom;
use rand::SeedableRng;

use super::timeseries::BandStretch;
use super::Image;
use crate::{Error, Result};

// The fake-data generator lives in `data::fake::bigearthnet`; re-exported at its old path.

/// The 43 labels of the original nomenclature.
pub const LABELS_43: [&str; 43] = [
    "Agro-forestry areas",
    "Airports",
    "Annual crops associated with permanent crops",
    "Bare rock",
    "Beaches, dunes, sands",
    "Broad-leaved forest",
    "Burnt areas",
    "Coastal lagoons",
    "Complex cultivation patterns",
    "Coniferous forest",
    "Construction sites",
    "Continuous urban fabric",
    "Discontinuous urban fabric",
    "Dump sites",
    "Estuaries",
    "Fruit trees and berry plantations",
    "Green urban areas",
    "Industrial or commercial units",
    "Inland marshes",
    "Intertidal flats",
    "Land principally occupied by agriculture, with significant areas of natural vegetation",
    "Mineral extraction sites",
    "Mixed forest",
    "Moors and heathland",
    "Natural grassland",
    "Non-irrigated arable land",
    "Olive groves",
    "Pastures",
    "Peatbogs",
    "Permanently irrigated land",
    "Port areas",
    "Rice fields",
    "Road and rail networks and associated land",
    "Salines",
    "Salt marshes",
    "Sclerophyllous vegetation",
    "Sea and ocean",
    "Sparsely vegetated areas",
    "Sport and leisure facilities",
    "Transitional woodland/shrub",
    "Vineyards",
    "Water bodies",
    "Water courses",
];

/// The 19-class nomenclature (Sumbul et al. 2020), in SeCo's order.
pub const LABELS_19: [&str; 19] = [
    "Urban fabric",
    "Industrial or commercial units",
    "Arable land",
    "Permanent crops",
    "Pastures",
    "Complex cultivation patterns",
    "Land principally occupied by agriculture, with significant areas of natural vegetation",
    "Agro-forestry areas",
    "Broad-leaved forest",
    "Coniferous forest",
    "Mixed forest",
    "Natural grassland and sparsely vegetated areas",
    "Moors, heathland and sclerophyllous vegetation",
    "Transitional woodland/shrub",
    "Beaches, dunes, sands",
    "Inland wetlands",
    "Coastal wetlands",
    "Inland waters",
    "Marine waters",
];

/// 43-class labels merged into a 19-class one (the others keep their name or are dropped).
pub const GROUP_LABELS: [(&str, &str); 22] = [
    ("Continuous urban fabric", "Urban fabric"),
    ("Discontinuous urban fabric", "Urban fabric"),
    ("Non-irrigated arable land", "Arable land"),
    ("Permanently irrigated land", "Arable land"),
    ("Rice fields", "Arable land"),
    ("Vineyards", "Permanent crops"),
    ("Fruit trees and berry plantations", "Permanent crops"),
    ("Olive groves", "Permanent crops"),
    ("Annual crops associated with permanent crops", "Permanent crops"),
    ("Natural grassland", "Natural grassland and sparsely vegetated areas"),
    (
        "Sparsely vegetated areas",
        "Natural grassland and sparsely vegetated areas",
    ),
    ("Moors and heathland", "Moors, heathland and sclerophyllous vegetation"),
    (
        "Sclerophyllous vegetation",
        "Moors, heathland and sclerophyllous vegetation",
    ),
    ("Inland marshes", "Inland wetlands"),
    ("Peatbogs", "Inland wetlands"),
    ("Salt marshes", "Coastal wetlands"),
    ("Salines", "Coastal wetlands"),
    ("Water bodies", "Inland waters"),
    ("Water courses", "Inland waters"),
    ("Coastal lagoons", "Marine waters"),
    ("Estuaries", "Marine waters"),
    ("Sea and ocean", "Marine waters"),
];

/// RGB as SeCo stacks it.
pub const BIGEARTHNET_RGB_BANDS: [&str; 3] = ["B04", "B03", "B02"];

/// The 12 bands of a patch (B10 is not in L2A).
pub const BIGEARTHNET_BANDS: [&str; 12] = [
    "B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B11", "B12",
];

/// Patch side at 10 m, and the side METHODS.md resizes it to.
pub const PATCH_SIZE: usize = 120;
pub const INPUT_SIZE: usize = 128;
/// Folder of the dataset under the data root.
pub const DATASET_DIR: &str = "bigearthnet";

/// SeCo's band statistics (mean, std) of BigEarthNet, digits as in `datasets/bigearthnet_dataset.py`.
pub const BAND_STATS: [(&str, f64, f64); 12] = [
    ("B01", 340.76769064, 554.81258967),
    ("B02", 429.9430203, 572.41639287),
    ("B03", 614.21682446, 582.87945694),
    ("B04", 590.23569706, 675.88746967),
    ("B05", 950.68368468, 729.89827633),
    ("B06", 1792.46290469, 1096.01480586),
    ("B07", 2075.46795189, 1273.45393088),
    ("B08", 2218.94553375, 1365.45589904),
    ("B8A", 2266.46036911, 1356.13789355),
    ("B09", 2246.0605464, 1302.3292881),
    ("B11", 1594.42694882, 1079.19066363),
    ("B12", 1009.32729131, 818.86747235),
];

/// SeCo's uint8 stretch of `bands`: (mean - 2 std, mean + 2 std) -> (0, 255). An unknown band is an error.
pub fn seco_stretch(bands: &[&str]) -> Result<BandStretch> {
    let mut lo = Vec::new();
    let mut hi = Vec::new();
    for band in bands {
        let (_, mean, std) = BAND_STATS
            .iter()
            .find(|(b, _, _)| b == band)
            .ok_or_else(|| Error::Config(format!("BigEarthNet has no band `{band}`")))?;
        lo.push((mean - 2.0 * std) as f32);
        hi.push((mean + 2.0 * std) as f32);
    }
    Ok(BandStretch { lo, hi })
}

/// The 19-class multi-hot vector of a patch's 43-class labels. A name outside the 43 is an error.
pub fn labels_19(labels: &[String]) -> std::result::Result<Vec<bool>, String> {
    let mut target = vec![false; LABELS_19.len()];
    for label in labels {
        if !LABELS_43.contains(&label.as_str()) {
            return Err(format!("unknown BigEarthNet label `{label}`"));
        }
        let name = GROUP_LABELS
            .iter()
            .find(|(from, _)| from == label)
            .map_or(label.as_str(), |(_, to)| to);
        if let Some(idx) = LABELS_19.iter().position(|l| *l == name) {
            target[idx] = true;
        }
    }
    Ok(target)
}

/// The patches of one split.
#[derive(Debug, Clone)]
pub struct BigEarthNet {
    /// Folder holding the patch folders.
    pub patch_root: PathBuf,
    pub patches: Vec<String>,
    /// Patches of the list left out as snowy or cloudy.
    pub n_excluded: usize,
}

impl BigEarthNet {
    /// Reads `root/<split>.txt`; an empty list or a listed patch without its folder is an error naming it.
    pub fn open(root: impl AsRef<Path>, split: &str) -> Result<Self> {
        let root = root.as_ref();
        if !root.is_dir() {
            return Err(super::not_found(
                "bigearthnet",
                root,
                "BigEarthNet-v1.0.tar.gz from https://bigearth.net, extracted into <folder>/BigEarthNet-v1.0/, \
                 with the split lists bigearthnet-{train,val,test}.txt of Google's remote_sensing_representations \
                 saved as <folder>/{train,val,test}.txt; point --data-dir or CACO_DATA at the parent",
            ));
        }
        let patch_root = if root.join("BigEarthNet-v1.0").is_dir() {
            root.join("BigEarthNet-v1.0")
        } else {
            root.to_path_buf()
        };
        let list_path = root.join(format!("{split}.txt"));
        let listed = super::split::read_list(&list_path)?;
        let mut excluded = HashSet::new();
        for csv in ["patches_with_seasonal_snow.csv", "patches_with_cloud_and_shadow.csv"] {
            if let Ok(text) = std::fs::read_to_string(root.join(csv)) {
                excluded.extend(text.lines().map(|l| l.trim().to_string()));
            }
        }
        let patches: Vec<String> = listed.iter().filter(|p| !excluded.contains(*p)).cloned().collect();
        if patches.is_empty() {
            return Err(Error::bad_input(
                &list_path,
                "every listed patch is excluded as snowy or cloudy",
            ));
        }
        if let Some(missing) = patches.iter().find(|p| !patch_root.join(p).is_dir()) {
            return Err(Error::bad_input(
                patch_root.join(missing),
                format!("patch listed in {} not found", list_path.display()),
            ));
        }
        Ok(BigEarthNet {
            patch_root,
            n_excluded: listed.len() - patches.len(),
            patches,
        })
    }

    pub fn len(&self) -> usize {
        self.patches.len()
    }

    pub fn is_empty(&self) -> bool {
        self.patches.is_empty()
    }

    /// Reads patch `idx`: `bands` onto the 120x120 grid (bilinear), `stretch` applied if given, resized to
    /// [`INPUT_SIZE`]; and its 19-class multi-hot labels.
    pub fn load(&self, idx: usize, bands: &[&str], stretch: Option<&BandStretch>) -> Result<(Image, Vec<bool>)> {
        let patch = &self.patches[idx];
        let dir = self.patch_root.join(patch);
        let mut image = load_patch_bands(&dir, patch, bands)?;
        if let Some(s) = stretch {
            s.apply(&mut image);
        }
        let image = super::augment::resize(&image, INPUT_SIZE);
        Ok((image, self.targets(idx)?))
    }

    /// The 19-class targets of patch `idx`, from its `<patch>_labels_metadata.json`.
    pub fn targets(&self, idx: usize) -> Result<Vec<bool>> {
        let patch = &self.patches[idx];
        let meta_path = self.patch_root.join(patch).join(format!("{patch}_labels_metadata.json"));
        let text = std::fs::read_to_string(&meta_path).map_err(|e| Error::io(&meta_path, e))?;
        let meta: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| Error::bad_input(&meta_path, format!("not a labels metadata file: {e}")))?;
        let labels: Vec<String> = meta
            .get("labels")
            .and_then(|l| l.as_array())
            .ok_or_else(|| Error::bad_input(&meta_path, "no `labels` array"))?
            .iter()
            .map(|v| v.as_str().map(str::to_string))
            .collect::<Option<_>>()
            .ok_or_else(|| Error::bad_input(&meta_path, "`labels` must be strings"))?;
        labels_19(&labels).map_err(|reason| Error::bad_input(&meta_path, reason))
    }

    /// A seeded subset of `fraction` of the patches (at least one): the label-fraction setting (e.g. 10 % of train).
    pub fn subset(&self, fraction: f64, seed: u64) -> Result<Vec<usize>> {
        if !(fraction > 0.0 && fraction <= 1.0) {
            return Err(Error::Config(format!(
                "label fraction must be in (0, 1], got {fraction}"
            )));
        }
        let mut idx: Vec<usize> = (0..self.len()).collect();
        idx.shuffle(&mut rand::rngs::StdRng::seed_from_u64(seed));
        idx.truncate(((self.len() as f64 * fraction).round() as usize).max(1));
        idx.sort_unstable();
        Ok(idx)
    }
}

/// Reads `<dir>/<patch>_<band>.tif` for every band onto the grid of the largest (bilinear).
#[cfg(feature = "gdal")]
pub fn load_patch_bands(dir: &Path, patch: &str, bands: &[&str]) -> Result<Image> {
    let mut paths = Vec::with_capacity(bands.len());
    for band in bands {
        let path = dir.join(format!("{patch}_{band}.tif"));
        if !path.is_file() {
            return Err(Error::bad_input(&path, format!("missing band {band}")));
        }
        paths.push(path);
    }
    super::timeseries::read_band_files(&paths, "BigEarthNet")
}

#[cfg(not(feature = "gdal"))]
pub fn load_patch_bands(dir: &Path, _patch: &str, _bands: &[&str]) -> Result<Image> {
    Err(Error::bad_input(dir, "BigEarthNet reading needs caco's `gdal` feature"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::fake::bigearthnet::write_fake;

    #[test]
    fn nomenclature_maps_43_to_19_classes_as_seco() {
        let to19 = |names: &[&str]| labels_19(&names.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        let t = to19(&["Continuous urban fabric", "Discontinuous urban fabric", "Sea and ocean"]).unwrap();
        let on: Vec<&str> = LABELS_19.iter().zip(&t).filter(|(_, &v)| v).map(|(l, _)| *l).collect();
        assert_eq!(on, vec!["Urban fabric", "Marine waters"]);
        // Kept as is, and dropped (no 19-class counterpart).
        assert_eq!(to19(&["Pastures"]).unwrap().iter().filter(|&&v| v).count(), 1);
        assert!(to19(&["Airports", "Burnt areas", "Bare rock"])
            .unwrap()
            .iter()
            .all(|&v| !v));
        assert!(to19(&["Martian dunes"]).unwrap_err().contains("Martian dunes"));
        // 22 labels are merged, 10 keep their name, the other 11 (airports, burnt areas, ...) are dropped.
        let dropped = LABELS_43
            .iter()
            .filter(|l| to19(&[l]).unwrap().iter().all(|&v| !v))
            .count();
        assert_eq!(dropped, 11);
        assert!(GROUP_LABELS
            .iter()
            .all(|(from, to)| LABELS_43.contains(from) && LABELS_19.contains(to)));
    }

    #[cfg(feature = "gdal")]
    #[test]
    fn fake_patches_read_resized_with_their_labels_and_a_seeded_label_fraction() {
        let dir = tempfile::tempdir().unwrap();
        let written = write_fake(dir.path(), [4, 1, 2], 1).unwrap();
        let ds = BigEarthNet::open(dir.path(), "train").unwrap();
        assert_eq!(ds.len(), 4);
        let stretch = seco_stretch(&BIGEARTHNET_RGB_BANDS).unwrap();
        let (image, target) = ds.load(2, &BIGEARTHNET_RGB_BANDS, Some(&stretch)).unwrap();
        assert_eq!((image.n_bands, image.height, image.width), (3, INPUT_SIZE, INPUT_SIZE));
        assert!(image.data.iter().all(|v| (0.0..=255.0).contains(v)));
        assert_eq!(target, written[0][2].1);
        // All 12 bands: 20 m and 60 m bands resampled onto the 120 px grid, then resized.
        let (all, _) = ds.load(0, &BIGEARTHNET_BANDS, None).unwrap();
        assert_eq!(all.n_bands, 12);
        let sub = ds.subset(0.5, 3).unwrap();
        assert_eq!(sub.len(), 2);
        assert_eq!(sub, ds.subset(0.5, 3).unwrap());
        assert_eq!(ds.subset(0.01, 3).unwrap().len(), 1);
        assert!(ds.subset(0.0, 3).is_err());
    }

    #[cfg(feature = "gdal")]
    #[test]
    fn missing_band_bad_labels_excluded_and_missing_patches_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let written = write_fake(dir.path(), [3, 1, 1], 2).unwrap();
        let patch = &written[0][1].0;
        let patch_dir = dir.path().join("BigEarthNet-v1.0").join(patch);
        std::fs::remove_file(patch_dir.join(format!("{patch}_B03.tif"))).unwrap();
        let ds = BigEarthNet::open(dir.path(), "train").unwrap();
        let msg = ds.load(1, &BIGEARTHNET_RGB_BANDS, None).unwrap_err().to_string();
        assert!(
            msg.contains(&format!("{patch}_B03.tif")) && msg.contains("missing band B03"),
            "{msg}"
        );

        let other = &written[0][2].0;
        let meta = dir
            .path()
            .join("BigEarthNet-v1.0")
            .join(other)
            .join(format!("{other}_labels_metadata.json"));
        std::fs::write(&meta, r#"{"labels": ["Lava fields"]}"#).unwrap();
        let msg = ds.load(2, &BIGEARTHNET_RGB_BANDS, None).unwrap_err().to_string();
        assert!(
            msg.contains("labels_metadata.json") && msg.contains("Lava fields"),
            "{msg}"
        );

        // Snowy or cloudy patches in the published CSVs are left out and counted.
        std::fs::write(dir.path().join("patches_with_seasonal_snow.csv"), format!("{other}\n")).unwrap();
        let ds = BigEarthNet::open(dir.path(), "train").unwrap();
        assert_eq!((ds.len(), ds.n_excluded), (2, 1));

        std::fs::remove_dir_all(dir.path().join("BigEarthNet-v1.0").join(&written[2][0].0)).unwrap();
        let msg = BigEarthNet::open(dir.path(), "test").unwrap_err().to_string();
        assert!(msg.contains(&written[2][0].0) && msg.contains("not found"), "{msg}");
        std::fs::write(dir.path().join("val.txt"), "\n").unwrap();
        assert!(BigEarthNet::open(dir.path(), "val")
            .unwrap_err()
            .to_string()
            .contains("empty"));
        assert!(seco_stretch(&["B10"]).is_err());
    }
}
