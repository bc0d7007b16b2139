//! Writes results with their figures: a table from `results` plus the figures of it (Plotters), for the paper
//! table (`paper_output`), a downstream task (`dense`) and the EuroSAT table (`eurosat`); the one `regenerate` of
//! any stored table; the benchmark report; the notebooks' helpers. Builds without libtorch
//! (`--no-default-features`), so notebooks that only read results compile fast.

pub mod bench;
pub mod dense;
pub mod eurosat;
pub mod figures;
pub mod notebook;
pub mod paper_figures;
pub mod paper_output;
pub mod regenerate;

pub use regenerate::regenerate;

use std::sync::Once;

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
