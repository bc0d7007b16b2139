//! `caco change-check --run <dir>`: CACo's change estimate against eurosat-seasons' truth, for every exported epoch.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use caco::ssl::caco::{change_check, read_export};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// A CACo pre-training run folder (its caco/ exports are read)
    #[arg(long, value_name = "DIR")]
    run: PathBuf,
    /// The simulated set's truth
    #[arg(long, value_name = "CSV", default_value = "derived/eurosat-seasons/truth.csv")]
    truth: PathBuf,
}

pub fn run(args: Args) -> Result<()> {
    let Args {
        run: run_dir,
        truth: truth_path,
    } = args;
    let truth = caco::data::seasons::read_truth(&truth_path)?;
    let changed: Vec<bool> = truth.iter().map(|t| t.changed).collect();
    let mut exports: Vec<PathBuf> = std::fs::read_dir(run_dir.join("caco"))
        .with_context(|| format!("{} has no caco/ exports (is it a CACo run?)", run_dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "csv"))
        .collect();
    exports.sort();
    if exports.is_empty() {
        bail!("no caco_epoch_*.csv in {}", run_dir.join("caco").display());
    }
    println!("| epoch | AUROC ratio vs truth | changed labelled changed | unchanged labelled changed | items seen |");
    println!("|---|---|---|---|---|");
    for (epoch, path) in exports.iter().enumerate() {
        let (ratio, label) = read_export(path)?;
        if ratio.len() != 2 * changed.len() {
            bail!(
                "{} has {} items, truth has {} locations",
                path.display(),
                ratio.len(),
                changed.len()
            );
        }
        let c = change_check(epoch, &ratio, &label, &changed);
        println!(
            "| {} | {:.3} | {:.1} % | {:.1} % | {} |",
            c.epoch,
            c.auroc,
            100.0 * c.changed_labelled_changed,
            100.0 * c.unchanged_labelled_changed,
            c.n_seen
        );
    }
    Ok(())
}
