//! A 1-D two-component Gaussian mixture fitted as CACo fits its running change ratios after each epoch:
//! scikit-learn's `GaussianMixture(n_components=2)` with its defaults (METHODS.md): k-means initialisation,
//! tol 1e-3 on the change of the mean log-likelihood, reg_covar 1e-6 added to every variance, at most 100 EM
//! iterations, then `predict` (the most probable component). Checked against scikit-learn's labels and means in
//! `tests/golden.rs`.

use serde::{Deserialize, Serialize};

/// Component parameters, sorted so that component 1 has the higher mean.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Gmm2 {
    pub weights: [f64; 2],
    pub means: [f64; 2],
    pub variances: [f64; 2],
    pub iterations: usize,
}

/// scikit-learn's defaults.
pub const TOL: f64 = 1e-3;
pub const REG_COVAR: f64 = 1e-6;
pub const MAX_ITER: usize = 100;

fn log_normal_pdf(x: f64, mean: f64, var: f64) -> f64 {
    -0.5 * ((2.0 * std::f64::consts::PI * var).ln() + (x - mean).powi(2) / var)
}

/// Two-means clustering of sorted 1-D `x` by Lloyd's iterations from the 25th/75th percentiles: a boolean per value,
/// true for the upper cluster. In one dimension the clusters are a split point of the sorted values.
pub fn two_means(x: &[f64]) -> Vec<bool> {
    let n = x.len();
    let mut c = [x[n / 4], x[(3 * n) / 4]];
    if c[0] == c[1] {
        c = [x[0], x[n - 1]];
    }
    let mut upper: Vec<bool> = x.iter().map(|&v| (v - c[1]).abs() < (v - c[0]).abs()).collect();
    for _ in 0..300 {
        let mean = |want: bool| {
            let (sum, count) = x
                .iter()
                .zip(&upper)
                .filter(|(_, &u)| u == want)
                .fold((0.0, 0usize), |(s, k), (v, _)| (s + v, k + 1));
            (count > 0).then(|| sum / count as f64)
        };
        let (Some(m0), Some(m1)) = (mean(false), mean(true)) else {
            break;
        };
        // scikit-learn assigns ties to the first centre.
        let next: Vec<bool> = x.iter().map(|&v| (v - m1).powi(2) < (v - m0).powi(2)).collect();
        if next == upper {
            break;
        }
        upper = next;
    }
    upper
}

impl Gmm2 {
    /// The M step from responsibilities of component 1 (`resp[i]`), with scikit-learn's 10·eps on each count.
    fn m_step(x: &[f64], resp: &[f64]) -> Self {
        let n = x.len() as f64;
        let eps10 = 10.0 * f64::EPSILON;
        let n1 = resp.iter().sum::<f64>() + eps10;
        let n0 = resp.iter().map(|r| 1.0 - r).sum::<f64>() + eps10;
        let m1 = resp.iter().zip(x).map(|(r, v)| r * v).sum::<f64>() / n1;
        let m0 = resp.iter().zip(x).map(|(r, v)| (1.0 - r) * v).sum::<f64>() / n0;
        let v1 = resp.iter().zip(x).map(|(r, v)| r * (v - m1).powi(2)).sum::<f64>() / n1 + REG_COVAR;
        let v0 = resp
            .iter()
            .zip(x)
            .map(|(r, v)| (1.0 - r) * (v - m0).powi(2))
            .sum::<f64>()
            / n0
            + REG_COVAR;
        Gmm2 {
            weights: [n0 / n, n1 / n],
            means: [m0, m1],
            variances: [v0, v1],
            iterations: 0,
        }
    }

    /// log(weight_k · N(x | k)) for both components.
    fn weighted_log_prob(&self, x: f64) -> [f64; 2] {
        [0, 1].map(|k| self.weights[k].ln() + log_normal_pdf(x, self.means[k], self.variances[k]))
    }

    /// The E step: responsibilities of component 1 and the mean log-likelihood.
    fn e_step(&self, x: &[f64], resp: &mut [f64]) -> f64 {
        let mut total = 0.0;
        for (r, &v) in resp.iter_mut().zip(x) {
            let [a, b] = self.weighted_log_prob(v);
            let m = a.max(b);
            let norm = m + ((a - m).exp() + (b - m).exp()).ln();
            *r = (b - norm).exp();
            total += norm;
        }
        total / x.len() as f64
    }

    /// scikit-learn's `GaussianMixture(n_components=2, tol, reg_covar=1e-6, max_iter, init_params="kmeans")` on
    /// the finite values; None with fewer than two. Component 1 is the higher-mean one.
    pub fn fit(values: &[f64], max_iterations: usize, tolerance: f64) -> Option<Self> {
        let mut x: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
        if x.len() < 2 {
            return None;
        }
        x.sort_by(|a, b| a.total_cmp(b));
        let mut upper = two_means(&x);
        if upper.iter().all(|&u| u) || !upper.iter().any(|&u| u) {
            // One cluster is empty (e.g. every value equal): split the sorted values in halves instead.
            upper = (0..x.len()).map(|i| i >= x.len() / 2).collect();
        }
        let init: Vec<f64> = upper.into_iter().map(|u| f64::from(u8::from(u))).collect();
        let mut g = Self::m_step(&x, &init);
        let mut resp = vec![0.0; x.len()];
        let mut lower_bound = f64::NEG_INFINITY;
        for it in 1..=max_iterations {
            let previous = lower_bound;
            lower_bound = g.e_step(&x, &mut resp);
            g = Self::m_step(&x, &resp);
            g.iterations = it;
            if (lower_bound - previous).abs() < tolerance {
                break;
            }
        }
        if g.means[0] > g.means[1] {
            g.weights.swap(0, 1);
            g.means.swap(0, 1);
            g.variances.swap(0, 1);
        }
        Some(g)
    }

    /// [`Self::fit`] with scikit-learn's defaults, as CACo calls it.
    pub fn fit_sklearn(values: &[f64]) -> Option<Self> {
        Self::fit(values, MAX_ITER, TOL)
    }

    /// Posterior probability that `x` belongs to the higher-mean component.
    pub fn p_high(&self, x: f64) -> f64 {
        let [a, b] = self.weighted_log_prob(x);
        1.0 / (1.0 + (a - b).exp())
    }

    /// scikit-learn's `predict`: the argmax of the weighted log-probabilities (ties to component 0).
    pub fn label(&self, x: f64) -> i8 {
        let [a, b] = self.weighted_log_prob(x);
        i8::from(b > a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_distr::{Distribution, Normal};

    #[test]
    fn recovers_two_well_separated_gaussians() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let (a, b) = (Normal::new(1.0, 0.2).unwrap(), Normal::new(3.0, 0.5).unwrap());
        let mut x: Vec<f64> = (0..700).map(|_| a.sample(&mut rng)).collect();
        x.extend((0..300).map(|_| b.sample(&mut rng)));
        let g = Gmm2::fit_sklearn(&x).unwrap();
        assert!(
            (g.means[0] - 1.0).abs() < 0.05 && (g.means[1] - 3.0).abs() < 0.1,
            "{g:?}"
        );
        assert!(
            (g.variances[0].sqrt() - 0.2).abs() < 0.03 && (g.variances[1].sqrt() - 0.5).abs() < 0.06,
            "{g:?}"
        );
        assert!((g.weights[1] - 0.3).abs() < 0.03, "{g:?}");
        assert_eq!((g.label(1.1), g.label(2.9)), (0, 1));
        let wrong = x[..700].iter().filter(|&&v| g.label(v) == 1).count()
            + x[700..].iter().filter(|&&v| g.label(v) == 0).count();
        assert!(wrong < 10, "{wrong} misassigned");
    }

    #[test]
    fn degenerate_inputs() {
        assert!(Gmm2::fit(&[1.0], 10, 1e-6).is_none());
        let g = Gmm2::fit(&[2.0; 10], 10, 1e-6).unwrap();
        assert!(g.means.iter().all(|m| (m - 2.0).abs() < 1e-9));
    }
}
