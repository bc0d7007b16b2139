//! Helpers of the evcxr notebooks in `notebooks/` (issue 8): where results, data and notebook outputs live, inline
//! display through evcxr's `EVCXR_BEGIN_CONTENT <mime>` blocks (PNG, SVG, Markdown), and the few analyses the
//! notebooks show that are not figures of their own: per-band statistics, a composite of any three bands, CACo's
//! per-epoch mixture summary against the truth, and regeneration of any stored table. No libtorch, so a notebook's
//! `:dep caco = { path = "..", default-features = false }` compiles without it.

use std::path::{Path, PathBuf};

use polars::prelude::*;

use crate::plot::ratio_histograms::{p_high, thresholds, valid_gmm};
use crate::results::metrics::auroc;
use crate::results::paper::{CacoEpoch, PaperTable};
use crate::results::writer;
use crate::results::metrics_files;
use crate::data::dense::Mask;
use crate::data::eurosat::Eurosat;
use crate::data::{Image, DATA_ENV};
use crate::{Error, Result};

/// Environment variable naming the results folder the notebooks read (default `<repository>/results`).
pub const RESULTS_ENV: &str = "CACO_RESULTS";
/// Environment variable naming the folder notebooks draw into (default `<repository>/target/notebooks`).
pub const OUT_ENV: &str = "CACO_NOTEBOOK_OUT";

/// The repository this library was built from (a notebook's working directory is `notebooks/`).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn env_path(name: &str) -> Option<PathBuf> {
    std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from)
}

/// `$CACO_RESULTS`, else `<repository>/results`.
pub fn results_dir() -> PathBuf {
    env_path(RESULTS_ENV).unwrap_or_else(|| repo_root().join("results"))
}

/// The library's data root ([`crate::data::data_root_or`]: `$CACO_DATA` when set and not empty) with the notebooks'
/// own fallback, since their working directory is `notebooks/`: `<repository>/data` when it exists, else
/// `<repository>/../shared/data` when it exists (the layout of this project's machines), else `<repository>/data`.
pub fn data_root() -> PathBuf {
    crate::data::data_root_or(None, || {
        let own = repo_root().join("data");
        let shared = repo_root().join("../shared/data");
        if !own.is_dir() && shared.is_dir() {
            shared
        } else {
            own
        }
    })
}

/// `$CACO_NOTEBOOK_OUT/<notebook>`, else `<repository>/target/notebooks/<notebook>` (git-ignored), created.
pub fn out_dir(notebook: &str) -> Result<PathBuf> {
    let dir = env_path(OUT_ENV)
        .unwrap_or_else(|| repo_root().join("target/notebooks"))
        .join(notebook);
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    Ok(dir)
}

/// The first of `names` (alternatives, e.g. the full dataset then its subset) that exists under the data root;
/// otherwise prints where it looked and how to get the data, and gives `None` (so a notebook section skips instead of
/// failing on a machine without that dataset).
pub fn dataset_dir(names: &[&str]) -> Option<PathBuf> {
    let root = data_root();
    if let Some(dir) = names.iter().map(|n| root.join(n)).find(|d| d.is_dir()) {
        return Some(dir);
    }
    println!(
        "skipped: none of {names:?} under {} (set {DATA_ENV}, or `cargo xtask data download --list` for how to get it)",
        root.display()
    );
    None
}

// ---------------------------------------------------------------------------------------------------------------
// Inline display.

/// evcxr's display block: `mime` content that Jupyter shows as the cell's output (base64 for binary types).
pub fn content_block(mime: &str, body: &str) -> String {
    format!("EVCXR_BEGIN_CONTENT {mime}\n{body}\nEVCXR_END_CONTENT\n")
}

fn show(mime: &str, body: &str) {
    print!("{}", content_block(mime, body));
}

/// Shows a PNG file inline.
pub fn show_png(path: impl AsRef<Path>) -> Result<()> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    if !bytes.starts_with(b"\x89PNG") {
        return Err(Error::bad_input(path, "not a PNG file"));
    }
    show("image/png", &base64(&bytes));
    Ok(())
}

/// Shows an SVG file inline.
pub fn show_svg(path: impl AsRef<Path>) -> Result<()> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    show("image/svg+xml", &text);
    Ok(())
}

/// Shows the PNG among the files a figure function returned (`render_both` writes SVG and PNG).
pub fn show_figure(paths: &[PathBuf]) -> Result<()> {
    let png = paths
        .iter()
        .find(|p| p.extension().is_some_and(|e| e == "png"))
        .ok_or_else(|| Error::Report(format!("no PNG among {paths:?}")))?;
    show_png(png)
}

/// Shows an RGB image inline (encoded as PNG in memory).
pub fn show_rgb(image: &image::RgbImage) -> Result<()> {
    let mut png = std::io::Cursor::new(Vec::new());
    image
        .write_to(&mut png, image::ImageFormat::Png)
        .map_err(|e| Error::Report(format!("cannot encode PNG: {e}")))?;
    show("image/png", &base64(png.get_ref()));
    Ok(())
}

/// Shows several images in one output (evcxr keeps one output per MIME type and cell, so several `show_rgb` calls
/// in a cell would show only the last): an HTML block of PNGs, each with its caption above it (may be empty).
pub fn show_rgbs(images: &[(String, image::RgbImage)]) -> Result<()> {
    let mut html = String::new();
    for (caption, image) in images {
        let mut png = std::io::Cursor::new(Vec::new());
        image
            .write_to(&mut png, image::ImageFormat::Png)
            .map_err(|e| Error::Report(format!("cannot encode PNG: {e}")))?;
        html += &gallery_item(caption, png.get_ref());
    }
    show("text/html", &html);
    Ok(())
}

/// Shows several PNG files in one output (see [`show_rgbs`]), each captioned with its path relative to `base`.
pub fn show_pngs(paths: &[PathBuf], base: &Path) -> Result<()> {
    let mut html = String::new();
    for path in paths {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let caption = path.strip_prefix(base).unwrap_or(path).display().to_string();
        html += &gallery_item(&caption, &bytes);
    }
    show("text/html", &html);
    Ok(())
}

fn gallery_item(caption: &str, png: &[u8]) -> String {
    let caption = caption.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
    format!(
        "<div><p style=\"margin:8px 0 2px\"><code>{caption}</code></p><img src=\"data:image/png;base64,{}\"/></div>\n",
        base64(png)
    )
}

/// Shows Markdown inline (rendered by Jupyter).
pub fn show_markdown(text: &str) {
    show("text/markdown", text);
}

/// Shows a table inline as Markdown, floats with `decimals` decimals.
pub fn show_table(df: &DataFrame, decimals: usize) -> Result<()> {
    show_markdown(&writer::to_markdown(df, decimals)?);
    Ok(())
}

/// Standard base64 with padding (RFC 4648), for inline images.
pub fn base64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

// ---------------------------------------------------------------------------------------------------------------
// Images.

/// Three bands of `image` as a displayable RGB image (values 0-255), stretched linearly from the 2nd to the 98th
/// percentile of the three bands together, so that colours keep their balance (e.g. bands `[3, 2, 1]` of a 13-band
/// EuroSAT MS tile for true colour).
pub fn composite(image: &Image, bands: [usize; 3]) -> Result<Image> {
    if let Some(&b) = bands.iter().find(|&&b| b >= image.n_bands) {
        return Err(Error::Report(format!(
            "composite: band {b} asked of an image with {} bands",
            image.n_bands
        )));
    }
    let all: Vec<f32> = bands.iter().flat_map(|&b| image.band(b).iter().copied()).collect();
    let (lo, hi) = (quantile(&all, 0.02), quantile(&all, 0.98));
    let scale = if hi > lo { 255.0 / (hi - lo) } else { 0.0 };
    Ok(Image {
        n_bands: 3,
        height: image.height,
        width: image.width,
        data: all.iter().map(|&v| ((v - lo) * scale).clamp(0.0, 255.0)).collect(),
    })
}

/// A mask as an RGB image: class `k` in `palette[k]`, values beyond the palette (ignored pixels) black.
pub fn mask_image(mask: &Mask, palette: &[[u8; 3]]) -> Image {
    let n = mask.height * mask.width;
    let mut data = vec![0f32; 3 * n];
    for (px, &v) in mask.data.iter().enumerate() {
        let rgb = palette.get(v as usize).copied().unwrap_or([0, 0, 0]);
        for (b, &c) in rgb.iter().enumerate() {
            data[b * n + px] = c as f32;
        }
    }
    Image {
        n_bands: 3,
        height: mask.height,
        width: mask.width,
        data,
    }
}

/// Images side by side (nearest resampling to the first image's height, at most `max_side` pixels high), 4 px white
/// gaps; bands 0-2 as RGB, one-band images grey.
pub fn side_by_side(images: &[Image], max_side: usize) -> Result<image::RgbImage> {
    let first = images
        .first()
        .ok_or_else(|| Error::Report("side_by_side: no images".into()))?;
    let height = first.height.min(max_side).max(1);
    let widths: Vec<usize> = images
        .iter()
        .map(|im| (im.width * height).div_ceil(im.height.max(1)).max(1))
        .collect();
    let gap = 4;
    let total = widths.iter().sum::<usize>() + gap * (images.len() - 1);
    let mut out = image::RgbImage::from_pixel(total as u32, height as u32, image::Rgb([255, 255, 255]));
    let mut x0 = 0;
    for (im, &w) in images.iter().zip(&widths) {
        let n = im.height * im.width;
        if n == 0 || im.data.len() != im.n_bands * n {
            return Err(Error::Report(format!(
                "side_by_side: not a valid image ({} bands, {} x {})",
                im.n_bands, im.height, im.width
            )));
        }
        for r in 0..height {
            let src_r = (r * im.height / height).min(im.height - 1);
            for c in 0..w {
                let px = src_r * im.width + (c * im.width / w).min(im.width - 1);
                let rgb = std::array::from_fn(|b| im.data[b.min(im.n_bands - 1) * n + px].clamp(0.0, 255.0) as u8);
                out.put_pixel((x0 + c) as u32, r as u32, image::Rgb(rgb));
            }
        }
        x0 += w + gap;
    }
    Ok(out)
}

/// `n` indices per class of `labels` (class indices), evenly spread over each class's items, classes in order.
pub fn per_class(labels: &[usize], n: usize) -> Vec<usize> {
    let n_classes = labels.iter().max().map_or(0, |m| m + 1);
    let mut out = Vec::with_capacity(labels.len().min(n_classes.saturating_mul(n)));
    for class in 0..n_classes {
        let items: Vec<usize> = (0..labels.len()).filter(|&i| labels[i] == class).collect();
        let k = n.min(items.len());
        out.extend((0..k).map(|j| items[j * items.len() / k]));
    }
    out
}

/// `n_per_class` images of each class of a EuroSAT folder ([`per_class`]), read on two threads, with class names.
pub fn class_samples(ds: &Eurosat, n_per_class: usize) -> Result<Vec<(Image, String)>> {
    let labels: Vec<usize> = ds.samples.iter().map(|s| s.class_idx).collect();
    let idx = per_class(&labels, n_per_class);
    let images = ds.load_many(&idx, 2)?;
    Ok(images
        .into_iter()
        .zip(idx)
        .map(|(im, i)| (im, ds.classes[labels[i]].clone()))
        .collect())
}

// ---------------------------------------------------------------------------------------------------------------
// Analyses.

/// Linear-interpolated quantile `q` of the finite values (NaN when none).
fn quantile(values: &[f32], q: f64) -> f32 {
    let mut v: Vec<f32> = values.iter().copied().filter(|x| x.is_finite()).collect();
    v.sort_by(|a, b| a.total_cmp(b));
    sorted_quantile(&v, q)
}

/// [`quantile`] of already sorted finite values.
fn sorted_quantile(v: &[f32], q: f64) -> f32 {
    if v.is_empty() {
        return f32::NAN;
    }
    let pos = q.clamp(0.0, 1.0) * (v.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    v[lo] + (v[hi] - v[lo]) * (pos - lo as f64) as f32
}

/// Per-band statistics over every finite pixel value of `images` (all with the same band count): mean, standard deviation, min,
/// 1st percentile, median, 99th percentile, max. `band_names` may be empty (bands are then numbered).
pub fn band_stats(images: &[Image], band_names: &[&str]) -> Result<DataFrame> {
    let n_bands = images.first().map_or(0, |im| im.n_bands);
    if n_bands == 0 || images.iter().any(|im| im.n_bands != n_bands) {
        return Err(Error::Report(format!(
            "band_stats: needs images with one band count, got {} images with {:?} bands",
            images.len(),
            images
                .iter()
                .map(|im| im.n_bands)
                .collect::<std::collections::BTreeSet<_>>()
        )));
    }
    if !band_names.is_empty() && band_names.len() != n_bands {
        return Err(Error::Report(format!(
            "band_stats: {} band names for {n_bands} bands",
            band_names.len()
        )));
    }
    let mut columns: [Vec<f64>; 7] = Default::default();
    for b in 0..n_bands {
        let mut values: Vec<f32> = images
            .iter()
            .flat_map(|im| im.band(b).iter().copied())
            .filter(|v| v.is_finite())
            .collect();
        values.sort_unstable_by(|a, b| a.total_cmp(b));
        let n = values.len() as f64;
        let mean = values.iter().map(|&v| v as f64).sum::<f64>() / n;
        let var = values.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n;
        let stats = [
            mean,
            var.sqrt(),
            sorted_quantile(&values, 0.0) as f64,
            sorted_quantile(&values, 0.01) as f64,
            sorted_quantile(&values, 0.5) as f64,
            sorted_quantile(&values, 0.99) as f64,
            sorted_quantile(&values, 1.0) as f64,
        ];
        for (col, v) in columns.iter_mut().zip(stats) {
            col.push(v);
        }
    }
    let names: Vec<String> = (0..n_bands)
        .map(|b| band_names.get(b).map_or_else(|| format!("band {b}"), |s| s.to_string()))
        .collect();
    let mut out = vec![Column::new("band".into(), names)];
    for (name, col) in ["mean", "std", "min", "p01", "median", "p99", "max"]
        .iter()
        .zip(columns)
    {
        out.push(Column::new((*name).into(), col));
    }
    Ok(DataFrame::new_infer_height(out)?)
}

/// CACo's change estimate per stored epoch: items, the mixture's means and high-component weight, the P(high) = 0.5
/// threshold(s), the share of items labelled changed, and, where the truth is known, the AUROC of the ratio and the
/// share of truly changed and truly unchanged items labelled changed (in percent).
pub fn caco_epoch_summary(epochs: &[CacoEpoch]) -> Result<DataFrame> {
    if epochs.is_empty() {
        return Err(Error::Report("caco epoch summary: no CACo epochs stored".into()));
    }
    let nan = f64::NAN;
    let (mut row, mut seed, mut epoch, mut n_items) = (vec![], vec![], vec![], vec![]);
    let (mut mean_low, mut mean_high, mut weight_high, mut threshold) = (vec![], vec![], vec![], vec![]);
    let (mut flagged, mut roc, mut changed_flagged, mut unchanged_flagged) = (vec![], vec![], vec![], vec![]);
    for e in epochs {
        let has_truth = e.truly_changed.len() == e.ratios.len() && !e.ratios.is_empty();
        let finite: Vec<(f64, bool)> = e
            .ratios
            .iter()
            .enumerate()
            .filter(|(_, r)| r.is_finite())
            .map(|(i, &r)| (r, has_truth && e.truly_changed[i]))
            .collect();
        row.push(e.row.clone());
        seed.push(e.seed as i64);
        epoch.push(e.epoch as i64);
        n_items.push(finite.len() as i64);
        let gmm = e.gmm.filter(valid_gmm);
        mean_low.push(gmm.map_or(nan, |g| g.means[0]));
        mean_high.push(gmm.map_or(nan, |g| g.means[1]));
        weight_high.push(gmm.map_or(nan, |g| g.weights[1]));
        let (lo, hi) = finite
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &(r, _)| {
                (a.min(r), b.max(r))
            });
        threshold.push(gmm.and_then(|g| thresholds(&g, lo, hi).first().copied()).unwrap_or(nan));
        let is_flagged = |r: f64| gmm.is_some_and(|g| p_high(&g, r) > 0.5);
        let share = |keep: &dyn Fn(bool) -> bool| {
            let sel: Vec<f64> = finite.iter().filter(|(_, t)| keep(*t)).map(|&(r, _)| r).collect();
            if sel.is_empty() || gmm.is_none() {
                nan
            } else {
                100.0 * sel.iter().filter(|&&r| is_flagged(r)).count() as f64 / sel.len() as f64
            }
        };
        flagged.push(share(&|_| true));
        if has_truth {
            let (scores, truth): (Vec<f64>, Vec<bool>) = finite.iter().copied().unzip();
            roc.push(auroc(&scores, &truth));
            changed_flagged.push(share(&|t| t));
            unchanged_flagged.push(share(&|t| !t));
        } else {
            roc.push(nan);
            changed_flagged.push(nan);
            unchanged_flagged.push(nan);
        }
    }
    Ok(DataFrame::new_infer_height(vec![
        Column::new("row".into(), row),
        Column::new("seed".into(), seed),
        Column::new("epoch".into(), epoch),
        Column::new("items".into(), n_items),
        Column::new("mean_low".into(), mean_low),
        Column::new("mean_high".into(), mean_high),
        Column::new("weight_high".into(), weight_high),
        Column::new("threshold".into(), threshold),
        Column::new("labelled_changed_pct".into(), flagged),
        Column::new("auroc_vs_truth".into(), roc),
        Column::new("truly_changed_labelled_pct".into(), changed_flagged),
        Column::new("unchanged_labelled_pct".into(), unchanged_flagged),
    ])?)
}

// ---------------------------------------------------------------------------------------------------------------
// Stored tables.

/// The `reproduce-table` comparison stored under `results`: `tables/main.metrics.toml` if it is one, else the first
/// metrics file that is; `None` when there is none.
pub fn paper_table(results: &Path) -> Result<Option<(PathBuf, PaperTable)>> {
    let mut files = metrics_files(results)?;
    files.sort_by_key(|p| !p.ends_with("main.metrics.toml"));
    Ok(files
        .into_iter()
        .find_map(|p| PaperTable::read_metrics(&p).ok().map(|t| (p, t))))
}

/// [`paper_table`] of [`results_dir`], or `None` with a note on how to make one.
pub fn load_paper_table() -> Result<Option<PaperTable>> {
    let results = results_dir();
    match paper_table(&results)? {
        Some((path, t)) => {
            println!(
                "{}: {} ({} scale, {} rows)",
                path.display(),
                t.title,
                t.scale,
                t.rows.len()
            );
            Ok(Some(t))
        }
        None => {
            println!(
                "skipped: no reproduce-table metrics under {}/tables: run `cargo xtask reproduce-table --scale smoke` \
                 or point {RESULTS_ENV} at a results folder that has them",
                results.display()
            );
            Ok(None)
        }
    }
}

/// The prediction overlays a dense task wrote under `<results>/figures/<table name>/<row>/*.png`: per row folder
/// (sorted) its first `max_per_row` PNGs (sorted).
pub fn overlays(results: &Path, table_name: &str, max_per_row: usize) -> Result<Vec<(String, Vec<PathBuf>)>> {
    let dir = results.join("figures").join(table_name);
    if !dir.is_dir() {
        return Ok(vec![]);
    }
    let sorted = |d: &Path| -> Result<Vec<PathBuf>> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(d)
            .map_err(|e| Error::io(d, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        v.sort();
        Ok(v)
    };
    let mut out = Vec::new();
    for row in sorted(&dir)?.into_iter().filter(|p| p.is_dir()) {
        let pngs: Vec<PathBuf> = sorted(&row)?
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e == "png"))
            .take(max_per_row)
            .collect();
        let name = row
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        out.push((name, pngs));
    }
    Ok(out)
}

/// The EuroSAT RGB folder a paper table's sample and retrieval paths are relative to: its stored root when that
/// exists (absolute, or relative to the repository), else `<data root>/eurosat-rgb`.
pub fn eurosat_root(t: &PaperTable) -> PathBuf {
    let stored = Path::new(&t.eurosat_root);
    [stored.to_path_buf(), repo_root().join(stored)]
        .into_iter()
        .find(|p| !t.eurosat_root.is_empty() && p.is_dir())
        .unwrap_or_else(|| data_root().join("eurosat-rgb"))
}

// ---------------------------------------------------------------------------------------------------------------
// Run folders.

/// Environment variable naming the folder of pre-training runs the notebooks look in (default `<repository>/runs`).
pub const RUNS_ENV: &str = "CACO_RUNS";

/// `$CACO_RUNS`, else `<repository>/runs` (git-ignored: absent on a fresh clone and in CI).
pub fn runs_dir() -> PathBuf {
    env_path(RUNS_ENV).unwrap_or_else(|| repo_root().join("runs"))
}

/// The `backbone.safetensors` of the first finished run (sorted by name) whose folder name starts with `prefix`,
/// among `runs/reproduce/*` (the runs of `reproduce-table`) and then `runs/*`; `None` when there is none.
pub fn find_run_backbone(runs: &Path, prefix: &str) -> Option<PathBuf> {
    [runs.join("reproduce"), runs.to_path_buf()].iter().find_map(|dir| {
        let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
            .ok()?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with(prefix)))
            .map(|p| p.join("backbone.safetensors"))
            .filter(|b| b.is_file())
            .collect();
        found.sort();
        found.into_iter().next()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::paper::GmmParams;

    #[test]
    fn a_run_backbone_is_found_by_prefix_reproduce_runs_first() {
        let dir = tempfile::tempdir().unwrap();
        let runs = dir.path();
        assert_eq!(find_run_backbone(runs, "caco-r18-cpu"), None);
        let subs = [
            "caco-r18-cpu-faithful",
            "reproduce/caco-r18-cpu-s1-bb",
            "reproduce/caco-r18-cpu-s0-aa",
            "reproduce/seco-r18-cpu-s0-cc",
        ];
        for sub in subs {
            std::fs::create_dir_all(runs.join(sub)).unwrap();
        }
        // A run without its backbone (unfinished) does not count.
        assert_eq!(find_run_backbone(runs, "caco-r18-cpu"), None);
        for sub in &subs[..3] {
            std::fs::write(runs.join(sub).join("backbone.safetensors"), b"x").unwrap();
        }
        let found = find_run_backbone(runs, "caco-r18-cpu").unwrap();
        assert!(
            found.ends_with("reproduce/caco-r18-cpu-s0-aa/backbone.safetensors"),
            "{found:?}"
        );
        std::fs::remove_dir_all(runs.join("reproduce")).unwrap();
        let found = find_run_backbone(runs, "caco").unwrap();
        assert!(
            found.ends_with("caco-r18-cpu-faithful/backbone.safetensors"),
            "{found:?}"
        );
        assert_eq!(find_run_backbone(runs, "seco"), None);
    }

    #[test]
    fn base64_matches_rfc_4648_vectors() {
        let cases = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
        ];
        for (plain, encoded) in cases {
            assert_eq!(base64(plain.as_bytes()), encoded);
        }
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }

    #[test]
    fn content_block_is_evcxr_protocol() {
        assert_eq!(
            content_block("text/markdown", "# hi"),
            "EVCXR_BEGIN_CONTENT text/markdown\n# hi\nEVCXR_END_CONTENT\n"
        );
    }

    #[test]
    fn gallery_is_one_html_block_with_escaped_captions() {
        let dir = tempfile::tempdir().unwrap();
        let png = dir.path().join("a.png");
        image::RgbImage::new(2, 2).save(&png).unwrap();
        let item = gallery_item("x<y", &std::fs::read(&png).unwrap());
        assert!(item.contains("<code>x&lt;y</code>") && item.contains("data:image/png;base64,iVBOR"));
        assert!(show_pngs(&[png.clone(), png], dir.path()).is_ok());
    }

    #[test]
    fn band_stats_per_band() {
        let im = Image {
            n_bands: 2,
            height: 1,
            width: 4,
            data: vec![0.0, 1.0, 2.0, 3.0, 10.0, 10.0, 10.0, 10.0],
        };
        let df = band_stats(&[im.clone(), im], &["a", "b"]).unwrap();
        let mean = df.column("mean").unwrap().f64().unwrap();
        assert_eq!(mean.get(0), Some(1.5));
        assert_eq!(mean.get(1), Some(10.0));
        assert_eq!(df.column("max").unwrap().f64().unwrap().get(0), Some(3.0));
        assert_eq!(df.column("std").unwrap().f64().unwrap().get(1), Some(0.0));
        assert!(band_stats(&[], &[]).is_err());
    }


    #[test]
    fn caco_summary_flags_the_high_component() {
        let epoch = CacoEpoch {
            row: "CACo".into(),
            seed: 0,
            epoch: 1,
            ratios: vec![1.0, 1.1, 0.9, 3.0, 3.2],
            truly_changed: vec![false, false, false, true, false],
            gmm: Some(GmmParams {
                weights: [0.6, 0.4],
                means: [1.0, 3.1],
                variances: [0.01, 0.01],
            }),
        };
        let df = caco_epoch_summary(&[epoch]).unwrap();
        let get = |c: &str| df.column(c).unwrap().f64().unwrap().get(0).unwrap();
        assert_eq!(get("labelled_changed_pct"), 40.0);
        assert_eq!(get("truly_changed_labelled_pct"), 100.0);
        assert_eq!(get("unchanged_labelled_pct"), 25.0);
        assert!((get("threshold") - 2.05).abs() < 0.05);
        assert_eq!(get("auroc_vs_truth"), 0.75);
    }

    #[test]
    fn composite_stretches_and_side_by_side_resizes() {
        let im = Image {
            n_bands: 4,
            height: 2,
            width: 2,
            data: (0..16).map(|v| v as f32 * 100.0).collect(),
        };
        let rgb = composite(&im, [3, 2, 1]).unwrap();
        assert_eq!(rgb.n_bands, 3);
        assert!(rgb.data.iter().all(|v| (0.0..=255.0).contains(v)));
        assert!(composite(&im, [4, 0, 0]).is_err());
        let mask = mask_image(
            &Mask {
                height: 2,
                width: 2,
                data: vec![0, 1, 1, 255],
            },
            &[[1, 2, 3], [4, 5, 6]],
        );
        let strip = side_by_side(&[rgb, mask], 8).unwrap();
        assert_eq!((strip.width(), strip.height()), (2 + 4 + 2, 2));
        assert_eq!(strip.get_pixel(6, 0).0, [1, 2, 3]);
        assert_eq!(strip.get_pixel(7, 1).0, [0, 0, 0]);
    }

    #[test]
    fn per_class_spreads_indices() {
        let labels = [0, 0, 0, 0, 1, 1, 2];
        assert_eq!(per_class(&labels, 2), vec![0, 2, 4, 5, 6]);
    }

    #[test]
    fn metrics_files_of_a_missing_folder_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        assert!(metrics_files(dir.path()).unwrap().is_empty());
        assert!(paper_table(dir.path()).unwrap().is_none());
    }
}
