//! `cargo xtask <task>`: the project's runner (rust-analyzer's xtask habit). This file parses the task name and
//! dispatches; each task lives in its own file. xtask does not link libtorch, so it can install it.

mod bench;
mod notebooks;
mod readme;
mod setup;
mod tasks;

use anyhow::{bail, Result};

const USAGE: &str = "\
usage: cargo xtask <task> [flags]

tasks:
  setup [--full-torch]        create .venv with libtorch (torch==2.11.0 from PyPI) and check/install GDAL
  test [args]                 run every test (cargo nextest if installed, else cargo test); args go to the runner
  reproduce-table [flags]     pre-train every method, evaluate every task -> results/tables + results/figures
                              (--scale smoke|cpu|paper, --table, --force, --data-dir, ...; see `cargo xtask caco --help`)
  pretrain <config> [flags]   pre-train a backbone (experiments/pretrain/*.toml); --resume, --max-steps, --run-dir
  change-check --run <dir>    CACo's change estimate against eurosat-seasons' truth
  import-weights <ckpt> --out <file.safetensors>   SeCo/CACo checkpoint -> backbone with torchvision names
  report [--metrics <file>]   regenerate every table and figure from results/tables/*.metrics.toml, without training
  readme-table                copy the table of results/tables/main.md into README.md (between its markers)
  data simulate [flags]       build the simulated time series derived/eurosat-seasons from $CACO_DATA/eurosat-rgb
  data download <name>        download or import (--from) a dataset into $CACO_DATA: eurosat-rgb, eurosat-ms,
                              seco-100k, seco-1m, caco-10k, caco-1m, levir-cd, oscd, bigearthnet, world-cities
                              (--list, --jobs, --force, ...; see `cargo xtask caco --help`)
  sample [flags]              sample Sentinel-2 L2A time series (SeCo/CACo layout) from a public STAC API
                              (--layout, --sampler, --n-locations, --stac-url, ...; see `cargo xtask caco --help`)
  eval <task> [flags]         downstream tasks: change-detection (--dataset levir-cd-samples|eurosat-seasons-change|
                              oscd), segmentation (dubai-aerial-seg|dynamic-earthnet), eurosat (probe or --finetune,
                              --label-fraction), bigearthnet; --weights random|<file.safetensors>, --epochs, ...
                              (see `cargo xtask caco --help`)
  bench [all|loader|pretrain|features|report] [--runs N] [--quick] [--threads N] [--device cpu|cuda] [--no-bf16]
                              caco vs equivalent PyTorch scripts (bench/*.py): data pipeline, pre-training step of
                              MoCo-v2/SeCo/CACo at 64 and 224 px, EuroSAT feature extraction; medians and ratios
                              in results/bench/*.{csv,md} and bench.{svg,png} (full run: about 35 min on 2 cores)
  notebooks [--check|--strip|--install]
                              install evcxr_jupyter, Jupyter (nbconvert, into .venv) and the caco-rust kernel spec,
                              then execute notebooks/*.ipynb headless into target/notebooks/executed/, failing on
                              any cell error (first run about 25 min, later runs a few minutes; see the README)
  caco <args>                 run the `caco` binary with any arguments (fake-data, info, ...)
";

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let task = args.next();
    let rest: Vec<String> = args.collect();
    match task.as_deref() {
        Some("setup") => setup::run(&rest).map(|_| ()),
        Some("test") => tasks::test(&rest),
        Some(cmd @ ("reproduce-table" | "report" | "pretrain" | "change-check")) => tasks::caco(cmd, &rest),
        Some("data") => match rest.split_first() {
            Some((sub, args)) if sub == "simulate" => tasks::caco("simulate-seasons", args),
            Some((sub, args)) if sub == "download" => tasks::caco("data-download", args),
            _ => bail!("usage: cargo xtask data simulate [flags] | cargo xtask data download <name|--list> [flags]"),
        },
        Some("eval") => tasks::caco("eval", &rest),
        Some("sample") => tasks::caco("sample", &rest),
        Some("bench") => bench::run(&rest),
        Some("readme-table") => readme::run(&setup::project_root()),
        Some("notebooks") => notebooks::run(&rest),
        Some("import-weights") => tasks::import_weights(&rest),
        Some("caco") => tasks::caco_raw(&rest),
        Some("help" | "--help" | "-h") | None => {
            print!("{USAGE}");
            Ok(())
        }
        Some(other) => bail!("unknown task `{other}`\n\n{USAGE}"),
    }
}
