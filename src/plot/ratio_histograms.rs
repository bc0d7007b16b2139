//! CACo's running-ratio histograms with the fitted two-component mixture and its threshold (the CACo paper's key
//! figure), and the change-awareness histograms of d_long; both are grids of `RatioPanel`s.

use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::style::{
    local, plot_err, render_both, text, Figure, Key, PanelGrid, CHANGED, FONT_FAMILY, HIGH_COMPONENT, LIGHT_GRID,
    LOW_COMPONENT, UNCHANGED, UNKNOWN,
};
use crate::results::paper::{AwarenessDistribution, CacoEpoch, GmmParams};
use crate::{Error, Result};

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
    fn layout(&self) -> PanelGrid<'_> {
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
        PanelGrid {
            title: &self.title,
            keys,
            n_panels: self.panels.len(),
            max_cols: 3,
            panel: (460, 330),
            min_width: 0,
        }
    }
}

impl Figure for RatioFigure {
    fn size(&self) -> (u32, u32) {
        self.layout().size()
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()> {
        for (panel, area) in self.panels.iter().zip(self.layout().draw(root)?) {
            panel.draw(&area)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plot::test_support::check_outputs;

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
            d_long: (0..100)
                .map(|i| 0.2 + 0.001 * i as f64 + if i % 4 == 0 { shift } else { 0.0 })
                .collect(),
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
}
