//! `caco data fake <kind> --out <dir>`: a tiny fake dataset in the real layout, for tests and trials.

use std::path::PathBuf;

use anyhow::Result;
use caco::data::fake;
use clap::ValueEnum;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Kind {
    /// EuroSAT RGB JPEGs, 10 classes
    EurosatRgb,
    /// EuroSAT 13-band GeoTIFFs, 10 classes
    EurosatMs,
    /// BigEarthNet patches, N per split (train, val, test)
    Bigearthnet,
    /// 4 AOIs x 2 months of 64 px, with dynnet's split lists (2 / 1 / 1 AOIs)
    DynamicEarthnet,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(value_enum)]
    kind: Kind,
    /// Dataset folder to write
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Images per class (BigEarthNet: patches per split; unused by dynamic-earthnet)
    #[arg(long, value_name = "N", default_value_t = 20)]
    n_per_class: usize,
    #[arg(long, value_name = "S", default_value_t = 0)]
    seed: u64,
}

pub fn run(args: Args) -> Result<()> {
    let Args {
        kind,
        out,
        n_per_class,
        seed,
    } = args;
    let spec = fake::FakeEurosat::with_eurosat_classes(n_per_class, seed);
    let n_written = match kind {
        Kind::EurosatRgb => fake::write_eurosat_rgb(&out, &spec)?.len(),
        Kind::EurosatMs => fake::write_eurosat_ms(&out, &spec)?.len(),
        Kind::Bigearthnet => caco::data::bigearthnet::write_fake(&out, [n_per_class; 3], seed)?
            .iter()
            .map(Vec::len)
            .sum(),
        Kind::DynamicEarthnet => caco::data::dynamic_earthnet::write_fake(
            &out,
            &caco::data::dynamic_earthnet::FakeDen {
                seed,
                ..Default::default()
            },
        )?
        .len(),
    };
    eprintln!("wrote {n_written} fake images under {}", out.display());
    Ok(())
}
