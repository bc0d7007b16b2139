//! The Gaussian blur step: a separable kernel of radius `max(1, ceil(3 sigma))` with reflect padding, as
//! torchvision's `GaussianBlur` on tensors.

use crate::data::Image;

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

pub(super) fn blur_in_place(image: &mut Image, sigma: f32) {
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
    use super::*;
    use crate::data::augment::test_util::*;
    use crate::data::augment::*;

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
}
