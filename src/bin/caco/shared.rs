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

/// `imagenet`, `scale=255`, `per-band=0.1,0.2/1,2`.
pub fn parse_normalization(s: &str) -> Result<caco::data::Normalization, String> {
    let floats = |list: &str| -> Result<Vec<f32>, String> {
        list.split(',')
            .map(|v| v.trim().parse::<f32>().map_err(|_| format!("`{v}` is not a number")))
            .collect()
    };
    match s.split_once('=') {
        None if s == "imagenet" => Ok(caco::data::Normalization::Imagenet),
        Some(("scale", v)) => Ok(caco::data::Normalization::Scale { scale: floats(v)?[0] }),
        Some(("per-band", v)) => {
            let (mean, std) = v.split_once('/').ok_or("per-band needs <means>/<stds>")?;
            Ok(caco::data::Normalization::PerBand {
                mean: floats(mean)?,
                std: floats(std)?,
            })
        }
        _ => Err(format!(
            "`{s}` is not a normalisation; use imagenet, scale=<s> or per-band=<means>/<stds>"
        )),
    }
}
