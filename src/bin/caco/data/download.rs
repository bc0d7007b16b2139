//! `caco data download <name>`: fetch or import a dataset into the data root (`caco::fetch`).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use caco::data::data_root;
use caco::fetch::{self, registry};

/// The library's defaults, shown by `--help`.
fn defaults() -> fetch::Options {
    fetch::Options::new(PathBuf::new())
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Dataset name (`caco data list` shows them)
    #[arg(value_name = "NAME")]
    name: Option<String>,
    /// The datasets, sizes, licenses and which need a manual download (as `caco data list`)
    #[arg(long, conflicts_with = "name")]
    list: bool,
    /// Data root (default: $CACO_DATA, else ./data)
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Import a copy you already have (an archive or a folder) instead of downloading
    #[arg(long, value_name = "ARCHIVE|FOLDER")]
    from: Option<PathBuf>,
    /// Files downloaded at once
    #[arg(long, value_name = "N", default_value_t = defaults().jobs)]
    jobs: usize,
    /// Retries per file after failures without progress
    #[arg(long, value_name = "N", default_value_t = defaults().policy.retries)]
    retries: u32,
    /// First wait between retries, doubled after every failure
    #[arg(long, value_name = "MS", default_value_t = defaults().policy.backoff.as_millis() as u64)]
    backoff_ms: u64,
    /// Fetch the official paths from another host (a mirror)
    #[arg(long, value_name = "BASE-URL")]
    mirror: Option<String>,
    /// Keep the downloaded archives after extraction
    #[arg(long)]
    keep_archives: bool,
    /// Replace a dataset folder that an earlier download made
    #[arg(long)]
    force: bool,
    #[arg(long)]
    quiet: bool,
}

pub fn run(args: Args) -> Result<()> {
    if args.list {
        list();
        return Ok(());
    }
    let mut options = fetch::Options::new(data_root(args.data_dir.as_deref()));
    options.from = args.from;
    options.mirror = args.mirror;
    options.jobs = args.jobs;
    options.policy.retries = args.retries;
    options.policy.backoff = Duration::from_millis(args.backoff_ms);
    options.keep_archives = args.keep_archives;
    options.force = args.force;
    options.quiet = args.quiet;
    let name = args
        .name
        .with_context(|| format!("data download needs a dataset name: {} (or --list)", registry::names()))?;
    if options.jobs == 0 {
        bail!("--jobs must be at least 1");
    }
    let Some(dataset) = registry::find(&name) else {
        bail!("unknown dataset `{name}`; known: {}", registry::names());
    };
    if !options.quiet {
        eprintln!(
            "{}: {} ({}, {})",
            dataset.name, dataset.title, dataset.size, dataset.license
        );
    }
    let outcome = fetch::download(&dataset, &options)?;
    for line in &outcome.messages {
        eprintln!("  {line}");
    }
    if !outcome.already_present {
        eprintln!("{} files in {}", outcome.n_files, outcome.folder.display());
    }
    Ok(())
}

pub fn list() {
    for d in registry::all() {
        let how = if d.is_manual() {
            "manual download, then --from"
        } else {
            "automatic"
        };
        println!("{:<13} {} ({how})", d.name, d.title);
        println!("{:<13} size: {}; license: {}", "", d.size, d.license);
        println!("{:<13} {}", "", d.homepage);
    }
}
