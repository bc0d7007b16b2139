//! Figures of the `reproduce-table` comparison (issue 6), drawn from the stored metrics of `paper::PaperTable`:
//! pre-training loss curves, CACo's running-ratio histograms with the fitted two-component mixture (the CACo paper's
//! key figure), per-task bars with published values for context, label-fraction curves, and image grids (EuroSAT
//! samples, nearest-neighbour retrieval). Each writes `<stem>.svg` and `<stem>.png` through `figures::render_both`.
//!
//! Thumbnails are drawn as blocks of `THUMB_CELLS` x `THUMB_CELLS` cells (nearest resampling, aspect kept), the same
//! in both formats: the SVG backend cannot embed bitmaps with the plotters features we build, and a rectangle per
//! source pixel would make multi-megabyte SVGs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::figures::{render_both, Figure};
use crate::results::paper::{mean_std, AwarenessDistribution, CacoEpoch, FractionPoint, GmmParams, PaperTable};
use super::FONT_FAMILY;
use crate::data::Image;
use crate::{Error, Result};

/// Points of the centred moving average that smooths loss curves.
pub const LOSS_SMOOTHING: usize = 10;
/// Cells per thumbnail side (the longer side of non-square images).
pub const THUMB_CELLS: usize = 32;
/// Pixels per thumbnail cell.
pub const THUMB_CELL_PX: usize = 3;
const THUMB: i32 = (THUMB_CELLS * THUMB_CELL_PX) as i32;

const CHANGED: RGBColor = RGBColor(230, 120, 30);
const UNCHANGED: RGBColor = RGBColor(70, 130, 200);
const UNKNOWN: RGBColor = RGBColor(150, 150, 150);
const LOW_COMPONENT: RGBColor = RGBColor(20, 50, 140);
const HIGH_COMPONENT: RGBColor = RGBColor(170, 30, 30);
const SAME_CLASS: RGBColor = RGBColor(20, 150, 60);
const OTHER_CLASS: RGBColor = RGBColor(215, 35, 35);
const GRID_GREY: RGBColor = RGBColor(200, 200, 200);
const LIGHT_GRID: RGBColor = RGBColor(238, 238, 238);

fn plot_err<E: std::fmt::Display>(e: E) -> Error {
    Error::Report(format!("drawing failed: {e}"))
}

fn row_colour(idx: usize) -> RGBAColor {
    Palette99::pick(idx).to_rgba()
}

fn font(size: f64) -> FontDesc<'static> {
    (FONT_FAMILY, size).into_font()
}

fn text<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    s: &str,
    at: (i32, i32),
    size: f64,
    colour: &RGBColor,
    pos: Pos,
) -> Result<()> {
    area.draw(&Text::new(s.to_string(), at, font(size).color(colour).pos(pos)))
        .map_err(plot_err)
}

fn title<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, s: &str, width: u32) -> Result<()> {
    text(
        area,
        s,
        (width as i32 / 2, 12),
        22.0,
        &BLACK,
        Pos::new(HPos::Center, VPos::Top),
    )
}

/// `s` in the largest font size from 14 down to 8 that fits `max_width`, shortened with an ellipsis if even 8 does
/// not fit; returns the text and its size.
fn fit_text<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, s: &str, max_width: u32) -> (String, f64) {
    let width = |t: &str, size: f64| {
        area.estimate_text_size(t, &font(size).into())
            .map(|(w, _)| w)
            .unwrap_or(0)
    };
    for size in [14.0, 13.0, 12.0, 11.0, 10.0, 9.0, 8.0] {
        if width(s, size) <= max_width {
            return (s.to_string(), size);
        }
    }
    let mut chars: Vec<char> = s.chars().collect();
    while chars.len() > 1 {
        chars.pop();
        let t: String = chars.iter().collect::<String>() + "…";
        if width(&t, 8.0) <= max_width {
            return (t, 8.0);
        }
    }
    (s.to_string(), 8.0)
}

/// One entry of a hand-drawn legend.
enum Key {
    Patch(RGBAColor),
    Line(RGBAColor),
    Dashed(RGBAColor),
    Diamond,
    ErrorBar,
}

/// Legend entries are laid out with an estimated text width (7.5 px per character at 14 px, a little more than
/// DejaVu Sans needs) so that a figure knows its height before drawing.
fn legend_positions(items: &[(Key, String)], width: u32) -> Vec<(i32, i32)> {
    let (x0, max_x) = (LEGEND_X, width as i32 - 10);
    let (mut x, mut line) = (x0, 0);
    items
        .iter()
        .map(|(_, label)| {
            let item_w = 30 + (7.5 * label.chars().count() as f64).ceil() as i32 + 24;
            if x + item_w > max_x && x > x0 {
                x = x0;
                line += 1;
            }
            let at = (x, LEGEND_Y + line * LEGEND_LINE);
            x += item_w;
            at
        })
        .collect()
}

const LEGEND_X: i32 = 20;
/// Vertical centre of the first legend line (below the title).
const LEGEND_Y: i32 = 55;
const LEGEND_LINE: i32 = 24;

/// Height of the title and legend block above the panels.
fn legend_top(items: &[(Key, String)], width: u32) -> u32 {
    let last = legend_positions(items, width).last().map_or(LEGEND_Y, |p| p.1);
    (last + 35) as u32
}

/// Draws `items` in rows below the title.
fn legend<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, items: &[(Key, String)], width: u32) -> Result<()> {
    for ((key, label), (x, y)) in items.iter().zip(legend_positions(items, width)) {
        match key {
            Key::Patch(c) => area.draw(&Rectangle::new([(x, y - 7), (x + 22, y + 7)], c.filled())),
            Key::Line(c) => area.draw(&PathElement::new(vec![(x, y), (x + 22, y)], c.stroke_width(2))),
            Key::Dashed(c) => area.draw(&DashedPathElement::new(
                vec![(x, y), (x + 22, y)],
                4,
                3,
                c.stroke_width(2),
            )),
            Key::Diamond => area.draw(&diamond_at((x + 11, y))),
            Key::ErrorBar => area.draw(&PathElement::new(
                vec![
                    (x + 6, y - 8),
                    (x + 16, y - 8),
                    (x + 11, y - 8),
                    (x + 11, y + 8),
                    (x + 6, y + 8),
                    (x + 16, y + 8),
                ],
                BLACK.stroke_width(1),
            )),
        }
        .map_err(plot_err)?;
        text(
            area,
            label,
            (x + 30, y),
            14.0,
            &BLACK,
            Pos::new(HPos::Left, VPos::Center),
        )?;
    }
    Ok(())
}

/// A backend coordinate (as `ChartContext::backend_coord` gives) relative to `area`.
fn local<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, (x, y): (i32, i32)) -> (i32, i32) {
    let (x0, y0) = area.get_base_pixel();
    (x - x0, y - y0)
}

/// A hollow diamond centred on a backend coordinate.
fn diamond_at(centre: (i32, i32)) -> PathElement<(i32, i32)> {
    let (x, y) = centre;
    PathElement::new(
        vec![(x, y - 7), (x + 7, y), (x, y + 7), (x - 7, y), (x, y - 7)],
        BLACK.stroke_width(2),
    )
}

/// Grid shape for `n` panels: at most `max_cols` columns.
fn grid(n: usize, max_cols: usize) -> (usize, usize) {
    let n_cols = n.clamp(1, max_cols);
    (n.div_ceil(n_cols).max(1), n_cols)
}

// ---------------------------------------------------------------------------------------------------------------
// 1. Pre-training loss curves.

/// Loss vs step, one line per row of `table` (mean over its seeds at each step), smoothed by a centred moving
/// average over `LOSS_SMOOTHING` logged points with the raw mean drawn faint. NaN losses are skipped.
pub fn pretrain_loss_curves(table: &PaperTable, stem: &Path) -> Result<Vec<PathBuf>> {
    render_both(stem, &loss_figure(table)?)
}

fn loss_figure(table: &PaperTable) -> Result<LossFigure> {
    let mut order: Vec<String> = table.rows.clone();
    for curve in &table.loss_curves {
        if !order.contains(&curve.row) {
            order.push(curve.row.clone());
        }
    }
    let mut lines = Vec::new();
    for (idx, row) in order.iter().enumerate() {
        let curves: Vec<_> = table.loss_curves.iter().filter(|c| &c.row == row).collect();
        let mut by_step: BTreeMap<u64, (f64, usize)> = BTreeMap::new();
        for curve in &curves {
            for (&step, &loss) in curve.steps.iter().zip(&curve.loss) {
                if loss.is_finite() {
                    let e = by_step.entry(step).or_default();
                    e.0 += loss;
                    e.1 += 1;
                }
            }
        }
        if by_step.is_empty() {
            continue;
        }
        let raw: Vec<(f64, f64)> = by_step
            .into_iter()
            .map(|(s, (sum, n))| (s as f64, sum / n as f64))
            .collect();
        let n_seeds = curves
            .iter()
            .map(|c| c.seed)
            .collect::<std::collections::BTreeSet<_>>()
            .len();
        let label = if n_seeds > 1 {
            format!("{row} (mean of {n_seeds} seeds)")
        } else {
            row.clone()
        };
        lines.push(LossLine {
            smooth: moving_average(&raw, LOSS_SMOOTHING),
            raw,
            label,
            colour: row_colour(idx),
        });
    }
    if lines.is_empty() {
        return Err(Error::Report(format!(
            "pretrain loss curves: table '{}' has no finite loss values ({} curves)",
            table.name,
            table.loss_curves.len()
        )));
    }
    Ok(LossFigure {
        title: format!("{}: pre-training loss", table.title),
        lines,
    })
}

/// Centred moving average of the y values over `window` points (fewer at the ends).
fn moving_average(points: &[(f64, f64)], window: usize) -> Vec<(f64, f64)> {
    let window = window.max(1);
    let (before, after) = ((window - 1) / 2, window / 2);
    (0..points.len())
        .map(|i| {
            let lo = i.saturating_sub(before);
            let hi = (i + after).min(points.len() - 1);
            let sum: f64 = points[lo..=hi].iter().map(|p| p.1).sum();
            (points[i].0, sum / (hi - lo + 1) as f64)
        })
        .collect()
}

struct LossLine {
    raw: Vec<(f64, f64)>,
    smooth: Vec<(f64, f64)>,
    label: String,
    colour: RGBAColor,
}

struct LossFigure {
    title: String,
    lines: Vec<LossLine>,
}

/// `(lo, hi)` padded by `pad` of the span; a point becomes a unit interval.
fn padded(lo: f64, hi: f64, pad: f64) -> (f64, f64) {
    if hi > lo {
        let d = (hi - lo) * pad;
        (lo - d, hi + d)
    } else {
        (lo - 0.5, hi + 0.5)
    }
}

impl Figure for LossFigure {
    fn size(&self) -> (u32, u32) {
        (900, 540)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()> {
        root.fill(&WHITE).map_err(plot_err)?;
        let all = self.lines.iter().flat_map(|l| &l.raw);
        let (x_lo, x_hi, y_lo, y_hi) = all.fold(
            (f64::INFINITY, f64::NEG_INFINITY, f64::INFINITY, f64::NEG_INFINITY),
            |(a, b, c, d), &(x, y)| (a.min(x), b.max(x), c.min(y), d.max(y)),
        );
        let x_range = if x_hi > x_lo {
            (x_lo, x_hi)
        } else {
            (x_lo - 1.0, x_hi + 1.0)
        };
        let y_range = padded(y_lo, y_hi, 0.05);
        let mut chart = ChartBuilder::on(root)
            .caption(&self.title, (FONT_FAMILY, 22))
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(65)
            .build_cartesian_2d(x_range.0..x_range.1, y_range.0..y_range.1)
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .light_line_style(LIGHT_GRID)
            .x_desc("step")
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_desc("pre-training loss")
            .label_style((FONT_FAMILY, 14))
            .draw()
            .map_err(plot_err)?;
        for line in &self.lines {
            let colour = line.colour;
            chart
                .draw_series(LineSeries::new(line.raw.clone(), colour.mix(0.25).stroke_width(1)))
                .map_err(plot_err)?;
            chart
                .draw_series(LineSeries::new(line.smooth.clone(), colour.stroke_width(2)))
                .map_err(plot_err)?
                .label(line.label.clone())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2)));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .label_font((FONT_FAMILY, 14))
            .draw()
            .map_err(plot_err)?;
        let note = format!("faint: mean over seeds per step; solid: moving average over {LOSS_SMOOTHING} points");
        let (w, h) = self.size();
        text(
            root,
            &note,
            (w as i32 - 20, h as i32 - 8),
            12.0,
            &RGBColor(90, 90, 90),
            Pos::new(HPos::Right, VPos::Bottom),
        )
    }
}

// ---------------------------------------------------------------------------------------------------------------
// 2. CACo ratio histograms.

/// CACo's key figure: per stored epoch one panel with the histogram of the running ratios d_long / d_short (linear
/// axis, the space the mixture is fitted in), stacked truly changed over unchanged when the truth is known, the
/// fitted mixture's two component densities scaled to the histogram counts, and the decision threshold where the
/// posterior of the high component crosses 0.5. The axis ends at the 99.5th percentile; the panel says how many
/// ratios lie beyond. NaN ratios are skipped.
pub fn caco_ratio_histograms(epochs: &[CacoEpoch], stem: &Path) -> Result<Vec<PathBuf>> {
    render_both(stem, &ratio_figure(epochs)?)
}

fn ratio_figure(epochs: &[CacoEpoch]) -> Result<RatioFigure> {
    if epochs.is_empty() {
        return Err(Error::Report("caco ratio histograms: no CACo epochs stored".into()));
    }
    let mut panels = Vec::with_capacity(epochs.len());
    for e in epochs {
        if !e.truly_changed.is_empty() && e.truly_changed.len() != e.ratios.len() {
            return Err(Error::Report(format!(
                "caco ratio histograms: {} seed {} epoch {} has {} ratios but {} truth flags",
                e.row,
                e.seed,
                e.epoch,
                e.ratios.len(),
                e.truly_changed.len()
            )));
        }
        panels.push(RatioPanel::new(e));
    }
    if panels.iter().all(|p| p.n_finite == 0) {
        return Err(Error::Report(format!(
            "caco ratio histograms: none of the {} epochs has a finite ratio",
            epochs.len()
        )));
    }
    Ok(RatioFigure {
        title: "CACo: running change ratios and the fitted two-component mixture".into(),
        panels,
    })
}

/// One panel per row (and seed) of the change-awareness task: the histogram of d_long, the mean embedding distance
/// between a held-out location's older and recent dates, truly changed locations stacked on unchanged ones.
pub fn awareness_histograms(dists: &[AwarenessDistribution], stem: &Path) -> Result<Vec<PathBuf>> {
    render_both(stem, &awareness_figure(dists)?)
}

fn awareness_figure(dists: &[AwarenessDistribution]) -> Result<RatioFigure> {
    let several_seeds = dists.iter().any(|d| d.seed != dists[0].seed);
    let panels = dists
        .iter()
        .map(|d| {
            if d.truly_changed.len() != d.d_long.len() {
                return Err(Error::Report(format!(
                    "change awareness of {}: {} distances, {} truth flags",
                    d.row,
                    d.d_long.len(),
                    d.truly_changed.len()
                )));
            }
            let as_epoch = CacoEpoch {
                row: d.row.clone(),
                seed: d.seed,
                epoch: 0,
                ratios: d.d_long.clone(),
                truly_changed: d.truly_changed.clone(),
                gmm: None,
            };
            let mut panel = RatioPanel::new(&as_epoch);
            panel.title = if several_seeds {
                format!("{}, seed {}", d.row, d.seed)
            } else {
                d.row.clone()
            };
            panel.x_desc = "d_long: mean distance between the eras' dates".into();
            panel.y_desc = "locations".into();
            Ok(panel)
        })
        .collect::<Result<Vec<_>>>()?;
    if panels.is_empty() {
        return Err(Error::Report("change awareness: no distributions stored".into()));
    }
    Ok(RatioFigure {
        title: "Change awareness: distance between the eras on held-out simulated locations (frozen backbones)".into(),
        panels,
    })
}

fn normal_pdf(x: f64, mean: f64, var: f64) -> f64 {
    (-(x - mean).powi(2) / (2.0 * var)).exp() / (2.0 * std::f64::consts::PI * var).sqrt()
}

pub(crate) fn valid_gmm(g: &GmmParams) -> bool {
    (0..2).all(|k| {
        g.weights[k].is_finite() && g.means[k].is_finite() && g.variances[k].is_finite() && g.variances[k] > 0.0
    })
}

/// Posterior probability of the higher-mean component (component 1), as `ssl::gmm::Gmm2::p_high`.
pub(crate) fn p_high(g: &GmmParams, x: f64) -> f64 {
    let p0 = g.weights[0] * normal_pdf(x, g.means[0], g.variances[0]);
    let p1 = g.weights[1] * normal_pdf(x, g.means[1], g.variances[1]);
    p1 / (p0 + p1).max(1e-300)
}

/// Every x in `[lo, hi]` where `p_high` crosses 0.5 (scan, then bisection).
pub(crate) fn thresholds(g: &GmmParams, lo: f64, hi: f64) -> Vec<f64> {
    let f = |x: f64| p_high(g, x) - 0.5;
    let n = 1000;
    let xs: Vec<f64> = (0..=n).map(|i| lo + (hi - lo) * i as f64 / n as f64).collect();
    let mut out = Vec::new();
    for pair in xs.windows(2) {
        let (mut a, mut b) = (pair[0], pair[1]);
        if (f(a) < 0.0) == (f(b) < 0.0) {
            continue;
        }
        for _ in 0..60 {
            let m = 0.5 * (a + b);
            if (f(m) < 0.0) == (f(a) < 0.0) {
                a = m;
            } else {
                b = m;
            }
        }
        out.push(0.5 * (a + b));
    }
    out
}

struct RatioPanel {
    title: String,
    x_desc: String,
    y_desc: String,
    /// Axis range.
    lo: f64,
    hi: f64,
    bin_width: f64,
    /// Per bin: (unchanged, changed) when the truth is known, else (all, 0).
    counts: Vec<(u64, u64)>,
    has_truth: bool,
    n_finite: usize,
    n_beyond: usize,
    gmm: Option<GmmParams>,
}

impl RatioPanel {
    fn new(e: &CacoEpoch) -> Self {
        let has_truth = !e.truly_changed.is_empty();
        let values: Vec<(f64, bool)> = e
            .ratios
            .iter()
            .enumerate()
            .filter(|(_, r)| r.is_finite())
            .map(|(i, &r)| (r, has_truth && e.truly_changed[i]))
            .collect();
        let mut sorted: Vec<f64> = values.iter().map(|v| v.0).collect();
        sorted.sort_by(|a, b| a.total_cmp(b));
        let gmm = e.gmm.filter(valid_gmm);
        let (mut lo, mut hi) = match (sorted.first(), sorted.len()) {
            (Some(&first), n) => (first, sorted[((n - 1) as f64 * 0.995).round() as usize]),
            (None, _) => (0.0, 1.0),
        };
        if let Some(g) = &gmm {
            // Keep both component means in view when they fall in the data's range.
            for m in g.means {
                if m >= lo && m <= sorted.last().copied().unwrap_or(hi) {
                    hi = hi.max(m);
                }
            }
        }
        if hi <= lo {
            (lo, hi) = (lo - 0.5, hi + 0.5);
        }
        let n_bins = ((values.len() as f64).sqrt() * 2.0).round().clamp(10.0, 40.0) as usize;
        let bin_width = (hi - lo) / n_bins as f64;
        let mut counts = vec![(0u64, 0u64); n_bins];
        let mut n_beyond = 0;
        for &(r, changed) in &values {
            if r > hi {
                n_beyond += 1;
                continue;
            }
            let bin = (((r - lo) / bin_width) as usize).min(n_bins - 1);
            if changed {
                counts[bin].1 += 1;
            } else {
                counts[bin].0 += 1;
            }
        }
        RatioPanel {
            title: format!("{}, seed {}, epoch {}", e.row, e.seed, e.epoch),
            x_desc: "running ratio d_long / d_short (linear)".into(),
            y_desc: "items".into(),
            lo,
            hi,
            bin_width,
            counts,
            has_truth,
            n_finite: values.len(),
            n_beyond,
            gmm,
        }
    }

    /// Component densities scaled to counts per bin, clipped at `cap`.
    fn component_curves(&self, cap: f64) -> Option<[Vec<(f64, f64)>; 2]> {
        let g = self.gmm?;
        let scale = self.n_finite as f64 * self.bin_width;
        let curve = |k: usize| {
            (0..=300)
                .map(|i| {
                    let x = self.lo + (self.hi - self.lo) * i as f64 / 300.0;
                    (
                        x,
                        (scale * g.weights[k] * normal_pdf(x, g.means[k], g.variances[k])).min(cap),
                    )
                })
                .collect::<Vec<_>>()
        };
        Some([curve(0), curve(1)])
    }

    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<()> {
        let max_count = self.counts.iter().map(|(a, b)| a + b).max().unwrap_or(0) as f64;
        let cap = (1.5 * max_count).max(1.0);
        let curves = self.component_curves(cap);
        let curve_max = curves.iter().flatten().flatten().map(|p| p.1).fold(0.0f64, f64::max);
        let y_top = max_count.max(curve_max).max(1.0) * 1.08;
        let mut chart = ChartBuilder::on(area)
            .caption(&self.title, (FONT_FAMILY, 16))
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(55)
            .build_cartesian_2d(self.lo..self.hi, 0f64..y_top)
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .light_line_style(LIGHT_GRID)
            .x_desc(&self.x_desc)
            .y_desc(&self.y_desc)
            .x_labels(6)
            .y_labels(6)
            .label_style((FONT_FAMILY, 12))
            .axis_desc_style((FONT_FAMILY, 13))
            .draw()
            .map_err(plot_err)?;
        let (below, above) = if self.has_truth {
            (UNCHANGED, CHANGED)
        } else {
            (UNKNOWN, CHANGED)
        };
        let mut bars = Vec::new();
        for (i, &(first, second)) in self.counts.iter().enumerate() {
            let x0 = self.lo + i as f64 * self.bin_width;
            let x1 = x0 + self.bin_width;
            if first > 0 {
                bars.push(Rectangle::new(
                    [(x0, 0.0), (x1, first as f64)],
                    below.mix(0.85).filled(),
                ));
            }
            if second > 0 {
                let top = (first + second) as f64;
                bars.push(Rectangle::new(
                    [(x0, first as f64), (x1, top)],
                    above.mix(0.85).filled(),
                ));
            }
        }
        chart.draw_series(bars).map_err(plot_err)?;
        if let (Some([low, high]), Some(g)) = (curves, self.gmm) {
            chart
                .draw_series(LineSeries::new(low, LOW_COMPONENT.stroke_width(2)))
                .map_err(plot_err)?;
            chart
                .draw_series(LineSeries::new(high, HIGH_COMPONENT.stroke_width(2)))
                .map_err(plot_err)?;
            let cuts = thresholds(&g, self.lo, self.hi);
            for &t in &cuts {
                chart
                    .draw_series(DashedLineSeries::new(
                        vec![(t, 0.0), (t, y_top)],
                        6,
                        4,
                        BLACK.stroke_width(2),
                    ))
                    .map_err(plot_err)?;
            }
            let cut_text = match cuts.as_slice() {
                [] => "no threshold in range".to_string(),
                cs => format!(
                    "threshold {}",
                    cs.iter().map(|c| format!("{c:.3}")).collect::<Vec<_>>().join(", ")
                ),
            };
            let (x, y) = local(area, chart.backend_coord(&(self.hi, y_top)));
            text(
                area,
                &cut_text,
                (x - 4, y + 20),
                12.0,
                &BLACK,
                Pos::new(HPos::Right, VPos::Top),
            )?;
        }
        let (x, y) = local(area, chart.backend_coord(&(self.hi, y_top)));
        let mut note = format!("n = {}", self.n_finite);
        if self.n_beyond > 0 {
            note += &format!(", {} > {:.3} not shown", self.n_beyond, self.hi);
        }
        if self.n_finite == 0 {
            note = "no finite ratio".into();
        }
        text(
            area,
            &note,
            (x - 4, y + 4),
            12.0,
            &BLACK,
            Pos::new(HPos::Right, VPos::Top),
        )
    }
}

struct RatioFigure {
    title: String,
    panels: Vec<RatioPanel>,
}

impl RatioFigure {
    const PANEL: (u32, u32) = (460, 330);

    fn width(&self) -> u32 {
        grid(self.panels.len(), 3).1 as u32 * Self::PANEL.0
    }

    fn keys(&self) -> Vec<(Key, String)> {
        let mut keys = Vec::new();
        if self.panels.iter().any(|p| p.has_truth) {
            keys.push((Key::Patch(UNCHANGED.to_rgba()), "truly unchanged".to_string()));
            keys.push((Key::Patch(CHANGED.to_rgba()), "truly changed".to_string()));
        }
        if self.panels.iter().any(|p| !p.has_truth) {
            keys.push((Key::Patch(UNKNOWN.to_rgba()), "all items (truth unknown)".to_string()));
        }
        if self.panels.iter().any(|p| p.gmm.is_some()) {
            keys.push((
                Key::Line(LOW_COMPONENT.to_rgba()),
                "low (unchanged) component".to_string(),
            ));
            keys.push((
                Key::Line(HIGH_COMPONENT.to_rgba()),
                "high (changed) component".to_string(),
            ));
            keys.push((Key::Dashed(BLACK.to_rgba()), "threshold: P(high) = 0.5".to_string()));
        }
        keys
    }
}

impl Figure for RatioFigure {
    fn size(&self) -> (u32, u32) {
        let n_rows = grid(self.panels.len(), 3).0 as u32;
        (
            self.width(),
            legend_top(&self.keys(), self.width()) + n_rows * Self::PANEL.1,
        )
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()> {
        root.fill(&WHITE).map_err(plot_err)?;
        let (w, keys) = (self.width(), self.keys());
        title(root, &self.title, w)?;
        legend(root, &keys, w)?;
        let (_, body) = root.split_vertically(legend_top(&keys, w));
        let (n_rows, n_cols) = grid(self.panels.len(), 3);
        for (panel, area) in self.panels.iter().zip(body.split_evenly((n_rows, n_cols))) {
            panel.draw(&area)?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------------------------
// 3. Task bars.

/// One panel per metric column of `table`: a bar per row at the mean over seeds with the sample standard deviation
/// as error bar, the published value (other data and backbones) as a hollow diamond where there is one. NaN cells
/// are skipped; a row without values shows "n/a".
pub fn task_bars(table: &PaperTable, stem: &Path) -> Result<Vec<PathBuf>> {
    render_both(stem, &bar_figure(table)?)
}

fn bar_figure(table: &PaperTable) -> Result<BarFigure> {
    if table.rows.is_empty() || table.metrics.is_empty() {
        return Err(Error::Report(format!(
            "task bars: table '{}' has {} rows and {} metric columns; both must be non-empty",
            table.name,
            table.rows.len(),
            table.metrics.len()
        )));
    }
    let mut panels = Vec::new();
    let mut max_seeds = 0;
    for metric in &table.metrics {
        let bars: Vec<Bar> = table
            .rows
            .iter()
            .map(|row| {
                let values: Vec<f64> = table
                    .values(row, &metric.id)
                    .into_iter()
                    .filter(|v| v.is_finite())
                    .collect();
                max_seeds = max_seeds.max(values.len());
                Bar {
                    mean_std: mean_std(&values),
                    n: values.len(),
                    published: table
                        .published_value(row, &metric.id)
                        .map(|p| p.value)
                        .filter(|v| v.is_finite()),
                }
            })
            .collect();
        panels.push((metric.label.clone(), bars));
    }
    if panels
        .iter()
        .all(|(_, bars)| bars.iter().all(|b| b.mean_std.is_none() && b.published.is_none()))
    {
        return Err(Error::Report(format!(
            "task bars: table '{}' has no finite value in any of its {} cells",
            table.name,
            table.cells.len()
        )));
    }
    Ok(BarFigure {
        title: format!("{}: downstream tasks", table.title),
        rows: table.rows.clone(),
        panels,
        max_seeds,
        any_published: !table.published.is_empty(),
    })
}

struct Bar {
    mean_std: Option<(f64, f64)>,
    n: usize,
    published: Option<f64>,
}

struct BarFigure {
    title: String,
    rows: Vec<String>,
    /// (metric label, one bar per row).
    panels: Vec<(String, Vec<Bar>)>,
    max_seeds: usize,
    any_published: bool,
}

impl BarFigure {
    const PANEL: (u32, u32) = (420, 360);

    fn width(&self) -> u32 {
        (grid(self.panels.len(), 3).1 as u32 * Self::PANEL.0).max(700)
    }

    fn keys(&self) -> Vec<(Key, String)> {
        let mut keys: Vec<(Key, String)> = self
            .rows
            .iter()
            .enumerate()
            .map(|(i, r)| (Key::Patch(row_colour(i)), r.clone()))
            .collect();
        let spread = if self.max_seeds > 1 {
            format!("mean ± sample std over up to {} seeds", self.max_seeds)
        } else {
            "one seed (no error bar)".to_string()
        };
        keys.push((Key::ErrorBar, spread));
        if self.any_published {
            keys.push((Key::Diamond, "published (other data/backbones)".to_string()));
        }
        keys
    }
}

impl Figure for BarFigure {
    fn size(&self) -> (u32, u32) {
        let n_rows = grid(self.panels.len(), 3).0 as u32;
        (
            self.width(),
            legend_top(&self.keys(), self.width()) + n_rows * Self::PANEL.1,
        )
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()> {
        root.fill(&WHITE).map_err(plot_err)?;
        let (w, keys) = (self.width(), self.keys());
        title(root, &self.title, w)?;
        legend(root, &keys, w)?;
        let (_, body) = root.split_vertically(legend_top(&keys, w));
        let (n_rows, n_cols) = grid(self.panels.len(), 3);
        for ((label, bars), area) in self.panels.iter().zip(body.split_evenly((n_rows, n_cols))) {
            let top = bars
                .iter()
                .flat_map(|b| [b.mean_std.map(|(m, s)| m + s), b.published])
                .flatten()
                .fold(0.0f64, f64::max);
            let bottom = bars
                .iter()
                .filter_map(|b| b.mean_std.map(|(m, s)| m - s))
                .fold(0.0f64, f64::min);
            let y_range = (bottom * 1.1, (top * 1.12).max(1.0));
            let n = bars.len() as f64;
            let mut chart = ChartBuilder::on(&area)
                .caption(label, (FONT_FAMILY, 16))
                .margin(10)
                .x_label_area_size(10)
                .y_label_area_size(50)
                .build_cartesian_2d(0f64..n, y_range.0..y_range.1)
                .map_err(plot_err)?;
            chart
                .configure_mesh()
                .light_line_style(LIGHT_GRID)
                .disable_x_mesh()
                .x_labels(0)
                .y_desc("%")
                .label_style((FONT_FAMILY, 12))
                .draw()
                .map_err(plot_err)?;
            for (i, bar) in bars.iter().enumerate() {
                let (x0, x1, xc) = (i as f64 + 0.15, i as f64 + 0.85, i as f64 + 0.5);
                let colour = row_colour(i);
                match bar.mean_std {
                    Some((mean, std)) => {
                        chart
                            .draw_series(std::iter::once(Rectangle::new(
                                [(x0, 0.0), (x1, mean)],
                                colour.filled(),
                            )))
                            .map_err(plot_err)?;
                        if bar.n > 1 {
                            let whisker = |y: f64| {
                                EmptyElement::at((xc, y))
                                    + PathElement::new(vec![(-6, 0), (6, 0)], BLACK.stroke_width(1))
                            };
                            chart
                                .draw_series(std::iter::once(PathElement::new(
                                    vec![(xc, mean - std), (xc, mean + std)],
                                    BLACK.stroke_width(1),
                                )))
                                .map_err(plot_err)?;
                            chart
                                .draw_series([whisker(mean - std), whisker(mean + std)])
                                .map_err(plot_err)?;
                        }
                        let (px, py) = local(&area, chart.backend_coord(&(xc, mean + std)));
                        text(
                            &area,
                            &format!("{mean:.1}"),
                            (px, py - 4),
                            11.0,
                            &BLACK,
                            Pos::new(HPos::Center, VPos::Bottom),
                        )?;
                    }
                    None => {
                        let (px, py) = local(&area, chart.backend_coord(&(xc, 0.0)));
                        text(
                            &area,
                            "n/a",
                            (px, py - 4),
                            11.0,
                            &BLACK,
                            Pos::new(HPos::Center, VPos::Bottom),
                        )?;
                    }
                }
                if let Some(p) = bar.published {
                    area.draw(&diamond_at(local(&area, chart.backend_coord(&(xc, p)))))
                        .map_err(plot_err)?;
                }
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------------------------
// 4. Label-fraction curves.

/// Score vs label fraction (log axis), one panel per metric, one line per row (rows in order of first appearance),
/// mean over seeds with sample-std error bars. NaN values and non-positive fractions are skipped.
pub fn label_fraction_curves(points: &[FractionPoint], stem: &Path) -> Result<Vec<PathBuf>> {
    render_both(stem, &fraction_figure(points)?)
}

fn fraction_figure(points: &[FractionPoint]) -> Result<FractionFigure> {
    let usable: Vec<&FractionPoint> = points
        .iter()
        .filter(|p| p.value.is_finite() && p.fraction.is_finite() && p.fraction > 0.0)
        .collect();
    if usable.is_empty() {
        return Err(Error::Report(format!(
            "label fraction curves: no finite point with a positive fraction among {} points",
            points.len()
        )));
    }
    let mut rows: Vec<String> = Vec::new();
    let mut metrics: Vec<String> = Vec::new();
    for p in &usable {
        if !rows.contains(&p.row) {
            rows.push(p.row.clone());
        }
        if !metrics.contains(&p.metric) {
            metrics.push(p.metric.clone());
        }
    }
    let panels = metrics
        .iter()
        .map(|metric| {
            let lines = rows
                .iter()
                .map(|row| {
                    let mut by_fraction: BTreeMap<u64, Vec<f64>> = BTreeMap::new();
                    for p in usable.iter().filter(|p| &p.row == row && &p.metric == metric) {
                        by_fraction.entry(p.fraction.to_bits()).or_default().push(p.value);
                    }
                    let mut line: Vec<(f64, f64, f64)> = by_fraction
                        .into_iter()
                        .filter_map(|(f, v)| mean_std(&v).map(|(m, s)| (f64::from_bits(f), m, s)))
                        .collect();
                    line.sort_by(|a, b| a.0.total_cmp(&b.0));
                    line
                })
                .collect();
            (metric.clone(), lines)
        })
        .collect();
    Ok(FractionFigure { rows, panels })
}

/// One row's curve: (fraction, mean, sample std) sorted by fraction.
type FractionLine = Vec<(f64, f64, f64)>;

struct FractionFigure {
    rows: Vec<String>,
    /// (metric, one line per row).
    panels: Vec<(String, Vec<FractionLine>)>,
}

impl FractionFigure {
    const PANEL: (u32, u32) = (520, 400);

    fn width(&self) -> u32 {
        (grid(self.panels.len(), 2).1 as u32 * Self::PANEL.0).max(700)
    }

    fn keys(&self) -> Vec<(Key, String)> {
        let mut keys: Vec<(Key, String)> = self
            .rows
            .iter()
            .enumerate()
            .map(|(i, r)| (Key::Line(row_colour(i)), r.clone()))
            .collect();
        keys.push((Key::ErrorBar, "mean ± sample std over seeds".to_string()));
        keys
    }
}

fn percent_label(fraction: &f64) -> String {
    let p = fraction * 100.0;
    if (p - p.round()).abs() < 1e-6 {
        format!("{p:.0} %")
    } else {
        format!("{p:.1} %")
    }
}

impl Figure for FractionFigure {
    fn size(&self) -> (u32, u32) {
        let n_rows = grid(self.panels.len(), 2).0 as u32;
        (
            self.width(),
            legend_top(&self.keys(), self.width()) + n_rows * Self::PANEL.1,
        )
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()> {
        root.fill(&WHITE).map_err(plot_err)?;
        let (w, keys) = (self.width(), self.keys());
        title(root, "Score vs fraction of training labels", w)?;
        legend(root, &keys, w)?;
        let (_, body) = root.split_vertically(legend_top(&keys, w));
        let (n_rows, n_cols) = grid(self.panels.len(), 2);
        for ((metric, lines), area) in self.panels.iter().zip(body.split_evenly((n_rows, n_cols))) {
            let pts = lines.iter().flatten();
            let (f_lo, f_hi) = pts
                .clone()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| (a.min(p.0), b.max(p.0)));
            let (y_lo, y_hi) = pts.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| {
                (a.min(p.1 - p.2), b.max(p.1 + p.2))
            });
            let (y_lo, y_hi) = padded(y_lo, y_hi, 0.08);
            let mut chart = ChartBuilder::on(&area)
                .caption(metric, (FONT_FAMILY, 16))
                .margin(12)
                .x_label_area_size(45)
                .y_label_area_size(55)
                .build_cartesian_2d((f_lo / 1.6..f_hi * 1.6).log_scale(), y_lo..y_hi)
                .map_err(plot_err)?;
            chart
                .configure_mesh()
                .light_line_style(LIGHT_GRID)
                .x_desc("fraction of training labels (log)")
                .y_desc("%")
                .x_label_formatter(&percent_label)
                .label_style((FONT_FAMILY, 12))
                .axis_desc_style((FONT_FAMILY, 13))
                .draw()
                .map_err(plot_err)?;
            for (i, line) in lines.iter().enumerate() {
                let colour = row_colour(i);
                chart
                    .draw_series(LineSeries::new(line.iter().map(|p| (p.0, p.1)), colour.stroke_width(2)))
                    .map_err(plot_err)?;
                chart
                    .draw_series(line.iter().map(|p| Circle::new((p.0, p.1), 4, colour.filled())))
                    .map_err(plot_err)?;
                for &(f, m, s) in line.iter().filter(|p| p.2 > 0.0) {
                    chart
                        .draw_series(std::iter::once(PathElement::new(
                            vec![(f, m - s), (f, m + s)],
                            colour.stroke_width(1),
                        )))
                        .map_err(plot_err)?;
                    let whisker = |y: f64| {
                        EmptyElement::at((f, y)) + PathElement::new(vec![(-5, 0), (5, 0)], colour.stroke_width(1))
                    };
                    chart.draw_series([whisker(m - s), whisker(m + s)]).map_err(plot_err)?;
                }
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------------------------
// 5./6. Image grids.

/// An image resampled (nearest) to at most `THUMB_CELLS` cells per side, aspect kept.
struct Thumb {
    height: usize,
    width: usize,
    /// Row-major RGB.
    rgb: Vec<[u8; 3]>,
}

impl Thumb {
    /// Bands 0, 1, 2 as RGB (values 0-255, clamped; NaN black); images with fewer than three bands grey from band 0.
    fn new(image: &Image, figure: &str, what: &str) -> Result<Self> {
        let n = image.height * image.width;
        if n == 0 || image.n_bands == 0 || image.data.len() != image.n_bands * n {
            return Err(Error::Report(format!(
                "{figure}: {what} is not a valid image ({} bands, {} x {}, {} values)",
                image.n_bands,
                image.height,
                image.width,
                image.data.len()
            )));
        }
        let side = image.height.max(image.width) as f64;
        let scale = THUMB_CELLS as f64 / side;
        let height = ((image.height as f64 * scale).round() as usize).max(1);
        let width = ((image.width as f64 * scale).round() as usize).max(1);
        let bands: [usize; 3] = if image.n_bands >= 3 { [0, 1, 2] } else { [0, 0, 0] };
        let mut rgb = Vec::with_capacity(height * width);
        for r in 0..height {
            let src_r = (r * image.height / height).min(image.height - 1);
            for c in 0..width {
                let src_c = (c * image.width / width).min(image.width - 1);
                let px = src_r * image.width + src_c;
                // `as u8` saturates and maps NaN to 0.
                rgb.push(bands.map(|b| image.data[b * n + px].clamp(0.0, 255.0) as u8));
            }
        }
        Ok(Thumb { height, width, rgb })
    }

    /// Draws the thumbnail centred in the `THUMB` x `THUMB` box at `(x, y)`, merging runs of equal colour.
    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>, (x, y): (i32, i32)) -> Result<()> {
        let cell = THUMB_CELL_PX as i32;
        let x0 = x + (THUMB - self.width as i32 * cell) / 2;
        let y0 = y + (THUMB - self.height as i32 * cell) / 2;
        for r in 0..self.height {
            let row = &self.rgb[r * self.width..(r + 1) * self.width];
            let mut c = 0;
            while c < self.width {
                let mut end = c + 1;
                while end < self.width && row[end] == row[c] {
                    end += 1;
                }
                let [red, green, blue] = row[c];
                let top = y0 + r as i32 * cell;
                area.draw(&Rectangle::new(
                    [(x0 + c as i32 * cell, top), (x0 + end as i32 * cell, top + cell)],
                    RGBColor(red, green, blue).filled(),
                ))
                .map_err(plot_err)?;
                c = end;
            }
        }
        Ok(())
    }
}

/// A grid of thumbnails with captions, `n_per_row` per row (e.g. two per class for the ten EuroSAT classes).
pub fn sample_grid(samples: &[(Image, String)], n_per_row: usize, title: &str, stem: &Path) -> Result<Vec<PathBuf>> {
    if samples.is_empty() || n_per_row == 0 {
        return Err(Error::Report(format!(
            "sample grid: needs at least one image and one image per row, got {} images and {n_per_row} per row",
            samples.len()
        )));
    }
    let cells = samples
        .iter()
        .enumerate()
        .map(|(i, (image, class))| {
            Ok((
                Thumb::new(image, "sample grid", &format!("image {i} ({class})"))?,
                class.clone(),
            ))
        })
        .collect::<Result<Vec<_>>>()?;
    render_both(
        stem,
        &SampleGrid {
            title: title.to_string(),
            cells,
            n_per_row,
        },
    )
}

const CELL_W: i32 = 140;
const CELL_H: i32 = THUMB + 34;
const GRID_TOP: i32 = 55;
const GRID_MARGIN: i32 = 15;

struct SampleGrid {
    title: String,
    cells: Vec<(Thumb, String)>,
    n_per_row: usize,
}

impl Figure for SampleGrid {
    fn size(&self) -> (u32, u32) {
        let n_cols = self.n_per_row.min(self.cells.len()) as i32;
        let n_rows = self.cells.len().div_ceil(self.n_per_row) as i32;
        (
            ((2 * GRID_MARGIN + n_cols * CELL_W) as u32).max(400),
            (GRID_TOP + n_rows * CELL_H + GRID_MARGIN) as u32,
        )
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()> {
        root.fill(&WHITE).map_err(plot_err)?;
        let (w, _) = self.size();
        title(root, &self.title, w)?;
        for (i, (thumb, class)) in self.cells.iter().enumerate() {
            let (r, c) = ((i / self.n_per_row) as i32, (i % self.n_per_row) as i32);
            let (x, y) = (GRID_MARGIN + c * CELL_W, GRID_TOP + r * CELL_H);
            thumb.draw(root, (x + (CELL_W - THUMB) / 2, y))?;
            let (caption, size) = fit_text(root, class, (CELL_W - 6) as u32);
            text(
                root,
                &caption,
                (x + CELL_W / 2, y + THUMB + 6),
                size,
                &BLACK,
                Pos::new(HPos::Center, VPos::Top),
            )?;
        }
        Ok(())
    }
}

/// One retrieval query: its image and class, then its neighbours (image, class), nearest first.
pub type RetrievalExample = (Image, String, Vec<(Image, String)>);

/// Nearest-neighbour retrieval: per query one row, the query thumbnail (framed grey) then its neighbours nearest
/// first, each framed green when its class equals the query's and red otherwise; captions give the classes.
pub fn retrieval_grid(queries: &[RetrievalExample], title: &str, stem: &Path) -> Result<Vec<PathBuf>> {
    if queries.is_empty() || queries.iter().all(|q| q.2.is_empty()) {
        return Err(Error::Report(format!(
            "retrieval grid: needs at least one query with neighbours, got {} queries",
            queries.len()
        )));
    }
    let mut rows = Vec::with_capacity(queries.len());
    for (q, (image, class, neighbours)) in queries.iter().enumerate() {
        let query = Thumb::new(image, "retrieval grid", &format!("query {q} ({class})"))?;
        let neighbours = neighbours
            .iter()
            .enumerate()
            .map(|(k, (image, n_class))| {
                let what = format!("neighbour {k} of query {q} ({n_class})");
                Ok((
                    Thumb::new(image, "retrieval grid", &what)?,
                    n_class.clone(),
                    n_class == class,
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        rows.push(RetrievalRow {
            query,
            class: class.clone(),
            neighbours,
        });
    }
    render_both(
        stem,
        &RetrievalGrid {
            title: title.to_string(),
            rows,
        },
    )
}

struct RetrievalRow {
    query: Thumb,
    class: String,
    /// (thumbnail, class, same class as the query).
    neighbours: Vec<(Thumb, String, bool)>,
}

struct RetrievalGrid {
    title: String,
    rows: Vec<RetrievalRow>,
}

impl RetrievalGrid {
    const HEADER: i32 = 30;
    /// Extra space between the query column and the neighbours.
    const GAP: i32 = 20;
    const FRAME: i32 = 4;

    fn n_neighbours(&self) -> usize {
        self.rows.iter().map(|r| r.neighbours.len()).max().unwrap_or(0)
    }
}

impl Figure for RetrievalGrid {
    fn size(&self) -> (u32, u32) {
        let n_cols = 1 + self.n_neighbours() as i32;
        let width = 2 * GRID_MARGIN + n_cols * CELL_W + Self::GAP;
        let height = GRID_TOP + Self::HEADER + self.rows.len() as i32 * CELL_H + GRID_MARGIN;
        ((width as u32).max(400), height as u32)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()> {
        root.fill(&WHITE).map_err(plot_err)?;
        let (w, _) = self.size();
        title(root, &self.title, w)?;
        let header = Pos::new(HPos::Center, VPos::Top);
        let grey = RGBColor(90, 90, 90);
        let column_x = |k: usize| GRID_MARGIN + k as i32 * CELL_W + if k > 0 { Self::GAP } else { 0 };
        text(root, "query", (column_x(0) + CELL_W / 2, GRID_TOP), 14.0, &grey, header)?;
        for k in 0..self.n_neighbours() {
            let label = format!("neighbour {}", k + 1);
            text(
                root,
                &label,
                (column_x(k + 1) + CELL_W / 2, GRID_TOP),
                14.0,
                &grey,
                header,
            )?;
        }
        let top = GRID_TOP + Self::HEADER;
        let f = Self::FRAME;
        for (r, row) in self.rows.iter().enumerate() {
            let y = top + r as i32 * CELL_H;
            let cells = std::iter::once((&row.query, &row.class, None))
                .chain(row.neighbours.iter().map(|(t, c, same)| (t, c, Some(*same))));
            for (k, (thumb, class, same)) in cells.enumerate() {
                let x = column_x(k) + (CELL_W - THUMB) / 2;
                let frame = match same {
                    None => GRID_GREY,
                    Some(true) => SAME_CLASS,
                    Some(false) => OTHER_CLASS,
                };
                root.draw(&Rectangle::new(
                    [(x - f, y - f + 4), (x + THUMB + f, y + THUMB + f + 4)],
                    frame.filled(),
                ))
                .map_err(plot_err)?;
                root.draw(&Rectangle::new(
                    [(x, y + 4), (x + THUMB, y + THUMB + 4)],
                    WHITE.filled(),
                ))
                .map_err(plot_err)?;
                thumb.draw(root, (x, y + 4))?;
                let (caption, size) = fit_text(root, class, (CELL_W - 6) as u32);
                let ink = match same {
                    Some(false) => OTHER_CLASS,
                    _ => BLACK,
                };
                let at = (column_x(k) + CELL_W / 2, y + THUMB + f + 8);
                text(root, &caption, at, size, &ink, Pos::new(HPos::Center, VPos::Top))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::paper::{AwarenessDistribution, Cell, LossCurve, MetricColumn, PublishedValue};

    /// Reads both outputs: the SVG text and the PNG, checking the PNG's size and that it is not blank.
    fn check_outputs(paths: &[PathBuf], size: (u32, u32)) -> String {
        assert_eq!(paths.len(), 2);
        let svg = std::fs::read_to_string(&paths[0]).unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..svg.len().min(200)]);
        let png = image::open(&paths[1]).unwrap().into_rgb8();
        assert_eq!(png.dimensions(), size);
        let colours: std::collections::HashSet<[u8; 3]> = png.pixels().map(|p| p.0).collect();
        let n_ink = png.pixels().filter(|p| p.0 != [255, 255, 255]).count();
        assert!(colours.len() > 8, "only {} colours", colours.len());
        assert!(n_ink > 2000, "only {n_ink} non-white pixels");
        svg
    }

    fn table() -> PaperTable {
        let rows = vec![
            "random init".to_string(),
            "SeCo R18".to_string(),
            "CACo R18".to_string(),
        ];
        let metrics = vec![
            MetricColumn {
                id: "eurosat_probe".into(),
                label: "EuroSAT probe acc.".into(),
                task: "eurosat".into(),
                dataset: "eurosat".into(),
            },
            MetricColumn {
                id: "change_f1".into(),
                label: "Change F1".into(),
                task: "change-detection".into(),
                dataset: "levir".into(),
            },
        ];
        let mut cells = Vec::new();
        for (r, row) in rows.iter().enumerate() {
            for seed in 0..3u64 {
                cells.push(Cell {
                    row: row.clone(),
                    metric: "eurosat_probe".into(),
                    seed,
                    value: 60.0 + 10.0 * r as f64 + seed as f64,
                    ci: None,
                });
                let f1 = if seed == 1 {
                    f64::NAN
                } else {
                    20.0 + 5.0 * r as f64 + seed as f64
                };
                cells.push(Cell {
                    row: row.clone(),
                    metric: "change_f1".into(),
                    seed,
                    value: f1,
                    ci: None,
                });
            }
        }
        let published = vec![PublishedValue {
            row: "CACo R18".into(),
            metric: "eurosat_probe".into(),
            value: 93.1,
            source: "x".into(),
        }];
        let mut loss_curves = Vec::new();
        for (r, row) in rows.iter().enumerate().skip(1) {
            for seed in 0..2u64 {
                let steps: Vec<u64> = (0..120).map(|s| s * 5).collect();
                let loss = steps
                    .iter()
                    .map(|&s| {
                        if s == 50 {
                            f64::NAN
                        } else {
                            9.0 / (1.0 + s as f64 / 100.0) + r as f64 * 0.3 + ((s * 7 + seed) % 5) as f64 * 0.1
                        }
                    })
                    .collect();
                loss_curves.push(LossCurve {
                    row: row.clone(),
                    seed,
                    steps,
                    loss,
                });
            }
        }
        PaperTable {
            name: "fake".into(),
            title: "Fake table".into(),
            rows,
            metrics,
            cells,
            published,
            loss_curves,
            ..Default::default()
        }
    }

    #[test]
    fn loss_curves_render_with_a_legend_of_rows() {
        let dir = tempfile::tempdir().unwrap();
        let t = table();
        let paths = pretrain_loss_curves(&t, &dir.path().join("figs/loss")).unwrap();
        let svg = check_outputs(&paths, (900, 540));
        assert!(svg.contains("CACo R18 (mean of 2 seeds)"), "legend missing");
        assert!(svg.contains("pre-training loss"));
        // The moving average keeps the points' x and averages y.
        let avg = moving_average(&[(0.0, 1.0), (1.0, 3.0), (2.0, 5.0)], 2);
        assert_eq!(avg, vec![(0.0, 2.0), (1.0, 4.0), (2.0, 5.0)]);
        let mut empty = t;
        empty
            .loss_curves
            .iter_mut()
            .for_each(|c| c.loss.iter_mut().for_each(|l| *l = f64::NAN));
        let msg = pretrain_loss_curves(&empty, &dir.path().join("x"))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("pretrain loss curves") && msg.contains("'fake'"), "{msg}");
    }

    fn epoch(epoch: usize, with_truth: bool) -> CacoEpoch {
        // Unchanged items around 1, changed around 3, a NaN and one far outlier.
        let mut ratios = Vec::new();
        let mut truth = Vec::new();
        for i in 0..300 {
            let jitter = ((i * 37) % 100) as f64 / 100.0 - 0.5;
            let changed = i % 4 == 0;
            ratios.push(if changed { 3.0 + jitter } else { 1.0 + 0.4 * jitter });
            truth.push(changed);
        }
        ratios.push(f64::NAN);
        truth.push(false);
        ratios.push(500.0);
        truth.push(true);
        CacoEpoch {
            row: "CACo R18".into(),
            seed: 0,
            epoch,
            ratios,
            truly_changed: if with_truth { truth } else { vec![] },
            gmm: Some(GmmParams {
                weights: [0.75, 0.25],
                means: [1.0, 3.0],
                variances: [0.015, 0.09],
            }),
        }
    }

    #[test]
    fn awareness_histograms_stack_changed_on_unchanged_per_row() {
        let dir = tempfile::tempdir().unwrap();
        let dist = |row: &str, shift: f64| AwarenessDistribution {
            row: row.into(),
            seed: 0,
            d_long: (0..100).map(|i| 0.2 + 0.001 * i as f64 + if i % 4 == 0 { shift } else { 0.0 }).collect(),
            truly_changed: (0..100).map(|i| i % 4 == 0).collect(),
        };
        let dists = vec![dist("Random init", 0.0), dist("CACo", 0.5)];
        let figure = awareness_figure(&dists).unwrap();
        let paths = awareness_histograms(&dists, &dir.path().join("aware")).unwrap();
        let svg = check_outputs(&paths, figure.size());
        for expected in ["truly changed", "CACo", "d_long: mean distance", "locations"] {
            assert!(svg.contains(expected), "{expected} missing");
        }
        // CACo's changed locations sit apart: every bin of the panel is one class only.
        let caco = &figure.panels[1];
        assert_eq!(caco.n_finite, 100);
        assert!(caco.counts.iter().all(|&(u, c)| u == 0 || c == 0), "{:?}", caco.counts);
        assert!(figure.panels[0].counts.iter().any(|&(u, c)| u > 0 && c > 0));
        let mut bad = dists.clone();
        bad[0].truly_changed.pop();
        assert!(awareness_figure(&bad).is_err());
    }

    #[test]
    fn ratio_histograms_show_truth_mixture_and_threshold() {
        let dir = tempfile::tempdir().unwrap();
        let mut no_gmm = epoch(3, false);
        no_gmm.gmm = None;
        let epochs = vec![epoch(1, true), epoch(2, true), no_gmm, epoch(4, false)];
        let figure = ratio_figure(&epochs).unwrap();
        let paths = caco_ratio_histograms(&epochs, &dir.path().join("ratios")).unwrap();
        let svg = check_outputs(&paths, figure.size());
        assert_eq!(figure.size().0, 3 * 460);
        for expected in [
            "truly changed",
            "CACo R18, seed 0, epoch 2",
            "threshold 1.",
            "1 &gt; ",
            "all items",
        ] {
            assert!(svg.contains(expected), "{expected} missing");
        }
        let panel = &figure.panels[0];
        assert_eq!(panel.n_finite, 301);
        assert_eq!(panel.n_beyond, 1);
        let n_changed: u64 = panel.counts.iter().map(|c| c.1).sum();
        assert_eq!(n_changed, 75);
        // The threshold lies between the means, where the posterior is one half.
        let g = epochs[0].gmm.unwrap();
        let cuts = thresholds(&g, 1.0, 3.0);
        assert_eq!(cuts.len(), 1);
        assert!(
            (p_high(&g, cuts[0]) - 0.5).abs() < 1e-9 && cuts[0] > 1.2 && cuts[0] < 2.2,
            "{cuts:?}"
        );
    }

    #[test]
    fn ratio_histograms_reject_empty_and_mismatched_input() {
        let dir = tempfile::tempdir().unwrap();
        let msg = caco_ratio_histograms(&[], &dir.path().join("r"))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("caco ratio histograms"), "{msg}");
        let mut bad = epoch(1, true);
        bad.truly_changed.pop();
        let msg = caco_ratio_histograms(&[bad], &dir.path().join("r"))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("302 ratios but 301 truth flags"), "{msg}");
        let mut nan = epoch(1, false);
        nan.ratios = vec![f64::NAN; 3];
        assert!(caco_ratio_histograms(&[nan], &dir.path().join("r")).is_err());
    }

    #[test]
    fn task_bars_show_rows_published_values_and_skip_nan() {
        let dir = tempfile::tempdir().unwrap();
        let t = table();
        let paths = task_bars(&t, &dir.path().join("bars")).unwrap();
        // Two metrics: one row of two panels, at least 700 px wide.
        let figure_size = bar_figure(&t).unwrap().size();
        assert_eq!(figure_size.0, 2 * 420);
        let svg = check_outputs(&paths, figure_size);
        for expected in [
            "SeCo R18",
            "published (other data/backbones)",
            "EuroSAT probe acc.",
            "Change F1",
            "81.0",
        ] {
            assert!(svg.contains(expected), "{expected} missing");
        }
        // Change F1 of CACo: seeds 0 and 2 (seed 1 is NaN) -> 30, 32, mean 31.0.
        assert!(svg.contains("\n31.0\n") && !svg.contains("NaN"), "NaN not skipped");
        let mut empty = t.clone();
        empty.metrics.clear();
        let msg = task_bars(&empty, &dir.path().join("b")).unwrap_err().to_string();
        assert!(msg.contains("task bars") && msg.contains("0 metric columns"), "{msg}");
        let mut all_nan = t;
        all_nan.published.clear();
        all_nan.cells.iter_mut().for_each(|c| c.value = f64::NAN);
        assert!(task_bars(&all_nan, &dir.path().join("b"))
            .unwrap_err()
            .to_string()
            .contains("no finite value"));
    }

    #[test]
    fn label_fraction_curves_on_a_log_axis() {
        let dir = tempfile::tempdir().unwrap();
        let mut points = Vec::new();
        for (r, row) in ["SeCo R18", "CACo R18"].iter().enumerate() {
            for fraction in [0.01, 0.1, 1.0] {
                for seed in 0..3u64 {
                    let value = 50.0 + 10.0 * r as f64 + 30.0 * fraction + seed as f64;
                    points.push(FractionPoint {
                        row: row.to_string(),
                        metric: "eurosat_probe".into(),
                        fraction,
                        seed,
                        value,
                    });
                }
            }
        }
        points.push(FractionPoint {
            row: "CACo R18".into(),
            metric: "eurosat_probe".into(),
            fraction: 0.1,
            seed: 9,
            value: f64::NAN,
        });
        let paths = label_fraction_curves(&points, &dir.path().join("fractions")).unwrap();
        let svg = check_outputs(&paths, fraction_figure(&points).unwrap().size());
        for expected in ["CACo R18", "eurosat_probe", "1 %", "10 %", "100 %"] {
            assert!(svg.contains(expected), "{expected} missing");
        }
        assert_eq!(percent_label(&0.005), "0.5 %");
        let msg = label_fraction_curves(&[], &dir.path().join("f"))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("label fraction curves"), "{msg}");
    }

    /// Band b: a gradient along rows (b = 0), columns (b = 1) or the diagonal, shifted by `seed`.
    fn image(n_bands: usize, height: usize, width: usize, seed: usize) -> Image {
        let mut data = Vec::with_capacity(n_bands * height * width);
        for b in 0..n_bands {
            for r in 0..height {
                for c in 0..width {
                    let t = match b % 3 {
                        0 => r * 255 / height,
                        1 => c * 255 / width,
                        _ => (r + c) * 255 / (height + width),
                    };
                    data.push(((t + seed * 40) % 256) as f32);
                }
            }
        }
        Image {
            n_bands,
            height,
            width,
            data,
        }
    }

    #[test]
    fn thumbnails_resample_any_size_and_draw_single_band_grey() {
        let t = Thumb::new(&image(3, 64, 64, 0), "f", "x").unwrap();
        assert_eq!((t.height, t.width), (THUMB_CELLS, THUMB_CELLS));
        let wide = Thumb::new(&image(13, 10, 200, 0), "f", "x").unwrap();
        assert_eq!((wide.height, wide.width), (2, THUMB_CELLS));
        let grey = Thumb::new(&image(1, 5, 5, 3), "f", "x").unwrap();
        assert_eq!((grey.height, grey.width), (THUMB_CELLS, THUMB_CELLS));
        assert!(grey.rgb.iter().all(|[r, g, b]| r == g && g == b));
        let mut nan = image(3, 2, 2, 0);
        nan.data[0] = f32::NAN;
        nan.data[1] = 1e9;
        let t = Thumb::new(&nan, "f", "x").unwrap();
        assert_eq!(t.rgb[0][0], 0);
        assert_eq!(t.rgb[THUMB_CELLS - 1][0], 255);
        let broken = Image {
            n_bands: 3,
            height: 4,
            width: 4,
            data: vec![0.0; 5],
        };
        let msg = Thumb::new(&broken, "sample grid", "image 7").err().unwrap().to_string();
        assert!(msg.contains("sample grid: image 7 is not a valid image"), "{msg}");
    }

    #[test]
    fn sample_grid_has_captions_and_the_declared_size() {
        let dir = tempfile::tempdir().unwrap();
        let classes = ["AnnualCrop", "HerbaceousVegetation", "SeaLake"];
        let samples: Vec<(Image, String)> = (0..6)
            .map(|i| {
                (
                    image(if i == 5 { 1 } else { 3 }, 64 - i, 64, i),
                    classes[i / 2].to_string(),
                )
            })
            .collect();
        let paths = sample_grid(&samples, 4, "EuroSAT samples", &dir.path().join("samples")).unwrap();
        let figure_size = (
            (2 * GRID_MARGIN + 4 * CELL_W) as u32,
            (GRID_TOP + 2 * CELL_H + GRID_MARGIN) as u32,
        );
        let svg = check_outputs(&paths, figure_size);
        assert!(svg.contains("HerbaceousVegetation") && svg.contains("EuroSAT samples"));
        let msg = sample_grid(&samples, 0, "t", &dir.path().join("s"))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("sample grid"), "{msg}");
        assert!(sample_grid(&[], 2, "t", &dir.path().join("s")).is_err());
    }

    #[test]
    fn retrieval_grid_frames_same_class_green_and_others_red() {
        let dir = tempfile::tempdir().unwrap();
        let queries: Vec<RetrievalExample> = vec![
            (
                image(3, 64, 64, 1),
                "Forest".into(),
                vec![
                    (image(3, 64, 64, 2), "Forest".into()),
                    (image(3, 32, 32, 3), "Pasture".into()),
                    (image(1, 64, 64, 4), "Forest".into()),
                ],
            ),
            (
                image(3, 64, 64, 5),
                "River".into(),
                vec![(image(3, 64, 64, 6), "Highway".into())],
            ),
        ];
        let stem = dir.path().join("retrieval");
        let paths = retrieval_grid(&queries, "Retrieval: CACo R18", &stem).unwrap();
        let width = 2 * GRID_MARGIN + 4 * CELL_W + RetrievalGrid::GAP;
        let height = GRID_TOP + RetrievalGrid::HEADER + 2 * CELL_H + GRID_MARGIN;
        let svg = check_outputs(&paths, (width as u32, height as u32));
        assert!(svg.contains("Pasture") && svg.contains("neighbour 3") && svg.contains("Retrieval: CACo R18"));
        // Frames: left edge of neighbour 1 (same class) green, neighbour 2 (other class) red.
        let png = image::open(&paths[1]).unwrap().into_rgb8();
        let frame_at = |k: i32| {
            let x = GRID_MARGIN + k * CELL_W + RetrievalGrid::GAP + (CELL_W - THUMB) / 2 - 2;
            let y = GRID_TOP + RetrievalGrid::HEADER + 4 + THUMB / 2;
            png.get_pixel(x as u32, y as u32).0
        };
        assert_eq!(frame_at(1), [SAME_CLASS.0, SAME_CLASS.1, SAME_CLASS.2]);
        assert_eq!(frame_at(2), [OTHER_CLASS.0, OTHER_CLASS.1, OTHER_CLASS.2]);
        let msg = retrieval_grid(&[], "t", &stem).unwrap_err().to_string();
        assert!(msg.contains("retrieval grid"), "{msg}");
    }
}
