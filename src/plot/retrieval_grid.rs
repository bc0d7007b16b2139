//! Nearest-neighbour retrieval: per query a row with the query thumbnail, then its neighbours nearest first, framed
//! green when of the query's class and red otherwise.

use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::style::{
    fit_text, plot_err, render_both, text, title, Figure, GRID_GREY, NOTE_GREY, OTHER_CLASS, SAME_CLASS,
};
use super::thumb::{Thumb, CELL_H, CELL_W, GRID_MARGIN, GRID_TOP, THUMB};
use crate::data::Image;
use crate::{Error, Result};

/// One retrieval query: its image and class, then its neighbours (image, class), nearest first.
pub type RetrievalExample = (Image, String, Vec<(Image, String)>);

/// Nearest-neighbour retrieval: per query one row, the query thumbnail (framed grey) then its neighbours nearest
/// first, each framed green when its class equals the query's and red otherwise; captions give the classes.
pub fn retrieval_grid(queries: &[RetrievalExample], title: &str, stem: &Path) -> Result<Vec<PathBuf>> {
    if queries.is_empty() || queries.iter().all(|q| q.2.is_empty()) {
        return Err(Error::Report(format!(
            "retrieval grid: needs at least one query with neighbours, got {} queries",
            queries.len()
        )));
    }
    let mut rows = Vec::with_capacity(queries.len());
    for (q, (image, class, neighbours)) in queries.iter().enumerate() {
        let query = Thumb::new(image, "retrieval grid", &format!("query {q} ({class})"))?;
        let neighbours = neighbours
            .iter()
            .enumerate()
            .map(|(k, (image, n_class))| {
                let what = format!("neighbour {k} of query {q} ({n_class})");
                Ok((
                    Thumb::new(image, "retrieval grid", &what)?,
                    n_class.clone(),
                    n_class == class,
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        rows.push(RetrievalRow {
            query,
            class: class.clone(),
            neighbours,
        });
    }
    render_both(
        stem,
        &RetrievalGrid {
            title: title.to_string(),
            rows,
        },
    )
}

struct RetrievalRow {
    query: Thumb,
    class: String,
    /// (thumbnail, class, same class as the query).
    neighbours: Vec<(Thumb, String, bool)>,
}

struct RetrievalGrid {
    title: String,
    rows: Vec<RetrievalRow>,
}

impl RetrievalGrid {
    const HEADER: i32 = 30;
    /// Extra space between the query column and the neighbours.
    const GAP: i32 = 20;
    const FRAME: i32 = 4;

    fn n_neighbours(&self) -> usize {
        self.rows.iter().map(|r| r.neighbours.len()).max().unwrap_or(0)
    }
}

impl Figure for RetrievalGrid {
    fn size(&self) -> (u32, u32) {
        let n_cols = 1 + self.n_neighbours() as i32;
        let width = 2 * GRID_MARGIN + n_cols * CELL_W + Self::GAP;
        let height = GRID_TOP + Self::HEADER + self.rows.len() as i32 * CELL_H + GRID_MARGIN;
        ((width as u32).max(400), height as u32)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()> {
        root.fill(&WHITE).map_err(plot_err)?;
        let (w, _) = self.size();
        title(root, &self.title, w)?;
        let header = Pos::new(HPos::Center, VPos::Top);
        let column_x = |k: usize| GRID_MARGIN + k as i32 * CELL_W + if k > 0 { Self::GAP } else { 0 };
        text(
            root,
            "query",
            (column_x(0) + CELL_W / 2, GRID_TOP),
            14.0,
            &NOTE_GREY,
            header,
        )?;
        for k in 0..self.n_neighbours() {
            let label = format!("neighbour {}", k + 1);
            text(
                root,
                &label,
                (column_x(k + 1) + CELL_W / 2, GRID_TOP),
                14.0,
                &NOTE_GREY,
                header,
            )?;
        }
        let top = GRID_TOP + Self::HEADER;
        let f = Self::FRAME;
        for (r, row) in self.rows.iter().enumerate() {
            let y = top + r as i32 * CELL_H;
            let cells = std::iter::once((&row.query, &row.class, None))
                .chain(row.neighbours.iter().map(|(t, c, same)| (t, c, Some(*same))));
            for (k, (thumb, class, same)) in cells.enumerate() {
                let x = column_x(k) + (CELL_W - THUMB) / 2;
                let frame = match same {
                    None => GRID_GREY,
                    Some(true) => SAME_CLASS,
                    Some(false) => OTHER_CLASS,
                };
                root.draw(&Rectangle::new(
                    [(x - f, y - f + 4), (x + THUMB + f, y + THUMB + f + 4)],
                    frame.filled(),
                ))
                .map_err(plot_err)?;
                root.draw(&Rectangle::new(
                    [(x, y + 4), (x + THUMB, y + THUMB + 4)],
                    WHITE.filled(),
                ))
                .map_err(plot_err)?;
                thumb.draw(root, (x, y + 4))?;
                let (caption, size) = fit_text(root, class, (CELL_W - 6) as u32);
                let ink = match same {
                    Some(false) => OTHER_CLASS,
                    _ => BLACK,
                };
                let at = (column_x(k) + CELL_W / 2, y + THUMB + f + 8);
                text(root, &caption, at, size, &ink, Pos::new(HPos::Center, VPos::Top))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plot::test_support::{check_outputs, image};

    #[test]
    fn retrieval_grid_frames_same_class_green_and_others_red() {
        let dir = tempfile::tempdir().unwrap();
        let queries: Vec<RetrievalExample> = vec![
            (
                image(3, 64, 64, 1),
                "Forest".into(),
                vec![
                    (image(3, 64, 64, 2), "Forest".into()),
                    (image(3, 32, 32, 3), "Pasture".into()),
                    (image(1, 64, 64, 4), "Forest".into()),
                ],
            ),
            (
                image(3, 64, 64, 5),
                "River".into(),
                vec![(image(3, 64, 64, 6), "Highway".into())],
            ),
        ];
        let stem = dir.path().join("retrieval");
        let paths = retrieval_grid(&queries, "Retrieval: CACo R18", &stem).unwrap();
        let width = 2 * GRID_MARGIN + 4 * CELL_W + RetrievalGrid::GAP;
        let height = GRID_TOP + RetrievalGrid::HEADER + 2 * CELL_H + GRID_MARGIN;
        let svg = check_outputs(&paths, (width as u32, height as u32));
        assert!(svg.contains("Pasture") && svg.contains("neighbour 3") && svg.contains("Retrieval: CACo R18"));
        // Frames: left edge of neighbour 1 (same class) green, neighbour 2 (other class) red.
        let png = image::open(&paths[1]).unwrap().into_rgb8();
        let frame_at = |k: i32| {
            let x = GRID_MARGIN + k * CELL_W + RetrievalGrid::GAP + (CELL_W - THUMB) / 2 - 2;
            let y = GRID_TOP + RetrievalGrid::HEADER + 4 + THUMB / 2;
            png.get_pixel(x as u32, y as u32).0
        };
        assert_eq!(frame_at(1), [SAME_CLASS.0, SAME_CLASS.1, SAME_CLASS.2]);
        assert_eq!(frame_at(2), [OTHER_CLASS.0, OTHER_CLASS.1, OTHER_CLASS.2]);
        let msg = retrieval_grid(&[], "t", &stem).unwrap_err().to_string();
        assert!(msg.contains("retrieval grid"), "{msg}");
    }
}
