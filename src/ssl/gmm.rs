//! A 1-D two-component Gaussian mixture fitted by EM, as CACo fits its running change ratios after each epoch.

use serde::{Deserialize, Serialize};

/// Component parameters, sorted so that component 1 has the higher mean.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Gmm2 {
    pub weights: [f64; 2],
    pub means: [f64; 2],
    pub variances: [f64; 2],
    pub iterations: usize,
}

fn normal_pdf(x: f64, mean: f64, var: f64) -> f64 {
    (-(x - mean).powi(2) / (2.0 * var)).exp() / (2.0 * std::f64::consts::PI * var).sqrt()
}

impl Gmm2 {
    /// Fits by EM from a quantile initialisation (means at the 25th and 75th percentiles). Needs two values.
    pub fn fit(values: &[f64], max_iterations: usize, tolerance: f64) -> Option<Self> {
        let mut x: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
        if x.len() < 2 {
            return None;
        }
        x.sort_by(|a, b| a.total_cmp(b));
        let n = x.len() as f64;
        let mean = x.iter().sum::<f64>() / n;
        let var = (x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).max(1e-12);
        let floor = var * 1e-6 + 1e-12;
        let mut g = Gmm2 {
            weights: [0.5, 0.5],
            means: [x[x.len() / 4], x[3 * x.len() / 4]],
            variances: [var, var],
            iterations: 0,
        };
        let mut previous = f64::NEG_INFINITY;
        let mut resp = vec![0.0; x.len()];
        for it in 0..max_iterations {
            // E step: responsibility of component 1.
            let mut log_likelihood = 0.0;
            for (r, &v) in resp.iter_mut().zip(&x) {
                let p0 = g.weights[0] * normal_pdf(v, g.means[0], g.variances[0]);
                let p1 = g.weights[1] * normal_pdf(v, g.means[1], g.variances[1]);
                let total = (p0 + p1).max(1e-300);
                *r = p1 / total;
                log_likelihood += total.ln();
            }
            // M step.
            let n1: f64 = resp.iter().sum::<f64>().clamp(1e-9, n - 1e-9);
            let n0 = n - n1;
            let m1 = resp.iter().zip(&x).map(|(r, v)| r * v).sum::<f64>() / n1;
            let m0 = resp.iter().zip(&x).map(|(r, v)| (1.0 - r) * v).sum::<f64>() / n0;
            let v1 = resp.iter().zip(&x).map(|(r, v)| r * (v - m1).powi(2)).sum::<f64>() / n1;
            let v0 = resp
                .iter()
                .zip(&x)
                .map(|(r, v)| (1.0 - r) * (v - m0).powi(2))
                .sum::<f64>()
                / n0;
            g = Gmm2 {
                weights: [n0 / n, n1 / n],
                means: [m0, m1],
                variances: [v0.max(floor), v1.max(floor)],
                iterations: it + 1,
            };
            if (log_likelihood - previous).abs() < tolerance * n {
                break;
            }
            previous = log_likelihood;
        }
        if g.means[0] > g.means[1] {
            g.weights.swap(0, 1);
            g.means.swap(0, 1);
            g.variances.swap(0, 1);
        }
        Some(g)
    }

    /// Posterior probability that `x` belongs to the higher-mean component.
    pub fn p_high(&self, x: f64) -> f64 {
        let p0 = self.weights[0] * normal_pdf(x, self.means[0], self.variances[0]);
        let p1 = self.weights[1] * normal_pdf(x, self.means[1], self.variances[1]);
        p1 / (p0 + p1).max(1e-300)
    }

    /// 1 when `x` is more likely under the higher-mean component, else 0.
    pub fn label(&self, x: f64) -> i8 {
        i8::from(self.p_high(x) > 0.5)
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
        let g = Gmm2::fit(&x, 200, 1e-8).unwrap();
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
