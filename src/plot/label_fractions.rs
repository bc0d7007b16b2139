//! Score vs fraction of training labels on a log axis: one panel per metric, one line per row, mean over seeds with
//! sample-std error bars.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::prelude::*;

use super::style::{padded, plot_err, render_both, row_colour, Figure, Key, PanelGrid, FONT_FAMILY, LIGHT_GRID};
use crate::results::paper::{mean_std, FractionPoint};
use crate::{Error, Result};

/// Score vs label fraction (log axis), one panel per metric, one line per row (rows in order of first appearance),
/// mean over seeds with sample-std error bars. NaN values and non-positive fractions are skipped.
pub fn label_fraction_curves(points: &[FractionPoint], stem: &Path) -> Result<Vec<PathBuf>> {
    render_both(stem, &fraction_figure(points)?)
}

fn fraction_figure(points: &[FractionPoint]) -> Result<FractionFigure> {
    let usable: Vec<&FractionPoint> = points
        .iter()
        .filter(|p| p.value.is_finite() && p.fraction.is_finite() && p.fraction > 0.0)
        .collect();
    if usable.is_empty() {
        return Err(Error::Report(format!(
            "label fraction curves: no finite point with a positive fraction among {} points",
            points.len()
        )));
    }
    let mut rows: Vec<String> = Vec::new();
    let mut metrics: Vec<String> = Vec::new();
    for p in &usable {
        if !rows.contains(&p.row) {
            rows.push(p.row.clone());
        }
        if !metrics.contains(&p.metric) {
            metrics.push(p.metric.clone());
        }
    }
    let panels = metrics
        .iter()
        .map(|metric| {
            let lines = rows
                .iter()
                .map(|row| {
                    let mut by_fraction: BTreeMap<u64, Vec<f64>> = BTreeMap::new();
                    for p in usable.iter().filter(|p| &p.row == row && &p.metric == metric) {
                        by_fraction.entry(p.fraction.to_bits()).or_default().push(p.value);
                    }
                    let mut line: Vec<(f64, f64, f64)> = by_fraction
                        .into_iter()
                        .filter_map(|(f, v)| mean_std(&v).map(|(m, s)| (f64::from_bits(f), m, s)))
                        .collect();
                    line.sort_by(|a, b| a.0.total_cmp(&b.0));
                    line
                })
                .collect();
            (metric.clone(), lines)
        })
        .collect();
    Ok(FractionFigure { rows, panels })
}

/// One row's curve: (fraction, mean, sample std) sorted by fraction.
type FractionLine = Vec<(f64, f64, f64)>;

struct FractionFigure {
    rows: Vec<String>,
    /// (metric, one line per row).
    panels: Vec<(String, Vec<FractionLine>)>,
}

impl FractionFigure {
    fn layout(&self) -> PanelGrid<'static> {
        let mut keys: Vec<(Key, String)> = self
            .rows
            .iter()
            .enumerate()
            .map(|(i, r)| (Key::Line(row_colour(i)), r.clone()))
            .collect();
        keys.push((Key::ErrorBar, "mean ± sample std over seeds".to_string()));
        PanelGrid {
            title: "Score vs fraction of training labels",
            keys,
            n_panels: self.panels.len(),
            max_cols: 2,
            panel: (520, 400),
            min_width: 700,
        }
    }
}

fn percent_label(fraction: &f64) -> String {
    let p = fraction * 100.0;
    if (p - p.round()).abs() < 1e-6 {
        format!("{p:.0} %")
    } else {
        format!("{p:.1} %")
    }
}

impl Figure for FractionFigure {
    fn size(&self) -> (u32, u32) {
        self.layout().size()
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()> {
        for ((metric, lines), area) in self.panels.iter().zip(self.layout().draw(root)?) {
            let pts = lines.iter().flatten();
            let (f_lo, f_hi) = pts
                .clone()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| (a.min(p.0), b.max(p.0)));
            let (y_lo, y_hi) = pts.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| {
                (a.min(p.1 - p.2), b.max(p.1 + p.2))
            });
            let (y_lo, y_hi) = padded(y_lo, y_hi, 0.08);
            let mut chart = ChartBuilder::on(&area)
                .caption(metric, (FONT_FAMILY, 16))
                .margin(12)
                .x_label_area_size(45)
                .y_label_area_size(55)
                .build_cartesian_2d((f_lo / 1.6..f_hi * 1.6).log_scale(), y_lo..y_hi)
                .map_err(plot_err)?;
            chart
                .configure_mesh()
                .light_line_style(LIGHT_GRID)
                .x_desc("fraction of training labels (log)")
                .y_desc("%")
                .x_label_formatter(&percent_label)
                .label_style((FONT_FAMILY, 12))
                .axis_desc_style((FONT_FAMILY, 13))
                .draw()
                .map_err(plot_err)?;
            for (i, line) in lines.iter().enumerate() {
                let colour = row_colour(i);
                chart
                    .draw_series(LineSeries::new(line.iter().map(|p| (p.0, p.1)), colour.stroke_width(2)))
                    .map_err(plot_err)?;
                chart
                    .draw_series(line.iter().map(|p| Circle::new((p.0, p.1), 4, colour.filled())))
                    .map_err(plot_err)?;
                for &(f, m, s) in line.iter().filter(|p| p.2 > 0.0) {
                    chart
                        .draw_series(std::iter::once(PathElement::new(
                            vec![(f, m - s), (f, m + s)],
                            colour.stroke_width(1),
                        )))
                        .map_err(plot_err)?;
                    let whisker = |y: f64| {
                        EmptyElement::at((f, y)) + PathElement::new(vec![(-5, 0), (5, 0)], colour.stroke_width(1))
                    };
                    chart.draw_series([whisker(m - s), whisker(m + s)]).map_err(plot_err)?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plot::test_support::check_outputs;

    #[test]
    fn label_fraction_curves_on_a_log_axis() {
        let dir = tempfile::tempdir().unwrap();
        let mut points = Vec::new();
        for (r, row) in ["SeCo R18", "CACo R18"].iter().enumerate() {
            for fraction in [0.01, 0.1, 1.0] {
                for seed in 0..3u64 {
                    let value = 50.0 + 10.0 * r as f64 + 30.0 * fraction + seed as f64;
                    points.push(FractionPoint {
                        row: row.to_string(),
                        metric: "eurosat_probe".into(),
                        fraction,
                        seed,
                        value,
                    });
                }
            }
        }
        points.push(FractionPoint {
            row: "CACo R18".into(),
            metric: "eurosat_probe".into(),
            fraction: 0.1,
            seed: 9,
            value: f64::NAN,
        });
        let paths = label_fraction_curves(&points, &dir.path().join("fractions")).unwrap();
        let svg = check_outputs(&paths, fraction_figure(&points).unwrap().size());
        for expected in ["CACo R18", "eurosat_probe", "1 %", "10 %", "100 %"] {
            assert!(svg.contains(expected), "{expected} missing");
        }
        assert_eq!(percent_label(&0.005), "0.5 %");
        let msg = label_fraction_curves(&[], &dir.path().join("f"))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("label fraction curves"), "{msg}");
    }
}
