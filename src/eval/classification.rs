//! EuroSAT scene classification as a downstream task with a label fraction: a frozen backbone with the paper's
//! linear probe (its input protocol, [`ProbeConfig::protocol`]: by default x/255 and BatchNorm statistics
//! re-estimated on the training images), or the backbone fine-tuned end to end with a linear head (PyTorch's
//! default initialisation; Adam, ExponentialLR, flips and 90-degree rotations). The training images are a seeded, class-stratified fraction of train (1 %, 10 %, 100 %).
//! Rows go to a [`DenseTable`](crate::results::dense::DenseTable) of task `Classification`, so frozen and fine-tuned
//! results sit side by side.

use std::time::Instant;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use tch::nn::{self, Module, ModuleT};
use tch::{Device, Kind, Tensor};

use super::dense::{build_encoder, BenchmarkOptions, DenseConfig, DenseOptimizer};
use super::subsets::{stratified_fraction, SplitIndices};
use super::features::{extract, images_to_tensor, reestimate_batchnorm_on, ExtractOptions, Protocol};
use super::linear_probe::{LinearProbe, ProbeConfig};
use crate::results::metrics::Classification;
use crate::data::dense::dihedral_image;
use crate::data::eurosat::Eurosat;
use crate::progress::Progress;
use crate::results::dense::{DenseResult, DenseRow};
use crate::Result;

/// Loads, normalises and (when `augment_rng` is given) randomly flips/rotates a batch.
fn batch_tensor(
    dataset: &Eurosat,
    indices: &[usize],
    config: &DenseConfig,
    augment_rng: Option<&mut rand::rngs::StdRng>,
) -> Result<Tensor> {
    let mut images = dataset.load_many(indices, 2)?;
    for image in images.iter_mut() {
        config.normalization.apply(image);
    }
    if let Some(rng) = augment_rng {
        use rand::Rng;
        images = images
            .iter()
            .map(|i| dihedral_image(i, rng.random_range(0..8u8)))
            .collect();
    }
    Ok(images_to_tensor(&images))
}

/// Trains on the label fraction of `splits.train` and scores `splits.test`. Frozen: features + the linear probe of
/// `probe` (the paper protocol, with `config.epochs` epochs). Fine-tuned: backbone + linear head end to end.
pub fn benchmark(
    dataset: &Eurosat,
    splits: &SplitIndices,
    config: &DenseConfig,
    probe: &ProbeConfig,
    options: &BenchmarkOptions,
) -> Result<DenseRow> {
    config.validate(dataset.n_bands())?;
    let n_classes = dataset.classes.len();
    let train = stratified_fraction(
        &splits.train,
        &dataset.labels(&splits.train),
        config.label_fraction,
        config.seed,
    )?;
    let (mut encoder_vs, encoder) = build_encoder(config, dataset.n_bands() as i64, options.device)?;
    let truth = dataset.labels(&splits.test);
    let start = Instant::now();
    let (predicted, epoch_losses, train_seconds, recipe) = if config.finetune {
        let head_vs = crate::models::seeded(config.seed, || nn::VarStore::new(options.device));
        let head = crate::models::init::linear(head_vs.root() / "fc", encoder.net.out_dim(), n_classes as i64);
        let mut optimizer = DenseOptimizer::new(&head_vs, &encoder_vs, config)?;
        let mut rng = rand::rngs::StdRng::seed_from_u64(config.seed);
        let progress = Progress::new(
            (config.epochs * train.len().div_ceil(config.batch_size)) as u64,
            "fine-tune eurosat",
            "batches",
            options.quiet,
        );
        let mut losses = Vec::with_capacity(config.epochs);
        for epoch in 0..config.epochs {
            optimizer.set_lr(config.lr_at(epoch));
            let mut order = train.clone();
            order.shuffle(&mut rng);
            let (mut sum, mut n) = (0.0, 0usize);
            for chunk in order.chunks(config.batch_size) {
                let xs = batch_tensor(dataset, chunk, config, config.augment.then_some(&mut rng))?;
                let ys: Vec<i64> = dataset.labels(chunk).into_iter().map(|l| l as i64).collect();
                let ys = Tensor::from_slice(&ys).to_device(options.device);
                let logits = head.forward(&encoder.net.forward_t(&xs.to_device(options.device), true));
                let loss = logits.cross_entropy_for_logits(&ys);
                optimizer.backward_step(&loss);
                sum += loss.double_value(&[]) * chunk.len() as f64;
                n += chunk.len();
                progress.inc(1);
            }
            losses.push(sum / n.max(1) as f64);
        }
        progress.finish();
        let train_seconds = start.elapsed().as_secs_f64();
        encoder_vs.freeze();
        let mut predicted = Vec::with_capacity(splits.test.len());
        for chunk in splits.test.chunks(config.batch_size.max(64)) {
            let xs = batch_tensor(dataset, chunk, config, None)?.to_device(options.device);
            let logits = tch::no_grad(|| head.forward(&encoder.net.forward_t(&xs, false)));
            let arg = logits.argmax(1, false).to_device(Device::Cpu).to_kind(Kind::Int64);
            predicted.extend(Vec::<i64>::try_from(arg)?.into_iter().map(|p| p as usize));
        }
        (predicted, losses, train_seconds, config.recipe())
    } else {
        let extract_options = ExtractOptions {
            batch_size: 256,
            device: options.device,
            n_workers: 2,
            quiet: options.quiet,
        };
        let probe_config = ProbeConfig {
            epochs: config.epochs,
            seed: config.seed,
            ..probe.clone()
        };
        let norm = probe.protocol.normalization(&config.normalization, dataset.n_bands())?;
        let mut protocol = format!("{} protocol", probe.protocol.name());
        if probe.protocol == Protocol::Authors {
            // The authors' loop keeps the frozen backbone in train mode on the training images: re-estimate.
            let mut order = train.clone();
            order.shuffle(&mut rand::rngs::StdRng::seed_from_u64(probe_config.seed));
            let bn_options = ExtractOptions {
                batch_size: probe_config.batch_size,
                ..extract_options.clone()
            };
            let n_batches = reestimate_batchnorm_on(
                &encoder.net,
                &encoder_vs,
                dataset,
                &order,
                &norm,
                &bn_options,
                "BatchNorm statistics",
            )?;
            protocol = format!(
                "{protocol} (x/255, BatchNorm statistics re-estimated on the training images: cumulative average \
                 over {n_batches} batches of {})",
                probe_config.batch_size
            );
        }
        let train_set = extract(&encoder.net, dataset, &train, &norm, &extract_options, "features train")?;
        let test_set = extract(
            &encoder.net,
            dataset,
            &splits.test,
            &norm,
            &extract_options,
            "features test",
        )?;
        let linear = LinearProbe::train(&train_set, n_classes, &probe_config, options.quiet)?;
        let train_seconds = start.elapsed().as_secs_f64();
        let recipe = format!(
            "{}linear probe on frozen features, {protocol}: {} epochs, batch {}, Adam lr {}, seed {}",
            if config.label_fraction < 1.0 {
                format!("{} % of the training images, ", 100.0 * config.label_fraction)
            } else {
                String::new()
            },
            probe_config.epochs,
            probe_config.batch_size,
            probe_config.lr,
            probe_config.seed
        );
        (
            linear.predict(&test_set.features),
            linear.epoch_losses.clone(),
            train_seconds,
            recipe,
        )
    };
    let eval_start = Instant::now();
    let metrics = Classification::from_predictions(&predicted, &truth, n_classes);
    Ok(DenseRow {
        init: config.init_name(),
        arch: config.arch.name().to_string(),
        weights: config.weights.clone(),
        encoder: config.encoder_mode().into(),
        recipe,
        epochs: config.epochs,
        tile_size: 64,
        n_train_images: train.len(),
        n_train_tiles: train.len(),
        n_test_images: splits.test.len(),
        label_fraction: config.label_fraction,
        result: DenseResult::Classification { metrics },
        epoch_losses,
        train_seconds,
        eval_seconds: eval_start.elapsed().as_secs_f64(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::eurosat::EurosatVariant;
    use crate::data::fake::{write_eurosat_rgb, FakeEurosat};


    #[test]
    fn frozen_probe_and_fine_tuning_on_fake_eurosat() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("eurosat-rgb");
        write_eurosat_rgb(&root, &FakeEurosat::with_eurosat_classes(4, 3)).unwrap();
        let dataset = Eurosat::open(&root, EurosatVariant::Rgb).unwrap();
        let all: Vec<usize> = (0..dataset.len()).collect();
        let splits = SplitIndices {
            train: all.iter().copied().filter(|i| i % 2 == 0).collect(),
            val: vec![],
            test: all.iter().copied().filter(|i| i % 2 == 1).collect(),
        };
        let options = BenchmarkOptions {
            device: Device::Cpu,
            quiet: true,
            overlay_dir: None,
            n_overlays: 0,
            overlay_max_side: 64,
        };
        for finetune in [false, true] {
            let config = DenseConfig {
                finetune,
                epochs: 2,
                batch_size: 8,
                label_fraction: 0.5,
                ..Default::default()
            };
            let row = benchmark(&dataset, &splits, &config, &ProbeConfig::default(), &options).unwrap();
            // 2 train images per class, half of them: 1 per class.
            assert_eq!(row.n_train_images, dataset.classes.len(), "finetune {finetune}");
            assert_eq!(row.n_test_images, splits.test.len());
            assert_eq!(row.epoch_losses.len(), 2);
            assert!(row.epoch_losses.iter().all(|l| l.is_finite() && *l > 0.0));
            assert_eq!(row.encoder, if finetune { "fine-tuned" } else { "frozen" });
            if !finetune {
                // The default probe protocol is the authors': x/255 and BatchNorm re-estimated on the train images.
                assert!(
                    row.recipe.contains("authors protocol") && row.recipe.contains("re-estimated"),
                    "{}",
                    row.recipe
                );
            }
            let DenseResult::Classification { metrics } = &row.result else {
                panic!("not a classification row")
            };
            assert_eq!(
                metrics.confusion.iter().flatten().sum::<u64>() as usize,
                splits.test.len()
            );
        }
    }
}
