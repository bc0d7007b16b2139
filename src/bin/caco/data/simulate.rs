//! `caco data simulate`: the simulated time series eurosat-seasons (CACo layout) from EuroSAT RGB train tiles.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use anyhow::Result;
use caco::data::data_root;
use caco::data::eurosat::{Eurosat, EurosatVariant};
use caco::data::seasons::{self, SeasonsConfig};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Data root holding eurosat-rgb/ (default: $CACO_DATA, else ./data)
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Where the set is written
    #[arg(long, value_name = "DIR", default_value = "derived/eurosat-seasons")]
    out: PathBuf,
    /// Folder whose train.txt lists the tiles to draw from
    #[arg(long, value_name = "DIR", default_value = "experiments/splits/eurosat-rgb")]
    split_dir: PathBuf,
    /// Locations to build, or `all` (every train tile)
    #[arg(long, value_name = "N|all", default_value_t = Locations(SeasonsConfig::default().n_locations))]
    n_locations: Locations,
    /// Fraction of locations with a true long-term change, in [0, 1]
    #[arg(long, value_name = "F", default_value_t = SeasonsConfig::default().changed_fraction)]
    changed_fraction: f64,
    #[arg(long, value_name = "S", default_value_t = SeasonsConfig::default().seed)]
    seed: u64,
    /// Rebuild even if an identical set exists
    #[arg(long)]
    force: bool,
    /// No progress bar
    #[arg(long)]
    quiet: bool,
}

/// `--n-locations N|all`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Locations(Option<usize>);

impl FromStr for Locations {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        if s == "all" {
            return Ok(Locations(None));
        }
        s.parse()
            .map(|n| Locations(Some(n)))
            .map_err(|_| "a number or `all`".to_string())
    }
}

impl fmt::Display for Locations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(n) => write!(f, "{n}"),
            None => f.write_str("all"),
        }
    }
}

pub fn run(args: Args) -> Result<()> {
    let config = SeasonsConfig {
        n_locations: args.n_locations.0,
        changed_fraction: args.changed_fraction,
        seed: args.seed,
        ..Default::default()
    };
    config.validate()?;
    let out = &args.out;
    if !args.force && seasons::is_built(out, &config) {
        eprintln!(
            "{} already holds eurosat-seasons built with these settings (--force rebuilds)",
            out.display()
        );
        return Ok(());
    }
    let eurosat = Eurosat::open(
        data_root(args.data_dir.as_deref()).join("eurosat-rgb"),
        EurosatVariant::Rgb,
    )?;
    let list_path = args.split_dir.join("train.txt");
    let train = eurosat.indices_of(&caco::data::split::read_list(&list_path)?, &list_path)?;
    let truth = seasons::simulate(&eurosat, &train, out, &config, args.quiet)?;
    let n_changed = truth.iter().filter(|t| t.changed).count();
    eprintln!(
        "eurosat-seasons (SIMULATED): {} locations x 2 eras x {} dates, {n_changed} with a true change, at {}",
        truth.len(),
        config.dates_per_era,
        out.display()
    );
    Ok(())
}
