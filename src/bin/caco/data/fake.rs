//! `caco data fake <kind> --out <dir>`: a tiny fake dataset in the real layout, for tests and trials.

use std::path::PathBuf;

use anyhow::Result;
use caco::data::fake;
use clap::builder::{PossibleValue, PossibleValuesParser};

/// The datasets `caco::data::fake` writes, with what `--n-per-class` means for each.
fn kinds() -> PossibleValuesParser {
    PossibleValuesParser::new(fake::DATASETS.iter().map(|(name, help)| PossibleValue::new(*name).help(*help)))
}

#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(value_parser = kinds())]
    kind: String,
    /// Dataset folder to write
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// How many to write (per class for EuroSAT; see each kind above)
    #[arg(long, value_name = "N", default_value_t = 20)]
    n_per_class: usize,
    #[arg(long, value_name = "S", default_value_t = 0)]
    seed: u64,
}

pub fn run(args: Args) -> Result<()> {
    let spec = fake::FakeSpec {
        n: args.n_per_class,
        seed: args.seed,
    };
    let n_written = fake::write(&args.kind, &args.out, &spec)?;
    eprintln!("wrote {n_written} fake images under {}", args.out.display());
    Ok(())
}
