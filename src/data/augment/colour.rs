//! The photometric steps: torchvision's ColorJitter (brightness, contrast, saturation, hue in a random order) and
//! RandomGrayscale, for any band count (R, G, B luminance weights for 3 bands, the band mean otherwise).

use rand::seq::SliceRandom;
use rand::Rng;

use super::{clamp, uniform, RGB_LUMA_WEIGHTS};
use crate::data::Image;

/// The four ColorJitter operations, indices as in torchvision's `fn_idx`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JitterOp {
    Brightness,
    Contrast,
    Saturation,
    Hue,
}

/// Drawn ColorJitter factors and their order (torchvision's `ColorJitter.get_params`). `None` means the op is off
/// (strength 0), as torchvision does; a factor of 1 (hue 0) is the identity up to clamping.
#[derive(Debug, Clone, PartialEq)]
pub struct JitterParams {
    pub order: [JitterOp; 4],
    pub brightness: Option<f32>,
    pub contrast: Option<f32>,
    pub saturation: Option<f32>,
    /// Hue shift in turns, in [-0.5, 0.5].
    pub hue: Option<f32>,
}

impl JitterParams {
    /// Random order (a permutation of the four ops), then factors from [max(0, 1 - x), 1 + x] for brightness,
    /// contrast and saturation and a shift from [-hue, hue]; a strength of 0 draws nothing.
    pub fn sample(brightness: f32, contrast: f32, saturation: f32, hue: f32, rng: &mut impl Rng) -> Self {
        let mut order = [
            JitterOp::Brightness,
            JitterOp::Contrast,
            JitterOp::Saturation,
            JitterOp::Hue,
        ];
        order.shuffle(rng);
        let mut factor = |x: f32| (x > 0.0).then(|| uniform(rng, (1.0 - x).max(0.0), 1.0 + x));
        let brightness = factor(brightness);
        let contrast = factor(contrast);
        let saturation = factor(saturation);
        let hue = (hue > 0.0).then(|| uniform(rng, -hue, hue));
        JitterParams {
            order,
            brightness,
            contrast,
            saturation,
            hue,
        }
    }
}

/// ColorJitter with random factors ([`JitterParams::sample`]), shape unchanged. Brightness multiplies; contrast
/// blends with the mean luminance of the image; saturation blends with the per-pixel luminance; hue rotates the
/// hue in HSV (3-band R, G, B images only, skipped for other band counts). Each op clamps to `value_range`.
pub fn color_jitter(
    image: &Image,
    brightness: f32,
    contrast: f32,
    saturation: f32,
    hue: f32,
    value_range: (f32, f32),
    rng: &mut impl Rng,
) -> Image {
    let params = JitterParams::sample(brightness, contrast, saturation, hue, rng);
    apply_color_jitter(image, &params, value_range)
}

/// ColorJitter with given factors (see [`color_jitter`]), shape unchanged.
pub fn apply_color_jitter(image: &Image, params: &JitterParams, value_range: (f32, f32)) -> Image {
    let mut out = image.clone();
    jitter_in_place(&mut out, params, value_range);
    out
}

pub(super) fn jitter_in_place(image: &mut Image, params: &JitterParams, (lo, hi): (f32, f32)) {
    let mut gray = Vec::new();
    for op in params.order {
        match op {
            JitterOp::Brightness => {
                if let Some(f) = params.brightness {
                    image.data.iter_mut().for_each(|x| *x = clamp(f * *x, lo, hi));
                }
            }
            JitterOp::Contrast => {
                if let Some(f) = params.contrast {
                    let mean = mean_luminance(image);
                    let offset = (1.0 - f) * mean;
                    image.data.iter_mut().for_each(|x| *x = clamp(f * *x + offset, lo, hi));
                }
            }
            JitterOp::Saturation => {
                if let Some(f) = params.saturation {
                    luminance_into(image, &mut gray);
                    let n_pixels = gray.len();
                    if n_pixels == 0 {
                        continue;
                    }
                    for band in image.data.chunks_exact_mut(n_pixels) {
                        for (x, g) in band.iter_mut().zip(&gray) {
                            *x = clamp(f * *x + (1.0 - f) * g, lo, hi);
                        }
                    }
                }
            }
            JitterOp::Hue => {
                if let Some(shift) = params.hue {
                    if image.n_bands == 3 {
                        rotate_hue_in_place(image, shift, lo, hi);
                    }
                }
            }
        }
    }
}

/// Weight of band `band_idx` in the luminance of an `n_bands` image.
fn luminance_weight(n_bands: usize, band_idx: usize) -> f32 {
    if n_bands == 3 {
        RGB_LUMA_WEIGHTS[band_idx]
    } else {
        1.0 / n_bands as f32
    }
}

/// Per-pixel luminance `[h * w]` into `out`.
fn luminance_into(image: &Image, out: &mut Vec<f32>) {
    let n_pixels = image.height * image.width;
    out.clear();
    out.resize(n_pixels, 0.0);
    if n_pixels == 0 {
        return;
    }
    for (band_idx, band) in image.data.chunks_exact(n_pixels).enumerate() {
        let weight = luminance_weight(image.n_bands, band_idx);
        for (o, x) in out.iter_mut().zip(band) {
            *o += weight * x;
        }
    }
}

/// Mean of the luminance over all pixels (torchvision's contrast reference), accumulated in f64.
fn mean_luminance(image: &Image) -> f32 {
    let n_pixels = image.height * image.width;
    if n_pixels == 0 {
        return 0.0;
    }
    // Rows are summed in f32 (short), rows and bands in f64.
    let row_len = image.width.max(1);
    let total: f64 = image
        .data
        .chunks_exact(n_pixels)
        .enumerate()
        .map(|(band_idx, band)| {
            let band_sum: f64 = band.chunks(row_len).map(|row| row.iter().sum::<f32>() as f64).sum();
            luminance_weight(image.n_bands, band_idx) as f64 * band_sum
        })
        .sum();
    (total / n_pixels as f64) as f32
}

/// torchvision's `adjust_hue` on bands R, G, B: to [0, 1] through `value_range`, RGB -> HSV, h += shift (mod 1),
/// HSV -> RGB, back to `value_range`.
fn rotate_hue_in_place(image: &mut Image, shift: f32, lo: f32, hi: f32) {
    let n_pixels = image.height * image.width;
    let span = hi - lo;
    if n_pixels == 0 || span.is_nan() || span <= 0.0 {
        return;
    }
    let (red, rest) = image.data.split_at_mut(n_pixels);
    let (green, blue) = rest.split_at_mut(n_pixels);
    let inv_span = 1.0 / span;
    let norm = |x: f32| clamp((x - lo) * inv_span, 0.0, 1.0);
    // The shift in sixths of a turn, wrapped into [0, 6).
    let shift6 = 6.0 * (shift - shift.floor());
    for ((r, g), b) in red.iter_mut().zip(green.iter_mut()).zip(blue.iter_mut()) {
        let (nr, ng, nb) = rotate_hue(norm(*r), norm(*g), norm(*b), shift6);
        *r = clamp(nr * span + lo, lo, hi);
        *g = clamp(ng * span + lo, lo, hi);
        *b = clamp(nb * span + lo, lo, hi);
    }
}

/// Hue rotation of one RGB pixel in [0, 1] by `shift6` sixths of a turn in [0, 6): torchvision's `_rgb2hsv`, then
/// `_hsv2rgb` written without branches (channel n of (R, G, B) = (5, 3, 1) is `v - v s clamp(min(k, 4 - k), 0, 1)`
/// with `k = (n + hue6) mod 6`, the same piecewise-linear function as the six-sector table).
#[inline]
fn rotate_hue(r: f32, g: f32, b: f32, shift6: f32) -> (f32, f32, f32) {
    let max_c = r.max(g).max(b);
    let min_c = r.min(g).min(b);
    let chroma = max_c - min_c;
    // Gray pixels (chroma 0) get saturation 0 and come back unchanged, whatever their hue.
    let sat = if max_c > 0.0 { chroma / max_c } else { 0.0 };
    let inv_chroma = if chroma > 0.0 { 1.0 / chroma } else { 0.0 };
    let (rc, gc, bc) = (
        (max_c - r) * inv_chroma,
        (max_c - g) * inv_chroma,
        (max_c - b) * inv_chroma,
    );
    // Hue in sixths of a turn: [-1, 1] when red is the largest, [1, 3] green, [3, 5] blue.
    let h6 = if max_c == r {
        bc - gc
    } else if max_c == g {
        2.0 + rc - bc
    } else {
        4.0 + gc - rc
    };
    let hue6 = if h6 < 0.0 { h6 + 6.0 } else { h6 } + shift6;
    let v = max_c;
    let vs = v * sat;
    let channel = |n: f32| {
        let k = n + hue6;
        let k = if k >= 6.0 { k - 6.0 } else { k };
        let k = if k >= 6.0 { k - 6.0 } else { k };
        clamp(v - vs * clamp(k.min(4.0 - k), 0.0, 1.0), 0.0, 1.0)
    };
    (channel(5.0), channel(3.0), channel(1.0))
}

/// RandomGrayscale's transform, band count kept: every band becomes the luminance (0.299 R + 0.587 G + 0.114 B
/// for 3 bands ordered R, G, B; the band mean for other counts). Shape unchanged.
pub fn grayscale(image: &Image) -> Image {
    let mut out = image.clone();
    grayscale_in_place(&mut out);
    out
}

pub(super) fn grayscale_in_place(image: &mut Image) {
    let n_pixels = image.height * image.width;
    if image.n_bands <= 1 || n_pixels == 0 {
        return;
    }
    let mut gray = Vec::new();
    luminance_into(image, &mut gray);
    for band in image.data.chunks_exact_mut(n_pixels) {
        band.copy_from_slice(&gray);
    }
}

#[cfg(test)]
mod tests {
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    use super::*;
    use crate::data::augment::test_util::*;

    #[test]
    fn color_jitter_stays_in_value_range_even_with_extreme_factors() {
        let mut rng = StdRng::seed_from_u64(6);
        for n_bands in [3, 13] {
            let image = noise(n_bands, 16, 16, 7);
            for _ in 0..20 {
                let out = color_jitter(&image, 10.0, 10.0, 10.0, 0.5, (0.0, 255.0), &mut rng);
                assert!(out.data.iter().all(|v| (0.0..=255.0).contains(v)));
            }
            for factor in [0.0, 5.0, 50.0] {
                let params = JitterParams {
                    order: [
                        JitterOp::Hue,
                        JitterOp::Saturation,
                        JitterOp::Contrast,
                        JitterOp::Brightness,
                    ],
                    brightness: Some(factor),
                    contrast: Some(factor),
                    saturation: Some(factor),
                    hue: Some(0.5),
                };
                let out = apply_color_jitter(&image, &params, (0.0, 255.0));
                assert!(out.data.iter().all(|v| (0.0..=255.0).contains(v)), "factor {factor}");
            }
        }
        // Raw 16-bit values with another range are clamped to that range.
        let raw = image_from(13, 8, 8, |b, r, c| (b * 700 + r * 90 + c * 11) as f32);
        let out = color_jitter(&raw, 3.0, 3.0, 3.0, 0.0, (0.0, 10000.0), &mut rng);
        assert!(out.data.iter().all(|v| (0.0..=10000.0).contains(v)));
    }

    #[test]
    fn neutral_jitter_factors_are_the_identity() {
        let mut rng = StdRng::seed_from_u64(8);
        for n_bands in [3, 12] {
            let image = noise(n_bands, 16, 16, 9);
            let params = JitterParams {
                order: [
                    JitterOp::Contrast,
                    JitterOp::Hue,
                    JitterOp::Brightness,
                    JitterOp::Saturation,
                ],
                brightness: Some(1.0),
                contrast: Some(1.0),
                saturation: Some(1.0),
                hue: Some(0.0),
            };
            let out = apply_color_jitter(&image, &params, (0.0, 255.0));
            assert!(
                max_abs_diff(&out, &image) < 1e-3,
                "{n_bands} bands: {}",
                max_abs_diff(&out, &image)
            );
            assert_eq!(color_jitter(&image, 0.0, 0.0, 0.0, 0.0, (0.0, 255.0), &mut rng), image);
        }
    }

    #[test]
    fn jitter_params_follow_torchvision_ranges_and_shuffle_the_order() {
        let mut rng = StdRng::seed_from_u64(22);
        let mut orders = Vec::new();
        for _ in 0..200 {
            let params = JitterParams::sample(0.4, 1.5, 0.4, 0.1, &mut rng);
            let b = params.brightness.expect("brightness drawn");
            assert!((0.6..=1.4).contains(&b), "brightness {b}");
            let c = params.contrast.expect("contrast drawn");
            assert!(
                (0.0..=2.5).contains(&c),
                "contrast {c}: the lower bound is clipped at 0"
            );
            let h = params.hue.expect("hue drawn");
            assert!((-0.1..=0.1).contains(&h), "hue {h}");
            if !orders.contains(&params.order) {
                orders.push(params.order);
            }
        }
        assert!(orders.len() > 12, "only {} of the 24 orders seen", orders.len());
        let off = JitterParams::sample(0.0, 0.0, 0.4, 0.0, &mut rng);
        assert_eq!((off.brightness, off.contrast, off.hue), (None, None, None));
        assert!(off.saturation.is_some());
    }

    #[test]
    fn jitter_ops_do_what_torchvision_does() {
        let image = noise(3, 8, 8, 10);
        let only = |op: JitterOp, factor: f32| {
            let mut params = JitterParams {
                order: [
                    JitterOp::Brightness,
                    JitterOp::Contrast,
                    JitterOp::Saturation,
                    JitterOp::Hue,
                ],
                brightness: None,
                contrast: None,
                saturation: None,
                hue: None,
            };
            match op {
                JitterOp::Brightness => params.brightness = Some(factor),
                JitterOp::Contrast => params.contrast = Some(factor),
                JitterOp::Saturation => params.saturation = Some(factor),
                JitterOp::Hue => params.hue = Some(factor),
            }
            apply_color_jitter(&image, &params, (0.0, 255.0))
        };
        // Brightness 0.5 halves every value.
        let dark = only(JitterOp::Brightness, 0.5);
        assert!(dark
            .data
            .iter()
            .zip(&image.data)
            .all(|(d, x)| (d - 0.5 * x).abs() < 1e-4));
        // Contrast 0 leaves the mean luminance everywhere.
        let flat = only(JitterOp::Contrast, 0.0);
        let band_mean = |b: usize| image.band(b).iter().sum::<f32>() / 64.0;
        let mean = 0.299 * band_mean(0) + 0.587 * band_mean(1) + 0.114 * band_mean(2);
        assert!(flat.data.iter().all(|v| (v - mean).abs() < 1e-3));
        // Saturation 0 is the grayscale image.
        assert!(max_abs_diff(&only(JitterOp::Saturation, 0.0), &grayscale(&image)) < 1e-3);
        // A third of a turn takes pure red to pure green, and blue to red.
        let red = image_from(3, 1, 2, |b, _, c| {
            if (c == 0 && b == 0) || (c == 1 && b == 2) {
                255.0
            } else {
                0.0
            }
        });
        let params = JitterParams {
            order: [
                JitterOp::Hue,
                JitterOp::Brightness,
                JitterOp::Contrast,
                JitterOp::Saturation,
            ],
            brightness: None,
            contrast: None,
            saturation: None,
            hue: Some(1.0 / 3.0),
        };
        let shifted = apply_color_jitter(&red, &params, (0.0, 255.0));
        let pixel = |c: usize| [0, 1, 2].map(|b| at(&shifted, b, 0, c).round());
        assert_eq!(pixel(0), [0.0, 255.0, 0.0]);
        assert_eq!(pixel(1), [255.0, 0.0, 0.0]);
        // Hue is skipped for band counts other than 3.
        let ms = noise(13, 4, 4, 11);
        assert_eq!(apply_color_jitter(&ms, &params, (0.0, 255.0)), ms);
    }

    #[test]
    fn grayscale_makes_bands_equal_and_keeps_gray_images() {
        for n_bands in [3, 13] {
            let gray = grayscale(&noise(n_bands, 9, 11, 12));
            assert_eq!(gray.n_bands, n_bands);
            let first = gray.band(0).to_vec();
            assert!((1..n_bands).all(|b| gray.band(b) == first.as_slice()));
            let already_gray = image_from(n_bands, 9, 11, |_, r, c| (r * 20 + c) as f32);
            assert!(max_abs_diff(&grayscale(&already_gray), &already_gray) < 1e-3);
        }
        // ITU-R 601 weights on R, G, B.
        let pixel = image_from(3, 1, 1, |b, _, _| [100.0, 50.0, 200.0][b]);
        let expected = 0.299 * 100.0 + 0.587 * 50.0 + 0.114 * 200.0;
        assert!((grayscale(&pixel).data[0] - expected).abs() < 1e-3);
        // Band mean for other counts.
        let pixel = image_from(4, 1, 1, |b, _, _| [1.0, 2.0, 3.0, 10.0][b]);
        assert!(grayscale(&pixel).data.iter().all(|&v| (v - 4.0).abs() < 1e-5));
    }
}
