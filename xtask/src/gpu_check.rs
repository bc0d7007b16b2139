//! `cargo xtask gpu-check`: one script for a GPU machine (about 10 minutes on one modern GPU): builds caco with the
//! `cuda` feature against a given torch, runs every method for a few dozen steps at 224 px in bf16 on ResNet-18 and
//! ResNet-50 (`caco bench pretrain`: images/s and the share of the time spent waiting for data) while sampling
//! nvidia-smi (GPU utilisation, memory), runs the data-parallel NCCL path on 2 GPUs when there are 2, and the
//! caco-vs-PyTorch pre-training benchmark on CUDA (`xtask bench pretrain --device cuda`, when its Python is
//! available); writes results/bench/gpu.md. `--dry-run` runs the same script on the CPU (no `cuda` feature, 32 px,
//! float32, ResNet-18, 2 steps, no nvidia-smi, no PyTorch side) and writes target/gpu-check/gpu-dry-run.md: it checks
//! the script, its numbers mean nothing.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use xshell::{cmd, Shell};

use crate::bench::{all_output, parse_fields};
use crate::setup::project_root;

const METHODS: [&str; 5] = ["moco", "seco", "teco", "caco", "gassl"];

#[derive(Debug, Clone, PartialEq, clap::Args)]
pub struct Args {
    /// Run the script on the CPU with tiny settings (checks the script; numbers meaningless)
    #[arg(long)]
    dry_run: bool,
    /// libtorch (or torch package folder) to build against (default: LIBTORCH, else the full torch wheel that
    /// `cargo xtask setup --full-torch` installs)
    #[arg(long, value_name = "DIR")]
    libtorch: Option<PathBuf>,
    /// A Python whose torch to build against (its package folder serves as libtorch)
    #[arg(long, value_name = "PYTHON", conflicts_with = "libtorch")]
    python: Option<String>,
    /// Timed steps per method and backbone
    #[arg(long, value_name = "N", default_value_t = 30)]
    steps: u64,
    /// Time series to read (default: fake data of 256 locations written first, 24 px upsampled by the crops)
    #[arg(long, value_name = "DIR")]
    root: Option<PathBuf>,
}

/// One row of the report.
struct Row {
    what: String,
    fields: std::collections::BTreeMap<String, String>,
    gpu_util: Option<f64>,
    gpu_mem_mb: Option<f64>,
}

pub fn run(args: Args) -> Result<()> {
    let root = project_root();
    let sh = Shell::new()?;
    sh.change_dir(&root);
    let libtorch = match (&args.libtorch, &args.python) {
        (Some(dir), _) => dir.clone(),
        (None, Some(py)) => PathBuf::from(
            cmd!(sh, "{py} -c 'import os, torch; print(os.path.dirname(torch.__file__))'")
                .read()
                .context("the --python has no importable torch")?,
        ),
        (None, None) if args.dry_run => crate::setup::ensure(false)?.libtorch,
        (None, None) => crate::setup::ensure(true)?.libtorch,
    };
    sh.set_var("LIBTORCH", &libtorch);
    let features: &[&str] = if args.dry_run { &[] } else { &["--features", "cuda"] };
    let start = Instant::now();
    eprintln!(
        "gpu-check: building caco {} against {}",
        features.join(" "),
        libtorch.display()
    );
    cmd!(sh, "cargo build --quiet --bin caco {features...}").run()?;
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    let caco = target.join("debug/caco");
    let info = cmd!(sh, "{caco} info").read()?;
    let n_gpus = if args.dry_run { 0 } else { gpu_count(&sh) };
    if !args.dry_run && !info.contains("CUDA available: true") {
        bail!("this caco build sees no CUDA device:\n{info}");
    }
    let work = target.join("gpu-check");
    std::fs::create_dir_all(&work)?;
    let series = match &args.root {
        Some(r) => r.clone(),
        None => {
            let dir = work.join("series");
            if !dir.is_dir() {
                let n = if args.dry_run { "16" } else { "256" };
                cmd!(sh, "{caco} data fake timeseries --out {dir} --n-per-class {n}").run()?;
            }
            dir
        }
    };
    let (size, batch, steps, amp, device, archs): (&str, &str, u64, &str, &str, &[&str]) = if args.dry_run {
        ("32", "8", 2, "off", "cpu", &["resnet18"])
    } else {
        ("224", "64", args.steps, "bf16", "cuda", &["resnet18", "resnet50"])
    };
    let steps_s = steps.to_string();
    let mut rows = Vec::new();
    for arch in archs {
        for method in METHODS {
            let sampler = Sampler::start(!args.dry_run);
            let out = cmd!(
                sh,
                "{caco} bench pretrain --method {method} --arch {arch} --root {series} --size {size}
                 --batch-size {batch} --amp {amp} --device {device} --steps {steps_s} --warmup 3 --workers 8"
            )
            .read()
            .with_context(|| format!("{method} {arch} failed"))?;
            let (gpu_util, gpu_mem_mb) = sampler.stop();
            let fields = parse_fields(&out);
            eprintln!(
                "[{:>4.0} s] {method} {arch}: {} images/s",
                start.elapsed().as_secs_f64(),
                fields.get("images_per_s").map_or("?", String::as_str)
            );
            rows.push(Row {
                what: format!("{method} {arch}"),
                fields,
                gpu_util,
                gpu_mem_mb,
            });
        }
    }
    // The dry run takes the same path over Gloo on the CPU.
    let nccl = if n_gpus >= 2 || args.dry_run {
        Some(data_parallel(&sh, &caco, &series, &work, (size, batch, amp, device))?)
    } else {
        None
    };
    let pytorch = if args.dry_run {
        "not run in the dry run".to_string()
    } else {
        match cmd!(sh, "cargo xtask bench pretrain --device cuda --runs 1").run() {
            Ok(()) => "ran: results/bench/pretrain.md (sides alternating, see that file)".to_string(),
            Err(e) => format!("did not run: {e}"),
        }
    };
    let report = report(&args, &info, n_gpus, &rows, nccl.as_deref(), &pytorch, start.elapsed());
    let path = if args.dry_run {
        work.join("gpu-dry-run.md")
    } else {
        root.join("results/bench/gpu.md")
    };
    std::fs::write(&path, report)?;
    eprintln!(
        "gpu-check: wrote {} in {:.0} s",
        path.display(),
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

fn gpu_count(sh: &Shell) -> usize {
    cmd!(sh, "nvidia-smi -L")
        .read()
        .map_or(0, |s| s.lines().filter(|l| l.starts_with("GPU ")).count())
}

/// CACo on 2 GPUs through `caco pretrain --nproc 2` (NCCL; Gloo on the CPU in the dry run), 20 steps: success and
/// the time.
fn data_parallel(
    sh: &Shell,
    caco: &Path,
    series: &Path,
    work: &Path,
    settings: (&str, &str, &str, &str),
) -> Result<String> {
    let (size, batch, amp, device) = settings;
    let config = work.join("caco-nccl.toml");
    let run = work.join("caco-nccl-run");
    let _ = std::fs::remove_dir_all(&run);
    std::fs::write(
        &config,
        format!(
            "name = \"gpu-check-nccl\"\nmethod = \"caco\"\n[model]\narch = \"resnet18\"\n[data]\nroot = {:?}\n\
             layout = \"caco\"\nbands = [\"B4\", \"B3\", \"B2\"]\nnormalization = {{ kind = \"imagenet\" }}\n\
             [augment]\nout_size = {size}\n[optim]\nepochs = 100\nbatch_size = {batch}\n[run]\nn_workers = 8\n\
             device = \"{device}\"\namp = \"{amp}\"\ncheckpoint_every = 1000\n",
            series.display().to_string()
        ),
    )?;
    let t = Instant::now();
    let out = cmd!(
        sh,
        "{caco} pretrain {config} --nproc 2 --max-steps 20 --quiet --run-dir {run}"
    )
    .ignore_status()
    .output()?;
    let text = all_output(&out);
    Ok(format!(
        "`caco pretrain --nproc 2` ({}), CACo ResNet-18, {size} px, global batch {batch}, 20 steps: {} in {:.1} s; \
         last lines:\n\n```\n{}\n```",
        if device == "cuda" { "NCCL" } else { "Gloo, CPU" },
        if out.status.success() { "succeeded" } else { "FAILED" },
        t.elapsed().as_secs_f64(),
        text.lines()
            .rev()
            .take(5)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n")
    ))
}

/// nvidia-smi sampled every 0.5 s in a thread while a run goes on: mean utilisation (%) and peak memory (MB).
struct Sampler {
    stop: Arc<AtomicBool>,
    samples: Arc<Mutex<Vec<(f64, f64)>>>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl Sampler {
    fn start(enabled: bool) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let samples = Arc::new(Mutex::new(Vec::new()));
        let handle = enabled.then(|| {
            let (stop, samples) = (stop.clone(), samples.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    let out = std::process::Command::new("nvidia-smi")
                        .args([
                            "--query-gpu=utilization.gpu,memory.used",
                            "--format=csv,noheader,nounits",
                            "-i",
                            "0",
                        ])
                        .output();
                    if let Ok(out) = out {
                        let text = String::from_utf8_lossy(&out.stdout);
                        let v: Vec<f64> = text.split(',').filter_map(|x| x.trim().parse().ok()).collect();
                        if v.len() == 2 {
                            samples.lock().expect("sampler lock").push((v[0], v[1]));
                        }
                    }
                    std::thread::sleep(Duration::from_millis(500));
                }
            })
        });
        Sampler { stop, samples, handle }
    }

    fn stop(mut self) -> (Option<f64>, Option<f64>) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
        let s = self.samples.lock().expect("sampler lock");
        if s.is_empty() {
            return (None, None);
        }
        let util = s.iter().map(|x| x.0).sum::<f64>() / s.len() as f64;
        let mem = s.iter().map(|x| x.1).fold(0.0, f64::max);
        (Some(util), Some(mem))
    }
}

fn report(
    args: &Args,
    info: &str,
    n_gpus: usize,
    rows: &[Row],
    nccl: Option<&str>,
    pytorch: &str,
    took: Duration,
) -> String {
    let mut md = String::from("# GPU check (`cargo xtask gpu-check`)\n\n");
    if args.dry_run {
        md += "**Dry run on the CPU: checks the script only; the numbers mean nothing.**\n\n";
    }
    let _ = writeln!(
        md,
        "Took {:.0} s. GPUs seen by nvidia-smi: {n_gpus}.\n\n```\n{}\n```\n",
        took.as_secs_f64(),
        info.trim()
    );
    md += "| method, backbone | images/s | data wait share | GPU utilisation (mean) | GPU memory (peak MB) | settings |\n";
    md += "|---|---|---|---|---|---|\n";
    for r in rows {
        let get = |k: &str| r.fields.get(k).cloned().unwrap_or_else(|| "?".into());
        let wait: f64 = get("data_wait_s").parse().unwrap_or(f64::NAN);
        let step: f64 = get("step_s").parse().unwrap_or(f64::NAN);
        let opt = |x: Option<f64>, unit: &str| x.map_or("n/a".to_string(), |v| format!("{v:.0}{unit}"));
        let _ = writeln!(
            md,
            "| {} | {} | {:.0} % | {} | {} | {} px, batch {}, amp {}, {} workers |",
            r.what,
            get("images_per_s"),
            100.0 * wait / (wait + step),
            opt(r.gpu_util, " %"),
            opt(r.gpu_mem_mb, ""),
            get("size"),
            get("batch_size"),
            get("amp"),
            get("workers")
        );
    }
    md += "\n## Data-parallel (NCCL)\n\n";
    md += nccl.unwrap_or("Not run: fewer than 2 GPUs.");
    md += "\n\n## caco against PyTorch on CUDA\n\n";
    md += pytorch;
    md += "\n";
    md
}
