//! `cargo xtask bench loader`: the CACo data pipeline (decode + augment, 4 views per item) of `caco` against the
//! same pipeline written with PIL + torchvision + torch DataLoader (bench/loader_reference.py), on the same
//! eurosat-seasons folder and machine; medians of repeated runs go to results/bench/loader.{csv,md}.

use std::path::Path;

use anyhow::{bail, Context, Result};
use xshell::{cmd, Shell};

use crate::setup::{ensure, project_root, TORCH_VERSION};

const RUNS: usize = 5;
const TORCHVISION: &str = "torchvision==0.26.0";

pub fn run(args: &[String]) -> Result<()> {
    match args.split_first() {
        Some((what, rest)) if what == "loader" => loader(rest),
        _ => bail!("usage: cargo xtask bench loader [--workers N] [--batches N]"),
    }
}

fn flag(args: &[String], name: &str, default: &str) -> String {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
        .unwrap_or_else(|| default.into())
}

/// A venv with the complete torch wheel (the project venv holds only libtorch, which Python cannot import).
pub fn bench_python(sh: &Shell) -> Result<String> {
    let python = project_root().join(".venv-bench/bin/python");
    if cmd!(sh, "{python} -c 'import torch, torchvision, PIL'")
        .quiet()
        .ignore_stderr()
        .run()
        .is_err()
    {
        eprintln!("bench: installing torch=={TORCH_VERSION}, {TORCHVISION} and Pillow into .venv-bench (several GB)");
        cmd!(sh, "python3 -m venv .venv-bench").run()?;
        cmd!(
            sh,
            ".venv-bench/bin/pip install --disable-pip-version-check torch=={TORCH_VERSION} {TORCHVISION} pillow"
        )
        .run()?;
    }
    Ok(python.display().to_string())
}

fn parse_rate(output: &str) -> Result<f64> {
    let field = output
        .split_whitespace()
        .find_map(|w| w.strip_prefix("images_per_s="))
        .with_context(|| format!("no images_per_s in `{output}`"))?;
    Ok(field.parse()?)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn loader(args: &[String]) -> Result<()> {
    let setup = ensure(false)?;
    let sh = Shell::new()?;
    sh.change_dir(project_root());
    sh.set_var("LIBTORCH", &setup.libtorch);
    let workers = flag(args, "--workers", "2");
    let batches = flag(args, "--batches", "60");
    let root = "derived/eurosat-seasons";
    if !Path::new(&project_root()).join(root).join("truth.csv").is_file() {
        eprintln!("bench: building {root} first");
        cmd!(sh, "cargo run --quiet --bin caco -- simulate-seasons").run()?;
    }
    cmd!(sh, "cargo build --quiet --bin caco").run()?;
    let python = bench_python(&sh)?;
    let common = [
        "--batch-size",
        "64",
        "--batches",
        batches.as_str(),
        "--workers",
        workers.as_str(),
        "--size",
        "64",
    ];
    let (mut ours, mut reference) = (Vec::new(), Vec::new());
    for run in 0..RUNS {
        let out = cmd!(sh, "target/debug/caco bench-loader --root {root} {common...}").read()?;
        ours.push(parse_rate(&out)?);
        let out = cmd!(sh, "{python} bench/loader_reference.py {root} {common...}").read()?;
        reference.push(parse_rate(&out)?);
        eprintln!(
            "run {}: caco {:.0} images/s, PIL+torchvision {:.0} images/s",
            run + 1,
            ours[run],
            reference[run]
        );
    }
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let n_cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let dir = project_root().join("results/bench");
    std::fs::create_dir_all(&dir)?;
    let mut csv = String::from("pipeline,run,images_per_s,workers,batch_size,size,cpus\n");
    for (name, rates) in [("caco", &ours), ("pil_torchvision", &reference)] {
        for (run, rate) in rates.iter().enumerate() {
            csv += &format!("{name},{},{rate:.1},{workers},64,64,{n_cpus}\n", run + 1);
        }
    }
    std::fs::write(dir.join("loader.csv"), csv)?;
    let (m_ours, m_ref) = (median(ours), median(reference));
    let md = format!(
        "# Data pipeline: decode + augment (CACo views, 4 per item)\n\n\
         Command: `cargo xtask bench loader` (workers {workers}, batch 64, 64 px, {batches} batches after the first, \
         {RUNS} runs, medians) on {cpu}, {n_cpus} CPUs, eurosat-seasons (simulated).\n\n\
         | pipeline | images/s (median) |\n|---|---|\n| caco (Rust, {workers} threads) | {m_ours:.0} |\n\
         | PIL + torchvision + DataLoader ({workers} workers) | {m_ref:.0} |\n| ratio caco / PyTorch | {:.2} |\n",
        m_ours / m_ref
    );
    std::fs::write(dir.join("loader.md"), &md)?;
    print!("{md}");
    Ok(())
}
