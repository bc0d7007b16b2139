//! Change awareness of a frozen backbone: caco's own score, in none of the originals. CACo's claim is that features
//! should ignore seasonal change and keep long-term change; this measures both directly, training nothing.
//!
//! Data: held-out locations of the simulated series (`eurosat-seasons-heldout`), built like `eurosat-seasons`
//! (same seasons and change model, [`SeasonsConfig`] defaults) but only from EuroSAT **test** tiles, which
//! pre-training never sees, with its own `truth.csv`. Every date of every location goes through the backbone (eval
//! mode, ImageNet normalisation as in pre-training, global-pooled features, L2-normalised). Per location, with
//! `f_t` its 10 features (dates 0-4 the older era, 5-9 the recent one):
//! - `d_short` = mean ||f_i - f_j|| over the pairs of dates within one era (both eras);
//! - `d_long` = mean ||f_i - f_j|| over the pairs across the eras;
//! - `ratio` = d_long / (d_short + 1e-4): CACo's change estimate (METHODS.md), with every pair instead of one
//!   sampled triple;
//! - `same_era_cos` = mean cosine similarity of the within-era pairs; `cross_cos` = mean cosine between date t of
//!   the location and date t of another location (a seeded derangement).
//!
//! Scores (with 95 % bootstrap intervals over locations): (a) the AUROC of `d_long` against the truth (does the
//! distance between the eras separate changed from unchanged places?), (b) the AUROC of `ratio`, (c) seasonal
//! invariance = mean of `same_era_cos - cross_cos` (how much closer a place's own dates across seasons are than two
//! different places; higher is more invariant to the season while still telling places apart).

use std::path::Path;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};
use tch::nn::ModuleT;
use tch::{Device, Kind, Tensor};

use crate::results::bootstrap::{self, N_RESAMPLES};
use crate::data::eurosat::Eurosat;
use crate::data::seasons::{self, SeasonsConfig};
use crate::data::timeseries::{Layout, TimeSeries, TimeSeriesOptions, RGB_BANDS};
use crate::data::{Image, Normalization};
use crate::progress::Progress;
use crate::results::metrics::auroc;
use crate::{Error, Result};

/// Folder name of the held-out series (under the derived folder).
pub const HELDOUT_DIR: &str = "eurosat-seasons-heldout";

/// CACo's epsilon in d_long / (d_short + eps).
pub const RATIO_EPS: f64 = 1e-4;

/// Settings of the held-out series and the evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AwarenessConfig {
    /// Locations of the held-out series (capped at the number of test tiles).
    pub n_locations: usize,
    /// Seed of the held-out simulation (the pre-training series uses 0).
    pub seed: u64,
    /// Images per forward pass.
    pub batch_size: usize,
}

impl Default for AwarenessConfig {
    fn default() -> Self {
        AwarenessConfig {
            n_locations: 500,
            seed: 1,
            batch_size: 250,
        }
    }
}

impl AwarenessConfig {
    /// The simulation settings: the pre-training series' defaults with this config's size and seed.
    pub fn seasons(&self, n_test_tiles: usize) -> SeasonsConfig {
        SeasonsConfig {
            n_locations: Some(self.n_locations.min(n_test_tiles)),
            seed: self.seed,
            ..Default::default()
        }
    }
}

/// Builds the held-out series at `out` from the `test_indices` tiles of `eurosat` unless it is already built with
/// these settings.
pub fn build_heldout(
    eurosat: &Eurosat,
    test_indices: &[usize],
    out: &Path,
    config: &AwarenessConfig,
    quiet: bool,
) -> Result<()> {
    let seasons_config = config.seasons(test_indices.len());
    if seasons::is_built(out, &seasons_config) {
        return Ok(());
    }
    if !quiet {
        eprintln!(
            "building the held-out series {} from {} EuroSAT test tiles ...",
            out.display(),
            test_indices.len()
        );
    }
    seasons::simulate(eurosat, test_indices, out, &seasons_config, quiet)?;
    Ok(())
}

/// The scores of one backbone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Awareness {
    pub n_locations: usize,
    pub n_changed: usize,
    /// (a) AUROC of d_long against the truth, in [0, 1].
    pub era_auroc: f64,
    pub era_auroc_ci: Option<[f64; 2]>,
    /// (b) AUROC of d_long / (d_short + 1e-4).
    pub ratio_auroc: f64,
    pub ratio_auroc_ci: Option<[f64; 2]>,
    /// (c) Mean of same_era_cos - cross_cos over locations.
    pub invariance: f64,
    pub invariance_ci: Option<[f64; 2]>,
    pub same_era_cos: f64,
    pub cross_location_cos: f64,
    /// Per location, in the series' order.
    pub changed: Vec<bool>,
    pub d_long: Vec<f64>,
    pub ratio: Vec<f64>,
}

/// The scores from features `[n_locations, n_dates, dim]` (any scale: they are L2-normalised here), dates
/// `0..dates_per_era` the older era and the rest the recent one. Pure: no model, no data files.
pub fn scores(features: &Tensor, changed: &[bool], dates_per_era: usize, seed: u64) -> Result<Awareness> {
    let size = features.size();
    let (n, t) = (size[0] as usize, size[1] as usize);
    if size.len() != 3 || n != changed.len() || t < 2 * dates_per_era || dates_per_era < 2 || n < 2 {
        return Err(Error::Config(format!(
            "change awareness: features {size:?} for {} locations and {dates_per_era} dates per era",
            changed.len()
        )));
    }
    let f = features.to_kind(Kind::Double);
    let f = &f / f.norm_scalaropt_dim(2.0, [-1i64].as_slice(), true).clamp_min(1e-12);
    // Cosine similarity of every pair of dates of a location: [n, t, t]; distance of unit vectors sqrt(2 - 2 cos).
    let cos = f.matmul(&f.transpose(1, 2));
    let cos: Vec<f64> = Vec::try_from(cos.flatten(0, -1))?;
    let at = |l: usize, i: usize, j: usize| cos[l * t * t + i * t + j];
    let era = |i: usize| usize::from(i >= t - dates_per_era);
    let in_use = |i: usize| i < dates_per_era || i >= t - dates_per_era;
    let mut d_short = vec![0.0; n];
    let mut d_long = vec![0.0; n];
    let mut same_cos = vec![0.0; n];
    for l in 0..n {
        let (mut s, mut ns, mut g, mut ng, mut c) = (0.0, 0.0, 0.0, 0.0, 0.0);
        for i in (0..t).filter(|&i| in_use(i)) {
            for j in (i + 1..t).filter(|&j| in_use(j)) {
                let d = (2.0 - 2.0 * at(l, i, j)).max(0.0).sqrt();
                if era(i) == era(j) {
                    s += d;
                    c += at(l, i, j);
                    ns += 1.0;
                } else {
                    g += d;
                    ng += 1.0;
                }
            }
        }
        d_short[l] = s / ns;
        same_cos[l] = c / ns;
        d_long[l] = g / ng;
    }
    let ratio: Vec<f64> = (0..n).map(|l| d_long[l] / (d_short[l] + RATIO_EPS)).collect();

    // Cross-location cosine: date t of location l against date t of its partner (a shuffled cycle: never itself).
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut rand::rngs::StdRng::seed_from_u64(seed));
    let mut partner = vec![0; n];
    for k in 0..n {
        partner[order[k]] = order[(k + 1) % n];
    }
    let dates: Vec<i64> = (0..t as i64).filter(|&i| in_use(i as usize)).collect();
    let index = Tensor::from_slice(&dates);
    let own = f.index_select(1, &index);
    let other = f
        .index_select(0, &Tensor::from_slice(&partner.iter().map(|&p| p as i64).collect::<Vec<_>>()))
        .index_select(1, &index);
    let cross: Vec<f64> = Vec::try_from(
        (own * other)
            .sum_dim_intlist([-1i64].as_slice(), false, Kind::Double)
            .mean_dim([1i64].as_slice(), false, Kind::Double),
    )?;
    let margin: Vec<f64> = (0..n).map(|l| same_cos[l] - cross[l]).collect();
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;

    let auroc_ci = |scores: &[f64]| {
        bootstrap::percentile_ci(
            n,
            |idx| {
                let s: Vec<f64> = idx.iter().map(|&i| scores[i]).collect();
                let y: Vec<bool> = idx.iter().map(|&i| changed[i]).collect();
                auroc(&s, &y)
            },
            N_RESAMPLES,
            bootstrap::LEVEL,
            seed,
        )
    };
    Ok(Awareness {
        n_locations: n,
        n_changed: changed.iter().filter(|&&c| c).count(),
        era_auroc: auroc(&d_long, changed),
        era_auroc_ci: auroc_ci(&d_long),
        ratio_auroc: auroc(&ratio, changed),
        ratio_auroc_ci: auroc_ci(&ratio),
        invariance: mean(&margin),
        invariance_ci: bootstrap::mean_ci(&margin, seed),
        same_era_cos: mean(&same_cos),
        cross_location_cos: mean(&cross),
        changed: changed.to_vec(),
        d_long,
        ratio,
    })
}

/// Features of every date of every location of the series at `root` (`[n_locations, n_dates, dim]`) and each
/// location's truth, through `model` in eval mode.
pub fn series_features(
    model: &impl ModuleT,
    root: &Path,
    batch_size: usize,
    device: Device,
    quiet: bool,
) -> Result<(Tensor, Vec<bool>, usize)> {
    let options = TimeSeriesOptions {
        layout: Layout::Caco,
        bands: RGB_BANDS.iter().map(|b| b.to_string()).collect(),
        dates_per_era: SeasonsConfig::default().dates_per_era,
        skip_bad: false,
        stretch: None,
    };
    let series = TimeSeries::open(root, options)?;
    let truth_path = root.join("truth.csv");
    let truth = seasons::read_truth(&truth_path)?;
    let changed = series
        .locations
        .iter()
        .map(|loc| {
            truth
                .iter()
                .find(|t| t.location == loc.id)
                .map(|t| t.changed)
                .ok_or_else(|| Error::bad_input(&truth_path, format!("location `{}` has no row", loc.id)))
        })
        .collect::<Result<Vec<bool>>>()?;
    let n_dates = series.locations[0].products.len();
    if let Some(loc) = series.locations.iter().find(|l| l.products.len() != n_dates) {
        return Err(Error::bad_input(
            &loc.dir,
            format!("{} dates, the first location has {n_dates}", loc.products.len()),
        ));
    }
    let products: Vec<_> = series.locations.iter().flat_map(|l| l.products.iter()).collect();
    let normalization = Normalization::Imagenet;
    let progress = Progress::new(products.len() as u64, "change awareness", "img", quiet);
    let mut outputs = Vec::new();
    for chunk in products.chunks(batch_size.max(1)) {
        let images = chunk
            .iter()
            .map(|p| {
                let mut image = series.load(p)?;
                normalization.apply(&mut image);
                Ok(image)
            })
            .collect::<Result<Vec<Image>>>()?;
        let batch = super::features::images_to_tensor(&images).to_device(device);
        let feats = tch::no_grad(|| model.forward_t(&batch, false));
        outputs.push(feats.to_device(Device::Cpu).to_kind(Kind::Float));
        progress.inc(chunk.len() as u64);
    }
    progress.finish();
    let features = Tensor::cat(&outputs, 0);
    let dim = features.size()[1];
    Ok((
        features.view([series.locations.len() as i64, n_dates as i64, dim]),
        changed,
        series.options.dates_per_era,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Locations whose recent era moves far (changed) or stays (unchanged), with small per-date noise.
    fn synthetic(n: usize, shift: f64) -> (Tensor, Vec<bool>) {
        tch::manual_seed(3);
        let base = Tensor::randn([n as i64, 1, 16], (Kind::Double, Device::Cpu));
        let noise = Tensor::randn([n as i64, 10, 16], (Kind::Double, Device::Cpu)) * 0.05;
        let changed: Vec<bool> = (0..n).map(|i| i % 3 == 0).collect();
        let mask: Vec<f64> = (0..n)
            .flat_map(|i| {
                let c = changed[i];
                (0..10).map(move |t| if c && t >= 5 { 1.0 } else { 0.0 })
            })
            .collect();
        let jump = Tensor::randn([n as i64, 1, 16], (Kind::Double, Device::Cpu)) * shift;
        let mask = Tensor::from_slice(&mask).view([n as i64, 10, 1]);
        (base + noise + jump * mask, changed)
    }

    #[test]
    fn a_change_between_the_eras_is_separated_and_dates_of_a_place_agree() {
        let (features, changed) = synthetic(60, 3.0);
        let a = scores(&features, &changed, 5, 0).unwrap();
        assert_eq!((a.n_locations, a.n_changed), (60, 20));
        assert!(a.era_auroc > 0.99 && a.ratio_auroc > 0.99, "{} {}", a.era_auroc, a.ratio_auroc);
        // Own dates are nearly identical (noise 0.05), other places are random directions.
        assert!(a.same_era_cos > 0.98 && a.cross_location_cos.abs() < 0.3, "{a:?}");
        assert!((a.invariance - (a.same_era_cos - a.cross_location_cos)).abs() < 1e-9);
        let [lo, hi] = a.invariance_ci.unwrap();
        assert!(lo <= a.invariance && a.invariance <= hi);
    }

    #[test]
    fn without_a_change_signal_the_auroc_is_near_chance() {
        let (features, changed) = synthetic(300, 0.0);
        let a = scores(&features, &changed, 5, 0).unwrap();
        assert!((a.era_auroc - 0.5).abs() < 0.12, "{}", a.era_auroc);
        // The interval holds the estimate and has the width of ~100 positives against ~200 negatives.
        let [lo, hi] = a.era_auroc_ci.unwrap();
        assert!(lo < a.era_auroc && a.era_auroc < hi && (0.08..0.2).contains(&(hi - lo)), "[{lo}, {hi}]");
    }

    #[test]
    fn distances_follow_the_definition_on_a_hand_case() {
        // Two locations, 2 dates per era, 2-d features. Location 0: era 0 at angle 0 and 90 degrees, era 1 at 0.
        let f = Tensor::from_slice(&[
            1.0f64, 0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 0.0, // location 0
            1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0, // location 1: all equal
        ])
        .view([2, 4, 2]);
        let a = scores(&f, &[true, false], 2, 0).unwrap();
        let s2 = 2f64.sqrt();
        // Within-era pairs of location 0: (0,1) distance sqrt 2, (2,3) 0 -> d_short = sqrt2 / 2.
        // Across: (0,2) 0, (0,3) 0, (1,2) sqrt2, (1,3) sqrt2 -> d_long = sqrt2 / 2.
        assert!((a.d_long[0] - s2 / 2.0).abs() < 1e-9);
        assert!((a.ratio[0] - (s2 / 2.0) / (s2 / 2.0 + RATIO_EPS)).abs() < 1e-9);
        assert!(a.d_long[1].abs() < 1e-9 && a.ratio[1].abs() < 1e-9);
        // same_era_cos: location 0 (0 + 1) / 2, location 1: 1. Cross: partner of 0 is 1 and of 1 is 0;
        // cos per date for location 0 against 1: 1, 0, 1, 1 -> 0.75; symmetric for 1.
        assert!((a.same_era_cos - 0.75).abs() < 1e-9);
        assert!((a.cross_location_cos - 0.75).abs() < 1e-9);
        assert_eq!(a.era_auroc, 1.0);
        assert!(scores(&f, &[true], 2, 0).is_err());
    }
}
