//! The training loss of a dense downstream table (change detection, segmentation, ...): mean loss per epoch, one line
//! per row, drawn with the pre-training figure's `LossChart`.

use std::path::{Path, PathBuf};

use super::loss_curves::{LossChart, LossLine};
use super::style::{render_both, row_colour};
use crate::results::dense::{DenseRow, DenseTable};
use crate::Result;

/// Mean training loss per epoch, one line per row of `table` (`<init> (<encoder>)`); NaN losses are skipped.
/// Writes `<stem>.svg` and `<stem>.png`.
pub fn dense_loss_curves(table: &DenseTable, stem: &Path) -> Result<Vec<PathBuf>> {
    render_both(stem, &loss_chart(table))
}

fn loss_chart(table: &DenseTable) -> LossChart {
    let finite = |r: &DenseRow| {
        r.epoch_losses
            .iter()
            .copied()
            .filter(|v| v.is_finite())
            .collect::<Vec<_>>()
    };
    let n_epochs = table
        .rows
        .iter()
        .map(|r| r.epoch_losses.len())
        .max()
        .unwrap_or(1)
        .max(2);
    let max_loss = table.rows.iter().flat_map(finite).fold(0.0f64, f64::max).max(1e-6);
    let lines = table
        .rows
        .iter()
        .enumerate()
        .map(|(i, row)| LossLine {
            points: row
                .epoch_losses
                .iter()
                .enumerate()
                .filter(|(_, v)| v.is_finite())
                .map(|(e, &v)| (e as f64 + 1.0, v))
                .collect(),
            faint: None,
            label: format!("{} ({})", row.init, row.encoder),
            colour: row_colour(i),
        })
        .collect();
    LossChart {
        title: format!("{}: training loss", table.title),
        size: (800, 500),
        x_desc: "epoch",
        y_desc: "mean loss",
        y_label_area: 60,
        x_range: (1.0, n_epochs as f64),
        y_range: (0.0, max_loss * 1.05),
        pretrain_style: false,
        lines,
        note: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plot::test_support::check_outputs;
    use crate::results::dense::tests::change_row;
    use crate::results::dense::{DenseResult, DenseTask};

    /// The results tests' change row with these losses and no per-image results.
    fn row(init: &str, epoch_losses: Vec<f64>) -> DenseRow {
        let base = change_row(init, 2);
        let DenseResult::Change { counts, scores, .. } = base.result else {
            unreachable!("change_row is a change-detection row")
        };
        DenseRow {
            recipe: "3 epochs".into(),
            epochs: epoch_losses.len(),
            result: DenseResult::Change {
                counts,
                scores,
                per_image: vec![],
            },
            epoch_losses,
            ..base
        }
    }

    #[test]
    fn one_line_per_row_over_epochs_from_one_skipping_nan() {
        let table = DenseTable {
            name: "change_fake".into(),
            title: "Change detection on fake".into(),
            task: DenseTask::ChangeDetection,
            dataset: "fake".into(),
            classes: vec![],
            notes: vec![],
            rows: vec![
                row("random init", vec![0.9, f64::NAN, 0.5]),
                row("caco", vec![0.6, 0.4]),
            ],
        };
        let chart = loss_chart(&table);
        assert_eq!((chart.x_range, chart.lines.len()), ((1.0, 3.0), 2));
        assert_eq!(chart.lines[0].points, vec![(1.0, 0.9), (3.0, 0.5)]);
        assert!((chart.y_range.1 - 0.9 * 1.05).abs() < 1e-12);
        let dir = tempfile::tempdir().unwrap();
        let svg = check_outputs(
            &dense_loss_curves(&table, &dir.path().join("loss")).unwrap(),
            (800, 500),
        );
        assert!(svg.contains("random init (frozen)") && svg.contains("Change detection on fake: training loss"));
    }
}
