//! Fixtures shared by the figure tests: a fake `PaperTable`, gradient images and a check of both rendered files.

use std::path::PathBuf;

use crate::data::Image;
use crate::results::paper::{Cell, LossCurve, MetricColumn, PaperTable, PublishedValue};

/// Reads both outputs: the SVG text and the PNG, checking the PNG's size and that it is not blank.
pub(crate) fn check_outputs(paths: &[PathBuf], size: (u32, u32)) -> String {
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

pub(crate) fn table() -> PaperTable {
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

/// Band b: a gradient along rows (b = 0), columns (b = 1) or the diagonal, shifted by `seed`.
pub(crate) fn image(n_bands: usize, height: usize, width: usize, seed: usize) -> Image {
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
