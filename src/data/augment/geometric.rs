//! The geometric steps: torchvision's RandomResizedCrop box, bilinear crop-and-resize with PyTorch's
//! `align_corners = false` sampling, and the horizontal flip (fused into the resampling by the pipeline).

use rand::Rng;

use super::uniform;
use crate::data::Image;

/// A crop rectangle in pixels: rows `top..top + height`, columns `left..left + width`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CropBox {
    pub top: usize,
    pub left: usize,
    pub height: usize,
    pub width: usize,
}

/// torchvision's `RandomResizedCrop.get_params` for an image of `height x width`: up to 10 attempts drawing an
/// area fraction uniformly from `scale` and an aspect ratio (width / height) log-uniformly from `ratio`, the sides
/// rounded half to even as Python's `round`; the first box that fits is placed uniformly. If none fits, the
/// central crop of the whole image clipped to the ratio range.
pub fn random_crop_box(
    height: usize,
    width: usize,
    scale: (f32, f32),
    ratio: (f32, f32),
    rng: &mut impl Rng,
) -> CropBox {
    let area = (height * width) as f64;
    let (log_lo, log_hi) = (ratio.0.ln(), ratio.1.ln());
    for _ in 0..10 {
        let target_area = area * uniform(rng, scale.0, scale.1) as f64;
        let aspect = uniform(rng, log_lo, log_hi).exp() as f64;
        let crop_w = (target_area * aspect).sqrt().round_ties_even() as usize;
        let crop_h = (target_area / aspect).sqrt().round_ties_even() as usize;
        if 0 < crop_w && crop_w <= width && 0 < crop_h && crop_h <= height {
            let top = rng.random_range(0..=height - crop_h);
            let left = rng.random_range(0..=width - crop_w);
            return CropBox {
                top,
                left,
                height: crop_h,
                width: crop_w,
            };
        }
    }
    // Fallback: central crop, clipped to the ratio range.
    let (min_ratio, max_ratio) = (ratio.0.min(ratio.1) as f64, ratio.0.max(ratio.1) as f64);
    let in_ratio = width as f64 / height as f64;
    let (crop_h, crop_w) = if in_ratio < min_ratio {
        ((width as f64 / min_ratio).round_ties_even() as usize, width)
    } else if in_ratio > max_ratio {
        (height, (height as f64 * max_ratio).round_ties_even() as usize)
    } else {
        (height, width)
    };
    let (crop_h, crop_w) = (crop_h.clamp(1, height.max(1)), crop_w.clamp(1, width.max(1)));
    CropBox {
        top: (height - crop_h) / 2,
        left: (width - crop_w) / 2,
        height: crop_h,
        width: crop_w,
    }
}

/// RandomResizedCrop: a [`random_crop_box`] resampled bilinearly, `[n_bands, h, w]` -> `[n_bands, out_size,
/// out_size]`.
///
/// # Panics
/// If the image has no pixels.
pub fn random_resized_crop(
    image: &Image,
    out_size: usize,
    scale: (f32, f32),
    ratio: (f32, f32),
    rng: &mut impl Rng,
) -> Image {
    let crop = random_crop_box(image.height, image.width, scale, ratio, rng);
    resample(image, crop, out_size, false)
}

/// Crops rows `top..top + height` and columns `left..left + width`, then resizes bilinearly to `[n_bands,
/// out_size, out_size]` with `align_corners = false` semantics (PyTorch's `interpolate`, torchvision's tensor
/// `resize` with `antialias = False`): a downscale samples, it does not average.
///
/// # Panics
/// If the box is empty or does not lie inside the image.
pub fn resized_crop(image: &Image, top: usize, left: usize, height: usize, width: usize, out_size: usize) -> Image {
    resample(
        image,
        CropBox {
            top,
            left,
            height,
            width,
        },
        out_size,
        false,
    )
}

/// Resizes the whole image (aspect ratio not kept) bilinearly: `[n_bands, h, w]` -> `[n_bands, out_size, out_size]`.
///
/// # Panics
/// If the image has no pixels.
pub fn resize(image: &Image, out_size: usize) -> Image {
    resized_crop(image, 0, 0, image.height, image.width, out_size)
}

/// Mirrors left-right: column `c` becomes column `w - 1 - c`. Shape unchanged.
pub fn hflip(image: &Image) -> Image {
    let mut out = image.clone();
    hflip_in_place(&mut out);
    out
}

pub(super) fn hflip_in_place(image: &mut Image) {
    if image.width == 0 {
        return;
    }
    for row in image.data.chunks_exact_mut(image.width) {
        row.reverse();
    }
}

/// The two source indices and the weight of the second for one output pixel along one axis.
#[derive(Debug, Clone, Copy)]
struct Tap {
    idx0: usize,
    idx1: usize,
    frac: f32,
}

/// Bilinear taps for `n_out` outputs over source indices `start..start + len` (PyTorch's
/// `area_pixel_compute_source_index` with `align_corners = false`: `src = (dst + 0.5) * len / n_out - 0.5`, clamped
/// at 0; the second tap repeats the last index at the border).
fn bilinear_taps(start: usize, len: usize, n_out: usize) -> Vec<Tap> {
    let scale = len as f64 / n_out as f64;
    (0..n_out)
        .map(|dst| {
            let src = ((dst as f64 + 0.5) * scale - 0.5).max(0.0);
            let i0 = (src as usize).min(len - 1);
            let i1 = if i0 + 1 < len { i0 + 1 } else { i0 };
            Tap {
                idx0: start + i0,
                idx1: start + i1,
                frac: (src - i0 as f64) as f32,
            }
        })
        .collect()
}

/// Crop + bilinear resize (+ optional horizontal flip, by reversing the column taps) in one pass.
pub(super) fn resample(image: &Image, crop: CropBox, out_size: usize, flip: bool) -> Image {
    let (h, w) = (image.height, image.width);
    assert!(
        crop.height > 0 && crop.width > 0 && crop.top + crop.height <= h && crop.left + crop.width <= w,
        "crop {crop:?} is empty or outside the {h}x{w} image"
    );
    debug_assert_eq!(image.data.len(), image.n_bands * h * w);
    let rows = bilinear_taps(crop.top, crop.height, out_size);
    let mut cols = bilinear_taps(crop.left, crop.width, out_size);
    if flip {
        cols.reverse();
    }
    let n_out = out_size * out_size;
    let mut data = vec![0.0f32; image.n_bands * n_out];
    if n_out == 0 {
        return Image {
            n_bands: image.n_bands,
            height: out_size,
            width: out_size,
            data,
        };
    }
    for (src, dst) in image.data.chunks_exact(h * w).zip(data.chunks_exact_mut(n_out)) {
        for (row_tap, out_row) in rows.iter().zip(dst.chunks_exact_mut(out_size)) {
            let row0 = &src[row_tap.idx0 * w..(row_tap.idx0 + 1) * w];
            let row1 = &src[row_tap.idx1 * w..(row_tap.idx1 + 1) * w];
            let fy = row_tap.frac;
            for (out, col_tap) in out_row.iter_mut().zip(&cols) {
                let (a0, a1) = (row0[col_tap.idx0], row0[col_tap.idx1]);
                let (b0, b1) = (row1[col_tap.idx0], row1[col_tap.idx1]);
                let top = a0 + col_tap.frac * (a1 - a0);
                let bottom = b0 + col_tap.frac * (b1 - b0);
                *out = top + fy * (bottom - top);
            }
        }
    }
    Image {
        n_bands: image.n_bands,
        height: out_size,
        width: out_size,
        data,
    }
}

#[cfg(test)]
mod tests {
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    use super::*;
    use crate::data::augment::test_util::*;

    #[test]
    fn hflip_is_an_involution_and_mirrors_columns() {
        let image = noise(3, 5, 7, 1);
        let flipped = hflip(&image);
        assert_ne!(flipped, image);
        for b in 0..3 {
            for r in 0..5 {
                assert_eq!(at(&flipped, b, r, 6), at(&image, b, r, 0));
                assert_eq!(at(&flipped, b, r, 0), at(&image, b, r, 6));
            }
        }
        assert_eq!(hflip(&flipped), image);
    }

    #[test]
    fn crop_box_lies_inside_and_follows_scale_and_ratio() {
        let mut rng = StdRng::seed_from_u64(3);
        for _ in 0..500 {
            let crop = random_crop_box(64, 48, (0.2, 1.0), (0.75, 4.0 / 3.0), &mut rng);
            assert!(crop.height > 0 && crop.width > 0);
            assert!(crop.top + crop.height <= 64 && crop.left + crop.width <= 48, "{crop:?}");
            let fraction = (crop.height * crop.width) as f32 / (64.0 * 48.0);
            // Rounding the sides moves the area a little beyond the drawn fraction.
            assert!((0.17..=1.0).contains(&fraction), "{crop:?} covers {fraction}");
            let ratio = crop.width as f32 / crop.height as f32;
            assert!((0.65..=1.45).contains(&ratio), "{crop:?} has ratio {ratio}");
        }
    }

    #[test]
    fn crop_box_falls_back_to_the_central_crop_clipped_to_the_ratio() {
        let mut rng = StdRng::seed_from_u64(4);
        // A 10x100 strip cannot hold a square of its full area: torchvision falls back to the central 10x10.
        let crop = random_crop_box(10, 100, (1.0, 1.0), (1.0, 1.0), &mut rng);
        assert_eq!(
            crop,
            CropBox {
                top: 0,
                left: 45,
                height: 10,
                width: 10
            }
        );
        let crop = random_crop_box(100, 10, (1.0, 1.0), (0.5, 2.0), &mut rng);
        assert_eq!((crop.height, crop.width, crop.top, crop.left), (20, 10, 40, 0));
    }

    #[test]
    fn full_resized_crop_is_the_identity_and_constants_stay_constant() {
        let square = noise(13, 20, 20, 5);
        assert!(max_abs_diff(&resized_crop(&square, 0, 0, 20, 20, 20), &square) < 1e-4);
        let constant = image_from(3, 13, 29, |b, _, _| 10.0 * (b + 1) as f32);
        for out_size in [1, 7, 64] {
            let resized = resize(&constant, out_size);
            for (b, band) in resized.data.chunks_exact(out_size * out_size).enumerate() {
                assert!(
                    band.iter().all(|&v| (v - 10.0 * (b + 1) as f32).abs() < 1e-4),
                    "out_size {out_size}"
                );
            }
        }
    }

    #[test]
    fn resized_crop_of_a_gradient_matches_bilinear_by_hand() {
        // value = 100 * row + col
        let image = image_from(1, 10, 16, |_, r, c| (100 * r + c) as f32);
        // Rows 2..6 upscaled x2: src = 0.5 * dst - 0.25, clamped at 0 and at the last row; columns 4..12 kept.
        let out = resized_crop(&image, 2, 4, 4, 8, 8);
        assert_eq!(at(&out, 0, 0, 0), 204.0);
        assert_eq!(at(&out, 0, 0, 7), 211.0);
        assert_eq!(at(&out, 0, 7, 0), 504.0);
        assert_eq!(at(&out, 0, 7, 7), 511.0);
        assert!((at(&out, 0, 1, 0) - 229.0).abs() < 1e-4, "row 2.25 gives 225 + 4");
        // Rows 0..10 to 8: src = 1.25 * dst + 0.125; columns 0..16 halved: src = 2 * dst + 0.5, the mean of two
        // neighbours (no antialiasing).
        let down = resized_crop(&image, 0, 0, 10, 16, 8);
        assert!(
            (at(&down, 0, 0, 0) - (0.5 + 100.0 * 0.125)).abs() < 1e-3,
            "{}",
            at(&down, 0, 0, 0)
        );
        assert!(
            (at(&down, 0, 0, 7) - (14.5 + 100.0 * 0.125)).abs() < 1e-3,
            "{}",
            at(&down, 0, 0, 7)
        );
    }
}
