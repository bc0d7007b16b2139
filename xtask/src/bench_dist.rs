//! `cargo xtask bench-dist`: what data-parallel pre-training costs or gains on this machine. The same run
//! (`experiments/pretrain/<method>-r18-cpu.toml`, a fixed number of steps) as one process, as `caco pretrain --nproc N`
//! and, when a torchrun starts, as `torchrun --no-python --nproc-per-node N`, alternating run by run; writes
//! results/bench/dist.md (medians) and dist_runs.csv (every run). A report, not a target: on a 2-core CPU two ranks
//! only add the exchange; the gain is for several GPUs or machines (`cargo xtask gpu-check`).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use xshell::{cmd, Shell};

use crate::bench::all_output;
use crate::setup::{cargo_shell, project_root};

#[derive(Debug, Clone, PartialEq, clap::Args)]
pub struct Args {
    /// The method whose CPU config runs: experiments/pretrain/<method>-r18-cpu.toml
    #[arg(long, default_value = "caco", value_parser = ["moco", "seco", "teco", "caco", "gassl"])]
    method: String,
    /// Ranks of the data-parallel runs
    #[arg(long, value_name = "N", default_value_t = 2)]
    nproc: usize,
    /// Steps of every run (its median images/s leaves out the first)
    #[arg(long, value_name = "N", default_value_t = 30)]
    steps: u64,
    /// Runs per launcher
    #[arg(long, value_name = "N", default_value_t = 3)]
    runs: usize,
    /// Locations of the eurosat-seasons simulation built for the bench (from the data root's eurosat-rgb; fake
    /// series of the same count without it)
    #[arg(long, value_name = "N", default_value_t = 200)]
    locations: usize,
    /// Where dist.md and dist_runs.csv go
    #[arg(long, value_name = "DIR", default_value = "results/bench")]
    out: PathBuf,
}

/// How a run is started.
#[derive(Debug, Clone, PartialEq)]
enum Launcher {
    One,
    Nproc(usize),
    Torchrun(PathBuf, usize),
}

impl Launcher {
    fn name(&self) -> String {
        match self {
            Launcher::One => "one process".into(),
            Launcher::Nproc(n) => format!("caco --nproc {n}"),
            Launcher::Torchrun(_, n) => format!("torchrun --nproc-per-node {n}"),
        }
    }

    fn ranks(&self) -> usize {
        match self {
            Launcher::One => 1,
            Launcher::Nproc(n) | Launcher::Torchrun(_, n) => *n,
        }
    }

    /// The program and its arguments for `caco pretrain <config> --max-steps <steps> --run-dir <run>`.
    fn command(&self, caco: &Path, config: &Path, run: &Path, steps: u64) -> (PathBuf, Vec<String>) {
        let pretrain = vec![
            "pretrain".to_string(),
            config.display().to_string(),
            "--quiet".into(),
            "--max-steps".into(),
            steps.to_string(),
            "--run-dir".into(),
            run.display().to_string(),
        ];
        match self {
            Launcher::One => (caco.to_path_buf(), pretrain),
            Launcher::Nproc(n) => {
                let mut args = pretrain;
                args.extend(["--nproc".to_string(), n.to_string()]);
                (caco.to_path_buf(), args)
            }
            Launcher::Torchrun(torchrun, n) => {
                let mut args = vec![
                    "--no-python".to_string(),
                    "--nproc-per-node".into(),
                    n.to_string(),
                    "--master-port".into(),
                    free_port().to_string(),
                    caco.display().to_string(),
                ];
                args.extend(pretrain);
                (torchrun.clone(), args)
            }
        }
    }
}

/// One measured run.
#[derive(Debug, Clone, PartialEq)]
struct Measured {
    launcher: String,
    ranks: usize,
    run: usize,
    images_per_s: f64,
    wall_s: f64,
}

pub fn run(args: Args) -> Result<()> {
    if args.nproc < 2 || args.steps < 2 || args.runs == 0 {
        bail!("bench-dist needs --nproc >= 2, --steps >= 2 and --runs >= 1");
    }
    let root = project_root();
    let sh = cargo_shell()?;
    cmd!(sh, "cargo build --quiet --bin caco").run()?;
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    let caco = target.join("debug/caco");
    let work = target.join("bench-dist");
    std::fs::create_dir_all(&work)?;
    let (series, data) = series(&sh, &caco, &work, args.locations)?;
    let template = root.join(format!("experiments/pretrain/{}-r18-cpu.toml", args.method));
    let text = std::fs::read_to_string(&template).with_context(|| format!("reading {}", template.display()))?;
    let config = work.join(format!("{}.toml", args.method));
    std::fs::write(&config, with_root(&text, &series)?)?;
    let batch = batch_size(&text).with_context(|| format!("no optim.batch_size in {}", template.display()))?;

    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let per_rank = (cores / args.nproc).max(1);
    let mut launchers = vec![Launcher::One, Launcher::Nproc(args.nproc)];
    let torchrun = working_torchrun(&root);
    if let Some(t) = &torchrun {
        launchers.push(Launcher::Torchrun(t.clone(), args.nproc));
    }
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let mut measured = Vec::new();
    for run in 0..args.runs {
        for launcher in &launchers {
            let dir = work.join("run");
            let _ = std::fs::remove_dir_all(&dir);
            let (program, argv) = launcher.command(&caco, &config, &dir, args.steps);
            // One process takes every core (libtorch's default); ranks share them, as --nproc and torchrun do.
            let threads = if *launcher == Launcher::One { cores } else { per_rank };
            let start = Instant::now();
            let output = cmd!(sh, "{program} {argv...}")
                .env("OMP_NUM_THREADS", threads.to_string())
                .ignore_status()
                .output()?;
            let out = all_output(&output);
            if !output.status.success() {
                bail!("{} run {run} failed ({}):\n{out}", launcher.name(), output.status);
            }
            let wall_s = start.elapsed().as_secs_f64();
            let images_per_s = median_rate(&out).with_context(|| format!("no images/s in: {out}"))?;
            eprintln!(
                "bench-dist: {} run {run}: {images_per_s:.1} images/s, {wall_s:.1} s",
                launcher.name()
            );
            measured.push(Measured {
                launcher: launcher.name(),
                ranks: launcher.ranks(),
                run,
                images_per_s,
                wall_s,
            });
        }
    }
    let out_dir = root.join(&args.out);
    std::fs::create_dir_all(&out_dir)?;
    let mut csv = String::from("launcher,ranks,run,images_per_s,wall_s\n");
    for m in &measured {
        writeln!(
            csv,
            "{},{},{},{:.2},{:.2}",
            m.launcher, m.ranks, m.run, m.images_per_s, m.wall_s
        )?;
    }
    std::fs::write(out_dir.join("dist_runs.csv"), csv)?;
    let commit = cmd!(sh, "git rev-parse --short HEAD").read().unwrap_or_default();
    let machine = format!(
        "- {cores} logical CPUs, no GPU; load average when the bench started: {}; commit {commit}\n\
         - threads: one process {cores} (libtorch's default), each rank {per_rank} (OMP_NUM_THREADS, as `--nproc` \
         sets it)\n\
         - data: {data}; {} ResNet-18 at the config's 64 px, global batch {batch}, {} steps per run (the first \
         left out of the median), {} runs per launcher, alternating\n\
         - torchrun: {}\n",
        load.split_whitespace().take(3).collect::<Vec<_>>().join(" "),
        args.method,
        args.steps,
        args.runs,
        torchrun.as_ref().map_or(
            "none starts here (CACO_TORCHRUN, .venv/bin/torchrun, .venv-bench/bin/torchrun, PATH): left out"
                .to_string(),
            |t| t.display().to_string()
        ),
    );
    let command = format!(
        "cargo xtask bench-dist --method {} --nproc {} --steps {} --runs {} --locations {}",
        args.method, args.nproc, args.steps, args.runs, args.locations
    );
    std::fs::write(out_dir.join("dist.md"), report(&measured, batch, &machine, &command))?;
    eprintln!("bench-dist: wrote {}", out_dir.join("dist.md").display());
    Ok(())
}

/// The series the runs read: eurosat-seasons simulated from the data root's EuroSAT when present, else fake series.
fn series(sh: &Shell, caco: &Path, work: &Path, locations: usize) -> Result<(PathBuf, String)> {
    let data_root = std::env::var_os("CACO_DATA").map_or_else(|| project_root().join("data"), PathBuf::from);
    let n = locations.to_string();
    if data_root.join("eurosat-rgb").is_dir() {
        let dir = work.join(format!("eurosat-seasons-{locations}"));
        cmd!(
            sh,
            "{caco} data simulate --data-dir {data_root} --n-locations {n} --out {dir} --quiet"
        )
        .run()?;
        Ok((
            dir,
            format!("eurosat-seasons, {locations} simulated locations (`caco data simulate`)"),
        ))
    } else {
        let dir = work.join(format!("fake-series-{locations}"));
        if !dir.is_dir() {
            cmd!(sh, "{caco} data fake timeseries --out {dir} --n-per-class {n}").run()?;
        }
        Ok((
            dir,
            format!(
                "fake time series, {locations} locations (no eurosat-rgb under {})",
                data_root.display()
            ),
        ))
    }
}

/// The config with its `[data] root` pointed at `series`.
fn with_root(config: &str, series: &Path) -> Result<String> {
    let mut replaced = false;
    let lines: Vec<String> = config
        .lines()
        .map(|line| {
            if !replaced && line.trim_start().starts_with("root =") {
                replaced = true;
                format!("root = {:?}", series.display().to_string())
            } else {
                line.to_string()
            }
        })
        .collect();
    if !replaced {
        bail!("the config has no `root =` line");
    }
    Ok(lines.join("\n") + "\n")
}

/// `batch_size = N` of a config.
fn batch_size(config: &str) -> Option<usize> {
    config.lines().find_map(|l| {
        let value = l
            .trim_start()
            .strip_prefix("batch_size")?
            .trim_start()
            .strip_prefix('=')?;
        value.split('#').next()?.trim().parse().ok()
    })
}

/// The `median X images/s` of `caco pretrain`'s summary line (images of the global batch per second).
fn median_rate(output: &str) -> Option<f64> {
    let rest = &output[output.rfind("median ")? + "median ".len()..];
    rest.split_whitespace().next()?.parse().ok()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn report(measured: &[Measured], batch: usize, machine: &str, command: &str) -> String {
    let mut md = String::from(
        "# Benchmark `dist`: one process against data-parallel ranks\n\n\
         The same pre-training run started as one process, by `caco pretrain --nproc N` and by `torchrun --no-python` \
         (when one starts). images/s counts the global batch's images per second, the median over a run's steps \
         after the first; steps/s = images/s / global batch; wall s is the whole command (start, rendezvous, \
         checkpoint). No target: on a few CPU cores ranks only add the exchange.\n\n",
    );
    md.push_str(machine);
    writeln!(md, "- command: `{command}`\n").unwrap();
    md.push_str("| launcher | ranks | images/s | steps/s | wall s | runs |\n|---|---:|---:|---:|---:|---:|\n");
    let mut names: Vec<&str> = Vec::new();
    for m in measured {
        if !names.contains(&m.launcher.as_str()) {
            names.push(&m.launcher);
        }
    }
    for name in names {
        let runs: Vec<&Measured> = measured.iter().filter(|m| m.launcher == name).collect();
        let rate = median(runs.iter().map(|m| m.images_per_s).collect());
        let wall = median(runs.iter().map(|m| m.wall_s).collect());
        writeln!(
            md,
            "| {name} | {} | {rate:.1} | {:.3} | {wall:.1} | {} |",
            runs[0].ranks,
            rate / batch as f64,
            runs.len()
        )
        .unwrap();
    }
    md.push_str("\nMedians over the runs of each launcher. Raw runs: `dist_runs.csv`.\n");
    md
}

/// A torchrun whose Python imports torch: `CACO_TORCHRUN`, else the project's .venv (after `cargo xtask setup
/// --full-torch`) or .venv-bench, else PATH.
fn working_torchrun(root: &Path) -> Option<PathBuf> {
    let candidates = match std::env::var_os("CACO_TORCHRUN") {
        Some(p) => vec![PathBuf::from(p)],
        None => vec![
            root.join(".venv/bin/torchrun"),
            root.join(".venv-bench/bin/torchrun"),
            PathBuf::from("torchrun"),
        ],
    };
    candidates.into_iter().find(|c| {
        std::process::Command::new(c)
            .arg("--help")
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_or(29500, |a| a.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_reads_the_bench_series_and_keeps_its_batch() {
        let config = "name = \"x\"\n[data]\nroot = \"derived/eurosat-seasons\"   # note\nlayout = \"caco\"\n[optim]\n\
                      batch_size = 64                      # CPU\n";
        let out = with_root(config, Path::new("/tmp/s")).unwrap();
        assert!(out.contains("root = \"/tmp/s\"\nlayout"), "{out}");
        assert!(!out.contains("derived/eurosat-seasons"));
        assert_eq!(batch_size(&out), Some(64));
        assert!(with_root("[data]\n", Path::new("/tmp/s")).is_err());
    }

    #[test]
    fn the_summary_line_gives_the_median_rate() {
        let out = "caco-r18-cpu: 30 steps, 5 epochs; median 42.0 images/s; backbone at /tmp/r/backbone.safetensors\n";
        assert_eq!(median_rate(out), Some(42.0));
        assert_eq!(median_rate("no summary"), None);
    }

    #[test]
    fn every_launcher_runs_the_same_pretrain_command() {
        let (caco, config, run) = (Path::new("/b/caco"), Path::new("/c.toml"), Path::new("/r"));
        let tail = ["pretrain", "/c.toml", "--quiet", "--max-steps", "7", "--run-dir", "/r"];
        let (p, a) = Launcher::One.command(caco, config, run, 7);
        assert_eq!((p.as_path(), a.as_slice()), (caco, &tail.map(String::from)[..]));
        let (p, a) = Launcher::Nproc(2).command(caco, config, run, 7);
        assert_eq!(p, caco);
        assert_eq!(a[..7], tail.map(String::from));
        assert_eq!(a[7..], ["--nproc", "2"]);
        let (p, a) = Launcher::Torchrun("/v/torchrun".into(), 2).command(caco, config, run, 7);
        assert_eq!(p, Path::new("/v/torchrun"));
        assert_eq!(a[..3], ["--no-python", "--nproc-per-node", "2"]);
        assert_eq!(a[5], "/b/caco");
        assert_eq!(a[6..], tail.map(String::from));
    }

    #[test]
    fn the_report_takes_medians_per_launcher() {
        let m = |launcher: &str, ranks, run, images_per_s, wall_s| Measured {
            launcher: launcher.into(),
            ranks,
            run,
            images_per_s,
            wall_s,
        };
        let runs = [
            m("one process", 1, 0, 40.0, 50.0),
            m("caco --nproc 2", 2, 0, 30.0, 60.0),
            m("one process", 1, 1, 44.0, 48.0),
            m("caco --nproc 2", 2, 1, 32.0, 58.0),
            m("one process", 1, 2, 42.0, 49.0),
            m("caco --nproc 2", 2, 2, 31.0, 70.0),
        ];
        let md = report(&runs, 64, "- machine\n", "cargo xtask bench-dist");
        assert!(md.contains("| one process | 1 | 42.0 | 0.656 | 49.0 | 3 |"), "{md}");
        assert!(md.contains("| caco --nproc 2 | 2 | 31.0 | 0.484 | 60.0 | 3 |"), "{md}");
        assert!(md.find("one process |").unwrap() < md.find("caco --nproc 2 |").unwrap());
    }
}
