//! Siamese change-detection network of SeCo/CACo (METHODS.md "OSCD change detection"): one ResNet encoder shared by
//! both dates, fusion |f(x1) - f(x2)| of the feature maps at every scale (raw conv1 before bn1/ReLU, layer1-4), and
//! the U-Net-like decoder of [`super::unet`] to one change logit per pixel.

use tch::nn;
use tch::Tensor;

use super::resnet::FeatureMaps;
use super::unet::{Encoder, UNetDecoder};

/// |a - b| at every scale.
pub fn abs_difference(a: &FeatureMaps, b: &FeatureMaps) -> FeatureMaps {
    FeatureMaps {
        conv1: (&a.conv1 - &b.conv1).abs(),
        layer1: (&a.layer1 - &b.layer1).abs(),
        layer2: (&a.layer2 - &b.layer2).abs(),
        layer3: (&a.layer3 - &b.layer3).abs(),
        layer4: (&a.layer4 - &b.layer4).abs(),
    }
}

/// Shared encoder + difference fusion + decoder to one logit.
#[derive(Debug)]
pub struct SiameseUNet {
    pub encoder: Encoder,
    pub decoder: UNetDecoder,
}

impl SiameseUNet {
    /// Builds the decoder under `p` for `encoder`; `dropout` is the decoder's Dropout2d rate (SeCo: 0.3).
    pub fn new(p: &nn::Path, encoder: Encoder, dropout: f64) -> Self {
        let decoder = UNetDecoder::new(p, encoder.net.arch().feature_channels(), 1, dropout);
        SiameseUNet { encoder, decoder }
    }

    /// x1, x2: `[n, c, h, w]` (the two dates) -> change logits `[n, 1, h, w]`.
    pub fn forward_t(&self, x1: &Tensor, x2: &Tensor, train: bool) -> Tensor {
        let s = x1.size();
        assert_eq!(s, x2.size(), "the two dates differ in shape");
        // Two calls of the one encoder, as SeCo's (in train mode BatchNorm sees each date's batch separately).
        let fa = self.encoder.feature_maps(x1, train);
        let fb = self.encoder.feature_maps(x2, train);
        self.decoder.forward_t(&abs_difference(&fa, &fb), (s[2], s[3]), train)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::{Arch, ResNet};
    use tch::{Device, Kind};

    fn model(frozen: bool) -> (nn::VarStore, nn::VarStore, SiameseUNet) {
        tch::manual_seed(1);
        let enc_vs = nn::VarStore::new(Device::Cpu);
        let net = ResNet::new(&enc_vs.root(), Arch::Resnet18, 3);
        let dec_vs = nn::VarStore::new(Device::Cpu);
        let encoder = if frozen {
            Encoder::frozen(net)
        } else {
            Encoder::fine_tuned(net)
        };
        let m = SiameseUNet::new(&dec_vs.root(), encoder, 0.3);
        (enc_vs, dec_vs, m)
    }

    #[test]
    fn one_logit_per_pixel_for_odd_tiles() {
        let (_e, _d, m) = model(true);
        for (h, w) in [(96, 96), (33, 33), (41, 29)] {
            let x1 = Tensor::randn([2, 3, h, w], (Kind::Float, Device::Cpu));
            let x2 = Tensor::randn([2, 3, h, w], (Kind::Float, Device::Cpu));
            let out = tch::no_grad(|| m.forward_t(&x1, &x2, false));
            assert_eq!(out.size(), vec![2, 1, h, w]);
        }
    }

    #[test]
    fn fusion_is_symmetric_and_blind_to_identical_dates() {
        let (_e, _d, m) = model(true);
        let x1 = Tensor::randn([2, 3, 32, 32], (Kind::Float, Device::Cpu));
        let x2 = Tensor::randn([2, 3, 32, 32], (Kind::Float, Device::Cpu));
        let (ab, ba) = tch::no_grad(|| (m.forward_t(&x1, &x2, false), m.forward_t(&x2, &x1, false)));
        assert!(ab.allclose(&ba, 1e-5, 1e-5, false));
        // Identical dates: every fused map is 0, so the output is the same for any image.
        let x3 = Tensor::randn([2, 3, 32, 32], (Kind::Float, Device::Cpu));
        let (same1, same3) = tch::no_grad(|| (m.forward_t(&x1, &x1, false), m.forward_t(&x3, &x3, false)));
        assert!(same1.allclose(&same3, 1e-5, 1e-5, false));
        assert!(!ab.allclose(&same1, 1e-3, 1e-3, false));
    }

    #[test]
    fn abs_difference_of_maps() {
        let t = |v: f32| Tensor::from_slice(&[v]).view([1, 1, 1, 1]);
        let maps = |v: f32| FeatureMaps {
            conv1: t(v),
            layer1: t(2.0 * v),
            layer2: t(v),
            layer3: t(v),
            layer4: t(v),
        };
        let d = abs_difference(&maps(1.0), &maps(4.0));
        assert_eq!(d.conv1.double_value(&[0, 0, 0, 0]), 3.0);
        assert_eq!(d.layer1.double_value(&[0, 0, 0, 0]), 6.0);
    }
}
