//! Flag values that several commands share: the device, on/off switches, the ResNet and mixed precision.

use anyhow::{bail, Result};
use clap::ValueEnum;
use tch::Device;

/// `--device`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DeviceArg {
    /// CUDA when libtorch sees a GPU, else the CPU
    Auto,
    Cpu,
    Cuda,
}

impl DeviceArg {
    pub fn resolve(self) -> Result<Device> {
        match self {
            DeviceArg::Auto => Ok(Device::cuda_if_available()),
            DeviceArg::Cpu => Ok(Device::Cpu),
            DeviceArg::Cuda if tch::Cuda::is_available() => Ok(Device::Cuda(0)),
            DeviceArg::Cuda => bail!("--device cuda: libtorch sees no CUDA device (built without the `cuda` feature?)"),
        }
    }

    /// The name a pre-training config's `run.device` takes.
    pub fn name(self) -> &'static str {
        match self {
            DeviceArg::Auto => "auto",
            DeviceArg::Cpu => "cpu",
            DeviceArg::Cuda => "cuda",
        }
    }
}

/// `--channels-last on|off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OnOff {
    On,
    Off,
}

/// `--amp`: mixed precision of pre-training.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AmpArg {
    /// float32 throughout
    Off,
    /// autocast to bfloat16
    #[value(name = "bf16")]
    Bf16,
}

impl From<AmpArg> for caco::train::Amp {
    fn from(amp: AmpArg) -> Self {
        match amp {
            AmpArg::Off => caco::train::Amp::Off,
            AmpArg::Bf16 => caco::train::Amp::Bf16,
        }
    }
}

/// `--arch`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ArchArg {
    #[value(name = "resnet18")]
    Resnet18,
    #[value(name = "resnet50")]
    Resnet50,
}

impl From<ArchArg> for caco::models::Arch {
    fn from(arch: ArchArg) -> Self {
        match arch {
            ArchArg::Resnet18 => caco::models::Arch::Resnet18,
            ArchArg::Resnet50 => caco::models::Arch::Resnet50,
        }
    }
}

/// A device as `--device` spells it (`cpu`, `cuda:0`).
pub fn device_label(device: Device) -> String {
    match device {
        Device::Cpu => "cpu".into(),
        Device::Cuda(i) => format!("cuda:{i}"),
        other => format!("{other:?}").to_lowercase(),
    }
}
