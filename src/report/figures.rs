//! Figures with Plotters, each written as SVG (for papers) and PNG (for notebooks and READMEs).

use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{register_fonts, FONT_FAMILY};
use crate::results::writer::create_parent;
use crate::{Error, Result};

/// A figure that can draw itself on any Plotters backend.
pub trait Figure {
    /// Size in pixels.
    fn size(&self) -> (u32, u32);
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()>;
}

/// Renders `figure` to `<stem>.svg` and `<stem>.png`; returns both paths.
pub fn render_both(stem: &Path, figure: &impl Figure) -> Result<Vec<PathBuf>> {
    let size = figure.size();
    register_fonts();
    create_parent(stem)?;
    let svg = stem.with_extension("svg");
    let png = stem.with_extension("png");
    {
        let root = SVGBackend::new(&svg, size).into_drawing_area();
        figure.draw(&root)?;
        root.present().map_err(plot_err)?;
    }
    {
        let root = BitMapBackend::new(&png, size).into_drawing_area();
        figure.draw(&root)?;
        root.present().map_err(plot_err)?;
    }
    Ok(vec![svg, png])
}

fn plot_err<E: std::fmt::Display>(e: E) -> Error {
    Error::Report(format!("drawing failed: {e}"))
}

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
        let (confusion, class_names, title) = (self.confusion, self.class_names, self.title);
        let (left, top, bottom, right) = Self::MARGINS;
        let n = confusion.len() as i32;
        let cell = ((Self::SIZE.0 as i32 - left - right).min(Self::SIZE.1 as i32 - top - bottom) / n).max(1);
        root.fill(&WHITE).map_err(plot_err)?;
        let font = |size: f64| (FONT_FAMILY, size).into_font();
        let centre = Pos::new(HPos::Center, VPos::Center);
        let title_style = font(24.0).color(&BLACK).pos(Pos::new(HPos::Center, VPos::Top));
        root.draw(&Text::new(title.to_string(), ((left + n * cell / 2), 15), title_style))
            .map_err(plot_err)?;
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
                root.draw(&Rectangle::new(
                    [(x0, y0), (x0 + cell, y0 + cell)],
                    RGBColor(200, 200, 200),
                ))
                .map_err(plot_err)?;
                let ink = if share > 0.5 { WHITE } else { BLACK };
                let style = font((cell as f64 / 4.0).clamp(8.0, 16.0)).color(&ink).pos(centre);
                root.draw(&Text::new(count.to_string(), (x0 + cell / 2, y0 + cell / 2), style))
                    .map_err(plot_err)?;
            }
            let label_style = font(15.0).color(&BLACK).pos(Pos::new(HPos::Right, VPos::Center));
            let label = format!("{} ({r})", class_names[r]);
            root.draw(&Text::new(
                label,
                (left - 8, top + r as i32 * cell + cell / 2),
                label_style,
            ))
            .map_err(plot_err)?;
        }
        for c in 0..n {
            let style = font(15.0).color(&BLACK).pos(Pos::new(HPos::Center, VPos::Top));
            root.draw(&Text::new(
                c.to_string(),
                (left + c * cell + cell / 2, top + n * cell + 6),
                style,
            ))
            .map_err(plot_err)?;
        }
        let axis = font(17.0).color(&BLACK).pos(Pos::new(HPos::Center, VPos::Top));
        root.draw(&Text::new(
            "predicted class",
            (left + n * cell / 2, top + n * cell + 32),
            axis.clone(),
        ))
        .map_err(plot_err)?;
        root.draw(&Text::new("true class", (left / 2, top - 28), axis))
            .map_err(plot_err)?;
        Ok(())
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
