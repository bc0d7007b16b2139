//! Per-task bars: one panel per metric column of a `PaperTable`, a bar per row at the mean over seeds with the
//! sample standard deviation as error bar, and the published value as a hollow diamond for context.

use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::style::{
    diamond_at, local, plot_err, render_both, row_colour, text, Figure, Key, PanelGrid, FONT_FAMILY, LIGHT_GRID,
};
use crate::results::paper::{mean_std, PaperTable};
use crate::{Error, Result};

/// One panel per metric column of `table`: a bar per row at the mean over seeds with the sample standard deviation
/// as error bar, the published value (other data and backbones) as a hollow diamond where there is one. NaN cells
/// are skipped; a row without values shows "n/a".
pub fn task_bars(table: &PaperTable, stem: &Path) -> Result<Vec<PathBuf>> {
    render_both(stem, &bar_figure(table)?)
}

fn bar_figure(table: &PaperTable) -> Result<BarFigure> {
    if table.rows.is_empty() || table.metrics.is_empty() {
        return Err(Error::Report(format!(
            "task bars: table '{}' has {} rows and {} metric columns; both must be non-empty",
            table.name,
            table.rows.len(),
            table.metrics.len()
        )));
    }
    let mut panels = Vec::new();
    let mut max_seeds = 0;
    for metric in &table.metrics {
        let bars: Vec<Bar> = table
            .rows
            .iter()
            .map(|row| {
                let values: Vec<f64> = table
                    .values(row, &metric.id)
                    .into_iter()
                    .filter(|v| v.is_finite())
                    .collect();
                max_seeds = max_seeds.max(values.len());
                Bar {
                    mean_std: mean_std(&values),
                    n: values.len(),
                    published: table
                        .published_value(row, &metric.id)
                        .map(|p| p.value)
                        .filter(|v| v.is_finite()),
                }
            })
            .collect();
        panels.push((metric.label.clone(), bars));
    }
    if panels
        .iter()
        .all(|(_, bars)| bars.iter().all(|b| b.mean_std.is_none() && b.published.is_none()))
    {
        return Err(Error::Report(format!(
            "task bars: table '{}' has no finite value in any of its {} cells",
            table.name,
            table.cells.len()
        )));
    }
    Ok(BarFigure {
        title: format!("{}: downstream tasks", table.title),
        rows: table.rows.clone(),
        panels,
        max_seeds,
        any_published: !table.published.is_empty(),
    })
}

struct Bar {
    mean_std: Option<(f64, f64)>,
    n: usize,
    published: Option<f64>,
}

struct BarFigure {
    title: String,
    rows: Vec<String>,
    /// (metric label, one bar per row).
    panels: Vec<(String, Vec<Bar>)>,
    max_seeds: usize,
    any_published: bool,
}

impl BarFigure {
    fn layout(&self) -> PanelGrid<'_> {
        let mut keys: Vec<(Key, String)> = self
            .rows
            .iter()
            .enumerate()
            .map(|(i, r)| (Key::Patch(row_colour(i)), r.clone()))
            .collect();
        let spread = if self.max_seeds > 1 {
            format!("mean ± sample std over up to {} seeds", self.max_seeds)
        } else {
            "one seed (no error bar)".to_string()
        };
        keys.push((Key::ErrorBar, spread));
        if self.any_published {
            keys.push((Key::Diamond, "published (other data/backbones)".to_string()));
        }
        PanelGrid {
            title: &self.title,
            keys,
            n_panels: self.panels.len(),
            max_cols: 3,
            panel: (420, 360),
            min_width: 700,
        }
    }
}

impl Figure for BarFigure {
    fn size(&self) -> (u32, u32) {
        self.layout().size()
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()> {
        for ((label, bars), area) in self.panels.iter().zip(self.layout().draw(root)?) {
            let top = bars
                .iter()
                .flat_map(|b| [b.mean_std.map(|(m, s)| m + s), b.published])
                .flatten()
                .fold(0.0f64, f64::max);
            let bottom = bars
                .iter()
                .filter_map(|b| b.mean_std.map(|(m, s)| m - s))
                .fold(0.0f64, f64::min);
            let y_range = (bottom * 1.1, (top * 1.12).max(1.0));
            let n = bars.len() as f64;
            let mut chart = ChartBuilder::on(&area)
                .caption(label, (FONT_FAMILY, 16))
                .margin(10)
                .x_label_area_size(10)
                .y_label_area_size(50)
                .build_cartesian_2d(0f64..n, y_range.0..y_range.1)
                .map_err(plot_err)?;
            chart
                .configure_mesh()
                .light_line_style(LIGHT_GRID)
                .disable_x_mesh()
                .x_labels(0)
                .y_desc("%")
                .label_style((FONT_FAMILY, 12))
                .draw()
                .map_err(plot_err)?;
            for (i, bar) in bars.iter().enumerate() {
                let (x0, x1, xc) = (i as f64 + 0.15, i as f64 + 0.85, i as f64 + 0.5);
                let colour = row_colour(i);
                match bar.mean_std {
                    Some((mean, std)) => {
                        chart
                            .draw_series(std::iter::once(Rectangle::new(
                                [(x0, 0.0), (x1, mean)],
                                colour.filled(),
                            )))
                            .map_err(plot_err)?;
                        if bar.n > 1 {
                            let whisker = |y: f64| {
                                EmptyElement::at((xc, y))
                                    + PathElement::new(vec![(-6, 0), (6, 0)], BLACK.stroke_width(1))
                            };
                            chart
                                .draw_series(std::iter::once(PathElement::new(
                                    vec![(xc, mean - std), (xc, mean + std)],
                                    BLACK.stroke_width(1),
                                )))
                                .map_err(plot_err)?;
                            chart
                                .draw_series([whisker(mean - std), whisker(mean + std)])
                                .map_err(plot_err)?;
                        }
                        let (px, py) = local(&area, chart.backend_coord(&(xc, mean + std)));
                        text(
                            &area,
                            &format!("{mean:.1}"),
                            (px, py - 4),
                            11.0,
                            &BLACK,
                            Pos::new(HPos::Center, VPos::Bottom),
                        )?;
                    }
                    None => {
                        let (px, py) = local(&area, chart.backend_coord(&(xc, 0.0)));
                        text(
                            &area,
                            "n/a",
                            (px, py - 4),
                            11.0,
                            &BLACK,
                            Pos::new(HPos::Center, VPos::Bottom),
                        )?;
                    }
                }
                if let Some(p) = bar.published {
                    area.draw(&diamond_at(local(&area, chart.backend_coord(&(xc, p)))))
                        .map_err(plot_err)?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plot::test_support::{check_outputs, table};

    #[test]
    fn task_bars_show_rows_published_values_and_skip_nan() {
        let dir = tempfile::tempdir().unwrap();
        let t = table();
        let paths = task_bars(&t, &dir.path().join("bars")).unwrap();
        // Two metrics: one row of two panels, at least 700 px wide.
        let figure_size = bar_figure(&t).unwrap().size();
        assert_eq!(figure_size.0, 2 * 420);
        let svg = check_outputs(&paths, figure_size);
        for expected in [
            "SeCo R18",
            "published (other data/backbones)",
            "EuroSAT probe acc.",
            "Change F1",
            "81.0",
        ] {
            assert!(svg.contains(expected), "{expected} missing");
        }
        // Change F1 of CACo: seeds 0 and 2 (seed 1 is NaN) -> 30, 32, mean 31.0.
        assert!(svg.contains("\n31.0\n") && !svg.contains("NaN"), "NaN not skipped");
        let mut empty = t.clone();
        empty.metrics.clear();
        let msg = task_bars(&empty, &dir.path().join("b")).unwrap_err().to_string();
        assert!(msg.contains("task bars") && msg.contains("0 metric columns"), "{msg}");
        let mut all_nan = t;
        all_nan.published.clear();
        all_nan.cells.iter_mut().for_each(|c| c.value = f64::NAN);
        assert!(task_bars(&all_nan, &dir.path().join("b"))
            .unwrap_err()
            .to_string()
            .contains("no finite value"));
    }
}
