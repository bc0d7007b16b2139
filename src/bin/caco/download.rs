//! `caco data-download <name>`: fetch or import a dataset into the data root (`caco::fetch`).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use caco::data::data_root;
use caco::fetch::{self, registry};

use crate::Args;

pub(crate) fn run(mut args: Args) -> Result<()> {
    if args.switch("--list") {
        args.finish()?;
        list();
        return Ok(());
    }
    // Flags with values first, so that the positional name is not taken from them.
    let data_dir = args.value("--data-dir")?.map(PathBuf::from);
    let mut options = fetch::Options::new(data_root(data_dir.as_deref()));
    options.from = args.value("--from")?.map(PathBuf::from);
    options.mirror = args.value("--mirror")?;
    if let Some(jobs) = args.value("--jobs")? {
        options.jobs = jobs.parse().context("--jobs: a number of files at once, at least 1")?;
    }
    if let Some(retries) = args.value("--retries")? {
        options.policy.retries = retries.parse().context("--retries: a number")?;
    }
    if let Some(ms) = args.value("--backoff-ms")? {
        options.policy.backoff = Duration::from_millis(ms.parse().context("--backoff-ms: milliseconds")?);
    }
    options.keep_archives = args.switch("--keep-archives");
    options.force = args.switch("--force");
    options.quiet = args.switch("--quiet");
    let name = args
        .positional()
        .with_context(|| format!("data-download needs a dataset name: {} (or --list)", registry::names()))?;
    args.finish()?;
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

fn list() {
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
