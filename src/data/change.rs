//! Bi-temporal change-detection pairs in the LEVIR-CD layout (Chen & Shi 2020; BIT/ChangeFormer's folders):
//! `root/A/<name>.png` (time 1), `root/B/<name>.png` (time 2), `root/label/<name>.png` (0 = no change, 255 = change;
//! 0/1 masks are read too) and split lists `root/list/{train,val,test}.txt` of file names. Folder names are
//! configurable (other change sets use e.g. `time1/`, `time2/`; [`LayoutChoice`] is what `--layout`, `--a-dir`, ...
//! ask for). A root `list.txt`, where present, lists every pair of the set (other images are left out). The
//! fake-data generator in this layout is [`crate::data::fake::change`]; the exporter of the simulated
//! `eurosat-seasons` into this layout is [`crate::data::seasons_change`], so one reader serves both.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::dense::Mask;
use super::split::{self, Splits};
use super::Image;
use crate::{Error, Result};

// Moved out of this module in the data-layer split; re-exported at their old paths so that callers keep compiling.
use super::image_io::{load_binary_mask, load_rgb};

/// Folder names of a change dataset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChangeLayout {
    /// Images of the first date.
    pub a_dir: String,
    /// Images of the second date.
    pub b_dir: String,
    /// 0/255 (or 0/1) masks, same file names.
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
                "unknown change layout `{other}` (--layout, or `layout` of a table task): expected levir (A/, B/, \
                 label/) or time1-time2 (time1/, time2/, label/); other folder names: --a-dir, --b-dir, --label-dir"
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

/// The layout a user asked for (`--layout`, `--a-dir`, `--b-dir`, `--label-dir`, or the same keys of a table
/// task); all `None`: detected.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayoutChoice {
    /// `levir` or `time1-time2`.
    pub layout: Option<String>,
    pub a_dir: Option<String>,
    pub b_dir: Option<String>,
    pub label_dir: Option<String>,
}

impl LayoutChoice {
    /// The layout of `root` and how it was chosen (for the table's notes): the named layout with the folders given
    /// replaced; with no name, the detected layout (else LEVIR-CD's) with the folders given replaced.
    pub fn resolve(&self, root: &Path) -> Result<(ChangeLayout, String)> {
        let (mut layout, mut how) = match (&self.layout, ChangeLayout::detect(root)) {
            (Some(name), _) => (ChangeLayout::named(name)?, format!("{name} (--layout)")),
            (None, Some((layout, name))) => (layout, format!("{name} (detected)")),
            (None, None) => (ChangeLayout::default(), "levir (default)".to_string()),
        };
        let mut given = Vec::new();
        for (dir, choice, flag) in [
            (&mut layout.a_dir, &self.a_dir, "--a-dir"),
            (&mut layout.b_dir, &self.b_dir, "--b-dir"),
            (&mut layout.label_dir, &self.label_dir, "--label-dir"),
        ] {
            if let Some(name) = choice {
                if name.is_empty() || name.contains(['/', '\\']) || name == ".." {
                    return Err(Error::Config(format!(
                        "{flag} `{name}`: expected a folder name directly under the dataset folder"
                    )));
                }
                *dir = name.clone();
                given.push(flag);
            }
        }
        if !given.is_empty() {
            how = format!("{} with {}", how, given.join(", "));
        }
        Ok((layout, how))
    }
}

/// The sub-folders of `root`, for messages (`found: before/, after/`).
fn folders_in(root: &Path) -> String {
    let mut dirs: Vec<String> = std::fs::read_dir(root)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_dir())
                .filter_map(|p| Some(format!("{}/", p.file_name()?.to_str()?)))
                .collect()
        })
        .unwrap_or_default();
    dirs.sort();
    if dirs.is_empty() {
        "no folders".into()
    } else {
        dirs.join(", ")
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
            let dataset: String = root
                .file_name()
                .map_or("change dataset".into(), |n| n.to_string_lossy().to_string());
            return Err(super::not_found(&dataset, &root, hint()));
        }
        let a_dir = root.join(&layout.a_dir);
        for dir in [&layout.a_dir, &layout.b_dir, &layout.label_dir] {
            let path = root.join(dir);
            if !path.is_dir() {
                return Err(Error::bad_input(
                    &path,
                    format!(
                        "change dataset folder `{dir}/` missing: the layout expects {} and {} has {}; the two \
                         common layouts are levir (A/, B/, label/) and time1-time2 (time1/, time2/, label/): pass \
                         `--layout levir|time1-time2`, or name the folders with --a-dir, --b-dir and --label-dir",
                        layout.describe(),
                        root.display(),
                        folders_in(&root)
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
            return Err(Error::bad_input(
                &a_dir,
                format!("no .png/.jpg images in `{}/` (the first date's folder)", layout.a_dir),
            ));
        }
        let all_pairs = root.join(PAIR_LIST);
        if all_pairs.is_file() {
            names = listed_pairs(&all_pairs, &names, &layout.a_dir)?;
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

    /// Reads pair `idx`: checks that A, B and the label have one size and that the label holds only 0 and 255 (or
    /// only 0 and 1).
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

/// The list of all pairs at the root of a change set (`list.txt`, one file name a line, with or without
/// extension): when present, only its pairs are used.
pub const PAIR_LIST: &str = "list.txt";

/// The entries of `path` (the root `list.txt`) as file names of `names` (the images of the first date), in list
/// order without repeats; an entry without its image is an error naming the line.
fn listed_pairs(path: &Path, names: &[String], a_dir: &str) -> Result<Vec<String>> {
    let mut listed: Vec<String> = Vec::new();
    for (line_idx, entry) in split::read_list(path)?.iter().enumerate() {
        let entry = entry.rsplit('/').next().unwrap_or(entry);
        let name = names.iter().find(|n| *n == entry || stem(n) == entry).ok_or_else(|| {
            Error::bad_input(
                path,
                format!(
                    "line {}: `{entry}` has no image in `{a_dir}/` (this list names every pair of the set; remove \
                     the line or add the image)",
                    line_idx + 1
                ),
            )
        })?;
        if !listed.contains(name) {
            listed.push(name.clone());
        }
    }
    listed.sort();
    Ok(listed)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::fake::change::{write_fake, FakeChange};
    use crate::data::image_io::{write_binary_mask, write_rgb_png};

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
    fn a_root_list_names_the_pairs_and_0_1_labels_read_as_change() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = spec(8);
        s.layout = ChangeLayout::time1_time2();
        let written = crate::data::fake::change::write_fake_listed(dir.path(), &s, true).unwrap();
        assert!(dir.path().join("time1/unlisted.png").is_file() && !dir.path().join("list").exists());
        let (layout, how) = LayoutChoice::default().resolve(dir.path()).unwrap();
        assert_eq!((layout.clone(), how.as_str()), (ChangeLayout::time1_time2(), "time1-time2 (detected)"));
        let ds = ChangeDataset::open(dir.path(), layout.clone()).unwrap();
        assert_eq!(ds.names, written.iter().map(|p| p.name.clone()).collect::<Vec<_>>());
        for (idx, pair) in written.iter().enumerate() {
            assert_eq!(ds.load(idx).unwrap().label, pair.label, "{}", pair.name);
        }
        assert!(written.iter().any(|p| p.label.data.contains(&1)));

        // Entries without extension are fine; one without its image names the line.
        std::fs::write(dir.path().join(PAIR_LIST), "pair_001\npair_000.png\nghost\n").unwrap();
        let msg = err_text(ChangeDataset::open(dir.path(), layout.clone()));
        assert!(
            msg.contains("list.txt") && msg.contains("line 3: `ghost` has no image in `time1/`"),
            "{msg}"
        );
        std::fs::write(dir.path().join(PAIR_LIST), "pair_001\npair_000.png\n").unwrap();
        assert_eq!(ChangeDataset::open(dir.path(), layout).unwrap().names, ["pair_000.png", "pair_001.png"]);
    }

    #[test]
    fn layout_choices_name_folders_and_wrong_ones_say_what_is_there() {
        let dir = tempfile::tempdir().unwrap();
        for d in ["before", "after", "mask"] {
            std::fs::create_dir_all(dir.path().join(d)).unwrap();
        }
        let (layout, how) = LayoutChoice::default().resolve(dir.path()).unwrap();
        assert_eq!((layout.a_dir.as_str(), how.as_str()), ("A", "levir (default)"));
        let msg = err_text(ChangeDataset::open(dir.path(), layout));
        assert!(
            msg.contains("`A/` missing")
                && msg.contains("after/, before/, mask/")
                && msg.contains("--layout levir|time1-time2")
                && msg.contains("--a-dir")
                && !msg.contains("ChangeLayout {"),
            "{msg}"
        );
        let choice = LayoutChoice {
            a_dir: Some("before".into()),
            b_dir: Some("after".into()),
            label_dir: Some("mask".into()),
            ..Default::default()
        };
        let (layout, how) = choice.resolve(dir.path()).unwrap();
        assert_eq!((layout.b_dir.as_str(), layout.label_dir.as_str()), ("after", "mask"));
        assert_eq!(how, "levir (default) with --a-dir, --b-dir, --label-dir");
        let named = LayoutChoice {
            layout: Some("time1-time2".into()),
            ..Default::default()
        };
        assert_eq!(named.resolve(dir.path()).unwrap().0, ChangeLayout::time1_time2());
        let bad = LayoutChoice {
            layout: Some("whu".into()),
            ..Default::default()
        };
        let msg = err_text(bad.resolve(dir.path()));
        assert!(msg.contains("`whu`") && msg.contains("--layout") && msg.contains("--a-dir"), "{msg}");
        let bad = LayoutChoice {
            a_dir: Some("../A".into()),
            ..Default::default()
        };
        assert!(err_text(bad.resolve(dir.path())).contains("--a-dir `../A`"));
        std::fs::write(dir.path().join("before/notes.txt"), "x").unwrap();
        let msg = err_text(ChangeDataset::open(dir.path(), choice.resolve(dir.path()).unwrap().0));
        assert!(msg.contains("no .png/.jpg images in `before/`"), "{msg}");
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
}
