//! `caco bench-pretrain`, `caco bench-features` and `caco bench-report`: the caco side of `cargo xtask bench`
//! (issue 9). Each measuring command prints one `key=value` line that xtask parses, the same fields as the PyTorch
//! reference scripts in bench/.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use caco::config::{ExperimentConfig, PretrainConfig};
use caco::data::eurosat::{Eurosat, EurosatVariant};
use caco::data::{data_root, Normalization};
use caco::eval::features::{extract, ExtractOptions};
use caco::models::{Arch, ResNet};
use caco::train::{pretrain, Amp, PretrainOptions};

use crate::Args;

/// Peak resident set size of this process (VmHWM) in MiB.
fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kib| kib / 1024.0)
}

fn number<T: std::str::FromStr>(args: &mut Args, name: &str, default: T) -> Result<T> {
    match args.value(name)? {
        Some(v) => v.parse().ok().with_context(|| format!("{name}: a number, got `{v}`")),
        None => Ok(default),
    }
}

/// `--threads N`: libtorch intra-op threads (0 keeps libtorch's default, one per physical core).
fn set_threads(args: &mut Args) -> Result<()> {
    let threads: i32 = number(args, "--threads", 0)?;
    if threads > 0 {
        tch::set_num_threads(threads);
    }
    Ok(())
}

/// `caco bench-pretrain --method <m> [--size 64] [--batch-size 64] [--queue-size 4096] [--workers 2] [--steps 20]
/// [--warmup 3] [--threads N] [--amp off|bf16] [--channels-last on|off] [--device cpu|cuda|auto] [--root <dir>]`: the method's CPU preset
/// (experiments/pretrain/<m>-r18-cpu.toml) with these overrides, run through the library's training loop for
/// warmup + steps steps in a temporary run directory.
pub fn pretrain_cmd(mut args: Args) -> Result<()> {
    let method = args
        .value("--method")?
        .context("bench-pretrain needs --method moco|seco|caco|teco|gassl")?;
    let config_path = PathBuf::from(
        args.value("--config")?
            .unwrap_or_else(|| format!("experiments/pretrain/{method}-r18-cpu.toml")),
    );
    let mut config = PretrainConfig::load(&config_path)?;
    config.augment.out_size = number(&mut args, "--size", config.augment.out_size)?;
    config.optim.batch_size = number(&mut args, "--batch-size", config.optim.batch_size)?;
    config.ssl.queue_size = number(&mut args, "--queue-size", config.ssl.queue_size)?;
    config.run.n_workers = number(&mut args, "--workers", config.run.n_workers)?;
    if let Some(root) = args.value("--root")? {
        config.data.root = root.into();
    }
    if let Some(device) = args.value("--device")? {
        config.run.device = device;
    }
    config.run.amp = match args.value("--amp")?.as_deref() {
        None => config.run.amp,
        Some("off") => Amp::Off,
        Some("bf16") => Amp::Bf16,
        Some(other) => bail!("--amp must be off or bf16, got `{other}`"),
    };
    config.run.channels_last = match args.value("--channels-last")?.as_deref() {
        None => config.run.channels_last,
        Some("on") => true,
        Some("off") => false,
        Some(other) => bail!("--channels-last must be on or off, got `{other}`"),
    };
    let steps: u64 = number(&mut args, "--steps", 20)?;
    let warmup: usize = number::<usize>(&mut args, "--warmup", 3)?.max(1);
    set_threads(&mut args)?;
    args.finish()?;
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
         batch_size={} queue_size={} workers={} amp={:?} channels_last={}",
        items as f64 / (wait + step).max(1e-9),
        peak_rss_mb(),
        tch::get_num_threads(),
        config.augment.out_size,
        config.optim.batch_size,
        config.ssl.queue_size,
        config.run.n_workers,
        config.run.amp,
        config.run.channels_last
    );
    Ok(())
}

/// `caco bench-features [--data-dir <dir>] [--n-images 5400] [--batch-size 256] [--workers 2] [--threads N]
/// [--device cpu|cuda|auto]`: EuroSAT RGB feature extraction through `caco::eval::features::extract` with a frozen,
/// randomly initialised ResNet-18; an evenly spaced subset of n images (all classes), timed after a warm-up batch.
pub fn features_cmd(mut args: Args) -> Result<()> {
    let root = data_root(args.value("--data-dir")?.map(PathBuf::from).as_deref()).join("eurosat-rgb");
    let n_images: usize = number(&mut args, "--n-images", 5400)?;
    let batch_size: usize = number(&mut args, "--batch-size", 256)?;
    let n_workers: usize = number(&mut args, "--workers", 2)?;
    let device = crate::parse_device(&args.value("--device")?.unwrap_or_else(|| "cpu".into()))?;
    set_threads(&mut args)?;
    args.finish()?;
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

/// `caco bench-report [--dir results/bench]`: medians, ratios, Markdown and the figure from the raw runs;
/// `<dir>/machine.md` (written by xtask) is copied into every Markdown file.
pub fn report_cmd(mut args: Args) -> Result<()> {
    let dir = PathBuf::from(args.value("--dir")?.unwrap_or_else(|| "results/bench".into()));
    args.finish()?;
    let machine = std::fs::read_to_string(dir.join("machine.md")).unwrap_or_else(|_| "(not recorded)".into());
    for path in caco::report::bench::write_report(&dir, &machine)? {
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evenly_spaced_subsets_cover_the_range() {
        assert_eq!(evenly_spaced(10, 4), vec![0, 2, 5, 7]);
        assert_eq!(evenly_spaced(3, 10), vec![0, 1, 2]);
        assert!(peak_rss_mb() > 1.0);
    }
}
