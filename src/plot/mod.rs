//! Figures with Plotters, each written as SVG (for papers) and PNG (for notebooks and READMEs) through
//! [`render_both`]: [`style`] is the drawing kit they share (bundled font, colours, legend, panel grid), every other
//! file draws one figure. Builds without libtorch; reads the plain result types it draws and imports no model,
//! training or evaluation code.
//!
//! - [`loss_curves`]: pre-training loss vs step; [`dense_loss`]: a dense task's training loss per epoch.
//! - [`ratio_histograms`]: CACo's running-ratio histograms with the fitted mixture, the change-awareness histograms.
//! - [`task_bars`](mod@task_bars): per-task bars with published values; [`label_fractions`]: score vs fraction of labels.
//! - [`sample_grid`](mod@sample_grid), [`retrieval_grid`](mod@retrieval_grid): image grids of [`thumb`]nails.
//! - [`distance_matrix`]: one location's date-to-date embedding distances beside the population's change ratios.
//! - [`confusion`]: a confusion-matrix heatmap; [`overlays`]: PNG overlays of predicted change and segmentation maps.

pub mod confusion;
pub mod dense_loss;
pub mod distance_matrix;
pub mod label_fractions;
pub mod loss_curves;
pub mod overlays;
pub mod ratio_histograms;
pub mod retrieval_grid;
pub mod sample_grid;
pub mod style;
pub mod task_bars;
pub mod thumb;

#[cfg(test)]
mod test_support;

pub use confusion::confusion_matrix;
pub use dense_loss::dense_loss_curves;
pub use distance_matrix::{location_distances, LocationDistances};
pub use label_fractions::label_fraction_curves;
pub use loss_curves::{pretrain_loss_curves, LOSS_SMOOTHING};
pub use overlays::{change_overlay, segmentation_overlay, write_png};
pub use ratio_histograms::{awareness_histograms, caco_ratio_histograms};
pub use retrieval_grid::{retrieval_grid, RetrievalExample};
pub use sample_grid::sample_grid;
pub use style::{register_fonts, render_both, Figure, FONT_FAMILY};
pub use task_bars::task_bars;
pub use thumb::{THUMB_CELLS, THUMB_CELL_PX};
