//! PyTorch's default initialisation of `nn.Linear` and `nn.Conv2d` (METHODS.md "Initialisation"): weights
//! kaiming_uniform with a = sqrt(5), i.e. uniform(±1/sqrt(fan_in)), bias uniform(±1/sqrt(fan_in)). tch's own
//! defaults differ (its Linear weight bound is sqrt(6) times larger), so heads, probes and decoders are built here.

use tch::nn;

/// The bound 1/sqrt(fan_in) of PyTorch's default weight and bias initialisation.
pub fn default_bound(fan_in: i64) -> f64 {
    1.0 / (fan_in.max(1) as f64).sqrt()
}

/// `nn.Linear(in_dim, out_dim)` with PyTorch's default initialisation, weights named `weight` and `bias`.
pub fn linear(p: nn::Path, in_dim: i64, out_dim: i64) -> nn::Linear {
    let bound = default_bound(in_dim);
    let config = nn::LinearConfig {
        ws_init: nn::Init::Uniform { lo: -bound, up: bound },
        bs_init: Some(nn::Init::Uniform { lo: -bound, up: bound }),
        bias: true,
    };
    nn::linear(p, in_dim, out_dim, config)
}

/// `nn.Conv2d(c_in, c_out, kernel, ...)` with PyTorch's default initialisation; `config` gives stride, padding,
/// bias and groups (its `ws_init` and `bs_init` are replaced).
pub fn conv2d(p: nn::Path, c_in: i64, c_out: i64, kernel: i64, config: nn::ConvConfig) -> nn::Conv2D {
    let fan_in = c_in / config.groups.max(1) * kernel * kernel;
    let bound = default_bound(fan_in);
    let config = nn::ConvConfig {
        ws_init: nn::Init::Uniform { lo: -bound, up: bound },
        bs_init: nn::Init::Uniform { lo: -bound, up: bound },
        ..config
    };
    nn::conv2d(p, c_in, c_out, kernel, config)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    fn max_abs(t: &tch::Tensor) -> f64 {
        t.abs().max().double_value(&[])
    }

    #[test]
    fn linear_and_conv_follow_pytorch_bounds() {
        let vs = nn::VarStore::new(Device::Cpu);
        tch::manual_seed(0);
        let fc = linear(vs.root() / "fc", 512, 10);
        let b = 1.0 / 512f64.sqrt();
        assert!(max_abs(&fc.ws) <= b && max_abs(&fc.ws) > 0.9 * b);
        // Uniform(-b, b) has standard deviation b / sqrt(3).
        let std = fc.ws.to_kind(Kind::Double).std(true).double_value(&[]);
        assert!((std - b / 3f64.sqrt()).abs() < 0.05 * b, "{std}");
        let bias = fc.bs.as_ref().unwrap();
        assert!(max_abs(bias) <= b);
        let conv = conv2d(vs.root() / "conv", 16, 8, 3, Default::default());
        let b = 1.0 / (16.0f64 * 9.0).sqrt();
        assert!(max_abs(&conv.ws) <= b && max_abs(&conv.ws) > 0.9 * b);
        assert!(max_abs(conv.bs.as_ref().unwrap()) <= b);
    }
}
