//! `caco`: the command line behind `cargo xtask`. Flags are parsed here and work is dispatched to the library.

mod bench;
mod download;
mod eval;
mod pretrain;
mod sample;

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use caco::config::ExperimentConfig;
use caco::eval::eurosat_config::EurosatTableConfig;
use caco::data::{data_root, fake};
use caco::eval::eurosat::{self, RunContext};
use tch::Device;

const USAGE: &str = "\
usage: caco <command> [flags]

commands:
  reproduce-table   pre-train every method, evaluate every task, write the comparison table and its figures
      --scale <smoke|cpu|paper> preset from the table's [scales] (default: cpu)
      --table <toml>            table definition (default: experiments/tables/main.toml)
      --config <toml>           instead: only the EuroSAT probe + kNN table of an experiments/eurosat.toml-style config
      --runs-dir <dir>          pre-training runs, one per resolved config (default: runs/reproduce)
      --seeds <n>               pre-train and evaluate seeds 0..n of every row (default: the scale's seeds); the table
                                shows mean ± std over seeds beside each seed's bootstrap interval
      --force                   redo every pre-training and evaluation instead of reusing finished ones
      --data-dir <dir>          data root (default: $CACO_DATA, else ./data)
      --out-dir <dir>           outputs (default: results for cpu/paper, runs/<scale> otherwise)
      --cache-dir <dir>         feature cache (default: cache)
      --device <auto|cpu|cuda>  (default: auto)
      --quiet                   no progress bars or summaries
  pretrain <config> pre-train a backbone (MoCo-v2, SeCo, TeCo, CACo, GASSL) from an experiments/pretrain TOML
      --run-dir <dir>           (default: runs/<config name>)
      --resume                  continue from <run-dir>/checkpoint exactly
      --max-steps <n>           stop (with a checkpoint) after n steps in total
      --quiet
  change-check      CACo's change estimate against eurosat-seasons' truth, per epoch
      --run <dir> [--truth derived/eurosat-seasons/truth.csv]
  import-weights    map a published checkpoint's query encoder (SeCo/CACo `encoder_q.*`) to torchvision names
      --npz <file> --out <file.safetensors> [--prefix encoder_q]   (cargo xtask import-weights converts .ckpt/.pth)
  report            regenerate tables and figures from stored metrics, without training
      --metrics <file>          one file, e.g. results/tables/main.metrics.toml (default: every
                                <results>/tables/*.metrics.toml)
      --results <dir>           (default: results)
      --out-dir <dir>           (default: the results folder holding the metrics)
  simulate-seasons  build the simulated time series eurosat-seasons (CACo layout) from EuroSAT RGB train tiles
      --data-dir <dir>          data root holding eurosat-rgb/ (default: $CACO_DATA, else ./data)
      --out <dir>               (default: derived/eurosat-seasons)
      --split-dir <dir>         train.txt to draw tiles from (default: experiments/splits/eurosat-rgb)
      --n-locations <N|all>     (default: 2000)
      --changed-fraction <f>    locations with a true long-term change (default: 0.3)
      --seed <S>                (default: 0)
      --force                   rebuild even if an identical set exists
  bench-loader      images/s of the CACo data pipeline (decode + augment) on a CACo-layout folder
      --root <dir>              (default: derived/eurosat-seasons)
      --batch-size <n> --batches <n> --workers <n> --size <px>   (defaults: 64, 30, 2, 64)
      --skip-bad                skip bad locations (counted and reported) instead of failing
      --method <m>              moco | seco | teco | caco | gassl (config: experiments/pretrain/<m>-r18-cpu.toml)
      --size <px> --batch-size <n> --queue-size <n> --workers <n>   (defaults: the config's)
      --steps <n> --warmup <n>  timed steps after untimed ones (defaults: 20, 3)
      --amp <off|bf16> --channels-last <on|off> --device <auto|cpu|cuda> --root <dir>
      --threads <n>             libtorch intra-op threads (default: libtorch's, one per physical core)
      --data-dir <dir> --n-images <n> --batch-size <n> --workers <n> --threads <n> --device <d>
                                (defaults: $CACO_DATA, 5400, 256, 2, libtorch's, cpu)
  bench-pretrain    images/s of pre-training steps (data loading included) through the library's training loop
      --method <m>              moco | seco | teco | caco | gassl (config: experiments/pretrain/<m>-r18-cpu.toml)
      --size <px> --batch-size <n> --queue-size <n> --workers <n>   (defaults: the config's)
      --steps <n> --warmup <n>  timed steps after untimed ones (defaults: 20, 3)
      --amp <off|bf16> --channels-last <on|off> --device <auto|cpu|cuda> --root <dir>
      --threads <n>             libtorch intra-op threads (default: libtorch's, one per physical core)
  bench-features    images/s of EuroSAT RGB feature extraction (frozen random ResNet-18, eval, no_grad)
      --data-dir <dir> --n-images <n> --batch-size <n> --workers <n> --threads <n> --device <d>
                                (defaults: $CACO_DATA, 5400, 256, 2, libtorch's, cpu)
  bench-report      results/bench/<bench>_runs.csv -> <bench>.csv/.md + bench.svg/png  [--dir results/bench]
  sample            sample Sentinel-2 L2A time series (SeCo or CACo layout) from a public STAC API; needs internet;
                    re-running continues where it stopped
      --out <dir>               (default: derived/sample-<layout>)
      --layout <seco|caco>      (default: caco)
      --sampler <seco|geography>  SeCo's city + Gaussian offset, or the stratified urban/peri-urban/rural mix
                                (default: seco for the seco layout, geography for caco)
      --n-locations <n>         location folders to fill (default: 100)
      --cities <file>           world-cities table (default: <data root>/world-cities/ne_10m_populated_places.geojson,
                                from `cargo xtask data download world-cities`)
      --data-dir <dir>          data root (default: $CACO_DATA, else ./data)
      --n-cities <n>            most populous cities drawn from (default: 10000)
      --sigma-km <km>           SeCo sampler's offset per axis (default: 50)
      --years <y|y1,y2>         start year of each era (default: 2021 for seco, 2019,2023 for caco)
      --window-days <d>         search window around each date (default: 15)
      --size <px>               patch side in 10 m pixels, a multiple of 6 (default: 264)
      --bands <all|rgb|B4,B3,..>  (default: all 12)
      --stac-url <url>          (default: Earth Search v1) --collection <id> (default: sentinel-2-l2a)
      --max-scene-cloud <pct>   scene cloud limit of the search (default: 20)
      --max-cloud <fraction>    cloud/shadow/cirrus pixels (SCL 3, 8, 9, 10) allowed in a patch (default: 0.1)
      --max-nodata <fraction>   pixels without data allowed in a patch (default: 0)
      --scenes-per-date <n>     scenes tried per date before the location is resampled (default: 3)
      --max-attempts <n>        draws per location before it counts as failed (default: 10)
      --workers <n>             locations sampled at once (default: 4)
      --seed <s>                (default: 0)
      --quiet
  fake-data         write a tiny fake dataset in the real layout
      <eurosat-rgb|eurosat-ms|bigearthnet|dynamic-earthnet> --out <dir> [--n-per-class N] [--seed S]
  info              libtorch, device and data-root summary
  data-download <name>   download (or import) a dataset into the data root, resumable, checksummed, extracted
      --list                    the datasets, sizes, licenses and which need a manual download
      --data-dir <dir>          data root (default: $CACO_DATA, else ./data)
      --from <archive|folder>   import a copy you already have instead of downloading
      --jobs <n>                files downloaded at once (default: 4)
      --retries <n> --backoff-ms <ms>   retries per file after failures without progress (default: 5, 2000 doubling)
      --mirror <base-url>       fetch the official paths from another host (a mirror)
      --keep-archives --force --quiet
  eval              dense downstream benchmarks; adds a row (per init and encoder mode) to the task's table
      change-detection --dataset <levir-cd-samples|eurosat-seasons-change|oscd|NAME>   (default: levir-cd-samples)
      segmentation     --dataset <dubai-aerial-seg|dynamic-earthnet>              (default: dubai-aerial-seg)
        dynamic-earthnet: --bands R,G,B[,NIR] (default R,G,B)  --months YYYY-MM,...  --skip-bad (labels without
        an image)  --snow-as-class (7 classes; default: snow & ice ignored, as dynnet)
      --weights <random|file.safetensors>   backbone weights, torchvision names (default: random)
      --arch <resnet18|resnet50>            (default: resnet18)
      --data-dir <dir>          data root (default: $CACO_DATA, else ./data)
      --out-dir <dir>           tables/, figures/ (default: results)
      --epochs <n>              (default: 100, the paper's)
      --batch-size <n>          (default: 32)
      --tile-size <px>          training and prediction tiles (default: 256; eurosat-seasons-change 64, oscd 96)
      --max-tiles <n>           at most n training tiles per epoch (seeded; default: all)
      --label-fraction <f>      train on a seeded fraction of the training images (default: 1)
      --finetune                train the encoder too (default: frozen)
      --fixed-bn                frozen encoder keeps its stored BatchNorm statistics (default: re-estimated)
      --no-augment              no flips / rotations
      --seed <s>                (default: 42)
      --split-dir <dir>         split lists (defaults: <dataset>/list, or experiments/splits/<dataset>)
      --seasons-dir <dir>       eurosat-seasons-change: the simulated series (default: derived/eurosat-seasons)
      --overlays <n>            PNG overlays of the first n test images (default: 4)
      --device <auto|cpu|cuda>  (default: auto)
      --quiet
";

/// Minimal flag parser: `--name value` pairs, `--switch`es and positionals.
pub(crate) struct Args {
    rest: Vec<String>,
}

impl Args {
    pub(crate) fn value(&mut self, name: &str) -> Result<Option<String>> {
        let Some(pos) = self.rest.iter().position(|a| a == name) else {
            return Ok(None);
        };
        if pos + 1 >= self.rest.len() {
            bail!("{name} needs a value");
        }
        let value = self.rest.remove(pos + 1);
        self.rest.remove(pos);
        Ok(Some(value))
    }

    pub(crate) fn switch(&mut self, name: &str) -> bool {
        let found = self.rest.iter().position(|a| a == name);
        found.map(|pos| self.rest.remove(pos)).is_some()
    }

    pub(crate) fn positional(&mut self) -> Option<String> {
        let pos = self.rest.iter().position(|a| !a.starts_with("--"))?;
        Some(self.rest.remove(pos))
    }

    pub(crate) fn finish(self) -> Result<()> {
        if !self.rest.is_empty() {
            bail!("unexpected arguments: {}\n\n{USAGE}", self.rest.join(" "));
        }
        Ok(())
    }
}

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    // Large tensors from the heap, freed memory kept: no page faults per training step (src/train/allocator.rs).
    caco::train::allocator::retain_freed_memory();
    let mut args = Args {
        rest: std::env::args().skip(1).collect(),
    };
    if args.switch("--help") || args.switch("-h") {
        print!("{USAGE}");
        return Ok(());
    }
    match args.positional().as_deref() {
        Some("reproduce-table") => reproduce_table(args),
        Some("pretrain") => pretrain::run(args),
        Some("change-check") => pretrain::change_check_cmd(args),
        Some("import-weights") => pretrain::import_weights(args),
        Some("report") => report(args),
        Some("simulate-seasons") => simulate_seasons(args),
        Some("bench-loader") => bench_loader(args),
        Some("bench-pretrain") => bench::pretrain_cmd(args),
        Some("bench-features") => bench::features_cmd(args),
        Some("bench-report") => bench::report_cmd(args),
        Some("fake-data") => fake_data(args),
        Some("info") => info(args),
        Some("sample") => sample::run(args),
        Some("data-download") => download::run(args),
        Some("eval") => eval::run(args),
        Some(other) => bail!("unknown command `{other}`\n\n{USAGE}"),
        None => bail!("no command given\n\n{USAGE}"),
    }
}

fn parse_device(name: &str) -> Result<Device> {
    match name {
        "auto" => Ok(Device::cuda_if_available()),
        "cpu" => Ok(Device::Cpu),
        "cuda" if tch::Cuda::is_available() => Ok(Device::Cuda(0)),
        "cuda" => bail!("--device cuda: libtorch sees no CUDA device (built without the `cuda` feature?)"),
        other => bail!("--device must be auto, cpu or cuda, got `{other}`"),
    }
}

fn reproduce_table(mut args: Args) -> Result<()> {
    let scale = args.value("--scale")?.unwrap_or_else(|| "cpu".into());
    let eurosat_only = args.value("--config")?.map(PathBuf::from);
    let table_path = PathBuf::from(
        args.value("--table")?
            .unwrap_or_else(|| "experiments/tables/main.toml".into()),
    );
    let data_dir = args.value("--data-dir")?.map(PathBuf::from);
    let out_dir = args
        .value("--out-dir")?
        .map(PathBuf::from)
        .unwrap_or_else(|| match scale.as_str() {
            "cpu" | "paper" => PathBuf::from("results"),
            other => PathBuf::from("runs").join(other),
        });
    let cache_dir = PathBuf::from(args.value("--cache-dir")?.unwrap_or_else(|| "cache".into()));
    let runs_dir = PathBuf::from(args.value("--runs-dir")?.unwrap_or_else(|| "runs/reproduce".into()));
    let device = parse_device(&args.value("--device")?.unwrap_or_else(|| "auto".into()))?;
    let quiet = args.switch("--quiet");
    let force = args.switch("--force");
    let seeds: Option<u64> = args
        .value("--seeds")?
        .map(|n| n.parse().context("--seeds: a number of seeds, e.g. 3"))
        .transpose()?;
    args.finish()?;
    if let Some(config_path) = eurosat_only {
        return eurosat_table(&config_path, &scale, data_dir, out_dir, cache_dir, device, quiet);
    }
    let mut config = caco::reproduce::TableConfig::load(&table_path)?;
    if let Some(n) = seeds {
        if n == 0 {
            bail!("--seeds must be at least 1");
        }
        let preset = config.scales.get_mut(&scale).with_context(|| {
            format!("unknown scale `{scale}` for table `{}`", table_path.display())
        })?;
        preset.seeds = (0..n).collect();
    }
    let ctx = caco::reproduce::ReproduceContext {
        data_root: data_root(data_dir.as_deref()),
        cache_dir,
        runs_dir,
        out_dir: out_dir.clone(),
        device,
        quiet,
        force,
    };
    table_started(quiet, &config.name, &scale, device, &ctx.data_root);
    let provenance = caco::results::provenance::Provenance::capture(
        &format!("{device:?}").to_lowercase(),
        &out_dir.display().to_string(),
    );
    if provenance.dirty && out_dir.starts_with("results") {
        eprintln!(
            "WARNING: the working tree has uncommitted changes: the results written to {} will not be reproducible \
             from commit {}. Commit first, or write elsewhere with --out-dir.",
            out_dir.display(),
            provenance.commit
        );
    }
    let mut table = caco::reproduce::reproduce(&config, &scale, &ctx)?;
    table.provenance = Some(provenance);
    let written = caco::report::paper_output::write(&table, &out_dir)?;
    table_done(
        quiet,
        &caco::results::paper::markdown(&table),
        written.len(),
        &out_dir,
        table.wall_seconds,
    );
    Ok(())
}

fn table_started(quiet: bool, name: &str, scale: &str, device: Device, data_root: &std::path::Path) {
    if !quiet {
        eprintln!(
            "table `{name}` at scale `{scale}` on {device:?}, data root {}",
            data_root.display()
        );
    }
}

/// Prints the table and where its files went.
fn table_done(quiet: bool, markdown: &str, n_written: usize, out_dir: &std::path::Path, seconds: f64) {
    if !quiet {
        print!("{markdown}");
        eprintln!("wrote {n_written} files under {} in {seconds:.0} s", out_dir.display());
    }
}

/// The EuroSAT-only table of an `experiments/eurosat.toml`-style config (`reproduce-table --config <toml>`).
fn eurosat_table(
    config_path: &std::path::Path,
    scale: &str,
    data_dir: Option<PathBuf>,
    out_dir: PathBuf,
    cache_dir: PathBuf,
    device: Device,
    quiet: bool,
) -> Result<()> {
    let config = EurosatTableConfig::load(config_path)?;
    let ctx = RunContext {
        data_root: data_root(data_dir.as_deref()),
        cache_dir,
        device,
        quiet,
    };
    table_started(quiet, &config.name, scale, device, &ctx.data_root);
    let table = eurosat::run(&config, scale, &ctx)?;
    let (resolved, _) = config.with_scale(scale)?;
    let written = caco::report::eurosat::write(&table, &resolved.to_toml(), &out_dir)?;
    let markdown = std::fs::read_to_string(out_dir.join("tables").join(format!("{}.md", table.name)))?;
    table_done(quiet, &markdown, written.len(), &out_dir, table.wall_seconds);
    Ok(())
}

fn report(mut args: Args) -> Result<()> {
    let metrics = args.value("--metrics")?.map(PathBuf::from);
    let results = PathBuf::from(args.value("--results")?.unwrap_or_else(|| "results".into()));
    let out_dir = args.value("--out-dir")?.map(PathBuf::from);
    args.finish()?;
    let files = match metrics {
        Some(file) => vec![file],
        None => {
            let tables = results.join("tables");
            let mut files: Vec<PathBuf> = std::fs::read_dir(&tables)
                .with_context(|| format!("no stored metrics: {} cannot be read", tables.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.to_string_lossy().ends_with(".metrics.toml"))
                .collect();
            files.sort();
            if files.is_empty() {
                bail!("no *.metrics.toml in {}", tables.display());
            }
            files
        }
    };
    for file in files {
        // <out>/tables/<name>.metrics.toml -> <out>
        let out = out_dir.clone().unwrap_or_else(|| {
            file.parent()
                .and_then(|p| p.parent())
                .map(PathBuf::from)
                .unwrap_or_default()
        });
        let written = caco::report::regenerate(&file, &out)?.len();
        eprintln!(
            "{}: regenerated {} files under {}",
            file.display(),
            written,
            out.display()
        );
    }
    Ok(())
}

fn simulate_seasons(mut args: Args) -> Result<()> {
    use caco::data::eurosat::{Eurosat, EurosatVariant};
    use caco::data::seasons::{self, SeasonsConfig};
    let data_dir = args.value("--data-dir")?.map(PathBuf::from);
    let out = PathBuf::from(args.value("--out")?.unwrap_or_else(|| "derived/eurosat-seasons".into()));
    let split_dir = PathBuf::from(
        args.value("--split-dir")?
            .unwrap_or_else(|| "experiments/splits/eurosat-rgb".into()),
    );
    let mut config = SeasonsConfig::default();
    if let Some(n) = args.value("--n-locations")? {
        config.n_locations = if n == "all" {
            None
        } else {
            Some(n.parse().context("--n-locations: a number or `all`")?)
        };
    }
    if let Some(f) = args.value("--changed-fraction")? {
        config.changed_fraction = f.parse().context("--changed-fraction: a number in [0, 1]")?;
    }
    if let Some(seed) = args.value("--seed")? {
        config.seed = seed.parse().context("--seed: an integer")?;
    }
    let force = args.switch("--force");
    let quiet = args.switch("--quiet");
    args.finish()?;
    config.validate()?;
    if !force && seasons::is_built(&out, &config) {
        eprintln!(
            "{} already holds eurosat-seasons built with these settings (--force rebuilds)",
            out.display()
        );
        return Ok(());
    }
    let eurosat = Eurosat::open(data_root(data_dir.as_deref()).join("eurosat-rgb"), EurosatVariant::Rgb)?;
    let list_path = split_dir.join("train.txt");
    let train = eurosat.indices_of(&caco::data::split::read_list(&list_path)?, &list_path)?;
    let truth = seasons::simulate(&eurosat, &train, &out, &config, quiet)?;
    let n_changed = truth.iter().filter(|t| t.changed).count();
    eprintln!(
        "eurosat-seasons (SIMULATED): {} locations x 2 eras x {} dates, {n_changed} with a true change, at {}",
        truth.len(),
        config.dates_per_era,
        out.display()
    );
    Ok(())
}

fn bench_loader(mut args: Args) -> Result<()> {
    use caco::data::augment::AugmentConfig;
    use caco::data::loader::{for_each_batch, LoaderConfig};
    use caco::data::timeseries::{Layout, TimeSeries, TimeSeriesOptions, RGB_BANDS};
    use caco::data::views::{paired_batches, DateDraw, SamplingUnit, SeasonalViews, Units};
    let root = PathBuf::from(
        args.value("--root")?
            .unwrap_or_else(|| "derived/eurosat-seasons".into()),
    );
    let mut number = |name: &str, default: usize| -> Result<usize> {
        Ok(args
            .value(name)?
            .map(|v| v.parse())
            .transpose()
            .with_context(|| format!("{name}: a number"))?
            .unwrap_or(default))
    };
    let (batch_size, n_batches, workers, size) = (
        number("--batch-size", 64)?,
        number("--batches", 30)?,
        number("--workers", 2)?,
        number("--size", 64)?,
    );
    args.finish()?;
    let series = TimeSeries::open(&root, TimeSeriesOptions::new(Layout::Caco, &RGB_BANDS))?;
    let augment = AugmentConfig {
        out_size: size,
        ..Default::default()
    };
    let era_items = Units::new(&series, SamplingUnit::EraItem);
    let views = SeasonalViews::new(
        &era_items,
        augment,
        caco::data::Normalization::Imagenet,
        DateDraw::Distinct,
    )?;
    let mut batches = paired_batches(series.locations.len(), batch_size, 0, 0, true)?;
    batches.truncate(n_batches + 1);
    let config = LoaderConfig {
        n_workers: workers,
        prefetch: 2,
        seed: 0,
    };
    let (mut start, mut n_items, mut i) = (None, 0usize, 0usize);
    for_each_batch(&views, &batches, 0, &config, |batch| {
        // Steady state: the clock starts when the first batch arrives, as in the Python reference.
        if i == 0 {
            start = Some(std::time::Instant::now());
        } else {
            n_items += batch.items.len();
        }
        i += 1;
        Ok(())
    })?;
    let seconds = start.map_or(0.0, |s| s.elapsed().as_secs_f64()).max(1e-9);
    println!(
        "images_per_s={:.1} items_per_s={:.1}",
        4.0 * n_items as f64 / seconds,
        n_items as f64 / seconds
    );
    Ok(())
}

fn fake_data(mut args: Args) -> Result<()> {
    let kind = args
        .positional()
        .context("fake-data needs a dataset name: eurosat-rgb, eurosat-ms, bigearthnet or dynamic-earthnet")?;
    let out = PathBuf::from(args.value("--out")?.context("fake-data needs --out <dir>")?);
    let n_per_class = args
        .value("--n-per-class")?
        .map(|v| v.parse())
        .transpose()?
        .unwrap_or(20);
    let seed = args.value("--seed")?.map(|v| v.parse()).transpose()?.unwrap_or(0);
    args.finish()?;
    let n_written = fake::write(&kind, &out, &fake::FakeSpec { n: n_per_class, seed })?;
    eprintln!("wrote {n_written} fake images under {}", out.display());
    Ok(())
}

fn info(args: Args) -> Result<()> {
    args.finish()?;
    println!("caco {}", env!("CARGO_PKG_VERSION"));
    println!("libtorch threads: {}", tch::get_num_threads());
    println!(
        "CUDA available: {} ({} devices)",
        tch::Cuda::is_available(),
        tch::Cuda::device_count()
    );
    println!("default device: {:?}", Device::cuda_if_available());
    println!("data root: {}", data_root(None).display());
    Ok(())
}
