//! Metrics as plain data (no libtorch): classification accuracy, per-class accuracy, confusion matrix; retrieval at
//! k; the area under the ROC curve.

use serde::{Deserialize, Serialize};

/// Metrics of a single-label classifier on one split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Classification {
    /// Fraction of correct predictions.
    pub accuracy: f64,
    /// Per true class, the fraction predicted correctly (NaN for a class with no samples).
    pub per_class_accuracy: Vec<f64>,
    /// `confusion[true][predicted]` counts.
    pub confusion: Vec<Vec<u64>>,
    /// 95 % percentile bootstrap interval of `accuracy` over resamples of the images (1,000, seeded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accuracy_ci: Option<[f64; 2]>,
}

impl Classification {
    /// Computes the metrics from predicted and true class indices (both `< n_classes`).
    pub fn from_predictions(predicted: &[usize], truth: &[usize], n_classes: usize) -> Self {
        assert_eq!(predicted.len(), truth.len(), "predictions and labels differ in length");
        let mut confusion = vec![vec![0u64; n_classes]; n_classes];
        for (&p, &t) in predicted.iter().zip(truth) {
            confusion[t][p] += 1;
        }
        let correct: u64 = (0..n_classes).map(|c| confusion[c][c]).sum();
        let accuracy = if truth.is_empty() {
            f64::NAN
        } else {
            correct as f64 / truth.len() as f64
        };
        let per_class_accuracy = confusion
            .iter()
            .enumerate()
            .map(|(c, row)| {
                let n: u64 = row.iter().sum();
                if n == 0 {
                    f64::NAN
                } else {
                    row[c] as f64 / n as f64
                }
            })
            .collect();
        let correct_flags: Vec<f64> = predicted
            .iter()
            .zip(truth)
            .map(|(p, t)| f64::from(u8::from(p == t)))
            .collect();
        Classification {
            accuracy,
            per_class_accuracy,
            confusion,
            accuracy_ci: super::bootstrap::mean_ci(&correct_flags, 0),
        }
    }
}

/// Retrieval quality at one k: precision averaged over the queries, recall micro (hits summed over the queries /
/// relevant images summed over the queries; see `eval::knn::precision_recall_at_k`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AtK {
    pub k: usize,
    pub precision: f64,
    pub recall: f64,
    /// 95 % percentile bootstrap interval of `precision` over resamples of the queries (1,000, seeded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub precision_ci: Option<[f64; 2]>,
}

/// Area under the ROC curve of `scores` against boolean `truth` (ties count one half); NaN scores are skipped.
pub fn auroc(scores: &[f64], truth: &[bool]) -> f64 {
    let mut pairs: Vec<(f64, bool)> = scores
        .iter()
        .copied()
        .zip(truth.iter().copied())
        .filter(|(s, _)| s.is_finite())
        .collect();
    pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
    let n_pos = pairs.iter().filter(|p| p.1).count() as f64;
    let n_neg = pairs.len() as f64 - n_pos;
    if n_pos == 0.0 || n_neg == 0.0 {
        return f64::NAN;
    }
    // Mann-Whitney U with average ranks for ties.
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < pairs.len() {
        let mut j = i;
        while j < pairs.len() && pairs[j].0 == pairs[i].0 {
            j += 1;
        }
        let avg_rank = (i + j + 1) as f64 / 2.0;
        rank_sum += pairs[i..j].iter().filter(|p| p.1).count() as f64 * avg_rank;
        i = j;
    }
    (rank_sum - n_pos * (n_pos + 1.0) / 2.0) / (n_pos * n_neg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auroc_hand_cases() {
        assert_eq!(auroc(&[0.1, 0.2, 0.8, 0.9], &[false, false, true, true]), 1.0);
        assert_eq!(auroc(&[0.9, 0.8, 0.2, 0.1], &[false, false, true, true]), 0.0);
        assert_eq!(auroc(&[0.5, 0.5], &[false, true]), 0.5);
        // pos {0.4, 0.9}, neg {0.3, 0.6}: pairs (0.4>0.3), (0.4<0.6), (0.9>0.3), (0.9>0.6) -> 3/4.
        assert_eq!(auroc(&[0.4, 0.9, 0.3, 0.6], &[true, true, false, false]), 0.75);
        assert!(auroc(&[0.1], &[true]).is_nan());
    }

    #[test]
    fn auroc_perfect_random_and_ties() {
        assert_eq!(auroc(&[1.0, 2.0, 3.0, 4.0], &[false, false, true, true]), 1.0);
        assert_eq!(auroc(&[1.0, 2.0, 3.0, 4.0], &[true, true, false, false]), 0.0);
        assert_eq!(auroc(&[1.0, 1.0], &[true, false]), 0.5);
        assert!(auroc(&[1.0], &[true]).is_nan());
    }

    #[test]
    fn hand_computed_case() {
        // truth:     0 0 0 1 1 2
        // predicted: 0 1 0 1 1 0
        let m = Classification::from_predictions(&[0, 1, 0, 1, 1, 0], &[0, 0, 0, 1, 1, 2], 4);
        assert!((m.accuracy - 4.0 / 6.0).abs() < 1e-12);
        assert_eq!(m.confusion[0], vec![2, 1, 0, 0]);
        assert_eq!(m.confusion[2], vec![1, 0, 0, 0]);
        assert!((m.per_class_accuracy[0] - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(m.per_class_accuracy[1], 1.0);
        assert_eq!(m.per_class_accuracy[2], 0.0);
        assert!(m.per_class_accuracy[3].is_nan());
    }
}
