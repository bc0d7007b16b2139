//! Linear probe on frozen features (EuroSAT protocol of SeCo/CACo, see METHODS.md): Linear(d, n_classes) with
//! PyTorch's default initialisation on unnormalised features, Adam lr 1e-3, lr x0.1 at 60 % and 80 % of the epochs,
//! batch 32, seed 42. [`ProbeConfig::protocol`] says how the features were made (see [`Protocol`]).

use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};
use tch::nn::{self, Module, OptimizerConfig};
use tch::{Device, Kind, Tensor};

use super::features::{FeatureSet, Protocol};
use crate::results::metrics::Classification;
use crate::progress::Progress;
use crate::{Error, Result};

/// Probe hyper-parameters; [`Default`] is the paper protocol.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProbeConfig {
    pub epochs: usize,
    pub lr: f64,
    pub batch_size: usize,
    /// Fractions of `epochs` after which the lr is multiplied by `lr_gamma`.
    pub lr_milestones: Vec<f64>,
    pub lr_gamma: f64,
    pub seed: u64,
    /// How the backbone sees the images: `authors` (x/255, BatchNorm statistics re-estimated on the train images
    /// in batches of `batch_size`, then eval-mode features) or `imagenet-eval` (the dataset's normalisation, stored
    /// statistics).
    pub protocol: Protocol,
}

impl Default for ProbeConfig {
    fn default() -> Self {
        ProbeConfig {
            epochs: 100,
            lr: 1e-3,
            batch_size: 32,
            lr_milestones: vec![0.6, 0.8],
            lr_gamma: 0.1,
            seed: 42,
            protocol: Protocol::Authors,
        }
    }
}

impl ProbeConfig {
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Config(format!("probe: {m}")));
        if self.epochs == 0 || self.batch_size == 0 {
            return bad(format!(
                "epochs ({}) and batch_size ({}) must be > 0",
                self.epochs, self.batch_size
            ));
        }
        // Written so that NaN fails too.
        if self.lr.is_nan() || self.lr <= 0.0 {
            return bad(format!("lr must be > 0, got {}", self.lr));
        }
        if self.lr_milestones.iter().any(|m| !(0.0..=1.0).contains(m)) {
            return bad(format!(
                "lr_milestones are fractions of the epochs in [0, 1], got {:?}",
                self.lr_milestones
            ));
        }
        Ok(())
    }

    /// Learning rate during `epoch` (0-based): step decay at the milestones.
    pub fn lr_at(&self, epoch: usize) -> f64 {
        let passed = self
            .lr_milestones
            .iter()
            .filter(|&&m| epoch >= (m * self.epochs as f64).round() as usize)
            .count();
        self.lr * self.lr_gamma.powi(passed as i32)
    }
}

/// A trained probe and its per-epoch mean training loss.
pub struct LinearProbe {
    _vs: nn::VarStore,
    linear: nn::Linear,
    pub epoch_losses: Vec<f64>,
}

impl LinearProbe {
    /// Trains Linear(d, n_classes) on `train` with cross-entropy.
    pub fn train(train: &FeatureSet, n_classes: usize, config: &ProbeConfig, quiet: bool) -> Result<Self> {
        config.validate()?;
        if train.is_empty() {
            return Err(Error::Config("probe: the training split is empty".into()));
        }
        let mut rng = rand::rngs::StdRng::seed_from_u64(config.seed);
        let device = Device::Cpu;
        let d = train.features.size()[1];
        let (vs, linear) = crate::models::seeded(config.seed, || {
            let vs = nn::VarStore::new(device);
            let linear = crate::models::init::linear(vs.root() / "fc", d, n_classes as i64);
            (vs, linear)
        });
        let mut opt = nn::Adam::default().build(&vs, config.lr)?;
        let n = train.len();
        let mut order: Vec<i64> = (0..n as i64).collect();
        let mut epoch_losses = Vec::with_capacity(config.epochs);
        let progress = Progress::new(config.epochs as u64, "linear probe", "epochs", quiet);
        for epoch in 0..config.epochs {
            opt.set_lr(config.lr_at(epoch));
            order.shuffle(&mut rng);
            let perm = Tensor::from_slice(&order);
            let mut loss_sum = Tensor::zeros([], (Kind::Float, device));
            for batch_idx in perm.split(config.batch_size as i64, 0) {
                let xs = train.features.index_select(0, &batch_idx);
                let ys = train.labels.index_select(0, &batch_idx);
                let loss = linear.forward(&xs).cross_entropy_for_logits(&ys);
                opt.backward_step(&loss);
                loss_sum += loss.detach() * batch_idx.size()[0];
            }
            let mean_loss = loss_sum.double_value(&[]) / n as f64;
            epoch_losses.push(mean_loss);
            progress.set_status(&format!("loss {mean_loss:.4}"));
            progress.inc(1);
        }
        progress.finish();
        Ok(LinearProbe {
            _vs: vs,
            linear,
            epoch_losses,
        })
    }

    /// Predicted class per row of `features` `[n, d]`.
    pub fn predict(&self, features: &Tensor) -> Vec<usize> {
        let pred = tch::no_grad(|| self.linear.forward(features).argmax(1, false));
        Vec::<i64>::try_from(&pred)
            .expect("i64 predictions")
            .into_iter()
            .map(|p| p as usize)
            .collect()
    }

    pub fn evaluate(&self, set: &FeatureSet, n_classes: usize) -> Classification {
        Classification::from_predictions(&self.predict(&set.features), &set.labels_vec(), n_classes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::seq::SliceRandom;
    use rand::SeedableRng;

    /// Three Gaussian blobs in 8-D, linearly separable.
    fn blobs(n_per_class: i64, seed: i64) -> FeatureSet {
        tch::manual_seed(seed);
        let centres = Tensor::from_slice(&[
            4f32, 0., 0., 0., 0., 4., 0., 0., 0., 0., 0., 4., 0., 0., 0., 0., -4., -4., 4., 0., 0., 0., 0., 0.,
        ])
        .view([3, 8]);
        let labels = Tensor::arange(3, (Kind::Int64, Device::Cpu)).repeat_interleave_self_int(n_per_class, 0, None);
        let features =
            centres.index_select(0, &labels) + Tensor::randn([3 * n_per_class, 8], (Kind::Float, Device::Cpu)) * 0.5;
        FeatureSet { features, labels }
    }

    #[test]
    fn probe_learns_a_separable_problem() {
        let train = blobs(60, 1);
        let test = blobs(40, 2);
        let config = ProbeConfig {
            epochs: 20,
            ..Default::default()
        };
        let probe = LinearProbe::train(&train, 3, &config, true).unwrap();
        let m = probe.evaluate(&test, 3);
        assert!(m.accuracy > 0.97, "accuracy {}", m.accuracy);
        assert!(
            probe.epoch_losses.last().unwrap() < &(probe.epoch_losses[0] * 0.5),
            "{:?}",
            probe.epoch_losses
        );
        // On shuffled labels there is nothing linear to learn: the loss stays near ln 3.
        let mut perm: Vec<i64> = (0..180).collect();
        perm.shuffle(&mut rand::rngs::StdRng::seed_from_u64(0));
        let labels = train.labels.index_select(0, &Tensor::from_slice(&perm));
        let shuffled = FeatureSet {
            features: train.features.shallow_clone(),
            labels,
        };
        let chance = LinearProbe::train(&shuffled, 3, &config, true).unwrap();
        let final_loss = *chance.epoch_losses.last().unwrap();
        assert!(final_loss > 0.9, "loss on shuffled labels {final_loss}");
        // PyTorch's initialisation starts smaller than tch's default, so 20 epochs end a little higher than before.
        assert!(*probe.epoch_losses.last().unwrap() < 0.25, "{:?}", probe.epoch_losses);
    }

    #[test]
    fn probe_is_deterministic_for_a_seed() {
        let train = blobs(20, 3);
        let config = ProbeConfig {
            epochs: 3,
            ..Default::default()
        };
        let a = LinearProbe::train(&train, 3, &config, true).unwrap();
        let b = LinearProbe::train(&train, 3, &config, true).unwrap();
        assert_eq!(a.epoch_losses, b.epoch_losses);
    }

    #[test]
    fn probe_has_pytorch_default_initialisation_and_the_paper_defaults() {
        // nn.Linear(512, 10): weight and bias uniform(+-1/sqrt(512)); tch's own default draws the weight from a
        // sqrt(6) times wider range and zeroes the bias.
        let train = FeatureSet {
            features: Tensor::zeros([4, 512], (Kind::Float, Device::Cpu)),
            labels: Tensor::from_slice(&[0i64, 1, 2, 3]),
        };
        let config = ProbeConfig {
            epochs: 1,
            lr: 1e-12,
            ..Default::default()
        };
        let probe = LinearProbe::train(&train, 10, &config, true).unwrap();
        let bound = 1.0 / 512f64.sqrt();
        let w = probe.linear.ws.abs().max().double_value(&[]);
        let b = probe.linear.bs.as_ref().unwrap().abs().max().double_value(&[]);
        assert!(w <= bound * 1.0001 && w > 0.9 * bound, "max |w| {w}, bound {bound}");
        assert!(b <= bound * 1.0001 && b > 0.1 * bound, "max |b| {b}, bound {bound}");
        let c = ProbeConfig::default();
        assert_eq!((c.epochs, c.batch_size, c.lr, c.seed), (100, 32, 1e-3, 42));
        assert_eq!((c.lr_milestones.clone(), c.lr_gamma), (vec![0.6, 0.8], 0.1));
        assert_eq!(c.protocol, Protocol::Authors);
    }

    #[test]
    fn step_schedule_decays_at_60_and_80_percent() {
        let c = ProbeConfig::default();
        assert_eq!(c.lr_at(0), 1e-3);
        assert_eq!(c.lr_at(59), 1e-3);
        assert!((c.lr_at(60) - 1e-4).abs() < 1e-12);
        assert!((c.lr_at(80) - 1e-5).abs() < 1e-13);
        assert!(ProbeConfig {
            lr_milestones: vec![1.5],
            ..c
        }
        .validate()
        .is_err());
    }
}
