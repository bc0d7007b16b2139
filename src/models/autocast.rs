//! Mixed precision: libtorch's autocast with bf16, on CUDA or CPU.
//!
//! tch 0.24's `tch::autocast` turns on CUDA autocast with float16 only; bf16 (the dtype of choice on Ampere and
//! newer GPUs: no loss scaling needed) goes through `csrc/autocast.cpp`, which calls libtorch's per-device API.
//! Float16 is not offered: without a gradient scaler its small gradients underflow.

use serde::{Deserialize, Serialize};
use tch::Device;

use crate::{Error, Result};

/// `[run] amp` of a pre-training config.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Amp {
    /// Float32 throughout.
    #[default]
    Off,
    /// Autocast to bfloat16 (matmuls and convolutions; reductions and losses stay float32). Weights, gradients
    /// and the optimiser stay float32.
    Bf16,
}

extern "C" {
    fn caco_autocast_set(cuda: i32, enabled: i32, bf16: i32, was_enabled: *mut i32, was_bf16: *mut i32) -> i32;
    fn caco_autocast_enter() -> i32;
    fn caco_autocast_exit() -> i32;
}

/// Restores the previous autocast state of one device, also when `f` panics.
struct Guard {
    cuda: i32,
    was_enabled: i32,
    was_bf16: i32,
}

impl Drop for Guard {
    fn drop(&mut self) {
        let (mut e, mut b) = (0, 0);
        // SAFETY: plain C functions of csrc/autocast.cpp; they catch every C++ exception.
        unsafe {
            caco_autocast_exit();
            caco_autocast_set(self.cuda, self.was_enabled, self.was_bf16, &mut e, &mut b);
        }
    }
}

/// Runs `f` under autocast on `device`'s type when `amp` asks for it (as `with torch.autocast(...)` does).
pub fn autocast<T>(amp: Amp, device: Device, f: impl FnOnce() -> T) -> Result<T> {
    if amp == Amp::Off {
        return Ok(f());
    }
    let cuda = i32::from(device.is_cuda());
    let (mut was_enabled, mut was_bf16) = (0, 0);
    // SAFETY: as above; the out-pointers are valid locals.
    let failed =
        unsafe { caco_autocast_set(cuda, 1, 1, &mut was_enabled, &mut was_bf16) != 0 || caco_autocast_enter() != 0 };
    if failed {
        return Err(Error::Config(format!(
            "libtorch refused bf16 autocast on {}; run without it (`run.amp = \"off\"`)",
            if device.is_cuda() { "the GPU" } else { "the CPU" }
        )));
    }
    let _guard = Guard {
        cuda,
        was_enabled,
        was_bf16,
    };
    Ok(f())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{nn, nn::Module, Kind, Tensor};

    #[test]
    fn bf16_autocast_runs_convolutions_in_bf16_and_restores_float32() {
        let vs = nn::VarStore::new(Device::Cpu);
        let conv = nn::conv2d(vs.root(), 3, 4, 3, Default::default());
        let x = Tensor::randn([1, 3, 8, 8], (Kind::Float, Device::Cpu));
        let inside = autocast(Amp::Bf16, Device::Cpu, || conv.forward(&x)).unwrap();
        assert_eq!(inside.kind(), Kind::BFloat16);
        // Off is float32, and the state is restored after the block.
        assert_eq!(
            autocast(Amp::Off, Device::Cpu, || conv.forward(&x)).unwrap().kind(),
            Kind::Float
        );
        assert_eq!(conv.forward(&x).kind(), Kind::Float);
        // Results agree with float32 to bf16 precision.
        let diff = (inside.to_kind(Kind::Float) - conv.forward(&x))
            .abs()
            .max()
            .double_value(&[]);
        assert!(diff < 0.05, "bf16 vs f32 max difference {diff}");
    }

    #[test]
    fn gradients_under_bf16_autocast_reach_float32_weights() {
        let vs = nn::VarStore::new(Device::Cpu);
        let linear = nn::linear(vs.root(), 8, 2, Default::default());
        let x = Tensor::randn([4, 8], (Kind::Float, Device::Cpu));
        let loss = autocast(Amp::Bf16, Device::Cpu, || {
            linear.forward(&x).to_kind(Kind::Float).square().mean(None)
        })
        .unwrap();
        loss.backward();
        let grad = linear.ws.grad();
        assert_eq!(grad.kind(), Kind::Float);
        assert!(grad.abs().sum(None).double_value(&[]) > 0.0);
    }

    #[test]
    fn amp_parses_from_config_strings() {
        #[derive(Deserialize)]
        struct Run {
            amp: Amp,
        }
        let run: Run = toml::from_str("amp = \"bf16\"").unwrap();
        assert_eq!(run.amp, Amp::Bf16);
        let err = toml::from_str::<Run>("amp = \"fp16\"").err().unwrap().to_string();
        assert!(err.contains("fp16") && err.contains("bf16"), "{err}");
    }
}
