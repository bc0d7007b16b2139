//! Image thumbnails for the sample and retrieval grids: an image resampled (nearest) to at most `THUMB_CELLS` cells
//! per side and drawn as blocks of `THUMB_CELL_PX` pixels, the same in both formats: the SVG backend cannot embed
//! bitmaps with the plotters features we build, and a rectangle per source pixel would make multi-megabyte SVGs.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::style::plot_err;
use crate::data::Image;
use crate::{Error, Result};

/// Cells per thumbnail side (the longer side of non-square images).
pub const THUMB_CELLS: usize = 32;
/// Pixels per thumbnail cell.
pub const THUMB_CELL_PX: usize = 3;
/// Pixels per thumbnail side.
pub(crate) const THUMB: i32 = (THUMB_CELLS * THUMB_CELL_PX) as i32;

/// A grid cell: the thumbnail and its caption.
pub(crate) const CELL_W: i32 = 140;
pub(crate) const CELL_H: i32 = THUMB + 34;
/// Top of the first row of cells (below the title) and the margin around the grid.
pub(crate) const GRID_TOP: i32 = 55;
pub(crate) const GRID_MARGIN: i32 = 15;

/// An image resampled (nearest) to at most `THUMB_CELLS` cells per side, aspect kept.
pub(crate) struct Thumb {
    pub height: usize,
    pub width: usize,
    /// Row-major RGB.
    pub rgb: Vec<[u8; 3]>,
}

impl Thumb {
    /// Bands 0, 1, 2 as RGB (values 0-255, clamped; NaN black); images with fewer than three bands grey from band 0.
    pub fn new(image: &Image, figure: &str, what: &str) -> Result<Self> {
        let n = image.height * image.width;
        if n == 0 || image.n_bands == 0 || image.data.len() != image.n_bands * n {
            return Err(Error::Report(format!(
                "{figure}: {what} is not a valid image ({} bands, {} x {}, {} values)",
                image.n_bands,
                image.height,
                image.width,
                image.data.len()
            )));
        }
        let side = image.height.max(image.width) as f64;
        let scale = THUMB_CELLS as f64 / side;
        let height = ((image.height as f64 * scale).round() as usize).max(1);
        let width = ((image.width as f64 * scale).round() as usize).max(1);
        let bands: [usize; 3] = if image.n_bands >= 3 { [0, 1, 2] } else { [0, 0, 0] };
        let mut rgb = Vec::with_capacity(height * width);
        for r in 0..height {
            let src_r = (r * image.height / height).min(image.height - 1);
            for c in 0..width {
                let src_c = (c * image.width / width).min(image.width - 1);
                let px = src_r * image.width + src_c;
                // `as u8` saturates and maps NaN to 0.
                rgb.push(bands.map(|b| image.data[b * n + px].clamp(0.0, 255.0) as u8));
            }
        }
        Ok(Thumb { height, width, rgb })
    }

    /// Draws the thumbnail centred in the `THUMB` x `THUMB` box at `(x, y)`, merging runs of equal colour.
    pub fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>, (x, y): (i32, i32)) -> Result<()> {
        let cell = THUMB_CELL_PX as i32;
        let x0 = x + (THUMB - self.width as i32 * cell) / 2;
        let y0 = y + (THUMB - self.height as i32 * cell) / 2;
        for r in 0..self.height {
            let row = &self.rgb[r * self.width..(r + 1) * self.width];
            let mut c = 0;
            while c < self.width {
                let mut end = c + 1;
                while end < self.width && row[end] == row[c] {
                    end += 1;
                }
                let [red, green, blue] = row[c];
                let top = y0 + r as i32 * cell;
                area.draw(&Rectangle::new(
                    [(x0 + c as i32 * cell, top), (x0 + end as i32 * cell, top + cell)],
                    RGBColor(red, green, blue).filled(),
                ))
                .map_err(plot_err)?;
                c = end;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plot::test_support::image;

    #[test]
    fn thumbnails_resample_any_size_and_draw_single_band_grey() {
        let t = Thumb::new(&image(3, 64, 64, 0), "f", "x").unwrap();
        assert_eq!((t.height, t.width), (THUMB_CELLS, THUMB_CELLS));
        let wide = Thumb::new(&image(13, 10, 200, 0), "f", "x").unwrap();
        assert_eq!((wide.height, wide.width), (2, THUMB_CELLS));
        let grey = Thumb::new(&image(1, 5, 5, 3), "f", "x").unwrap();
        assert_eq!((grey.height, grey.width), (THUMB_CELLS, THUMB_CELLS));
        assert!(grey.rgb.iter().all(|[r, g, b]| r == g && g == b));
        let mut nan = image(3, 2, 2, 0);
        nan.data[0] = f32::NAN;
        nan.data[1] = 1e9;
        let t = Thumb::new(&nan, "f", "x").unwrap();
        assert_eq!(t.rgb[0][0], 0);
        assert_eq!(t.rgb[THUMB_CELLS - 1][0], 255);
        let broken = Image {
            n_bands: 3,
            height: 4,
            width: 4,
            data: vec![0.0; 5],
        };
        let msg = Thumb::new(&broken, "sample grid", "image 7").err().unwrap().to_string();
        assert!(msg.contains("sample grid: image 7 is not a valid image"), "{msg}");
    }
}
