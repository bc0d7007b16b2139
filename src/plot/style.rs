//! The drawing kit every figure shares: the bundled font, the colours, text and title placement, text fitting, the
//! hand-drawn legend, the panel grid, the [`Figure`] trait and [`render_both`] (SVG + PNG).

use std::path::{Path, PathBuf};
use std::sync::Once;

use plotters::coord::Shift;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::results::writer::create_parent;
use crate::{Error, Result};

// ---------------------------------------------------------------------------------------------------------------
// Font.

/// DejaVu Sans, bundled so figures render identically everywhere without system font lookup.
static FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");

/// The family name figures use.
pub const FONT_FAMILY: &str = "sans-serif";

/// Registers the bundled font with Plotters (once per process).
pub fn register_fonts() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        for style in [plotters::style::FontStyle::Normal, plotters::style::FontStyle::Bold] {
            if plotters::style::register_font(FONT_FAMILY, style, FONT).is_err() {
                panic!("bundled DejaVuSans.ttf is not a valid font");
            }
        }
    });
}

pub(crate) fn font(size: f64) -> FontDesc<'static> {
    (FONT_FAMILY, size).into_font()
}

// ---------------------------------------------------------------------------------------------------------------
// Colours.

/// Truly changed items (ratio and awareness histograms).
pub(crate) const CHANGED: RGBColor = RGBColor(230, 120, 30);
/// Truly unchanged items.
pub(crate) const UNCHANGED: RGBColor = RGBColor(70, 130, 200);
/// Items whose truth is unknown.
pub(crate) const UNKNOWN: RGBColor = RGBColor(150, 150, 150);
/// The mixture's low (unchanged) and high (changed) components.
pub(crate) const LOW_COMPONENT: RGBColor = RGBColor(20, 50, 140);
pub(crate) const HIGH_COMPONENT: RGBColor = RGBColor(170, 30, 30);
/// Retrieval frames: a neighbour of the query's class, of another class, the query itself.
pub(crate) const SAME_CLASS: RGBColor = RGBColor(20, 150, 60);
pub(crate) const OTHER_CLASS: RGBColor = RGBColor(215, 35, 35);
pub(crate) const GRID_GREY: RGBColor = RGBColor(200, 200, 200);
/// The light mesh lines of the charts.
pub(crate) const LIGHT_GRID: RGBColor = RGBColor(238, 238, 238);
/// Secondary text (notes, column headers).
pub(crate) const NOTE_GREY: RGBColor = RGBColor(90, 90, 90);

/// The colour of the `idx`-th row of a table (bars, lines, legend patches).
pub(crate) fn row_colour(idx: usize) -> RGBAColor {
    Palette99::pick(idx).to_rgba()
}

// ---------------------------------------------------------------------------------------------------------------
// Rendering.

/// A figure that can draw itself on any Plotters backend.
pub trait Figure {
    /// Size in pixels.
    fn size(&self) -> (u32, u32);
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()>;
}

/// Renders `figure` to `<stem>.svg` and `<stem>.png`; returns both paths.
pub fn render_both(stem: &Path, figure: &impl Figure) -> Result<Vec<PathBuf>> {
    let size = figure.size();
    register_fonts();
    create_parent(stem)?;
    let svg = stem.with_extension("svg");
    let png = stem.with_extension("png");
    {
        let root = SVGBackend::new(&svg, size).into_drawing_area();
        figure.draw(&root)?;
        root.present().map_err(plot_err)?;
    }
    {
        let root = BitMapBackend::new(&png, size).into_drawing_area();
        figure.draw(&root)?;
        root.present().map_err(plot_err)?;
    }
    Ok(vec![svg, png])
}

/// A Plotters error as the crate's.
pub(crate) fn plot_err<E: std::fmt::Display>(e: E) -> Error {
    Error::Report(format!("drawing failed: {e}"))
}

// ---------------------------------------------------------------------------------------------------------------
// Text.

pub(crate) fn text<DB: DrawingBackend>(
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

/// The figure's title, centred at the top.
pub(crate) fn title<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, s: &str, width: u32) -> Result<()> {
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
pub(crate) fn fit_text<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, s: &str, max_width: u32) -> (String, f64) {
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

// ---------------------------------------------------------------------------------------------------------------
// Legend.

/// One entry of a hand-drawn legend.
pub(crate) enum Key {
    Patch(RGBAColor),
    Line(RGBAColor),
    Dashed(RGBAColor),
    Diamond,
    ErrorBar,
}

const LEGEND_X: i32 = 20;
/// Vertical centre of the first legend line (below the title).
const LEGEND_Y: i32 = 55;
const LEGEND_LINE: i32 = 24;

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

// ---------------------------------------------------------------------------------------------------------------
// Panel grid.

/// Grid shape for `n` panels: at most `max_cols` columns.
fn grid(n: usize, max_cols: usize) -> (usize, usize) {
    let n_cols = n.clamp(1, max_cols);
    (n.div_ceil(n_cols).max(1), n_cols)
}

/// The layout of the multi-panel figures: a title, the legend below it, then `n_panels` panels of `panel` pixels in
/// rows of at most `max_cols`, the whole at least `min_width` wide.
pub(crate) struct PanelGrid<'a> {
    pub title: &'a str,
    pub keys: Vec<(Key, String)>,
    pub n_panels: usize,
    pub max_cols: usize,
    pub panel: (u32, u32),
    pub min_width: u32,
}

impl PanelGrid<'_> {
    pub fn width(&self) -> u32 {
        (grid(self.n_panels, self.max_cols).1 as u32 * self.panel.0).max(self.min_width)
    }

    pub fn size(&self) -> (u32, u32) {
        let n_rows = grid(self.n_panels, self.max_cols).0 as u32;
        (
            self.width(),
            legend_top(&self.keys, self.width()) + n_rows * self.panel.1,
        )
    }

    /// Clears `root`, draws the title and the legend; returns the panels' areas in reading order.
    pub fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<Vec<DrawingArea<DB, Shift>>> {
        root.fill(&WHITE).map_err(plot_err)?;
        let w = self.width();
        title(root, self.title, w)?;
        legend(root, &self.keys, w)?;
        let (_, body) = root.split_vertically(legend_top(&self.keys, w));
        Ok(body.split_evenly(grid(self.n_panels, self.max_cols)))
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Geometry.

/// A backend coordinate (as `ChartContext::backend_coord` gives) relative to `area`.
pub(crate) fn local<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, (x, y): (i32, i32)) -> (i32, i32) {
    let (x0, y0) = area.get_base_pixel();
    (x - x0, y - y0)
}

/// A hollow diamond centred on a backend coordinate.
pub(crate) fn diamond_at(centre: (i32, i32)) -> PathElement<(i32, i32)> {
    let (x, y) = centre;
    PathElement::new(
        vec![(x, y - 7), (x + 7, y), (x, y + 7), (x - 7, y), (x, y - 7)],
        BLACK.stroke_width(2),
    )
}

/// `(lo, hi)` padded by `pad` of the span; a point becomes a unit interval.
pub(crate) fn padded(lo: f64, hi: f64, pad: f64) -> (f64, f64) {
    if hi > lo {
        let d = (hi - lo) * pad;
        (lo - d, hi + d)
    } else {
        (lo - 0.5, hi + 0.5)
    }
}
