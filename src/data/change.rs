//! Bi-temporal change-detection pairs in the LEVIR-CD layout (Chen & Shi 2020; BIT/ChangeFormer's folders):
//! `root/A/<name>.png` (time 1), `root/B/<name>.png` (time 2), `root/label/<name>.png` (0 = no change, 255 = change)
//! and split lists `root/list/{train,val,test}.txt` of file names. Folder names are configurable (other change sets
//! use e.g. `time1/`, `time2/`). The fake-data generator in this layout is [`crate::data::fake::change`]; the
//! exporter of the simulated `eurosat-seasons` into this layout is [`crate::data::seasons_change`], so one reader
//! serves both.

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
