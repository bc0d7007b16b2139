//! A grid of image thumbnails with captions (e.g. two EuroSAT samples per class).

use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::style::{fit_text, plot_err, render_both, text, title, Figure};
use super::thumb::{Thumb, CELL_H, CELL_W, GRID_MARGIN, GRID_TOP, THUMB};
use crate::data::Image;
use crate::{Error, Result};

/// A grid of thumbnails with captions, `n_per_row` per row (e.g. two per class for the ten EuroSAT classes).
pub fn sample_grid(samples: &[(Image, String)], n_per_row: usize, title: &str, stem: &Path) -> Result<Vec<PathBuf>> {
    if samples.is_empty() || n_per_row == 0 {
        return Err(Error::Report(format!(
            "sample grid: needs at least one image and one image per row, got {} images and {n_per_row} per row",
            samples.len()
        )));
    }
    let cells = samples
        .iter()
        .enumerate()
        .map(|(i, (image, class))| {
            Ok((
                Thumb::new(image, "sample grid", &format!("image {i} ({class})"))?,
                class.clone(),
            ))
        })
        .collect::<Result<Vec<_>>>()?;
    render_both(
        stem,
        &SampleGrid {
            title: title.to_string(),
            cells,
            n_per_row,
        },
    )
}

struct SampleGrid {
    title: String,
    cells: Vec<(Thumb, String)>,
    n_per_row: usize,
}

impl Figure for SampleGrid {
    fn size(&self) -> (u32, u32) {
        let n_cols = self.n_per_row.min(self.cells.len()) as i32;
        let n_rows = self.cells.len().div_ceil(self.n_per_row) as i32;
        (
            ((2 * GRID_MARGIN + n_cols * CELL_W) as u32).max(400),
            (GRID_TOP + n_rows * CELL_H + GRID_MARGIN) as u32,
        )
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()> {
        root.fill(&WHITE).map_err(plot_err)?;
        let (w, _) = self.size();
        title(root, &self.title, w)?;
        for (i, (thumb, class)) in self.cells.iter().enumerate() {
            let (r, c) = ((i / self.n_per_row) as i32, (i % self.n_per_row) as i32);
            let (x, y) = (GRID_MARGIN + c * CELL_W, GRID_TOP + r * CELL_H);
            thumb.draw(root, (x + (CELL_W - THUMB) / 2, y))?;
            let (caption, size) = fit_text(root, class, (CELL_W - 6) as u32);
            text(
                root,
                &caption,
                (x + CELL_W / 2, y + THUMB + 6),
                size,
                &BLACK,
                Pos::new(HPos::Center, VPos::Top),
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plot::test_support::{check_outputs, image};

    #[test]
    fn sample_grid_has_captions_and_the_declared_size() {
        let dir = tempfile::tempdir().unwrap();
        let classes = ["AnnualCrop", "HerbaceousVegetation", "SeaLake"];
        let samples: Vec<(Image, String)> = (0..6)
            .map(|i| {
                (
                    image(if i == 5 { 1 } else { 3 }, 64 - i, 64, i),
                    classes[i / 2].to_string(),
                )
            })
            .collect();
        let paths = sample_grid(&samples, 4, "EuroSAT samples", &dir.path().join("samples")).unwrap();
        let figure_size = (
            (2 * GRID_MARGIN + 4 * CELL_W) as u32,
            (GRID_TOP + 2 * CELL_H + GRID_MARGIN) as u32,
        );
        let svg = check_outputs(&paths, figure_size);
        assert!(svg.contains("HerbaceousVegetation") && svg.contains("EuroSAT samples"));
        let msg = sample_grid(&samples, 0, "t", &dir.path().join("s"))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("sample grid"), "{msg}");
        assert!(sample_grid(&[], 2, "t", &dir.path().join("s")).is_err());
    }
}
