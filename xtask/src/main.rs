//! `cargo xtask <task>`: the project's runner (rust-analyzer's xtask habit). This file declares the tasks and
//! dispatches; each task lives in its own file. xtask does not link libtorch, so it can install it. Tasks that run the
//! `caco` binary pass their arguments on unchanged, `--help` included.

mod bench;
mod bench_dist;
mod caco;
mod data;
mod gpu_check;
mod import_weights;
mod notebooks;
mod readme;
mod setup;
mod test;

use anyhow::Result;
use clap::{Parser, Subcommand};

use crate::caco::Forward;

/// The project's tasks. Those that run the `caco` binary take its flags, unchanged: `cargo xtask eval --help` is
/// `caco eval --help`.
#[derive(Debug, Parser)]
#[command(name = "cargo xtask", bin_name = "cargo xtask")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Debug, Subcommand)]
enum Task {
    /// Create .venv with libtorch (torch==2.11.0 from PyPI) and check or install GDAL
    Setup(setup::Args),
    /// Run every test (cargo nextest if installed, else cargo test)
    Test(test::Args),
    /// Pre-train every method, evaluate every task -> results/tables and results/figures [flags: see `caco
    /// reproduce-table --help`]
    ReproduceTable(Forward),
    /// Pre-train a backbone from experiments/pretrain/*.toml [flags: see `caco pretrain --help`]
    Pretrain(Forward),
    /// CACo's change estimate against eurosat-seasons' truth [flags: see `caco change-check --help`]
    ChangeCheck(Forward),
    /// SeCo/CACo checkpoint (.ckpt, .pth) -> backbone .safetensors with torchvision names
    ImportWeights(import_weights::Args),
    /// Regenerate every table and figure from results/tables/*.metrics.toml, without training [flags: see `caco
    /// report --help`]
    Report(Forward),
    /// Copy the table of results/tables/main.md into README.md (between its markers)
    ReadmeTable,
    /// Datasets: simulate, download, list, fake
    #[command(subcommand)]
    Data(data::Data),
    /// Sample Sentinel-2 L2A time series (SeCo/CACo layout) from a public STAC API [flags: see `caco sample --help`]
    Sample(Forward),
    /// Downstream tasks: change-detection, segmentation, eurosat, bigearthnet [flags: see `caco eval --help`]
    Eval(Forward),
    /// caco against equivalent PyTorch scripts (bench/*.py); medians and ratios in results/bench/
    Bench(bench::Args),
    /// One process against `--nproc N` and torchrun ranks on this machine; results/bench/dist.md
    BenchDist(bench_dist::Args),
    /// Build with CUDA and check every method on the GPU (bf16, 224 px, ResNet-18/50), NCCL on 2 GPUs, the PyTorch
    /// comparison; writes results/bench/gpu.md (`--dry-run`: the same script on the CPU)
    GpuCheck(gpu_check::Args),
    /// Install evcxr_jupyter, Jupyter and the caco-rust kernel, then execute notebooks/*.ipynb headless
    Notebooks(notebooks::Args),
    /// Run the `caco` binary with any arguments (`cargo xtask caco --help` lists its commands)
    Caco(Forward),
}

fn main() {
    if let Err(e) = run(Cli::parse().task) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run(task: Task) -> Result<()> {
    match task {
        Task::Setup(args) => setup::run(args),
        Task::Test(args) => test::run(args),
        Task::ReproduceTable(f) => caco::run(&["reproduce-table"], &f),
        Task::Pretrain(f) => caco::run(&["pretrain"], &f),
        Task::ChangeCheck(f) => caco::run(&["change-check"], &f),
        Task::ImportWeights(args) => import_weights::run(args),
        Task::Report(f) => caco::run(&["report"], &f),
        Task::ReadmeTable => readme::run(&setup::project_root()),
        Task::Data(data) => data::run(data),
        Task::Sample(f) => caco::run(&["sample"], &f),
        Task::Eval(f) => caco::run(&["eval"], &f),
        Task::Bench(args) => bench::run(args),
        Task::BenchDist(args) => bench_dist::run(args),
        Task::GpuCheck(args) => gpu_check::run(args),
        Task::Notebooks(args) => notebooks::run(args),
        Task::Caco(f) => caco::run(&[], &f),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn parse(line: &str) -> Task {
        Cli::try_parse_from(line.split_whitespace()).unwrap().task
    }

    fn forwarded(task: Task) -> Vec<String> {
        match task {
            Task::ReproduceTable(f) | Task::Pretrain(f) | Task::Eval(f) | Task::Sample(f) | Task::Caco(f) => f.args,
            Task::Data(d) => data::forwarded(d).1.args,
            other => panic!("not a forwarding task: {other:?}"),
        }
    }

    #[test]
    fn the_task_definitions_are_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn forwarding_tasks_pass_every_argument_on_unchanged() {
        let words = |s: &str| s.split_whitespace().map(str::to_string).collect::<Vec<_>>();
        assert_eq!(
            forwarded(parse("xtask eval change-detection --dataset oscd --epochs 1")),
            words("change-detection --dataset oscd --epochs 1")
        );
        assert_eq!(
            forwarded(parse("xtask eval --dataset oscd change-detection")),
            words("--dataset oscd change-detection")
        );
        assert_eq!(
            forwarded(parse("xtask reproduce-table --scale smoke --quiet")),
            words("--scale smoke --quiet")
        );
        // --help is the binary's: `cargo xtask eval --help` shows `caco eval --help`.
        assert_eq!(forwarded(parse("xtask eval --help")), words("--help"));
        assert_eq!(forwarded(parse("xtask data download --list")), words("--list"));
        assert_eq!(forwarded(parse("xtask data simulate -h")), words("-h"));
        assert_eq!(forwarded(parse("xtask caco info")), words("info"));
        assert!(forwarded(parse("xtask pretrain")).is_empty());
    }

    #[test]
    fn test_passes_its_arguments_to_the_runner() {
        for line in ["--test cli -E test(help)", "--test cli -- --nocapture", "-- --nocapture", ""] {
            let Task::Test(args) = parse(&format!("xtask test {line}")) else {
                panic!("not test");
            };
            assert_eq!(args.runner_args().join(" "), line);
        }
    }

    #[test]
    fn tasks_with_their_own_flags_show_their_own_help() {
        for task in ["setup", "test", "import-weights", "bench", "notebooks", "readme-table"] {
            let err = Cli::try_parse_from(["xtask", task, "--help"]).unwrap_err();
            assert_eq!(err.kind(), clap::error::ErrorKind::DisplayHelp, "{task}");
        }
        let help = Cli::command()
            .find_subcommand_mut("bench")
            .unwrap()
            .render_long_help()
            .to_string();
        assert!(help.contains("--runs") && help.contains("[default: 3]"), "{help}");
        assert!(!help.contains("--full-torch"), "{help}");
    }
}
