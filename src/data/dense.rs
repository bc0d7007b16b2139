//! Dense-prediction data shared by change detection and segmentation: label masks, tiling of large images into
//! fixed-size tiles, stitching of per-tile predictions back into a full image (overlaps averaged), and the eight
//! flips/90-degree rotations applied identically to images and masks (METHODS.md "OSCD change detection").

use super::Image;
use crate::{Error, Result};

/// A label mask, row-major `data[row * width + col]`: class indices, or 0/1 for change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mask {
    pub height: usize,
    pub width: usize,
    pub data: Vec<u8>,
}

impl Mask {
    pub fn crop(&self, top: usize, left: usize, height: usize, width: usize) -> Mask {
        assert!(
            top + height <= self.height && left + width <= self.width,
            "crop outside the mask"
        );
        let mut data = Vec::with_capacity(height * width);
        for row in top..top + height {
            data.extend_from_slice(&self.data[row * self.width + left..row * self.width + left + width]);
        }
        Mask { height, width, data }
    }
}

/// An image with its label mask (segmentation) and a name for reports.
#[derive(Debug, Clone)]
pub struct LabelledImage {
    pub name: String,
    pub image: Image,
    pub mask: Mask,
}

/// The `height` x `width` window of `image` at (`top`, `left`), every band.
pub fn crop(image: &Image, top: usize, left: usize, height: usize, width: usize) -> Image {
    assert!(
        top + height <= image.height && left + width <= image.width,
        "crop outside the image"
    );
    let mut data = Vec::with_capacity(image.n_bands * height * width);
    for b in 0..image.n_bands {
        let band = image.band(b);
        for row in top..top + height {
            data.extend_from_slice(&band[row * image.width + left..row * image.width + left + width]);
        }
    }
    Image {
        n_bands: image.n_bands,
        height,
        width,
        data,
    }
}

/// Start offsets of tiles of `tile` px covering `len` px: a regular grid, the last tile aligned to the end (so it
/// may overlap its neighbour). `len <= tile` gives one tile at 0.
pub fn tile_origins(len: usize, tile: usize) -> Vec<usize> {
    assert!(tile > 0, "tile size must be > 0");
    if len <= tile {
        return vec![0];
    }
    let mut origins: Vec<usize> = (0..=len - tile).step_by(tile).collect();
    if origins.last() != Some(&(len - tile)) {
        origins.push(len - tile);
    }
    origins
}

/// Tiles covering an image: every tile has the same size, `min(tile, side)` along each side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TileGrid {
    pub height: usize,
    pub width: usize,
    pub tile_height: usize,
    pub tile_width: usize,
    /// (top, left) of each tile, row by row.
    pub origins: Vec<(usize, usize)>,
}

impl TileGrid {
    pub fn new(height: usize, width: usize, tile: usize) -> Result<Self> {
        if tile == 0 || height == 0 || width == 0 {
            return Err(Error::Config(format!(
                "tiling needs a tile size and an image size > 0, got tile {tile} for {width}x{height}"
            )));
        }
        let rows = tile_origins(height, tile);
        let cols = tile_origins(width, tile);
        let origins = rows.iter().flat_map(|&r| cols.iter().map(move |&c| (r, c))).collect();
        Ok(TileGrid {
            height,
            width,
            tile_height: tile.min(height),
            tile_width: tile.min(width),
            origins,
        })
    }

    pub fn len(&self) -> usize {
        self.origins.len()
    }

    pub fn is_empty(&self) -> bool {
        self.origins.is_empty()
    }
}

/// Accumulates per-tile predictions `[n_channels, tile_h, tile_w]` into a full `[n_channels, height, width]` map,
/// averaging where tiles overlap.
#[derive(Debug, Clone)]
pub struct Stitcher {
    n_channels: usize,
    height: usize,
    width: usize,
    sum: Vec<f32>,
    count: Vec<u32>,
}

impl Stitcher {
    pub fn new(n_channels: usize, height: usize, width: usize) -> Self {
        Stitcher {
            n_channels,
            height,
            width,
            sum: vec![0.0; n_channels * height * width],
            count: vec![0; height * width],
        }
    }

    /// Adds one tile's values (`[n_channels, tile_h, tile_w]`, band-major) at (`top`, `left`).
    pub fn add(&mut self, top: usize, left: usize, tile_h: usize, tile_w: usize, values: &[f32]) {
        assert_eq!(
            values.len(),
            self.n_channels * tile_h * tile_w,
            "tile values of the wrong size"
        );
        assert!(
            top + tile_h <= self.height && left + tile_w <= self.width,
            "tile outside the map"
        );
        let n = self.height * self.width;
        for c in 0..self.n_channels {
            for r in 0..tile_h {
                let src = &values[c * tile_h * tile_w + r * tile_w..][..tile_w];
                let dst = &mut self.sum[c * n + (top + r) * self.width + left..][..tile_w];
                dst.iter_mut().zip(src).for_each(|(d, s)| *d += s);
            }
        }
        for r in 0..tile_h {
            self.count[(top + r) * self.width + left..][..tile_w]
                .iter_mut()
                .for_each(|c| *c += 1);
        }
    }

    /// The averaged map; an error if some pixel was never covered.
    pub fn finish(self) -> Result<Vec<f32>> {
        if let Some(px) = self.count.iter().position(|&c| c == 0) {
            return Err(Error::Config(format!(
                "stitching: pixel ({}, {}) of the {}x{} map is covered by no tile",
                px / self.width,
                px % self.width,
                self.width,
                self.height
            )));
        }
        let n = self.height * self.width;
        let mut out = self.sum;
        for c in 0..self.n_channels {
            for (v, &k) in out[c * n..(c + 1) * n].iter_mut().zip(&self.count) {
                *v /= k as f32;
            }
        }
        Ok(out)
    }
}

/// One of the eight symmetries of the square on a `height` x `width` plane: `k % 4` quarter turns
/// counter-clockwise (`torch.rot90(x, k, (h, w))`), then a left-right flip when `k >= 4`. Returns the plane and its
/// new (height, width).
pub fn dihedral_plane<T: Copy>(src: &[T], height: usize, width: usize, k: u8) -> (Vec<T>, usize, usize) {
    assert_eq!(src.len(), height * width);
    let quarter_turns = k % 4;
    let (h, w) = if quarter_turns % 2 == 1 {
        (width, height)
    } else {
        (height, width)
    };
    let mut out = Vec::with_capacity(src.len());
    for i in 0..h {
        for j in 0..w {
            let j = if k >= 4 { w - 1 - j } else { j };
            let (r, c) = match quarter_turns {
                0 => (i, j),
                1 => (j, width - 1 - i),
                2 => (height - 1 - i, width - 1 - j),
                _ => (height - 1 - j, i),
            };
            out.push(src[r * width + c]);
        }
    }
    (out, h, w)
}

/// [`dihedral_plane`] on every band of an image.
pub fn dihedral_image(image: &Image, k: u8) -> Image {
    let mut data = Vec::with_capacity(image.data.len());
    let (mut h, mut w) = (image.height, image.width);
    for b in 0..image.n_bands {
        let (plane, nh, nw) = dihedral_plane(image.band(b), image.height, image.width, k);
        data.extend(plane);
        (h, w) = (nh, nw);
    }
    Image {
        n_bands: image.n_bands,
        height: h,
        width: w,
        data,
    }
}

/// [`dihedral_plane`] on a mask.
pub fn dihedral_mask(mask: &Mask, k: u8) -> Mask {
    let (data, height, width) = dihedral_plane(&mask.data, mask.height, mask.width, k);
    Mask { height, width, data }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tile_origins_cover_the_side_with_the_last_tile_at_the_end() {
        assert_eq!(tile_origins(256, 256), vec![0]);
        assert_eq!(tile_origins(100, 256), vec![0]);
        assert_eq!(tile_origins(512, 256), vec![0, 256]);
        assert_eq!(tile_origins(600, 256), vec![0, 256, 344]);
        assert_eq!(tile_origins(7, 3), vec![0, 3, 4]);
        let grid = TileGrid::new(5, 300, 256).unwrap();
        assert_eq!((grid.tile_height, grid.tile_width), (5, 256));
        assert_eq!(grid.origins, vec![(0, 0), (0, 44)]);
        assert!(TileGrid::new(5, 5, 0).is_err());
    }

    #[test]
    fn stitching_tiles_of_an_image_gives_the_image_back() {
        // Tile a 2-band 7x9 image into overlapping 4x4 tiles and stitch the crops: identical to the original.
        let image = Image {
            n_bands: 2,
            height: 7,
            width: 9,
            data: (0..2 * 7 * 9).map(|v| v as f32).collect(),
        };
        let grid = TileGrid::new(7, 9, 4).unwrap();
        assert_eq!(grid.len(), 2 * 3);
        let mut stitcher = Stitcher::new(2, 7, 9);
        for &(top, left) in &grid.origins {
            let tile = crop(&image, top, left, grid.tile_height, grid.tile_width);
            stitcher.add(top, left, grid.tile_height, grid.tile_width, &tile.data);
        }
        assert_eq!(stitcher.finish().unwrap(), image.data);
        // Overlaps are averaged: two tiles of 1 and 3 over one pixel give 2.
        let mut s = Stitcher::new(1, 1, 2);
        s.add(0, 0, 1, 1, &[1.0]);
        s.add(0, 0, 1, 2, &[3.0, 5.0]);
        assert_eq!(s.finish().unwrap(), vec![2.0, 5.0]);
        // An uncovered pixel is an error naming it.
        let mut s = Stitcher::new(1, 2, 2);
        s.add(0, 0, 1, 2, &[1.0, 1.0]);
        assert!(s.finish().unwrap_err().to_string().contains("pixel (1, 0)"));
    }

    #[test]
    fn dihedral_transforms_match_torch_rot90_and_flip() {
        // torch.rot90(torch.tensor([[1, 2, 3], [4, 5, 6]]), 1, (0, 1)) == [[3, 6], [2, 5], [1, 4]]
        let src = [1, 2, 3, 4, 5, 6];
        assert_eq!(dihedral_plane(&src, 2, 3, 0), (src.to_vec(), 2, 3));
        assert_eq!(dihedral_plane(&src, 2, 3, 1), (vec![3, 6, 2, 5, 1, 4], 3, 2));
        assert_eq!(dihedral_plane(&src, 2, 3, 2), (vec![6, 5, 4, 3, 2, 1], 2, 3));
        assert_eq!(dihedral_plane(&src, 2, 3, 3), (vec![4, 1, 5, 2, 6, 3], 3, 2));
        // k = 4: the flip alone (torch.flip(x, (1,))).
        assert_eq!(dihedral_plane(&src, 2, 3, 4), (vec![3, 2, 1, 6, 5, 4], 2, 3));
        // The eight transforms are distinct on an asymmetric square.
        let square: Vec<u8> = (0..9).collect();
        let mut all: Vec<Vec<u8>> = (0..8).map(|k| dihedral_plane(&square, 3, 3, k).0).collect();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 8);
    }

    #[test]
    fn image_and_mask_transform_alike() {
        // A mask that marks where band 0 is bright stays aligned with it under every transform.
        let mut image = Image {
            n_bands: 2,
            height: 3,
            width: 4,
            data: vec![0.0; 24],
        };
        let mut mask = Mask {
            height: 3,
            width: 4,
            data: vec![0; 12],
        };
        for px in [1, 6, 7] {
            image.data[px] = 9.0;
            mask.data[px] = 1;
        }
        for k in 0..8 {
            let (ti, tm) = (dihedral_image(&image, k), dihedral_mask(&mask, k));
            assert_eq!((ti.height, ti.width), (tm.height, tm.width));
            let bright: Vec<u8> = ti.band(0).iter().map(|&v| (v > 0.0) as u8).collect();
            assert_eq!(bright, tm.data, "k = {k}");
            assert!(ti.band(1).iter().all(|&v| v == 0.0));
        }
        assert_eq!(mask.crop(1, 2, 2, 2).data, vec![1, 1, 0, 0]);
    }
}
