//! `caco`: the command line behind `cargo xtask`. This file declares the commands and dispatches; each command's
//! flags (a clap `Args` struct, so `caco <command> --help` shows exactly the flags it reads) and its work live in a
//! file of their own.

mod bench;
mod change_check;
mod data;
mod eval;
mod export_weights;
mod import_weights;
mod info;
mod launch;
mod pretrain;
mod report;
mod reproduce_table;
mod sample;
mod shared;

use std::ffi::OsString;

use anyhow::Result;
use clap::{CommandFactory, Parser, Subcommand};

/// Self-supervised pre-training on satellite image time series (SeCo, GASSL, CACo) and the benchmarks that judge it.
#[derive(Debug, Parser)]
#[command(
    name = "caco",
    version,
    after_help = "`caco <command> --help` shows the flags of one command."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Pre-train every method, evaluate every task, write the comparison table and its figures
    ReproduceTable(reproduce_table::Args),
    /// Pre-train a backbone (MoCo-v2, SeCo, TeCo, CACo, GASSL) from an experiments/pretrain TOML
    Pretrain(pretrain::Args),
    /// CACo's change estimate against eurosat-seasons' truth, per epoch
    ChangeCheck(change_check::Args),
    /// Import a PyTorch checkpoint's ResNet (.ckpt/.pth: SeCo, CACo, torchgeo, timm) as a backbone .safetensors
    ImportWeights(import_weights::Args),
    /// Export a backbone for PyTorch (.pth, torchvision names) or as .safetensors with its contract
    ExportWeights(export_weights::Args),
    /// Regenerate tables and figures from stored metrics, without training
    Report(report::Args),
    /// Datasets: download, list, simulate, fake
    #[command(subcommand)]
    Data(data::Command),
    /// Throughput benchmarks, the caco side of `cargo xtask bench`: loader, pretrain, features, report
    #[command(subcommand)]
    Bench(bench::Command),
    /// Sample Sentinel-2 L2A time series (SeCo or CACo layout) from a public STAC API; needs internet; re-running
    /// continues where it stopped
    Sample(sample::Args),
    /// libtorch, device and data-root summary
    Info(info::Args),
    /// Downstream benchmarks; each run adds a row (per init and encoder mode) to the task's table
    Eval(eval::Args),

    // The names before the `data` and `bench` groups, kept so that existing scripts keep running.
    /// Old name of `caco data simulate`
    #[command(name = "simulate-seasons", hide = true)]
    SimulateSeasons(data::simulate::Args),
    /// Old name of `caco data fake`
    #[command(name = "fake-data", hide = true)]
    FakeData(data::fake::Args),
    /// Old name of `caco data download`
    #[command(name = "data-download", hide = true)]
    DataDownload(data::download::Args),
    /// Old name of `caco bench loader`
    #[command(name = "bench-loader", hide = true)]
    BenchLoader(bench::loader::Args),
    /// Old name of `caco bench pretrain`
    #[command(name = "bench-pretrain", hide = true)]
    BenchPretrain(bench::pretrain::Args),
    /// Old name of `caco bench features`
    #[command(name = "bench-features", hide = true)]
    BenchFeatures(bench::features::Args),
    /// Old name of `caco bench report`
    #[command(name = "bench-report", hide = true)]
    BenchReport(bench::report::Args),
}

fn main() {
    let argv: Vec<OsString> = std::env::args_os().collect();
    let cli = match Cli::try_parse_from(task_first(argv.clone())) {
        Ok(cli) => cli,
        Err(e) => parse_error(e, &argv),
    };
    // Large tensors from the heap, freed memory kept: no page faults per training step (src/train/allocator.rs).
    caco::train::allocator::retain_freed_memory();
    if let Err(e) = run(cli.command) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run(command: Command) -> Result<()> {
    match command {
        Command::ReproduceTable(args) => reproduce_table::run(args),
        Command::Pretrain(args) => pretrain::run(args),
        Command::ChangeCheck(args) => change_check::run(args),
        Command::ImportWeights(args) => import_weights::run(args),
        Command::ExportWeights(args) => export_weights::run(args),
        Command::Report(args) => report::run(args),
        Command::Data(command) => data::run(command),
        Command::Bench(command) => bench::run(command),
        Command::Sample(args) => sample::run(args),
        Command::Info(args) => info::run(args),
        Command::Eval(args) => eval::run(args),
        Command::SimulateSeasons(args) => data::simulate::run(args),
        Command::FakeData(args) => data::fake::run(args),
        Command::DataDownload(args) => data::download::run(args),
        Command::BenchLoader(args) => bench::loader::run(args),
        Command::BenchPretrain(args) => bench::pretrain::run(args),
        Command::BenchFeatures(args) => bench::features::run(args),
        Command::BenchReport(args) => bench::report::run(args),
    }
}

/// `--help` and `--version` print to stdout and succeed; a usage error prints clap's message (an unknown flag is
/// named with the values that follow it, as `unexpected arguments: --sclae smoke`) and exits with status 1, like
/// every other error of this binary.
fn parse_error(e: clap::Error, argv: &[OsString]) -> ! {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if !e.use_stderr() {
        e.exit();
    }
    let mut text = e.render().to_string();
    if let (ErrorKind::UnknownArgument, Some(ContextValue::String(arg))) = (e.kind(), e.get(ContextKind::InvalidArg)) {
        text = text.replacen(
            &format!("unexpected argument '{arg}' found"),
            &format!("unexpected arguments: {}", unexpected_words(argv, arg)),
            1,
        );
    }
    eprint!("{text}");
    std::process::exit(1);
}

/// The unknown word `arg` and the values that follow it (up to the next flag).
fn unexpected_words(argv: &[OsString], arg: &str) -> String {
    let words: Vec<String> = argv.iter().map(|w| w.to_string_lossy().into_owned()).collect();
    let Some(start) = words.iter().position(|w| w == arg) else {
        return arg.to_string();
    };
    let n_values = words[start + 1..].iter().take_while(|w| !w.starts_with('-')).count();
    words[start..=start + n_values].join(" ")
}

/// `caco eval --dataset oscd change-detection` means `caco eval change-detection --dataset oscd`: clap reads a
/// task's own flags only after the task's name, so the name is moved up to just after `eval`. Which words are flag
/// values is read from the command definitions, so a value that happens to be a task name (`--out-dir eurosat`) is
/// not taken for the task.
fn task_first(mut argv: Vec<OsString>) -> Vec<OsString> {
    if argv.get(1).and_then(|w| w.to_str()) != Some("eval") {
        return argv;
    }
    let cli = Cli::command();
    let eval = cli.find_subcommand("eval").expect("eval is a command");
    let takes_value = |long: &str| {
        std::iter::once(eval)
            .chain(eval.get_subcommands())
            .flat_map(|c| c.get_arguments())
            .any(|a| a.get_long() == Some(long) && a.get_action().takes_values())
    };
    let mut i = 2;
    while let Some(word) = argv.get(i).and_then(|w| w.to_str()) {
        if word == "--" {
            break;
        }
        if let Some(flag) = word.strip_prefix("--") {
            i += if !flag.contains('=') && takes_value(flag) { 2 } else { 1 };
            continue;
        }
        if word.starts_with('-') {
            i += 1;
            continue;
        }
        if i > 2 && eval.find_subcommand(word).is_some() {
            let task = argv.remove(i);
            argv.insert(2, task);
        }
        break;
    }
    argv
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<OsString> {
        s.split_whitespace().map(OsString::from).collect()
    }

    #[test]
    fn the_command_definitions_are_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn the_eval_task_may_come_after_its_flags() {
        let want = words("caco eval change-detection --dataset oscd --epochs 1");
        assert_eq!(
            task_first(words("caco eval --dataset oscd change-detection --epochs 1")),
            want
        );
        assert_eq!(
            task_first(words("caco eval --dataset oscd --epochs 1 change-detection")),
            words("caco eval change-detection --dataset oscd --epochs 1")
        );
        assert_eq!(task_first(want.clone()), want);
        // A flag value that is a task name stays a value; switches take none.
        assert_eq!(
            task_first(words("caco eval --out-dir eurosat --quiet --finetune segmentation")),
            words("caco eval segmentation --out-dir eurosat --quiet --finetune")
        );
        assert_eq!(
            task_first(words("caco eval --seed=3 bigearthnet")),
            words("caco eval bigearthnet --seed=3")
        );
        // Other commands and a missing task are left to clap.
        assert_eq!(
            task_first(words("caco sample --out eval")),
            words("caco sample --out eval")
        );
        assert_eq!(task_first(words("caco eval --quiet")), words("caco eval --quiet"));
    }

    #[test]
    fn both_orders_parse_to_the_same_command() {
        let parse = |s: &str| format!("{:?}", Cli::try_parse_from(task_first(words(s))).unwrap());
        assert_eq!(
            parse("caco eval --dataset oscd --data-dir /x change-detection --epochs 2"),
            parse("caco eval change-detection --epochs 2 --data-dir /x --dataset oscd")
        );
    }

    #[test]
    fn an_unknown_flag_is_named_with_its_values() {
        let argv = words("caco reproduce-table --sclae smoke --quiet");
        assert_eq!(unexpected_words(&argv, "--sclae"), "--sclae smoke");
        assert_eq!(unexpected_words(&argv, "--quiet"), "--quiet");
    }
}
