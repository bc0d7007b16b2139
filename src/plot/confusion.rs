//! A confusion-matrix heatmap: rows are true classes, columns predictions, colour the row-normalised share, each cell
//! its count.

use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::style::{plot_err, render_both, text, Figure, GRID_GREY};
use crate::{Error, Result};

/// Blues colour map: 0 -> near white, 1 -> dark blue.
fn blues(t: f64) -> RGBColor {
    let t = t.clamp(0.0, 1.0);
    let lerp = |a: f64, b: f64| (a + (b - a) * t).round() as u8;
    RGBColor(lerp(247.0, 8.0), lerp(251.0, 48.0), lerp(255.0, 107.0))
}

/// A confusion-matrix heatmap: rows are true classes, columns predictions, colour is the row-normalised share,
/// each cell shows its count. Writes `<stem>.svg` and `<stem>.png`.
pub fn confusion_matrix(
    confusion: &[Vec<u64>],
    class_names: &[String],
    title: &str,
    stem: &Path,
) -> Result<Vec<PathBuf>> {
    let n = confusion.len();
    if n == 0 || class_names.len() != n || confusion.iter().any(|row| row.len() != n) {
        return Err(Error::Report(format!(
            "confusion matrix must be square with one name per class: {n} rows, {} names",
            class_names.len()
        )));
    }
    render_both(
        stem,
        &ConfusionFigure {
            confusion,
            class_names,
            title,
        },
    )
}

struct ConfusionFigure<'a> {
    confusion: &'a [Vec<u64>],
    class_names: &'a [String],
    title: &'a str,
}

impl ConfusionFigure<'_> {
    const SIZE: (u32, u32) = (960, 820);
    /// Margins: left (class names), top (title), bottom (indices and axis name), right.
    const MARGINS: (i32, i32, i32, i32) = (260, 70, 90, 40);
}

impl Figure for ConfusionFigure<'_> {
    fn size(&self) -> (u32, u32) {
        Self::SIZE
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()> {
        let (confusion, class_names) = (self.confusion, self.class_names);
        let (left, top, bottom, right) = Self::MARGINS;
        let n = confusion.len() as i32;
        let cell = ((Self::SIZE.0 as i32 - left - right).min(Self::SIZE.1 as i32 - top - bottom) / n).max(1);
        root.fill(&WHITE).map_err(plot_err)?;
        let centre = Pos::new(HPos::Center, VPos::Center);
        let below = Pos::new(HPos::Center, VPos::Top);
        text(root, self.title, (left + n * cell / 2, 15), 24.0, &BLACK, below)?;
        for (r, row) in confusion.iter().enumerate() {
            let total: u64 = row.iter().sum();
            for (c, &count) in row.iter().enumerate() {
                let share = if total == 0 { 0.0 } else { count as f64 / total as f64 };
                let (x0, y0) = (left + c as i32 * cell, top + r as i32 * cell);
                root.draw(&Rectangle::new(
                    [(x0, y0), (x0 + cell, y0 + cell)],
                    blues(share).filled(),
                ))
                .map_err(plot_err)?;
                root.draw(&Rectangle::new([(x0, y0), (x0 + cell, y0 + cell)], GRID_GREY))
                    .map_err(plot_err)?;
                let ink = if share > 0.5 { WHITE } else { BLACK };
                let size = (cell as f64 / 4.0).clamp(8.0, 16.0);
                let at = (x0 + cell / 2, y0 + cell / 2);
                text(root, &count.to_string(), at, size, &ink, centre)?;
            }
            let label = format!("{} ({r})", class_names[r]);
            let at = (left - 8, top + r as i32 * cell + cell / 2);
            text(root, &label, at, 15.0, &BLACK, Pos::new(HPos::Right, VPos::Center))?;
        }
        for c in 0..n {
            let at = (left + c * cell + cell / 2, top + n * cell + 6);
            text(root, &c.to_string(), at, 15.0, &BLACK, below)?;
        }
        let axis_at = (left + n * cell / 2, top + n * cell + 32);
        text(root, "predicted class", axis_at, 17.0, &BLACK, below)?;
        text(root, "true class", (left / 2, top - 28), 17.0, &BLACK, below)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confusion_figure_renders_svg_and_png_of_the_stated_size() {
        let dir = tempfile::tempdir().unwrap();
        let names: Vec<String> = ["AnnualCrop", "Forest", "HerbaceousVegetation"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let confusion = vec![vec![50, 3, 0], vec![2, 40, 8], vec![0, 0, 0]];
        let paths = confusion_matrix(&confusion, &names, "test", &dir.path().join("fig/confusion")).unwrap();
        let svg = std::fs::read_to_string(&paths[0]).unwrap();
        assert!(
            svg.starts_with("<svg") && svg.contains("HerbaceousVegetation (2)") && svg.contains("\n40\n"),
            "{svg}"
        );
        let png = image::open(&paths[1]).unwrap().into_rgb8();
        assert_eq!(png.dimensions(), (960, 820));
        // The (0,0) cell (share 50/53) is dark blue, the empty last row is near white, text was drawn somewhere.
        let cell = (960 - 260 - 40).min(820 - 70 - 90) / 3;
        let dark = png.get_pixel(260 + 5, 70 + 5);
        assert!(dark[2] > dark[0] + 60, "{dark:?}");
        let light = png.get_pixel(260 + 5, (70 + 2 * cell + 5) as u32);
        assert!(light[0] > 240, "{light:?}");
        let n_black = png.pixels().filter(|p| p[0] < 40 && p[1] < 40 && p[2] < 40).count();
        assert!(n_black > 500, "labels missing: {n_black} dark pixels");
    }

    #[test]
    fn mismatched_names_are_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = confusion_matrix(&[vec![1, 0], vec![0, 1]], &["a".into()], "t", &dir.path().join("c")).unwrap_err();
        assert!(err.to_string().contains("2 rows, 1 names"));
    }
}
