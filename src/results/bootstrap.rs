//! Percentile bootstrap confidence intervals of a test-set metric: the test items (images, image pairs, queries)
//! are resampled with replacement and the metric recomputed on each resample. Plain data, no libtorch.

use rand::{Rng, SeedableRng};

/// Resamples per interval (the table's cells use 1,000).
pub const N_RESAMPLES: usize = 1000;
/// Coverage of the table's intervals.
pub const LEVEL: f64 = 0.95;

/// The `level` percentile interval of `stat` over `n_resamples` resamples of `n` items (indices drawn with
/// replacement, seeded). `stat` gets the drawn indices (length `n`, repeats allowed). `None` when `n == 0` or
/// every resample gives a non-finite value.
pub fn percentile_ci(
    n: usize,
    stat: impl Fn(&[usize]) -> f64,
    n_resamples: usize,
    level: f64,
    seed: u64,
) -> Option<[f64; 2]> {
    if n == 0 || n_resamples == 0 {
        return None;
    }
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut idx = vec![0usize; n];
    let mut values: Vec<f64> = (0..n_resamples)
        .filter_map(|_| {
            idx.iter_mut().for_each(|i| *i = rng.random_range(0..n));
            Some(stat(&idx)).filter(|v| v.is_finite())
        })
        .collect();
    if values.is_empty() {
        return None;
    }
    values.sort_by(|a, b| a.total_cmp(b));
    let q = |p: f64| {
        // Linear interpolation between order statistics (numpy's default percentile).
        let pos = p * (values.len() - 1) as f64;
        let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
        values[lo] + (values[hi] - values[lo]) * (pos - lo as f64)
    };
    let alpha = (1.0 - level) / 2.0;
    Some([q(alpha), q(1.0 - alpha)])
}

/// 95 % interval of a mean of per-item values (accuracy from 0/1 values, P@k from per-query precisions).
pub fn mean_ci(values: &[f64], seed: u64) -> Option<[f64; 2]> {
    percentile_ci(
        values.len(),
        |idx| idx.iter().map(|&i| values[i]).sum::<f64>() / idx.len() as f64,
        N_RESAMPLES,
        LEVEL,
        seed,
    )
}

/// 95 % interval of a ratio of sums, e.g. micro recall = Σ hits / Σ relevant over queries.
pub fn ratio_ci(numerators: &[f64], denominators: &[f64], seed: u64) -> Option<[f64; 2]> {
    assert_eq!(numerators.len(), denominators.len());
    percentile_ci(
        numerators.len(),
        |idx| {
            let num: f64 = idx.iter().map(|&i| numerators[i]).sum();
            let den: f64 = idx.iter().map(|&i| denominators[i]).sum();
            num / den
        },
        N_RESAMPLES,
        LEVEL,
        seed,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interval_of_a_mean_covers_it_and_shrinks_with_n() {
        // 70 % of 100 items correct: the normal approximation gives about ±9 points.
        let small: Vec<f64> = (0..100).map(|i| f64::from(u8::from(i % 10 < 7))).collect();
        let [lo, hi] = mean_ci(&small, 1).unwrap();
        assert!(lo < 0.7 && hi > 0.7, "[{lo}, {hi}]");
        assert!((hi - lo - 0.18).abs() < 0.04, "width {}", hi - lo);
        let large: Vec<f64> = (0..10_000).map(|i| f64::from(u8::from(i % 10 < 7))).collect();
        let [lo2, hi2] = mean_ci(&large, 1).unwrap();
        assert!(hi2 - lo2 < (hi - lo) / 5.0, "{} vs {}", hi2 - lo2, hi - lo);
        // Seeded: the same interval again.
        assert_eq!(mean_ci(&small, 1), Some([lo, hi]));
    }

    #[test]
    fn constant_data_give_a_point_and_empty_data_none() {
        assert_eq!(mean_ci(&[0.5; 20], 3), Some([0.5, 0.5]));
        assert_eq!(mean_ci(&[], 3), None);
        let [lo, hi] = ratio_ci(&[1.0, 2.0, 3.0, 4.0], &[2.0, 4.0, 6.0, 8.0], 0).unwrap();
        assert!((lo - 0.5).abs() < 1e-12 && (hi - 0.5).abs() < 1e-12);
    }
}
