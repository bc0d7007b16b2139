//! `caco bench features`: EuroSAT RGB feature extraction through `caco::eval::features::extract` with a frozen,
//! randomly initialised ResNet-18; an evenly spaced subset of n images (all classes), timed after a warm-up batch.

use std::path::PathBuf;

use anyhow::Result;
use caco::data::eurosat::{Eurosat, EurosatVariant};
use caco::data::{data_root, Normalization};
use caco::eval::features::{extract, ExtractOptions};
use caco::models::{Arch, ResNet};

use super::{peak_rss_mb, set_threads};
use crate::shared::DeviceArg;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Data root holding eurosat-rgb/ (default: $CACO_DATA, else ./data)
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Images timed, evenly spaced over the dataset
    #[arg(long, value_name = "N", default_value_t = 5400)]
    n_images: usize,
    #[arg(long, value_name = "N", default_value_t = 256)]
    batch_size: usize,
    /// Loader threads
    #[arg(long, value_name = "N", default_value_t = 2)]
    workers: usize,
    #[arg(long, value_enum, default_value_t = DeviceArg::Cpu)]
    device: DeviceArg,
    /// libtorch intra-op threads (0: libtorch's default, one per physical core)
    #[arg(long, value_name = "N", default_value_t = 0)]
    threads: i32,
}

pub fn run(args: Args) -> Result<()> {
    let root = data_root(args.data_dir.as_deref()).join("eurosat-rgb");
    let (n_images, batch_size, n_workers) = (args.n_images, args.batch_size, args.workers);
    let device = args.device.resolve()?;
    set_threads(args.threads);
    let dataset = Eurosat::open(&root, EurosatVariant::Rgb)?;
    let indices = evenly_spaced(dataset.len(), n_images);
    let (mut vs, net) = caco::models::seeded(0, || {
        let vs = tch::nn::VarStore::new(device);
        let net = ResNet::new(&vs.root(), Arch::Resnet18, 3);
        (vs, net)
    });
    vs.freeze();
    let options = ExtractOptions {
        batch_size,
        device,
        n_workers,
        quiet: true,
    };
    let norm = Normalization::Imagenet;
    extract(
        &net,
        &dataset,
        &indices[..batch_size.min(indices.len())],
        &norm,
        &options,
        "warm-up",
    )?;
    let start = std::time::Instant::now();
    let set = extract(&net, &dataset, &indices, &norm, &options, "features")?;
    let seconds = start.elapsed().as_secs_f64();
    println!(
        "images_per_s={:.2} peak_rss_mb={:.0} threads={} n_images={} batch_size={batch_size} workers={n_workers}",
        set.len() as f64 / seconds,
        peak_rss_mb(),
        tch::get_num_threads(),
        set.len()
    );
    Ok(())
}

/// `n` indices spread evenly over `0..len` (all of them when n >= len): position i * len / n.
fn evenly_spaced(len: usize, n: usize) -> Vec<usize> {
    let n = n.min(len);
    (0..n).map(|i| i * len / n).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evenly_spaced_subsets_cover_the_range() {
        assert_eq!(evenly_spaced(10, 4), vec![0, 2, 5, 7]);
        assert_eq!(evenly_spaced(3, 10), vec![0, 1, 2]);
    }
}
