//! The optimiser settings of a pre-training run and its learning-rate schedule (step decay as SeCo, half-cosine as
//! GASSL, optional linear warm-up).

use serde::{Deserialize, Serialize};

/// Learning-rate schedule over epochs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "kind", deny_unknown_fields)]
pub enum Schedule {
    /// lr x gamma at each milestone epoch (SeCo: 120 and 160 of 200). Milestones may be fractional (a run of
    /// one epoch decays at 0.6 and 0.8); the epoch position is fractional too (batch index / batches per epoch).
    Step { milestones: Vec<f64>, gamma: f64 },
    /// Half-cosine from lr to 0 over the epochs (GASSL).
    Cosine,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OptimConfig {
    pub lr: f64,
    pub momentum: f64,
    pub weight_decay: f64,
    pub schedule: Schedule,
    /// Linear warm-up from 0, in epochs (may be fractional).
    pub warmup_epochs: f64,
    pub epochs: usize,
    pub batch_size: usize,
}

impl Default for OptimConfig {
    fn default() -> Self {
        OptimConfig {
            lr: 0.03,
            momentum: 0.9,
            weight_decay: 1e-4,
            schedule: Schedule::Step {
                milestones: vec![120.0, 160.0],
                gamma: 0.1,
            },
            warmup_epochs: 0.0,
            epochs: 200,
            batch_size: 256,
        }
    }
}

impl OptimConfig {
    /// Learning rate at fractional epoch `e` (epoch index + position within it).
    pub fn lr_at(&self, e: f64) -> f64 {
        let base = match &self.schedule {
            Schedule::Step { milestones, gamma } => {
                self.lr * gamma.powi(milestones.iter().filter(|&&m| e >= m).count() as i32)
            }
            Schedule::Cosine => self.lr * 0.5 * (1.0 + (std::f64::consts::PI * e / self.epochs as f64).cos()),
        };
        if self.warmup_epochs > 0.0 && e < self.warmup_epochs {
            base * e / self.warmup_epochs
        } else {
            base
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_milestones_may_be_fractional_and_integers_still_parse() {
        // The cpu MoCo-v2 config: one epoch, lr x0.1 at 60 % and 80 % of it (the epoch position is fractional).
        let one_epoch: OptimConfig =
            toml::from_str("lr = 0.03\nepochs = 1\nschedule = { kind = \"step\", milestones = [0.6, 0.8], gamma = 0.1 }")
                .unwrap();
        assert_eq!(one_epoch.lr_at(0.59), 0.03);
        assert!((one_epoch.lr_at(0.6) - 0.003).abs() < 1e-12);
        assert!((one_epoch.lr_at(0.9) - 0.0003).abs() < 1e-12);
        let integers: OptimConfig =
            toml::from_str("lr = 0.03\nepochs = 5\nschedule = { kind = \"step\", milestones = [3, 4], gamma = 0.1 }")
                .unwrap();
        assert_eq!(integers.schedule, Schedule::Step { milestones: vec![3.0, 4.0], gamma: 0.1 });
        assert!((integers.lr_at(3.5) - 0.003).abs() < 1e-12);
    }
}
