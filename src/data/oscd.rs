//! OSCD, the Onera Satellite Change Detection dataset (Daudt et al. 2018), in the layout SeCo's OSCD code reads:
//! `root/<city>/imgs_1/<product>_<band>.tif` and `imgs_2/` (one Sentinel-2 band per GeoTIFF, 13 bands at 10, 20 or
//! 60 m), `root/<city>/cm/cm.png` (0/255 change mask on the 10 m grid) and `root/{train,test}.txt` (city names,
//! comma-separated as in the release, or one per line). Bands are read through GDAL onto the grid of the largest
//! selected band (bilinear); SeCo's uint8 quantile stretch of B04/B03/B02 is [`oscd_rgb_stretch`].

use std::path::{Path, PathBuf};

use super::change::{load_binary_mask, ChangePair};
use super::timeseries::BandStretch;
use super::Image;
use crate::{Error, Result};

/// RGB as SeCo reads OSCD: red, green, blue.
pub const OSCD_RGB_BANDS: [&str; 3] = ["B04", "B03", "B02"];

/// Dataset folder name under the data root.
pub const DATASET_DIR: &str = "oscd";

/// SeCo's 2 %/98 % quantiles of B04, B03, B02 over OSCD (`datasets/oscd_dataset.py`), mapped to 0-255.
pub fn oscd_rgb_stretch() -> BandStretch {
    BandStretch {
        lo: vec![426.0, 667.0, 885.0],
        hi: vec![3698.0, 2969.0, 2620.0],
    }
}

/// A scanned OSCD folder.
#[derive(Debug, Clone)]
pub struct Oscd {
    pub root: PathBuf,
    /// City folders holding `imgs_1/`, `imgs_2/` and `cm/cm.png`, sorted.
    pub cities: Vec<String>,
}

impl Oscd {
    /// Scans `root` for city folders. Errors name the folder searched or a city folder missing a part.
    pub fn open(root: impl AsRef<Path>) -> Result<Self> {
        let root = root.as_ref().to_path_buf();
        if !root.is_dir() {
            return Err(Error::DatasetNotFound {
                dataset: DATASET_DIR.into(),
                root,
                hint: "Onera Satellite Change Detection (https://rcdaudt.github.io/oscd/): merge the images and the \
                       train labels so that <folder>/<city>/imgs_1/, imgs_2/ and cm/cm.png exist, with train.txt and \
                       test.txt beside the cities; point --data-dir or CACO_DATA at the parent"
                    .into(),
            });
        }
        let mut cities = Vec::new();
        let entries = std::fs::read_dir(&root).map_err(|e| Error::io(&root, e))?;
        for dir in entries.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.is_dir()) {
            if !dir.join("imgs_1").is_dir() {
                continue;
            }
            for part in ["imgs_2", "cm/cm.png"] {
                if !dir.join(part).exists() {
                    return Err(Error::bad_input(dir.join(part), "missing part of an OSCD city"));
                }
            }
            if let Some(name) = dir.file_name().and_then(|n| n.to_str()) {
                cities.push(name.to_string());
            }
        }
        cities.sort();
        if cities.is_empty() {
            return Err(Error::bad_input(
                &root,
                "no city folders with imgs_1/ (expected e.g. `paris/imgs_1/`)",
            ));
        }
        Ok(Oscd { root, cities })
    }

    /// Cities of `root/<split>.txt`; an empty list or an unknown city is an error naming the list.
    pub fn split(&self, split: &str) -> Result<Vec<String>> {
        let path = self.root.join(format!("{split}.txt"));
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        let names: Vec<String> = text
            .split([',', '\n'])
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        if names.is_empty() {
            return Err(Error::bad_input(&path, "split list is empty"));
        }
        if let Some(unknown) = names.iter().find(|n| !self.cities.contains(n)) {
            return Err(Error::bad_input(
                &path,
                format!("`{unknown}` is not a city of {}", self.root.display()),
            ));
        }
        Ok(names)
    }

    /// Reads one city: both dates with `bands` (e.g. [`OSCD_RGB_BANDS`]), `stretch` applied if given, and the
    /// change mask. Sizes of the dates and the mask must agree.
    pub fn load(&self, city: &str, bands: &[&str], stretch: Option<&BandStretch>) -> Result<ChangePair> {
        let dir = self.root.join(city);
        let read = |folder: &str| -> Result<Image> {
            let mut image = load_bands(&dir.join(folder), bands)?;
            if let Some(s) = stretch {
                s.apply(&mut image);
            }
            Ok(image)
        };
        let (a, b) = (read("imgs_1")?, read("imgs_2")?);
        let label_path = dir.join("cm/cm.png");
        let label = load_binary_mask(&label_path)?;
        for (what, h, w) in [("imgs_2", b.height, b.width), ("cm/cm.png", label.height, label.width)] {
            if (h, w) != (a.height, a.width) {
                return Err(Error::bad_input(
                    dir.join(what),
                    format!("size mismatch: {w}x{h}, imgs_1 is {}x{}", a.width, a.height),
                ));
            }
        }
        Ok(ChangePair {
            name: city.to_string(),
            a,
            b,
            label,
        })
    }
}

/// The file of `band` in `dir`: `<anything>_<band>.tif` or `<band>.tif`.
#[cfg_attr(not(feature = "gdal"), allow(dead_code))]
fn band_file(dir: &Path, band: &str) -> Result<PathBuf> {
    let plain = dir.join(format!("{band}.tif"));
    if plain.is_file() {
        return Ok(plain);
    }
    let suffix = format!("_{band}.tif");
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.ends_with(&suffix))
        })
        .collect();
    found.sort();
    found
        .into_iter()
        .next()
        .ok_or_else(|| Error::bad_input(dir, format!("missing band {band} (no *{suffix})")))
}

/// Reads `bands` of one date onto the grid of the largest of them (bilinear resampling of coarser bands).
#[cfg(feature = "gdal")]
pub fn load_bands(dir: &Path, bands: &[&str]) -> Result<Image> {
    let paths = bands
        .iter()
        .map(|band| band_file(dir, band))
        .collect::<Result<Vec<_>>>()?;
    super::timeseries::read_band_files(&paths, "OSCD")
}

#[cfg(not(feature = "gdal"))]
pub fn load_bands(dir: &Path, _bands: &[&str]) -> Result<Image> {
    Err(Error::bad_input(dir, "OSCD reading needs caco's `gdal` feature"))
}

/// Writes a tiny fake OSCD: `cities` with 13 uint16 bands per date (10 m bands `size` px, 20 m half, 60 m a sixth;
/// `size` a multiple of 6), B of each city brighter inside a changed square marked in `cm/cm.png`, and `train.txt`
/// / `test.txt` (the first `n_train` cities, then the rest) comma-separated.
pub fn write_fake(root: &Path, cities: &[&str], n_train: usize, size: usize) -> Result<()> {
    const BANDS: [(&str, usize); 13] = [
        ("B01", 60),
        ("B02", 10),
        ("B03", 10),
        ("B04", 10),
        ("B05", 20),
        ("B06", 20),
        ("B07", 20),
        ("B08", 10),
        ("B8A", 20),
        ("B09", 60),
        ("B10", 60),
        ("B11", 20),
        ("B12", 20),
    ];
    for (k, city) in cities.iter().enumerate() {
        let dir = root.join(city);
        let (top, side) = (size / 4, size / 3 + k % 3);
        for (date, folder) in ["imgs_1", "imgs_2"].iter().enumerate() {
            let out = dir.join(folder);
            std::fs::create_dir_all(&out).map_err(|e| Error::io(&out, e))?;
            for (band, res) in BANDS {
                let n = size * 10 / res;
                let data = (0..n * n)
                    .map(|px| {
                        let (r, c) = (px / n * res / 10, px % n * res / 10);
                        let changed = date == 1 && (top..top + side).contains(&r) && (top..top + side).contains(&c);
                        (800 + 10 * ((r + c + k) % 50)) as f32 + if changed { 2000.0 } else { 0.0 }
                    })
                    .collect();
                let image = Image {
                    n_bands: 1,
                    height: n,
                    width: n,
                    data,
                };
                let path = out.join(format!("S2A_OPER_FAKE_{city}_{band}.tif"));
                super::fake::write_geotiff_u16(&path, &image)?;
            }
        }
        let mut mask = super::dense::Mask {
            height: size,
            width: size,
            data: vec![0; size * size],
        };
        for r in top..top + side {
            mask.data[r * size + top..r * size + top + side].fill(1);
        }
        let cm = dir.join("cm");
        std::fs::create_dir_all(&cm).map_err(|e| Error::io(&cm, e))?;
        super::change::write_binary_mask(&cm.join("cm.png"), &mask)?;
    }
    let write = |name: &str, list: &[&str]| {
        let path = root.join(name);
        std::fs::write(&path, list.join(",")).map_err(|e| Error::io(&path, e))
    };
    write("train.txt", &cities[..n_train])?;
    write("test.txt", &cities[n_train..])?;
    Ok(())
}

#[cfg(all(test, feature = "gdal"))]
mod tests {
    use super::*;

    fn err_text<T: std::fmt::Debug>(r: Result<T>) -> String {
        r.expect_err("expected an error").to_string()
    }

    #[test]
    fn fake_oscd_reads_rgb_and_all_bands_on_the_10m_grid_with_its_splits() {
        let dir = tempfile::tempdir().unwrap();
        write_fake(dir.path(), &["abudhabi", "beirut", "paris"], 2, 24).unwrap();
        let ds = Oscd::open(dir.path()).unwrap();
        assert_eq!(ds.cities, vec!["abudhabi", "beirut", "paris"]);
        assert_eq!(ds.split("train").unwrap(), vec!["abudhabi", "beirut"]);
        assert_eq!(ds.split("test").unwrap(), vec!["paris"]);
        let pair = ds.load("paris", &OSCD_RGB_BANDS, None).unwrap();
        assert_eq!((pair.a.n_bands, pair.a.height, pair.a.width), (3, 24, 24));
        // B is 2000 brighter exactly where the mask says change (top 6, side 8 + 2 = 10 for the third city).
        let changed = pair.label.data.iter().filter(|&&v| v == 1).count();
        assert_eq!(changed, 10 * 10);
        for px in 0..24 * 24 {
            let diff = pair.b.data[px] - pair.a.data[px];
            assert_eq!(diff, if pair.label.data[px] == 1 { 2000.0 } else { 0.0 }, "pixel {px}");
        }
        // All 13 bands: 20 m and 60 m bands resampled onto the 24x24 grid.
        let all = [
            "B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10", "B11", "B12",
        ];
        let pair = ds.load("beirut", &all, None).unwrap();
        assert_eq!((pair.a.n_bands, pair.a.height), (13, 24));
        // SeCo's stretch maps B04 426 -> 0 and 3698 -> 255.
        let stretched = ds.load("paris", &OSCD_RGB_BANDS, Some(&oscd_rgb_stretch())).unwrap();
        assert!(stretched.b.data.iter().all(|v| (0.0..=255.0).contains(v)));
        // Changed B04 pixel (6, 6) of paris (city 2): 800 + 10 * 14 + 2000.
        let expected = (255.0f32 * (2940.0 - 426.0) / (3698.0 - 426.0)).floor();
        assert!(
            (stretched.b.data[24 * 6 + 6] - expected).abs() < 1e-3,
            "{}",
            stretched.b.data[24 * 6 + 6]
        );
    }

    #[test]
    fn missing_band_size_mismatch_and_bad_splits_are_named() {
        let dir = tempfile::tempdir().unwrap();
        write_fake(dir.path(), &["abudhabi", "beirut"], 1, 12).unwrap();
        let ds = Oscd::open(dir.path()).unwrap();
        std::fs::remove_file(dir.path().join("beirut/imgs_2/S2A_OPER_FAKE_beirut_B03.tif")).unwrap();
        let msg = err_text(ds.load("beirut", &OSCD_RGB_BANDS, None));
        assert!(
            msg.contains("beirut/imgs_2") && msg.contains("missing band B03"),
            "{msg}"
        );

        let mask = super::super::dense::Mask {
            height: 12,
            width: 11,
            data: vec![0; 132],
        };
        super::super::change::write_binary_mask(&dir.path().join("abudhabi/cm/cm.png"), &mask).unwrap();
        let msg = err_text(ds.load("abudhabi", &OSCD_RGB_BANDS, None));
        assert!(
            msg.contains("cm/cm.png") && msg.contains("size mismatch: 11x12"),
            "{msg}"
        );

        std::fs::write(dir.path().join("test.txt"), " \n").unwrap();
        assert!(err_text(ds.split("test")).contains("empty"));
        std::fs::write(dir.path().join("test.txt"), "beirut,lyon").unwrap();
        let msg = err_text(ds.split("test"));
        assert!(msg.contains("test.txt") && msg.contains("`lyon`"), "{msg}");

        std::fs::remove_file(dir.path().join("abudhabi/cm/cm.png")).unwrap();
        let msg = err_text(Oscd::open(dir.path()));
        assert!(
            msg.contains("abudhabi/cm/cm.png") && msg.contains("missing part"),
            "{msg}"
        );
        let msg = err_text(Oscd::open(dir.path().join("nope")));
        assert!(msg.contains("not found") && msg.contains("imgs_1"), "{msg}");
    }
}
