//! Fake EuroSAT (Helber et al. 2019) in the release layout: `root/<Class>/<Class>_<n>.jpg` (RGB) or `.tif`
//! (13-band MS). Each class gets its own mean colour so that a classifier can separate them.

use std::collections::HashMap;
use std::path::Path;

use rand::{Rng, SeedableRng};

use super::{FakeDataset, FakeSpec};
use crate::data::eurosat::{EurosatVariant, EUROSAT_MS_BANDS, EUROSAT_SIZE};
use crate::data::image_io::{write_geotiff_u16, write_jpeg};
use crate::data::Image;
use crate::{Error, Result};

/// What to generate: class folder names, images per class, the seed, and which release (RGB JPEGs or MS GeoTIFFs).
#[derive(Debug, Clone)]
pub struct FakeEurosat {
    pub classes: Vec<String>,
    pub n_per_class: usize,
    pub seed: u64,
    pub variant: EurosatVariant,
}

impl FakeEurosat {
    /// The ten real EuroSAT class names, `n_per_class` RGB images each.
    pub fn with_eurosat_classes(n_per_class: usize, seed: u64) -> Self {
        let classes = crate::data::eurosat::EUROSAT_CLASSES
            .iter()
            .map(|c| c.to_string())
            .collect();
        FakeEurosat {
            classes,
            n_per_class,
            seed,
            variant: EurosatVariant::Rgb,
        }
    }
}

impl FakeDataset for FakeEurosat {
    /// The images as generated (before JPEG loss), by relative path.
    type Written = HashMap<String, Image>;

    /// The ten EuroSAT classes, `spec.n` RGB images each.
    fn from_spec(spec: &FakeSpec) -> Self {
        FakeEurosat::with_eurosat_classes(spec.n, spec.seed)
    }

    fn write(&self, root: &Path) -> Result<Self::Written> {
        let n_classes = self.classes.len();
        match self.variant {
            EurosatVariant::Rgb => write_classes(
                root,
                self,
                "jpg",
                |rng, c| class_image(rng, c, n_classes, 3, 0.0, 255.0),
                write_jpeg,
            ),
            EurosatVariant::Ms => {
                let n_bands = EUROSAT_MS_BANDS.len();
                write_classes(
                    root,
                    self,
                    "tif",
                    |rng, c| class_image(rng, c, n_classes, n_bands, 100.0, 4000.0),
                    write_geotiff_u16,
                )
            }
        }
    }

    fn count(written: &Self::Written) -> usize {
        written.len()
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

/// Writes `root/<Class>/<Class>_<n>.jpg` (64x64 RGB JPEG) and returns the images as generated (before JPEG loss),
/// whatever `spec.variant` says.
pub fn write_eurosat_rgb(root: &Path, spec: &FakeEurosat) -> Result<HashMap<String, Image>> {
    FakeEurosat {
        variant: EurosatVariant::Rgb,
        ..spec.clone()
    }
    .write(root)
}

/// Writes `root/<Class>/<Class>_<n>.tif` (64x64, 13-band uint16 GeoTIFF, EuroSAT MS band order), whatever
/// `spec.variant` says.
pub fn write_eurosat_ms(root: &Path, spec: &FakeEurosat) -> Result<HashMap<String, Image>> {
    FakeEurosat {
        variant: EurosatVariant::Ms,
        ..spec.clone()
    }
    .write(root)
}
