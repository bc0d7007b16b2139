//! Semantic segmentation (METHODS.md "Semantic segmentation": any U-Net-style decoder on the backbone's multi-scale
//! features): the U-Net decoder of [`crate::models::unet`] with `n_classes` outputs on a frozen (or fine-tuned)
//! ResNet, cross-entropy with an ignore index on tiles of the train images (flips and 90-degree rotations), the
//! training recipe of the change-detection evaluation, and per-class IoU / mIoU on whole test images (tiled
//! prediction, logits averaged where tiles overlap, then argmax).

use std::path::Path;
use std::time::Instant;

use rand::Rng;
use tch::nn;
use tch::{Device, Kind, Reduction, Tensor};

use super::dense::{self, BenchmarkOptions, DenseConfig, DenseOptimizer, RunCounts};
use crate::results::seg_metrics::SegConfusion;
use crate::data::aerial_seg::{AerialSeg, AERIAL_CLASSES, IGNORE_INDEX};
use crate::data::dense::{crop, dihedral_image, dihedral_mask, LabelledImage};
use crate::data::dynamic_earthnet::{self, den_stretch, DenOptions, DynamicEarthNet};
use crate::data::split::Splits;
use crate::data::Image;
use crate::models::unet::UNet;
use crate::progress::Progress;
use crate::plot::{segmentation_overlay, write_png};
use crate::results::dense::{DenseResult, DenseRow};
use crate::results::writer::slug;
use crate::{Error, Result};

/// A U-Net with its variables.
pub struct SegModel {
    pub encoder_vs: nn::VarStore,
    pub decoder_vs: nn::VarStore,
    pub net: UNet,
    pub n_classes: usize,
}

impl SegModel {
    /// Encoder per `config` (random or weights file, frozen unless fine-tuning) and a seeded decoder.
    pub fn new(config: &DenseConfig, in_channels: i64, n_classes: usize, device: Device) -> Result<Self> {
        if n_classes < 2 {
            return Err(Error::Config(format!(
                "segmentation needs >= 2 classes, got {n_classes}"
            )));
        }
        let (encoder_vs, encoder) = dense::build_encoder(config, in_channels, device)?;
        tch::manual_seed(config.seed as i64);
        let decoder_vs = nn::VarStore::new(device);
        let net = UNet::new(&decoder_vs.root(), encoder, n_classes as i64, config.dropout);
        Ok(SegModel {
            encoder_vs,
            decoder_vs,
            net,
            n_classes,
        })
    }
}

/// The outcome of one evaluation.
#[derive(Debug, Clone)]
pub struct SegRun {
    /// Confusion over every test pixel.
    pub confusion: SegConfusion,
    /// Confusion of each test image, in input order (bootstrap intervals).
    pub per_image: Vec<SegConfusion>,
    /// Predicted class per pixel of each test image, in input order.
    pub predictions: Vec<Vec<u8>>,
    pub epoch_losses: Vec<f64>,
    pub n_train_tiles: usize,
    pub train_seconds: f64,
    pub eval_seconds: f64,
}

/// Trains `model` on tiles of `train` with cross-entropy ignoring `ignore_index`; returns the mean loss of every
/// epoch (over batches with at least one labelled pixel; an all-ignored batch is skipped).
pub fn train(
    model: &SegModel,
    train: &[LabelledImage],
    ignore_index: u8,
    config: &DenseConfig,
    quiet: bool,
) -> Result<Vec<f64>> {
    let n_bands = train.first().map_or(3, |s| s.image.n_bands);
    config.validate(n_bands)?;
    if train.is_empty() {
        return Err(Error::Config("segmentation: the training split is empty".into()));
    }
    let device = model.decoder_vs.device();
    let prepared: Vec<Image> = train
        .iter()
        .map(|s| dense::normalized(&s.image, &config.normalization))
        .collect();
    let sizes: Vec<(usize, usize)> = train.iter().map(|s| (s.image.height, s.image.width)).collect();
    let names: Vec<String> = train.iter().map(|s| s.name.clone()).collect();
    let tiles = dense::training_tiles(&sizes, &names, config.tile_size)?;
    let mut optimizer = DenseOptimizer::new(&model.decoder_vs, &model.encoder_vs, config)?;
    let t = config.tile_size;
    dense::train_epochs(
        tiles.len(),
        config,
        &mut optimizer,
        "segmentation",
        quiet,
        |batch, rng| {
            let (mut xs, mut ys) = (Vec::new(), Vec::new());
            for &i in batch {
                let tile = tiles[i];
                let k = if config.augment { rng.random_range(0..8u8) } else { 0 };
                xs.push(dihedral_image(
                    &crop(&prepared[tile.image_idx], tile.top, tile.left, t, t),
                    k,
                ));
                let mask = dihedral_mask(&train[tile.image_idx].mask.crop(tile.top, tile.left, t, t), k);
                ys.extend(mask.data.iter().map(|&v| v as i64));
            }
            if ys.iter().all(|&y| y == ignore_index as i64) {
                return Ok(None);
            }
            let xs = dense::images_to_tensor(&xs, device);
            let ys = Tensor::from_slice(&ys)
                .view([batch.len() as i64, t as i64, t as i64])
                .to_device(device);
            let logits = model.net.forward_t(&xs, true);
            Ok(Some(logits.cross_entropy_loss::<Tensor>(
                &ys,
                None,
                Reduction::Mean,
                ignore_index as i64,
                0.0,
            )))
        },
    )
}

/// Predicted class of every pixel of `image` (`[h * w]`): logits of overlapping tiles averaged, then argmax.
pub fn predict(model: &SegModel, image: &Image, config: &DenseConfig) -> Result<Vec<u8>> {
    let x = dense::normalized(image, &config.normalization);
    let logits = dense::predict_tiled(
        &[&x],
        config.tile_size,
        model.n_classes,
        config.batch_size,
        model.decoder_vs.device(),
        |xs| model.net.forward_t(&xs[0], false),
    )?;
    let n = image.height * image.width;
    Ok((0..n)
        .map(|px| {
            (0..model.n_classes)
                .max_by(|&a, &b| logits[a * n + px].total_cmp(&logits[b * n + px]))
                .unwrap_or(0) as u8
        })
        .collect())
}

/// Trains on `train` and scores every image of `test`.
pub fn run(
    train_set: &[LabelledImage],
    test_set: &[LabelledImage],
    n_classes: usize,
    ignore_index: u8,
    config: &DenseConfig,
    device: Device,
    quiet: bool,
) -> Result<SegRun> {
    let n_bands = train_set.first().map_or(3, |s| s.image.n_bands);
    config.validate(n_bands)?;
    let start = Instant::now();
    let model = SegModel::new(config, n_bands as i64, n_classes, device)?;
    let sizes: Vec<(usize, usize)> = train_set.iter().map(|s| (s.image.height, s.image.width)).collect();
    let names: Vec<String> = train_set.iter().map(|s| s.name.clone()).collect();
    let n_train_tiles = dense::training_tiles(&sizes, &names, config.tile_size)?.len();
    let epoch_losses = train(&model, train_set, ignore_index, config, quiet)?;
    let train_seconds = start.elapsed().as_secs_f64();

    let start = Instant::now();
    let progress = Progress::new(test_set.len() as u64, "segmentation maps", "images", quiet);
    let mut confusion = SegConfusion::new(n_classes, ignore_index);
    let mut per_image = Vec::with_capacity(test_set.len());
    let mut predictions = Vec::with_capacity(test_set.len());
    for sample in test_set {
        let predicted = predict(&model, &sample.image, config)?;
        let mut image_confusion = SegConfusion::new(n_classes, ignore_index);
        image_confusion.add(&predicted, &sample.mask.data);
        confusion.merge(&image_confusion);
        per_image.push(image_confusion);
        predictions.push(predicted);
        progress.inc(1);
    }
    progress.finish();
    Ok(SegRun {
        confusion,
        per_image,
        predictions,
        epoch_losses,
        n_train_tiles,
        train_seconds,
        eval_seconds: start.elapsed().as_secs_f64(),
    })
}

/// Reads the images of split-list entries of the aerial set.
pub fn load_aerial(dataset: &AerialSeg, entries: &[String], list_path: &Path) -> Result<Vec<LabelledImage>> {
    dataset
        .indices_of(entries, list_path)?
        .into_iter()
        .map(|i| {
            let (image, mask) = dataset.load(i)?;
            Ok(LabelledImage {
                name: dataset.samples[i].rel_path.clone(),
                image,
                mask,
            })
        })
        .collect()
}

/// The benchmark on the aerial set: trains on the train images of `splits`, scores the test images (val is not
/// used: the last epoch is scored), writes overlays of the first test images and returns the table row.
pub fn benchmark_aerial(
    dataset: &AerialSeg,
    splits: &Splits,
    split_dir: &Path,
    config: &DenseConfig,
    options: &BenchmarkOptions,
) -> Result<DenseRow> {
    let train_entries = dense::label_subset(&splits.train, config.label_fraction, config.seed);
    let train_set = load_aerial(dataset, &train_entries, &split_dir.join("train.txt"))?;
    let test_set = load_aerial(dataset, &splits.test, &split_dir.join("test.txt"))?;
    let palette: Vec<[u8; 3]> = AERIAL_CLASSES.iter().map(|(_, c)| *c).collect();
    // `Tile 4/images/image_part_001.jpg` -> `tile_4_image_part_001`.
    let stem = |name: &str| {
        let name = name.replace("/images/", "_");
        slug(name.rsplit_once('.').map_or(name.as_str(), |(s, _)| s))
    };
    benchmark(&train_set, &test_set, &palette, IGNORE_INDEX, &stem, config, options)
}

/// Reads DynamicEarthNet samples `indices` (see [`DynamicEarthNet::indices_of`]), named `<aoi>/<YYYY-MM>`, with
/// the bands of `den` stretched to 0-255 ([`den_stretch`]).
pub fn load_dynamic_earthnet(
    dataset: &DynamicEarthNet,
    indices: &[usize],
    den: &DenOptions,
) -> Result<Vec<LabelledImage>> {
    let stretch = den_stretch(&den.bands);
    indices
        .iter()
        .map(|&i| {
            let (image, mask) = dataset.load(i, &den.bands, Some(&stretch), den.snow_ice)?;
            Ok(LabelledImage {
                name: dataset.samples[i].key(),
                image,
                mask,
            })
        })
        .collect()
}

/// The benchmark on DynamicEarthNet: the monthly samples of the train list (a seeded `label_fraction` of them)
/// for training, those of the test list for scoring, as [`benchmark_aerial`].
pub fn benchmark_dynamic_earthnet(
    dataset: &DynamicEarthNet,
    splits: &Splits,
    split_dir: &Path,
    den: &DenOptions,
    config: &DenseConfig,
    options: &BenchmarkOptions,
) -> Result<DenseRow> {
    let resolve = |name: &str| {
        let entries = splits.get(name).unwrap_or_default();
        dataset.indices_of(
            entries,
            &split_dir.join(format!("{name}.txt")),
            &den.months,
            den.skip_bad,
        )
    };
    let train = dense::label_subset(&resolve("train")?, config.label_fraction, config.seed);
    let train_set = load_dynamic_earthnet(dataset, &train, den)?;
    let test_set = load_dynamic_earthnet(dataset, &resolve("test")?, den)?;
    let stem = |name: &str| slug(&name.replace('/', "_"));
    let palette = den.snow_ice.palette();
    benchmark(
        &train_set,
        &test_set,
        &palette,
        dynamic_earthnet::IGNORE_INDEX,
        &stem,
        config,
        options,
    )
}

/// The benchmark on loaded images: trains on `train_set`, scores `test_set` (val is not used: the last epoch is
/// scored), writes overlays of the first test images (`overlay_stem` of their names) and returns the table row.
/// `palette` has one mask colour per class.
pub fn benchmark(
    train_set: &[LabelledImage],
    test_set: &[LabelledImage],
    palette: &[[u8; 3]],
    ignore_index: u8,
    overlay_stem: &dyn Fn(&str) -> String,
    config: &DenseConfig,
    options: &BenchmarkOptions,
) -> Result<DenseRow> {
    let run = run(
        train_set,
        test_set,
        palette.len(),
        ignore_index,
        config,
        options.device,
        options.quiet,
    )?;
    if let Some(dir) = &options.overlay_dir {
        let dir = dir.join(format!("{}_{}", slug(&config.init_name()), config.encoder_mode()));
        for (sample, predicted) in test_set.iter().zip(&run.predictions).take(options.n_overlays) {
            let overlay = segmentation_overlay(
                &sample.image,
                predicted,
                &sample.mask,
                palette,
                ignore_index,
                options.overlay_max_side,
            );
            write_png(&dir.join(format!("{}.png", overlay_stem(&sample.name))), &overlay)?;
        }
    }
    let scores = run.confusion.scores();
    let counts = RunCounts {
        n_train_images: train_set.len(),
        n_train_tiles: run.n_train_tiles,
        n_test_images: test_set.len(),
        epoch_losses: run.epoch_losses,
        train_seconds: run.train_seconds,
        eval_seconds: run.eval_seconds,
    };
    Ok(config.row(
        counts,
        DenseResult::Segmentation {
            confusion: run.confusion,
            scores,
            per_image: run.per_image,
        },
    ))
}

/// Mean cross-entropy of `model` on whole images (for tests and sanity checks).
pub fn mean_loss(model: &SegModel, samples: &[LabelledImage], ignore_index: u8, config: &DenseConfig) -> Result<f64> {
    let mut total = 0.0;
    for s in samples {
        let x = dense::images_to_tensor(&[dense::normalized(&s.image, &config.normalization)], Device::Cpu);
        let y =
            Tensor::from_slice(&s.mask.data)
                .to_kind(Kind::Int64)
                .view([1, s.mask.height as i64, s.mask.width as i64]);
        let logits = tch::no_grad(|| model.net.forward_t(&x, false));
        total += logits
            .cross_entropy_loss::<Tensor>(&y, None, Reduction::Mean, ignore_index as i64, 0.0)
            .double_value(&[]);
    }
    Ok(total / samples.len().max(1) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::aerial_seg::{self, AerialSeg, IGNORE_INDEX};
    use crate::data::fake::aerial_seg::{write_fake, FakeAerial};

    fn fake_set(sizes: Vec<(usize, usize)>, n_big_tiles: usize) -> Vec<LabelledImage> {
        let dir = tempfile::tempdir().unwrap();
        write_fake(
            dir.path(),
            &FakeAerial {
                n_big_tiles,
                n_per_tile: 2,
                sizes,
                seed: 4,
            },
        )
        .unwrap();
        let ds = AerialSeg::open(dir.path()).unwrap();
        (0..ds.len())
            .map(|i| {
                let (image, mask) = ds.load(i).unwrap();
                LabelledImage {
                    name: ds.samples[i].rel_path.clone(),
                    image,
                    mask,
                }
            })
            .collect()
    }

    fn tiny(epochs: usize) -> DenseConfig {
        DenseConfig {
            epochs,
            batch_size: 4,
            tile_size: 32,
            ..Default::default()
        }
    }

    #[test]
    fn one_cpu_training_step_and_stitched_prediction_on_odd_sizes() {
        let set = fake_set(vec![(32, 40), (37, 45)], 2);
        let config = tiny(1);
        let n = aerial_seg::AERIAL_CLASSES.len();
        let model = SegModel::new(&config, 3, n, Device::Cpu).unwrap();
        let before = model.decoder_vs.variables()["outc.conv.weight"].copy();
        let enc_before = model.encoder_vs.variables()["conv1.weight"].copy();
        let losses = train(&model, &set[..2], IGNORE_INDEX, &config, true).unwrap();
        assert!(losses[0].is_finite() && losses[0] > 0.0, "{losses:?}");
        assert!(!model.decoder_vs.variables()["outc.conv.weight"].equal(&before));
        assert!(model.encoder_vs.variables()["conv1.weight"].equal(&enc_before));
        let predicted = predict(&model, &set[3].image, &config).unwrap();
        assert_eq!(predicted.len(), 37 * 45);
        assert!(predicted.iter().all(|&c| (c as usize) < n));
    }

    #[test]
    fn run_counts_every_labelled_test_pixel() {
        let set = fake_set(vec![(33, 35)], 2);
        let run = run(&set[..2], &set[2..], 5, IGNORE_INDEX, &tiny(2), Device::Cpu, true).unwrap();
        let n_ignored: usize = set[2..]
            .iter()
            .map(|s| s.mask.data.iter().filter(|&&v| v == IGNORE_INDEX).count())
            .sum();
        let counted: u64 = run.confusion.counts.iter().flatten().sum();
        assert_eq!(counted as usize + n_ignored, 2 * 33 * 35);
        assert_eq!(run.confusion.n_ignored as usize, n_ignored);
        assert_eq!(run.n_train_tiles, 2 * 4);
        let scores = run.confusion.scores();
        assert!(scores.pixel_accuracy >= 0.0 && scores.pixel_accuracy <= 1.0);
    }

    #[test]
    fn aerial_benchmark_splits_by_big_tile_and_writes_overlays() {
        let dir = tempfile::tempdir().unwrap();
        write_fake(
            dir.path(),
            &FakeAerial {
                n_big_tiles: 3,
                n_per_tile: 1,
                sizes: vec![(33, 40)],
                seed: 2,
            },
        )
        .unwrap();
        let ds = AerialSeg::open(dir.path()).unwrap();
        let split_dir = dir.path().join("splits");
        let splits = ds.load_or_create_split(&split_dir, 1, 1, 42).unwrap();
        let out = tempfile::tempdir().unwrap();
        let options = BenchmarkOptions {
            device: Device::Cpu,
            quiet: true,
            overlay_dir: Some(out.path().to_path_buf()),
            n_overlays: 4,
            overlay_max_side: 512,
        };
        let row = benchmark_aerial(&ds, &splits, &split_dir, &tiny(1), &options).unwrap();
        assert_eq!((row.n_train_images, row.n_test_images, row.n_train_tiles), (1, 1, 4));
        let DenseResult::Segmentation {
            confusion,
            scores,
            per_image,
        } = &row.result
        else {
            panic!("not a segmentation row")
        };
        assert_eq!(confusion.n_classes, 5);
        assert_eq!(scores.per_class_iou.len(), 5);
        // One confusion per test image, summing to the whole; the bootstrap interval brackets the mean IoU.
        assert_eq!(per_image.len(), 1);
        assert_eq!(&per_image[0], confusion);
        let [lo, hi] = row.result.bootstrap_ci(0).unwrap();
        assert!(lo <= scores.mean_iou && scores.mean_iou <= hi, "[{lo}, {hi}] vs {}", scores.mean_iou);
        let test_stem = slug(&splits.test[0].trim_end_matches(".jpg").replace("/images/", "_"));
        assert!(
            test_stem.starts_with("tile_") && test_stem.ends_with("_image_part_001"),
            "{test_stem}"
        );
        let overlay = image::open(out.path().join(format!("random_init_frozen/{test_stem}.png"))).unwrap();
        assert_eq!((overlay.width(), overlay.height()), (3 * 40 + 2 * 4, 33));
    }

    #[test]
    fn training_lowers_the_loss_and_ignored_pixels_do_not_count() {
        // 8 images in batches of 2 for 5 epochs: 20 steps, enough for BatchNorm's running statistics to settle.
        let set = fake_set(vec![(32, 32)], 4);
        let config = DenseConfig {
            augment: false,
            batch_size: 2,
            ..tiny(5)
        };
        let model = SegModel::new(&config, 3, 5, Device::Cpu).unwrap();
        let before = mean_loss(&model, &set, IGNORE_INDEX, &config).unwrap();
        let losses = train(&model, &set, IGNORE_INDEX, &config, true).unwrap();
        let after = mean_loss(&model, &set, IGNORE_INDEX, &config).unwrap();
        assert!(after < before, "loss before {before}, after {after}; epochs {losses:?}");
        assert!(losses[4] < losses[0], "{losses:?}");
        // A set whose masks are all ignored gives no training signal: every epoch is skipped (NaN), nothing moves.
        let mut ignored = set.clone();
        ignored.iter_mut().for_each(|s| s.mask.data.fill(IGNORE_INDEX));
        let model = SegModel::new(&config, 3, 5, Device::Cpu).unwrap();
        let w0 = model.decoder_vs.variables()["outc.conv.weight"].copy();
        let losses = train(&model, &ignored, IGNORE_INDEX, &tiny(1), true).unwrap();
        assert!(losses[0].is_nan());
        assert!(model.decoder_vs.variables()["outc.conv.weight"].equal(&w0));
    }
}
