//! `caco info`: libtorch, device and data-root summary.

use anyhow::Result;
use caco::data::data_root;
use tch::Device;

#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_: Args) -> Result<()> {
    println!("caco {}", env!("CARGO_PKG_VERSION"));
    println!("libtorch threads: {}", tch::get_num_threads());
    println!(
        "CUDA available: {} ({} devices)",
        tch::Cuda::is_available(),
        tch::Cuda::device_count()
    );
    println!("default device: {}", crate::shared::device_label(Device::cuda_if_available()));
    println!("data root: {}", data_root(None).display());
    Ok(())
}
