//! PNG overlays of predicted maps, full resolution or shrunk to fit (nearest): change detection as A | B | B with
//! predicted change in red and the true outline in yellow | error map; segmentation as image | truth | prediction in
//! the dataset's colours.

use std::path::Path;

use crate::data::dense::Mask;
use crate::data::Image;
use crate::results::writer::create_parent;
use crate::{Error, Result};

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
    create_parent(path)?;
    overlay
        .save(path)
        .map_err(|e| Error::Report(format!("cannot write {}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

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
