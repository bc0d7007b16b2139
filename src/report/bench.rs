//! The performance report of `cargo xtask bench` (issue 9): raw runs of caco and of the PyTorch reference scripts
//! (`results/bench/<bench>_runs.csv`, one row per run and side, written by xtask) become medians per case, the ratio
//! caco / PyTorch against its target, `results/bench/<bench>.{csv,md}`, and the figure `bench.{svg,png}`.
//! Builds without libtorch; `caco bench-report` calls [`write_report`].

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::plot::{render_both, Figure, FONT_FAMILY};
use crate::results::writer::{to_markdown, write_csv};
use crate::{Error, Result};

/// The benchmarks, in report order.
pub const BENCHES: [&str; 3] = ["loader", "pretrain", "features"];

/// Side names in the raw CSVs.
pub const CACO: &str = "caco";
pub const PYTORCH: &str = "pytorch";

/// Header of a raw runs file.
pub const RUNS_HEADER: &str = "case,device,side,run,images_per_s,peak_rss_mb,peak_rss_total_mb,data_wait_s,step_s";

/// The target ratio caco / PyTorch of a benchmark on a device (issue 9; the pre-training step on CPU raised to
/// 1.5x by the fidelity issue); `None` where the issues set none.
pub fn target(bench: &str, device: &str) -> Option<f64> {
    match (bench, device) {
        ("pretrain", "cpu") => Some(1.5),
        ("pretrain", _) => Some(1.0),
        ("loader", _) => Some(3.0),
        _ => None,
    }
}

/// One run of one side of one case, as measured.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRecord {
    pub case: String,
    pub device: String,
    pub side: String,
    pub run: usize,
    pub images_per_s: f64,
    pub peak_rss_mb: Option<f64>,
    /// Main process plus the PyTorch DataLoader's worker processes (their shared pages counted once per process).
    pub peak_rss_total_mb: Option<f64>,
    /// Seconds the training loop waited for batches during the timed steps.
    pub data_wait_s: Option<f64>,
    /// Seconds of the steps themselves during the timed steps.
    pub step_s: Option<f64>,
}

impl RunRecord {
    /// The row of a runs CSV ([`RUNS_HEADER`]).
    pub fn csv_row(&self) -> String {
        let opt = |v: Option<f64>| v.map(|v| format!("{v:.2}")).unwrap_or_default();
        format!(
            "{},{},{},{},{:.2},{},{},{},{}",
            self.case,
            self.device,
            self.side,
            self.run,
            self.images_per_s,
            opt(self.peak_rss_mb),
            opt(self.peak_rss_total_mb),
            opt(self.data_wait_s),
            opt(self.step_s)
        )
    }
}

/// Parses the `key=value` fields of a benchmark's output line (`images_per_s=... peak_rss_mb=...`); the last
/// occurrence of a key wins, words without `=` are ignored.
pub fn parse_fields(output: &str) -> BTreeMap<String, String> {
    output
        .split_whitespace()
        .filter_map(|w| w.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Reads a runs CSV written with [`RUNS_HEADER`].
pub fn read_runs(path: &Path) -> Result<Vec<RunRecord>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    parse_runs(&text).map_err(|reason| Error::bad_input(path, reason))
}

/// Parses the text of a runs CSV; the error names the line.
pub fn parse_runs(text: &str) -> std::result::Result<Vec<RunRecord>, String> {
    let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty());
    match lines.next() {
        Some((_, header)) if header.trim() == RUNS_HEADER => {}
        other => {
            return Err(format!(
                "header must be `{RUNS_HEADER}`, got `{}`",
                other.map_or("", |(_, l)| l)
            ))
        }
    }
    lines
        .map(|(i, line)| {
            let cells: Vec<&str> = line.split(',').map(str::trim).collect();
            if cells.len() != 9 {
                return Err(format!("line {}: {} fields, expected 9: `{line}`", i + 1, cells.len()));
            }
            let number = |c: &str, name: &str| -> std::result::Result<Option<f64>, String> {
                if c.is_empty() {
                    return Ok(None);
                }
                c.parse::<f64>()
                    .map(Some)
                    .map_err(|_| format!("line {}: {name} `{c}` is not a number", i + 1))
            };
            let images_per_s =
                number(cells[4], "images_per_s")?.ok_or_else(|| format!("line {}: images_per_s is empty", i + 1))?;
            Ok(RunRecord {
                case: cells[0].to_string(),
                device: cells[1].to_string(),
                side: cells[2].to_string(),
                run: cells[3]
                    .parse()
                    .map_err(|_| format!("line {}: run `{}` is not a count", i + 1, cells[3]))?,
                images_per_s,
                peak_rss_mb: number(cells[5], "peak_rss_mb")?,
                peak_rss_total_mb: number(cells[6], "peak_rss_total_mb")?,
                data_wait_s: number(cells[7], "data_wait_s")?,
                step_s: number(cells[8], "step_s")?,
            })
        })
        .collect()
}

/// The median (mean of the two middle values for an even count); NaN for none.
pub fn median(values: &[f64]) -> f64 {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| !x.is_nan()).collect();
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let mid = v.len() / 2;
    if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    }
}

/// Medians of one case, both sides.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseSummary {
    pub bench: String,
    pub case: String,
    pub device: String,
    pub n_runs: usize,
    pub caco_images_per_s: f64,
    pub pytorch_images_per_s: f64,
    /// Median caco / median PyTorch.
    pub ratio: f64,
    pub target: Option<f64>,
    pub caco_peak_rss_mb: f64,
    pub pytorch_peak_rss_mb: f64,
    pub pytorch_peak_rss_total_mb: f64,
    /// Share of the timed wall time spent waiting for batches (median over runs).
    pub caco_data_wait_share: f64,
    pub pytorch_data_wait_share: f64,
}

impl CaseSummary {
    pub fn meets_target(&self) -> Option<bool> {
        self.target.map(|t| self.ratio >= t)
    }
}

/// Medians per (case, device), in the order cases first appear; a case needs runs of both sides.
pub fn summarize(bench: &str, runs: &[RunRecord]) -> Result<Vec<CaseSummary>> {
    let mut order: Vec<(String, String)> = Vec::new();
    for r in runs {
        let key = (r.case.clone(), r.device.clone());
        if !order.contains(&key) {
            order.push(key);
        }
    }
    order
        .into_iter()
        .map(|(case, device)| {
            let side = |name: &str| -> Vec<&RunRecord> {
                runs.iter()
                    .filter(|r| r.case == case && r.device == device && r.side == name)
                    .collect()
            };
            let (caco, torch) = (side(CACO), side(PYTORCH));
            if caco.is_empty() || torch.is_empty() {
                return Err(Error::Report(format!(
                    "{bench} case `{case}` on {device}: {} caco runs and {} pytorch runs; both sides need at least one",
                    caco.len(),
                    torch.len()
                )));
            }
            let med = |rs: &[&RunRecord], f: &dyn Fn(&RunRecord) -> Option<f64>| {
                median(&rs.iter().map(|r| f(r).unwrap_or(f64::NAN)).collect::<Vec<_>>())
            };
            let wait_share = |r: &RunRecord| match (r.data_wait_s, r.step_s) {
                (Some(w), Some(s)) if w + s > 0.0 => Some(w / (w + s)),
                _ => None,
            };
            let (c, t) = (
                med(&caco, &|r| Some(r.images_per_s)),
                med(&torch, &|r| Some(r.images_per_s)),
            );
            Ok(CaseSummary {
                bench: bench.to_string(),
                target: target(bench, &device),
                n_runs: caco.len().min(torch.len()),
                caco_images_per_s: c,
                pytorch_images_per_s: t,
                ratio: c / t,
                caco_peak_rss_mb: med(&caco, &|r| r.peak_rss_mb),
                pytorch_peak_rss_mb: med(&torch, &|r| r.peak_rss_mb),
                pytorch_peak_rss_total_mb: med(&torch, &|r| r.peak_rss_total_mb),
                caco_data_wait_share: med(&caco, &wait_share),
                pytorch_data_wait_share: med(&torch, &wait_share),
                case,
                device,
            })
        })
        .collect()
}

fn summary_frame(rows: &[CaseSummary]) -> Result<polars::prelude::DataFrame> {
    use polars::prelude::*;
    let col_f = |name: &str, f: &dyn Fn(&CaseSummary) -> f64| {
        Column::new(name.into(), rows.iter().map(f).collect::<Vec<f64>>())
    };
    let col_s = |name: &str, f: &dyn Fn(&CaseSummary) -> String| {
        Column::new(name.into(), rows.iter().map(f).collect::<Vec<String>>())
    };
    Ok(DataFrame::new_infer_height(vec![
        col_s("case", &|r| r.case.clone()),
        col_s("device", &|r| r.device.clone()),
        Column::new(
            "runs".into(),
            rows.iter().map(|r| r.n_runs as i64).collect::<Vec<i64>>(),
        ),
        col_f("caco_images_per_s", &|r| r.caco_images_per_s),
        col_f("pytorch_images_per_s", &|r| r.pytorch_images_per_s),
        col_f("ratio", &|r| r.ratio),
        col_f("target", &|r| r.target.unwrap_or(f64::NAN)),
        col_s("meets_target", &|r| match r.meets_target() {
            Some(true) => "yes".into(),
            Some(false) => "no".into(),
            None => "-".into(),
        }),
        col_f("caco_peak_rss_mb", &|r| r.caco_peak_rss_mb),
        col_f("pytorch_peak_rss_mb", &|r| r.pytorch_peak_rss_mb),
        col_f("pytorch_peak_rss_total_mb", &|r| r.pytorch_peak_rss_total_mb),
        col_f("caco_data_wait_share", &|r| r.caco_data_wait_share),
        col_f("pytorch_data_wait_share", &|r| r.pytorch_data_wait_share),
    ])?)
}

/// What each benchmark measures, for its Markdown file.
fn description(bench: &str) -> &'static str {
    match bench {
        "loader" => {
            "Data pipeline alone: decode + augment of CACo's 4 views per item (eurosat-seasons, 64 px, batch 64), \
             caco's threaded loader against PIL + torchvision transforms + torch DataLoader \
             (`bench/loader_reference.py`). images/s counts views."
        }
        "pretrain" => {
            "Pre-training step with data loading and augmentation included (ResNet-18, MoCo-v2 heads, queue, EMA key \
             encoder, SGD): `caco bench-pretrain` (the library's training loop, `caco::train::pretrain`) against \
             `bench/pretrain_reference.py` (torchvision ResNet-18, the same views, losses, optimiser and batch, PIL + \
             torchvision transforms + DataLoader). Case names: method-size-precision-batch. images/s counts queries \
             (batch items) per second over the timed steps after the warm-up; data_wait_share is the part of that \
             time the loop waited for batches."
        }
        "features" => {
            "Linear-probe feature extraction over EuroSAT RGB: frozen randomly initialised ResNet-18, eval mode, \
             no_grad, batch 256, ImageNet normalisation; `caco bench-features` (`caco::eval::features::extract`) \
             against `bench/features_reference.py` (ImageFolder-style PIL loading + DataLoader + torchvision \
             resnet18). images/s counts images over one pass after a warm-up batch."
        }
        _ => "",
    }
}

/// Writes `<dir>/<bench>.csv` and `.md` for every `<dir>/<bench>_runs.csv` present, and the figure
/// `<dir>/bench.{svg,png}` of all ratios. `machine`: free text describing the machine, copied into every Markdown
/// file. Returns the paths written.
pub fn write_report(dir: &Path, machine: &str) -> Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    let mut all = Vec::new();
    for bench in BENCHES {
        let runs_path = dir.join(format!("{bench}_runs.csv"));
        if !runs_path.is_file() {
            continue;
        }
        let rows = summarize(bench, &read_runs(&runs_path)?)?;
        let csv = dir.join(format!("{bench}.csv"));
        write_csv(&summary_frame(&rows)?, &csv)?;
        let md = dir.join(format!("{bench}.md"));
        std::fs::write(&md, markdown(bench, &rows, machine)?).map_err(|e| Error::io(&md, e))?;
        written.extend([csv, md]);
        all.extend(rows);
    }
    if all.is_empty() {
        return Err(Error::bad_input(
            dir,
            "no <bench>_runs.csv here (run `cargo xtask bench` first)",
        ));
    }
    written.extend(ratio_figure(&all, &dir.join("bench"))?);
    Ok(written)
}

/// The Markdown report of one benchmark.
pub fn markdown(bench: &str, rows: &[CaseSummary], machine: &str) -> Result<String> {
    let mut text = format!("# Benchmark `{bench}`: caco / PyTorch\n\n{}\n\n", description(bench));
    let _ = writeln!(text, "Machine:\n\n{}\n", machine.trim_end());
    text += &to_markdown(&summary_frame(rows)?, 2)?;
    let _ = write!(
        text,
        "\nMedians over the runs of each side (sides alternate run by run); ratio = median caco / median PyTorch. \
         Peak memory is VmHWM from /proc: caco is one process (loader threads included); for PyTorch \
         `pytorch_peak_rss_mb` is the main process and `pytorch_peak_rss_total_mb` adds each DataLoader worker \
         process's VmHWM (pages shared after fork counted in every process, so an upper bound). Raw runs: \
         `{bench}_runs.csv`. Figure: `bench.svg`.\n"
    );
    Ok(text)
}

/// Horizontal bars of every ratio, grouped by benchmark, with the parity line and each case's target.
pub fn ratio_figure(rows: &[CaseSummary], stem: &Path) -> Result<Vec<PathBuf>> {
    if rows.is_empty() {
        return Err(Error::Report("ratio figure: no cases".into()));
    }
    render_both(stem, &RatioFigure { rows })
}

struct RatioFigure<'a> {
    rows: &'a [CaseSummary],
}

fn bench_colour(bench: &str) -> RGBColor {
    match bench {
        "loader" => RGBColor(44, 160, 44),
        "pretrain" => RGBColor(31, 119, 180),
        _ => RGBColor(255, 127, 14),
    }
}

impl Figure for RatioFigure<'_> {
    fn size(&self) -> (u32, u32) {
        (960, 140 + 34 * self.rows.len() as u32)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()> {
        let err = |e: &dyn std::fmt::Display| Error::Report(format!("drawing failed: {e}"));
        root.fill(&WHITE).map_err(|e| err(&e))?;
        let n = self.rows.len();
        let finite = |v: f64| if v.is_finite() { v } else { 0.0 };
        let x_max = self
            .rows
            .iter()
            .map(|r| finite(r.ratio).max(r.target.unwrap_or(0.0)))
            .fold(1.0f64, f64::max)
            * 1.18;
        let labels: Vec<String> = self
            .rows
            .iter()
            .map(|r| format!("{} {} ({})", r.bench, r.case, r.device))
            .collect();
        let mut chart = ChartBuilder::on(root)
            .caption("caco / PyTorch throughput (median runs)", (FONT_FAMILY, 22))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(300)
            .build_cartesian_2d(0.0..x_max, (0..n).into_segmented())
            .map_err(|e| err(&e))?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(n)
            .y_label_formatter(&|v| match v {
                SegmentValue::CenterOf(i) if *i < n => labels[*i].clone(),
                _ => String::new(),
            })
            .x_desc("ratio caco / PyTorch (images/s); dashed: target, grey: parity")
            .label_style((FONT_FAMILY, 14))
            .draw()
            .map_err(|e| err(&e))?;
        for (i, r) in self.rows.iter().enumerate() {
            let colour = bench_colour(&r.bench);
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [
                        (0.0, SegmentValue::Exact(i)),
                        (finite(r.ratio), SegmentValue::Exact(i + 1)),
                    ],
                    colour.mix(0.8).filled(),
                )))
                .map_err(|e| err(&e))?;
            chart
                .draw_series(std::iter::once(Text::new(
                    format!("{:.2}x", r.ratio),
                    (finite(r.ratio) + x_max * 0.01, SegmentValue::CenterOf(i)),
                    (FONT_FAMILY, 14).into_font(),
                )))
                .map_err(|e| err(&e))?;
            if let Some(t) = r.target {
                chart
                    .draw_series(DashedLineSeries::new(
                        [(t, SegmentValue::Exact(i)), (t, SegmentValue::Exact(i + 1))],
                        4,
                        3,
                        ShapeStyle::from(&RED).stroke_width(3),
                    ))
                    .map_err(|e| err(&e))?;
            }
        }
        chart
            .draw_series(LineSeries::new(
                [(1.0, SegmentValue::Exact(0)), (1.0, SegmentValue::Exact(n))],
                ShapeStyle::from(&RGBColor(120, 120, 120)).stroke_width(1),
            ))
            .map_err(|e| err(&e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RUNS: &str = "case,device,side,run,images_per_s,peak_rss_mb,peak_rss_total_mb,data_wait_s,step_s
moco-64px-fp32-b64,cpu,caco,1,130,700,,1,9
moco-64px-fp32-b64,cpu,pytorch,1,100,900,1800,2,8
moco-64px-fp32-b64,cpu,caco,2,140,710,,1,9
moco-64px-fp32-b64,cpu,pytorch,2,90,910,1810,2,8
moco-64px-fp32-b64,cpu,caco,3,150,720,,3,7
moco-64px-fp32-b64,cpu,pytorch,3,110,920,1820,2,8
";

    #[test]
    fn fields_of_an_output_line() {
        let f = parse_fields("noise\nimages_per_s=12.5 peak_rss_mb=700 threads=2 words\n");
        assert_eq!(f["images_per_s"], "12.5");
        assert_eq!(f["threads"], "2");
        assert!(!f.contains_key("words"));
    }

    #[test]
    fn medians_of_odd_even_and_empty() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
        assert!(median(&[]).is_nan());
        assert_eq!(median(&[f64::NAN, 5.0]), 5.0);
    }

    #[test]
    fn runs_round_trip_and_summarise_to_median_ratios_against_the_target() {
        let runs = parse_runs(RUNS).unwrap();
        assert_eq!(runs.len(), 6);
        assert_eq!(runs[1].peak_rss_total_mb, Some(1800.0));
        assert_eq!(runs[0].peak_rss_total_mb, None);
        let again = parse_runs(&format!(
            "{RUNS_HEADER}\n{}\n",
            runs.iter().map(RunRecord::csv_row).collect::<Vec<_>>().join("\n")
        ))
        .unwrap();
        assert_eq!(again, runs);
        let rows = summarize("pretrain", &runs).unwrap();
        assert_eq!(rows.len(), 1);
        let r = &rows[0];
        assert_eq!(
            (r.caco_images_per_s, r.pytorch_images_per_s, r.n_runs),
            (140.0, 100.0, 3)
        );
        assert!((r.ratio - 1.4).abs() < 1e-12);
        // 1.4x misses the CPU target of 1.5x.
        assert_eq!((r.target, r.meets_target()), (Some(1.5), Some(false)));
        assert_eq!(r.caco_peak_rss_mb, 710.0);
        assert!((r.caco_data_wait_share - 0.1).abs() < 1e-12);
        assert!((r.pytorch_data_wait_share - 0.2).abs() < 1e-12);
        assert_eq!(target("features", "cpu"), None);
        assert_eq!(target("pretrain", "cuda"), Some(1.0));
    }

    #[test]
    fn bad_runs_files_name_the_line_and_a_one_sided_case_is_an_error() {
        let err = parse_runs("case,device\n").unwrap_err();
        assert!(err.contains("header must be"), "{err}");
        let err = parse_runs(&format!("{RUNS_HEADER}\nmoco,cpu,caco,1,fast,,,,\n")).unwrap_err();
        assert!(err.contains("line 2") && err.contains("`fast`"), "{err}");
        let runs = parse_runs(&format!("{RUNS_HEADER}\nmoco,cpu,caco,1,10,,,,\n")).unwrap();
        let err = summarize("pretrain", &runs).unwrap_err().to_string();
        assert!(err.contains("1 caco runs and 0 pytorch runs"), "{err}");
    }

    #[test]
    fn report_writes_tables_markdown_and_a_figure_that_renders() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("pretrain_runs.csv"), RUNS).unwrap();
        let loader =
            format!("{RUNS_HEADER}\ncaco-views-64px,cpu,caco,1,10000,,,,\ncaco-views-64px,cpu,pytorch,1,2000,,,,\n");
        std::fs::write(dir.path().join("loader_runs.csv"), loader).unwrap();
        let written = write_report(dir.path(), "- CPU: test machine").unwrap();
        let names: Vec<String> = written
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            [
                "loader.csv",
                "loader.md",
                "pretrain.csv",
                "pretrain.md",
                "bench.svg",
                "bench.png"
            ]
        );
        let md = std::fs::read_to_string(dir.path().join("pretrain.md")).unwrap();
        assert!(
            md.contains("test machine")
                && md.contains("| moco-64px-fp32-b64 | cpu | 3 | 140.00 | 100.00 | 1.40 | 1.50 | no |"),
            "{md}"
        );
        let svg = std::fs::read_to_string(dir.path().join("bench.svg")).unwrap();
        assert!(
            svg.contains("1.40x") && svg.contains("5.00x") && svg.contains("pretrain moco-64px-fp32-b64"),
            "{svg}"
        );
        let png = image::open(dir.path().join("bench.png")).unwrap().into_rgb8();
        assert_eq!(png.dimensions(), (960, 140 + 34 * 2));
        // Some red (target) and some blue (pretrain bar) pixels were drawn.
        assert!(png.pixels().any(|p| p[0] > 200 && p[1] < 60 && p[2] < 60));
        assert!(png.pixels().any(|p| p[2] > 150 && p[0] < 90));
        let csv = std::fs::read_to_string(dir.path().join("loader.csv")).unwrap();
        assert!(csv.starts_with("case,device,runs,caco_images_per_s"), "{csv}");
    }
}
