//! Change detection (METHODS.md "OSCD change detection" and "LEVIR-CD"): a Siamese U-Net on a frozen (or
//! fine-tuned) ResNet, trained with BCE on tiles of the train pairs with flips and 90-degree rotations applied
//! identically to both dates and the mask, then scored on whole test pairs (tiled prediction, stitched): precision,
//! recall, F1 and IoU of the change class at probability 0.5, counted over every test pixel.

use std::path::Path;
use std::time::Instant;

use rand::Rng;
use tch::nn;
use tch::{Device, Kind, Reduction, Tensor};

use super::dense::{self, BenchmarkOptions, DenseConfig, DenseOptimizer, RunCounts};
use crate::results::seg_metrics::BinaryCounts;
use crate::data::change::{ChangeDataset, ChangePair};
use crate::data::dense::{crop, dihedral_image, dihedral_mask, Mask};
use crate::data::Image;
use crate::models::siamese::SiameseUNet;
use crate::progress::Progress;
use crate::plot::{change_overlay, write_png};
use crate::results::dense::{DenseResult, DenseRow};
use crate::results::writer::slug;
use crate::{Error, Result};

/// Threshold on the change probability.
pub const THRESHOLD: f32 = 0.5;

/// A pair with its images normalised for the model (the raw pair stays for overlays).
struct Prepared {
    a: Image,
    b: Image,
    label: Mask,
}

fn prepare(pairs: &[ChangePair], config: &DenseConfig) -> Vec<Prepared> {
    pairs
        .iter()
        .map(|p| Prepared {
            a: dense::normalized(&p.a, &config.normalization),
            b: dense::normalized(&p.b, &config.normalization),
            label: p.label.clone(),
        })
        .collect()
}

/// The outcome of one evaluation.
#[derive(Debug, Clone)]
pub struct ChangeRun {
    /// Counts over every test pixel.
    pub counts: BinaryCounts,
    /// Counts per test pair, in input order.
    pub per_image: Vec<(String, BinaryCounts)>,
    /// Change probability per test pair (`[h * w]`, row-major), in input order.
    pub probabilities: Vec<Vec<f32>>,
    pub epoch_losses: Vec<f64>,
    pub n_train_tiles: usize,
    pub train_seconds: f64,
    pub eval_seconds: f64,
}

/// A Siamese U-Net with its variables.
pub struct ChangeModel {
    pub encoder_vs: nn::VarStore,
    pub decoder_vs: nn::VarStore,
    pub net: SiameseUNet,
}

impl ChangeModel {
    /// Encoder per `config` (random or weights file, frozen unless fine-tuning) and a seeded decoder.
    pub fn new(config: &DenseConfig, in_channels: i64, device: Device) -> Result<Self> {
        let (encoder_vs, encoder) = dense::build_encoder(config, in_channels, device)?;
        tch::manual_seed(config.seed as i64);
        let decoder_vs = nn::VarStore::new(device);
        let net = SiameseUNet::new(&decoder_vs.root(), encoder, config.dropout);
        Ok(ChangeModel {
            encoder_vs,
            decoder_vs,
            net,
        })
    }
}

/// Trains `model` on tiles of `train` pairs; returns the mean loss of every epoch.
pub fn train(model: &ChangeModel, train: &[ChangePair], config: &DenseConfig, quiet: bool) -> Result<Vec<f64>> {
    let n_bands = train.first().map_or(3, |p| p.a.n_bands);
    config.validate(n_bands)?;
    if train.is_empty() {
        return Err(Error::Config("change detection: the training split is empty".into()));
    }
    let device = model.decoder_vs.device();
    let prepared = prepare(train, config);
    let sizes: Vec<(usize, usize)> = train.iter().map(|p| (p.a.height, p.a.width)).collect();
    let names: Vec<String> = train.iter().map(|p| p.name.clone()).collect();
    let tiles = dense::training_tiles(&sizes, &names, config.tile_size)?;
    let mut optimizer = DenseOptimizer::new(&model.decoder_vs, &model.encoder_vs, config)?;
    let t = config.tile_size;
    dense::train_epochs(
        tiles.len(),
        config,
        &mut optimizer,
        "change detection",
        quiet,
        |batch, rng| {
            let (mut xa, mut xb, mut ys) = (Vec::new(), Vec::new(), Vec::new());
            for &i in batch {
                let tile = tiles[i];
                let p = &prepared[tile.image_idx];
                let k = if config.augment { rng.random_range(0..8u8) } else { 0 };
                xa.push(dihedral_image(&crop(&p.a, tile.top, tile.left, t, t), k));
                xb.push(dihedral_image(&crop(&p.b, tile.top, tile.left, t, t), k));
                let m = dihedral_mask(&p.label.crop(tile.top, tile.left, t, t), k);
                ys.push(Image {
                    n_bands: 1,
                    height: m.height,
                    width: m.width,
                    data: m.data.iter().map(|&v| v as f32).collect(),
                });
            }
            let (xa, xb, ys) = (
                dense::images_to_tensor(&xa, device),
                dense::images_to_tensor(&xb, device),
                dense::images_to_tensor(&ys, device),
            );
            let logits = model.net.forward_t(&xa, &xb, true);
            Ok(Some(logits.binary_cross_entropy_with_logits::<Tensor>(
                &ys,
                None,
                None,
                Reduction::Mean,
            )))
        },
    )
}

/// Change probability of every pixel of `pair` (`[h * w]`), predicted on tiles of `config.tile_size`.
pub fn predict(model: &ChangeModel, pair: &ChangePair, config: &DenseConfig) -> Result<Vec<f32>> {
    let a = dense::normalized(&pair.a, &config.normalization);
    let b = dense::normalized(&pair.b, &config.normalization);
    dense::predict_tiled(
        &[&a, &b],
        config.tile_size,
        1,
        config.batch_size,
        model.decoder_vs.device(),
        |xs| model.net.forward_t(&xs[0], &xs[1], false).sigmoid(),
    )
}

/// Change probabilities of every pair, in order. Pairs that fit in one tile and share a size (e.g. 64x64
/// eurosat-seasons-change) are predicted `batch_size` at a time; larger ones tile by tile with [`predict`].
pub fn predict_all(
    model: &ChangeModel,
    pairs: &[ChangePair],
    config: &DenseConfig,
    quiet: bool,
) -> Result<Vec<Vec<f32>>> {
    let progress = Progress::new(pairs.len() as u64, "change maps", "pairs", quiet);
    let device = model.decoder_vs.device();
    let mut out: Vec<Option<Vec<f32>>> = vec![None; pairs.len()];
    let t = config.tile_size;
    let single_tile: Vec<usize> = (0..pairs.len())
        .filter(|&i| pairs[i].a.height <= t && pairs[i].a.width <= t)
        .collect();
    let mut by_size: std::collections::BTreeMap<(usize, usize), Vec<usize>> = Default::default();
    for &i in &single_tile {
        by_size
            .entry((pairs[i].a.height, pairs[i].a.width))
            .or_default()
            .push(i);
    }
    for members in by_size.values() {
        for chunk in members.chunks(config.batch_size.max(1)) {
            let stack = |f: &dyn Fn(&ChangePair) -> &Image| -> Tensor {
                let images: Vec<Image> = chunk
                    .iter()
                    .map(|&i| dense::normalized(f(&pairs[i]), &config.normalization))
                    .collect();
                dense::images_to_tensor(&images, device)
            };
            let (xa, xb) = (stack(&|p| &p.a), stack(&|p| &p.b));
            let prob = tch::no_grad(|| model.net.forward_t(&xa, &xb, false).sigmoid())
                .to_device(Device::Cpu)
                .to_kind(Kind::Float);
            for (k, &i) in chunk.iter().enumerate() {
                out[i] = Some(Vec::<f32>::try_from(prob.get(k as i64).flatten(0, -1))?);
            }
            progress.inc(chunk.len() as u64);
        }
    }
    for (i, pair) in pairs.iter().enumerate() {
        if out[i].is_none() {
            out[i] = Some(predict(model, pair, config)?);
            progress.inc(1);
        }
    }
    progress.finish();
    Ok(out.into_iter().map(|p| p.unwrap_or_default()).collect())
}

/// Trains on `train` and scores every pair of `test`.
pub fn run(
    train_pairs: &[ChangePair],
    test_pairs: &[ChangePair],
    config: &DenseConfig,
    device: Device,
    quiet: bool,
) -> Result<ChangeRun> {
    let n_bands = train_pairs.first().map_or(3, |p| p.a.n_bands);
    config.validate(n_bands)?;
    let start = Instant::now();
    let model = ChangeModel::new(config, n_bands as i64, device)?;
    let sizes: Vec<(usize, usize)> = train_pairs.iter().map(|p| (p.a.height, p.a.width)).collect();
    let names: Vec<String> = train_pairs.iter().map(|p| p.name.clone()).collect();
    let n_train_tiles = dense::training_tiles(&sizes, &names, config.tile_size)?.len();
    let epoch_losses = train(&model, train_pairs, config, quiet)?;
    let train_seconds = start.elapsed().as_secs_f64();

    let start = Instant::now();
    let probabilities = predict_all(&model, test_pairs, config, quiet)?;
    let mut counts = BinaryCounts::default();
    let mut per_image = Vec::with_capacity(test_pairs.len());
    for (pair, prob) in test_pairs.iter().zip(&probabilities) {
        let c = BinaryCounts::from_probabilities(prob, &pair.label.data, THRESHOLD);
        counts.add(&c);
        per_image.push((pair.name.clone(), c));
    }
    Ok(ChangeRun {
        counts,
        per_image,
        probabilities,
        epoch_losses,
        n_train_tiles,
        train_seconds,
        eval_seconds: start.elapsed().as_secs_f64(),
    })
}

/// The split a change benchmark scores: `test` when `split_dir/test.txt` exists, else `val` (CLCD's public lists
/// stop at train and val). Val is never used for model selection: the last epoch is scored, as in SeCo's OSCD runs.
pub fn eval_split(split_dir: &Path) -> &'static str {
    if split_dir.join("test.txt").is_file() {
        "test"
    } else {
        "val"
    }
}

/// The benchmark on a change dataset: trains on the pairs of `split_dir/train.txt`, scores the pairs of the
/// [`eval_split`] list, writes overlays of the first scored pairs and returns the table row.
pub fn benchmark(
    dataset: &ChangeDataset,
    split_dir: &Path,
    config: &DenseConfig,
    options: &BenchmarkOptions,
) -> Result<DenseRow> {
    let load = |split: &str| -> Result<Vec<ChangePair>> {
        dataset
            .split(split_dir, split)?
            .into_iter()
            .map(|i| dataset.load(i))
            .collect()
    };
    benchmark_pairs(&load("train")?, &load(eval_split(split_dir))?, config, options)
}

/// The benchmark on pairs already read (e.g. OSCD cities): trains on `train_pairs`, scores `test_pairs`, writes
/// overlays of the first test pairs and returns the table row.
pub fn benchmark_pairs(
    train_pairs: &[ChangePair],
    test_pairs: &[ChangePair],
    config: &DenseConfig,
    options: &BenchmarkOptions,
) -> Result<DenseRow> {
    let train_pairs = &dense::label_subset(train_pairs, config.label_fraction, config.seed);
    let run = run(train_pairs, test_pairs, config, options.device, options.quiet)?;
    if let Some(dir) = &options.overlay_dir {
        let dir = dir.join(format!("{}_{}", slug(&config.init_name()), config.encoder_mode()));
        for (pair, prob) in test_pairs.iter().zip(&run.probabilities).take(options.n_overlays) {
            let stem = pair.name.rsplit_once('.').map_or(pair.name.as_str(), |(s, _)| s);
            let overlay = change_overlay(&pair.a, &pair.b, prob, &pair.label, options.overlay_max_side);
            write_png(&dir.join(format!("{stem}.png")), &overlay)?;
        }
    }
    let counts = RunCounts {
        n_train_images: train_pairs.len(),
        n_train_tiles: run.n_train_tiles,
        n_test_images: test_pairs.len(),
        epoch_losses: run.epoch_losses,
        train_seconds: run.train_seconds,
        eval_seconds: run.eval_seconds,
    };
    Ok(config.row(
        counts,
        DenseResult::Change {
            counts: run.counts,
            scores: run.counts.scores(),
            per_image: run.per_image,
        },
    ))
}

/// Loss of `model` on the given tiles without training (for tests and sanity checks).
pub fn mean_loss(model: &ChangeModel, pairs: &[ChangePair], config: &DenseConfig) -> Result<f64> {
    let mut total = 0.0;
    for pair in pairs {
        let prob = predict(model, pair, config)?;
        let p = Tensor::from_slice(&prob).clamp(1e-6, 1.0 - 1e-6);
        let y = Tensor::from_slice(&pair.label.data).to_kind(Kind::Float);
        total += p
            .binary_cross_entropy::<Tensor>(&y, None, Reduction::Mean)
            .double_value(&[]);
    }
    Ok(total / pairs.len().max(1) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::change::{ChangeDataset, ChangeLayout};
    use crate::data::fake::change::{write_fake, FakeChange};

    fn fake_pairs(n: [usize; 3], size: (usize, usize)) -> (tempfile::TempDir, Vec<ChangePair>) {
        let dir = tempfile::tempdir().unwrap();
        let pairs = write_fake(
            dir.path(),
            &FakeChange {
                layout: ChangeLayout::default(),
                n_pairs: n,
                height: size.0,
                width: size.1,
                seed: 9,
            },
        )
        .unwrap();
        (dir, pairs)
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
    fn one_cpu_training_step_changes_the_decoder_not_the_frozen_encoder() {
        let (_dir, pairs) = fake_pairs([2, 0, 0], (32, 32));
        let config = tiny(1);
        let model = ChangeModel::new(&config, 3, Device::Cpu).unwrap();
        let snapshot = |vs: &nn::VarStore, name: &str| vs.variables()[name].copy();
        let (enc0, dec0) = (
            snapshot(&model.encoder_vs, "layer1.0.conv1.weight"),
            snapshot(&model.decoder_vs, "shrink20.weight"),
        );
        let losses = train(&model, &pairs, &config, true).unwrap();
        assert_eq!(losses.len(), 1);
        assert!(losses[0].is_finite() && losses[0] > 0.0, "{losses:?}");
        assert!(model.encoder_vs.variables()["layer1.0.conv1.weight"].equal(&enc0));
        assert!(!model.decoder_vs.variables()["shrink20.weight"].equal(&dec0));
    }

    #[test]
    fn fine_tuning_moves_the_encoder() {
        let (_dir, pairs) = fake_pairs([2, 0, 0], (32, 32));
        let config = DenseConfig {
            finetune: true,
            ..tiny(1)
        };
        let model = ChangeModel::new(&config, 3, Device::Cpu).unwrap();
        let enc0 = model.encoder_vs.variables()["conv1.weight"].copy();
        train(&model, &pairs, &config, true).unwrap();
        assert!(!model.encoder_vs.variables()["conv1.weight"].equal(&enc0));
    }

    #[test]
    fn run_scores_stitched_full_pairs_of_odd_size() {
        // Test pairs 37x45 are predicted on 32 px tiles (overlapping at the edges) and stitched.
        let (_dir, pairs) = fake_pairs([2, 0, 2], (37, 45));
        let config = tiny(2);
        let run = run(&pairs[..2], &pairs[2..], &config, Device::Cpu, true).unwrap();
        assert_eq!(run.epoch_losses.len(), 2);
        assert_eq!(run.n_train_tiles, 2 * 4);
        assert_eq!(run.per_image.len(), 2);
        assert_eq!(run.probabilities[0].len(), 37 * 45);
        assert!(run.probabilities.iter().flatten().all(|p| (0.0..=1.0).contains(p)));
        assert_eq!(run.counts.total(), 2 * 37 * 45);
        let mut sum = BinaryCounts::default();
        run.per_image.iter().for_each(|(_, c)| sum.add(c));
        assert_eq!(sum, run.counts);
    }

    #[test]
    fn batched_prediction_of_small_pairs_equals_one_at_a_time() {
        // Three 24x24 pairs fit in one 32 px tile and are predicted together; a 40x40 one is tiled alone.
        let (_dir, mut pairs) = fake_pairs([3, 0, 0], (24, 24));
        let (_dir2, big) = fake_pairs([1, 0, 0], (40, 40));
        pairs.insert(1, big[0].clone());
        let config = tiny(1);
        let model = ChangeModel::new(&config, 3, Device::Cpu).unwrap();
        let all = predict_all(&model, &pairs, &config, true).unwrap();
        assert_eq!(all.len(), 4);
        assert_eq!(all[1].len(), 40 * 40);
        for (pair, batched) in pairs.iter().zip(&all) {
            let single = predict(&model, pair, &config).unwrap();
            let max_diff = single
                .iter()
                .zip(batched)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            assert!(max_diff < 1e-4, "{}: {max_diff}", pair.name);
        }
    }

    #[test]
    fn training_lowers_the_loss_on_a_learnable_fake_set() {
        // Bright rectangles appear in B: a few epochs of the decoder on a random frozen encoder must lower the loss.
        let (_dir, pairs) = fake_pairs([8, 0, 0], (32, 32));
        let config = DenseConfig {
            augment: false,
            batch_size: 2,
            ..tiny(5)
        };
        let model = ChangeModel::new(&config, 3, Device::Cpu).unwrap();
        let before = mean_loss(&model, &pairs, &config).unwrap();
        let losses = train(&model, &pairs, &config, true).unwrap();
        let after = mean_loss(&model, &pairs, &config).unwrap();
        assert!(after < before, "loss before {before}, after {after}; epochs {losses:?}");
        assert!(losses[4] < losses[0], "{losses:?}");
    }

    #[test]
    fn benchmark_reads_the_splits_and_writes_overlays() {
        let (dir, _pairs) = fake_pairs([2, 1, 2], (32, 36));
        let ds = ChangeDataset::open(dir.path(), ChangeLayout::default()).unwrap();
        let out = tempfile::tempdir().unwrap();
        let options = BenchmarkOptions {
            device: Device::Cpu,
            quiet: true,
            overlay_dir: Some(out.path().to_path_buf()),
            n_overlays: 1,
            overlay_max_side: 512,
        };
        let row = benchmark(&ds, &ds.list_dir(), &tiny(1), &options).unwrap();
        assert_eq!((row.n_train_images, row.n_test_images, row.n_train_tiles), (2, 2, 4));
        assert_eq!((row.init.as_str(), row.encoder.as_str()), ("random init", "frozen"));
        let DenseResult::Change { counts, per_image, .. } = &row.result else {
            panic!("not a change row")
        };
        assert_eq!(counts.total(), 2 * 32 * 36);
        assert_eq!(per_image[0].0, "test_000.png");
        let overlay = image::open(out.path().join("random_init_frozen/test_000.png")).unwrap();
        assert_eq!((overlay.width(), overlay.height()), (4 * 36 + 3 * 4, 32));
        assert!(!out.path().join("random_init_frozen/test_001.png").exists());
    }

    #[test]
    fn training_tiles_larger_than_the_images_are_an_error() {
        let (dir, _pairs) = fake_pairs([1, 0, 1], (20, 20));
        let ds = ChangeDataset::open(dir.path(), ChangeLayout::default()).unwrap();
        let pairs: Vec<ChangePair> = (0..ds.len()).map(|i| ds.load(i).unwrap()).collect();
        let err = run(&pairs[..1], &pairs[1..], &tiny(1), Device::Cpu, true)
            .unwrap_err()
            .to_string();
        assert!(err.contains("smaller than the 32 px tiles"), "{err}");
    }
}
