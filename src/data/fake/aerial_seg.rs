//! Fake "Semantic segmentation of aerial imagery" (Dubai, Humans in the Loop) in its release layout, read by
//! [`crate::data::aerial_seg::AerialSeg`]: `Tile N/images/*.jpg` and colour masks `Tile N/masks/*.png`.

use std::path::Path;

use rand::{Rng, SeedableRng};

use super::{FakeDataset, FakeSpec};
use crate::data::aerial_seg::{AERIAL_CLASSES, IGNORED_COLOURS, IGNORE_INDEX};
use crate::data::dense::Mask;
use crate::data::image_io::write_jpeg;
use crate::data::Image;
use crate::{Error, Result};

/// What [`write_fake`] generates: `n_big_tiles` folders of `n_per_tile` images of the given sizes (cycled).
#[derive(Debug, Clone)]
pub struct FakeAerial {
    pub n_big_tiles: usize,
    pub n_per_tile: usize,
    /// (height, width) of the images, cycled.
    pub sizes: Vec<(usize, usize)>,
    pub seed: u64,
}

impl FakeDataset for FakeAerial {
    /// The masks as class indices, by relative image path.
    type Written = Vec<(String, Mask)>;

    /// `spec.n` big tiles of 2 images of 64 px.
    fn from_spec(spec: &FakeSpec) -> Self {
        FakeAerial {
            n_big_tiles: spec.n,
            n_per_tile: 2,
            sizes: vec![(64, 64)],
            seed: spec.seed,
        }
    }

    fn write(&self, root: &Path) -> Result<Self::Written> {
        write_fake(root, self)
    }

    fn count(written: &Self::Written) -> usize {
        written.len()
    }
}

/// Writes a tiny fake set in the real layout: each image is split into vertical bands of random classes (and a
/// corner of "Unlabeled"); the image colour is the class's mean colour from SOURCE.md plus noise, written as JPEG;
/// masks are RGB PNGs. Returns the masks as class indices, by relative image path.
pub fn write_fake(root: &Path, spec: &FakeAerial) -> Result<Vec<(String, Mask)>> {
    // Mean image RGB under each class (SOURCE.md), in AERIAL_CLASSES order.
    const MEAN_RGB: [[f32; 3]; 5] = [
        [128.0, 126.0, 130.0],
        [179.0, 183.0, 190.0],
        [106.0, 100.0, 103.0],
        [76.0, 79.0, 76.0],
        [27.0, 30.0, 24.0],
    ];
    let mut rng = rand::rngs::StdRng::seed_from_u64(spec.seed);
    let mut written = Vec::new();
    let mut k = 0;
    for t in 1..=spec.n_big_tiles {
        let tile = format!("Tile {t}");
        for dir in ["images", "masks"] {
            let path = root.join(&tile).join(dir);
            std::fs::create_dir_all(&path).map_err(|e| Error::io(&path, e))?;
        }
        for i in 1..=spec.n_per_tile {
            let (h, w) = spec.sizes[k % spec.sizes.len()];
            k += 1;
            let n_stripes = rng.random_range(2..=4);
            let classes: Vec<u8> = (0..n_stripes).map(|_| rng.random_range(0..5)).collect();
            let mut mask = Mask {
                height: h,
                width: w,
                data: vec![0; h * w],
            };
            let mut image = Image {
                n_bands: 3,
                height: h,
                width: w,
                data: vec![0.0; 3 * h * w],
            };
            for r in 0..h {
                for c in 0..w {
                    let unlabeled = r < h / 6 && c < w / 6;
                    let class = classes[c * n_stripes / w];
                    mask.data[r * w + c] = if unlabeled { IGNORE_INDEX } else { class };
                    let means = if unlabeled {
                        [150.0; 3]
                    } else {
                        MEAN_RGB[class as usize]
                    };
                    for (b, mean) in means.iter().enumerate() {
                        image.data[b * h * w + r * w + c] = mean + rng.random_range(-8.0..8.0);
                    }
                }
            }
            let rel = format!("{tile}/images/image_part_{i:03}.jpg");
            write_jpeg(&root.join(&rel), &image)?;
            let raw: Vec<u8> = mask
                .data
                .iter()
                .flat_map(|&v| {
                    if v == IGNORE_INDEX {
                        IGNORED_COLOURS[1]
                    } else {
                        AERIAL_CLASSES[v as usize].1
                    }
                })
                .collect();
            let mask_path = root.join(&tile).join(format!("masks/image_part_{i:03}.png"));
            image::RgbImage::from_raw(w as u32, h as u32, raw)
                .expect("mask buffer")
                .save(&mask_path)
                .map_err(|e| Error::bad_input(&mask_path, format!("cannot write PNG: {e}")))?;
            written.push((rel, mask));
        }
    }
    Ok(written)
}
