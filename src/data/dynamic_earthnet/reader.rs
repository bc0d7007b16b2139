//! Scanning a DynamicEarthNet copy (images by AOI and date, labels, official or seeded splits) and decoding its
//! PlanetFusion images and one-hot labels.

use std::path::{Path, PathBuf};

use super::{DenLayout, DenSample, PlanetBand, SnowIce, DATASET_DIR, DEN_CLASSES, IGNORE_INDEX};
use crate::data::dense::Mask;
use crate::data::split::{self, Splits};
use crate::data::timeseries::BandStretch;
use crate::data::Image;
use crate::{Error, Result};

/// A scanned DynamicEarthNet folder.
#[derive(Debug, Clone)]
pub struct DynamicEarthNet {
    pub root: PathBuf,
    pub layout: DenLayout,
    /// Sorted by AOI, then date.
    pub samples: Vec<DenSample>,
    /// Labels skipped for a missing image (only with `skip_bad`), as (label file, reason).
    pub skipped: Vec<(PathBuf, String)>,
}

fn hint() -> String {
    format!(
        "DynamicEarthNet (Toker et al. 2022): download the Planet archives and labels from \
         https://mediatum.ub.tum.de/1650201 and unpack them so that <folder>/planet/<zone>/<tile>/<aoi>/PF-SR/\
         <YYYY-MM-DD>.tif and <folder>/labels/<aoi>_<zone>/Labels/Raster/<tile>/<tile>-<YYYY>_<MM>_01.tif exist; put \
         dynnet's split lists (https://vision.in.tum.de/webshare/u/toker/dynnet_training_splits/) in \
         <folder>/dynnet_training_splits/ or let caco write a seeded split; point --data-dir or {} at the parent",
        crate::data::DATA_ENV
    )
}

fn subdirs(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    Ok(dirs)
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map_or(String::new(), |n| n.to_string_lossy().to_string())
}

/// `YYYY-MM-DD` from a label file name ending in `-YYYY_MM_DD.tif` or `-YYYY-MM-DD.tif`.
pub fn label_date(file_name: &str) -> Option<String> {
    let stem = file_name.strip_suffix(".tif")?;
    let tail = stem.get(stem.len().checked_sub(10)?..)?;
    let digits: Vec<&str> = tail.split(['_', '-']).collect();
    let ok = digits.len() == 3
        && [4, 2, 2]
            .iter()
            .zip(&digits)
            .all(|(n, d)| d.len() == *n && d.bytes().all(|b| b.is_ascii_digit()))
        && stem.len() > 10
        && matches!(stem.as_bytes()[stem.len() - 11], b'-' | b'_');
    ok.then(|| digits.join("-"))
}

impl DynamicEarthNet {
    /// Scans `root`: every `PF-SR` folder under the planet folder(s) (its parent is the AOI), every label raster
    /// under the label folder, and pairs them. A label whose AOI has no image folder, or whose date has no image,
    /// is an error naming the label and the image looked for; with `skip_bad` it is skipped and listed in
    /// [`Self::skipped`] (the release lacks the Planet data of a few AOIs).
    pub fn open(root: impl AsRef<Path>, layout: DenLayout, skip_bad: bool) -> Result<Self> {
        let root = root.as_ref().to_path_buf();
        if !root.is_dir() {
            return Err(crate::data::not_found(DATASET_DIR, &root, hint()));
        }
        let image_dirs = Self::scan_image_dirs(&root, &layout)?;
        let label_root = root.join(&layout.label_dir);
        if !label_root.is_dir() {
            return Err(Error::bad_input(
                &label_root,
                format!(
                    "label folder `{}/` missing next to `{}/`: expected DynamicEarthNet as released \
                     (labels/<aoi>_<zone>/...; see docs/downstream.md, dynamic-earthnet)",
                    layout.label_dir, layout.planet_dir
                ),
            ));
        }
        let mut samples = Vec::new();
        let mut skipped = Vec::new();
        for label_aoi_dir in subdirs(&label_root)? {
            let folder = file_name(&label_aoi_dir);
            let raster_dir = label_aoi_dir.join(&layout.label_raster_dir);
            if !raster_dir.is_dir() {
                return Err(Error::bad_input(
                    &raster_dir,
                    format!("label folder of `{folder}` has no `{}/`", layout.label_raster_dir),
                ));
            }
            let mut label_files = Vec::new();
            for tile_dir in subdirs(&raster_dir)? {
                for entry in std::fs::read_dir(&tile_dir).map_err(|e| Error::io(&tile_dir, e))? {
                    let path = entry.map_err(|e| Error::io(&tile_dir, e))?.path();
                    // `*.tif.aux.xml` side files are skipped by the extension test.
                    if path.is_file() && path.extension().is_some_and(|e| e == "tif") {
                        label_files.push(path);
                    }
                }
            }
            label_files.sort();
            // `<aoi>_<zone>` (or just `<aoi>`): the longest AOI the folder name starts with.
            let aoi = image_dirs
                .iter()
                .map(|(aoi, _)| aoi)
                .filter(|aoi| folder == **aoi || folder.starts_with(&format!("{aoi}_")))
                .max_by_key(|aoi| aoi.len())
                .cloned();
            for label in label_files {
                let Some(date) = label_date(&file_name(&label)) else {
                    return Err(Error::bad_input(
                        &label,
                        "label file name does not end in -YYYY_MM_DD.tif or -YYYY-MM-DD.tif",
                    ));
                };
                let found = match &aoi {
                    None => Err(format!(
                        "label without its image: no `{}/` folder of AOI `{folder}` (or a prefix of it ending before \
                         `_`) under {}",
                        layout.image_dir,
                        root.join(&layout.planet_dir).display()
                    )),
                    Some(aoi) => {
                        let dir = &image_dirs.iter().find(|(a, _)| a == aoi).expect("scanned").1;
                        let image = dir.join(format!("{date}.tif"));
                        if image.is_file() {
                            Ok((aoi.clone(), image))
                        } else {
                            Err(format!("label without its image: {} does not exist", image.display()))
                        }
                    }
                };
                match found {
                    Ok((aoi, image)) => samples.push(DenSample {
                        aoi,
                        date,
                        image,
                        label,
                    }),
                    Err(reason) if skip_bad => skipped.push((label, reason)),
                    Err(reason) => {
                        return Err(Error::bad_input(
                            &label,
                            format!("{reason} (--skip-bad skips such labels)"),
                        ))
                    }
                }
            }
        }
        samples.sort_by(|a, b| (&a.aoi, &a.date).cmp(&(&b.aoi, &b.date)));
        if samples.is_empty() {
            return Err(Error::bad_input(
                &label_root,
                format!(
                    "no labels with images (expected <aoi>_<zone>/{}/<tile>/<tile>-YYYY_MM_DD.tif{})",
                    layout.label_raster_dir,
                    if skipped.is_empty() {
                        String::new()
                    } else {
                        format!("; {} skipped for a missing image", skipped.len())
                    }
                ),
            ));
        }
        Ok(DynamicEarthNet {
            root,
            layout,
            samples,
            skipped,
        })
    }

    /// (AOI, its image folder) for every `<image_dir>` folder under the planet folder(s), at most 6 levels deep.
    fn scan_image_dirs(root: &Path, layout: &DenLayout) -> Result<Vec<(String, PathBuf)>> {
        let prefix = format!("{}.", layout.planet_dir);
        let tops: Vec<PathBuf> = subdirs(root)?
            .into_iter()
            .filter(|p| {
                let name = file_name(p);
                name == layout.planet_dir || name.starts_with(&prefix)
            })
            .collect();
        if tops.is_empty() {
            return Err(Error::bad_input(
                root.join(&layout.planet_dir),
                format!(
                    "image folder `{}/` missing (nor `{prefix}*/`) next to `{}/`: expected DynamicEarthNet as \
                     released (see docs/downstream.md, dynamic-earthnet)",
                    layout.planet_dir, layout.label_dir
                ),
            ));
        }
        let mut found: Vec<(String, PathBuf)> = Vec::new();
        let mut stack: Vec<(PathBuf, usize)> = tops.into_iter().map(|p| (p, 0)).collect();
        while let Some((dir, depth)) = stack.pop() {
            for sub in subdirs(&dir)? {
                if file_name(&sub) == layout.image_dir {
                    let aoi = file_name(&dir);
                    if let Some((_, other)) = found.iter().find(|(a, _)| *a == aoi) {
                        return Err(Error::bad_input(
                            &sub,
                            format!("AOI `{aoi}` has a second image folder (the first: {})", other.display()),
                        ));
                    }
                    found.push((aoi, sub));
                } else if depth < 6 {
                    stack.push((sub, depth + 1));
                }
            }
        }
        if found.is_empty() {
            return Err(Error::bad_input(
                root.join(&layout.planet_dir),
                format!(
                    "no `{}/` folders (expected <zone>/<tile>/<aoi>/{}/)",
                    layout.image_dir, layout.image_dir
                ),
            ));
        }
        found.sort();
        Ok(found)
    }

    pub fn len(&self) -> usize {
        self.samples.len()
    }

    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// The folder of the official split lists.
    pub fn official_split_dir(&self) -> PathBuf {
        self.root.join(&self.layout.split_dir)
    }

    /// Dataset indices of split-list entries: `<aoi>/<YYYY-MM>` or an official line (`<planet folder> <label
    /// file> <YYYY-MM>`, the AOI taken as the folder above `PF-SR`). Entries of months outside `months` (if not
    /// empty) are left out. An entry that is not a sample of the scan is an error naming the list and the line;
    /// with `skip_bad` it is left out (official lists name AOIs whose images the release lacks). No entry left is
    /// an error.
    pub fn indices_of(
        &self,
        entries: &[String],
        list_path: &Path,
        months: &[String],
        skip_bad: bool,
    ) -> Result<Vec<usize>> {
        let keys: Vec<String> = self.samples.iter().map(DenSample::key).collect();
        let mut indices = Vec::new();
        for (line_idx, entry) in entries.iter().enumerate() {
            let key = self.entry_key(entry).ok_or_else(|| {
                Error::bad_input(
                    list_path,
                    format!(
                        "line {}: `{entry}` is neither `<aoi>/<YYYY-MM>` nor `<planet folder> <label file> <YYYY-MM>`",
                        line_idx + 1
                    ),
                )
            })?;
            if !months.is_empty() && !months.iter().any(|m| key.ends_with(&format!("/{m}"))) {
                continue;
            }
            match keys.iter().position(|k| *k == key) {
                Some(i) => indices.push(i),
                None if skip_bad => {}
                None => {
                    return Err(Error::bad_input(
                        list_path,
                        format!(
                            "line {}: `{key}` is not a labelled sample with an image in {} (--skip-bad leaves such \
                             entries out)",
                            line_idx + 1,
                            self.root.display()
                        ),
                    ))
                }
            }
        }
        if indices.is_empty() {
            return Err(Error::bad_input(
                list_path,
                format!(
                    "empty split: none of its {} entries is a sample{}",
                    entries.len(),
                    if months.is_empty() {
                        String::new()
                    } else {
                        format!(" of the months {}", months.join(", "))
                    }
                ),
            ));
        }
        Ok(indices)
    }

    /// `<aoi>/<YYYY-MM>` of a split-list entry in either format.
    fn entry_key(&self, entry: &str) -> Option<String> {
        let fields: Vec<&str> = entry.split_whitespace().collect();
        let valid_month = |m: &str| {
            m.len() == 7 && m.as_bytes()[4] == b'-' && m.bytes().enumerate().all(|(i, b)| i == 4 || b.is_ascii_digit())
        };
        match fields.as_slice() {
            [key] => {
                let (aoi, month) = key.rsplit_once('/')?;
                (!aoi.is_empty() && valid_month(month)).then(|| key.to_string())
            }
            [planet, _label, month] if valid_month(month) => {
                let parts: Vec<&str> = planet.split('/').filter(|p| !p.is_empty()).collect();
                let aoi = match parts.iter().position(|p| *p == self.layout.image_dir) {
                    Some(i) if i > 0 => parts[i - 1],
                    Some(_) => return None,
                    None => parts.last()?,
                };
                Some(format!("{aoi}/{month}"))
            }
            _ => None,
        }
    }

    /// A seeded split by AOI ([`split::by_group`]): `n_val_aois` and `n_test_aois` AOIs with all their months for
    /// val and test, the rest for train; entries are `<aoi>/<YYYY-MM>`.
    pub fn seeded_split(&self, n_val_aois: usize, n_test_aois: usize, seed: u64) -> Result<Splits> {
        let entries: Vec<(String, String)> = self.samples.iter().map(|s| (s.key(), s.aoi.clone())).collect();
        split::by_group(&entries, n_val_aois, n_test_aois, seed, "AOI")
    }

    /// The number of AOIs.
    pub fn n_aois(&self) -> usize {
        let mut aois: Vec<&str> = self.samples.iter().map(|s| s.aoi.as_str()).collect();
        aois.dedup();
        aois.len()
    }

    /// The split lists and the folder they come from: `split_dir` if given (read, or a seeded split by AOI written
    /// there: 15 % of the AOIs each for val and test, at least one); else the official lists if the dataset has
    /// them; else `default_dir` (read or written as for `split_dir`).
    pub fn load_or_create_split(
        &self,
        split_dir: Option<&Path>,
        default_dir: &Path,
        seed: u64,
    ) -> Result<(Splits, PathBuf)> {
        let official = self.official_split_dir();
        let dir = match split_dir {
            Some(dir) => dir.to_path_buf(),
            None if official.join("train.txt").is_file() => return Ok((split::read(&official)?, official)),
            None => default_dir.to_path_buf(),
        };
        let n_held_out = ((self.n_aois() as f64 * 0.15).round() as usize).max(1);
        let splits = split::read_or_create(&dir, || self.seeded_split(n_held_out, n_held_out, seed))?;
        Ok((splits, dir))
    }

    /// Reads sample `idx`: `bands` of the image (each stretched per `stretch` if given) and the label as class
    /// indices. Errors name the file: a missing band, a label without 7 bands, a label value other than 0/255, a
    /// size mismatch between image and label.
    pub fn load(
        &self,
        idx: usize,
        bands: &[PlanetBand],
        stretch: Option<&BandStretch>,
        snow_ice: SnowIce,
    ) -> Result<(Image, Mask)> {
        let sample = &self.samples[idx];
        let mut image = load_planet(&sample.image, bands)?;
        if let Some(s) = stretch {
            s.apply(&mut image);
        }
        let label = crate::data::eurosat::load_geotiff(&sample.label)?;
        let mask = label_to_mask(&label, &sample.label, snow_ice)?;
        if (mask.height, mask.width) != (image.height, image.width) {
            return Err(Error::bad_input(
                &sample.label,
                format!(
                    "size mismatch: label {}x{}, image {}x{} ({})",
                    mask.width,
                    mask.height,
                    image.width,
                    image.height,
                    sample.image.display()
                ),
            ));
        }
        Ok((image, mask))
    }
}

/// Reads `bands` of a PF-SR GeoTIFF (B, G, R, NIR in the file) in the order given.
pub fn load_planet(path: &Path, bands: &[PlanetBand]) -> Result<Image> {
    let all = crate::data::eurosat::load_geotiff(path)?;
    let n = all.height * all.width;
    let mut data = Vec::with_capacity(bands.len() * n);
    for band in bands {
        if band.file_band() > all.n_bands {
            return Err(Error::bad_input(
                path,
                format!(
                    "missing band {} (band {} of B, G, R, NIR): the file has {} band(s)",
                    band.name(),
                    band.file_band(),
                    all.n_bands
                ),
            ));
        }
        data.extend_from_slice(all.band(band.file_band() - 1));
    }
    Ok(Image {
        n_bands: bands.len(),
        height: all.height,
        width: all.width,
        data,
    })
}

/// Class indices from a one-hot label (7 bands of 0/255): the band at 255; no band or several -> [`IGNORE_INDEX`];
/// snow & ice per `snow_ice`. A band count other than 7 or a value other than 0/255 is an error naming `path`,
/// the band, where the value first occurs and how many pixels are bad.
pub fn label_to_mask(label: &Image, path: &Path, snow_ice: SnowIce) -> Result<Mask> {
    if label.n_bands != DEN_CLASSES.len() {
        return Err(Error::bad_input(
            path,
            format!(
                "{} label band(s), expected {} (one 0/255 band per class: {}){}",
                label.n_bands,
                DEN_CLASSES.len(),
                DEN_CLASSES.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", "),
                if label.n_bands < DEN_CLASSES.len() {
                    " - missing band"
                } else {
                    ""
                }
            ),
        ));
    }
    let n = label.height * label.width;
    let mut data = vec![IGNORE_INDEX; n];
    let mut bad: Option<(usize, usize, f32)> = None;
    let mut n_bad = 0usize;
    for (px, class) in data.iter_mut().enumerate() {
        let mut set: Option<usize> = None;
        let mut n_set = 0;
        for b in 0..label.n_bands {
            let v = label.data[b * n + px];
            if v == 255.0 {
                set = Some(b);
                n_set += 1;
            } else if v != 0.0 {
                n_bad += 1;
                bad.get_or_insert((b, px, v));
            }
        }
        *class = match (set, n_set) {
            (Some(6), 1) if snow_ice == SnowIce::Ignored => IGNORE_INDEX,
            (Some(c), 1) => c as u8,
            _ => IGNORE_INDEX,
        };
    }
    if let Some((b, px, v)) = bad {
        return Err(Error::bad_input(
            path,
            format!(
                "label value {v} in band {} ({}) at row {}, column {} ({n_bad} such values); labels are 0 or 255",
                b + 1,
                DEN_CLASSES[b].0,
                px / label.width,
                px % label.width
            ),
        ));
    }
    Ok(Mask {
        height: label.height,
        width: label.width,
        data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err_text<T: std::fmt::Debug>(r: Result<T>) -> String {
        r.expect_err("expected an error").to_string()
    }

    #[test]
    fn label_dates_in_both_spellings() {
        assert_eq!(
            label_date("10N-122W-40N-L3H-SR-2018_01_01.tif").as_deref(),
            Some("2018-01-01")
        );
        assert_eq!(
            label_date("36N-30E-7N-L3H-SR-2018-06-01.tif").as_deref(),
            Some("2018-06-01")
        );
        assert_eq!(label_date("36N-30E-7N-L3H-SR-2018-06-01.tif.aux.xml"), None);
        assert_eq!(label_date("2018-06-01.tif"), None);
        assert_eq!(label_date("x-2018-6-01.tif"), None);
    }

    #[test]
    fn one_hot_labels_become_classes_with_ignored_none_and_several() {
        // 1x5 label: impervious, water, none, impervious + water, snow & ice.
        let mut label = Image {
            n_bands: 7,
            height: 1,
            width: 5,
            data: vec![0.0; 35],
        };
        for (band, px) in [(0, 0), (5, 1), (0, 3), (5, 3), (6, 4)] {
            label.data[band * 5 + px] = 255.0;
        }
        let path = Path::new("l.tif");
        assert_eq!(
            label_to_mask(&label, path, SnowIce::Ignored).unwrap().data,
            vec![0, 5, 255, 255, 255]
        );
        assert_eq!(
            label_to_mask(&label, path, SnowIce::Class).unwrap().data,
            vec![0, 5, 255, 255, 6]
        );
        label.data[2 * 5 + 2] = 128.0;
        let msg = err_text(label_to_mask(&label, path, SnowIce::Ignored));
        assert!(
            msg.contains("l.tif")
                && msg.contains("label value 128 in band 3 (Forest and other vegetation) at row 0, column 2"),
            "{msg}"
        );
        let six = Image {
            n_bands: 6,
            height: 1,
            width: 5,
            data: vec![0.0; 30],
        };
        let msg = err_text(label_to_mask(&six, path, SnowIce::Ignored));
        assert!(
            msg.contains("6 label band(s), expected 7") && msg.contains("missing band"),
            "{msg}"
        );
    }

    #[cfg(feature = "gdal")]
    mod with_gdal {
        use super::*;
        use crate::data::dynamic_earthnet::{den_stretch, RGB_BANDS};
        use crate::data::fake::dynamic_earthnet::{fake_names, write_fake, FakeDen};

        fn fake(dir: &Path, spec: &FakeDen) -> Vec<(String, Mask)> {
            write_fake(dir, spec).unwrap()
        }

        #[test]
        fn fake_release_round_trips_images_labels_and_official_splits() {
            let dir = tempfile::tempdir().unwrap();
            let written = fake(
                dir.path(),
                &FakeDen {
                    size: 24,
                    ..Default::default()
                },
            );
            let ds = DynamicEarthNet::open(dir.path(), DenLayout::default(), false).unwrap();
            assert_eq!((ds.len(), ds.n_aois()), (8, 4));
            let first = &ds.samples[0];
            assert_eq!(
                (first.aoi.as_str(), first.date.as_str()),
                ("1311_3077_13", "2018-01-01")
            );
            assert!(first
                .image
                .ends_with("planet/10N/20E-180N/1311_3077_13/PF-SR/2018-01-01.tif"));
            assert!(first.label.ends_with(
                "labels/1311_3077_13_10N/Labels/Raster/10N-100W-40N-L3H-SR/10N-100W-40N-L3H-SR-2018_01_01.tif"
            ));
            // The second AOI spells its label dates with dashes.
            assert!(ds.samples[2].label.to_string_lossy().ends_with("-2018-01-01.tif"));
            let stretch = den_stretch(&RGB_BANDS);
            for (key, truth) in &written {
                let idx = ds.samples.iter().position(|s| &s.key() == key).unwrap();
                let (image, mask) = ds.load(idx, &RGB_BANDS, Some(&stretch), SnowIce::Class).unwrap();
                assert_eq!(&mask, truth, "{key}");
                assert_eq!((image.n_bands, image.height, image.width), (3, 24, 24));
                assert!(image.data.iter().all(|v| (0.0..=255.0).contains(v)));
                let (_, ignored) = ds.load(idx, &RGB_BANDS, None, SnowIce::Ignored).unwrap();
                let want: Vec<u8> = truth
                    .data
                    .iter()
                    .map(|&c| if c == 6 { IGNORE_INDEX } else { c })
                    .collect();
                assert_eq!(ignored.data, want);
            }
            // Band order: R is file band 3. Raw values of the first pixel, all four bands.
            let raw = crate::data::eurosat::load_geotiff(&first.image).unwrap();
            let rgbn = load_planet(&first.image, &[PlanetBand::Red, PlanetBand::Nir]).unwrap();
            assert_eq!(rgbn.band(0), raw.band(2));
            assert_eq!(rgbn.band(1), raw.band(3));

            // The official lists: 2 / 1 / 1 AOIs, entries resolved from `<planet folder> <label> <YYYY-MM>`.
            let (splits, from) = ds.load_or_create_split(None, &dir.path().join("unused"), 42).unwrap();
            assert_eq!(from, dir.path().join("dynnet_training_splits"));
            assert!(!dir.path().join("unused").exists());
            let list = from.join("test.txt");
            let test = ds.indices_of(&splits.test, &list, &[], false).unwrap();
            let keys: Vec<String> = test.iter().map(|&i| ds.samples[i].key()).collect();
            assert_eq!(keys, vec!["1602_3170_13/2018-01", "1602_3170_13/2018-07"]);
            assert_eq!(ds.indices_of(&splits.train, &list, &[], false).unwrap().len(), 4);
            // A months filter keeps the listed months only.
            let july = ds.indices_of(&splits.train, &list, &["2018-07".into()], false).unwrap();
            assert!(july.iter().all(|&i| ds.samples[i].date == "2018-07-01") && july.len() == 2);
            let msg = err_text(ds.indices_of(&splits.train, &list, &["2019-12".into()], false));
            assert!(
                msg.contains("test.txt") && msg.contains("empty split") && msg.contains("2019-12"),
                "{msg}"
            );
        }

        #[test]
        fn seeded_split_by_aoi_is_written_once_when_there_are_no_official_lists() {
            let dir = tempfile::tempdir().unwrap();
            fake(
                dir.path(),
                &FakeDen {
                    n_aois: 5,
                    size: 12,
                    official_split: None,
                    ..Default::default()
                },
            );
            let ds = DynamicEarthNet::open(dir.path(), DenLayout::default(), false).unwrap();
            let split_dir = dir.path().join("splits");
            let (splits, from) = ds.load_or_create_split(None, &split_dir, 42).unwrap();
            assert_eq!(from, split_dir);
            // 5 AOIs: 1 val, 1 test (15 %, at least one), 3 train, two months each.
            assert_eq!((splits.train.len(), splits.val.len(), splits.test.len()), (6, 2, 2));
            let aoi = |e: &String| e.split('/').next().unwrap().to_string();
            assert_eq!(aoi(&splits.val[0]), aoi(&splits.val[1]));
            assert!(splits
                .train
                .iter()
                .all(|e| aoi(e) != aoi(&splits.val[0]) && aoi(e) != aoi(&splits.test[0])));
            assert_eq!(
                std::fs::read_to_string(split_dir.join("val.txt"))
                    .unwrap()
                    .lines()
                    .count(),
                2
            );
            // Read back whatever the seed; entries resolve.
            assert_eq!(
                ds.load_or_create_split(Some(&split_dir), &split_dir, 7).unwrap().0,
                splits
            );
            let idx = ds
                .indices_of(&splits.val, &split_dir.join("val.txt"), &[], false)
                .unwrap();
            assert_eq!(idx.len(), 2);
            // Unknown and malformed entries name the list and the line; an empty list file is an error.
            let msg = err_text(ds.indices_of(&["9999_1_13/2018-01".into()], Path::new("val.txt"), &[], false));
            assert!(
                msg.contains("val.txt") && msg.contains("line 1: `9999_1_13/2018-01`"),
                "{msg}"
            );
            assert!(ds
                .indices_of(&["9999_1_13/2018-01".into()], Path::new("v"), &[], true)
                .is_err());
            let msg = err_text(ds.indices_of(&["a b".into()], Path::new("val.txt"), &[], false));
            assert!(msg.contains("line 1: `a b` is neither"), "{msg}");
            std::fs::write(split_dir.join("test.txt"), "\n# nothing\n").unwrap();
            let msg = err_text(ds.load_or_create_split(Some(&split_dir), &split_dir, 7));
            assert!(msg.contains("test.txt") && msg.contains("empty"), "{msg}");
        }

        #[test]
        fn bad_inputs_are_errors_naming_the_file() {
            let dir = tempfile::tempdir().unwrap();
            let spec = FakeDen {
                n_aois: 3,
                size: 12,
                ..Default::default()
            };
            fake(dir.path(), &spec);
            let open = || DynamicEarthNet::open(dir.path(), DenLayout::default(), false);
            let ds = open().unwrap();
            let idx_of = |ds: &DynamicEarthNet, key: &str| ds.samples.iter().position(|s| s.key() == key).unwrap();
            let (aoi0, _, _, _) = fake_names(0);
            let (aoi1, zone1, tile1, _) = fake_names(1);
            let (aoi2, zone2, tile2, label_tile2) = fake_names(2);

            // Size mismatch: a 10x12 image for a 12x12 label.
            let image = dir
                .path()
                .join(format!("planet/{zone1}/{tile1}/{aoi1}/PF-SR/2018-07-01.tif"));
            let small = crate::data::fake::solid_image(4, 10, 12, &[1.0, 2.0, 3.0, 4.0]);
            crate::data::image_io::write_geotiff_u16(&image, &small).unwrap();
            let msg = err_text(ds.load(
                idx_of(&ds, &format!("{aoi1}/2018-07")),
                &RGB_BANDS,
                None,
                SnowIce::Ignored,
            ));
            assert!(
                msg.contains("-2018-07-01.tif") && msg.contains("size mismatch: label 12x12, image 12x10"),
                "{msg}"
            );
            // Missing band: a 3-band image asked for NIR.
            let three = crate::data::fake::solid_image(3, 12, 12, &[1.0, 2.0, 3.0]);
            crate::data::image_io::write_geotiff_u16(&image, &three).unwrap();
            let msg = err_text(ds.load(
                idx_of(&ds, &format!("{aoi1}/2018-07")),
                &[PlanetBand::Red, PlanetBand::Nir],
                None,
                SnowIce::Ignored,
            ));
            assert!(
                msg.contains("2018-07-01.tif") && msg.contains("missing band NIR"),
                "{msg}"
            );
            // Out-of-range label value; a label with 6 bands.
            let label = dir.path().join(format!(
                "labels/{aoi2}_{zone2}/Labels/Raster/{label_tile2}/{label_tile2}-2018_01_01.tif"
            ));
            let mut grey = crate::data::fake::solid_image(7, 12, 12, &[0.0; 7]);
            grey.data[3 * 144 + 5 * 12 + 4] = 7.0;
            crate::data::image_io::write_geotiff_u8(&label, &grey).unwrap();
            let msg = err_text(ds.load(
                idx_of(&ds, &format!("{aoi2}/2018-01")),
                &RGB_BANDS,
                None,
                SnowIce::Ignored,
            ));
            assert!(
                msg.contains(&label_tile2) && msg.contains("label value 7 in band 4 (Wetlands) at row 5, column 4"),
                "{msg}"
            );
            let six = crate::data::fake::solid_image(6, 12, 12, &[0.0; 6]);
            crate::data::image_io::write_geotiff_u8(&label, &six).unwrap();
            let msg = err_text(ds.load(
                idx_of(&ds, &format!("{aoi2}/2018-01")),
                &RGB_BANDS,
                None,
                SnowIce::Ignored,
            ));
            assert!(
                msg.contains("2018_01_01.tif") && msg.contains("6 label band(s), expected 7"),
                "{msg}"
            );

            // A label without its image: the date's image removed, then the AOI's image folder.
            std::fs::remove_file(
                dir.path()
                    .join(format!("planet/{zone2}/{tile2}/{aoi2}/PF-SR/2018-07-01.tif")),
            )
            .unwrap();
            let msg = err_text(open());
            assert!(
                msg.contains(&format!("{label_tile2}-2018_07_01.tif"))
                    && msg.contains("label without its image")
                    && msg.contains(&format!("{aoi2}/PF-SR/2018-07-01.tif does not exist")),
                "{msg}"
            );
            std::fs::remove_dir_all(dir.path().join(format!("planet/{zone2}"))).unwrap();
            let msg = err_text(open());
            assert!(
                msg.contains("label without its image") && msg.contains(&format!("AOI `{aoi2}_{zone2}`")),
                "{msg}"
            );
            // --skip-bad skips and lists them; the official lists then skip their entries too.
            let ds = DynamicEarthNet::open(dir.path(), DenLayout::default(), true).unwrap();
            assert_eq!((ds.len(), ds.skipped.len()), (4, 2));
            let (splits, from) = ds.load_or_create_split(None, dir.path(), 0).unwrap();
            let list = from.join("test.txt");
            let msg = err_text(ds.indices_of(&splits.test, &list, &[], false));
            assert!(
                msg.contains(&format!("`{aoi2}/2018-01` is not a labelled sample")),
                "{msg}"
            );
            let msg = err_text(ds.indices_of(&splits.test, &list, &[], true));
            assert!(msg.contains("empty split"), "{msg}");
            assert_eq!(ds.indices_of(&splits.train, &list, &[], true).unwrap().len(), 2);
            assert_eq!(ds.samples[0].aoi, aoi0);

            // A missing dataset names the folder and how to get it; a root without planet/ or labels/ names it.
            let msg = err_text(DynamicEarthNet::open(
                dir.path().join("nope"),
                DenLayout::default(),
                false,
            ));
            assert!(
                msg.contains("not found") && msg.contains("nope") && msg.contains("mediatum"),
                "{msg}"
            );
            std::fs::remove_dir_all(dir.path().join("labels")).unwrap();
            let msg = err_text(open());
            assert!(
                msg.contains("label folder `labels/` missing next to `planet/`")
                    && msg.contains("docs/downstream.md")
                    && !msg.contains("DenLayout"),
                "{msg}"
            );
        }

        #[test]
        fn per_zone_planet_folders_and_renamed_layouts_are_found() {
            let dir = tempfile::tempdir().unwrap();
            fake(
                dir.path(),
                &FakeDen {
                    n_aois: 2,
                    months: vec!["2019-03".into()],
                    days: vec![1],
                    size: 8,
                    official_split: None,
                    seed: 1,
                },
            );
            // The per-zone archive layout `planet.10N/10N/...`, and labels under another name.
            let (_, zone0, _, _) = fake_names(0);
            std::fs::create_dir(dir.path().join(format!("planet.{zone0}"))).unwrap();
            std::fs::rename(
                dir.path().join(format!("planet/{zone0}")),
                dir.path().join(format!("planet.{zone0}/{zone0}")),
            )
            .unwrap();
            std::fs::rename(dir.path().join("labels"), dir.path().join("label_rasters")).unwrap();
            assert!(DynamicEarthNet::open(dir.path(), DenLayout::default(), false).is_err());
            let layout = DenLayout {
                label_dir: "label_rasters".into(),
                ..Default::default()
            };
            let ds = DynamicEarthNet::open(dir.path(), layout, false).unwrap();
            assert_eq!(ds.len(), 2);
            assert!(ds.samples[0]
                .image
                .to_string_lossy()
                .contains(&format!("planet.{zone0}/")));
        }
    }
}
