//! Pre-training loss vs step, one line per row of a `PaperTable`, and `LossChart`, the line chart it shares with
//! the dense tasks' training-loss figure (`dense_loss`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::style::{padded, plot_err, render_both, row_colour, text, Figure, FONT_FAMILY, LIGHT_GRID, NOTE_GREY};
use crate::results::paper::PaperTable;
use crate::{Error, Result};

/// Points of the centred moving average that smooths loss curves.
pub const LOSS_SMOOTHING: usize = 10;

/// Loss vs step, one line per row of `table` (mean over its seeds at each step), smoothed by a centred moving
/// average over `LOSS_SMOOTHING` logged points with the raw mean drawn faint. NaN losses are skipped.
pub fn pretrain_loss_curves(table: &PaperTable, stem: &Path) -> Result<Vec<PathBuf>> {
    render_both(stem, &loss_chart(table)?)
}

fn loss_chart(table: &PaperTable) -> Result<LossChart> {
    let mut order: Vec<String> = table.rows.clone();
    for curve in &table.loss_curves {
        if !order.contains(&curve.row) {
            order.push(curve.row.clone());
        }
    }
    let mut lines = Vec::new();
    for (idx, row) in order.iter().enumerate() {
        let curves: Vec<_> = table.loss_curves.iter().filter(|c| &c.row == row).collect();
        let mut by_step: BTreeMap<u64, (f64, usize)> = BTreeMap::new();
        for curve in &curves {
            for (&step, &loss) in curve.steps.iter().zip(&curve.loss) {
                if loss.is_finite() {
                    let e = by_step.entry(step).or_default();
                    e.0 += loss;
                    e.1 += 1;
                }
            }
        }
        if by_step.is_empty() {
            continue;
        }
        let raw: Vec<(f64, f64)> = by_step
            .into_iter()
            .map(|(s, (sum, n))| (s as f64, sum / n as f64))
            .collect();
        let n_seeds = curves.iter().map(|c| c.seed).collect::<BTreeSet<_>>().len();
        let label = if n_seeds > 1 {
            format!("{row} (mean of {n_seeds} seeds)")
        } else {
            row.clone()
        };
        lines.push(LossLine {
            points: moving_average(&raw, LOSS_SMOOTHING),
            faint: Some(raw),
            label,
            colour: row_colour(idx),
        });
    }
    if lines.is_empty() {
        return Err(Error::Report(format!(
            "pretrain loss curves: table '{}' has no finite loss values ({} curves)",
            table.name,
            table.loss_curves.len()
        )));
    }
    let all = lines.iter().flat_map(|l| l.faint.iter().flatten());
    let (x_lo, x_hi, y_lo, y_hi) = all.fold(
        (f64::INFINITY, f64::NEG_INFINITY, f64::INFINITY, f64::NEG_INFINITY),
        |(a, b, c, d), &(x, y)| (a.min(x), b.max(x), c.min(y), d.max(y)),
    );
    let x_range = if x_hi > x_lo {
        (x_lo, x_hi)
    } else {
        (x_lo - 1.0, x_hi + 1.0)
    };
    Ok(LossChart {
        title: format!("{}: pre-training loss", table.title),
        size: (900, 540),
        x_desc: "step",
        y_desc: "pre-training loss",
        y_label_area: 65,
        x_range,
        y_range: padded(y_lo, y_hi, 0.05),
        pretrain_style: true,
        lines,
        note: Some(format!(
            "faint: mean over seeds per step; solid: moving average over {LOSS_SMOOTHING} points"
        )),
    })
}

/// Centred moving average of the y values over `window` points (fewer at the ends).
fn moving_average(points: &[(f64, f64)], window: usize) -> Vec<(f64, f64)> {
    let window = window.max(1);
    let (before, after) = ((window - 1) / 2, window / 2);
    (0..points.len())
        .map(|i| {
            let lo = i.saturating_sub(before);
            let hi = (i + after).min(points.len() - 1);
            let sum: f64 = points[lo..=hi].iter().map(|p| p.1).sum();
            (points[i].0, sum / (hi - lo + 1) as f64)
        })
        .collect()
}

/// One labelled line of a [`LossChart`].
pub(crate) struct LossLine {
    /// The line drawn solid, with the legend entry.
    pub points: Vec<(f64, f64)>,
    /// Drawn faint beneath it (the raw values of a smoothed line).
    pub faint: Option<Vec<(f64, f64)>>,
    pub label: String,
    pub colour: RGBAColor,
}

/// Loss lines on one chart with a legend in the upper right corner.
pub(crate) struct LossChart {
    pub title: String,
    pub size: (u32, u32),
    pub x_desc: &'static str,
    pub y_desc: &'static str,
    pub y_label_area: u32,
    pub x_range: (f64, f64),
    pub y_range: (f64, f64),
    /// Light mesh lines and whole-number x labels (the pre-training figure); Plotters' defaults otherwise.
    pub pretrain_style: bool,
    pub lines: Vec<LossLine>,
    /// Drawn small in the lower right corner.
    pub note: Option<String>,
}

impl Figure for LossChart {
    fn size(&self) -> (u32, u32) {
        self.size
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()> {
        root.fill(&WHITE).map_err(plot_err)?;
        let mut chart = ChartBuilder::on(root)
            .caption(&self.title, (FONT_FAMILY, 22))
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(self.y_label_area)
            .build_cartesian_2d(self.x_range.0..self.x_range.1, self.y_range.0..self.y_range.1)
            .map_err(plot_err)?;
        let whole = |x: &f64| format!("{x:.0}");
        let mut mesh = chart.configure_mesh();
        mesh.x_desc(self.x_desc)
            .y_desc(self.y_desc)
            .label_style((FONT_FAMILY, 14));
        if self.pretrain_style {
            mesh.light_line_style(LIGHT_GRID).x_label_formatter(&whole);
        }
        mesh.draw().map_err(plot_err)?;
        for line in &self.lines {
            let colour = line.colour;
            if let Some(faint) = &line.faint {
                chart
                    .draw_series(LineSeries::new(faint.clone(), colour.mix(0.25).stroke_width(1)))
                    .map_err(plot_err)?;
            }
            chart
                .draw_series(LineSeries::new(line.points.clone(), colour.stroke_width(2)))
                .map_err(plot_err)?
                .label(line.label.clone())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2)));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .label_font((FONT_FAMILY, 14))
            .draw()
            .map_err(plot_err)?;
        if let Some(note) = &self.note {
            let (w, h) = self.size;
            text(
                root,
                note,
                (w as i32 - 20, h as i32 - 8),
                12.0,
                &NOTE_GREY,
                Pos::new(HPos::Right, VPos::Bottom),
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plot::test_support::{check_outputs, table};

    #[test]
    fn loss_curves_render_with_a_legend_of_rows() {
        let dir = tempfile::tempdir().unwrap();
        let t = table();
        let paths = pretrain_loss_curves(&t, &dir.path().join("figs/loss")).unwrap();
        let svg = check_outputs(&paths, (900, 540));
        assert!(svg.contains("CACo R18 (mean of 2 seeds)"), "legend missing");
        assert!(svg.contains("pre-training loss"));
        // The moving average keeps the points' x and averages y.
        let avg = moving_average(&[(0.0, 1.0), (1.0, 3.0), (2.0, 5.0)], 2);
        assert_eq!(avg, vec![(0.0, 2.0), (1.0, 4.0), (2.0, 5.0)]);
        let mut empty = t;
        empty
            .loss_curves
            .iter_mut()
            .for_each(|c| c.loss.iter_mut().for_each(|l| *l = f64::NAN));
        let msg = pretrain_loss_curves(&empty, &dir.path().join("x"))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("pretrain loss curves") && msg.contains("'fake'"), "{msg}");
    }
}
