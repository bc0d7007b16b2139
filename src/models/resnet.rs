//! ResNet-18/50 (He et al. 2016) with torchvision's parameter names (`conv1`, `bn1`, `layer1.0.conv1`,
//! `layer1.0.downsample.0`, ...) so PyTorch checkpoints load by name, a configurable number of input channels
//! (3 for RGB, 12/13 for Sentinel-2) and no `fc`: it returns pooled features and the multi-scale feature maps.

use serde::{Deserialize, Serialize};
use tch::nn::{self, ModuleT};
use tch::Tensor;

/// Which ResNet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Arch {
    Resnet18,
    Resnet50,
}

impl Arch {
    /// The name used in configs and messages (`resnet18`, `resnet50`).
    pub fn name(self) -> &'static str {
        match self {
            Arch::Resnet18 => "resnet18",
            Arch::Resnet50 => "resnet50",
        }
    }

    /// Width of the pooled feature vector (512 for ResNet-18, 2048 for ResNet-50).
    pub fn out_dim(self) -> i64 {
        match self {
            Arch::Resnet18 => 512,
            Arch::Resnet50 => 2048,
        }
    }

    fn blocks_per_layer(self) -> [usize; 4] {
        match self {
            Arch::Resnet18 => [2, 2, 2, 2],
            Arch::Resnet50 => [3, 4, 6, 3],
        }
    }

    /// Channels of conv1 and layer1-4 outputs: (64, 64, 128, 256, 512) or (64, 256, 512, 1024, 2048).
    pub fn feature_channels(self) -> [i64; 5] {
        match self {
            Arch::Resnet18 => [64, 64, 128, 256, 512],
            Arch::Resnet50 => [64, 256, 512, 1024, 2048],
        }
    }
}

/// The five feature maps of SeCo/CACo's dense tasks, children indices (0, 4, 5, 6, 7) of a torchvision ResNet
/// (METHODS.md "OSCD change detection"): the RAW conv1 output (stride 2, before bn1 and ReLU, so it can be negative)
/// and the outputs of layer1-4 (strides 4, 8, 16, 32).
#[derive(Debug)]
pub struct FeatureMaps {
    /// conv1's output as it leaves the convolution: bn1, ReLU and the max-pool are applied only on the way to layer1.
    pub conv1: Tensor,
    pub layer1: Tensor,
    pub layer2: Tensor,
    pub layer3: Tensor,
    pub layer4: Tensor,
}

impl FeatureMaps {
    /// Global average pool of layer4: `[n, d]`.
    pub fn pooled(&self) -> Tensor {
        self.layer4.adaptive_avg_pool2d([1, 1]).flatten(1, -1)
    }
}

fn conv(p: nn::Path, c_in: i64, c_out: i64, kernel: i64, stride: i64) -> nn::Conv2D {
    // torchvision: kaiming_normal_(mode="fan_out", nonlinearity="relu"), no bias.
    let ws_init = nn::Init::Kaiming {
        dist: nn::init::NormalOrUniform::Normal,
        fan: nn::init::FanInOut::FanOut,
        non_linearity: nn::init::NonLinearity::ReLU,
    };
    let config = nn::ConvConfig {
        stride,
        padding: kernel / 2,
        bias: false,
        ws_init,
        ..Default::default()
    };
    nn::conv2d(p, c_in, c_out, kernel, config)
}

fn bn(p: nn::Path, c: i64) -> nn::BatchNorm {
    // torchvision: weight 1, bias 0 (tch's default draws the weight uniformly).
    let config = nn::BatchNormConfig {
        ws_init: nn::Init::Const(1.0),
        bs_init: nn::Init::Const(0.0),
        ..Default::default()
    };
    nn::batch_norm2d(p, c, config)
}

#[derive(Debug)]
struct Downsample {
    conv: nn::Conv2D,
    bn: nn::BatchNorm,
}

/// A residual block: basic (two 3x3) for ResNet-18, bottleneck (1x1, 3x3 with the stride, 1x1 x4) for ResNet-50.
#[derive(Debug)]
struct Block {
    convs: Vec<(nn::Conv2D, nn::BatchNorm)>,
    downsample: Option<Downsample>,
}

impl Block {
    fn new(p: nn::Path, arch: Arch, c_in: i64, width: i64, stride: i64) -> (Self, i64) {
        let specs: Vec<(i64, i64, i64, i64)> = match arch {
            // (c_in, c_out, kernel, stride) of conv1, conv2[, conv3]
            Arch::Resnet18 => vec![(c_in, width, 3, stride), (width, width, 3, 1)],
            Arch::Resnet50 => vec![(c_in, width, 1, 1), (width, width, 3, stride), (width, width * 4, 1, 1)],
        };
        let c_out = specs.last().map(|s| s.1).unwrap_or(width);
        let convs = specs
            .iter()
            .enumerate()
            .map(|(i, &(ci, co, k, s))| {
                (
                    conv(&p / format!("conv{}", i + 1), ci, co, k, s),
                    bn(&p / format!("bn{}", i + 1), co),
                )
            })
            .collect();
        let downsample = (stride != 1 || c_in != c_out).then(|| {
            let d = &p / "downsample";
            Downsample {
                conv: conv(&d / "0", c_in, c_out, 1, stride),
                bn: bn(&d / "1", c_out),
            }
        });
        (Block { convs, downsample }, c_out)
    }

    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        let last = self.convs.len() - 1;
        let mut ys = xs.shallow_clone();
        for (i, (c, b)) in self.convs.iter().enumerate() {
            ys = ys.apply(c).apply_t(b, train);
            if i < last {
                ys = ys.relu();
            }
        }
        let shortcut = match &self.downsample {
            Some(d) => xs.apply(&d.conv).apply_t(&d.bn, train),
            None => xs.shallow_clone(),
        };
        (ys + shortcut).relu()
    }
}

/// A torchvision-layout ResNet without its classifier.
#[derive(Debug)]
pub struct ResNet {
    arch: Arch,
    in_channels: i64,
    conv1: nn::Conv2D,
    bn1: nn::BatchNorm,
    layers: Vec<Vec<Block>>,
}

impl ResNet {
    /// Builds the network under `p` (pass `&vs.root()` for torchvision names at the top level).
    pub fn new(p: &nn::Path, arch: Arch, in_channels: i64) -> Self {
        let conv1 = conv(p / "conv1", in_channels, 64, 7, 2);
        let bn1 = bn(p / "bn1", 64);
        let mut c_in = 64;
        let layers = arch
            .blocks_per_layer()
            .iter()
            .zip([64, 128, 256, 512])
            .enumerate()
            .map(|(layer_idx, (&n_blocks, width))| {
                let lp = p / format!("layer{}", layer_idx + 1);
                (0..n_blocks)
                    .map(|block_idx| {
                        let stride = if layer_idx > 0 && block_idx == 0 { 2 } else { 1 };
                        let (block, c_out) = Block::new(&lp / block_idx.to_string(), arch, c_in, width, stride);
                        c_in = c_out;
                        block
                    })
                    .collect()
            })
            .collect();
        ResNet {
            arch,
            in_channels,
            conv1,
            bn1,
            layers,
        }
    }

    pub fn arch(&self) -> Arch {
        self.arch
    }

    pub fn in_channels(&self) -> i64 {
        self.in_channels
    }

    pub fn out_dim(&self) -> i64 {
        self.arch.out_dim()
    }

    /// xs: `[n, in_channels, h, w]` -> the five feature maps. The forward is torchvision's (conv1, bn1, ReLU,
    /// max-pool, layer1-4); the conv1 map is taken before bn1, as the dense tasks' encoders take `children()[0]`.
    pub fn feature_maps(&self, xs: &Tensor, train: bool) -> FeatureMaps {
        let conv1 = xs.apply(&self.conv1);
        let mut x = conv1
            .apply_t(&self.bn1, train)
            .relu()
            .max_pool2d([3, 3], [2, 2], [1, 1], [1, 1], false);
        let mut outs = Vec::with_capacity(4);
        for layer in &self.layers {
            for block in layer {
                x = block.forward_t(&x, train);
            }
            outs.push(x.shallow_clone());
        }
        let [layer1, layer2, layer3, layer4]: [Tensor; 4] = outs.try_into().expect("four layers");
        FeatureMaps {
            conv1,
            layer1,
            layer2,
            layer3,
            layer4,
        }
    }
}

impl ModuleT for ResNet {
    /// xs: `[n, in_channels, h, w]` -> pooled features `[n, out_dim]`.
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        self.feature_maps(xs, train).pooled()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    fn shapes(arch: Arch, in_channels: i64) -> (Vec<Vec<i64>>, Vec<i64>) {
        let vs = nn::VarStore::new(Device::Cpu);
        let net = ResNet::new(&vs.root(), arch, in_channels);
        let xs = Tensor::randn([2, in_channels, 64, 64], (Kind::Float, Device::Cpu));
        let maps = tch::no_grad(|| net.feature_maps(&xs, false));
        let all = [&maps.conv1, &maps.layer1, &maps.layer2, &maps.layer3, &maps.layer4];
        (all.iter().map(|t| t.size()).collect(), net.forward_t(&xs, false).size())
    }

    #[test]
    fn resnet18_shapes_for_rgb_and_sentinel2() {
        for c in [3, 13] {
            let (maps, pooled) = shapes(Arch::Resnet18, c);
            assert_eq!(
                maps,
                vec![
                    vec![2, 64, 32, 32],
                    vec![2, 64, 16, 16],
                    vec![2, 128, 8, 8],
                    vec![2, 256, 4, 4],
                    vec![2, 512, 2, 2]
                ]
            );
            assert_eq!(pooled, vec![2, 512]);
        }
    }

    #[test]
    fn resnet50_shapes_for_rgb_and_sentinel2() {
        for c in [3, 13] {
            let (maps, pooled) = shapes(Arch::Resnet50, c);
            assert_eq!(maps[1], vec![2, 256, 16, 16]);
            assert_eq!(maps[4], vec![2, 2048, 2, 2]);
            assert_eq!(pooled, vec![2, 2048]);
        }
    }

    #[test]
    fn conv1_map_is_the_raw_convolution_and_the_rest_of_the_forward_is_unchanged() {
        tch::manual_seed(3);
        let vs = nn::VarStore::new(Device::Cpu);
        let net = ResNet::new(&vs.root(), Arch::Resnet18, 3);
        let xs = Tensor::randn([2, 3, 32, 32], (Kind::Float, Device::Cpu));
        let maps = tch::no_grad(|| net.feature_maps(&xs, false));
        // children()[0] of torchvision's ResNet: conv1 alone, before bn1 and ReLU (a ReLU'd map is never negative).
        let raw = tch::no_grad(|| xs.apply(&net.conv1));
        assert!(maps.conv1.equal(&raw));
        assert!(maps.conv1.min().double_value(&[]) < 0.0);
        // layer1 still sees max_pool(relu(bn1(conv1(x)))).
        let mut x = tch::no_grad(|| {
            raw.apply_t(&net.bn1, false)
                .relu()
                .max_pool2d([3, 3], [2, 2], [1, 1], [1, 1], false)
        });
        for block in &net.layers[0] {
            x = tch::no_grad(|| block.forward_t(&x, false));
        }
        assert!(maps.layer1.allclose(&x, 1e-6, 1e-6, false));
    }

    #[test]
    fn parameter_names_and_counts_match_torchvision() {
        let vs = nn::VarStore::new(Device::Cpu);
        let _ = ResNet::new(&vs.root(), Arch::Resnet18, 3);
        let vars = vs.variables();
        for name in [
            "conv1.weight",
            "bn1.running_mean",
            "layer1.0.conv2.weight",
            "layer2.0.downsample.0.weight",
            "layer4.1.bn2.bias",
        ] {
            assert!(vars.contains_key(name), "missing {name}");
        }
        assert!(!vars.contains_key("layer1.0.downsample.0.weight"));
        // torchvision resnet18 has 11,689,512 parameters, of which fc is 513,000.
        let n_trainable: i64 = vs.trainable_variables().iter().map(|t| t.numel() as i64).sum();
        assert_eq!(n_trainable, 11_689_512 - 513_000);

        let vs50 = nn::VarStore::new(Device::Cpu);
        let _ = ResNet::new(&vs50.root(), Arch::Resnet50, 3);
        // torchvision resnet50: 25,557,032 parameters, fc 2,049,000.
        let n50: i64 = vs50.trainable_variables().iter().map(|t| t.numel() as i64).sum();
        assert_eq!(n50, 25_557_032 - 2_049_000);
        assert!(vs50.variables().contains_key("layer3.5.conv3.weight"));
    }
}
