//! The BigEarthNet benchmark (SeCo protocol, METHODS.md "Downstream protocols"): a frozen backbone's pooled
//! features of the RGB bands (SeCo's quantile stretch, then ImageNet normalisation), a multi-label probe
//! (Dropout 0.2 -> Linear, multi-label soft margin, Adam) trained on a seeded fraction of train (10 % in the
//! papers), micro average precision on test.

use std::path::Path;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use tch::Device;

use super::dense::{build_encoder, DenseConfig};
use super::multilabel_probe::{extract_features, MultiLabelProbe, MultiLabelProbeConfig};
use super::seg_metrics::per_class_average_precision;
use crate::data::bigearthnet::{seco_stretch, BigEarthNet, BIGEARTHNET_RGB_BANDS, LABELS_19};
use crate::data::{Image, Normalization};
use crate::models::Arch;
use crate::progress::Progress;
use crate::report::dense::{DenseResult, DenseRow};
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
            ..Default::default()
        }
    }

    pub fn validate(&self) -> Result<()> {
        if self.feature_batch == 0 || self.max_test == Some(0) {
            return Err(Error::Config(format!(
                "bigearthnet: feature_batch and max_test must be > 0, got {} and {:?}",
                self.feature_batch, self.max_test
            )));
        }
        self.probe.validate()?;
        self.dense().validate(3)
    }
}

/// Loads `indices` of `split` as (stretched RGB images, row-major 19-class targets), with a progress bar.
fn load(dataset: &BigEarthNet, indices: &[usize], label: &str, quiet: bool) -> Result<(Vec<Image>, Vec<bool>)> {
    let stretch = seco_stretch(&BIGEARTHNET_RGB_BANDS)?;
    let progress = Progress::new(indices.len() as u64, label, "patches", quiet);
    let mut images = Vec::with_capacity(indices.len());
    let mut targets = Vec::with_capacity(indices.len() * LABELS_19.len());
    for &i in indices {
        let (image, target) = dataset.load(i, &BIGEARTHNET_RGB_BANDS, Some(&stretch))?;
        images.push(image);
        targets.extend(target);
        progress.inc(1);
    }
    progress.finish();
    Ok((images, targets))
}

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
    let train_x = extract_features(
        &encoder.net,
        &train_images,
        &Normalization::Imagenet,
        config.feature_batch,
        device,
    )?;
    drop(train_images);
    let probe = MultiLabelProbe::train(&train_x, &train_y, LABELS_19.len(), &config.probe, quiet)?;
    let train_seconds = start.elapsed().as_secs_f64();

    let start = Instant::now();
    let (test_images, test_y) = load(&test_set, &test_idx, "bigearthnet test", quiet)?;
    let test_x = extract_features(
        &encoder.net,
        &test_images,
        &Normalization::Imagenet,
        config.feature_batch,
        device,
    )?;
    let scores = probe.scores(&test_x)?;
    let micro_ap = super::seg_metrics::micro_average_precision(&scores, &test_y, LABELS_19.len());
    let per_class_ap = per_class_average_precision(&scores, &test_y, LABELS_19.len());
    Ok(DenseRow {
        init: dense.init_name(),
        arch: format!("{:?}", config.arch).to_lowercase(),
        weights: config.weights.clone(),
        encoder: "frozen".into(),
        recipe: format!(
            "{} % of train ({} patches), RGB with SeCo's stretch, probe Dropout {} + Linear, Adam lr {}, {} epochs, \
             batch {}, seed {}",
            100.0 * config.label_fraction,
            train_idx.len(),
            config.probe.dropout,
            config.probe.lr,
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

#[cfg(all(test, feature = "gdal"))]
mod tests {
    use super::*;

    #[test]
    fn benchmark_on_fake_patches_gives_a_row_with_a_valid_map() {
        let dir = tempfile::tempdir().unwrap();
        crate::data::bigearthnet::write_fake(dir.path(), [10, 0, 4], 7).unwrap();
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
