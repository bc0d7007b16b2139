//! What the dense downstream tasks (change detection, semantic segmentation) share: the training recipe of SeCo's
//! OSCD evaluation (METHODS.md: Adam lr 1e-3, weight decay 1e-4, ExponentialLR 0.95 per epoch, flips and 90-degree
//! rotations, frozen encoder by default), the encoder with random or `.safetensors` weights, training tiles,
//! seeded epoch batches, and tiled prediction stitched back into full images.

use std::path::Path;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};
use tch::nn::{self, OptimizerConfig};
use tch::{Device, Kind, Tensor};

use crate::data::dense::{crop, Stitcher, TileGrid};
use crate::data::{Image, Normalization};
use crate::models::unet::Encoder;
use crate::models::Arch;
use crate::results::dense::{DenseResult, DenseRow};
use crate::{Error, Result};

/// What a finished dense run counted and how long it took, for its table row ([`DenseConfig::row`]).
#[derive(Debug, Clone, Default)]
pub struct RunCounts {
    pub n_train_images: usize,
    pub n_train_tiles: usize,
    pub n_test_images: usize,
    /// Mean training loss per epoch.
    pub epoch_losses: Vec<f64>,
    pub train_seconds: f64,
    pub eval_seconds: f64,
}

/// Settings of one dense evaluation; [`Default`] is the paper recipe (100 epochs, batch 32, 256 px tiles).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DenseConfig {
    pub arch: Arch,
    /// `"random"` or a `.safetensors` file of torchvision-named backbone weights.
    pub weights: String,
    /// Seed of the encoder's random initialisation.
    pub init_seed: u64,
    /// Train the encoder too (default: frozen).
    pub finetune: bool,
    /// Frozen encoder: re-estimate its BatchNorm statistics on the training tiles (SeCo's OSCD code leaves the
    /// frozen encoder in train mode); `false` keeps the stored statistics. See [`Encoder`].
    pub adapt_bn: bool,
    pub epochs: usize,
    pub lr: f64,
    /// Adam's L2 weight decay (torch.optim.Adam `weight_decay`).
    pub weight_decay: f64,
    /// ExponentialLR: lr x `lr_gamma` after every epoch.
    pub lr_gamma: f64,
    pub batch_size: usize,
    /// Side of the square training tiles, and of the prediction tiles (OSCD 96, LEVIR-CD 256).
    pub tile_size: usize,
    /// Dropout2d rate of the decoder.
    pub dropout: f64,
    /// Random flips and 90-degree rotations of training tiles.
    pub augment: bool,
    /// At most this many (seeded, reshuffled) training tiles per epoch; `None`: all.
    pub max_tiles_per_epoch: Option<usize>,
    /// Label fraction: train on a seeded subset of this fraction of the training images (1 %, 10 %, 100 %).
    pub label_fraction: f64,
    /// Seed of the decoder initialisation, tile order, augmentation and dropout.
    pub seed: u64,
    pub normalization: Normalization,
}

impl Default for DenseConfig {
    fn default() -> Self {
        DenseConfig {
            arch: Arch::Resnet18,
            weights: "random".into(),
            init_seed: 0,
            finetune: false,
            adapt_bn: true,
            epochs: 100,
            lr: 1e-3,
            weight_decay: 1e-4,
            lr_gamma: 0.95,
            batch_size: 32,
            tile_size: 256,
            dropout: 0.3,
            augment: true,
            max_tiles_per_epoch: None,
            label_fraction: 1.0,
            seed: 42,
            normalization: Normalization::Imagenet,
        }
    }
}

impl DenseConfig {
    pub fn validate(&self, n_bands: usize) -> Result<()> {
        let bad = |m: String| Err(Error::Config(format!("dense evaluation: {m}")));
        if self.epochs == 0 || self.batch_size == 0 || self.tile_size == 0 {
            return bad(format!(
                "epochs ({}), batch_size ({}) and tile_size ({}) must be > 0",
                self.epochs, self.batch_size, self.tile_size
            ));
        }
        // Written so that NaN fails too.
        let rates_ok = self.lr > 0.0 && self.weight_decay >= 0.0 && self.lr_gamma > 0.0 && self.lr_gamma <= 1.0;
        if !rates_ok {
            return bad(format!(
                "need lr > 0, weight_decay >= 0, 0 < lr_gamma <= 1; got {}, {}, {}",
                self.lr, self.weight_decay, self.lr_gamma
            ));
        }
        if !(0.0..1.0).contains(&self.dropout) || self.max_tiles_per_epoch == Some(0) {
            return bad(format!(
                "dropout must be in [0, 1) and max_tiles_per_epoch > 0; got {} and {}",
                self.dropout,
                self.max_tiles_per_epoch.map_or("none".to_string(), |n| n.to_string())
            ));
        }
        if !(self.label_fraction > 0.0 && self.label_fraction <= 1.0) {
            return bad(format!("label_fraction must be in (0, 1], got {}", self.label_fraction));
        }
        self.normalization.validate(n_bands)
    }

    /// Learning rate during `epoch` (0-based): ExponentialLR.
    pub fn lr_at(&self, epoch: usize) -> f64 {
        self.lr * self.lr_gamma.powi(epoch as i32)
    }

    /// Feeds the backbone what it was trained on: when `weights` is a file whose contract records a normalisation
    /// (see [`crate::models::weights::BackboneContract`]), that normalisation replaces the config's. Call it only where
    /// the user did not set `normalization` (the command line's `--normalization`, a table task's `normalization`
    /// key): an explicit setting overrides the contract. Returns a line saying what was adopted, None when nothing
    /// changed (random init, no contract, or the same normalisation).
    pub fn adopt_contract_normalization(&mut self) -> Result<Option<String>> {
        if self.weights == "random" {
            return Ok(None);
        }
        let path = Path::new(&self.weights);
        if !path.is_file() {
            return Ok(None); // load_backbone names the missing file with its fix
        }
        let Some(trained) = crate::models::weights::read_contract(path)?.and_then(|c| c.normalization) else {
            return Ok(None);
        };
        if trained == self.normalization {
            return Ok(None);
        }
        let line = format!(
            "normalisation: {} as recorded in {} (instead of {}; set `normalization` to override)",
            crate::models::weights::normalization_name(&trained),
            path.display(),
            crate::models::weights::normalization_name(&self.normalization)
        );
        self.normalization = trained;
        Ok(Some(line))
    }

    /// Row label: `random init`, or the weights file as `<folder>/<stem>` (`caco-r18-cpu/backbone` for
    /// `runs/caco-r18-cpu/backbone.safetensors`).
    pub fn init_name(&self) -> String {
        if self.weights == "random" {
            return "random init".into();
        }
        let path = Path::new(&self.weights);
        let stem = path.file_stem().map(|s| s.to_string_lossy().to_string());
        let folder = path
            .parent()
            .and_then(|p| p.file_name())
            .map(|s| s.to_string_lossy().to_string());
        match (folder, stem) {
            (Some(folder), Some(stem)) => format!("{folder}/{stem}"),
            (None, Some(stem)) => stem,
            _ => self.weights.clone(),
        }
    }

    /// One line for reports: the recipe that produced a row.
    pub fn recipe(&self) -> String {
        format!(
            "{}{} epochs, batch {}, {} px tiles{}, Adam lr {} wd {}, ExponentialLR {}, {}, {} BatchNorm, dropout {}, seed {}",
            if self.label_fraction < 1.0 {
                format!("{} % of the training images, ", 100.0 * self.label_fraction)
            } else {
                String::new()
            },
            self.epochs,
            self.batch_size,
            self.tile_size,
            self.max_tiles_per_epoch
                .map_or(String::new(), |m| format!(" (at most {m} per epoch)")),
            self.lr,
            self.weight_decay,
            self.lr_gamma,
            if self.augment { "flips + 90-degree rotations" } else { "no augmentation" },
            if self.finetune || self.adapt_bn { "adapted" } else { "stored" },
            self.dropout,
            self.seed
        )
    }

    /// The table row of a run of this config: init, backbone, encoder mode, recipe, epochs, tile size and label
    /// fraction from the config; counts, timings and the result from the run.
    pub fn row(&self, run: RunCounts, result: DenseResult) -> DenseRow {
        DenseRow {
            init: self.init_name(),
            arch: self.arch.name().to_string(),
            weights: self.weights.clone(),
            encoder: self.encoder_mode().into(),
            recipe: self.recipe(),
            epochs: self.epochs,
            tile_size: self.tile_size,
            n_train_images: run.n_train_images,
            n_train_tiles: run.n_train_tiles,
            n_test_images: run.n_test_images,
            label_fraction: self.label_fraction,
            result,
            epoch_losses: run.epoch_losses,
            train_seconds: run.train_seconds,
            eval_seconds: run.eval_seconds,
        }
    }

    pub fn encoder_mode(&self) -> &'static str {
        if self.finetune {
            "fine-tuned"
        } else {
            "frozen"
        }
    }
}

/// The encoder of a dense task: seeded random init, then the weights file if one is named (every backbone tensor
/// must be in it); frozen unless `config.finetune`.
pub fn build_encoder(config: &DenseConfig, in_channels: i64, device: Device) -> Result<(nn::VarStore, Encoder)> {
    let weights = (config.weights != "random").then(|| std::path::Path::new(&config.weights));
    let (mut vs, net) = crate::models::weights::load_backbone(
        config.arch,
        in_channels,
        config.init_seed,
        weights,
        &config.init_name(),
        device,
    )?;
    if let Some(note) = weights.and_then(|w| crate::models::weights::normalization_note(w, &config.normalization)) {
        eprintln!("{note}");
    }
    if config.finetune {
        vs.unfreeze();
    }
    Ok((
        vs,
        Encoder {
            net,
            frozen: !config.finetune,
            adapt_bn: config.adapt_bn,
        },
    ))
}

/// Adam over the decoder and, when fine-tuning, a second Adam with the same settings over the encoder (Adam is
/// per-parameter, so this is one Adam over both).
pub struct DenseOptimizer {
    decoder: nn::Optimizer,
    encoder: Option<nn::Optimizer>,
}

impl DenseOptimizer {
    pub fn new(decoder_vs: &nn::VarStore, encoder_vs: &nn::VarStore, config: &DenseConfig) -> Result<Self> {
        let adam = nn::Adam {
            wd: config.weight_decay,
            ..Default::default()
        };
        Ok(DenseOptimizer {
            decoder: adam.build(decoder_vs, config.lr)?,
            encoder: if config.finetune {
                Some(adam.build(encoder_vs, config.lr)?)
            } else {
                None
            },
        })
    }

    pub fn set_lr(&mut self, lr: f64) {
        self.decoder.set_lr(lr);
        if let Some(e) = &mut self.encoder {
            e.set_lr(lr);
        }
    }

    pub fn backward_step(&mut self, loss: &Tensor) {
        self.decoder.zero_grad();
        if let Some(e) = &mut self.encoder {
            e.zero_grad();
        }
        loss.backward();
        self.decoder.step();
        if let Some(e) = &mut self.encoder {
            e.step();
        }
    }
}

/// The label-fraction subset: a seeded choice of `round(fraction * n)` (at least one) of `items`, in their order.
pub fn label_subset<T: Clone>(items: &[T], fraction: f64, seed: u64) -> Vec<T> {
    if fraction >= 1.0 {
        return items.to_vec();
    }
    let mut idx: Vec<usize> = (0..items.len()).collect();
    idx.shuffle(&mut rand::rngs::StdRng::seed_from_u64(seed));
    idx.truncate(
        ((items.len() as f64 * fraction).round() as usize)
            .max(1)
            .min(items.len()),
    );
    idx.sort_unstable();
    idx.into_iter().map(|i| items[i].clone()).collect()
}

/// One training tile: image `image_idx` at (`top`, `left`), `tile_size` square.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TileRef {
    pub image_idx: usize,
    pub top: usize,
    pub left: usize,
}

/// The grid tiles of every image (`sizes`: (height, width)); an image smaller than a tile is an error naming it.
pub fn training_tiles(sizes: &[(usize, usize)], names: &[String], tile_size: usize) -> Result<Vec<TileRef>> {
    let mut tiles = Vec::new();
    for (image_idx, (&(h, w), name)) in sizes.iter().zip(names).enumerate() {
        if h < tile_size || w < tile_size {
            return Err(Error::Config(format!(
                "training image {name} is {w}x{h}, smaller than the {tile_size} px tiles (choose a smaller --tile-size)"
            )));
        }
        let grid = TileGrid::new(h, w, tile_size)?;
        tiles.extend(grid.origins.iter().map(|&(top, left)| TileRef { image_idx, top, left }));
    }
    Ok(tiles)
}

/// The batches of `epoch`: a seeded shuffle of `0..n_items` (depending on `seed` and `epoch` only), cut to
/// `max_items`, in chunks of `batch_size` (a last chunk of one item is merged into the one before).
pub fn epoch_batches(
    n_items: usize,
    batch_size: usize,
    max_items: Option<usize>,
    seed: u64,
    epoch: usize,
) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..n_items).collect();
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed ^ (epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    order.shuffle(&mut rng);
    order.truncate(max_items.unwrap_or(n_items));
    let mut batches: Vec<Vec<usize>> = order.chunks(batch_size.max(1)).map(|c| c.to_vec()).collect();
    // A last batch of one tile joins the previous one (BatchNorm cannot train on one value per channel).
    if batches.len() > 1 && batches.last().is_some_and(|b| b.len() == 1) {
        let last = batches.pop().unwrap_or_default();
        if let Some(prev) = batches.last_mut() {
            prev.extend(last);
        }
    }
    batches
}

/// Stacks images of one size into `[n, c, h, w]`.
/// The epoch loop every dense task trains with: ExponentialLR per epoch, the seeded tile batches of
/// [`epoch_batches`], one optimiser step per batch whose loss `batch_loss` returns (`None` skips a batch, e.g. one
/// with no labelled pixel), and the mean loss per epoch (NaN for an epoch without a step). `batch_loss` gets the
/// loop's augmentation RNG, seeded with `config.seed`, as is libtorch's (dropout).
pub fn train_epochs(
    n_tiles: usize,
    config: &DenseConfig,
    optimizer: &mut DenseOptimizer,
    label: &str,
    quiet: bool,
    mut batch_loss: impl FnMut(&[usize], &mut rand::rngs::StdRng) -> Result<Option<Tensor>>,
) -> Result<Vec<f64>> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(config.seed);
    tch::manual_seed(config.seed as i64);
    let mut epoch_losses = Vec::with_capacity(config.epochs);
    let progress = crate::progress::Progress::new(config.epochs as u64, label, "epochs", quiet);
    for epoch in 0..config.epochs {
        optimizer.set_lr(config.lr_at(epoch));
        let (mut loss_sum, mut n_seen) = (0.0, 0usize);
        for batch in epoch_batches(
            n_tiles,
            config.batch_size,
            config.max_tiles_per_epoch,
            config.seed,
            epoch,
        ) {
            let Some(loss) = batch_loss(&batch, &mut rng)? else {
                continue;
            };
            optimizer.backward_step(&loss);
            loss_sum += loss.double_value(&[]) * batch.len() as f64;
            n_seen += batch.len();
        }
        let mean = if n_seen == 0 {
            f64::NAN
        } else {
            loss_sum / n_seen as f64
        };
        epoch_losses.push(mean);
        progress.set_status(&format!("loss {mean:.4}"));
        progress.inc(1);
    }
    progress.finish();
    Ok(epoch_losses)
}

pub fn images_to_tensor(images: &[Image], device: Device) -> Tensor {
    let (c, h, w) = (images[0].n_bands, images[0].height, images[0].width);
    let mut data = Vec::with_capacity(images.len() * c * h * w);
    for image in images {
        assert_eq!(
            (image.n_bands, image.height, image.width),
            (c, h, w),
            "images of different shapes"
        );
        data.extend_from_slice(&image.data);
    }
    Tensor::from_slice(&data)
        .view([images.len() as i64, c as i64, h as i64, w as i64])
        .to_device(device)
}

/// A normalised copy of `image`.
pub fn normalized(image: &Image, normalization: &Normalization) -> Image {
    let mut out = image.clone();
    normalization.apply(&mut out);
    out
}

/// How a benchmark runs and what it writes besides the table.
#[derive(Debug, Clone)]
pub struct BenchmarkOptions {
    pub device: Device,
    pub quiet: bool,
    /// Folder of the PNG overlays of predicted maps; `None`: none written.
    pub overlay_dir: Option<std::path::PathBuf>,
    /// Overlays of at most this many test images (the first ones).
    pub n_overlays: usize,
    /// Longest side of an overlay panel, px.
    pub overlay_max_side: usize,
}

/// Predicts a full image tile by tile: `inputs` (one or more images of one size, already normalised) are cut into
/// the tiles of a [`TileGrid`] of `tile_size`, `forward` maps the stacked tiles (one tensor per input,
/// `[n, c, th, tw]`) to `[n, n_out, th, tw]`, and the outputs are stitched (overlaps averaged) into
/// `[n_out, h, w]` values.
pub fn predict_tiled(
    inputs: &[&Image],
    tile_size: usize,
    n_out: usize,
    batch_size: usize,
    device: Device,
    forward: impl Fn(&[Tensor]) -> Tensor,
) -> Result<Vec<f32>> {
    let (h, w) = (inputs[0].height, inputs[0].width);
    let grid = TileGrid::new(h, w, tile_size)?;
    let (th, tw) = (grid.tile_height, grid.tile_width);
    let mut stitcher = Stitcher::new(n_out, h, w);
    for chunk in grid.origins.chunks(batch_size.max(1)) {
        let stacked: Vec<Tensor> = inputs
            .iter()
            .map(|image| {
                let tiles: Vec<Image> = chunk.iter().map(|&(t, l)| crop(image, t, l, th, tw)).collect();
                images_to_tensor(&tiles, device)
            })
            .collect();
        let out = tch::no_grad(|| forward(&stacked))
            .to_device(Device::Cpu)
            .to_kind(Kind::Float);
        assert_eq!(out.size(), vec![chunk.len() as i64, n_out as i64, th as i64, tw as i64]);
        let values = Vec::<f32>::try_from(out.flatten(0, -1))?;
        for (k, &(t, l)) in chunk.iter().enumerate() {
            stitcher.add(t, l, th, tw, &values[k * n_out * th * tw..(k + 1) * n_out * th * tw]);
        }
    }
    stitcher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_weights_contract_sets_the_normalisation_unless_the_config_does() {
        use crate::models::weights::{write_backbone, BackboneContract};
        use crate::models::ResNet;
        let dir = tempfile::tempdir().unwrap();
        let vs = nn::VarStore::new(Device::Cpu);
        let _ = ResNet::new(&vs.root(), Arch::Resnet18, 3);
        let tensors: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
        let trained = Normalization::PerBand {
            mean: vec![10.0, 20.0, 30.0],
            std: vec![2.0, 4.0, 8.0],
        };
        let contract = BackboneContract {
            arch: Arch::Resnet18,
            in_channels: 3,
            bands: vec![],
            normalization: Some(trained.clone()),
            stretch: None,
            method: Some("test".into()),
        };
        let path = dir.path().join("with-contract.safetensors");
        write_backbone(&path, &tensors, &contract).unwrap();

        let mut config = DenseConfig {
            weights: path.display().to_string(),
            ..Default::default()
        };
        let line = config.adopt_contract_normalization().unwrap().expect("a different normalisation is adopted");
        assert_eq!(config.normalization, trained);
        assert!(line.contains("per-band") && line.contains("instead of imagenet"), "{line}");
        // Adopted once, the second call changes nothing.
        assert_eq!(config.adopt_contract_normalization().unwrap(), None);

        // No contract (tch's plain writer) or random init: the config's normalisation stays.
        let plain = dir.path().join("plain.safetensors");
        Tensor::write_safetensors(&tensors, &plain).unwrap();
        for weights in [plain.display().to_string(), "random".to_string()] {
            let mut config = DenseConfig {
                weights,
                ..Default::default()
            };
            assert_eq!(config.adopt_contract_normalization().unwrap(), None);
            assert_eq!(config.normalization, Normalization::Imagenet);
        }
    }

    #[test]
    fn exponential_lr_and_validation() {
        let c = DenseConfig::default();
        assert_eq!(c.lr_at(0), 1e-3);
        assert!((c.lr_at(2) - 1e-3 * 0.95 * 0.95).abs() < 1e-15);
        assert!(c.validate(3).is_ok());
        assert!(DenseConfig {
            tile_size: 0,
            ..c.clone()
        }
        .validate(3)
        .is_err());
        assert!(DenseConfig {
            lr_gamma: 1.5,
            ..c.clone()
        }
        .validate(3)
        .is_err());
        assert!(DenseConfig {
            dropout: 1.0,
            ..c.clone()
        }
        .validate(3)
        .is_err());
        // ImageNet normalisation needs RGB.
        assert!(c.validate(13).is_err());
        assert_eq!(c.init_name(), "random init");
        assert_eq!(
            DenseConfig {
                weights: "ckpt/caco_r18.safetensors".into(),
                ..c
            }
            .init_name(),
            "ckpt/caco_r18"
        );
        assert_eq!(
            DenseConfig {
                weights: "backbone.safetensors".into(),
                ..DenseConfig::default()
            }
            .init_name(),
            "backbone"
        );
    }

    #[test]
    fn label_subset_is_seeded_ordered_and_never_empty() {
        let items: Vec<usize> = (0..100).collect();
        let ten = label_subset(&items, 0.1, 42);
        assert_eq!(ten.len(), 10);
        assert!(ten.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(ten, label_subset(&items, 0.1, 42));
        assert_ne!(ten, label_subset(&items, 0.1, 43));
        assert_eq!(label_subset(&items, 0.001, 42).len(), 1);
        assert_eq!(label_subset(&items, 1.0, 42), items);
        assert!(DenseConfig {
            label_fraction: 0.0,
            ..Default::default()
        }
        .validate(3)
        .is_err());
    }

    #[test]
    fn epoch_batches_are_seeded_per_epoch_and_capped() {
        let a = epoch_batches(10, 4, None, 1, 0);
        assert_eq!(a.iter().map(Vec::len).collect::<Vec<_>>(), vec![4, 4, 2]);
        let mut all: Vec<usize> = a.concat();
        all.sort();
        assert_eq!(all, (0..10).collect::<Vec<_>>());
        assert_eq!(a, epoch_batches(10, 4, None, 1, 0));
        assert_ne!(a, epoch_batches(10, 4, None, 1, 1));
        assert_eq!(epoch_batches(10, 4, Some(5), 1, 0).concat().len(), 5);
        let sizes: Vec<usize> = epoch_batches(9, 4, None, 1, 0).iter().map(Vec::len).collect();
        assert_eq!(sizes, vec![4, 5]);
        assert_eq!(epoch_batches(1, 4, None, 1, 0), vec![vec![0]]);
    }

    #[test]
    fn training_tiles_cover_every_image_and_reject_small_ones() {
        let names = vec!["a".to_string(), "b".to_string()];
        let tiles = training_tiles(&[(64, 64), (64, 100)], &names, 64).unwrap();
        assert_eq!(tiles.len(), 1 + 2);
        assert_eq!(
            tiles[2],
            TileRef {
                image_idx: 1,
                top: 0,
                left: 36
            }
        );
        let msg = training_tiles(&[(64, 64), (60, 100)], &names, 64)
            .unwrap_err()
            .to_string();
        assert!(msg.contains("b is 100x60"), "{msg}");
    }

    #[test]
    fn tiled_prediction_of_an_identity_model_returns_the_input() {
        let image = Image {
            n_bands: 2,
            height: 13,
            width: 9,
            data: (0..2 * 13 * 9).map(|v| v as f32).collect(),
        };
        let out = predict_tiled(&[&image], 4, 2, 3, Device::Cpu, |xs| xs[0].shallow_clone()).unwrap();
        assert_eq!(out, image.data);
        // Two inputs reach the forward function together (the two dates of a change pair).
        let diff = predict_tiled(&[&image, &image], 5, 1, 2, Device::Cpu, |xs| {
            (&xs[0] - &xs[1]).narrow(1, 0, 1)
        })
        .unwrap();
        assert!(diff.iter().all(|&v| v == 0.0) && diff.len() == 13 * 9);
    }
}
