//! `caco data <download|list|simulate|fake>`: datasets, real, simulated and fake.

pub mod download;
pub mod fake;
pub mod simulate;

use anyhow::Result;
use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Download (or import with --from) a dataset into the data root: resumable, checksummed, extracted
    Download(download::Args),
    /// The datasets `caco data download` knows: sizes, licenses and which need a manual download
    List,
    /// Build the simulated time series eurosat-seasons (CACo layout) from EuroSAT RGB train tiles
    Simulate(simulate::Args),
    /// Write a tiny fake dataset in the real layout
    Fake(fake::Args),
}

pub fn run(command: Command) -> Result<()> {
    match command {
        Command::Download(args) => download::run(args),
        Command::List => {
            download::list();
            Ok(())
        }
        Command::Simulate(args) => simulate::run(args),
        Command::Fake(args) => fake::run(args),
    }
}
