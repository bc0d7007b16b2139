//! The BigEarthNet protocol (METHODS.md): features of a frozen backbone in eval mode, then Dropout(0.2) -> Linear(d,
//! n_classes) (PyTorch's default initialisation) trained with the multi-label soft margin loss (the mean over
//! classes of the binary cross-entropy with logits, `nn.MultiLabelSoftMarginLoss`), Adam lr 1e-3, MultiStepLR x0.1
//! at epochs 60 and 80, 100 epochs, batch 1024 (SeCo's README command); scored by micro average precision.

use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};
use tch::nn::{self, Module, OptimizerConfig};
use tch::{Device, Kind, Reduction, Tensor};

use crate::results::seg_metrics::micro_average_precision;
use crate::data::{Image, Normalization};
use crate::models::ResNet;
use crate::progress::Progress;
use crate::{Error, Result};

/// Probe hyper-parameters; [`Default`] is the paper protocol.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MultiLabelProbeConfig {
    pub epochs: usize,
    pub lr: f64,
    pub batch_size: usize,
    /// MultiStepLR: the lr is multiplied by `lr_gamma` from each of these epochs (0-based) on.
    pub lr_milestones: Vec<usize>,
    pub lr_gamma: f64,
    pub dropout: f64,
    pub seed: u64,
}

impl Default for MultiLabelProbeConfig {
    fn default() -> Self {
        MultiLabelProbeConfig {
            epochs: 100,
            lr: 1e-3,
            batch_size: 1024,
            lr_milestones: vec![60, 80],
            lr_gamma: 0.1,
            dropout: 0.2,
            seed: 42,
        }
    }
}

impl MultiLabelProbeConfig {
    pub fn validate(&self) -> Result<()> {
        // Written so that NaN fails too.
        let ok = self.epochs > 0
            && self.batch_size > 0
            && self.lr > 0.0
            && self.lr_gamma > 0.0
            && self.lr_gamma <= 1.0
            && (0.0..1.0).contains(&self.dropout);
        if !ok {
            return Err(Error::Config(format!(
                "multi-label probe: need epochs > 0, batch_size > 0, lr > 0, 0 < lr_gamma <= 1, dropout in [0, 1); \
                 got epochs {}, batch_size {}, lr {}, lr_gamma {}, dropout {}",
                self.epochs, self.batch_size, self.lr, self.lr_gamma, self.dropout
            )));
        }
        Ok(())
    }

    /// Learning rate during `epoch` (0-based): MultiStepLR, stepped once per epoch.
    pub fn lr_at(&self, epoch: usize) -> f64 {
        let passed = self.lr_milestones.iter().filter(|&&m| epoch >= m).count();
        self.lr * self.lr_gamma.powi(passed as i32)
    }
}

/// `nn.MultiLabelSoftMarginLoss`: logits, targets `[n, c]` (targets 0/1 floats) -> mean over classes and samples of
/// -[y log sigmoid(x) + (1 - y) log sigmoid(-x)].
pub fn multilabel_soft_margin_loss(logits: &Tensor, targets: &Tensor) -> Tensor {
    logits.binary_cross_entropy_with_logits::<Tensor>(targets, None, None, Reduction::Mean)
}

/// Pooled features `[n, d]` of `images` (normalised here) from a backbone in eval mode, without gradients.
pub fn extract_features(
    net: &ResNet,
    images: &[Image],
    normalization: &Normalization,
    batch_size: usize,
    device: Device,
) -> Result<Tensor> {
    if images.is_empty() {
        return Err(Error::Config("feature extraction: no images".into()));
    }
    normalization.validate(images[0].n_bands)?;
    let mut parts = Vec::new();
    for chunk in images.chunks(batch_size.max(1)) {
        let normalized: Vec<Image> = chunk
            .iter()
            .map(|i| super::dense::normalized(i, normalization))
            .collect();
        let xs = super::dense::images_to_tensor(&normalized, device);
        parts.push(tch::no_grad(|| net.feature_maps(&xs, false).pooled()).to_device(Device::Cpu));
    }
    Ok(Tensor::cat(&parts, 0))
}

/// A trained probe and its per-epoch mean training loss.
pub struct MultiLabelProbe {
    _vs: nn::VarStore,
    linear: nn::Linear,
    pub epoch_losses: Vec<f64>,
}

impl MultiLabelProbe {
    /// Trains Dropout -> Linear(d, n_classes) on `features` `[n, d]` and multi-hot `targets` (row-major `[n, c]`).
    pub fn train(
        features: &Tensor,
        targets: &[bool],
        n_classes: usize,
        config: &MultiLabelProbeConfig,
        quiet: bool,
    ) -> Result<Self> {
        config.validate()?;
        let n = features.size()[0] as usize;
        if n == 0 || targets.len() != n * n_classes {
            return Err(Error::Config(format!(
                "multi-label probe: {n} feature rows and {} targets for {n_classes} classes",
                targets.len()
            )));
        }
        tch::manual_seed(config.seed as i64);
        let mut rng = rand::rngs::StdRng::seed_from_u64(config.seed);
        let vs = nn::VarStore::new(Device::Cpu);
        let d = features.size()[1];
        let linear = crate::models::init::linear(vs.root() / "fc", d, n_classes as i64);
        let mut opt = nn::Adam::default().build(&vs, config.lr)?;
        let ys = Tensor::from_slice(&targets.iter().map(|&t| t as u8 as f32).collect::<Vec<f32>>())
            .view([n as i64, n_classes as i64]);
        let mut order: Vec<i64> = (0..n as i64).collect();
        let mut epoch_losses = Vec::with_capacity(config.epochs);
        let progress = Progress::new(config.epochs as u64, "multi-label probe", "epochs", quiet);
        for epoch in 0..config.epochs {
            opt.set_lr(config.lr_at(epoch));
            order.shuffle(&mut rng);
            let mut loss_sum = 0.0;
            for batch in Tensor::from_slice(&order).split(config.batch_size as i64, 0) {
                let xs = features.index_select(0, &batch).dropout(config.dropout, true);
                let loss = multilabel_soft_margin_loss(&linear.forward(&xs), &ys.index_select(0, &batch));
                opt.backward_step(&loss);
                loss_sum += loss.double_value(&[]) * batch.size()[0] as f64;
            }
            epoch_losses.push(loss_sum / n as f64);
            progress.inc(1);
        }
        progress.finish();
        Ok(MultiLabelProbe {
            _vs: vs,
            linear,
            epoch_losses,
        })
    }

    /// Probabilities `[n * n_classes]`, row-major (dropout off).
    pub fn scores(&self, features: &Tensor) -> Result<Vec<f32>> {
        let p = tch::no_grad(|| self.linear.forward(features).sigmoid()).to_kind(Kind::Float);
        Ok(Vec::<f32>::try_from(p.flatten(0, -1))?)
    }

    /// Micro average precision on `features` against multi-hot `targets`.
    pub fn micro_ap(&self, features: &Tensor, targets: &[bool], n_classes: usize) -> Result<f64> {
        Ok(micro_average_precision(&self.scores(features)?, targets, n_classes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn soft_margin_loss_matches_pytorch() {
        // torch.nn.MultiLabelSoftMarginLoss()(torch.tensor([[1., -2., 0.5]]), torch.tensor([[1., 0., 1.]]))
        // == tensor(0.3048)
        let logits = Tensor::from_slice(&[1.0f32, -2.0, 0.5]).view([1, 3]);
        let targets = Tensor::from_slice(&[1.0f32, 0.0, 1.0]).view([1, 3]);
        let loss = multilabel_soft_margin_loss(&logits, &targets).double_value(&[]);
        let expected = (-(1.0f64 / (1.0 + (-1.0f64).exp())).ln()
            - (1.0 - 1.0 / (1.0 + 2.0f64.exp())).ln()
            - (1.0 / (1.0 + (-0.5f64).exp())).ln())
            / 3.0;
        assert!(
            (loss - expected).abs() < 1e-6 && (loss - 0.3048).abs() < 1e-4,
            "{loss} vs {expected}"
        );
    }

    #[test]
    fn paper_defaults_multistep_schedule_and_pytorch_initialisation() {
        let c = MultiLabelProbeConfig::default();
        assert_eq!((c.epochs, c.batch_size, c.lr, c.dropout), (100, 1024, 1e-3, 0.2));
        // MultiStepLR(milestones=[60, 80], gamma=0.1), stepped after every epoch.
        assert_eq!(c.lr_at(0), 1e-3);
        assert_eq!(c.lr_at(59), 1e-3);
        assert!((c.lr_at(60) - 1e-4).abs() < 1e-15);
        assert!((c.lr_at(79) - 1e-4).abs() < 1e-15);
        assert!((c.lr_at(80) - 1e-5).abs() < 1e-16);
        assert!((c.lr_at(99) - 1e-5).abs() < 1e-16);
        assert!(MultiLabelProbeConfig {
            lr_gamma: 0.0,
            ..c.clone()
        }
        .validate()
        .is_err());
        // nn.Linear(512, 19): weight and bias uniform(+-1/sqrt(512)).
        let features = Tensor::zeros([2, 512], (Kind::Float, Device::Cpu));
        let config = MultiLabelProbeConfig {
            epochs: 1,
            lr: 1e-12,
            ..c
        };
        let probe = MultiLabelProbe::train(&features, &[false; 38], 19, &config, true).unwrap();
        let bound = 1.0 / 512f64.sqrt();
        let w = probe.linear.ws.abs().max().double_value(&[]);
        let b = probe.linear.bs.as_ref().unwrap().abs().max().double_value(&[]);
        assert!(w <= bound * 1.0001 && w > 0.9 * bound, "max |w| {w}, bound {bound}");
        assert!(b <= bound * 1.0001 && b > 0.1 * bound, "max |b| {b}, bound {bound}");
    }

    /// Features that are a noisy linear image of the labels: a probe must rank them almost perfectly.
    fn separable(n: usize, n_classes: usize, seed: i64) -> (Tensor, Vec<bool>) {
        tch::manual_seed(seed);
        let labels = Tensor::rand([n as i64, n_classes as i64], (Kind::Float, Device::Cpu)).gt(0.7);
        let w = Tensor::randn([n_classes as i64, 16], (Kind::Float, Device::Cpu)) * 3.0;
        let features =
            labels.to_kind(Kind::Float).matmul(&w) + Tensor::randn([n as i64, 16], (Kind::Float, Device::Cpu)) * 0.3;
        let targets: Vec<bool> = Vec::<f32>::try_from(labels.to_kind(Kind::Float).flatten(0, -1))
            .unwrap()
            .iter()
            .map(|&v| v > 0.5)
            .collect();
        (features, targets)
    }

    #[test]
    fn probe_learns_a_separable_multi_label_problem_and_not_shuffled_labels() {
        let (x, y) = separable(500, 4, 1);
        let (train_x, test_x) = (x.narrow(0, 0, 300), x.narrow(0, 300, 200));
        let (train_y, test_y) = (y[..300 * 4].to_vec(), y[300 * 4..].to_vec());
        // 300 samples: batches of 32 give the probe enough steps in 30 epochs (the paper's 1024 would give one).
        let config = MultiLabelProbeConfig {
            epochs: 30,
            batch_size: 32,
            ..Default::default()
        };
        let probe = MultiLabelProbe::train(&train_x, &train_y, 4, &config, true).unwrap();
        let map = probe.micro_ap(&test_x, &test_y, 4).unwrap();
        assert!(map > 0.95, "micro mAP {map}");
        assert!(
            probe.epoch_losses.last().unwrap() < &(probe.epoch_losses[0] * 0.5),
            "{:?}",
            probe.epoch_losses
        );
        // Labels shuffled across samples: near the positive rate (about 0.3), far from the learned score.
        let mut rows: Vec<usize> = (0..300).collect();
        rows.shuffle(&mut rand::rngs::StdRng::seed_from_u64(0));
        let shuffled: Vec<bool> = rows.iter().flat_map(|&r| train_y[r * 4..r * 4 + 4].to_vec()).collect();
        let chance = MultiLabelProbe::train(&train_x, &shuffled, 4, &config, true).unwrap();
        let map_chance = chance.micro_ap(&test_x, &test_y, 4).unwrap();
        assert!(map_chance < 0.6, "shuffled labels reach {map_chance}");
        assert!(MultiLabelProbe::train(&train_x, &train_y[..10], 4, &config, true).is_err());
    }

    #[cfg(feature = "gdal")]
    #[test]
    fn one_cpu_step_on_fake_bigearthnet_patches_through_a_frozen_backbone() {
        use crate::data::bigearthnet::{self, BigEarthNet, BIGEARTHNET_RGB_BANDS, LABELS_19};
        use crate::models::Arch;
        let dir = tempfile::tempdir().unwrap();
        crate::data::fake::bigearthnet::write_fake(dir.path(), [6, 0, 3], 4).unwrap();
        let stretch = bigearthnet::seco_stretch(&BIGEARTHNET_RGB_BANDS).unwrap();
        let load = |split: &str| {
            let ds = BigEarthNet::open(dir.path(), split).unwrap();
            let mut images = Vec::new();
            let mut targets = Vec::new();
            for i in 0..ds.len() {
                let (image, target) = ds.load(i, &BIGEARTHNET_RGB_BANDS, Some(&stretch)).unwrap();
                images.push(image);
                targets.extend(target);
            }
            (images, targets)
        };
        let ((train_images, train_y), (test_images, test_y)) = (load("train"), load("test"));
        let vs = nn::VarStore::new(Device::Cpu);
        let net = ResNet::new(&vs.root(), Arch::Resnet18, 3);
        let features = extract_features(
            &net,
            &train_images,
            &Normalization::Scale { scale: 255.0 },
            4,
            Device::Cpu,
        )
        .unwrap();
        assert_eq!(features.size(), vec![6, 512]);
        let config = MultiLabelProbeConfig {
            epochs: 1,
            ..Default::default()
        };
        let probe = MultiLabelProbe::train(&features, &train_y, LABELS_19.len(), &config, true).unwrap();
        assert!(probe.epoch_losses[0].is_finite() && probe.epoch_losses[0] > 0.0);
        let test_features = extract_features(
            &net,
            &test_images,
            &Normalization::Scale { scale: 255.0 },
            4,
            Device::Cpu,
        )
        .unwrap();
        let map = probe.micro_ap(&test_features, &test_y, LABELS_19.len()).unwrap();
        assert!((0.0..=1.0).contains(&map), "{map}");
    }
}
