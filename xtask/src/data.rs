//! `cargo xtask data <simulate|download|list|fake>`: `caco data <...>` with the same arguments.

use anyhow::Result;
use clap::Subcommand;

use crate::caco::Forward;

#[derive(Debug, Subcommand)]
pub enum Data {
    /// Build the simulated time series derived/eurosat-seasons from $CACO_DATA/eurosat-rgb [flags: see `caco data
    /// simulate --help`]
    Simulate(Forward),
    /// Download or import (--from) a dataset into $CACO_DATA [flags: see `caco data download --help`]
    Download(Forward),
    /// The datasets `data download` knows
    List(Forward),
    /// Write a tiny fake dataset in the real layout [flags: see `caco data fake --help`]
    Fake(Forward),
}

/// The `caco data` subcommand and its arguments.
pub fn forwarded(data: Data) -> (&'static str, Forward) {
    match data {
        Data::Simulate(f) => ("simulate", f),
        Data::Download(f) => ("download", f),
        Data::List(f) => ("list", f),
        Data::Fake(f) => ("fake", f),
    }
}

pub fn run(data: Data) -> Result<()> {
    let (command, forward) = forwarded(data);
    crate::caco::run(&["data", command], &forward)
}
