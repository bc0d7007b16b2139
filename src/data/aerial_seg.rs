//! "Semantic segmentation of aerial imagery" (Dubai, Humans in the Loop): `root/Tile N/images/image_part_00k.jpg`
//! with colour masks `root/Tile N/masks/image_part_00k.png` (RGB or palette PNG), images of varying size grouped in
//! 8 big tiles. Mask colours follow the table in the dataset's SOURCE.md (its `classes.json` lists other colours, a
//! known quirk); black and "Unlabeled" grey map to [`IGNORE_INDEX`], any other colour is an error. There is no
//! official split: a seeded split by big tile is written as list files once. Fake data: [`super::fake::aerial_seg`].

use std::path::{Path, PathBuf};

use super::dense::Mask;
use super::split::{self, Splits};
use super::Image;
use crate::{Error, Result};

// The fake-data generator lives in `data::fake::aerial_seg`; re-exported at its old path.

/// Class names and mask colours (SOURCE.md), in class-index order.
pub const AERIAL_CLASSES: [(&str, [u8; 3]); 5] = [
    ("Building", [60, 16, 152]),
    ("Land", [132, 41, 246]),
    ("Road", [110, 193, 228]),
    ("Vegetation", [254, 221, 58]),
    ("Water", [226, 169, 41]),
];

/// Mask colours that carry no label: black (outside the palette) and "Unlabeled" grey.
pub const IGNORED_COLOURS: [[u8; 3]; 2] = [[0, 0, 0], [155, 155, 155]];

/// Label of ignored pixels (the `ignore_index` of the loss and the metrics).
pub const IGNORE_INDEX: u8 = 255;

/// Dataset folder name under the data root.
pub const DATASET_DIR: &str = "dubai-aerial-seg";

pub fn class_names() -> Vec<String> {
    AERIAL_CLASSES.iter().map(|(n, _)| n.to_string()).collect()
}

/// One image: its path relative to the root (`Tile 1/images/image_part_001.jpg`) and its big tile (`Tile 1`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AerialSample {
    pub rel_path: String,
    pub big_tile: String,
}

impl AerialSample {
    /// `Tile 1/masks/image_part_001.png`.
    pub fn mask_rel_path(&self) -> String {
        let file = self.rel_path.rsplit('/').next().unwrap_or_default();
        let stem = file.rsplit_once('.').map_or(file, |(s, _)| s);
        format!("{}/masks/{stem}.png", self.big_tile)
    }
}

/// The scanned dataset.
#[derive(Debug, Clone)]
pub struct AerialSeg {
    pub root: PathBuf,
    pub samples: Vec<AerialSample>,
}

/// `Tile 10` after `Tile 9`: names compared by their trailing number, then as text.
fn natural_key(name: &str) -> (String, u64) {
    let digits: String = name.chars().rev().take_while(|c| c.is_ascii_digit()).collect();
    let number = digits.chars().rev().collect::<String>().parse().unwrap_or(0);
    (name[..name.len() - digits.len()].to_string(), number)
}

impl AerialSeg {
    /// Scans `root/*/images/*.jpg`; every image needs its mask. Errors name the folder searched, a missing mask or
    /// a root without big tiles.
    pub fn open(root: impl AsRef<Path>) -> Result<Self> {
        let root = root.as_ref().to_path_buf();
        if !root.is_dir() {
            return Err(super::not_found(
                DATASET_DIR,
                &root,
                "Kaggle \"Semantic segmentation of aerial imagery\" (Humans in the Loop): unzip it so that \
                 <folder>/Tile 1/images/image_part_001.jpg exists; point --data-dir or CACO_DATA at the parent",
            ));
        }
        let mut big_tiles: Vec<String> = std::fs::read_dir(&root)
            .map_err(|e| Error::io(&root, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.join("images").is_dir())
            .filter_map(|p| Some(p.file_name()?.to_str()?.to_string()))
            .collect();
        big_tiles.sort_by_key(|n| natural_key(n));
        if big_tiles.is_empty() {
            return Err(Error::bad_input(
                &root,
                "no big-tile folders with images/ (expected e.g. `Tile 1/images/`)",
            ));
        }
        let mut samples = Vec::new();
        for big_tile in &big_tiles {
            let dir = root.join(big_tile).join("images");
            let mut files: Vec<String> = std::fs::read_dir(&dir)
                .map_err(|e| Error::io(&dir, e))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    p.extension()
                        .and_then(|e| e.to_str())
                        .is_some_and(|e| ["jpg", "jpeg", "png"].iter().any(|x| x.eq_ignore_ascii_case(e)))
                })
                .filter_map(|p| Some(p.file_name()?.to_str()?.to_string()))
                .collect();
            files.sort_by_key(|f| natural_key(f.rsplit_once('.').map_or(f.as_str(), |(s, _)| s)));
            if files.is_empty() {
                return Err(Error::bad_input(&dir, "no images"));
            }
            for file in files {
                let sample = AerialSample {
                    rel_path: format!("{big_tile}/images/{file}"),
                    big_tile: big_tile.clone(),
                };
                let mask = root.join(sample.mask_rel_path());
                if !mask.is_file() {
                    return Err(Error::bad_input(&mask, format!("missing mask of {}", sample.rel_path)));
                }
                samples.push(sample);
            }
        }
        Ok(AerialSeg { root, samples })
    }

    pub fn len(&self) -> usize {
        self.samples.len()
    }

    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// Reads image `idx` (RGB, 0-255) and its mask as class indices ([`IGNORE_INDEX`] for unlabelled pixels).
    pub fn load(&self, idx: usize) -> Result<(Image, Mask)> {
        let sample = &self.samples[idx];
        let image_path = self.root.join(&sample.rel_path);
        let image = super::image_io::load_rgb(&image_path)?;
        let mask_path = self.root.join(sample.mask_rel_path());
        let mask = load_colour_mask(&mask_path)?;
        if (mask.height, mask.width) != (image.height, image.width) {
            return Err(Error::bad_input(
                &mask_path,
                format!(
                    "size mismatch: mask {}x{}, image {}x{} ({})",
                    mask.width, mask.height, image.width, image.height, sample.rel_path
                ),
            ));
        }
        Ok((image, mask))
    }

    /// Dataset indices of split-list entries (`Tile 1/images/image_part_001.jpg`).
    pub fn indices_of(&self, entries: &[String], list_path: &Path) -> Result<Vec<usize>> {
        let names: Vec<String> = self.samples.iter().map(|s| s.rel_path.clone()).collect();
        split::positions(
            entries,
            &names,
            list_path,
            &format!("an image of {}", self.root.display()),
        )
    }

    /// A seeded split by big tile ([`split::by_group`]): `n_val_tiles` and `n_test_tiles` big tiles (all their
    /// images) for val and test, the rest for train, so no image shares a scene with an image of another split.
    pub fn split_by_big_tile(&self, n_val_tiles: usize, n_test_tiles: usize, seed: u64) -> Result<Splits> {
        let entries: Vec<(String, String)> = self
            .samples
            .iter()
            .map(|s| (s.rel_path.clone(), s.big_tile.clone()))
            .collect();
        split::by_group(&entries, n_val_tiles, n_test_tiles, seed, "big tile")
    }

    /// Reads the lists in `dir` if `train.txt` is there; otherwise makes [`Self::split_by_big_tile`] and writes it.
    pub fn load_or_create_split(
        &self,
        dir: &Path,
        n_val_tiles: usize,
        n_test_tiles: usize,
        seed: u64,
    ) -> Result<Splits> {
        split::read_or_create(dir, || self.split_by_big_tile(n_val_tiles, n_test_tiles, seed))
    }
}

/// Reads a colour mask (RGB, RGBA or palette PNG, converted to RGB) as class indices. A colour outside
/// [`AERIAL_CLASSES`] and [`IGNORED_COLOURS`] is an error naming the file, the colour, where it first occurs and
/// how many pixels have it.
pub fn load_colour_mask(path: &Path) -> Result<Mask> {
    let decoded = image::ImageReader::open(path)
        .map_err(|e| Error::io(path, e))?
        .with_guessed_format()
        .map_err(|e| Error::io(path, e))?
        .decode()
        .map_err(|e| Error::bad_input(path, format!("cannot decode mask: {e}")))?;
    let rgb = decoded.to_rgb8();
    let (width, height) = (rgb.width() as usize, rgb.height() as usize);
    let mut data = Vec::with_capacity(width * height);
    let mut unknown: Option<(usize, [u8; 3])> = None;
    let mut n_unknown = 0usize;
    for (px, p) in rgb.pixels().enumerate() {
        let class = match AERIAL_CLASSES.iter().position(|(_, c)| *c == p.0) {
            Some(c) => c as u8,
            None if IGNORED_COLOURS.contains(&p.0) => IGNORE_INDEX,
            None => {
                n_unknown += 1;
                unknown.get_or_insert((px, p.0));
                IGNORE_INDEX
            }
        };
        data.push(class);
    }
    if let Some((px, colour)) = unknown {
        return Err(Error::bad_input(
            path,
            format!(
                "unknown mask colour RGB {colour:?} at row {}, column {} ({n_unknown} such pixels); known: {}",
                px / width,
                px % width,
                AERIAL_CLASSES
                    .iter()
                    .map(|(n, c)| format!("{n} {c:?}"))
                    .chain(IGNORED_COLOURS.iter().map(|c| format!("ignored {c:?}")))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    Ok(Mask { height, width, data })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::fake::aerial_seg::{write_fake, FakeAerial};

    fn spec() -> FakeAerial {
        FakeAerial {
            n_big_tiles: 4,
            n_per_tile: 2,
            sizes: vec![(23, 31), (40, 35)],
            seed: 3,
        }
    }

    fn err_text<T: std::fmt::Debug>(r: Result<T>) -> String {
        r.expect_err("expected an error").to_string()
    }

    #[test]
    fn fake_set_round_trips_with_classes_and_ignored_pixels() {
        let dir = tempfile::tempdir().unwrap();
        let written = write_fake(dir.path(), &spec()).unwrap();
        let ds = AerialSeg::open(dir.path()).unwrap();
        assert_eq!(ds.len(), 8);
        assert_eq!(ds.samples[0].rel_path, "Tile 1/images/image_part_001.jpg");
        assert_eq!(ds.samples[0].mask_rel_path(), "Tile 1/masks/image_part_001.png");
        for (rel, mask) in &written {
            let idx = ds.samples.iter().position(|s| &s.rel_path == rel).unwrap();
            let (image, back) = ds.load(idx).unwrap();
            assert_eq!(&back, mask, "{rel}");
            assert_eq!((image.height, image.width), (mask.height, mask.width));
            assert!(back.data.contains(&IGNORE_INDEX));
        }
    }

    #[test]
    fn colour_table_is_the_one_of_source_md_not_classes_json() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.png");
        // Building, Land, Road, Vegetation, Water, black, Unlabeled.
        let colours: [[u8; 3]; 7] = [
            [60, 16, 152],
            [132, 41, 246],
            [110, 193, 228],
            [254, 221, 58],
            [226, 169, 41],
            [0, 0, 0],
            [155, 155, 155],
        ];
        let raw: Vec<u8> = colours.iter().flatten().copied().collect();
        image::RgbImage::from_raw(7, 1, raw).unwrap().save(&path).unwrap();
        assert_eq!(load_colour_mask(&path).unwrap().data, vec![0, 1, 2, 3, 4, 255, 255]);
        // classes.json's "Water" colour #50E3C2 is not a mask colour.
        let mut img = image::RgbImage::new(3, 2);
        img.put_pixel(2, 1, image::Rgb([0x50, 0xE3, 0xC2]));
        img.save(&path).unwrap();
        let msg = err_text(load_colour_mask(&path));
        assert!(
            msg.contains("m.png") && msg.contains("unknown mask colour RGB [80, 227, 194] at row 1, column 2 (1 such"),
            "{msg}"
        );
        // RGBA masks are read as RGB.
        let mut rgba = image::RgbaImage::new(1, 1);
        rgba.put_pixel(0, 0, image::Rgba([226, 169, 41, 255]));
        rgba.save(&path).unwrap();
        assert_eq!(load_colour_mask(&path).unwrap().data, vec![4]);
    }

    #[test]
    fn split_by_big_tile_is_seeded_disjoint_and_written_once() {
        let dir = tempfile::tempdir().unwrap();
        write_fake(dir.path(), &spec()).unwrap();
        let ds = AerialSeg::open(dir.path()).unwrap();
        let s = ds.split_by_big_tile(1, 1, 42).unwrap();
        assert_eq!((s.train.len(), s.val.len(), s.test.len()), (4, 2, 2));
        let tile_of = |e: &String| e.split('/').next().unwrap().to_string();
        assert_eq!(tile_of(&s.val[0]), tile_of(&s.val[1]));
        assert!(s
            .train
            .iter()
            .all(|e| tile_of(e) != tile_of(&s.val[0]) && tile_of(e) != tile_of(&s.test[0])));
        assert_eq!(ds.split_by_big_tile(1, 1, 42).unwrap(), s);
        let differs = (0..20).any(|seed| ds.split_by_big_tile(1, 1, seed).unwrap() != s);
        assert!(differs);
        assert!(ds.split_by_big_tile(2, 2, 0).is_err());

        let split_dir = dir.path().join("splits");
        let created = ds.load_or_create_split(&split_dir, 1, 1, 42).unwrap();
        assert_eq!(created, s);
        // A second call reads the files, whatever the seed.
        assert_eq!(ds.load_or_create_split(&split_dir, 1, 1, 7).unwrap(), s);
        let idx = ds.indices_of(&s.test, &split_dir.join("test.txt")).unwrap();
        assert_eq!(idx.len(), 2);
        let msg = err_text(ds.indices_of(&["Tile 9/images/x.jpg".into()], Path::new("test.txt")));
        assert!(msg.contains("line 1") && msg.contains("Tile 9"), "{msg}");
    }

    #[test]
    fn missing_mask_size_mismatch_and_missing_root_are_named() {
        let dir = tempfile::tempdir().unwrap();
        write_fake(dir.path(), &spec()).unwrap();
        let mask = dir.path().join("Tile 2/masks/image_part_002.png");
        image::RgbImage::from_pixel(5, 5, image::Rgb([60, 16, 152]))
            .save(&mask)
            .unwrap();
        let ds = AerialSeg::open(dir.path()).unwrap();
        let idx = ds
            .samples
            .iter()
            .position(|s| s.rel_path == "Tile 2/images/image_part_002.jpg")
            .unwrap();
        let msg = err_text(ds.load(idx));
        assert!(
            msg.contains("image_part_002.png") && msg.contains("size mismatch: mask 5x5"),
            "{msg}"
        );
        std::fs::remove_file(&mask).unwrap();
        let msg = err_text(AerialSeg::open(dir.path()));
        assert!(
            msg.contains("Tile 2/masks/image_part_002.png") && msg.contains("missing mask"),
            "{msg}"
        );
        let msg = err_text(AerialSeg::open(dir.path().join("nope")));
        assert!(msg.contains("not found") && msg.contains("Tile 1/images"), "{msg}");
    }

    #[test]
    fn natural_order_puts_tile_10_after_tile_9() {
        let mut names = vec!["Tile 10".to_string(), "Tile 9".into(), "Tile 1".into()];
        names.sort_by_key(|n| natural_key(n));
        assert_eq!(names, vec!["Tile 1", "Tile 9", "Tile 10"]);
    }
}
