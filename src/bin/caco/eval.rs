//! `caco eval <task>`: the downstream benchmarks (change detection, semantic segmentation, BigEarthNet, EuroSAT
//! classification). Parses flags, runs the library's task (`caco::eval::tasks`, ...), adds the row to the task's
//! table and writes it.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use caco::config::ExperimentConfig;
use caco::eval::eurosat_config::EurosatTableConfig;
use caco::data::aerial_seg;
use caco::data::bigearthnet;
use caco::data::data_root;
use caco::data::dynamic_earthnet::{self, DenOptions, PlanetBand, SnowIce};
use caco::eval::bigearthnet::BigEarthNetConfig;
use caco::eval::dense::{BenchmarkOptions, DenseConfig};
use caco::eval::multilabel_probe::MultiLabelProbeConfig;
use caco::eval::tasks::{self, TaskData};
use caco::results::dense::{DenseTable, DenseTask};

use super::{parse_device, Args};

/// Flags shared by both tasks.
struct Common {
    data_root: PathBuf,
    out_dir: PathBuf,
    split_dir: Option<PathBuf>,
    config: DenseConfig,
    options: BenchmarkOptions,
}

fn number<T: std::str::FromStr>(args: &mut Args, name: &str) -> Result<Option<T>> {
    args.value(name)?
        .map(|v| {
            v.parse::<T>()
                .map_err(|_| anyhow::anyhow!("{name}: not a number: `{v}`"))
        })
        .transpose()
}

fn common(args: &mut Args, default_tile: impl Fn(&Path) -> usize) -> Result<Common> {
    let mut config = DenseConfig {
        tile_size: 0,
        ..Default::default()
    };
    if let Some(w) = args.value("--weights")? {
        config.weights = w;
    }
    if let Some(arch) = args.value("--arch")? {
        config.arch = match arch.as_str() {
            "resnet18" => caco::models::Arch::Resnet18,
            "resnet50" => caco::models::Arch::Resnet50,
            other => bail!("--arch must be resnet18 or resnet50, got `{other}`"),
        };
    }
    config.epochs = number(args, "--epochs")?.unwrap_or(config.epochs);
    config.lr = number(args, "--lr")?.unwrap_or(config.lr);
    config.batch_size = number(args, "--batch-size")?.unwrap_or(config.batch_size);
    config.tile_size = number(args, "--tile-size")?.unwrap_or(config.tile_size);
    config.max_tiles_per_epoch = number(args, "--max-tiles")?;
    config.label_fraction = number(args, "--label-fraction")?.unwrap_or(1.0);
    config.seed = number(args, "--seed")?.unwrap_or(config.seed);
    config.init_seed = number(args, "--init-seed")?.unwrap_or(config.init_seed);
    config.finetune = args.switch("--finetune");
    config.adapt_bn = !args.switch("--fixed-bn");
    config.augment = !args.switch("--no-augment");
    let data_dir = args.value("--data-dir")?.map(PathBuf::from);
    let out_dir = PathBuf::from(args.value("--out-dir")?.unwrap_or_else(|| "results".into()));
    let split_dir = args.value("--split-dir")?.map(PathBuf::from);
    let n_overlays = number(args, "--overlays")?.unwrap_or(4);
    let device = parse_device(&args.value("--device")?.unwrap_or_else(|| "auto".into()))?;
    let quiet = args.switch("--quiet");
    let data_root = data_root(data_dir.as_deref());
    if config.tile_size == 0 {
        config.tile_size = default_tile(&data_root);
    }
    config.validate(3)?;
    Ok(Common {
        data_root,
        out_dir,
        split_dir,
        config,
        options: BenchmarkOptions {
            device,
            quiet,
            overlay_dir: None,
            n_overlays,
            overlay_max_side: 384,
        },
    })
}

const TASKS: &str = "change-detection, segmentation, bigearthnet or eurosat";

pub fn run(mut args: Args) -> Result<()> {
    match args.positional().as_deref() {
        Some("change-detection") => change_detection(args),
        Some("segmentation") => segmentation(args),
        Some("bigearthnet") => bigearthnet(args),
        Some("eurosat") => eurosat(args),
        Some(other) => bail!("unknown eval task `{other}`: {TASKS}"),
        None => bail!("eval needs a task: {TASKS}"),
    }
}

fn change_detection(mut args: Args) -> Result<()> {
    let dataset = args.value("--dataset")?.unwrap_or_else(|| "levir-cd-samples".into());
    let seasons_dir = args.value("--seasons-dir")?.map(PathBuf::from);
    let mut c = common(&mut args, |root| tasks::change_tile_size(&dataset, root))?;
    args.finish()?;
    let mut data = TaskData {
        data_root: c.data_root.clone(),
        split_dir: c.split_dir.take(),
        ..Default::default()
    };
    if let Some(dir) = seasons_dir {
        data.seasons_dir = dir;
    }
    c.options.overlay_dir = Some(c.out_dir.join("figures"));
    announce(&c, &format!("Change detection on {dataset}"));
    let (template, row) = tasks::change_detection(&dataset, &data, &c.config, &c.options)?;
    finish(template, row, &c)
}

fn segmentation(mut args: Args) -> Result<()> {
    let dataset = args
        .value("--dataset")?
        .unwrap_or_else(|| aerial_seg::DATASET_DIR.into());
    if dataset == dynamic_earthnet::DATASET_DIR {
        return segmentation_dynamic_earthnet(args);
    }
    if dataset != aerial_seg::DATASET_DIR {
        bail!(
            "segmentation: unknown dataset `{dataset}`: {} or {}",
            aerial_seg::DATASET_DIR,
            dynamic_earthnet::DATASET_DIR
        );
    }
    let mut c = common(&mut args, |_| 256)?;
    args.finish()?;
    let data = TaskData {
        data_root: c.data_root.clone(),
        split_dir: c.split_dir.take(),
        ..Default::default()
    };
    c.options.overlay_dir = Some(c.out_dir.join("figures"));
    announce(&c, &format!("Semantic segmentation on {dataset}"));
    let (template, row) = tasks::segmentation_aerial(&data, &c.config, &c.options)?;
    finish(template, row, &c)
}

/// DynamicEarthNet: monthly labels with the PlanetFusion image of their date (`--bands`, default R,G,B), the
/// official split lists if the dataset has them, else a seeded split by AOI in experiments/splits/dynamic-earthnet.
fn segmentation_dynamic_earthnet(mut args: Args) -> Result<()> {
    let mut den = DenOptions::default();
    if let Some(bands) = args.value("--bands")? {
        den.bands = PlanetBand::parse_list(&bands)?;
    }
    if let Some(months) = args.value("--months")? {
        den.months = months.split(',').map(|m| m.trim().to_string()).collect();
    }
    den.skip_bad = args.switch("--skip-bad");
    if args.switch("--snow-as-class") {
        den.snow_ice = SnowIce::Class;
    }
    den.validate()?;
    let mut c = common(&mut args, |_| 256)?;
    args.finish()?;
    c.config.normalization = den.normalization();
    c.config.validate(den.bands.len())?;
    let data = TaskData {
        data_root: c.data_root.clone(),
        split_dir: c.split_dir.take(),
        ..Default::default()
    };
    c.options.overlay_dir = Some(c.out_dir.join("figures"));
    announce(&c, "Semantic segmentation on DynamicEarthNet");
    let (template, row) = tasks::segmentation_dynamic_earthnet(&data, &den, &c.config, &c.options)?;
    finish(template, row, &c)
}

/// BigEarthNet: frozen features + multi-label probe on a seeded fraction of train (default 10 %, the papers'
/// setting); `--epochs` are the probe's, `--max-test N` caps the test patches for quick runs.
fn bigearthnet(mut args: Args) -> Result<()> {
    let label_fraction = number(&mut args, "--label-fraction")?.unwrap_or(0.1);
    let max_test = number(&mut args, "--max-test")?;
    let c = common(&mut args, |_| bigearthnet::INPUT_SIZE)?;
    args.finish()?;
    let root = c.data_root.join(bigearthnet::DATASET_DIR);
    let config = BigEarthNetConfig {
        arch: c.config.arch,
        weights: c.config.weights.clone(),
        init_seed: c.config.init_seed,
        label_fraction,
        max_test,
        probe: MultiLabelProbeConfig {
            epochs: c.config.epochs,
            batch_size: c.config.batch_size,
            ..Default::default()
        },
        seed: c.config.seed,
        ..Default::default()
    };
    let template = DenseTable {
        name: bigearthnet::DATASET_DIR.into(),
        title: "BigEarthNet (19 classes, RGB): multi-label linear probe".into(),
        task: DenseTask::MultiLabel,
        dataset: root.display().to_string(),
        classes: bigearthnet::LABELS_19.iter().map(|s| s.to_string()).collect(),
        notes: vec![
            "Published, for context: R18 SeCo-1M 87.27, R50 SeCo-1M 87.81 micro mAP (torchgeo weights table, 10 % \
             of train)."
                .into(),
        ],
        rows: vec![],
    };
    if !c.options.quiet {
        eprintln!("{}: {} on {:?}", template.title, config.weights, c.options.device);
    }
    let row = caco::eval::bigearthnet::benchmark(&root, &config, c.options.device, c.options.quiet)?;
    finish(template, row, &c)
}

/// EuroSAT classification with a label fraction: the linear probe on frozen features (default) or, with
/// `--finetune`, the backbone and a linear head trained end to end. Dataset and split from `--config`
/// (default experiments/eurosat.toml); `--max-per-class N` caps every split for quick runs.
fn eurosat(mut args: Args) -> Result<()> {
    let config_path = PathBuf::from(
        args.value("--config")?
            .unwrap_or_else(|| "experiments/eurosat.toml".into()),
    );
    let max_per_class = number(&mut args, "--max-per-class")?;
    let c = common(&mut args, |_| 64)?;
    args.finish()?;
    let table_config = EurosatTableConfig::load(&config_path)?;
    let (dataset, splits) = caco::eval::eurosat::open_dataset(&table_config, max_per_class, &c.data_root)?;
    let mut config = c.config.clone();
    config.normalization = table_config.dataset.normalization.clone();
    config.validate(dataset.n_bands())?;
    let dir = table_config.dataset.dir.display().to_string();
    let template = DenseTable {
        name: format!("classification_{dir}"),
        title: format!("EuroSAT classification ({dir}): frozen linear probe and fine-tuning, by label fraction"),
        task: DenseTask::Classification,
        dataset: dataset.root.display().to_string(),
        classes: dataset.classes.clone(),
        notes: vec![format!(
            "Split lists: {} (seeded stratified; the label fraction is a seeded per-class subset of train).",
            table_config.dataset.split_dir.display()
        )],
        rows: vec![],
    };
    announce(&c, &template.title);
    let row = caco::eval::classification::benchmark(&dataset, &splits, &config, &table_config.probe, &c.options)?;
    finish(template, row, &c)
}

fn announce(c: &Common, title: &str) {
    if !c.options.quiet {
        eprintln!(
            "{title}: {} ({}), {} on {:?}",
            c.config.init_name(),
            c.config.encoder_mode(),
            c.config.recipe(),
            c.options.device
        );
    }
}

fn finish(template: DenseTable, row: caco::results::dense::DenseRow, c: &Common) -> Result<()> {
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
