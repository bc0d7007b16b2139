//! Metrics as plain data (no libtorch): classification accuracy, per-class accuracy, confusion matrix; retrieval at k.

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

#[cfg(test)]
mod tests {
    use super::*;

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
