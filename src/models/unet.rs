//! U-Net-like decoder on the five ResNet feature maps (the raw conv1 output before bn1/ReLU, layer1-4), as in SeCo's
//! change-detection model (Mañas et al. 2021, `models/segmentation.py`; METHODS.md "OSCD change detection"): from
//! layer4 up, each step is x2 nearest upsample, 3x3 conv to the skip's width, concat skip, 3x3 conv, BN, ReLU,
//! Dropout2d; then a final x2 upsample and a 1x1 conv to `n_out` logits. Every conv has PyTorch's default
//! initialisation ([`crate::models::init`]). Odd input sizes work: an upsampled map larger than its skip is cropped
//! to it (smaller is resized), and the output is cropped to the input size. Also [`Encoder`] (a ResNet run frozen or
//! fine-tuned) and [`UNet`], encoder + decoder for semantic segmentation.

use tch::nn;
use tch::Tensor;

use super::init;
use super::resnet::{FeatureMaps, ResNet};

/// Brings `x` `[n, c, h, w]` to `size` (h, w): cropped when larger on a side, nearest-resized when smaller.
pub fn fit_to(x: &Tensor, size: (i64, i64)) -> Tensor {
    let s = x.size();
    let (h, w) = (s[2], s[3]);
    if h < size.0 || w < size.1 {
        return x.upsample_nearest2d([size.0, size.1], None, None);
    }
    if (h, w) == size {
        x.shallow_clone()
    } else {
        x.narrow(2, 0, size.0).narrow(3, 0, size.1)
    }
}

fn upsample2(x: &Tensor) -> Tensor {
    let s = x.size();
    x.upsample_nearest2d([2 * s[2], 2 * s[3]], 2.0, 2.0)
}

/// One decoder step (SeCo's `shrink{i}`, `shrink2{i}`, `batchnorm{i}`).
#[derive(Debug)]
struct UpStep {
    shrink: nn::Conv2D,
    shrink2: nn::Conv2D,
    batchnorm: nn::BatchNorm,
}

/// The decoder. Parameter names follow SeCo's PyTorch module: `shrink{i}`, `shrink2{i}`, `batchnorm{i}` for
/// i = 3..0 (from layer4 towards conv1) and `outc.conv`.
#[derive(Debug)]
pub struct UNetDecoder {
    /// steps[i] turns the map at level i+1 into level i (0 = conv1, 4 = layer4).
    steps: Vec<UpStep>,
    outc: nn::Conv2D,
    dropout: f64,
    n_out: i64,
}

impl UNetDecoder {
    /// `channels`: widths of conv1 and layer1-4 (`Arch::feature_channels`); `n_out`: 1 for change, the class count
    /// for segmentation; `dropout`: Dropout2d rate (SeCo: 0.3).
    pub fn new(p: &nn::Path, channels: [i64; 5], n_out: i64, dropout: f64) -> Self {
        let bn_config = nn::BatchNormConfig {
            ws_init: nn::Init::Const(1.0),
            bs_init: nn::Init::Const(0.0),
            ..Default::default()
        };
        let pad = nn::ConvConfig {
            padding: 1,
            ..Default::default()
        };
        let steps = (0..4)
            .map(|i| UpStep {
                shrink: init::conv2d(p / format!("shrink{i}"), channels[i + 1], channels[i], 3, pad),
                shrink2: init::conv2d(
                    p / format!("shrink2{i}"),
                    2 * channels[i],
                    channels[i],
                    3,
                    nn::ConvConfig { bias: false, ..pad },
                ),
                batchnorm: nn::batch_norm2d(p / format!("batchnorm{i}"), channels[i], bn_config),
            })
            .collect();
        let outc = init::conv2d(p / "outc" / "conv", channels[0], n_out, 1, Default::default());
        UNetDecoder {
            steps,
            outc,
            dropout,
            n_out,
        }
    }

    pub fn n_out(&self) -> i64 {
        self.n_out
    }

    /// maps: the five feature maps of an input of `out_size` (h, w) -> logits `[n, n_out, h, w]`.
    pub fn forward_t(&self, maps: &FeatureMaps, out_size: (i64, i64), train: bool) -> Tensor {
        let skips = [&maps.conv1, &maps.layer1, &maps.layer2, &maps.layer3];
        let mut x = maps.layer4.shallow_clone();
        for i in (0..4).rev() {
            let skip = skips[i];
            let skip_size = (skip.size()[2], skip.size()[3]);
            let step = &self.steps[i];
            x = fit_to(&upsample2(&x), skip_size).apply(&step.shrink);
            x = Tensor::cat(&[&x, skip], 1)
                .apply(&step.shrink2)
                .apply_t(&step.batchnorm, train)
                .relu()
                .feature_dropout(self.dropout, train);
        }
        fit_to(&upsample2(&x), out_size).apply(&self.outc)
    }
}

/// A backbone used by a dense task: frozen (no gradients) or fine-tuned with the decoder.
///
/// A frozen encoder with `adapt_bn` runs its BatchNorm layers in train mode while the decoder trains (batch
/// statistics, running statistics re-estimated on the task's tiles, weights untouched) and in eval mode when
/// predicting. That is what SeCo's OSCD code does (`main_oscd.py` leaves the encoder out of the optimiser but in
/// train mode), and it keeps a randomly initialised encoder's activations normalised. Without `adapt_bn` the encoder
/// always uses its stored statistics.
#[derive(Debug)]
pub struct Encoder {
    pub net: ResNet,
    pub frozen: bool,
    pub adapt_bn: bool,
}

impl Encoder {
    /// A frozen encoder that adapts its BatchNorm statistics (SeCo's protocol).
    pub fn frozen(net: ResNet) -> Self {
        Encoder {
            net,
            frozen: true,
            adapt_bn: true,
        }
    }

    /// An encoder trained with the decoder.
    pub fn fine_tuned(net: ResNet) -> Self {
        Encoder {
            net,
            frozen: false,
            adapt_bn: true,
        }
    }

    /// xs: `[n, c, h, w]` -> the five feature maps.
    pub fn feature_maps(&self, xs: &Tensor, train: bool) -> FeatureMaps {
        if self.frozen {
            tch::no_grad(|| self.net.feature_maps(xs, train && self.adapt_bn))
        } else {
            self.net.feature_maps(xs, train)
        }
    }
}

/// Semantic segmentation: encoder + U-Net decoder to `n_classes` logits per pixel.
#[derive(Debug)]
pub struct UNet {
    pub encoder: Encoder,
    pub decoder: UNetDecoder,
}

impl UNet {
    /// Builds the decoder under `p` for `encoder`.
    pub fn new(p: &nn::Path, encoder: Encoder, n_classes: i64, dropout: f64) -> Self {
        let decoder = UNetDecoder::new(p, encoder.net.arch().feature_channels(), n_classes, dropout);
        UNet { encoder, decoder }
    }

    /// xs: `[n, c, h, w]` -> logits `[n, n_classes, h, w]`.
    pub fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        let s = xs.size();
        self.decoder
            .forward_t(&self.encoder.feature_maps(xs, train), (s[2], s[3]), train)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::Arch;
    use tch::{Device, Kind};

    fn unet(arch: Arch, n_classes: i64, frozen: bool) -> (nn::VarStore, nn::VarStore, UNet) {
        tch::manual_seed(0);
        let enc_vs = nn::VarStore::new(Device::Cpu);
        let net = ResNet::new(&enc_vs.root(), arch, 3);
        let dec_vs = nn::VarStore::new(Device::Cpu);
        let encoder = if frozen {
            Encoder::frozen(net)
        } else {
            Encoder::fine_tuned(net)
        };
        let model = UNet::new(&dec_vs.root(), encoder, n_classes, 0.3);
        (enc_vs, dec_vs, model)
    }

    #[test]
    fn output_has_the_input_size_for_odd_and_even_tiles() {
        let (_e, _d, model) = unet(Arch::Resnet18, 6, true);
        for (h, w) in [(64, 64), (33, 33), (37, 50), (31, 17), (96, 96), (5, 7)] {
            let xs = Tensor::randn([2, 3, h, w], (Kind::Float, Device::Cpu));
            let out = tch::no_grad(|| model.forward_t(&xs, false));
            assert_eq!(out.size(), vec![2, 6, h, w], "input {h}x{w}");
        }
    }

    #[test]
    fn resnet50_widths_work_too() {
        let (_e, _d, model) = unet(Arch::Resnet50, 1, true);
        let xs = Tensor::randn([1, 3, 45, 45], (Kind::Float, Device::Cpu));
        let out = tch::no_grad(|| model.forward_t(&xs, false));
        assert_eq!(out.size(), vec![1, 1, 45, 45]);
    }

    #[test]
    fn parameter_names_follow_seco() {
        let (_e, dec_vs, _model) = unet(Arch::Resnet18, 1, true);
        let vars = dec_vs.variables();
        for name in [
            "shrink3.weight",
            "shrink3.bias",
            "shrink23.weight",
            "batchnorm0.running_var",
            "outc.conv.weight",
        ] {
            assert!(vars.contains_key(name), "missing {name}: {:?}", vars.keys());
        }
        assert!(!vars.contains_key("shrink20.bias"));
        // shrink3: 3x3 conv 512 -> 256; shrink20: 3x3 conv 128 -> 64.
        assert_eq!(vars["shrink3.weight"].size(), vec![256, 512, 3, 3]);
        assert_eq!(vars["shrink20.weight"].size(), vec![64, 128, 3, 3]);
    }

    #[test]
    fn decoder_convs_have_pytorch_default_initialisation() {
        // nn.Conv2d's default: weight and bias uniform(+-1/sqrt(fan_in)), fan_in = c_in * k * k. tch's own default
        // (kaiming uniform with ReLU gain, zero bias) has a sqrt(6) times wider weight bound and no bias spread.
        let (_e, dec_vs, _model) = unet(Arch::Resnet18, 16, true);
        let vars = dec_vs.variables();
        for (name, fan_in) in [
            ("shrink3.weight", 512 * 9),
            ("shrink3.bias", 512 * 9),
            ("shrink20.weight", 128 * 9),
            ("outc.conv.weight", 64),
            ("outc.conv.bias", 64),
        ] {
            let bound = 1.0 / (fan_in as f64).sqrt();
            let max = vars[name].abs().max().double_value(&[]);
            assert!(
                max <= bound && max > 0.5 * bound,
                "{name}: max |w| {max}, bound {bound}"
            );
        }
    }

    #[test]
    fn frozen_encoder_gets_no_gradient_and_fine_tuned_one_does() {
        for frozen in [true, false] {
            let (enc_vs, dec_vs, model) = unet(Arch::Resnet18, 3, frozen);
            let xs = Tensor::randn([2, 3, 32, 32], (Kind::Float, Device::Cpu));
            let loss = model.forward_t(&xs, true).mean(Kind::Float);
            loss.backward();
            let enc_grad = enc_vs.variables()["conv1.weight"].grad();
            assert_eq!(enc_grad.defined(), !frozen, "frozen = {frozen}");
            assert!(dec_vs.variables()["outc.conv.weight"].grad().defined());
        }
    }

    #[test]
    fn frozen_encoder_adapts_batchnorm_statistics_only_when_asked() {
        for adapt_bn in [true, false] {
            let vs = nn::VarStore::new(Device::Cpu);
            let net = ResNet::new(&vs.root(), Arch::Resnet18, 3);
            let encoder = Encoder {
                net,
                frozen: true,
                adapt_bn,
            };
            let xs = Tensor::randn([2, 3, 32, 32], (Kind::Float, Device::Cpu)) * 3.0 + 1.0;
            let _ = encoder.feature_maps(&xs, true);
            let running_mean = vs.variables()["bn1.running_mean"]
                .abs()
                .sum(Kind::Float)
                .double_value(&[]);
            assert_eq!(running_mean > 0.0, adapt_bn, "adapt_bn = {adapt_bn}");
            // Prediction (train = false) never touches the statistics.
            let before = vs.variables()["bn1.running_mean"].copy();
            let _ = encoder.feature_maps(&xs, false);
            assert!(vs.variables()["bn1.running_mean"].equal(&before));
        }
    }

    #[test]
    fn fit_to_crops_larger_and_resizes_smaller_maps() {
        let x = Tensor::arange(16, (Kind::Float, Device::Cpu)).view([1, 1, 4, 4]);
        let cropped = fit_to(&x, (3, 2));
        assert_eq!(
            Vec::<f32>::try_from(cropped.flatten(0, -1)).unwrap(),
            vec![0., 1., 4., 5., 8., 9.]
        );
        assert_eq!(fit_to(&x, (8, 8)).size(), vec![1, 1, 8, 8]);
    }
}
