//! Bi-temporal change-detection pairs in the LEVIR-CD layout (Chen & Shi 2020; BIT/ChangeFormer's folders):
//! `root/A/<name>.png` (time 1), `root/B/<name>.png` (time 2), `root/label/<name>.png` (0 = no change, 255 = change)
//! and split lists `root/list/{train,val,test}.txt` of file names. Folder names are configurable (other change sets
//! use e.g. `time1/`, `time2/`). Also: a fake-data generator in this layout and an exporter that turns the simulated
//! series `eurosat-seasons` (truth masks known) into such a set, so one reader serves both.

use std::path::{Path, PathBuf};

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use super::dense::Mask;
use super::split::{self, Splits, SPLIT_NAMES};
use super::Image;
use crate::{Error, Result};

/// Folder names of a change dataset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChangeLayout {
    /// Images of the first date.
    pub a_dir: String,
    /// Images of the second date.
    pub b_dir: String,
    /// 0/255 masks, same file names.
    pub label_dir: String,
    /// Folder of `train.txt`, `val.txt`, `test.txt`.
    pub list_dir: String,
}

impl Default for ChangeLayout {
    /// LEVIR-CD: `A/`, `B/`, `label/`, `list/`.
    fn default() -> Self {
        ChangeLayout {
            a_dir: "A".into(),
            b_dir: "B".into(),
            label_dir: "label".into(),
            list_dir: "list".into(),
        }
    }
}

impl ChangeLayout {
    /// `time1/`, `time2/`, `label/`, `list/` (CLCD, and re-cuts of WHU-CD and SYSU-CD).
    pub fn time1_time2() -> Self {
        ChangeLayout {
            a_dir: "time1".into(),
            b_dir: "time2".into(),
            ..Default::default()
        }
    }

    /// The layout by name: `levir` (A/, B/) or `time1-time2`.
    pub fn named(name: &str) -> Result<Self> {
        match name {
            "levir" => Ok(ChangeLayout::default()),
            "time1-time2" => Ok(ChangeLayout::time1_time2()),
            other => Err(Error::Config(format!(
                "unknown change layout `{other}`: levir (A/, B/, label/) or time1-time2 (time1/, time2/, label/)"
            ))),
        }
    }

    /// The common layout `root` is in, with its name: LEVIR-CD's `A/ B/ label/` or `time1/ time2/ label/`;
    /// `None` when neither is complete.
    pub fn detect(root: &Path) -> Option<(ChangeLayout, &'static str)> {
        [(ChangeLayout::default(), "levir"), (ChangeLayout::time1_time2(), "time1-time2")]
            .into_iter()
            .find(|(l, _)| [&l.a_dir, &l.b_dir, &l.label_dir].iter().all(|d| root.join(d).is_dir()))
    }

    fn describe(&self) -> String {
        format!("{}/, {}/, {}/", self.a_dir, self.b_dir, self.label_dir)
    }
}

/// A scanned change dataset: the file names present in all three folders.
#[derive(Debug, Clone)]
pub struct ChangeDataset {
    pub root: PathBuf,
    pub layout: ChangeLayout,
    /// File names (e.g. `test_2_0000_0000.png`), sorted.
    pub names: Vec<String>,
}

/// One pair: the two dates as RGB images (0-255) and the change mask (0/1).
#[derive(Debug, Clone)]
pub struct ChangePair {
    pub name: String,
    pub a: Image,
    pub b: Image,
    pub label: Mask,
}

const IMAGE_EXTENSIONS: [&str; 3] = ["png", "jpg", "jpeg"];

fn hint() -> String {
    format!(
        "LEVIR-CD: https://justchenhao.github.io/LEVIR/ (A/, B/, label/ and list/ as in BIT_CD's 256x256 cut); \
         the simulated set: `cargo xtask eval change-detection --dataset eurosat-seasons-change` exports it from \
         derived/eurosat-seasons; point --data-dir or {} at the parent folder",
        super::DATA_ENV
    )
}

impl ChangeDataset {
    /// Scans `root`. Errors: the root or a folder missing, no images, or a file of `A` without its `B` image or
    /// label (named).
    pub fn open(root: impl AsRef<Path>, layout: ChangeLayout) -> Result<Self> {
        let root = root.as_ref().to_path_buf();
        if !root.is_dir() {
            return Err(Error::DatasetNotFound {
                dataset: root
                    .file_name()
                    .map_or("change dataset".into(), |n| n.to_string_lossy().to_string()),
                root,
                hint: hint(),
            });
        }
        let a_dir = root.join(&layout.a_dir);
        for dir in [&layout.a_dir, &layout.b_dir, &layout.label_dir] {
            let path = root.join(dir);
            if !path.is_dir() {
                return Err(Error::bad_input(
                    &path,
                    format!(
                        "change dataset folder `{dir}/` missing: the layout expects {}; the two common layouts are \
                         levir (A/, B/, label/) and time1-time2 (time1/, time2/, label/)",
                        layout.describe()
                    ),
                ));
            }
        }
        let mut names: Vec<String> = std::fs::read_dir(&a_dir)
            .map_err(|e| Error::io(&a_dir, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file() && has_extension(p, &IMAGE_EXTENSIONS))
            .filter_map(|p| Some(p.file_name()?.to_str()?.to_string()))
            .collect();
        names.sort();
        if names.is_empty() {
            return Err(Error::bad_input(&a_dir, "no .png/.jpg images"));
        }
        for name in &names {
            for dir in [&layout.b_dir, &layout.label_dir] {
                let path = root.join(dir).join(name);
                if !path.is_file() {
                    return Err(Error::bad_input(
                        &path,
                        format!("missing: `{}/{name}` has no counterpart in `{dir}/`", layout.a_dir),
                    ));
                }
            }
        }
        Ok(ChangeDataset { root, layout, names })
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// The default folder of the split lists, `root/<list_dir>`.
    pub fn list_dir(&self) -> PathBuf {
        self.root.join(&self.layout.list_dir)
    }

    /// Indices of the entries of `split_dir/<split>.txt` (file names, with or without extension). An empty list or
    /// an entry that is not a pair of the dataset is an error naming the list (and the line).
    pub fn split(&self, split_dir: &Path, split: &str) -> Result<Vec<usize>> {
        let path = split_dir.join(format!("{split}.txt"));
        let entries = split::read_list(&path)?;
        entries
            .iter()
            .enumerate()
            .map(|(line_idx, entry)| {
                let entry = entry.rsplit('/').next().unwrap_or(entry);
                self.names
                    .iter()
                    .position(|n| n == entry || stem(n) == entry)
                    .ok_or_else(|| {
                        Error::bad_input(
                            &path,
                            format!(
                                "line {}: `{entry}` is not a pair of {}",
                                line_idx + 1,
                                self.root.display()
                            ),
                        )
                    })
            })
            .collect()
    }

    /// Reads pair `idx`: checks that A, B and the label have one size and that the label holds only 0 and 255.
    pub fn load(&self, idx: usize) -> Result<ChangePair> {
        let name = &self.names[idx];
        let path = |dir: &str| self.root.join(dir).join(name);
        let a = load_rgb(&path(&self.layout.a_dir))?;
        let b = load_rgb(&path(&self.layout.b_dir))?;
        let label_path = path(&self.layout.label_dir);
        let label = load_binary_mask(&label_path)?;
        for (what, p, h, w) in [
            (&self.layout.b_dir, path(&self.layout.b_dir), b.height, b.width),
            (&self.layout.label_dir, label_path, label.height, label.width),
        ] {
            if (h, w) != (a.height, a.width) {
                return Err(Error::bad_input(
                    p,
                    format!(
                        "size mismatch: {w}x{h} in `{what}/`, {}x{} in `{}/`",
                        a.width, a.height, self.layout.a_dir
                    ),
                ));
            }
        }
        Ok(ChangePair {
            name: name.clone(),
            a,
            b,
            label,
        })
    }
}

/// Split lists from BIT-style crop names (`train_36_0512_0512.png`, `val_...`, `test_...`), as in
/// levir-cd-samples; `None` when some name carries none of these prefixes, or train or both val and test would be
/// empty.
pub fn splits_from_name_prefixes(names: &[String]) -> Option<Splits> {
    let mut splits = Splits {
        train: vec![],
        val: vec![],
        test: vec![],
    };
    for name in names {
        let list = match name.split('_').next()? {
            "train" => &mut splits.train,
            "val" => &mut splits.val,
            "test" => &mut splits.test,
            _ => return None,
        };
        list.push(name.clone());
    }
    (!splits.train.is_empty() && !(splits.val.is_empty() && splits.test.is_empty())).then_some(splits)
}

fn stem(name: &str) -> &str {
    name.rsplit_once('.').map_or(name, |(s, _)| s)
}

fn has_extension(path: &Path, extensions: &[&str]) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| extensions.iter().any(|x| x.eq_ignore_ascii_case(e)))
}

fn decode(path: &Path) -> Result<image::DynamicImage> {
    image::ImageReader::open(path)
        .map_err(|e| Error::io(path, e))?
        .with_guessed_format()
        .map_err(|e| Error::io(path, e))?
        .decode()
        .map_err(|e| Error::bad_input(path, format!("cannot decode image: {e}")))
}

/// Reads an 8-bit RGB PNG or JPEG into a band-major image (0-255). Palette PNGs are expanded; other band counts
/// (grey, RGBA) are an error naming the file.
pub fn load_rgb(path: &Path) -> Result<Image> {
    let decoded = decode(path)?;
    let n_bands = decoded.color().channel_count() as usize;
    if n_bands != 3 {
        return Err(Error::bad_input(
            path,
            format!("expected 3 bands (RGB), found {n_bands} ({:?})", decoded.color()),
        ));
    }
    let rgb = decoded.into_rgb8();
    Ok(Image {
        n_bands: 3,
        height: rgb.height() as usize,
        width: rgb.width() as usize,
        data: super::eurosat::interleaved_to_planar(rgb.as_raw(), 3),
    })
}

/// Reads a 0/255 change mask (grey, or RGB with equal channels) as 0/1. Any other value is an error naming the file,
/// the value, where it first occurs and how many pixels have it.
pub fn load_binary_mask(path: &Path) -> Result<Mask> {
    let decoded = decode(path)?;
    let rgb = decoded.to_rgb8();
    let (width, height) = (rgb.width() as usize, rgb.height() as usize);
    let mut data = Vec::with_capacity(width * height);
    let mut bad: Option<(usize, [u8; 3])> = None;
    let mut n_bad = 0usize;
    for (px, p) in rgb.pixels().enumerate() {
        let v = match p.0 {
            [0, 0, 0] => 0,
            [255, 255, 255] => 1,
            other => {
                n_bad += 1;
                bad.get_or_insert((px, other));
                0
            }
        };
        data.push(v);
    }
    if let Some((px, value)) = bad {
        let shown = if value[0] == value[1] && value[1] == value[2] {
            value[0].to_string()
        } else {
            format!("RGB {value:?}")
        };
        return Err(Error::bad_input(
            path,
            format!(
                "change mask values must be 0 or 255, found {shown} at row {}, column {} ({n_bad} such pixels)",
                px / width,
                px % width
            ),
        ));
    }
    Ok(Mask { height, width, data })
}

/// Writes a band-major 3-band image (0-255) as an RGB PNG.
pub fn write_rgb_png(path: &Path, image: &Image) -> Result<()> {
    let n = image.height * image.width;
    let mut raw = vec![0u8; 3 * n];
    for b in 0..3 {
        for (px, &v) in image.band(b).iter().enumerate() {
            raw[3 * px + b] = v.clamp(0.0, 255.0).round() as u8;
        }
    }
    image::RgbImage::from_raw(image.width as u32, image.height as u32, raw)
        .ok_or_else(|| Error::bad_input(path, "image buffer of the wrong size"))?
        .save(path)
        .map_err(|e| Error::bad_input(path, format!("cannot write PNG: {e}")))
}

/// Writes a 0/1 mask as a 0/255 grey PNG.
pub fn write_binary_mask(path: &Path, mask: &Mask) -> Result<()> {
    let raw: Vec<u8> = mask.data.iter().map(|&v| if v != 0 { 255 } else { 0 }).collect();
    image::GrayImage::from_raw(mask.width as u32, mask.height as u32, raw)
        .ok_or_else(|| Error::bad_input(path, "mask buffer of the wrong size"))?
        .save(path)
        .map_err(|e| Error::bad_input(path, format!("cannot write PNG: {e}")))
}

/// What [`write_fake`] generates.
#[derive(Debug, Clone)]
pub struct FakeChange {
    pub layout: ChangeLayout,
    /// Pairs per split (train, val, test).
    pub n_pairs: [usize; 3],
    pub height: usize,
    pub width: usize,
    pub seed: u64,
}

/// Writes a tiny change set in the real layout: A is a noisy texture, B is A re-lit with one or two rectangles
/// replaced by a bright, distinct patch (marked 255 in the label); the first test pair has no change. Returns the
/// pairs as generated (0/1 labels).
pub fn write_fake(root: &Path, spec: &FakeChange) -> Result<Vec<ChangePair>> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(spec.seed);
    let l = &spec.layout;
    for dir in [&l.a_dir, &l.b_dir, &l.label_dir, &l.list_dir] {
        let path = root.join(dir);
        std::fs::create_dir_all(&path).map_err(|e| Error::io(&path, e))?;
    }
    let (h, w) = (spec.height, spec.width);
    let mut pairs = Vec::new();
    let mut splits = Splits {
        train: vec![],
        val: vec![],
        test: vec![],
    };
    for (split_idx, &n) in spec.n_pairs.iter().enumerate() {
        for i in 0..n {
            let name = format!("{}_{i:03}.png", SPLIT_NAMES[split_idx]);
            let base: [f32; 3] = std::array::from_fn(|_| rng.random_range(40.0..120.0));
            let a_data: Vec<f32> = (0..3)
                .flat_map(|b| (0..h * w).map(move |px| (b, px)))
                .map(|(b, px)| base[b] + 20.0 * ((px % w) as f32 / w as f32) + rng.random_range(-10.0..10.0))
                .collect();
            let a = Image {
                n_bands: 3,
                height: h,
                width: w,
                data: a_data,
            };
            let gain = rng.random_range(0.9..1.1);
            let mut b = Image {
                data: a
                    .data
                    .iter()
                    .map(|v| (v * gain + rng.random_range(-4.0..4.0)).clamp(0.0, 255.0))
                    .collect(),
                ..a.clone()
            };
            let mut label = Mask {
                height: h,
                width: w,
                data: vec![0; h * w],
            };
            let n_changes = if split_idx == 2 && i == 0 {
                0
            } else {
                rng.random_range(1..=2)
            };
            for _ in 0..n_changes {
                let (rh, rw) = (
                    rng.random_range(h / 5..=h / 2).max(1),
                    rng.random_range(w / 5..=w / 2).max(1),
                );
                let (top, left) = (rng.random_range(0..=h - rh), rng.random_range(0..=w - rw));
                let colour = [230.0, 220.0, rng.random_range(150.0..250.0)];
                for r in top..top + rh {
                    for c in left..left + rw {
                        label.data[r * w + c] = 1;
                        for (band, &v) in colour.iter().enumerate() {
                            b.data[band * h * w + r * w + c] = v + rng.random_range(-5.0..5.0);
                        }
                    }
                }
            }
            write_rgb_png(&root.join(&l.a_dir).join(&name), &a)?;
            write_rgb_png(&root.join(&l.b_dir).join(&name), &b)?;
            write_binary_mask(&root.join(&l.label_dir).join(&name), &label)?;
            let list = match split_idx {
                0 => &mut splits.train,
                1 => &mut splits.val,
                _ => &mut splits.test,
            };
            list.push(name.clone());
            // What a reader gets back: PNG is lossless, values rounded to u8.
            let round = |img: Image| Image {
                data: img.data.iter().map(|v| v.clamp(0.0, 255.0).round()).collect(),
                ..img
            };
            pairs.push(ChangePair {
                name,
                a: round(a),
                b: round(b),
                label,
            });
        }
    }
    // A split without pairs gets no list (CLCD's public lists stop at train and val).
    split::write(&root.join(&l.list_dir), &splits)?;
    Ok(pairs)
}

/// How [`export_seasons`] turns eurosat-seasons into change pairs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SeasonsExport {
    /// Locations to export (the first ones); `None`: all.
    pub n_locations: Option<usize>,
    pub train_fraction: f64,
    pub val_fraction: f64,
    /// Seed of the date choice and of the split.
    pub seed: u64,
}

impl Default for SeasonsExport {
    fn default() -> Self {
        SeasonsExport {
            n_locations: None,
            train_fraction: 0.6,
            val_fraction: 0.2,
            seed: 42,
        }
    }
}

/// Whether `out` already holds an export of `series_root` with `config`.
pub fn seasons_export_is_built(out: &Path, config: &SeasonsExport) -> bool {
    let Ok(text) = std::fs::read_to_string(out.join("export.toml")) else {
        return false;
    };
    let body: String = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect();
    toml::from_str::<SeasonsExport>(&body).is_ok_and(|c| &c == config) && out.join("list/test.txt").is_file()
}

/// Exports the simulated series `eurosat-seasons` (CACo layout, `<location>/change_mask.png`) as a LEVIR-CD-layout
/// change set under `out`: for each location, a seeded older-era date as `A/<location>.png`, a seeded recent-era
/// date as `B/<location>.png` and the truth mask as `label/<location>.png`; a seeded split of the locations into
/// `list/{train,val,test}.txt`. Writes into `<out>.partial` and renames at the end. Returns the number of pairs.
pub fn export_seasons(series_root: &Path, out: &Path, config: &SeasonsExport) -> Result<usize> {
    use super::timeseries::{Layout, TimeSeries, TimeSeriesOptions, RGB_BANDS};
    if !(config.train_fraction > 0.0 && config.val_fraction >= 0.0 && config.train_fraction + config.val_fraction < 1.0)
    {
        return Err(Error::Config(format!(
            "seasons export: need 0 < train, 0 <= val, train + val < 1; got {} and {}",
            config.train_fraction, config.val_fraction
        )));
    }
    let series = TimeSeries::open(series_root, TimeSeriesOptions::new(Layout::Caco, &RGB_BANDS))?;
    let n = config
        .n_locations
        .unwrap_or(series.locations.len())
        .min(series.locations.len());
    let partial = PathBuf::from(format!("{}.partial", out.display()));
    if partial.exists() {
        std::fs::remove_dir_all(&partial).map_err(|e| Error::io(&partial, e))?;
    }
    let layout = ChangeLayout::default();
    for dir in [&layout.a_dir, &layout.b_dir, &layout.label_dir] {
        let path = partial.join(dir);
        std::fs::create_dir_all(&path).map_err(|e| Error::io(&path, e))?;
    }
    let mut rng = rand::rngs::StdRng::seed_from_u64(config.seed);
    let per_era = series.options.dates_per_era;
    let mut names = Vec::with_capacity(n);
    for location in &series.locations[..n] {
        let products = &location.products;
        let older = &products[rng.random_range(0..per_era)];
        let recent = &products[products.len() - per_era + rng.random_range(0..per_era)];
        let name = format!("{}.png", location.id);
        write_rgb_png(&partial.join(&layout.a_dir).join(&name), &series.load(older)?)?;
        write_rgb_png(&partial.join(&layout.b_dir).join(&name), &series.load(recent)?)?;
        let mask_path = location.dir.join("change_mask.png");
        if !mask_path.is_file() {
            return Err(Error::bad_input(
                &mask_path,
                "missing change mask (is this eurosat-seasons?)",
            ));
        }
        write_binary_mask(
            &partial.join(&layout.label_dir).join(&name),
            &load_binary_mask(&mask_path)?,
        )?;
        names.push(name);
    }
    names.shuffle(&mut rng);
    let n_train = (n as f64 * config.train_fraction).round() as usize;
    let n_val = ((n as f64 * (config.train_fraction + config.val_fraction)).round() as usize).saturating_sub(n_train);
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    let splits = Splits {
        train: sorted(names[..n_train].to_vec()),
        val: sorted(names[n_train..n_train + n_val].to_vec()),
        test: sorted(names[n_train + n_val..].to_vec()),
    };
    split::write(&partial.join(&layout.list_dir), &splits)?;
    let meta = format!(
        "# eurosat-seasons-change: change pairs exported by caco from the SIMULATED series {} (not real data).\n\
         # A = a seeded older-era date, B = a seeded recent-era date, label = the location's change_mask.png.\n{}",
        series_root.display(),
        toml::to_string(config).expect("config serialises")
    );
    std::fs::write(partial.join("export.toml"), meta).map_err(|e| Error::io(&partial, e))?;
    if out.exists() {
        std::fs::remove_dir_all(out).map_err(|e| Error::io(out, e))?;
    }
    std::fs::rename(&partial, out).map_err(|e| Error::io(out, e))?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(seed: u64) -> FakeChange {
        FakeChange {
            layout: ChangeLayout::default(),
            n_pairs: [2, 1, 2],
            height: 21,
            width: 27,
            seed,
        }
    }

    fn err_text<T: std::fmt::Debug>(r: Result<T>) -> String {
        r.expect_err("expected an error").to_string()
    }

    #[test]
    fn fake_pairs_round_trip_through_the_reader_with_their_splits() {
        let dir = tempfile::tempdir().unwrap();
        let written = write_fake(dir.path(), &spec(1)).unwrap();
        let ds = ChangeDataset::open(dir.path(), ChangeLayout::default()).unwrap();
        assert_eq!(ds.len(), 5);
        for pair in &written {
            let idx = ds.names.iter().position(|n| n == &pair.name).unwrap();
            let back = ds.load(idx).unwrap();
            assert_eq!((back.a.height, back.a.width), (21, 27));
            assert_eq!(back.a, pair.a, "{}", pair.name);
            assert_eq!(back.b, pair.b, "{}", pair.name);
            assert_eq!(back.label, pair.label, "{}", pair.name);
        }
        // The first test pair has no change, the others do.
        assert!(written[3].label.data.iter().all(|&v| v == 0));
        assert!(written[0].label.data.contains(&1));
        let test = ds.split(&ds.list_dir(), "test").unwrap();
        assert_eq!(
            test.iter().map(|&i| ds.names[i].as_str()).collect::<Vec<_>>(),
            vec!["test_000.png", "test_001.png"]
        );
        assert_eq!(ds.split(&ds.list_dir(), "train").unwrap().len(), 2);
    }

    #[test]
    fn configurable_folder_names() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = spec(2);
        s.layout = ChangeLayout::time1_time2();
        write_fake(dir.path(), &s).unwrap();
        assert!(dir.path().join("time1/train_000.png").is_file());
        let ds = ChangeDataset::open(dir.path(), ChangeLayout::time1_time2()).unwrap();
        assert_eq!(ds.len(), 5);
        let msg = err_text(ChangeDataset::open(dir.path(), ChangeLayout::default()));
        assert!(msg.contains("`A/` missing"), "{msg}");
    }

    #[test]
    fn size_mismatch_between_a_b_and_label_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        write_fake(dir.path(), &spec(3)).unwrap();
        let small = Image {
            n_bands: 3,
            height: 20,
            width: 27,
            data: vec![0.0; 3 * 20 * 27],
        };
        write_rgb_png(&dir.path().join("B/train_001.png"), &small).unwrap();
        let label = Mask {
            height: 21,
            width: 26,
            data: vec![0; 21 * 26],
        };
        write_binary_mask(&dir.path().join("label/val_000.png"), &label).unwrap();
        let ds = ChangeDataset::open(dir.path(), ChangeLayout::default()).unwrap();
        let msg = err_text(ds.load(ds.names.iter().position(|n| n == "train_001.png").unwrap()));
        assert!(
            msg.contains("B/train_001.png") && msg.contains("size mismatch: 27x20 in `B/`, 27x21 in `A/`"),
            "{msg}"
        );
        let msg = err_text(ds.load(ds.names.iter().position(|n| n == "val_000.png").unwrap()));
        assert!(
            msg.contains("label/val_000.png") && msg.contains("26x21 in `label/`"),
            "{msg}"
        );
    }

    #[test]
    fn mask_values_other_than_0_and_255_are_rejected_with_value_and_place() {
        let dir = tempfile::tempdir().unwrap();
        write_fake(dir.path(), &spec(4)).unwrap();
        let path = dir.path().join("label/test_001.png");
        let mut grey = image::GrayImage::new(27, 21);
        grey.put_pixel(5, 2, image::Luma([1]));
        grey.put_pixel(6, 2, image::Luma([1]));
        grey.save(&path).unwrap();
        let msg = err_text(load_binary_mask(&path));
        assert!(
            msg.contains("test_001.png") && msg.contains("found 1 at row 2, column 5 (2 such pixels)"),
            "{msg}"
        );
        let mut rgb = image::RgbImage::new(4, 4);
        rgb.put_pixel(3, 3, image::Rgb([255, 0, 0]));
        rgb.save(&path).unwrap();
        assert!(err_text(load_binary_mask(&path)).contains("RGB [255, 0, 0]"));
        // An RGB mask with equal channels is fine.
        let mut rgb = image::RgbImage::new(2, 1);
        rgb.put_pixel(1, 0, image::Rgb([255, 255, 255]));
        rgb.save(&path).unwrap();
        assert_eq!(load_binary_mask(&path).unwrap().data, vec![0, 1]);
    }

    #[test]
    fn missing_counterpart_empty_split_and_unknown_entries_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        write_fake(dir.path(), &spec(5)).unwrap();
        let ds = ChangeDataset::open(dir.path(), ChangeLayout::default()).unwrap();
        std::fs::write(dir.path().join("list/val.txt"), "\n# nothing\n").unwrap();
        let msg = err_text(ds.split(&ds.list_dir(), "val"));
        assert!(msg.contains("val.txt") && msg.contains("empty"), "{msg}");
        std::fs::write(dir.path().join("list/val.txt"), "train_000\nnope.png\n").unwrap();
        let msg = err_text(ds.split(&ds.list_dir(), "val"));
        assert!(msg.contains("line 2") && msg.contains("nope.png"), "{msg}");

        std::fs::remove_file(dir.path().join("label/train_000.png")).unwrap();
        let msg = err_text(ChangeDataset::open(dir.path(), ChangeLayout::default()));
        assert!(
            msg.contains("label/train_000.png") && msg.contains("no counterpart"),
            "{msg}"
        );

        let msg = err_text(ChangeDataset::open(dir.path().join("absent"), ChangeLayout::default()));
        assert!(msg.contains("not found") && msg.contains("LEVIR"), "{msg}");

        let rgba = dir.path().join("A/train_001.png");
        image::RgbaImage::new(27, 21).save(&rgba).unwrap();
        let msg = err_text(load_rgb(&rgba));
        assert!(
            msg.contains("train_001.png") && msg.contains("expected 3 bands"),
            "{msg}"
        );
    }

    #[test]
    fn splits_come_from_bit_crop_names() {
        let names: Vec<String> = ["test_2_0000_0000.png", "train_36_0512_0512.png", "val_27_0000_0256.png"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let s = splits_from_name_prefixes(&names).unwrap();
        assert_eq!((s.train.len(), s.val.len(), s.test.len()), (1, 1, 1));
        assert_eq!(s.test[0], "test_2_0000_0000.png");
        // Train and one of val / test are enough (CLCD-like sets stop at val); train alone or no train is not.
        let two = splits_from_name_prefixes(&names[..2]).unwrap();
        assert_eq!((two.train.len(), two.val.len(), two.test.len()), (1, 0, 1));
        assert!(splits_from_name_prefixes(&names[1..2]).is_none());
        assert!(splits_from_name_prefixes(&[names[0].clone(), names[2].clone()]).is_none());
        assert!(splits_from_name_prefixes(&["000001.png".to_string()]).is_none());
    }

    #[cfg(feature = "gdal")]
    #[test]
    fn seasons_export_pairs_an_older_and_a_recent_date_with_the_truth_mask() {
        use crate::data::timeseries::{Layout, TimeSeries, TimeSeriesOptions, RGB_BANDS};
        let dir = tempfile::tempdir().unwrap();
        let series_root = dir.path().join("series");
        crate::data::fake::write_timeseries(
            &series_root,
            &crate::data::fake::FakeTimeSeries {
                layout: Layout::Caco,
                n_locations: 5,
                dates_per_era: 5,
                bands: RGB_BANDS.iter().map(|b| b.to_string()).collect(),
                size: 12,
                seed: 1,
            },
        )
        .unwrap();
        let out = dir.path().join("export");
        let config = SeasonsExport::default();
        // The fake series has no truth masks yet: the exporter names the missing one.
        let msg = err_text(export_seasons(&series_root, &out, &config));
        assert!(
            msg.contains("000000/change_mask.png") && msg.contains("missing change mask"),
            "{msg}"
        );
        // Location k: k rows changed.
        for k in 0..5 {
            let mut data = vec![0u8; 144];
            data[..12 * k].fill(1);
            let mask = Mask {
                height: 12,
                width: 12,
                data,
            };
            write_binary_mask(&series_root.join(format!("{k:06}/change_mask.png")), &mask).unwrap();
        }
        assert_eq!(export_seasons(&series_root, &out, &config).unwrap(), 5);
        assert!(seasons_export_is_built(&out, &config));
        assert!(!seasons_export_is_built(
            &out,
            &SeasonsExport {
                seed: 7,
                ..config.clone()
            }
        ));
        let ds = ChangeDataset::open(&out, ChangeLayout::default()).unwrap();
        assert_eq!(ds.len(), 5);
        let series = TimeSeries::open(&series_root, TimeSeriesOptions::new(Layout::Caco, &RGB_BANDS)).unwrap();
        let mut n_split = 0;
        for split in SPLIT_NAMES {
            n_split += ds.split(&ds.list_dir(), split).unwrap().len();
        }
        assert_eq!(n_split, 5);
        for (k, location) in series.locations.iter().enumerate() {
            let pair = ds.load(k).unwrap();
            assert_eq!(pair.name, format!("{}.png", location.id));
            assert_eq!(pair.label.data.iter().filter(|&&v| v == 1).count(), 12 * k);
            // A is one of the five older dates, B one of the five recent ones.
            let dates: Vec<Image> = location.products.iter().map(|p| series.load(p).unwrap()).collect();
            let a_idx = dates
                .iter()
                .position(|d| d == &pair.a)
                .expect("A is a date of the series");
            let b_idx = dates
                .iter()
                .position(|d| d == &pair.b)
                .expect("B is a date of the series");
            assert!(a_idx < 5 && b_idx >= 5, "{a_idx} {b_idx}");
        }
    }
}
