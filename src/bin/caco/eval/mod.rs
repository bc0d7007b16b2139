//! `caco eval <task>`: the downstream benchmarks (change detection, semantic segmentation, BigEarthNet, EuroSAT
//! classification). Each task parses its flags, runs the library's task (`caco::eval::tasks`, ...), adds the row to
//! the task's table and writes it. The flags every task shares are declared once here.

mod bigearthnet;
mod change_detection;
mod eurosat;
mod segmentation;

use std::path::{Path, PathBuf};

use anyhow::Result;
use caco::data::{data_root, Normalization};
use caco::eval::dense::{BenchmarkOptions, DenseConfig};
use caco::results::dense::{DenseRow, DenseTable};
use clap::Subcommand;

use crate::shared::{ArchArg, DeviceArg};

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Flags may come before or after the task: `caco eval --dataset oscd change-detection` \
                        works. `caco eval <task> --help` shows the flags of one task."
)]
pub struct Args {
    #[command(subcommand)]
    task: Task,
}

#[derive(Debug, Subcommand)]
enum Task {
    /// Change detection (U-Net decoder on the backbone): LEVIR-CD samples, OSCD, the simulated seasons' changes or
    /// any dataset in LEVIR-CD or time1/time2 layout
    ChangeDetection(change_detection::Args),
    /// Semantic segmentation: Dubai aerial imagery or DynamicEarthNet
    Segmentation(segmentation::Args),
    /// BigEarthNet (19 classes, RGB): multi-label linear probe on frozen features
    Bigearthnet(bigearthnet::Args),
    /// EuroSAT classification by label fraction: linear probe on frozen features, or fine-tuning with --finetune
    Eurosat(eurosat::Args),
}

pub fn run(args: Args) -> Result<()> {
    match args.task {
        Task::ChangeDetection(args) => change_detection::run(args),
        Task::Segmentation(args) => segmentation::run(args),
        Task::Bigearthnet(args) => bigearthnet::run(args),
        Task::Eurosat(args) => eurosat::run(args),
    }
}

/// Flags of every task.
#[derive(Debug, clap::Args)]
#[command(next_help_heading = "Options of every eval task")]
pub struct CommonArgs {
    /// Backbone weights: `random` or a .safetensors file with torchvision names
    #[arg(long, value_name = "random|FILE", default_value_t = DenseConfig::default().weights)]
    weights: String,
    #[arg(long, value_enum, default_value_t = ArchArg::Resnet18)]
    arch: ArchArg,
    /// Data root (default: $CACO_DATA, else ./data)
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Outputs: tables/ and figures/
    #[arg(long, value_name = "DIR", default_value = "results")]
    out_dir: PathBuf,
    /// Training epochs (the paper's; bigearthnet: the probe's)
    #[arg(long, value_name = "N", default_value_t = DenseConfig::default().epochs)]
    epochs: usize,
    /// Learning rate
    #[arg(long, value_name = "LR", default_value_t = DenseConfig::default().lr)]
    lr: f64,
    #[arg(long, value_name = "N", default_value_t = DenseConfig::default().batch_size)]
    batch_size: usize,
    /// Training and prediction tiles (default: 256; eurosat-seasons-change 64, oscd 96, bigearthnet 128,
    /// eurosat 64)
    #[arg(long, value_name = "PX")]
    tile_size: Option<usize>,
    /// At most N training tiles per epoch, seeded (default: all)
    #[arg(long, value_name = "N")]
    max_tiles: Option<usize>,
    /// Train on a seeded fraction of the training images (default: 1; bigearthnet 0.1, the papers' 10 %)
    #[arg(long, value_name = "F")]
    label_fraction: Option<f64>,
    /// Seed of the head's initialisation, tile order, augmentation and dropout
    #[arg(long, value_name = "S", default_value_t = DenseConfig::default().seed)]
    seed: u64,
    /// Seed of a random backbone's initialisation
    #[arg(long, value_name = "S", default_value_t = DenseConfig::default().init_seed)]
    init_seed: u64,
    /// Input normalisation: imagenet, scale=<s> (x / s) or per-band=<means>/<stds> [default: the one recorded in
    /// the weights' metadata (their contract), else imagenet]
    #[arg(long, value_name = "NORM", value_parser = crate::shared::parse_normalization)]
    normalization: Option<Normalization>,
    /// Train the encoder too (default: frozen)
    #[arg(long)]
    finetune: bool,
    /// A frozen encoder keeps its stored BatchNorm statistics (default: re-estimated on the training tiles)
    #[arg(long)]
    fixed_bn: bool,
    /// No flips or rotations of the training tiles
    #[arg(long)]
    no_augment: bool,
    /// Split lists (default: <dataset>/list, or experiments/splits/<dataset>)
    #[arg(long, value_name = "DIR")]
    split_dir: Option<PathBuf>,
    /// PNG overlays of the first N test images
    #[arg(long, value_name = "N", default_value_t = 4)]
    overlays: usize,
    #[arg(long, value_enum, default_value_t = DeviceArg::Auto)]
    device: DeviceArg,
    /// No progress bars or summaries
    #[arg(long)]
    quiet: bool,
}

/// The shared flags resolved: data root, outputs, the dense config and the run options.
struct Common {
    data_root: PathBuf,
    out_dir: PathBuf,
    split_dir: Option<PathBuf>,
    config: DenseConfig,
    options: BenchmarkOptions,
}

impl CommonArgs {
    /// `default_tile` gives the tile size when `--tile-size` is not given (or 0), from the data root.
    /// `fixed_input`: None where the input normalisation follows `--normalization`, else the weights' contract;
    /// Some(what decides it) for tasks whose protocol fixes it (then `--normalization` is refused, naming that).
    fn resolve(self, default_tile: impl Fn(&Path) -> usize, fixed_input: Option<&str>) -> Result<Common> {
        let mut config = DenseConfig {
            weights: self.weights,
            arch: self.arch.into(),
            epochs: self.epochs,
            lr: self.lr,
            batch_size: self.batch_size,
            tile_size: self.tile_size.unwrap_or(0),
            max_tiles_per_epoch: self.max_tiles,
            label_fraction: self.label_fraction.unwrap_or(1.0),
            seed: self.seed,
            init_seed: self.init_seed,
            finetune: self.finetune,
            adapt_bn: !self.fixed_bn,
            augment: !self.no_augment,
            ..Default::default()
        };
        match (self.normalization, fixed_input) {
            (Some(_), Some(decided_by)) => {
                anyhow::bail!("--normalization does not apply here: the input is fixed by {decided_by}")
            }
            (Some(n), None) => config.normalization = n,
            (None, Some(_)) => {}
            (None, None) => {
                if let (Some(line), false) = (config.adopt_contract_normalization()?, self.quiet) {
                    eprintln!("{line}");
                }
            }
        }
        let device = self.device.resolve()?;
        let data_root = data_root(self.data_dir.as_deref());
        if config.tile_size == 0 {
            config.tile_size = default_tile(&data_root);
        }
        // The dataset's band count is checked against the weights when they load (with the bands named); here only
        // the normalisation's own consistency.
        let n_bands = match &config.normalization {
            Normalization::PerBand { mean, .. } => mean.len(),
            _ => 3,
        };
        config.validate(n_bands)?;
        Ok(Common {
            data_root,
            out_dir: self.out_dir,
            split_dir: self.split_dir,
            config,
            options: BenchmarkOptions {
                device,
                quiet: self.quiet,
                overlay_dir: None,
                n_overlays: self.overlays,
                overlay_max_side: 384,
            },
        })
    }
}

fn announce(c: &Common, title: &str) {
    if !c.options.quiet {
        eprintln!(
            "{title}: {} ({}), {} on {}",
            c.config.init_name(),
            c.config.encoder_mode(),
            c.config.recipe(),
            crate::shared::device_label(c.options.device)
        );
    }
}

/// Adds the row to the task's table (loaded from the outputs if there is one), writes it and prints it.
fn finish(template: DenseTable, row: DenseRow, c: &Common) -> Result<()> {
    let mut table = DenseTable::load_or_new(&c.out_dir, template)?;
    table.upsert(row);
    let written = caco::report::dense::write(&table, &c.out_dir)?;
    print!("{}", std::fs::read_to_string(md_path(&c.out_dir, &table.name))?);
    if !c.options.quiet {
        eprintln!("wrote {} files under {}", written.len(), c.out_dir.display());
    }
    Ok(())
}

fn md_path(out_dir: &Path, name: &str) -> PathBuf {
    out_dir.join("tables").join(format!("{name}.md"))
}
