//! The BigEarthNet benchmark (SeCo protocol, METHODS.md "Downstream protocols"): the RGB bands with SeCo's stretch
//! to 8 bits, Resize(128, bicubic) as Pillow does it, ToTensor (x/255, no ImageNet normalisation); a frozen
//! backbone's pooled features in eval mode; a multi-label probe (Dropout 0.2 -> Linear, multi-label soft margin,
//! Adam, MultiStepLR x0.1 at epochs 60 and 80, batch 1024) trained on a seeded fraction of train (10 % in the
//! papers); micro average precision over the whole test split (the authors average per-batch values on val).

use std::path::Path;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use tch::Device;

use super::dense::{build_encoder, DenseConfig};
use super::multilabel_probe::{extract_features, MultiLabelProbe, MultiLabelProbeConfig};
use crate::results::seg_metrics::per_class_average_precision;
use crate::data::bigearthnet::{
    load_patch_bands, seco_stretch, BigEarthNet, BIGEARTHNET_RGB_BANDS, INPUT_SIZE, LABELS_19,
};
use crate::data::{Image, Normalization};
use crate::models::Arch;
use crate::progress::Progress;
use crate::results::dense::{DenseResult, DenseRow};
use crate::{Error, Result};

/// Settings of one BigEarthNet evaluation; [`Default`] is the paper setting (10 % of train, 100 probe epochs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BigEarthNetConfig {
    pub arch: Arch,
    /// `"random"` or a `.safetensors` file of torchvision-named backbone weights.
    pub weights: String,
    pub init_seed: u64,
    /// Seeded fraction of the train split the probe sees.
    pub label_fraction: f64,
    /// At most this many test patches (the first of the list); `None`: all. For quick CPU runs.
    pub max_test: Option<usize>,
    pub probe: MultiLabelProbeConfig,
    /// Batch of the feature extraction.
    pub feature_batch: usize,
    /// Seed of the label-fraction subset.
    pub seed: u64,
}

impl Default for BigEarthNetConfig {
    fn default() -> Self {
        BigEarthNetConfig {
            arch: Arch::Resnet18,
            weights: "random".into(),
            init_seed: 0,
            label_fraction: 0.1,
            max_test: None,
            probe: MultiLabelProbeConfig::default(),
            feature_batch: 64,
            seed: 42,
        }
    }
}

impl BigEarthNetConfig {
    fn dense(&self) -> DenseConfig {
        DenseConfig {
            arch: self.arch,
            weights: self.weights.clone(),
            init_seed: self.init_seed,
            label_fraction: self.label_fraction,
            // What the features are extracted with, so that the weights' contract note compares the right input.
            normalization: TO_TENSOR,
            ..Default::default()
        }
    }

    pub fn validate(&self) -> Result<()> {
        if self.feature_batch == 0 || self.max_test == Some(0) {
            return Err(Error::Config(format!(
                "bigearthnet: feature_batch and max_test must be > 0, got {} and {}",
                self.feature_batch,
                self.max_test.map_or("none".to_string(), |n| n.to_string())
            )));
        }
        self.probe.validate()?;
        self.dense().validate(3)
    }
}

/// Pillow's bicubic kernel (`a = -0.5`; PyTorch's bicubic uses -0.75).
fn pil_bicubic(x: f64) -> f64 {
    const A: f64 = -0.5;
    let x = x.abs();
    if x < 1.0 {
        ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0
    } else if x < 2.0 {
        (((x - 5.0) * x + 8.0) * x - 4.0) * A
    } else {
        0.0
    }
}

/// Fixed-point fraction bits of Pillow's 8-bit resampling.
const PIL_PRECISION_BITS: u32 = 32 - 8 - 2;

/// Pillow's resampling taps along one axis: for each output index, the first source index and the fixed-point
/// weights (the kernel widened by the scale when downsampling, normalised to sum 1, rounded half away from zero).
fn pil_taps(in_size: usize, out_size: usize) -> Vec<(usize, Vec<i64>)> {
    let scale = in_size as f64 / out_size as f64;
    let filter_scale = scale.max(1.0);
    let support = 2.0 * filter_scale;
    let one = (1i64 << PIL_PRECISION_BITS) as f64;
    (0..out_size)
        .map(|out_idx| {
            let center = (out_idx as f64 + 0.5) * scale;
            // C's (int) cast truncates towards zero, as `as` does.
            let first = ((center - support + 0.5) as i64).max(0) as usize;
            let end = ((center + support + 0.5) as i64).min(in_size as i64) as usize;
            let weights: Vec<f64> = (first..end)
                .map(|src| pil_bicubic((src as f64 - center + 0.5) / filter_scale))
                .collect();
            let total: f64 = weights.iter().sum();
            let fixed = weights
                .iter()
                .map(|&w| {
                    let w = if total != 0.0 { w / total } else { w };
                    if w < 0.0 {
                        (-0.5 + w * one) as i64
                    } else {
                        (0.5 + w * one) as i64
                    }
                })
                .collect();
            (first, fixed)
        })
        .collect()
}

/// One 8-bit value from a fixed-point sum: rounded (the sum starts at one half) and clipped to 0..=255.
fn pil_clip8(sum: i64) -> f32 {
    (sum >> PIL_PRECISION_BITS).clamp(0, 255) as f32
}

/// `Image.resize((out_size, out_size), Image.BICUBIC)` of Pillow on an 8-bit image (values 0..=255 held as f32):
/// a horizontal pass then a vertical one, each in Pillow's fixed-point arithmetic and rounded to 8 bits, as
/// torchvision's `Resize(128, interpolation=BICUBIC)` does on the PIL images of SeCo's BigEarthNet loader.
pub fn resize_bicubic_pil(image: &Image, out_size: usize) -> Image {
    let (h, w, n_bands) = (image.height, image.width, image.n_bands);
    let half = 1i64 << (PIL_PRECISION_BITS - 1);
    let mut current = image.clone();
    if w != out_size {
        let taps = pil_taps(w, out_size);
        let mut data = Vec::with_capacity(n_bands * h * out_size);
        for row in current.data.chunks_exact(w) {
            for (first, weights) in &taps {
                let sum: i64 = weights
                    .iter()
                    .enumerate()
                    .map(|(i, &k)| row[first + i] as i64 * k)
                    .sum();
                data.push(pil_clip8(half + sum));
            }
        }
        current = Image {
            n_bands,
            height: h,
            width: out_size,
            data,
        };
    }
    if h != out_size {
        let taps = pil_taps(h, out_size);
        let width = current.width;
        let mut data = Vec::with_capacity(n_bands * out_size * width);
        for band in current.data.chunks_exact(h * width) {
            for (first, weights) in &taps {
                for x in 0..width {
                    let sum: i64 = weights
                        .iter()
                        .enumerate()
                        .map(|(i, &k)| band[(first + i) * width + x] as i64 * k)
                        .sum();
                    data.push(pil_clip8(half + sum));
                }
            }
        }
        current = Image {
            n_bands,
            height: out_size,
            width,
            data,
        };
    }
    current
}

/// Patch `idx` as SeCo's BigEarthNet loader feeds it, before ToTensor: the RGB bands (120x120), SeCo's stretch to
/// 8 bits (`np.clip(...).astype(np.uint8)`: clipped, then truncated), Pillow's bicubic resize to 128 x 128. Values
/// 0..=255; the caller divides by 255.
pub fn load_protocol_image(dataset: &BigEarthNet, idx: usize) -> Result<Image> {
    let patch = &dataset.patches[idx];
    let mut image = load_patch_bands(&dataset.patch_root.join(patch), patch, &BIGEARTHNET_RGB_BANDS)?;
    // BandStretch::apply clips and truncates to 8 bits, as the original's `astype(np.uint8)`.
    seco_stretch(&BIGEARTHNET_RGB_BANDS)?.apply(&mut image);
    Ok(resize_bicubic_pil(&image, INPUT_SIZE))
}

/// Loads `indices` of `split` as (protocol images, row-major 19-class targets), with a progress bar.
fn load(dataset: &BigEarthNet, indices: &[usize], label: &str, quiet: bool) -> Result<(Vec<Image>, Vec<bool>)> {
    let progress = Progress::new(indices.len() as u64, label, "patches", quiet);
    let mut images = Vec::with_capacity(indices.len());
    let mut all_targets = Vec::with_capacity(indices.len() * LABELS_19.len());
    for &i in indices {
        images.push(load_protocol_image(dataset, i)?);
        all_targets.extend(dataset.targets(i)?);
        progress.inc(1);
    }
    progress.finish();
    Ok((images, all_targets))
}

/// ToTensor: x/255, nothing else (no ImageNet normalisation).
const TO_TENSOR: Normalization = Normalization::Scale { scale: 255.0 };

/// Evaluates one initialisation on the BigEarthNet folder `root` (with `train.txt`, `test.txt`); returns its row.
pub fn benchmark(root: &Path, config: &BigEarthNetConfig, device: Device, quiet: bool) -> Result<DenseRow> {
    config.validate()?;
    let dense = config.dense();
    let train_set = BigEarthNet::open(root, "train")?;
    let test_set = BigEarthNet::open(root, "test")?;
    let train_idx = train_set.subset(config.label_fraction, config.seed)?;
    let n_test = config.max_test.map_or(test_set.len(), |m| m.min(test_set.len()));
    let test_idx: Vec<usize> = (0..n_test).collect();

    let start = Instant::now();
    let (_vs, encoder) = build_encoder(&dense, 3, device)?;
    let (train_images, train_y) = load(&train_set, &train_idx, "bigearthnet train", quiet)?;
    let train_x = extract_features(&encoder.net, &train_images, &TO_TENSOR, config.feature_batch, device)?;
    drop(train_images);
    let probe = MultiLabelProbe::train(&train_x, &train_y, LABELS_19.len(), &config.probe, quiet)?;
    let train_seconds = start.elapsed().as_secs_f64();

    let start = Instant::now();
    let (test_images, test_y) = load(&test_set, &test_idx, "bigearthnet test", quiet)?;
    let test_x = extract_features(&encoder.net, &test_images, &TO_TENSOR, config.feature_batch, device)?;
    let scores = probe.scores(&test_x)?;
    let micro_ap = crate::results::seg_metrics::micro_average_precision(&scores, &test_y, LABELS_19.len());
    let per_class_ap = per_class_average_precision(&scores, &test_y, LABELS_19.len());
    Ok(DenseRow {
        init: dense.init_name(),
        arch: config.arch.name().to_string(),
        weights: config.weights.clone(),
        encoder: "frozen".into(),
        recipe: format!(
            "{} % of train ({} patches), RGB with SeCo's 8-bit stretch, bicubic resize to {INPUT_SIZE}, x/255, \
             backbone in eval mode; probe Dropout {} + Linear, MultiLabelSoftMargin, Adam lr {}, x{} at epochs {:?}, \
             {} epochs, batch {}, seed {}",
            100.0 * config.label_fraction,
            train_idx.len(),
            config.probe.dropout,
            config.probe.lr,
            config.probe.lr_gamma,
            config.probe.lr_milestones,
            config.probe.epochs,
            config.probe.batch_size,
            config.probe.seed
        ),
        epochs: config.probe.epochs,
        tile_size: crate::data::bigearthnet::INPUT_SIZE,
        n_train_images: train_idx.len(),
        n_train_tiles: train_idx.len(),
        n_test_images: n_test,
        label_fraction: config.label_fraction,
        result: DenseResult::MultiLabel { micro_ap, per_class_ap },
        epoch_losses: probe.epoch_losses.clone(),
        train_seconds,
        eval_seconds: start.elapsed().as_secs_f64(),
    })
}

#[cfg(test)]
mod resize_tests {
    use super::*;

    fn gray(height: usize, width: usize, f: impl Fn(usize, usize) -> usize) -> Image {
        let data = (0..height)
            .flat_map(|y| (0..width).map(move |x| (y, x)))
            .map(|(y, x)| (f(y, x) % 256) as f32)
            .collect();
        Image {
            n_bands: 1,
            height,
            width,
            data,
        }
    }

    #[test]
    fn bicubic_resize_matches_pillow_exactly() {
        // Pillow 13.0.0:
        //   a = np.array([[(y*53 + x*97 + (x*y)%7*31) % 256 for x in range(6)] for y in range(5)], dtype=np.uint8)
        //   np.asarray(Image.fromarray(a).resize((7, 7), Image.BICUBIC)).tolist()
        //   np.asarray(Image.fromarray(a).resize((3, 3), Image.BICUBIC)).tolist()
        let a = gray(5, 6, |y, x| y * 53 + x * 97 + (x * y) % 7 * 31);
        let up: Vec<f32> = [
            [0, 68, 183, 115, 46, 161, 235],
            [23, 135, 127, 115, 110, 109, 206],
            [66, 134, 93, 125, 125, 50, 180],
            [109, 16, 120, 133, 39, 38, 177],
            [146, 77, 57, 21, 46, 162, 169],
            [187, 148, 102, 63, 100, 184, 140],
            [216, 187, 189, 174, 151, 141, 111],
        ]
        .iter()
        .flatten()
        .map(|&v| v as f32)
        .collect();
        assert_eq!(resize_bicubic_pil(&a, 7).data, up);
        let down: Vec<f32> = [83, 118, 147, 87, 81, 111, 163, 107, 146]
            .iter()
            .map(|&v| v as f32)
            .collect();
        assert_eq!(resize_bicubic_pil(&a, 3).data, down);
        // BigEarthNet's 120 -> 128:
        //   b = np.array([[(y*y*7 + x*13 + (x ^ y)*5) % 256 for x in range(120)] for y in range(120)], np.uint8)
        //   big = np.asarray(Image.fromarray(b).resize((128, 128), Image.BICUBIC)).astype(np.int64)
        //   big.sum(), big[0, :6], big[64, 60:66], big[127, 122:]
        let b = gray(120, 120, |y, x| y * y * 7 + x * 13 + (x ^ y) * 5);
        let big = resize_bicubic_pil(&b, 128);
        let at = |y: usize, x: usize| big.data[y * 128 + x];
        assert_eq!(big.data.iter().map(|&v| v as i64).sum::<i64>(), 2_069_835);
        assert_eq!(
            (0..6).map(|x| at(0, x)).collect::<Vec<_>>(),
            vec![0., 16., 33., 50., 67., 84.]
        );
        assert_eq!(
            (60..66).map(|x| at(64, x)).collect::<Vec<_>>(),
            vec![90., 110., 127., 143., 122., 138.]
        );
        assert_eq!(
            (122..128).map(|x| at(127, x)).collect::<Vec<_>>(),
            vec![27., 34., 42., 49., 57., 64.]
        );
        // Bands are resized independently, and a same-size resize is the identity.
        let two = Image {
            n_bands: 2,
            height: 5,
            width: 6,
            data: [a.data.clone(), a.data.iter().map(|v| 255.0 - v).collect()].concat(),
        };
        let two_up = resize_bicubic_pil(&two, 7);
        assert_eq!(two_up.data[..49], up[..]);
        assert_eq!(resize_bicubic_pil(&b, 120).data, b.data);
    }
}

#[cfg(all(test, feature = "gdal"))]
mod tests {
    use super::*;

    #[test]
    fn protocol_images_are_8_bit_128_px_and_the_recipe_names_the_protocol() {
        let dir = tempfile::tempdir().unwrap();
        crate::data::fake::bigearthnet::write_fake(dir.path(), [3, 0, 1], 5).unwrap();
        let ds = BigEarthNet::open(dir.path(), "train").unwrap();
        let image = load_protocol_image(&ds, 0).unwrap();
        assert_eq!((image.n_bands, image.height, image.width), (3, INPUT_SIZE, INPUT_SIZE));
        assert!(image
            .data
            .iter()
            .all(|&v| (0.0..=255.0).contains(&v) && v.fract() == 0.0));
        // The targets are the reader's.
        let (_, reader_targets) = ds.load(0, &BIGEARTHNET_RGB_BANDS, None).unwrap();
        assert_eq!(ds.targets(0).unwrap(), reader_targets);
    }

    #[test]
    fn benchmark_on_fake_patches_gives_a_row_with_a_valid_map() {
        let dir = tempfile::tempdir().unwrap();
        crate::data::fake::bigearthnet::write_fake(dir.path(), [10, 0, 4], 7).unwrap();
        let config = BigEarthNetConfig {
            label_fraction: 0.5,
            probe: MultiLabelProbeConfig {
                epochs: 2,
                ..Default::default()
            },
            ..Default::default()
        };
        let row = benchmark(dir.path(), &config, Device::Cpu, true).unwrap();
        assert_eq!((row.n_train_images, row.n_test_images), (5, 4));
        for part in [
            "bicubic resize to 128",
            "x/255",
            "x0.1 at epochs [60, 80]",
            "batch 1024",
        ] {
            assert!(row.recipe.contains(part), "{part} missing from {}", row.recipe);
        }
        assert_eq!(row.epoch_losses.len(), 2);
        let DenseResult::MultiLabel { micro_ap, per_class_ap } = row.result else {
            panic!("not a multi-label row")
        };
        assert!((0.0..=1.0).contains(&micro_ap), "{micro_ap}");
        assert_eq!(per_class_ap.len(), 19);
        // A zero label fraction is refused, naming the setting.
        let bad = BigEarthNetConfig {
            label_fraction: 0.0,
            ..Default::default()
        };
        let err = benchmark(dir.path(), &bad, Device::Cpu, true).unwrap_err().to_string();
        assert!(err.contains("label_fraction"), "{err}");
    }
}
