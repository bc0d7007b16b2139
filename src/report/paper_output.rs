//! Writes a [`PaperTable`]: `tables/<name>.{csv,parquet,md,metrics.toml}` and every figure under `figures/<name>_*`.
//! Used by the run, by `caco report` and by the notebooks (from the stored metrics alone, plus the EuroSAT images for
//! the sample and retrieval grids when the dataset is present). No libtorch.

use std::path::{Path, PathBuf};

use polars::prelude::*;

use crate::data::eurosat::{load_file, EurosatVariant};
use crate::data::Image;
use crate::plot as fig;
use crate::report::paper::{mean_std, PaperTable, Retrieval};
use crate::report::table;
use crate::{Error, Result};

/// The summary: per row, per metric the mean over seeds, its standard deviation, the number of seeds, the 95 %
/// bootstrap interval (`_ci_low`, `_ci_high`; NaN where none) and the published value (NaN where none).
pub fn dataframe(t: &PaperTable) -> Result<DataFrame> {
    let mut columns = vec![Column::new("row".into(), t.rows.clone())];
    for m in &t.metrics {
        let stats: Vec<Option<(f64, f64)>> = t.rows.iter().map(|r| mean_std(&t.values(r, &m.id))).collect();
        let published: Vec<f64> = t
            .rows
            .iter()
            .map(|r| t.published_value(r, &m.id).map_or(f64::NAN, |p| p.value))
            .collect();
        columns.push(Column::new(
            m.id.clone().into(),
            stats.iter().map(|s| s.map_or(f64::NAN, |s| s.0)).collect::<Vec<f64>>(),
        ));
        columns.push(Column::new(
            format!("{}_std", m.id).into(),
            stats.iter().map(|s| s.map_or(f64::NAN, |s| s.1)).collect::<Vec<f64>>(),
        ));
        columns.push(Column::new(
            format!("{}_n", m.id).into(),
            t.rows
                .iter()
                .map(|r| t.values(r, &m.id).len() as i64)
                .collect::<Vec<i64>>(),
        ));
        let intervals: Vec<Option<[f64; 2]>> = t.rows.iter().map(|r| t.interval(r, &m.id)).collect();
        for (suffix, bound) in [("ci_low", 0), ("ci_high", 1)] {
            columns.push(Column::new(
                format!("{}_{suffix}", m.id).into(),
                intervals.iter().map(|c| c.map_or(f64::NAN, |c| c[bound])).collect::<Vec<f64>>(),
            ));
        }
        columns.push(Column::new(format!("{}_published", m.id).into(), published));
    }
    Ok(DataFrame::new_infer_height(columns)?)
}

/// The Markdown table: `mean ± std` cells (percent), a `published` column after each metric that has any.
pub fn markdown(t: &PaperTable) -> String {
    let with_published: Vec<bool> = t
        .metrics
        .iter()
        .map(|m| t.rows.iter().any(|r| t.published_value(r, &m.id).is_some()))
        .collect();
    let mut header = vec!["initialisation".to_string()];
    for (m, &p) in t.metrics.iter().zip(&with_published) {
        header.push(m.label.clone());
        if p {
            header.push(format!("{} (published†)", m.label));
        }
    }
    let mut out = format!("# {}\n\n", t.title);
    out += &format!(
        "| {} |\n|{}|\n",
        header.join(" | "),
        vec!["---"; header.len()].join("|")
    );
    let multi_seed = t
        .cells
        .iter()
        .map(|c| c.seed)
        .collect::<std::collections::BTreeSet<_>>()
        .len()
        > 1;
    for r in &t.rows {
        let mut cells = vec![r.clone()];
        for (m, &p) in t.metrics.iter().zip(&with_published) {
            let ci = t
                .interval(r, &m.id)
                .map_or(String::new(), |[lo, hi]| format!(" [{lo:.1}, {hi:.1}]"));
            cells.push(match mean_std(&t.values(r, &m.id)) {
                Some((mean, _)) if mean.is_nan() => "n/a".into(),
                Some((mean, std)) if multi_seed => format!("{mean:.2} ± {std:.2}{ci}"),
                Some((mean, _)) => format!("{mean:.2}{ci}"),
                None => "–".into(),
            });
            if p {
                cells.push(
                    t.published_value(r, &m.id)
                        .map_or("".into(), |v| format!("{:.2}", v.value)),
                );
            }
        }
        out += &format!("| {} |\n", cells.join(" | "));
    }
    out += "\nScores in percent on each task's scored split (test; EuroSAT's probe and CLCD: val, the authors' metric \
            and CLCD's last public list)";
    out += if multi_seed {
        " (mean ± standard deviation over seeds)"
    } else {
        " (one seed)"
    };
    out += if t.cells.iter().any(|c| c.ci.is_some()) {
        "; in brackets the 95 % percentile bootstrap interval over the scored items (1,000 resamples of the \
         images, image pairs, kNN queries or held-out locations; with several seeds, the mean of the seeds' \
         bounds).\n"
    } else {
        ".\n"
    };
    let sources: Vec<String> = t
        .published
        .iter()
        .map(|p| format!("- {} {}: {:.2}, {}", p.row, p.metric, p.value, p.source))
        .collect();
    if !sources.is_empty() {
        out += "\n† Published numbers, for context only: other data (the official pre-training sets and splits) and \
                longer schedules; they are not comparable with the rows above.\n\n";
        out += &sources.join("\n");
        out += "\n";
    }
    let beats = beats_random(t);
    if !beats.is_empty() {
        out += "\nRows above random init (mean):\n\n";
        out += &beats.join("\n");
        out += "\n";
    }
    if !t.notes.is_empty() {
        out += "\n";
        out += &t.notes.iter().map(|n| format!("{n}\n")).collect::<String>();
    }
    out += &format!("\nWall time of the run: {:.0} s.\n", t.wall_seconds);
    if let Some(p) = &t.provenance {
        out += &format!("\n{}\n", p.line());
    }
    out
}

/// Per metric, the rows whose mean beats the first row named like "random".
pub fn beats_random(t: &PaperTable) -> Vec<String> {
    let Some(random) = t.rows.iter().find(|r| r.to_lowercase().contains("random")) else {
        return vec![];
    };
    t.metrics
        .iter()
        .filter_map(|m| {
            let base = mean_std(&t.values(random, &m.id))?.0;
            let better: Vec<String> = t
                .rows
                .iter()
                .filter(|r| *r != random)
                .filter_map(|r| {
                    let v = mean_std(&t.values(r, &m.id))?.0;
                    (v > base).then(|| format!("{r} ({v:.2})"))
                })
                .collect();
            Some(format!(
                "- {} (random init {base:.2}): {}",
                m.label,
                if better.is_empty() {
                    "none".to_string()
                } else {
                    better.join(", ")
                }
            ))
        })
        .collect()
}

/// Writes the table files and figures; returns the paths written.
pub fn write(t: &PaperTable, out_dir: &Path) -> Result<Vec<PathBuf>> {
    let tables = out_dir.join("tables");
    let figures = out_dir.join("figures");
    let mut written = Vec::new();
    let metrics = tables.join(format!("{}.metrics.toml", t.name));
    t.write_metrics(&metrics)?;
    written.push(metrics);
    let mut df = dataframe(t)?;
    let csv = tables.join(format!("{}.csv", t.name));
    table::write_csv(&df, &csv)?;
    written.push(csv);
    let parquet = tables.join(format!("{}.parquet", t.name));
    let file = std::fs::File::create(&parquet).map_err(|e| Error::io(&parquet, e))?;
    ParquetWriter::new(file).finish(&mut df)?;
    written.push(parquet);
    let md = tables.join(format!("{}.md", t.name));
    std::fs::write(&md, markdown(t)).map_err(|e| Error::io(&md, e))?;
    written.push(md);

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
            let slug = crate::report::dense::slug(&r.row);
            written.extend(fig::retrieval_grid(
                &load_retrieval(r, root)?,
                &format!("EuroSAT val retrieval: {}", r.row),
                &stem(&format!("retrieval_{slug}")),
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
