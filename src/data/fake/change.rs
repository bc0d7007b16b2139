//! Fake bi-temporal change pairs in the LEVIR-CD layout or any other [`ChangeLayout`] (read by
//! [`crate::data::change::ChangeDataset`]).

use std::path::Path;

use rand::{Rng, SeedableRng};

use super::{FakeDataset, FakeSpec};
use crate::data::change::{ChangeLayout, ChangePair};
use crate::data::dense::Mask;
use crate::data::image_io::{write_binary_mask, write_rgb_png};
use crate::data::split::{self, Splits, SPLIT_NAMES};
use crate::data::Image;
use crate::{Error, Result};

/// What [`write_fake`] generates.
#[derive(Debug, Clone)]
pub struct FakeChange {
    pub layout: ChangeLayout,
    /// Pairs per split (train, val, test).
    pub n_pairs: [usize; 3],
    pub height: usize,
    pub width: usize,
    pub seed: u64,
}

impl FakeDataset for FakeChange {
    /// The pairs as generated (0/1 labels).
    type Written = Vec<ChangePair>;

    /// LEVIR-CD's folders, `spec.n` pairs per split, 64 px.
    fn from_spec(spec: &FakeSpec) -> Self {
        FakeChange {
            layout: ChangeLayout::default(),
            n_pairs: [spec.n; 3],
            height: 64,
            width: 64,
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

/// Writes a tiny change set in the real layout: A is a noisy texture, B is A re-lit with one or two rectangles
/// replaced by a bright, distinct patch (marked 255 in the label); the first test pair has no change. Returns the
/// pairs as generated (0/1 labels).
pub fn write_fake(root: &Path, spec: &FakeChange) -> Result<Vec<ChangePair>> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(spec.seed);
    let l = &spec.layout;
    for dir in [&l.a_dir, &l.b_dir, &l.label_dir, &l.list_dir] {
        let path = root.join(dir);
        std::fs::create_dir_all(&path).map_err(|e| Error::io(&path, e))?;
    }
    let (h, w) = (spec.height, spec.width);
    let mut pairs = Vec::new();
    let mut splits = Splits {
        train: vec![],
        val: vec![],
        test: vec![],
    };
    for (split_idx, &n) in spec.n_pairs.iter().enumerate() {
        for i in 0..n {
            let name = format!("{}_{i:03}.png", SPLIT_NAMES[split_idx]);
            let base: [f32; 3] = std::array::from_fn(|_| rng.random_range(40.0..120.0));
            let a_data: Vec<f32> = (0..3)
                .flat_map(|b| (0..h * w).map(move |px| (b, px)))
                .map(|(b, px)| base[b] + 20.0 * ((px % w) as f32 / w as f32) + rng.random_range(-10.0..10.0))
                .collect();
            let a = Image {
                n_bands: 3,
                height: h,
                width: w,
                data: a_data,
            };
            let gain = rng.random_range(0.9..1.1);
            let mut b = Image {
                data: a
                    .data
                    .iter()
                    .map(|v| (v * gain + rng.random_range(-4.0..4.0)).clamp(0.0, 255.0))
                    .collect(),
                ..a.clone()
            };
            let mut label = Mask {
                height: h,
                width: w,
                data: vec![0; h * w],
            };
            let n_changes = if split_idx == 2 && i == 0 {
                0
            } else {
                rng.random_range(1..=2)
            };
            for _ in 0..n_changes {
                let (rh, rw) = (
                    rng.random_range(h / 5..=h / 2).max(1),
                    rng.random_range(w / 5..=w / 2).max(1),
                );
                let (top, left) = (rng.random_range(0..=h - rh), rng.random_range(0..=w - rw));
                let colour = [230.0, 220.0, rng.random_range(150.0..250.0)];
                for r in top..top + rh {
                    for c in left..left + rw {
                        label.data[r * w + c] = 1;
                        for (band, &v) in colour.iter().enumerate() {
                            b.data[band * h * w + r * w + c] = v + rng.random_range(-5.0..5.0);
                        }
                    }
                }
            }
            write_rgb_png(&root.join(&l.a_dir).join(&name), &a)?;
            write_rgb_png(&root.join(&l.b_dir).join(&name), &b)?;
            write_binary_mask(&root.join(&l.label_dir).join(&name), &label)?;
            let list = match split_idx {
                0 => &mut splits.train,
                1 => &mut splits.val,
                _ => &mut splits.test,
            };
            list.push(name.clone());
            // What a reader gets back: PNG is lossless, values rounded to u8.
            let round = |img: Image| Image {
                data: img.data.iter().map(|v| v.clamp(0.0, 255.0).round()).collect(),
                ..img
            };
            pairs.push(ChangePair {
                name,
                a: round(a),
                b: round(b),
                label,
            });
        }
    }
    // A split without pairs gets no list (CLCD's public lists stop at train and val).
    split::write(&root.join(&l.list_dir), &splits)?;
    Ok(pairs)
}

/// Writes [`write_fake`]'s pairs as a change set without split lists: file names without split prefixes
/// (`pair_000.png`, ...), labels coded 0/1 instead of 0/255 (when `labels_01`), a root `list.txt` naming every pair,
/// and one extra first-date image (`unlisted.png`, without its second date or label) that the list leaves out.
/// Returns the pairs in list order, renamed.
pub fn write_fake_listed(root: &Path, spec: &FakeChange, labels_01: bool) -> Result<Vec<ChangePair>> {
    let mut pairs = write_fake(root, spec)?;
    let l = &spec.layout;
    let list_dir = root.join(&l.list_dir);
    std::fs::remove_dir_all(&list_dir).map_err(|e| Error::io(&list_dir, e))?;
    let mut names = Vec::new();
    for (i, pair) in pairs.iter_mut().enumerate() {
        let name = format!("pair_{i:03}.png");
        for dir in [&l.a_dir, &l.b_dir, &l.label_dir] {
            let (from, to) = (root.join(dir).join(&pair.name), root.join(dir).join(&name));
            std::fs::rename(&from, &to).map_err(|e| Error::io(&to, e))?;
        }
        if labels_01 {
            let path = root.join(&l.label_dir).join(&name);
            image::GrayImage::from_raw(spec.width as u32, spec.height as u32, pair.label.data.clone())
                .ok_or_else(|| Error::bad_input(&path, "mask buffer of the wrong size"))?
                .save(&path)
                .map_err(|e| Error::bad_input(&path, format!("cannot write PNG: {e}")))?;
        }
        pair.name = name.clone();
        names.push(name);
    }
    let Some(first) = pairs.first() else {
        return Err(Error::Config("fake listed change set: no pairs asked for".into()));
    };
    let extra = root.join(&l.a_dir).join("unlisted.png");
    write_rgb_png(&extra, &first.a)?;
    let list = root.join(crate::data::change::PAIR_LIST);
    std::fs::write(&list, names.join("\n") + "\n").map_err(|e| Error::io(&list, e))?;
    Ok(pairs)
}
