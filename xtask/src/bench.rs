//! `cargo xtask bench [all|loader|pretrain|features|report]`: caco against equivalent PyTorch pipelines (bench/*.py,
//! PIL + torchvision + DataLoader, run in .venv-bench) on the same machine, sides alternating run by run:
//! the data pipeline alone (loader), the pre-training step of MoCo-v2, SeCo and CACo with data loading included
//! (pretrain), EuroSAT feature extraction (features). Raw runs go to results/bench/<bench>_runs.csv and the machine
//! description to results/bench/machine.md; `caco bench report` (the library links Polars and Plotters, xtask does
//! not) turns them into medians, ratios, <bench>.{csv,md} and the figure bench.{svg,png}.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Context, Result};
use xshell::{cmd, Shell};

use crate::setup::{cargo_shell, project_root, TORCH_VERSION};

const TORCHVISION: &str = "torchvision==0.26.0";
const SEASONS: &str = "derived/eurosat-seasons";

/// Which benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum What {
    /// loader, pretrain and features, then the report
    All,
    /// The CACo data pipeline alone (decode + augment)
    Loader,
    /// Pre-training steps of MoCo-v2, SeCo and CACo, data loading included, at 64 and 224 px
    Pretrain,
    /// EuroSAT RGB feature extraction
    Features,
    /// Only the report from the stored runs (results/bench/*_runs.csv)
    Report,
}

/// The device both sides run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Device {
    Cpu,
    Cuda,
}

impl Device {
    fn name(self) -> &'static str {
        match self {
            Device::Cpu => "cpu",
            Device::Cuda => "cuda",
        }
    }
}

#[derive(Debug, Clone, PartialEq, clap::Args)]
#[command(after_help = "A full run takes about 35 min on 2 cores.")]
pub struct Args {
    /// Which benchmark
    #[arg(value_enum, default_value_t = What::All)]
    what: What,
    #[command(flatten)]
    options: Options,
}

/// Flags shared by every benchmark.
#[derive(Debug, Clone, PartialEq, clap::Args)]
struct Options {
    /// Runs per side (the sides alternate run by run)
    #[arg(long, value_name = "N", default_value_t = 3,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    runs: usize,
    /// Tiny batches and few steps: checks that everything runs, numbers meaningless
    #[arg(long)]
    quick: bool,
    /// libtorch intra-op threads for both sides (default: caco's libtorch default, one per physical core)
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
    #[arg(long, value_enum, default_value_t = Device::Cpu)]
    device: Device,
    /// Leave out the pre-training rows with bf16 autocast
    #[arg(long = "no-bf16", action = clap::ArgAction::SetFalse)]
    bf16: bool,
}

pub fn run(args: Args) -> Result<()> {
    let Args { what, options } = args;
    let sh = cargo_shell()?;
    if what == What::Report {
        return report(&sh);
    }
    let benches: &[&str] = match what {
        What::Loader => &["loader"],
        What::Pretrain => &["pretrain"],
        What::Features => &["features"],
        What::All | What::Report => &["loader", "pretrain", "features"],
    };
    cmd!(sh, "cargo build --quiet --bin caco").run()?;
    if !project_root().join(SEASONS).join("truth.csv").is_file() {
        eprintln!("bench: building {SEASONS} first");
        cmd!(sh, "target/debug/caco data simulate").run()?;
    }
    let python = bench_python(&sh)?;
    let threads = match options.threads {
        Some(t) => t.to_string(),
        None => libtorch_threads(&sh)?,
    };
    let dir = project_root().join("results/bench");
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("machine.md"), machine(&sh, &python, &threads, &options)?)?;
    let start = std::time::Instant::now();
    for bench in benches {
        let cases = match *bench {
            "loader" => loader_cases(&options),
            "pretrain" => pretrain_cases(&options),
            _ => features_cases(&options)?,
        };
        let mut csv = format!("{RUNS_HEADER}\n");
        for run in 1..=options.runs {
            for case in &cases {
                for side in ["caco", "pytorch"] {
                    let argv = if side == "caco" { &case.caco } else { &case.pytorch };
                    let (program, argv) = argv.split_first().expect("a command");
                    let program = if program == "python" {
                        python.as_str()
                    } else {
                        program.as_str()
                    };
                    let mut argv = argv.to_vec();
                    if case.takes_threads {
                        argv.extend(["--threads".to_string(), threads.clone()]);
                    }
                    let out = cmd!(sh, "{program} {argv...}")
                        .read()
                        .with_context(|| format!("{bench} {} ({side}) failed", case.name))?;
                    let fields = parse_fields(&out);
                    let rate = fields
                        .get("images_per_s")
                        .with_context(|| format!("no images_per_s in `{out}`"))?;
                    eprintln!(
                        "[{:>5.0} s] {bench} {} run {run}/{}: {side} {rate} images/s",
                        start.elapsed().as_secs_f64(),
                        case.name,
                        options.runs
                    );
                    csv += &runs_row(&case.name, options.device.name(), side, run, &fields);
                }
            }
        }
        std::fs::write(dir.join(format!("{bench}_runs.csv")), csv)?;
    }
    report(&sh)?;
    eprintln!(
        "bench: done in {:.0} s; see results/bench/*.md",
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

fn report(sh: &Shell) -> Result<()> {
    cmd!(sh, "cargo run --quiet --bin caco -- bench report --dir results/bench").run()?;
    Ok(())
}

/// The same header as `caco::report::bench::RUNS_HEADER` (xtask does not link the library).
const RUNS_HEADER: &str = "case,device,side,run,images_per_s,peak_rss_mb,peak_rss_total_mb,data_wait_s,step_s";

fn runs_row(case: &str, device: &str, side: &str, run: usize, fields: &BTreeMap<String, String>) -> String {
    let get = |k: &str| fields.get(k).map(String::as_str).unwrap_or("");
    format!(
        "{case},{device},{side},{run},{},{},{},{},{}\n",
        get("images_per_s"),
        get("peak_rss_mb"),
        get("peak_rss_total_mb"),
        get("data_wait_s"),
        get("step_s")
    )
}

/// Standard output then standard error of a finished command (caco prints its summary lines to standard error).
pub(crate) fn all_output(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `key=value` words of a benchmark's output.
pub(crate) fn parse_fields(output: &str) -> BTreeMap<String, String> {
    output
        .split_whitespace()
        .filter_map(|w| w.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// One case: the two command lines (`python` stands for .venv-bench's interpreter).
#[derive(Debug, Clone, PartialEq)]
struct Case {
    name: String,
    caco: Vec<String>,
    pytorch: Vec<String>,
    takes_threads: bool,
}

fn words(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_string).collect()
}

fn loader_cases(o: &Options) -> Vec<Case> {
    let batches = if o.quick { 3 } else { 60 };
    let common = format!("--batch-size 64 --batches {batches} --workers 2 --size 64");
    vec![Case {
        name: "caco-views-64px-b64".into(),
        caco: words(&format!("target/debug/caco bench loader --root {SEASONS} {common}")),
        pytorch: words(&format!("python bench/loader_reference.py {SEASONS} {common}")),
        takes_threads: false,
    }]
}

/// MoCo-v2, SeCo, CACo at 64 px (batch 64, 20 timed steps) and 224 px (batch 32, 5 timed steps), float32; bf16
/// autocast at 64 px as extra rows.
fn pretrain_cases(o: &Options) -> Vec<Case> {
    let mut settings = vec![(64, "off", 64, 20, 3), (224, "off", 32, 5, 2)];
    if o.bf16 {
        settings.push((64, "bf16", 64, 20, 3));
    }
    let mut cases = Vec::new();
    for (size, amp, batch, steps, warmup) in settings {
        let (batch, steps, warmup) = if o.quick { (8, 2, 1) } else { (batch, steps, warmup) };
        for method in ["moco", "seco", "caco"] {
            let precision = if amp == "off" { "fp32" } else { "bf16" };
            let common = format!(
                "--method {method} --size {size} --batch-size {batch} --queue-size 4096 --workers 2 --steps {steps} \
                 --warmup {warmup} --amp {amp} --device {}",
                o.device.name()
            );
            cases.push(Case {
                name: format!("{method}-{size}px-{precision}-b{batch}"),
                caco: words(&format!("target/debug/caco bench pretrain --root {SEASONS} {common}")),
                pytorch: words(&format!("python bench/pretrain_reference.py {SEASONS} {common}")),
                takes_threads: true,
            });
        }
    }
    cases
}

fn features_cases(o: &Options) -> Result<Vec<Case>> {
    let data = std::env::var("CACO_DATA").unwrap_or_else(|_| "data".into());
    let root = Path::new(&data).join("eurosat-rgb");
    if !project_root().join(&root).is_dir() && !root.is_dir() {
        bail!(
            "features: {} not found (set CACO_DATA to the folder holding eurosat-rgb/)",
            root.display()
        );
    }
    let n = if o.quick { 512 } else { 5400 };
    let common = format!(
        "--n-images {n} --batch-size 256 --workers 2 --device {}",
        o.device.name()
    );
    Ok(vec![Case {
        name: format!("eurosat-rgb-r18-{n}img-b256"),
        caco: words(&format!("target/debug/caco bench features --data-dir {data} {common}")),
        pytorch: words(&format!(
            "python bench/features_reference.py {} {common}",
            root.display()
        )),
        takes_threads: true,
    }])
}

/// libtorch's default intra-op thread count as caco sees it (`caco info`).
fn libtorch_threads(sh: &Shell) -> Result<String> {
    let info = cmd!(sh, "target/debug/caco info").read()?;
    info.lines()
        .find_map(|l| l.strip_prefix("libtorch threads:"))
        .map(|t| t.trim().to_string())
        .context("`caco info` printed no libtorch thread count")
}

fn machine(sh: &Shell, python: &str, threads: &str, o: &Options) -> Result<String> {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map_or("unknown CPU".to_string(), |s| s.trim().to_string());
    let bf16 = cpuinfo.contains("avx512_bf16") || cpuinfo.contains("amx_bf16");
    let n_cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem_gib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kib| kib / 1024.0 / 1024.0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let torch = cmd!(sh, "{python} -c 'import torch, torchvision, PIL; print(torch.__version__, torchvision.__version__, PIL.__version__)'")
        .read()
        .unwrap_or_default();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let gpu = if o.device == Device::Cuda {
        cmd!(sh, "nvidia-smi --query-gpu=name,memory.total --format=csv,noheader")
            .read()
            .unwrap_or_else(|_| "nvidia-smi unavailable".into())
    } else {
        "none used".into()
    };
    Ok(format!(
        "- CPU: {cpu}, {n_cpus} logical CPUs available to the process{}; memory {mem_gib:.0} GiB; Linux {}\n\
         - GPU: {gpu}; device benchmarked: {}\n\
         - caco: libtorch {TORCH_VERSION} (tch 0.24), `target/debug/caco` (opt-level 2); PyTorch side: torch, \
         torchvision, Pillow = {} (.venv-bench)\n\
         - libtorch intra-op threads on both sides: {threads} (torch.set_num_threads / tch::set_num_threads); data \
         workers: 2 on both sides (caco threads, PyTorch DataLoader processes)\n\
         - runs per side: {}{}; load average when the bench started: {}\n",
        if bf16 { ", AVX512_BF16" } else { "" },
        kernel.trim(),
        o.device.name(),
        torch.trim().replace(' ', ", "),
        o.runs,
        if o.quick {
            " (--quick: tiny batches, numbers not meaningful)"
        } else {
            ""
        },
        load.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
    ))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(clap::Parser)]
    struct Bench {
        #[command(flatten)]
        args: Args,
    }

    fn parse(s: &str) -> Result<Args, clap::Error> {
        use clap::Parser;
        Bench::try_parse_from(std::iter::once("bench").chain(s.split_whitespace())).map(|b| b.args)
    }

    #[test]
    fn options_parse_in_any_order_and_reject_bad_flags() {
        let a = parse("--runs 5 --threads 2 --quick --no-bf16").unwrap();
        let o = &a.options;
        assert_eq!(
            (a.what, o.runs, o.threads, o.quick, o.bf16, o.device),
            (What::All, 5, Some(2), true, false, Device::Cpu)
        );
        assert_eq!(parse("--runs 5 --threads 2 --quick --no-bf16 all").unwrap(), a);
        assert_eq!(parse("--quick pretrain --device cuda").unwrap().what, What::Pretrain);
        assert!(parse("--runs 0").is_err());
        assert!(parse("--device tpu").is_err());
        assert!(parse("everything").is_err());
        assert!(parse("--fast").unwrap_err().to_string().contains("--fast"));
    }

    #[test]
    fn both_sides_of_a_pretrain_case_get_the_same_settings() {
        let o = parse("").unwrap().options;
        let cases = pretrain_cases(&o);
        assert_eq!(cases.len(), 9);
        for case in &cases {
            let tail = |v: &[String]| v.iter().skip_while(|w| *w != "--method").cloned().collect::<Vec<_>>();
            assert_eq!(tail(&case.caco), tail(&case.pytorch), "{}", case.name);
        }
        assert_eq!(cases[3].name, "moco-224px-fp32-b32");
        assert_eq!(pretrain_cases(&Options { bf16: false, ..o }).len(), 6);
    }

    #[test]
    fn output_fields_become_a_runs_row() {
        let fields = parse_fields("images_per_s=12.5 peak_rss_mb=700 threads=2\n");
        assert_eq!(
            runs_row("moco", "cpu", "caco", 1, &fields),
            "moco,cpu,caco,1,12.5,700,,,\n"
        );
        assert_eq!(RUNS_HEADER.split(',').count(), 9);
    }
}
