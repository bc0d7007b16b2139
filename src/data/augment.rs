//! View augmentations for contrastive pre-training on [`Image`]s of any band count, following torchvision's
//! transforms as used by MoCo-v2 (`aug_plus`) and SeCo: RandomResizedCrop, ColorJitter, RandomGrayscale,
//! GaussianBlur and RandomHorizontalFlip.
//!
//! Every function takes and returns band-major images (`data: [n_bands, height, width]`) in their raw value range
//! (0-255 for 8-bit RGB); normalisation comes afterwards ([`super::Normalization`]). Randomness comes only from the
//! `rng` argument, so a seeded `StdRng` gives reproducible views.
//!
//! Band conventions: for 3-band images the bands are assumed to be R, G, B in that order (luminance uses the ITU-R
//! 601 weights 0.299, 0.587, 0.114 and hue rotation is defined); for any other band count the luminance is the band
//! mean and hue rotation is skipped.
//!
//! Order of the pipeline ([`augment`]): RandomResizedCrop -> [ColorJitter, p] -> [RandomGrayscale, p] ->
//! [GaussianBlur, p] -> RandomHorizontalFlip, the order of MoCo-v2's `aug_plus` and SeCo's `augment` +
//! `preprocess`. The flip commutes with the three other steps (all are mirror-symmetric), so it is fused into the
//! crop's resampling; its coin is still drawn last, as in the originals.
//!
//! SeCo applies the appearance steps at full resolution and the crop afterwards, to every view including the
//! "season only" one: `random_resized_crop(&appearance_augment(t, c, rng), ...)` reproduces its `augment` then
//! `preprocess`, and `random_resized_crop(t, ...)` alone its season-only key.

use rand::seq::SliceRandom;
use rand::Rng;
use serde::{Deserialize, Serialize};

use super::Image;
use crate::{Error, Result};

/// ITU-R 601 luma weights for bands ordered R, G, B (PIL's `convert("L")`).
pub const RGB_LUMA_WEIGHTS: [f32; 3] = [0.299, 0.587, 0.114];

/// Paper defaults (METHODS.md, MoCo-v2 `aug_plus`): RandomResizedCrop(224, scale (0.2, 1.0), ratio (3/4, 4/3));
/// ColorJitter(0.4, 0.4, 0.4, 0.1) with p = 0.8; RandomGrayscale p = 0.2; GaussianBlur sigma in [0.1, 2.0] with
/// p = 0.5; horizontal flip p = 0.5. `value_range` defaults to 8-bit (0, 255).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AugmentConfig {
    /// Output side in pixels: every view is `[n_bands, out_size, out_size]`.
    pub out_size: usize,
    /// Range of the crop's area as a fraction of the image area, `0 < lo <= hi <= 1`.
    pub crop_scale: (f32, f32),
    /// Range of the crop's aspect ratio (width / height), drawn log-uniformly, `0 < lo <= hi`.
    pub crop_ratio: (f32, f32),
    /// Brightness strength x: factor drawn from [max(0, 1 - x), 1 + x].
    pub brightness: f32,
    /// Contrast strength x: factor drawn from [max(0, 1 - x), 1 + x].
    pub contrast: f32,
    /// Saturation strength x: factor drawn from [max(0, 1 - x), 1 + x].
    pub saturation: f32,
    /// Hue strength h in [0, 0.5]: shift drawn from [-h, h] turns (3-band images only).
    pub hue: f32,
    /// Probability of applying the colour jitter.
    pub jitter_p: f32,
    /// Probability of replacing every band by the luminance.
    pub grayscale_p: f32,
    /// Range of the Gaussian blur's standard deviation in pixels, `0 < lo <= hi`.
    pub blur_sigma: (f32, f32),
    /// Probability of blurring.
    pub blur_p: f32,
    /// Probability of a horizontal flip.
    pub flip_p: f32,
    /// Valid value range of the input, e.g. (0, 255) for 8-bit; jitter output is clamped to it.
    pub value_range: (f32, f32),
}

impl Default for AugmentConfig {
    fn default() -> Self {
        AugmentConfig {
            out_size: 224,
            crop_scale: (0.2, 1.0),
            crop_ratio: (3.0 / 4.0, 4.0 / 3.0),
            brightness: 0.4,
            contrast: 0.4,
            saturation: 0.4,
            hue: 0.1,
            jitter_p: 0.8,
            grayscale_p: 0.2,
            blur_sigma: (0.1, 2.0),
            blur_p: 0.5,
            flip_p: 0.5,
            value_range: (0.0, 255.0),
        }
    }
}

impl AugmentConfig {
    /// Checks every field once; the error names the field and its value.
    pub fn validate(&self) -> Result<()> {
        let bad = |field: &str, rule: &str, value: String| {
            Err(Error::Config(format!("augment: {field} must be {rule}, got {value}")))
        };
        if self.out_size == 0 {
            return bad("out_size", "> 0", self.out_size.to_string());
        }
        let (lo, hi) = self.crop_scale;
        if !(lo > 0.0 && lo <= hi && hi <= 1.0) {
            return bad("crop_scale", "(lo, hi) with 0 < lo <= hi <= 1", format!("({lo}, {hi})"));
        }
        let (lo, hi) = self.crop_ratio;
        if !(lo > 0.0 && lo <= hi && hi.is_finite()) {
            return bad(
                "crop_ratio",
                "(lo, hi) with 0 < lo <= hi < inf",
                format!("({lo}, {hi})"),
            );
        }
        for (field, value) in [
            ("brightness", self.brightness),
            ("contrast", self.contrast),
            ("saturation", self.saturation),
        ] {
            if !(value >= 0.0 && value.is_finite()) {
                return bad(field, "finite and >= 0", value.to_string());
            }
        }
        if !(0.0..=0.5).contains(&self.hue) {
            return bad("hue", "in [0, 0.5]", self.hue.to_string());
        }
        for (field, value) in [
            ("jitter_p", self.jitter_p),
            ("grayscale_p", self.grayscale_p),
            ("blur_p", self.blur_p),
            ("flip_p", self.flip_p),
        ] {
            if !(0.0..=1.0).contains(&value) {
                return bad(field, "a probability in [0, 1]", value.to_string());
            }
        }
        let (lo, hi) = self.blur_sigma;
        if !(lo > 0.0 && lo <= hi && hi.is_finite()) {
            return bad(
                "blur_sigma",
                "(lo, hi) with 0 < lo <= hi < inf",
                format!("({lo}, {hi})"),
            );
        }
        let (lo, hi) = self.value_range;
        if !(lo.is_finite() && hi.is_finite() && lo < hi) {
            return bad("value_range", "(lo, hi) with finite lo < hi", format!("({lo}, {hi})"));
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Whole pipeline
// ---------------------------------------------------------------------------------------------------------------

/// One MoCo-v2 view: `[n_bands, h, w]` -> `[n_bands, out_size, out_size]`. RandomResizedCrop (bilinear) ->
/// [ColorJitter with `jitter_p`] -> [grayscale with `grayscale_p`] -> [blur with `blur_p`] -> flip with `flip_p`
/// (see the module docs for why the flip is fused into the crop). `config` is expected to be validated.
///
/// # Panics
/// If the image has no pixels.
pub fn augment(image: &Image, config: &AugmentConfig, rng: &mut impl Rng) -> Image {
    AugmentParams::sample(image.height, image.width, config, rng).apply(image, config.out_size, config.value_range)
}

/// SeCo's `augment` block: the appearance steps without the crop, `[n_bands, h, w]` -> `[n_bands, h, w]`
/// ([ColorJitter, p] -> [grayscale, p] -> [blur, p] -> flip). Follow it by [`random_resized_crop`] for SeCo's views.
pub fn appearance_augment(image: &Image, config: &AugmentConfig, rng: &mut impl Rng) -> Image {
    let params = AppearanceParams::sample(config, rng);
    let mut out = image.clone();
    params.apply_in_place(&mut out, config.value_range, true);
    out
}

/// Random draws of the appearance steps, in the order the originals draw them.
#[derive(Debug, Clone, PartialEq)]
pub struct AppearanceParams {
    /// `Some` when the jitter is applied.
    pub jitter: Option<JitterParams>,
    pub grayscale: bool,
    /// `Some(sigma)` when the blur is applied.
    pub blur_sigma: Option<f32>,
    pub flip: bool,
}

impl AppearanceParams {
    pub fn sample(config: &AugmentConfig, rng: &mut impl Rng) -> Self {
        let jitter = coin(rng, config.jitter_p)
            .then(|| JitterParams::sample(config.brightness, config.contrast, config.saturation, config.hue, rng));
        let grayscale = coin(rng, config.grayscale_p);
        let blur_sigma = coin(rng, config.blur_p).then(|| uniform(rng, config.blur_sigma.0, config.blur_sigma.1));
        let flip = coin(rng, config.flip_p);
        AppearanceParams {
            jitter,
            grayscale,
            blur_sigma,
            flip,
        }
    }

    /// Applies jitter, grayscale, blur and (when `with_flip`) the flip, in place.
    fn apply_in_place(&self, image: &mut Image, value_range: (f32, f32), with_flip: bool) {
        if let Some(jitter) = &self.jitter {
            jitter_in_place(image, jitter, value_range);
        }
        if self.grayscale {
            grayscale_in_place(image);
        }
        if let Some(sigma) = self.blur_sigma {
            blur_in_place(image, sigma);
        }
        if with_flip && self.flip {
            hflip_in_place(image);
        }
    }
}

/// Every random draw of one [`augment`] view, so that a view can be replayed or inspected.
#[derive(Debug, Clone, PartialEq)]
pub struct AugmentParams {
    pub crop: CropBox,
    pub appearance: AppearanceParams,
}

impl AugmentParams {
    /// Draws the crop for an image of `height x width`, then the appearance steps.
    pub fn sample(height: usize, width: usize, config: &AugmentConfig, rng: &mut impl Rng) -> Self {
        let crop = random_crop_box(height, width, config.crop_scale, config.crop_ratio, rng);
        let appearance = AppearanceParams::sample(config, rng);
        AugmentParams { crop, appearance }
    }

    /// `[n_bands, h, w]` -> `[n_bands, out_size, out_size]`.
    ///
    /// # Panics
    /// If the crop box does not lie inside the image or is empty.
    pub fn apply(&self, image: &Image, out_size: usize, value_range: (f32, f32)) -> Image {
        let mut out = resample(image, self.crop, out_size, self.appearance.flip);
        self.appearance.apply_in_place(&mut out, value_range, false);
        out
    }
}

/// True with probability `p` (`p <= 0` never, `p >= 1` always): torchvision's `RandomApply`.
fn coin(rng: &mut impl Rng, p: f32) -> bool {
    rng.random::<f32>() < p
}

/// Uniform on [lo, hi] (also for lo == hi, where rand's ranges would panic).
fn uniform(rng: &mut impl Rng, lo: f32, hi: f32) -> f32 {
    lo + (hi - lo) * rng.random::<f32>()
}

/// Clamps without panicking on an inverted range (unlike `f32::clamp`).
#[inline]
fn clamp(x: f32, lo: f32, hi: f32) -> f32 {
    if x < lo {
        lo
    } else if x > hi {
        hi
    } else {
        x
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Geometry: RandomResizedCrop, resize, flip
// ---------------------------------------------------------------------------------------------------------------

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

fn hflip_in_place(image: &mut Image) {
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
fn resample(image: &Image, crop: CropBox, out_size: usize, flip: bool) -> Image {
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

// ---------------------------------------------------------------------------------------------------------------
// Photometric: ColorJitter, grayscale
// ---------------------------------------------------------------------------------------------------------------

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

fn jitter_in_place(image: &mut Image, params: &JitterParams, (lo, hi): (f32, f32)) {
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

fn grayscale_in_place(image: &mut Image) {
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

// ---------------------------------------------------------------------------------------------------------------
// Gaussian blur
// ---------------------------------------------------------------------------------------------------------------

/// Normalised 1-D Gaussian kernel of radius `max(1, ceil(3 sigma))`: `[2 * radius + 1]`.
pub fn gaussian_kernel(sigma: f32) -> Vec<f32> {
    let radius = ((3.0 * sigma).ceil() as usize).max(1);
    let sigma = sigma as f64;
    let weights: Vec<f64> = (0..=2 * radius)
        .map(|i| {
            let x = i as f64 - radius as f64;
            (-0.5 * (x / sigma) * (x / sigma)).exp()
        })
        .collect();
    let total: f64 = weights.iter().sum();
    weights.iter().map(|w| (w / total) as f32).collect()
}

/// Separable Gaussian blur of every band with standard deviation `sigma` pixels, kernel radius
/// `max(1, ceil(3 sigma))`, reflect padding (`... 2 1 | 0 1 2 ... | n-2 n-3 ...`, repeated for kernels wider than
/// the image). Shape unchanged. A `sigma` that is not positive and finite returns the image unchanged.
pub fn gaussian_blur(image: &Image, sigma: f32) -> Image {
    let mut out = image.clone();
    blur_in_place(&mut out, sigma);
    out
}

/// Index `i` reflected into `0..n` without repeating the edge (PyTorch's "reflect").
#[inline]
fn reflect(i: isize, n: usize) -> usize {
    if n == 1 {
        return 0;
    }
    let period = 2 * (n as isize - 1);
    let m = i.rem_euclid(period);
    (if m < n as isize { m } else { period - m }) as usize
}

fn blur_in_place(image: &mut Image, sigma: f32) {
    let (h, w) = (image.height, image.width);
    if !(sigma > 0.0 && sigma.is_finite()) || h == 0 || w == 0 {
        return;
    }
    let kernel = gaussian_kernel(sigma);
    let radius = kernel.len() / 2;
    // The kernel is symmetric: out = k0 x + sum_j kj (x[-j] + x[+j]), each term a pass over a whole row.
    let (k_center, k_side) = (kernel[radius], &kernel[radius + 1..]);
    // Horizontal pass, row by row through a reflect-padded copy of the row.
    let mut padded = vec![0.0f32; w + 2 * radius];
    for row in image.data.chunks_exact_mut(w) {
        padded[radius..radius + w].copy_from_slice(row);
        for j in 1..=radius {
            padded[radius - j] = row[reflect(-(j as isize), w)];
            padded[radius + w - 1 + j] = row[reflect((w - 1 + j) as isize, w)];
        }
        for (o, c) in row.iter_mut().zip(&padded[radius..radius + w]) {
            *o = k_center * c;
        }
        for (j, &k) in (1..=radius).zip(k_side) {
            let left = &padded[radius - j..radius - j + w];
            let right = &padded[radius + j..radius + j + w];
            for ((o, a), b) in row.iter_mut().zip(left).zip(right) {
                *o += k * (a + b);
            }
        }
    }
    // Vertical pass: each output row is a weighted sum of whole (reflected) source rows.
    let mut band_copy = vec![0.0f32; h * w];
    for band in image.data.chunks_exact_mut(h * w) {
        band_copy.copy_from_slice(band);
        let src_row = |y: isize| {
            let y = reflect(y, h);
            &band_copy[y * w..(y + 1) * w]
        };
        for (y, out_row) in band.chunks_exact_mut(w).enumerate() {
            let y = y as isize;
            for (o, c) in out_row.iter_mut().zip(src_row(y)) {
                *o = k_center * c;
            }
            for (j, &k) in (1..=radius as isize).zip(k_side) {
                for ((o, a), b) in out_row.iter_mut().zip(src_row(y - j)).zip(src_row(y + j)) {
                    *o += k * (a + b);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    use super::*;

    /// `[n_bands, h, w]` image with values `f(band, row, col)`.
    fn image_from(n_bands: usize, height: usize, width: usize, mut f: impl FnMut(usize, usize, usize) -> f32) -> Image {
        let mut data = Vec::with_capacity(n_bands * height * width);
        for b in 0..n_bands {
            for r in 0..height {
                for c in 0..width {
                    data.push(f(b, r, c));
                }
            }
        }
        Image {
            n_bands,
            height,
            width,
            data,
        }
    }

    fn noise(n_bands: usize, height: usize, width: usize, seed: u64) -> Image {
        let mut rng = StdRng::seed_from_u64(seed);
        image_from(n_bands, height, width, |_, _, _| rng.random_range(0.0..255.0))
    }

    fn at(image: &Image, band: usize, row: usize, col: usize) -> f32 {
        image.data[band * image.height * image.width + row * image.width + col]
    }

    fn max_abs_diff(a: &Image, b: &Image) -> f32 {
        assert_eq!((a.n_bands, a.height, a.width), (b.n_bands, b.height, b.width));
        a.data
            .iter()
            .zip(&b.data)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max)
    }

    fn variance(values: &[f32]) -> f64 {
        let n = values.len() as f64;
        let mean = values.iter().map(|&v| v as f64).sum::<f64>() / n;
        values.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n
    }

    fn all_on(out_size: usize) -> AugmentConfig {
        AugmentConfig {
            out_size,
            jitter_p: 1.0,
            grayscale_p: 1.0,
            blur_p: 1.0,
            flip_p: 1.0,
            ..AugmentConfig::default()
        }
    }

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
    fn crops_and_views_keep_bands_and_have_out_size() {
        let mut rng = StdRng::seed_from_u64(0);
        for (n_bands, height, width) in [(3, 64, 64), (13, 64, 64), (12, 40, 90), (3, 90, 40)] {
            let image = noise(n_bands, height, width, 2);
            for _ in 0..20 {
                let crop = random_resized_crop(&image, 32, (0.2, 1.0), (0.75, 4.0 / 3.0), &mut rng);
                assert_eq!(
                    (crop.n_bands, crop.height, crop.width, crop.data.len()),
                    (n_bands, 32, 32, n_bands * 1024)
                );
                let view = augment(&image, &all_on(24), &mut rng);
                assert_eq!(
                    (view.n_bands, view.height, view.width, view.data.len()),
                    (n_bands, 24, 24, n_bands * 576)
                );
                assert!(view.data.iter().all(|v| v.is_finite()));
            }
        }
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

    #[test]
    fn gaussian_kernel_is_normalised_and_symmetric() {
        for sigma in [0.1, 0.5, 1.0, 2.0] {
            let kernel = gaussian_kernel(sigma);
            let radius = ((3.0 * sigma).ceil() as usize).max(1);
            assert_eq!(kernel.len(), 2 * radius + 1);
            assert!((kernel.iter().sum::<f32>() - 1.0).abs() < 1e-6);
            assert!((0..kernel.len()).all(|i| kernel[i] == kernel[kernel.len() - 1 - i]));
            assert!(kernel[radius] > kernel[radius + 1]);
        }
    }

    #[test]
    fn gaussian_blur_keeps_constants_smooths_noise_and_small_sigma_is_nearly_identity() {
        // 2x3 is smaller than the radius-6 kernel of sigma 2: the reflection must wrap around.
        for (height, width) in [(16, 16), (2, 3), (1, 5)] {
            let constant = image_from(3, height, width, |b, _, _| 37.5 + b as f32);
            let blurred = gaussian_blur(&constant, 2.0);
            assert!(max_abs_diff(&blurred, &constant) < 1e-4, "{height}x{width}");
        }
        let image = noise(3, 32, 32, 13);
        let blurred = gaussian_blur(&image, 1.5);
        assert!(variance(&blurred.data) < 0.25 * variance(&image.data));
        let mean = |v: &[f32]| v.iter().map(|&x| x as f64).sum::<f64>() / v.len() as f64;
        assert!((mean(&blurred.data) - mean(&image.data)).abs() < 2.0);
        assert!(max_abs_diff(&gaussian_blur(&image, 0.1), &image) < 1e-3);
        assert!(max_abs_diff(&gaussian_blur(&image, 0.8), &image) > 1.0);
        assert_eq!(gaussian_blur(&image, 0.0), image);
    }

    #[test]
    fn gaussian_blur_reflects_at_the_border() {
        // An impulse at column 0 of a 1x5 row, kernel [a, b, a]: reflection mirrors column 1 (0) into column -1,
        // so out[0] = b, out[1] = a; padding by replication would give out[0] = a + b.
        let impulse = image_from(1, 1, 5, |_, _, c| if c == 0 { 1.0 } else { 0.0 });
        let kernel = gaussian_kernel(0.3);
        assert_eq!(kernel.len(), 3);
        let out = gaussian_blur(&impulse, 0.3);
        assert!((out.data[0] - kernel[1]).abs() < 1e-6, "{:?} vs {kernel:?}", out.data);
        assert!((out.data[1] - kernel[0]).abs() < 1e-6);
        assert!(out.data[2..].iter().all(|&v| v.abs() < 1e-6));
        // The same along columns.
        let impulse = image_from(1, 5, 1, |_, r, _| if r == 4 { 1.0 } else { 0.0 });
        let out = gaussian_blur(&impulse, 0.3);
        assert!((out.data[4] - kernel[1]).abs() < 1e-6 && (out.data[3] - kernel[0]).abs() < 1e-6);
    }

    #[test]
    fn blur_commutes_with_flip() {
        // The fused flip in `augment` relies on it.
        let image = noise(3, 12, 15, 14);
        let a = hflip(&gaussian_blur(&image, 1.3));
        let b = gaussian_blur(&hflip(&image), 1.3);
        assert!(max_abs_diff(&a, &b) < 1e-3);
    }

    #[test]
    fn same_seed_same_view_different_seed_different_view() {
        let image = noise(3, 64, 64, 15);
        let config = AugmentConfig {
            out_size: 32,
            ..AugmentConfig::default()
        };
        let view = |seed| augment(&image, &config, &mut StdRng::seed_from_u64(seed));
        assert_eq!(view(42), view(42));
        assert_ne!(view(42), view(43));
        let ms = noise(13, 32, 32, 16);
        let ms_view = |seed| augment(&ms, &config, &mut StdRng::seed_from_u64(seed));
        assert_eq!(ms_view(1), ms_view(1));
        assert_ne!(ms_view(1), ms_view(2));
    }

    #[test]
    fn params_replay_the_same_view() {
        let image = noise(3, 40, 40, 17);
        let config = all_on(20);
        let view = augment(&image, &config, &mut StdRng::seed_from_u64(5));
        let params = AugmentParams::sample(40, 40, &config, &mut StdRng::seed_from_u64(5));
        assert!(params.appearance.flip && params.appearance.grayscale);
        assert_eq!(params.apply(&image, 20, config.value_range), view);
        // The fused flip gives what flipping last gives.
        let unflipped = AugmentParams {
            appearance: AppearanceParams {
                flip: false,
                ..params.appearance.clone()
            },
            ..params.clone()
        };
        let flipped_last = hflip(&unflipped.apply(&image, 20, config.value_range));
        assert!(max_abs_diff(&flipped_last, &view) < 1e-3);
    }

    #[test]
    fn probability_one_applies_a_step() {
        let image = noise(13, 32, 32, 18);
        let gray = augment(
            &image,
            &AugmentConfig {
                out_size: 16,
                grayscale_p: 1.0,
                jitter_p: 0.0,
                blur_p: 0.0,
                ..AugmentConfig::default()
            },
            &mut StdRng::seed_from_u64(0),
        );
        assert!((1..13).all(|b| gray.band(b) == gray.band(0)));
        let appearance = appearance_augment(&image, &all_on(1), &mut StdRng::seed_from_u64(0));
        assert_eq!((appearance.n_bands, appearance.height, appearance.width), (13, 32, 32));
        assert!((1..13).all(|b| appearance.band(b) == appearance.band(0)));
    }

    #[test]
    fn zero_probabilities_reduce_augment_to_resize() {
        let config = AugmentConfig {
            out_size: 48,
            crop_scale: (1.0, 1.0),
            crop_ratio: (1.0, 1.0),
            jitter_p: 0.0,
            grayscale_p: 0.0,
            blur_p: 0.0,
            flip_p: 0.0,
            ..AugmentConfig::default()
        };
        config.validate().expect("valid config");
        let mut rng = StdRng::seed_from_u64(19);
        for n_bands in [3, 13] {
            let image = noise(n_bands, 64, 64, 20);
            for _ in 0..5 {
                assert_eq!(augment(&image, &config, &mut rng), resize(&image, 48));
            }
        }
        let image = noise(3, 30, 30, 21);
        let appearance = appearance_augment(&image, &config, &mut rng);
        assert_eq!(appearance, image);
    }

    #[test]
    fn validate_accepts_defaults_and_names_the_bad_field() {
        AugmentConfig::default().validate().expect("defaults are valid");
        type Mutation = Box<dyn Fn(&mut AugmentConfig)>;
        let cases: Vec<(&str, Mutation)> = vec![
            ("out_size", Box::new(|c: &mut AugmentConfig| c.out_size = 0)),
            (
                "crop_scale",
                Box::new(|c: &mut AugmentConfig| c.crop_scale = (0.0, 1.0)),
            ),
            (
                "crop_scale",
                Box::new(|c: &mut AugmentConfig| c.crop_scale = (0.5, 0.2)),
            ),
            (
                "crop_scale",
                Box::new(|c: &mut AugmentConfig| c.crop_scale = (0.2, 1.5)),
            ),
            (
                "crop_ratio",
                Box::new(|c: &mut AugmentConfig| c.crop_ratio = (-1.0, 1.0)),
            ),
            (
                "crop_ratio",
                Box::new(|c: &mut AugmentConfig| c.crop_ratio = (2.0, 1.0)),
            ),
            ("brightness", Box::new(|c: &mut AugmentConfig| c.brightness = -0.1)),
            ("contrast", Box::new(|c: &mut AugmentConfig| c.contrast = f32::NAN)),
            (
                "saturation",
                Box::new(|c: &mut AugmentConfig| c.saturation = f32::INFINITY),
            ),
            ("hue", Box::new(|c: &mut AugmentConfig| c.hue = 0.6)),
            ("jitter_p", Box::new(|c: &mut AugmentConfig| c.jitter_p = 1.5)),
            ("grayscale_p", Box::new(|c: &mut AugmentConfig| c.grayscale_p = -0.2)),
            ("blur_p", Box::new(|c: &mut AugmentConfig| c.blur_p = f32::NAN)),
            ("flip_p", Box::new(|c: &mut AugmentConfig| c.flip_p = 2.0)),
            (
                "blur_sigma",
                Box::new(|c: &mut AugmentConfig| c.blur_sigma = (0.0, 2.0)),
            ),
            (
                "blur_sigma",
                Box::new(|c: &mut AugmentConfig| c.blur_sigma = (2.0, 1.0)),
            ),
            (
                "value_range",
                Box::new(|c: &mut AugmentConfig| c.value_range = (255.0, 0.0)),
            ),
        ];
        for (field, mutate) in cases {
            let mut config = AugmentConfig::default();
            mutate(&mut config);
            match config.validate() {
                Err(Error::Config(message)) => assert!(message.contains(field), "{field}: {message}"),
                other => panic!("{field}: expected a config error, got {other:?}"),
            }
        }
    }

    #[test]
    fn config_reads_from_toml_with_defaults_and_rejects_unknown_keys() {
        let config: AugmentConfig =
            toml::from_str("out_size = 64\ncrop_scale = [0.5, 1.0]\nflip_p = 0.0\n").expect("toml");
        assert_eq!(config.out_size, 64);
        assert_eq!(config.crop_scale, (0.5, 1.0));
        assert_eq!(config.flip_p, 0.0);
        assert_eq!(config.jitter_p, AugmentConfig::default().jitter_p);
        assert!(toml::from_str::<AugmentConfig>("outsize = 64\n").is_err());
    }

    /// Throughput of `augment` (printed, not asserted): `cargo test --lib augment_throughput -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn augment_throughput() {
        // (bands, input side, out_size, number of views)
        for (n_bands, side, out_size, n_views) in [(3, 64, 64, 20_000), (13, 64, 64, 5_000), (12, 264, 224, 500)] {
            let images: Vec<Image> = (0..16).map(|seed| noise(n_bands, side, side, seed)).collect();
            let mut rng = StdRng::seed_from_u64(0);
            let mut checksum = 0.0f64;
            for (name, config) in [
                (
                    "paper probabilities",
                    AugmentConfig {
                        out_size,
                        ..AugmentConfig::default()
                    },
                ),
                ("every step on", all_on(out_size)),
            ] {
                let start = std::time::Instant::now();
                for i in 0..n_views {
                    checksum += augment(&images[i % images.len()], &config, &mut rng).data[0] as f64;
                }
                let rate = n_views as f64 / start.elapsed().as_secs_f64();
                println!("augment {n_bands}x{side}x{side} -> {out_size}, {name}: {rate:.0} images/s on one thread");
            }
            assert!(checksum.is_finite());
        }
    }
}
