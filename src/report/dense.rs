//! Writes a downstream task's table with its figures: the tables (`results::dense::DenseTable::write_tables`), a
//! training-loss figure (Plotters, SVG + PNG), and the PNG overlays of predicted maps that the benchmarks draw
//! (change: A | B | B with predicted change in red and the true outline in yellow | error map; segmentation:
//! image | truth | prediction in the dataset's colours).

use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::prelude::*;

use super::figures::{render_both, Figure};
use super::FONT_FAMILY;
use crate::data::dense::Mask;
use crate::data::Image;
use crate::results::dense::{DenseRow, DenseTable};
use crate::results::writer;
use crate::{Error, Result};

/// Writes `tables/<name>.{csv,md,metrics.toml}`, `tables/<name>_per_image.csv` (change detection) and
/// `figures/<name>_loss.{svg,png}` (when any row has epoch losses) under `out_dir`; returns the paths.
pub fn write(table: &DenseTable, out_dir: &Path) -> Result<Vec<PathBuf>> {
    let mut written = table.write_tables(out_dir)?;
    if table.rows.iter().any(|r| !r.epoch_losses.is_empty()) {
        written.extend(render_both(
            &out_dir.join("figures").join(format!("{}_loss", table.name)),
            &LossCurves { table },
        )?);
    }
    Ok(written)
}

/// Mean training loss per epoch, one line per row.
struct LossCurves<'a> {
    table: &'a DenseTable,
}

fn plot_err<E: std::fmt::Display>(e: E) -> Error {
    Error::Report(format!("drawing failed: {e}"))
}

impl Figure for LossCurves<'_> {
    fn size(&self) -> (u32, u32) {
        (800, 500)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()> {
        root.fill(&WHITE).map_err(plot_err)?;
        let finite = |r: &DenseRow| {
            r.epoch_losses
                .iter()
                .copied()
                .filter(|v| v.is_finite())
                .collect::<Vec<_>>()
        };
        let n_epochs = self
            .table
            .rows
            .iter()
            .map(|r| r.epoch_losses.len())
            .max()
            .unwrap_or(1)
            .max(2);
        let max_loss = self.table.rows.iter().flat_map(finite).fold(0.0f64, f64::max).max(1e-6);
        let mut chart = ChartBuilder::on(root)
            .caption(format!("{}: training loss", self.table.title), (FONT_FAMILY, 22))
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(60)
            .build_cartesian_2d(1f64..n_epochs as f64, 0f64..max_loss * 1.05)
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .x_desc("epoch")
            .y_desc("mean loss")
            .label_style((FONT_FAMILY, 14))
            .draw()
            .map_err(plot_err)?;
        for (i, row) in self.table.rows.iter().enumerate() {
            let colour = Palette99::pick(i).to_rgba();
            let points: Vec<(f64, f64)> = row
                .epoch_losses
                .iter()
                .enumerate()
                .filter(|(_, v)| v.is_finite())
                .map(|(e, &v)| (e as f64 + 1.0, v))
                .collect();
            chart
                .draw_series(LineSeries::new(points, colour.stroke_width(2)))
                .map_err(plot_err)?
                .label(format!("{} ({})", row.init, row.encoder))
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
        Ok(())
    }
}

/// Nearest-neighbour scale factor so that the longer side is at most `max_side`.
fn downscale(height: usize, width: usize, max_side: usize) -> (usize, usize) {
    let side = height.max(width);
    if side <= max_side || max_side == 0 {
        return (height, width);
    }
    let f = max_side as f64 / side as f64;
    (
        ((height as f64 * f).round() as usize).max(1),
        ((width as f64 * f).round() as usize).max(1),
    )
}

/// Panels of one size, side by side with a 4 px white gap, each resampled (nearest) to fit `max_side`.
/// `panels[k](row, col)` gives the colour of pixel (row, col) of the full-resolution panel k.
fn strip(height: usize, width: usize, max_side: usize, panels: &[&dyn Fn(usize, usize) -> [u8; 3]]) -> image::RgbImage {
    let (h, w) = downscale(height, width, max_side);
    let gap = 4;
    let total_w = panels.len() * w + (panels.len().saturating_sub(1)) * gap;
    let mut out = image::RgbImage::from_pixel(total_w as u32, h as u32, image::Rgb([255, 255, 255]));
    for (k, panel) in panels.iter().enumerate() {
        let x0 = k * (w + gap);
        for r in 0..h {
            let src_r = (r * height / h).min(height - 1);
            for c in 0..w {
                let src_c = (c * width / w).min(width - 1);
                out.put_pixel((x0 + c) as u32, r as u32, image::Rgb(panel(src_r, src_c)));
            }
        }
    }
    out
}

fn rgb_at(image: &Image, px: usize) -> [u8; 3] {
    let n = image.height * image.width;
    std::array::from_fn(|b| image.data[(b.min(image.n_bands - 1)) * n + px].clamp(0.0, 255.0) as u8)
}

/// A change-detection overlay: A | B | B with predicted change (p > 0.5) in red and the outline of the true change
/// in yellow | error map (true positive white, false positive red, false negative blue, true negative black).
pub fn change_overlay(a: &Image, b: &Image, probability: &[f32], truth: &Mask, max_side: usize) -> image::RgbImage {
    let (h, w) = (b.height, b.width);
    let predicted = |px: usize| probability[px] > 0.5;
    let truth_at = |r: usize, c: usize| truth.data[r * w + c] != 0;
    let outline = |r: usize, c: usize| {
        truth_at(r, c)
            && [(0i64, 1i64), (0, -1), (1, 0), (-1, 0)].iter().any(|(dr, dc)| {
                let (rr, cc) = (r as i64 + dr, c as i64 + dc);
                rr < 0 || cc < 0 || rr >= h as i64 || cc >= w as i64 || !truth_at(rr as usize, cc as usize)
            })
    };
    let show_a = |r: usize, c: usize| rgb_at(a, r * w + c);
    let show_b = |r: usize, c: usize| rgb_at(b, r * w + c);
    let overlay = |r: usize, c: usize| {
        let px = r * w + c;
        if outline(r, c) {
            return [255, 255, 0];
        }
        let [rr, gg, bb] = rgb_at(b, px);
        if predicted(px) {
            [((rr as u16 + 255) / 2) as u8, gg / 2, bb / 2]
        } else {
            [rr, gg, bb]
        }
    };
    let errors = |r: usize, c: usize| match (predicted(r * w + c), truth_at(r, c)) {
        (true, true) => [255, 255, 255],
        (true, false) => [230, 30, 30],
        (false, true) => [40, 90, 255],
        (false, false) => [0, 0, 0],
    };
    strip(h, w, max_side, &[&show_a, &show_b, &overlay, &errors])
}

/// A segmentation overlay: image | true classes | predicted classes, classes in `palette` colours, ignored pixels
/// (`ignore_index` in the truth) black.
pub fn segmentation_overlay(
    image: &Image,
    predicted: &[u8],
    truth: &Mask,
    palette: &[[u8; 3]],
    ignore_index: u8,
    max_side: usize,
) -> image::RgbImage {
    let (h, w) = (image.height, image.width);
    let colour = |v: u8| {
        if v == ignore_index {
            [0, 0, 0]
        } else {
            palette.get(v as usize).copied().unwrap_or([255, 0, 255])
        }
    };
    let show = |r: usize, c: usize| rgb_at(image, r * w + c);
    let true_map = |r: usize, c: usize| colour(truth.data[r * w + c]);
    let predicted_map = |r: usize, c: usize| colour(predicted[r * w + c]);
    strip(h, w, max_side, &[&show, &true_map, &predicted_map])
}

/// Saves an overlay as PNG.
pub fn write_png(path: &Path, overlay: &image::RgbImage) -> Result<()> {
    writer::create_parent(path)?;
    overlay
        .save(path)
        .map_err(|e| Error::Report(format!("cannot write {}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::dense::tests::change_table;

    #[test]
    fn writes_the_tables_and_the_loss_figure() {
        let dir = tempfile::tempdir().unwrap();
        let written = write(&change_table(), dir.path()).unwrap();
        for suffix in [
            "tables/change_fake.csv",
            "tables/change_fake.md",
            "tables/change_fake.metrics.toml",
            "tables/change_fake_per_image.csv",
            "figures/change_fake_loss.svg",
            "figures/change_fake_loss.png",
        ] {
            assert!(written.contains(&dir.path().join(suffix)), "{suffix} not written");
        }
        let png = image::open(dir.path().join("figures/change_fake_loss.png")).unwrap();
        assert_eq!((png.width(), png.height()), (800, 500));
    }

    #[test]
    fn change_overlay_marks_prediction_outline_and_errors() {
        let (h, w) = (10, 10);
        let grey = Image {
            n_bands: 3,
            height: h,
            width: w,
            data: vec![100.0; 3 * h * w],
        };
        // Truth: rows 2..6, cols 2..6; prediction: rows 4..8, cols 4..8.
        let mut truth = Mask {
            height: h,
            width: w,
            data: vec![0; h * w],
        };
        let mut prob = vec![0.0f32; h * w];
        for r in 0..h {
            for c in 0..w {
                truth.data[r * w + c] = ((2..6).contains(&r) && (2..6).contains(&c)) as u8;
                prob[r * w + c] = if (4..8).contains(&r) && (4..8).contains(&c) {
                    0.9
                } else {
                    0.1
                };
            }
        }
        let img = change_overlay(&grey, &grey, &prob, &truth, 512);
        assert_eq!((img.width(), img.height()), (4 * 10 + 3 * 4, 10));
        let panel = |k: u32, r: u32, c: u32| img.get_pixel(k * 14 + c, r).0;
        assert_eq!(panel(0, 0, 0), [100, 100, 100]);
        assert_eq!(panel(2, 2, 2), [255, 255, 0], "truth outline");
        assert_eq!(panel(2, 7, 7), [177, 50, 50], "predicted change in red");
        assert_eq!(panel(2, 0, 0), [100, 100, 100]);
        assert_eq!(panel(3, 5, 5), [255, 255, 255], "true positive");
        assert_eq!(panel(3, 7, 7), [230, 30, 30], "false positive");
        assert_eq!(panel(3, 2, 2), [40, 90, 255], "false negative");
        assert_eq!(panel(3, 0, 0), [0, 0, 0]);
        // Large images are shrunk to fit.
        let big = change_overlay(&grey, &grey, &prob, &truth, 5);
        assert_eq!(big.height(), 5);
    }

    #[test]
    fn segmentation_overlay_uses_the_palette_and_black_for_ignored() {
        let image = Image {
            n_bands: 3,
            height: 1,
            width: 3,
            data: vec![10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0],
        };
        let truth = Mask {
            height: 1,
            width: 3,
            data: vec![0, 1, 255],
        };
        let palette = [[1, 2, 3], [4, 5, 6]];
        let img = segmentation_overlay(&image, &[1, 1, 0], &truth, &palette, 255, 100);
        assert_eq!(img.width(), 3 * 3 + 2 * 4);
        assert_eq!(img.get_pixel(0, 0).0, [10, 40, 70]);
        assert_eq!(img.get_pixel(7, 0).0, [1, 2, 3]);
        assert_eq!(img.get_pixel(9, 0).0, [0, 0, 0]);
        assert_eq!(img.get_pixel(14, 0).0, [4, 5, 6]);
    }
}
