//! `caco bench <loader|pretrain|features|report>`: the caco side of `cargo xtask bench` (issue 9). Each measuring
//! command prints one `key=value` line that xtask parses, the same fields as the PyTorch reference scripts in bench/.

pub mod features;
pub mod loader;
pub mod pretrain;
pub mod report;

use anyhow::Result;
use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Images/s of the CACo data pipeline (decode + augment) on a CACo-layout folder
    Loader(loader::Args),
    /// Images/s of pre-training steps (data loading included) through the library's training loop
    Pretrain(pretrain::Args),
    /// Images/s of EuroSAT RGB feature extraction (frozen random ResNet-18, eval, no_grad)
    Features(features::Args),
    /// results/bench/<bench>_runs.csv -> <bench>.csv/.md and bench.svg/png: medians, ratios, the figure
    Report(report::Args),
}

pub fn run(command: Command) -> Result<()> {
    match command {
        Command::Loader(args) => loader::run(args),
        Command::Pretrain(args) => pretrain::run(args),
        Command::Features(args) => features::run(args),
        Command::Report(args) => report::run(args),
    }
}

/// Peak resident set size of this process (VmHWM) in MiB.
fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kib| kib / 1024.0)
}

/// `--threads N`: libtorch intra-op threads (0 keeps libtorch's default, one per physical core).
fn set_threads(threads: i32) {
    if threads > 0 {
        tch::set_num_threads(threads);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peak_rss_is_read() {
        assert!(peak_rss_mb() > 1.0);
    }
}
