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
//!
//! Files: this one holds the config and the pipeline; `geometric.rs` (crop, resize, flip), `colour.rs` (ColorJitter,
//! grayscale) and `blur.rs` the steps, all re-exported here.

mod blur;
mod colour;
mod geometric;

use rand::Rng;
use serde::{Deserialize, Serialize};

use super::Image;
use crate::{Error, Result};

use blur::blur_in_place;
use colour::{grayscale_in_place, jitter_in_place};
use geometric::{hflip_in_place, resample};

pub use blur::{gaussian_blur, gaussian_kernel};
pub use colour::{apply_color_jitter, color_jitter, grayscale, JitterOp, JitterParams};
pub use geometric::{hflip, random_crop_box, random_resized_crop, resize, resized_crop, CropBox};

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

/// Images and checks shared by the tests of the pipeline and of its steps.
#[cfg(test)]
mod test_util {
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    use super::*;

    /// `[n_bands, h, w]` image with values `f(band, row, col)`.
    pub(super) fn image_from(
        n_bands: usize,
        height: usize,
        width: usize,
        mut f: impl FnMut(usize, usize, usize) -> f32,
    ) -> Image {
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

    pub(super) fn noise(n_bands: usize, height: usize, width: usize, seed: u64) -> Image {
        let mut rng = StdRng::seed_from_u64(seed);
        image_from(n_bands, height, width, |_, _, _| rng.random_range(0.0..255.0))
    }

    pub(super) fn at(image: &Image, band: usize, row: usize, col: usize) -> f32 {
        image.data[band * image.height * image.width + row * image.width + col]
    }

    pub(super) fn max_abs_diff(a: &Image, b: &Image) -> f32 {
        assert_eq!((a.n_bands, a.height, a.width), (b.n_bands, b.height, b.width));
        a.data
            .iter()
            .zip(&b.data)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max)
    }

    pub(super) fn variance(values: &[f32]) -> f64 {
        let n = values.len() as f64;
        let mean = values.iter().map(|&v| v as f64).sum::<f64>() / n;
        values.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n
    }

    pub(super) fn all_on(out_size: usize) -> AugmentConfig {
        AugmentConfig {
            out_size,
            jitter_p: 1.0,
            grayscale_p: 1.0,
            blur_p: 1.0,
            flip_p: 1.0,
            ..AugmentConfig::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    use super::test_util::*;
    use super::*;

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
