//! Metrics of dense and multi-label prediction as plain data (no libtorch): binary change detection (precision,
//! recall, F1 and IoU of the change class at a threshold, METHODS.md "OSCD" / "LEVIR-CD"), multi-class
//! segmentation (per-class IoU and mIoU with an ignore index) and micro mean average precision for multi-label
//! classification (BigEarthNet, sklearn's `average_precision_score(average="micro")`).
//!
//! Conventions: scores are fractions in [0, 1]; a ratio whose denominator is zero is NaN (undefined), never a silent
//! 0 or 1, and tables print it as `-`. Counts are accumulated over every pixel of a split before dividing (the
//! global, not per-image, scores of BIT/ChangeFormer and SeCo's torchmetrics).

use serde::{Deserialize, Serialize};

/// `num / den`, NaN when `den` is 0.
fn ratio(num: u64, den: u64) -> f64 {
    if den == 0 {
        f64::NAN
    } else {
        num as f64 / den as f64
    }
}

/// Pixel counts of a binary (change / no change) prediction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BinaryCounts {
    pub true_pos: u64,
    pub false_pos: u64,
    pub false_neg: u64,
    pub true_neg: u64,
}

/// Scores of the positive (change) class.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BinaryScores {
    /// tp / (tp + fp); NaN when nothing is predicted positive.
    pub precision: f64,
    /// tp / (tp + fn); NaN when the truth has no positive.
    pub recall: f64,
    /// 2 tp / (2 tp + fp + fn); NaN when neither truth nor prediction has a positive.
    pub f1: f64,
    /// tp / (tp + fp + fn); NaN when neither truth nor prediction has a positive.
    pub iou: f64,
    /// (tp + tn) / all pixels.
    pub accuracy: f64,
}

impl BinaryCounts {
    /// Counts from predicted probabilities (positive when `p > threshold`) and a 0/1 truth mask.
    pub fn from_probabilities(probabilities: &[f32], truth: &[u8], threshold: f32) -> Self {
        assert_eq!(
            probabilities.len(),
            truth.len(),
            "prediction and truth differ in length"
        );
        let mut counts = BinaryCounts::default();
        for (&p, &t) in probabilities.iter().zip(truth) {
            counts.add_pixel(p > threshold, t != 0);
        }
        counts
    }

    /// Counts from a predicted and a true 0/1 mask.
    pub fn from_masks(predicted: &[u8], truth: &[u8]) -> Self {
        assert_eq!(predicted.len(), truth.len(), "prediction and truth differ in length");
        let mut counts = BinaryCounts::default();
        for (&p, &t) in predicted.iter().zip(truth) {
            counts.add_pixel(p != 0, t != 0);
        }
        counts
    }

    fn add_pixel(&mut self, predicted: bool, truth: bool) {
        match (predicted, truth) {
            (true, true) => self.true_pos += 1,
            (true, false) => self.false_pos += 1,
            (false, true) => self.false_neg += 1,
            (false, false) => self.true_neg += 1,
        }
    }

    /// Adds another set of counts (e.g. of the next image).
    pub fn add(&mut self, other: &BinaryCounts) {
        self.true_pos += other.true_pos;
        self.false_pos += other.false_pos;
        self.false_neg += other.false_neg;
        self.true_neg += other.true_neg;
    }

    pub fn total(&self) -> u64 {
        self.true_pos + self.false_pos + self.false_neg + self.true_neg
    }

    pub fn scores(&self) -> BinaryScores {
        let (tp, fp, fn_) = (self.true_pos, self.false_pos, self.false_neg);
        BinaryScores {
            precision: ratio(tp, tp + fp),
            recall: ratio(tp, tp + fn_),
            f1: ratio(2 * tp, 2 * tp + fp + fn_),
            iou: ratio(tp, tp + fp + fn_),
            accuracy: ratio(tp + self.true_neg, self.total()),
        }
    }
}

/// Confusion counts of a multi-class segmentation, `counts[truth][predicted]`, pixels whose truth is the ignore
/// index left out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegConfusion {
    pub n_classes: usize,
    pub ignore_index: u8,
    pub counts: Vec<Vec<u64>>,
    /// Pixels skipped because their truth is `ignore_index`.
    pub n_ignored: u64,
}

/// Scores of a segmentation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegScores {
    /// Per class tp / (tp + fp + fn); NaN for a class absent from both prediction and truth.
    pub per_class_iou: Vec<f64>,
    /// Mean of the per-class IoUs that are not NaN.
    pub mean_iou: f64,
    /// Correct / counted pixels (ignored pixels left out).
    pub pixel_accuracy: f64,
}

impl SegConfusion {
    pub fn new(n_classes: usize, ignore_index: u8) -> Self {
        assert!(
            (ignore_index as usize) >= n_classes,
            "ignore index {ignore_index} collides with a class (n_classes {n_classes})"
        );
        SegConfusion {
            n_classes,
            ignore_index,
            counts: vec![vec![0; n_classes]; n_classes],
            n_ignored: 0,
        }
    }

    /// Adds one image (or batch): predicted and true class per pixel. A prediction or truth outside the classes
    /// (other than the ignore index in the truth) is a bug of the caller and panics.
    pub fn add(&mut self, predicted: &[u8], truth: &[u8]) {
        assert_eq!(predicted.len(), truth.len(), "prediction and truth differ in length");
        for (&p, &t) in predicted.iter().zip(truth) {
            if t == self.ignore_index {
                self.n_ignored += 1;
                continue;
            }
            let (p, t) = (p as usize, t as usize);
            assert!(
                p < self.n_classes && t < self.n_classes,
                "class out of range: predicted {p}, truth {t}, n_classes {}",
                self.n_classes
            );
            self.counts[t][p] += 1;
        }
    }

    /// Adds another confusion of the same shape.
    pub fn merge(&mut self, other: &SegConfusion) {
        assert_eq!(self.n_classes, other.n_classes, "confusions of different class counts");
        for (row, other_row) in self.counts.iter_mut().zip(&other.counts) {
            row.iter_mut().zip(other_row).for_each(|(a, b)| *a += b);
        }
        self.n_ignored += other.n_ignored;
    }

    pub fn scores(&self) -> SegScores {
        let n = self.n_classes;
        let per_class_iou: Vec<f64> = (0..n)
            .map(|c| {
                let tp = self.counts[c][c];
                let truth_total: u64 = self.counts[c].iter().sum();
                let predicted_total: u64 = (0..n).map(|t| self.counts[t][c]).sum();
                ratio(tp, truth_total + predicted_total - tp)
            })
            .collect();
        let present: Vec<f64> = per_class_iou.iter().copied().filter(|v| !v.is_nan()).collect();
        let mean_iou = if present.is_empty() {
            f64::NAN
        } else {
            present.iter().sum::<f64>() / present.len() as f64
        };
        let correct: u64 = (0..n).map(|c| self.counts[c][c]).sum();
        let total: u64 = self.counts.iter().flatten().sum();
        SegScores {
            per_class_iou,
            mean_iou,
            pixel_accuracy: ratio(correct, total),
        }
    }
}

/// Average precision of one ranking (sklearn's step-wise definition): `sum_k (R_k - R_{k-1}) P_k` over the
/// distinct score thresholds, highest first; tied scores form one threshold. NaN when `labels` has no positive.
pub fn average_precision(scores: &[f32], labels: &[bool]) -> f64 {
    assert_eq!(scores.len(), labels.len(), "scores and labels differ in length");
    let n_pos = labels.iter().filter(|&&l| l).count();
    if n_pos == 0 {
        return f64::NAN;
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let (mut tp, mut seen, mut ap, mut prev_recall) = (0usize, 0usize, 0.0f64, 0.0f64);
    let mut i = 0;
    while i < order.len() {
        // One threshold: every item tied with order[i].
        let score = scores[order[i]];
        while i < order.len() && scores[order[i]] == score {
            tp += labels[order[i]] as usize;
            seen += 1;
            i += 1;
        }
        let recall = tp as f64 / n_pos as f64;
        let precision = tp as f64 / seen as f64;
        ap += (recall - prev_recall) * precision;
        prev_recall = recall;
    }
    ap
}

/// Micro mean average precision of a multi-label prediction: every (sample, class) pair ranked together.
/// `scores` and `labels` are row-major `[n, n_classes]`; NaN when no label is positive.
pub fn micro_average_precision(scores: &[f32], labels: &[bool], n_classes: usize) -> f64 {
    assert!(
        n_classes > 0 && scores.len().is_multiple_of(n_classes),
        "scores ({}) are not rows of {n_classes} classes",
        scores.len()
    );
    average_precision(scores, labels)
}

/// Per-class average precision of a multi-label prediction (`[n, n_classes]` row-major); NaN for a class with no
/// positive.
pub fn per_class_average_precision(scores: &[f32], labels: &[bool], n_classes: usize) -> Vec<f64> {
    assert_eq!(scores.len(), labels.len(), "scores and labels differ in length");
    (0..n_classes)
        .map(|c| {
            let s: Vec<f32> = scores.iter().skip(c).step_by(n_classes).copied().collect();
            let l: Vec<bool> = labels.iter().skip(c).step_by(n_classes).copied().collect();
            average_precision(&s, &l)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn binary_scores_of_a_hand_computed_case() {
        // truth:      1 1 1 0 0 0 0 1
        // prob:      .9 .6 .2 .7 .1 .5 .4 .51   (positive iff > 0.5: .5 is negative)
        // predicted:  1  1  0  1  0  0  0  1    -> tp 3, fp 1, fn 1, tn 3
        let counts = BinaryCounts::from_probabilities(
            &[0.9, 0.6, 0.2, 0.7, 0.1, 0.5, 0.4, 0.51],
            &[1, 1, 1, 0, 0, 0, 0, 1],
            0.5,
        );
        assert_eq!(
            counts,
            BinaryCounts {
                true_pos: 3,
                false_pos: 1,
                false_neg: 1,
                true_neg: 3
            }
        );
        let s = counts.scores();
        assert!(close(s.precision, 0.75) && close(s.recall, 0.75), "{s:?}");
        assert!(close(s.f1, 0.75), "{s:?}");
        assert!(close(s.iou, 3.0 / 5.0), "{s:?}");
        assert!(close(s.accuracy, 6.0 / 8.0), "{s:?}");
        // F1 = 2PR/(P+R) and IoU = F1/(2-F1) hold for any counts.
        let c = BinaryCounts::from_masks(&[1, 1, 0, 0, 1, 0], &[1, 0, 1, 1, 1, 0]);
        let s = c.scores();
        let f1 = 2.0 * s.precision * s.recall / (s.precision + s.recall);
        assert!(close(s.f1, f1) && close(s.iou, s.f1 / (2.0 - s.f1)), "{s:?}");
    }

    #[test]
    fn binary_edge_cases_without_positives_are_nan_not_zero_or_one() {
        // Nothing changed and nothing predicted: every change-class score is undefined.
        let s = BinaryCounts::from_masks(&[0, 0, 0], &[0, 0, 0]).scores();
        assert!(s.precision.is_nan() && s.recall.is_nan() && s.f1.is_nan() && s.iou.is_nan());
        assert!(close(s.accuracy, 1.0));
        // A model that never predicts change: precision undefined, recall, F1 and IoU 0.
        let s = BinaryCounts::from_masks(&[0, 0, 0], &[1, 0, 1]).scores();
        assert!(s.precision.is_nan(), "{s:?}");
        assert_eq!((s.recall, s.f1, s.iou), (0.0, 0.0, 0.0));
        // False alarms on an unchanged image: recall undefined, precision, F1 and IoU 0.
        let s = BinaryCounts::from_masks(&[1, 0], &[0, 0]).scores();
        assert!(s.recall.is_nan());
        assert_eq!((s.precision, s.f1, s.iou), (0.0, 0.0, 0.0));
        // Empty input.
        assert!(BinaryCounts::default().scores().accuracy.is_nan());
    }

    #[test]
    fn binary_counts_add_up_over_images() {
        let mut total = BinaryCounts::from_masks(&[1, 0], &[1, 1]);
        total.add(&BinaryCounts::from_masks(&[1, 1, 0], &[0, 1, 0]));
        assert_eq!(
            total,
            BinaryCounts {
                true_pos: 2,
                false_pos: 1,
                false_neg: 1,
                true_neg: 1
            }
        );
        assert_eq!(total.total(), 5);
    }

    #[test]
    fn per_class_iou_and_miou_of_a_hand_computed_case() {
        // 3 classes + ignore 255; class 2 absent from truth but predicted once; class 1 never right.
        // truth:      0 0 0 1 1 255 255 0
        // predicted:  0 0 1 0 2   1   2 0
        // counted pixels (truth != 255): t0 p0 x3, t0 p1 x1, t1 p0 x1, t1 p2 x1
        let mut c = SegConfusion::new(3, 255);
        c.add(&[0, 0, 1, 0, 2, 1, 2, 0], &[0, 0, 0, 1, 1, 255, 255, 0]);
        assert_eq!(c.n_ignored, 2);
        assert_eq!(c.counts, vec![vec![3, 1, 0], vec![1, 0, 1], vec![0, 0, 0]]);
        let s = c.scores();
        // class 0: tp 3, truth 4, predicted 4 -> 3 / 5; class 1: 0 / (2 + 1); class 2: 0 / (0 + 1).
        assert!(close(s.per_class_iou[0], 0.6), "{s:?}");
        assert_eq!(s.per_class_iou[1], 0.0);
        assert_eq!(s.per_class_iou[2], 0.0);
        assert!(close(s.mean_iou, 0.2), "{s:?}");
        assert!(close(s.pixel_accuracy, 3.0 / 6.0));
    }

    #[test]
    fn class_absent_from_truth_and_prediction_is_nan_and_left_out_of_the_mean() {
        let mut c = SegConfusion::new(4, 255);
        c.add(&[0, 1, 1, 0], &[0, 1, 0, 0]);
        let s = c.scores();
        assert!(
            close(s.per_class_iou[0], 2.0 / 3.0) && close(s.per_class_iou[1], 0.5),
            "{s:?}"
        );
        assert!(s.per_class_iou[2].is_nan() && s.per_class_iou[3].is_nan());
        assert!(close(s.mean_iou, (2.0 / 3.0 + 0.5) / 2.0), "{s:?}");
        // Only ignored pixels: nothing is defined.
        let mut empty = SegConfusion::new(2, 255);
        empty.add(&[0, 1], &[255, 255]);
        let s = empty.scores();
        assert!(s.mean_iou.is_nan() && s.pixel_accuracy.is_nan());
        // Merging two halves equals adding the whole.
        let mut a = SegConfusion::new(4, 255);
        a.add(&[0, 1], &[0, 1]);
        let mut b = SegConfusion::new(4, 255);
        b.add(&[1, 0], &[0, 0]);
        a.merge(&b);
        assert_eq!(a, c);
    }

    #[test]
    #[should_panic(expected = "class out of range")]
    fn truth_outside_the_classes_panics() {
        SegConfusion::new(2, 255).add(&[0], &[7]);
    }

    #[test]
    fn average_precision_matches_sklearn() {
        // sklearn.metrics.average_precision_score([1, 0, 1, 0], [.9, .8, .7, .6]) == 0.8333333333333333
        assert!(close(
            average_precision(&[0.9, 0.8, 0.7, 0.6], &[true, false, true, false]),
            5.0 / 6.0
        ));
        // Ties form one threshold: average_precision_score([1, 0], [.5, .5]) == 0.5
        assert!(close(average_precision(&[0.5, 0.5], &[true, false]), 0.5));
        // average_precision_score([0, 1, 1], [.3, .2, .1]) == (1/2)(1/2) + (1/2)(2/3) = 0.5833333333333333
        assert!(close(
            average_precision(&[0.3, 0.2, 0.1], &[false, true, true]),
            0.25 + 1.0 / 3.0
        ));
        // A perfect ranking is 1; no positive is undefined.
        assert!(close(average_precision(&[0.1, 0.9], &[false, true]), 1.0));
        assert!(average_precision(&[0.1, 0.9], &[false, false]).is_nan());
    }

    #[test]
    fn micro_map_ranks_all_pairs_together() {
        // 2 samples x 2 classes; sklearn average_precision_score(y, s, average="micro"):
        // y = [[1, 0], [0, 1]], s = [[.9, .8], [.3, .4]] -> ranking .9(1) .8(0) .4(1) .3(0) -> 1/2 + 1/2 * 2/3
        let scores = [0.9, 0.8, 0.3, 0.4];
        let labels = [true, false, false, true];
        assert!(close(micro_average_precision(&scores, &labels, 2), 0.5 + 1.0 / 3.0));
        let per_class = per_class_average_precision(&scores, &labels, 2);
        assert!(close(per_class[0], 1.0) && close(per_class[1], 0.5), "{per_class:?}");
        // A class without positives is NaN per class but does not make the micro score NaN.
        let labels = [true, false, true, false];
        assert!(per_class_average_precision(&scores, &labels, 2)[1].is_nan());
        assert!(!micro_average_precision(&scores, &labels, 2).is_nan());
    }
}
