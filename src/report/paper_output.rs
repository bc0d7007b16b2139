//! Writes a [`PaperTable`] with its figures: the tables (`results::paper::write_tables`) and every figure under
//! `figures/<name>_*`. Used by the run, by `caco report` and by the notebooks (from the stored metrics alone, plus
//! the EuroSAT images for the sample and retrieval grids when the dataset is present). No libtorch.

use std::path::{Path, PathBuf};

use crate::data::eurosat::{load_file, EurosatVariant};
use crate::data::Image;
use crate::plot as fig;
use crate::results::paper::{write_tables, PaperTable, Retrieval};
use crate::results::writer::slug;
use crate::Result;

/// Writes the table files and figures; returns the paths written.
pub fn write(t: &PaperTable, out_dir: &Path) -> Result<Vec<PathBuf>> {
    let figures = out_dir.join("figures");
    let mut written = write_tables(t, out_dir)?;

    let stem = |what: &str| figures.join(format!("{}_{what}", t.name));
    if !t.cells.is_empty() {
        written.extend(fig::task_bars(t, &stem("bars"))?);
    }
    if !t.loss_curves.is_empty() {
        written.extend(fig::pretrain_loss_curves(t, &stem("pretrain_loss"))?);
    }
    if !t.caco_epochs.is_empty() {
        written.extend(fig::caco_ratio_histograms(&t.caco_epochs, &stem("caco_ratio"))?);
    }
    if !t.awareness.is_empty() {
        written.extend(fig::awareness_histograms(&t.awareness, &stem("change_awareness"))?);
    }
    if t.label_fractions.iter().any(|p| p.fraction < 1.0) {
        written.extend(fig::label_fraction_curves(&t.label_fractions, &stem("label_fraction"))?);
    }
    let root = Path::new(&t.eurosat_root);
    if root.is_dir() {
        if !t.samples.is_empty() {
            let samples = load_samples(t, root)?;
            written.extend(fig::sample_grid(
                &samples,
                10,
                "EuroSAT samples (test split)",
                &stem("eurosat_samples"),
            )?);
        }
        for r in &t.retrieval {
            if r.queries.is_empty() {
                continue;
            }
            written.extend(fig::retrieval_grid(
                &load_retrieval(r, root)?,
                &format!("EuroSAT val retrieval: {}", r.row),
                &stem(&format!("retrieval_{}", slug(&r.row))),
            )?);
        }
    }
    Ok(written)
}

/// The table's EuroSAT sample images, read from `root` (the EuroSAT RGB folder), with their classes.
pub fn load_samples(t: &PaperTable, root: &Path) -> Result<Vec<(Image, String)>> {
    t.samples
        .iter()
        .map(|(p, c)| Ok((load_file(&root.join(p), EurosatVariant::Rgb)?, c.clone())))
        .collect()
}

/// One row's retrieval examples (query, class, neighbours nearest first), images read from `root`.
pub fn load_retrieval(r: &Retrieval, root: &Path) -> Result<Vec<fig::RetrievalExample>> {
    let load = |rel: &str| load_file(&root.join(rel), EurosatVariant::Rgb);
    r.queries
        .iter()
        .map(|q| {
            let near = q
                .neighbours
                .iter()
                .map(|(p, c)| Ok((load(p)?, c.clone())))
                .collect::<Result<Vec<_>>>()?;
            Ok((load(&q.image)?, q.class.clone(), near))
        })
        .collect()
}
