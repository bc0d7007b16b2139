//! `caco bench pretrain --method <m>`: the method's CPU preset (experiments/pretrain/<m>-r18-cpu.toml) with the
//! flags' overrides, run through the library's training loop for warmup + steps steps in a temporary run folder.

use std::path::PathBuf;

use anyhow::{bail, Result};
use caco::config::{ExperimentConfig, PretrainConfig};
use caco::train::{pretrain, PretrainOptions};

use super::{peak_rss_mb, set_threads};
use crate::shared::{AmpArg, DeviceArg, OnOff};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Pre-training method
    #[arg(long, value_parser = ["moco", "seco", "teco", "caco", "gassl"])]
    method: String,
    /// Config to start from (default: experiments/pretrain/<method>-r18-cpu.toml)
    #[arg(long, value_name = "TOML")]
    config: Option<PathBuf>,
    /// Backbone (default: the config's)
    #[arg(long, value_parser = ["resnet18", "resnet50"])]
    arch: Option<String>,
    /// Side of the augmented views (default: the config's)
    #[arg(long, value_name = "PX")]
    size: Option<usize>,
    /// (default: the config's)
    #[arg(long, value_name = "N")]
    batch_size: Option<usize>,
    /// (default: the config's)
    #[arg(long, value_name = "N")]
    queue_size: Option<i64>,
    /// Loader threads (default: the config's)
    #[arg(long, value_name = "N")]
    workers: Option<usize>,
    /// Time series to read (default: the config's)
    #[arg(long, value_name = "DIR")]
    root: Option<PathBuf>,
    /// (default: the config's)
    #[arg(long, value_enum)]
    device: Option<DeviceArg>,
    /// Mixed precision (default: the config's)
    #[arg(long, value_enum)]
    amp: Option<AmpArg>,
    /// Channels-last memory layout (default: the config's)
    #[arg(long, value_enum)]
    channels_last: Option<OnOff>,
    /// Timed steps
    #[arg(long, value_name = "N", default_value_t = 20)]
    steps: u64,
    /// Untimed steps before them (at least 1)
    #[arg(long, value_name = "N", default_value_t = 3)]
    warmup: usize,
    /// libtorch intra-op threads (0: libtorch's default, one per physical core)
    #[arg(long, value_name = "N", default_value_t = 0)]
    threads: i32,
}

pub fn run(args: Args) -> Result<()> {
    let method = &args.method;
    let config_path = args
        .config
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("experiments/pretrain/{method}-r18-cpu.toml")));
    let mut config = PretrainConfig::load(&config_path)?;
    if let Some(arch) = &args.arch {
        config.model.arch = serde_json::from_str(&format!("\"{arch}\""))?;
    }
    config.augment.out_size = args.size.unwrap_or(config.augment.out_size);
    config.optim.batch_size = args.batch_size.unwrap_or(config.optim.batch_size);
    config.ssl.queue_size = args.queue_size.unwrap_or(config.ssl.queue_size);
    config.run.n_workers = args.workers.unwrap_or(config.run.n_workers);
    if let Some(root) = args.root {
        config.data.root = root;
    }
    if let Some(device) = args.device {
        config.run.device = device.name().into();
    }
    if let Some(amp) = args.amp {
        config.run.amp = amp.into();
    }
    if let Some(channels_last) = args.channels_last {
        config.run.channels_last = channels_last == OnOff::On;
    }
    let steps = args.steps;
    let warmup = args.warmup.max(1);
    set_threads(args.threads);
    // No checkpoint inside the timed steps.
    config.run.checkpoint_every = usize::MAX / 2;
    config.validate()?;

    let run_dir = std::env::temp_dir().join(format!("caco-bench-pretrain-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&run_dir);
    let options = PretrainOptions {
        resume: false,
        max_steps: Some(warmup as u64 + steps),
        quiet: true,
    };
    let summary = pretrain(&config, &run_dir, &options);
    let _ = std::fs::remove_dir_all(&run_dir);
    let summary = summary?;
    let timed = summary.step_times.get(warmup..).unwrap_or_default();
    if timed.len() as u64 != steps {
        bail!(
            "only {} steps ran after the warm-up (an epoch ended?); use fewer --steps",
            timed.len()
        );
    }
    let items: usize = timed.iter().map(|t| t.n_items).sum();
    let wait: f64 = timed.iter().map(|t| t.data_wait_s).sum();
    let step: f64 = timed.iter().map(|t| t.step_s).sum();
    println!(
        "images_per_s={:.2} peak_rss_mb={:.0} threads={} data_wait_s={wait:.2} step_s={step:.2} method={method} size={} \
         batch_size={} queue_size={} workers={} amp={:?} channels_last={} arch={}",
        items as f64 / (wait + step).max(1e-9),
        peak_rss_mb(),
        tch::get_num_threads(),
        config.augment.out_size,
        config.optim.batch_size,
        config.ssl.queue_size,
        config.run.n_workers,
        config.run.amp,
        config.run.channels_last,
        config.model.arch.name()
    );
    Ok(())
}
