//! One location of a simulated series through a backbone (issue 17's notebook): the heat map of embedding distances
//! between all its dates, the eras split by a black line, next to the histogram of CACo's change ratio
//! d_long / d_short over the population of locations (truly changed stacked on unchanged) with this location marked.

use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::style::{plot_err, render_both, text, Figure, Key, PanelGrid, CHANGED, FONT_FAMILY, LIGHT_GRID, UNCHANGED};
use crate::{Error, Result};

/// What [`location_distances`] draws.
#[derive(Debug, Clone)]
pub struct LocationDistances {
    pub title: String,
    /// Date labels, one per row of `matrix`.
    pub dates: Vec<String>,
    /// Symmetric distances between the dates' embeddings.
    pub matrix: Vec<Vec<f64>>,
    /// Dates of the older era (the first `dates_per_era`) and of the recent one (the last).
    pub dates_per_era: usize,
    /// This location's d_short, d_long and ratio d_long / (d_short + eps).
    pub d_short: f64,
    pub d_long: f64,
    pub ratio: f64,
    /// Every location's ratio with its truth (changed or not).
    pub population: Vec<(f64, bool)>,
}

/// Writes `<stem>.svg` and `<stem>.png`: the distance heat map (left) and the population's ratio histogram with
/// this location's ratio as a dashed line (right).
pub fn location_distances(view: &LocationDistances, stem: &Path) -> Result<Vec<PathBuf>> {
    let t = view.matrix.len();
    if t == 0 || view.dates.len() != t || view.matrix.iter().any(|r| r.len() != t) {
        return Err(Error::Report(format!(
            "location distances: a square matrix with one date label per row, got {t} rows and {} labels",
            view.dates.len()
        )));
    }
    if view.population.iter().all(|(r, _)| !r.is_finite()) {
        return Err(Error::Report(
            "location distances: no finite ratio in the population".into(),
        ));
    }
    render_both(stem, view)
}

/// A sequential colour map: 0 -> pale yellow, 1 -> dark blue-violet.
fn heat(t: f64) -> RGBColor {
    let stops = [
        (255.0, 255.0, 217.0),
        (65.0, 182.0, 196.0),
        (37.0, 52.0, 148.0),
        (20.0, 10.0, 60.0),
    ];
    let x = t.clamp(0.0, 1.0) * (stops.len() - 1) as f64;
    let i = (x.floor() as usize).min(stops.len() - 2);
    let f = x - i as f64;
    let lerp = |a: f64, b: f64| (a + (b - a) * f).round() as u8;
    let (a, b) = (stops[i], stops[i + 1]);
    RGBColor(lerp(a.0, b.0), lerp(a.1, b.1), lerp(a.2, b.2))
}

impl LocationDistances {
    fn layout(&self) -> PanelGrid<'_> {
        PanelGrid {
            title: &self.title,
            keys: vec![
                (Key::Patch(UNCHANGED.to_rgba()), "truly unchanged locations".into()),
                (Key::Patch(CHANGED.to_rgba()), "truly changed locations".into()),
                (Key::Dashed(BLACK.to_rgba()), "this location".into()),
            ],
            n_panels: 2,
            max_cols: 2,
            panel: (620, 560),
            min_width: 0,
        }
    }

    fn draw_matrix<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<()> {
        let t = self.matrix.len() as i32;
        let (left, top) = (95, 40);
        let (w, h) = area.dim_in_pixel();
        let cell = ((w as i32 - left - 20).min(h as i32 - top - 90) / t).max(1);
        let max = self.matrix.iter().flatten().cloned().fold(0.0f64, f64::max).max(1e-12);
        let centre = Pos::new(HPos::Center, VPos::Center);
        let caption = format!("embedding distance between dates (colours: 0 to {max:.2})");
        text(
            area,
            &caption,
            (left + t * cell / 2, 10),
            15.0,
            &BLACK,
            Pos::new(HPos::Center, VPos::Top),
        )?;
        for (r, row) in self.matrix.iter().enumerate() {
            for (c, &d) in row.iter().enumerate() {
                let (x0, y0) = (left + c as i32 * cell, top + r as i32 * cell);
                let share = d / max;
                area.draw(&Rectangle::new(
                    [(x0, y0), (x0 + cell, y0 + cell)],
                    heat(share).filled(),
                ))
                .map_err(plot_err)?;
                let ink = if share > 0.45 { WHITE } else { BLACK };
                let size = (cell as f64 / 4.0).clamp(7.0, 12.0);
                text(
                    area,
                    &format!("{d:.2}"),
                    (x0 + cell / 2, y0 + cell / 2),
                    size,
                    &ink,
                    centre,
                )?;
            }
            let label_at = (left - 6, top + r as i32 * cell + cell / 2);
            text(
                area,
                &self.dates[r],
                label_at,
                11.0,
                &BLACK,
                Pos::new(HPos::Right, VPos::Center),
            )?;
        }
        for (c, date) in self.dates.iter().enumerate() {
            let at = (left + c as i32 * cell + cell / 2, top + t * cell + 6);
            // Year and month only: the columns are narrow.
            let short = date.get(..7).unwrap_or(date);
            text(area, short, at, 10.0, &BLACK, Pos::new(HPos::Center, VPos::Top))?;
        }
        // The border between the eras.
        let k = self.dates_per_era as i32;
        if k > 0 && k < t {
            let (x, y) = (left + k * cell, top + k * cell);
            let line = BLACK.stroke_width(3);
            area.draw(&PathElement::new(vec![(x, top), (x, top + t * cell)], line))
                .map_err(plot_err)?;
            area.draw(&PathElement::new(vec![(left, y), (left + t * cell, y)], line))
                .map_err(plot_err)?;
        }
        let note = format!(
            "within the eras d_short = {:.3}, across d_long = {:.3}, ratio {:.2}",
            self.d_short, self.d_long, self.ratio
        );
        text(
            area,
            &note,
            (left + t * cell / 2, top + t * cell + 30),
            14.0,
            &BLACK,
            Pos::new(HPos::Center, VPos::Top),
        )
    }

    fn draw_histogram<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<()> {
        let finite: Vec<(f64, bool)> = self.population.iter().copied().filter(|(r, _)| r.is_finite()).collect();
        let lo = finite.iter().map(|v| v.0).fold(f64::INFINITY, f64::min).min(self.ratio);
        let hi = finite
            .iter()
            .map(|v| v.0)
            .fold(f64::NEG_INFINITY, f64::max)
            .max(self.ratio);
        let (lo, hi) = if hi > lo {
            (lo, hi + (hi - lo) * 1e-6)
        } else {
            (lo - 0.5, hi + 0.5)
        };
        let n_bins = ((finite.len() as f64).sqrt() * 2.0).round().clamp(8.0, 30.0) as usize;
        let width = (hi - lo) / n_bins as f64;
        let mut counts = vec![(0u32, 0u32); n_bins];
        for &(r, changed) in &finite {
            let bin = (((r - lo) / width) as usize).min(n_bins - 1);
            if changed {
                counts[bin].1 += 1;
            } else {
                counts[bin].0 += 1;
            }
        }
        let y_top = counts.iter().map(|(a, b)| a + b).max().unwrap_or(1).max(1) as f64 * 1.1;
        let mut chart = ChartBuilder::on(area)
            .caption(
                format!("CACo's ratio over {} locations", finite.len()),
                (FONT_FAMILY, 15),
            )
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(50)
            .build_cartesian_2d(lo..hi, 0f64..y_top)
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .light_line_style(LIGHT_GRID)
            .x_desc("d_long / d_short")
            .y_desc("locations")
            .y_label_formatter(&|v| format!("{v:.0}"))
            .label_style((FONT_FAMILY, 12))
            .axis_desc_style((FONT_FAMILY, 13))
            .draw()
            .map_err(plot_err)?;
        let mut bars = Vec::new();
        for (i, &(unchanged, changed)) in counts.iter().enumerate() {
            let (x0, x1) = (lo + i as f64 * width, lo + (i + 1) as f64 * width);
            let (u, c) = (unchanged as f64, changed as f64);
            bars.push(Rectangle::new([(x0, 0.0), (x1, u)], UNCHANGED.mix(0.85).filled()));
            bars.push(Rectangle::new([(x0, u), (x1, u + c)], CHANGED.mix(0.85).filled()));
        }
        chart.draw_series(bars).map_err(plot_err)?;
        chart
            .draw_series(DashedLineSeries::new(
                vec![(self.ratio, 0.0), (self.ratio, y_top)],
                6,
                4,
                BLACK.stroke_width(2),
            ))
            .map_err(plot_err)?;
        Ok(())
    }
}

impl Figure for LocationDistances {
    fn size(&self) -> (u32, u32) {
        self.layout().size()
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()> {
        let areas = self.layout().draw(root)?;
        self.draw_matrix(&areas[0])?;
        self.draw_histogram(&areas[1])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plot::test_support::check_outputs;

    fn view() -> LocationDistances {
        // Four dates, two per era: the eras differ (distance 1), dates within an era nearly agree (0.1).
        let d = |i: usize, j: usize| {
            if i == j {
                0.0
            } else if (i < 2) == (j < 2) {
                0.1
            } else {
                1.0
            }
        };
        LocationDistances {
            title: "location 000007 (truly changed)".into(),
            dates: ["2017-01-14", "2017-04-08", "2021-02-11", "2021-05-06"]
                .map(String::from)
                .to_vec(),
            matrix: (0..4).map(|i| (0..4).map(|j| d(i, j)).collect()).collect(),
            dates_per_era: 2,
            d_short: 0.1,
            d_long: 1.0,
            ratio: 9.99,
            population: (0..60)
                .map(|i| {
                    if i % 3 == 0 {
                        (8.0 + (i % 5) as f64, true)
                    } else {
                        (1.0 + (i % 4) as f64 * 0.2, false)
                    }
                })
                .collect(),
        }
    }

    #[test]
    fn the_heat_map_is_dark_across_the_eras_and_pale_on_the_diagonal() {
        let dir = tempfile::tempdir().unwrap();
        let v = view();
        let paths = location_distances(&v, &dir.path().join("fig/location")).unwrap();
        let size = v.size();
        let svg = check_outputs(&paths, size);
        assert!(
            svg.contains("d_short = 0.100")
                && svg.contains("ratio 9.99")
                && svg.contains("2021-05")
                && svg.contains("colours: 0 to 1.00"),
            "labels"
        );
        let png = image::open(&paths[1]).unwrap().into_rgb8();
        // Panel 0 starts below the legend; find its cells from the layout's constants.
        let top = size.1 - 560;
        let cell = ((620 - 95 - 20).min(560 - 40 - 90) / 4) as u32;
        let at = |r: u32, c: u32| png.get_pixel(95 + c * cell + 3, top + 40 + r * cell + 3).0;
        let (diagonal, across) = (at(0, 0), at(0, 3));
        assert!(diagonal[0] > 240 && diagonal[2] > 200, "diagonal {diagonal:?}");
        assert!(across[0] < 60 && across[1] < 60, "across the eras {across:?}");
    }

    #[test]
    fn a_ragged_matrix_or_no_finite_ratio_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let mut v = view();
        v.matrix[1].pop();
        let err = location_distances(&v, &dir.path().join("x")).unwrap_err().to_string();
        assert!(err.contains("4 rows and 4 labels"), "{err}");
        let mut v = view();
        v.population = vec![(f64::NAN, true)];
        assert!(location_distances(&v, &dir.path().join("y")).is_err());
    }
}
