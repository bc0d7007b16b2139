//! CACo's online change estimate (Mall et al. 2023, METHODS.md): per dataset index, a running ratio
//! d_long / (d_short + 1e-4), first observation as is, then (4·old + x) / 5; after every epoch a 1-D two-component
//! Gaussian mixture (scikit-learn's defaults) over all running ratios labels indices in the higher-mean component "changed" (1), the others 0,
//! unseen ones -1. During the first epoch every label is 0.

use std::path::Path;

use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

use super::gmm::Gmm2;
use crate::results::metrics::auroc;
use crate::{Error, Result};

/// The epsilon in d_long / (d_short + eps).
pub const RATIO_EPS: f64 = 1e-4;

#[derive(Debug, Clone, PartialEq)]
pub struct ChangeState {
    /// Running ratio per dataset index (NaN: never seen).
    pub ratio: Vec<f64>,
    /// 1 changed, 0 unchanged, -1 unseen (after an epoch); all 0 during the first epoch.
    pub label: Vec<i8>,
    pub gmm: Option<Gmm2>,
}

/// One epoch's export: everything a figure of the paper's key plot needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochExport {
    pub epoch: usize,
    pub gmm: Option<Gmm2>,
    pub n_changed: usize,
    pub n_unchanged: usize,
    pub n_unseen: usize,
}

/// Ratios of one batch made of (older, recent) pairs: `l_q` the query's embedding by the key encoder and head 1,
/// `l_s` the short-term key's (k1) `[n, d]`, both normalised. Partner of row r is row r ^ 1.
pub fn batch_ratios(l_q: &Tensor, l_s: &Tensor) -> Vec<f64> {
    let n = l_q.size()[0];
    let partner = Tensor::arange(n, (Kind::Int64, l_q.device())).bitwise_xor(1);
    let d_short = (l_q - l_s).norm_scalaropt_dim(2.0, [1], false);
    let d_long = (l_q - l_q.index_select(0, &partner)).norm_scalaropt_dim(2.0, [1], false);
    let ratio = (d_long / (d_short + RATIO_EPS))
        .to_kind(Kind::Double)
        .to_device(tch::Device::Cpu);
    Vec::<f64>::try_from(&ratio).expect("f64 ratios")
}

impl ChangeState {
    pub fn new(n_items: usize) -> Self {
        ChangeState {
            ratio: vec![f64::NAN; n_items],
            label: vec![0; n_items],
            gmm: None,
        }
    }

    /// Running update for `items` with this step's `ratios`.
    pub fn update(&mut self, items: &[usize], ratios: &[f64]) {
        for (&i, &x) in items.iter().zip(ratios) {
            let old = self.ratio[i];
            self.ratio[i] = if old.is_nan() { x } else { (4.0 * old + x) / 5.0 };
        }
    }

    /// The current label of each of `items`: 1 changed, 0 unchanged, -1 never seen.
    pub fn labels(&self, items: &[usize]) -> Vec<i64> {
        items.iter().map(|&i| i64::from(self.label[i])).collect()
    }

    /// Fits the mixture to every seen ratio and relabels (end of an epoch).
    pub fn end_epoch(&mut self, epoch: usize) -> EpochExport {
        let seen: Vec<f64> = self.ratio.iter().copied().filter(|r| r.is_finite()).collect();
        self.gmm = Gmm2::fit_sklearn(&seen);
        for (label, &r) in self.label.iter_mut().zip(&self.ratio) {
            *label = match (&self.gmm, r.is_finite()) {
                (_, false) => -1,
                (Some(g), true) => g.label(r),
                (None, true) => 0,
            };
        }
        let count = |v: i8| self.label.iter().filter(|&&l| l == v).count();
        EpochExport {
            epoch,
            gmm: self.gmm,
            n_changed: count(1),
            n_unchanged: count(0),
            n_unseen: count(-1),
        }
    }

    /// Writes `dir/caco_epoch_<e>.csv` (item, ratio, label) and `dir/caco_epoch_<e>.toml` (GMM and counts).
    pub fn export(&self, export: &EpochExport, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let mut csv = String::from("item,ratio,label\n");
        for (i, (r, l)) in self.ratio.iter().zip(&self.label).enumerate() {
            csv += &format!("{i},{r},{l}\n");
        }
        let stem = dir.join(format!("caco_epoch_{:04}", export.epoch));
        let csv_path = stem.with_extension("csv");
        std::fs::write(&csv_path, csv).map_err(|e| Error::io(&csv_path, e))?;
        let toml_path = stem.with_extension("toml");
        std::fs::write(&toml_path, toml::to_string(export).expect("export serialises"))
            .map_err(|e| Error::io(&toml_path, e))
    }

    /// The state as tensors for a checkpoint.
    pub fn to_tensors(&self) -> Vec<(String, Tensor)> {
        vec![
            ("caco.ratio".into(), Tensor::from_slice(&self.ratio)),
            (
                "caco.label".into(),
                Tensor::from_slice(&self.label.iter().map(|&l| l as i64).collect::<Vec<_>>()),
            ),
        ]
    }

    pub fn from_tensors(ratio: &Tensor, label: &Tensor, gmm: Option<Gmm2>) -> Self {
        let ratio = Vec::<f64>::try_from(ratio).expect("f64 ratios");
        let label = Vec::<i64>::try_from(label)
            .expect("i64 labels")
            .into_iter()
            .map(|l| l as i8)
            .collect();
        ChangeState { ratio, label, gmm }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn running_ratio_update_and_labels() {
        let mut s = ChangeState::new(6);
        s.update(&[0, 1], &[1.0, 5.0]);
        s.update(&[0], &[6.0]);
        assert_eq!(s.ratio[0], (4.0 * 1.0 + 6.0) / 5.0);
        assert_eq!(s.ratio[1], 5.0);
        assert_eq!(s.labels(&[0, 1]), vec![0, 0], "first epoch: all unchanged");
        s.update(&[2, 3, 4], &[1.1, 0.9, 5.2]);
        let export = s.end_epoch(0);
        assert_eq!(s.label, vec![0, 1, 0, 0, 1, -1]);
        assert_eq!((export.n_changed, export.n_unchanged, export.n_unseen), (2, 3, 1));
        let back = ChangeState::from_tensors(&s.to_tensors()[0].1, &s.to_tensors()[1].1, s.gmm);
        assert_eq!(back.label, s.label);
        assert_eq!(back.ratio[..5], s.ratio[..5]);
    }

    #[test]
    fn ratios_compare_long_and_short_distances() {
        // Row 0 and 1 are partners. l_q[0] = l_s[0] exactly: d_short = 0 -> ratio = d_long / 1e-4.
        let l_q = Tensor::from_slice(&[1f32, 0., 0., 1.]).view([2, 2]);
        let l_s = Tensor::from_slice(&[1f32, 0., 0.6, 0.8]).view([2, 2]);
        let r = batch_ratios(&l_q, &l_s);
        let d_long = 2f64.sqrt();
        assert!((r[0] - d_long / RATIO_EPS).abs() / r[0] < 1e-5);
        let d_short = ((0.6f64).powi(2) + (0.2f64).powi(2)).sqrt();
        assert!((r[1] - d_long / (d_short + RATIO_EPS)).abs() < 1e-4, "{r:?}");
    }

}

/// How well a CACo run's change estimate matches known truth (the simulated eurosat-seasons).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChangeCheck {
    pub epoch: usize,
    /// AUROC of the running ratio against the location's `changed` flag, over seen items.
    pub auroc: f64,
    /// Share of items of truly changed locations labelled changed.
    pub changed_labelled_changed: f64,
    /// Share of items of unchanged locations labelled changed.
    pub unchanged_labelled_changed: f64,
    pub n_seen: usize,
}

/// Compares per-item ratios and labels (item 2k and 2k+1 belong to location k) with per-location truth.
pub fn change_check(epoch: usize, ratio: &[f64], label: &[i8], location_changed: &[bool]) -> ChangeCheck {
    let truth: Vec<bool> = (0..ratio.len()).map(|i| location_changed[i / 2]).collect();
    let share = |want: bool| {
        let items: Vec<usize> = (0..ratio.len())
            .filter(|&i| truth[i] == want && label[i] >= 0)
            .collect();
        items.iter().filter(|&&i| label[i] == 1).count() as f64 / items.len().max(1) as f64
    };
    ChangeCheck {
        epoch,
        auroc: auroc(ratio, &truth),
        changed_labelled_changed: share(true),
        unchanged_labelled_changed: share(false),
        n_seen: ratio.iter().filter(|r| r.is_finite()).count(),
    }
}

/// Reads an export written by [`ChangeState::export`] (`caco_epoch_<e>.csv`).
pub fn read_export(path: &Path) -> Result<(Vec<f64>, Vec<i8>)> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let mut ratio = Vec::new();
    let mut label = Vec::new();
    for (n, line) in text.lines().enumerate().skip(1) {
        let fields: Vec<&str> = line.split(',').collect();
        let parsed = (fields.len() == 3)
            .then(|| Some((fields[1].parse::<f64>().ok()?, fields[2].parse::<i8>().ok()?)))
            .flatten();
        let (r, l) =
            parsed.ok_or_else(|| Error::bad_input(path, format!("line {}: expected item,ratio,label", n + 1)))?;
        ratio.push(r);
        label.push(l);
    }
    Ok((ratio, label))
}
