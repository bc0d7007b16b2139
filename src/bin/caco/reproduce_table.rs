//! `caco reproduce-table`: pre-train every method, evaluate every task, write the comparison table and its figures.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use caco::config::ExperimentConfig;
use caco::eval::eurosat_config::EurosatTableConfig;
use caco::data::data_root;
use caco::eval::eurosat::{self, RunContext};
use caco::reproduce::{datasets, TableConfig};
use tch::Device;

use crate::shared::DeviceArg;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Preset from the table's [scales] (smoke, cpu or paper in the committed tables)
    #[arg(long, value_name = "NAME", default_value = "cpu")]
    scale: String,
    /// Table definition
    #[arg(long, value_name = "TOML", default_value = "experiments/tables/main.toml")]
    table: PathBuf,
    /// Instead of --table: only the EuroSAT probe + kNN table of an experiments/eurosat.toml-style config
    #[arg(long, value_name = "TOML")]
    config: Option<PathBuf>,
    /// Pre-training runs, one per resolved config
    #[arg(long, value_name = "DIR", default_value = "runs/reproduce")]
    runs_dir: PathBuf,
    /// Pre-train and evaluate seeds 0..N of every row (default: the scale's seeds); the table shows mean ± std over
    /// seeds beside each seed's bootstrap interval
    #[arg(long, value_name = "N")]
    seeds: Option<u64>,
    /// Redo every pre-training and evaluation instead of reusing finished ones
    #[arg(long)]
    force: bool,
    /// Download the missing datasets that `caco data download` can fetch (progress, checksums, resume) before the
    /// run; without it nothing is downloaded, and missing data stop the run before any work
    #[arg(long, conflicts_with = "config")]
    download: bool,
    /// Run without the tasks whose data are absent: their cells read "n/a (data absent)", with a note
    #[arg(long, conflicts_with = "config")]
    skip_missing: bool,
    /// With --download: fetch the official paths from another host (a mirror)
    #[arg(long, value_name = "BASE-URL", requires = "download")]
    mirror: Option<String>,
    /// Data root (default: $CACO_DATA, else ./data)
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Outputs (default: results for the cpu and paper scales, runs/<scale> otherwise)
    #[arg(long, value_name = "DIR")]
    out_dir: Option<PathBuf>,
    /// Feature cache
    #[arg(long, value_name = "DIR", default_value = "cache")]
    cache_dir: PathBuf,
    #[arg(long, value_enum, default_value_t = DeviceArg::Auto)]
    device: DeviceArg,
    /// No progress bars or summaries
    #[arg(long)]
    quiet: bool,
}

pub fn run(args: Args) -> Result<()> {
    let Args {
        scale,
        table: table_path,
        config: eurosat_only,
        runs_dir,
        seeds,
        force,
        download,
        skip_missing,
        mirror,
        data_dir,
        out_dir,
        cache_dir,
        device,
        quiet,
    } = args;
    let out_dir = out_dir.unwrap_or_else(|| match scale.as_str() {
        "cpu" | "paper" => PathBuf::from("results"),
        other => PathBuf::from("runs").join(other),
    });
    let device = device.resolve()?;
    if let Some(config_path) = eurosat_only {
        return eurosat_table(&config_path, &scale, data_dir, out_dir, cache_dir, device, quiet);
    }
    let mut config = caco::reproduce::TableConfig::load(&table_path)?;
    if let Some(n) = seeds {
        if n == 0 {
            bail!("--seeds must be at least 1");
        }
        let preset = config
            .scales
            .get_mut(&scale)
            .with_context(|| format!("unknown scale `{scale}` for table `{}`", table_path.display()))?;
        preset.seeds = (0..n).collect();
    }
    let data_root = data_root(data_dir.as_deref());
    let mut options = caco::fetch::Options::new(&data_root);
    options.mirror = mirror;
    options.quiet = quiet;
    check_data(&config, &scale, &options, download, skip_missing)?;
    let ctx = caco::reproduce::ReproduceContext {
        data_root,
        cache_dir,
        runs_dir,
        out_dir: out_dir.clone(),
        device,
        quiet,
        force,
        skip_missing,
    };
    table_started(quiet, &config.name, &scale, device, &ctx.data_root);
    let provenance = caco::results::provenance::Provenance::capture(
        &format!("{device:?}").to_lowercase(),
        &out_dir.display().to_string(),
    );
    if provenance.dirty && out_dir.starts_with("results") {
        eprintln!(
            "WARNING: the working tree has uncommitted changes: the results written to {} will not be reproducible \
             from commit {}. Commit first, or write elsewhere with --out-dir.",
            out_dir.display(),
            provenance.commit
        );
    }
    let mut table = caco::reproduce::reproduce(&config, &scale, &ctx)?;
    table.provenance = Some(provenance);
    let written = caco::report::paper_output::write(&table, &out_dir)?;
    table_done(
        quiet,
        &caco::results::paper::markdown(&table),
        written.len(),
        &out_dir,
        table.wall_seconds,
    );
    Ok(())
}

/// The pre-check: every dataset the table needs at this scale, downloaded first with `--download`; missing ones stop
/// the run here, in one message, unless `--skip-missing` leaves their tasks out.
fn check_data(
    config: &TableConfig,
    scale: &str,
    options: &caco::fetch::Options,
    download: bool,
    skip_missing: bool,
) -> Result<()> {
    let registry = caco::fetch::registry::all();
    let data_root = &options.data_root;
    let mut needs = datasets::check(config, scale, data_root, &registry)?;
    if download {
        for line in datasets::download_missing(&needs, &registry, options)? {
            eprintln!("  {line}");
        }
        needs = datasets::check(config, scale, data_root, &registry)?;
    }
    let blocking = needs
        .iter()
        .any(|n| n.is_missing() && !n.optional && (!skip_missing || n.pretraining));
    let message = datasets::render(&needs, &config.name, scale, data_root);
    if blocking {
        bail!("missing data, nothing was run.\n{message}");
    }
    if !options.quiet && needs.iter().any(|n| n.is_missing()) {
        eprint!("{message}");
    }
    Ok(())
}

fn table_started(quiet: bool, name: &str, scale: &str, device: Device, data_root: &Path) {
    if !quiet {
        eprintln!(
            "table `{name}` at scale `{scale}` on {}, data root {}",
            crate::shared::device_label(device),
            data_root.display()
        );
    }
}

/// Prints the table and where its files went.
fn table_done(quiet: bool, markdown: &str, n_written: usize, out_dir: &Path, seconds: f64) {
    if !quiet {
        print!("{markdown}");
        eprintln!("wrote {n_written} files under {} in {seconds:.0} s", out_dir.display());
    }
}

/// The EuroSAT-only table of an `experiments/eurosat.toml`-style config (`reproduce-table --config <toml>`).
fn eurosat_table(
    config_path: &Path,
    scale: &str,
    data_dir: Option<PathBuf>,
    out_dir: PathBuf,
    cache_dir: PathBuf,
    device: Device,
    quiet: bool,
) -> Result<()> {
    let config = EurosatTableConfig::load(config_path)?;
    let ctx = RunContext {
        data_root: data_root(data_dir.as_deref()),
        cache_dir,
        device,
        quiet,
    };
    table_started(quiet, &config.name, scale, device, &ctx.data_root);
    let table = eurosat::run(&config, scale, &ctx)?;
    let (resolved, _) = config.with_scale(scale)?;
    let written = caco::report::eurosat::write(&table, &resolved.to_toml(), &out_dir)?;
    let markdown = std::fs::read_to_string(out_dir.join("tables").join(format!("{}.md", table.name)))?;
    table_done(quiet, &markdown, written.len(), &out_dir, table.wall_seconds);
    Ok(())
}
