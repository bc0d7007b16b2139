//! `caco pretrain <config>`: pre-train a backbone from an experiments/pretrain TOML.

use std::path::PathBuf;

use anyhow::Result;
use caco::config::{ExperimentConfig, PretrainConfig};
use caco::train::{pretrain, PretrainOptions};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Pre-training config, e.g. experiments/pretrain/caco-r18-cpu.toml
    #[arg(value_name = "CONFIG")]
    config: PathBuf,
    /// Run folder: checkpoint, logs, backbone (default: runs/<config name>)
    #[arg(long, value_name = "DIR")]
    run_dir: Option<PathBuf>,
    /// Continue from <run-dir>/checkpoint exactly
    #[arg(long)]
    resume: bool,
    /// Stop (with a checkpoint) after N steps in total
    #[arg(long, value_name = "N")]
    max_steps: Option<u64>,
    /// No progress bars
    #[arg(long)]
    quiet: bool,
    /// Data-parallel on this machine: start N ranks of caco (CPU: Gloo; CUDA: one GPU per rank), each taking 1/N
    /// of every global batch (see docs/distributed.md; torchrun and srun work too)
    #[arg(long, value_name = "N", default_value_t = 1)]
    nproc: usize,
}

pub fn run(args: Args) -> Result<()> {
    if args.nproc > 1 {
        if std::env::var_os("WORLD_SIZE").is_some() {
            anyhow::bail!(
                "--nproc {}: this process is already a rank (WORLD_SIZE is set, e.g. by torchrun)",
                args.nproc
            );
        }
        // Each rank gets this command line without --nproc.
        let mut rank_args: Vec<String> = Vec::new();
        let mut skip = false;
        for a in std::env::args().skip(1) {
            if skip {
                skip = false;
            } else if a == "--nproc" {
                skip = true;
            } else if !a.starts_with("--nproc=") {
                rank_args.push(a);
            }
        }
        return super::launch::launch(args.nproc, &rank_args);
    }
    let config = PretrainConfig::load(&args.config)?;
    let run_dir = args
        .run_dir
        .unwrap_or_else(|| PathBuf::from(format!("runs/{}", config.name)));
    let options = PretrainOptions {
        resume: args.resume,
        max_steps: args.max_steps,
        quiet: args.quiet,
    };
    let summary = pretrain(&config, &run_dir, &options)?;
    if std::env::var("RANK").is_ok_and(|r| r != "0") {
        return Ok(());
    }
    eprintln!(
        "{}: {} steps, {} epochs{}; median {:.1} images/s; backbone at {}",
        config.name,
        summary.steps,
        summary.epochs_done,
        if summary.stopped_early {
            " (stopped early; --resume continues)"
        } else {
            ""
        },
        summary.images_per_s,
        summary.backbone.display()
    );
    Ok(())
}
