//! Fake BigEarthNet v1.0 (Sumbul et al. 2019) in the release layout, read by
//! [`crate::data::bigearthnet::BigEarthNet`]: `BigEarthNet-v1.0/<patch>/<patch>_<band>.tif`, the labels' JSON and
//! split lists.

use std::path::Path;

use rand::{Rng, SeedableRng};

use super::{FakeDataset, FakeSpec};
use crate::data::bigearthnet::{labels_19, BIGEARTHNET_BANDS, LABELS_43};
use crate::data::image_io::write_geotiff_u16;
use crate::data::Image;
use crate::{Error, Result};

/// A generated patch: its name and 19-class targets.
pub type FakePatch = (String, Vec<bool>);

/// What [`FakeBigEarthNet::write`] generates: patches per split (train, val, test) and the seed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeBigEarthNet {
    pub n_per_split: [usize; 3],
    pub seed: u64,
}

impl FakeDataset for FakeBigEarthNet {
    /// Per split, the patches and their 19-class targets.
    type Written = Vec<Vec<FakePatch>>;

    /// `spec.n` patches per split.
    fn from_spec(spec: &FakeSpec) -> Self {
        FakeBigEarthNet {
            n_per_split: [spec.n; 3],
            seed: spec.seed,
        }
    }

    /// Writes tiny fake BigEarthNet patches in the real layout: `n_per_split` patches per split, each with one to
    /// three random 43-class labels; every band is brighter for each 19-class label present (so a linear probe can
    /// learn). Returns, per split, the patches and their 19-class targets.
    fn write(&self, root: &Path) -> Result<Self::Written> {
        write_fake(root, self.n_per_split, self.seed)
    }

    fn count(written: &Self::Written) -> usize {
        written.iter().map(Vec::len).sum()
    }
}

/// [`FakeBigEarthNet::write`] with its two settings as arguments.
pub fn write_fake(root: &Path, n_per_split: [usize; 3], seed: u64) -> Result<Vec<Vec<FakePatch>>> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let patch_root = root.join("BigEarthNet-v1.0");
    let mut out = Vec::new();
    for (split, &n) in ["train", "val", "test"].iter().zip(&n_per_split) {
        let mut written = Vec::new();
        for i in 0..n {
            let patch = format!("S2A_MSIL2A_20170613T101031_{split}_{i}");
            let dir = patch_root.join(&patch);
            std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
            let n_labels = rng.random_range(1..=3);
            let labels: Vec<String> = (0..n_labels)
                .map(|_| LABELS_43[rng.random_range(0..LABELS_43.len())].to_string())
                .collect();
            let target = labels_19(&labels).map_err(Error::Config)?;
            let signal: f32 = target
                .iter()
                .enumerate()
                .filter(|(_, &t)| t)
                .map(|(c, _)| 150.0 * ((c % 5) as f32 + 1.0))
                .sum();
            for (b, band) in BIGEARTHNET_BANDS.iter().enumerate() {
                let side = match *band {
                    "B02" | "B03" | "B04" | "B08" => 120,
                    "B01" | "B09" => 20,
                    _ => 60,
                };
                // Each band weighs the classes differently so that the labels are separable.
                let weight = 1.0 + (b % 4) as f32 * 0.25;
                let data = (0..side * side)
                    .map(|_| 300.0 + weight * signal + rng.random_range(0.0..50.0))
                    .collect();
                let image = Image {
                    n_bands: 1,
                    height: side,
                    width: side,
                    data,
                };
                write_geotiff_u16(&dir.join(format!("{patch}_{band}.tif")), &image)?;
            }
            let meta = serde_json::json!({
                "labels": labels,
                "coordinates": {"ulx": 0, "uly": 0, "lrx": 1200, "lry": 1200},
                "projection": "fake",
                "tile_source": "fake",
                "acquisition_date": "2017-06-13 10:10:31",
            });
            let meta_path = dir.join(format!("{patch}_labels_metadata.json"));
            std::fs::write(&meta_path, meta.to_string()).map_err(|e| Error::io(&meta_path, e))?;
            written.push((patch, target));
        }
        let list: Vec<&str> = written.iter().map(|(p, _)| p.as_str()).collect();
        let list_path = root.join(format!("{split}.txt"));
        std::fs::write(&list_path, list.join("\n") + "\n").map_err(|e| Error::io(&list_path, e))?;
        out.push(written);
    }
    Ok(out)
}
