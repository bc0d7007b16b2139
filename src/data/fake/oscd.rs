//! Fake Onera Satellite Change Detection (Daudt et al. 2018) data, read by [`crate::data::oscd`]: per city two
//! dates of 13 uint16 Sentinel-2 bands and a change mask, in the flat layout, the release's (with its quirks) or
//! torchgeo's (`imgs_1_rect/`).

use std::path::Path;

use super::{FakeDataset, FakeSpec};
use crate::data::dense::Mask;
use crate::data::image_io::{write_binary_mask, write_geotiff_u16, write_geotiff_u8};
use crate::data::oscd::{RELEASE_IMAGES, RELEASE_LABELS};
use crate::data::Image;
use crate::{Error, Result};

/// The 24 cities of the OSCD release (14 train, 10 test), in the order [`FakeOscd::from_spec`] takes them.
pub const OSCD_CITIES: [&str; 24] = [
    "aguasclaras",
    "bercy",
    "bordeaux",
    "nantes",
    "paris",
    "rennes",
    "saclay_e",
    "abudhabi",
    "cupertino",
    "pisa",
    "beihai",
    "hongkong",
    "beirut",
    "mumbai",
    "brasilia",
    "montpellier",
    "norcia",
    "rio",
    "saclay_w",
    "valencia",
    "dubai",
    "lasvegas",
    "milano",
    "chongqing",
];

/// What [`FakeOscd::write`] generates: see [`write_fake`] and, with `n_unlabelled`, [`write_fake_release`]. The
/// data depend only on the cities' order and `size` (no seed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeOscd {
    pub cities: Vec<String>,
    /// The first `n_train` cities form `train.txt`, the rest `test.txt`.
    pub n_train: usize,
    /// Side of the 10 m bands, a multiple of 6.
    pub size: usize,
    /// `Some(n)`: the release layout with the last `n` cities unlabelled; `None`: the flat layout.
    pub n_unlabelled: Option<usize>,
}

impl FakeDataset for FakeOscd {
    /// The cities written.
    type Written = Vec<String>;

    /// The first `spec.n` (2 to 24) of [`OSCD_CITIES`], two thirds of them (at least one) in train, 48 px, the
    /// flat layout.
    fn from_spec(spec: &FakeSpec) -> Self {
        let n = spec.n.clamp(2, OSCD_CITIES.len());
        FakeOscd {
            cities: OSCD_CITIES[..n].iter().map(|c| c.to_string()).collect(),
            n_train: (2 * n / 3).max(1),
            size: 48,
            n_unlabelled: None,
        }
    }

    fn write(&self, root: &Path) -> Result<Self::Written> {
        let cities: Vec<&str> = self.cities.iter().map(String::as_str).collect();
        if self.n_train > cities.len() {
            return Err(Error::Config(format!(
                "fake OSCD: {} train cities of {}",
                self.n_train,
                cities.len()
            )));
        }
        match self.n_unlabelled {
            None => write_fake(root, &cities, self.n_train, self.size)?,
            Some(n) => write_fake_release(root, &cities, self.n_train, self.size, n)?,
        }
        Ok(self.cities.clone())
    }

    fn count(written: &Self::Written) -> usize {
        written.len()
    }
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
                write_geotiff_u16(&path, &image)?;
            }
        }
        let mut mask = Mask {
            height: size,
            width: size,
            data: vec![0; size * size],
        };
        for r in top..top + side {
            mask.data[r * size + top..r * size + top + side].fill(1);
        }
        let cm = dir.join("cm");
        std::fs::create_dir_all(&cm).map_err(|e| Error::io(&cm, e))?;
        write_binary_mask(&cm.join("cm.png"), &mask)?;
    }
    let write = |name: &str, list: &[&str]| {
        let path = root.join(name);
        std::fs::write(&path, list.join(",")).map_err(|e| Error::io(&path, e))
    };
    write("train.txt", &cities[..n_train])?;
    write("test.txt", &cities[n_train..])?;
    Ok(())
}

/// Writes a tiny fake OSCD in the release layout, with the release's quirks: [`write_fake`]'s cities under
/// [`RELEASE_IMAGES`] with `train.txt` / `test.txt` there (the train list also names `nantes`, absent, as the real
/// lists name cities a partial copy lacks); the labels of all but the last `n_unlabelled` cities under the train
/// labels folder as `cm/<city>-cm.tif` (uint8, 1 = no change, 2 = change) and `cm/cm.png`, the first city's PNG
/// anti-aliased RGB (grey edge pixels) as aguasclaras' is.
pub fn write_fake_release(
    root: &Path,
    cities: &[&str],
    n_train: usize,
    size: usize,
    n_unlabelled: usize,
) -> Result<()> {
    let images = root.join(RELEASE_IMAGES);
    write_fake(&images, cities, n_train, size)?;
    let train_list = images.join("train.txt");
    let listed = std::fs::read_to_string(&train_list).map_err(|e| Error::io(&train_list, e))?;
    std::fs::write(&train_list, format!("{listed},nantes")).map_err(|e| Error::io(&train_list, e))?;
    for (k, city) in cities.iter().enumerate() {
        let from = images.join(city).join("cm");
        let png = from.join("cm.png");
        let mask = image::open(&png)
            .map_err(|e| Error::bad_input(&png, e.to_string()))?
            .to_luma8();
        std::fs::remove_dir_all(&from).map_err(|e| Error::io(&from, e))?;
        if k + n_unlabelled >= cities.len() {
            continue;
        }
        let to = root.join(RELEASE_LABELS[0]).join(city).join("cm");
        std::fs::create_dir_all(&to).map_err(|e| Error::io(&to, e))?;
        let coded = Image {
            n_bands: 1,
            height: mask.height() as usize,
            width: mask.width() as usize,
            data: mask.as_raw().iter().map(|&v| if v > 0 { 2.0 } else { 1.0 }).collect(),
        };
        write_geotiff_u8(&to.join(format!("{city}-cm.tif")), &coded)?;
        let mut rgb = image::DynamicImage::ImageLuma8(mask.clone()).to_rgb8();
        if k == 0 {
            // Anti-aliased edges: the pixel left of every changed run is grey.
            let w = mask.width();
            for (i, &v) in mask.as_raw().iter().enumerate() {
                let x = i as u32 % w;
                if v == 0 && x + 1 < w && mask.as_raw()[i + 1] > 0 {
                    rgb.put_pixel(x, i as u32 / w, image::Rgb([90, 90, 90]));
                }
            }
        }
        let png = to.join("cm.png");
        rgb.save(&png).map_err(|e| Error::bad_input(&png, e.to_string()))?;
    }
    Ok(())
}

/// Writes a tiny fake OSCD as torchgeo holds it: [`write_fake_release`]'s folders with the dates in
/// `imgs_1_rect/`, `imgs_2_rect/` (the co-registered copies; no `imgs_1/`) and each band file named by its band
/// only (`B04.tif`).
pub fn write_fake_torchgeo(
    root: &Path,
    cities: &[&str],
    n_train: usize,
    size: usize,
    n_unlabelled: usize,
) -> Result<()> {
    write_fake_release(root, cities, n_train, size, n_unlabelled)?;
    for city in cities {
        let dir = root.join(RELEASE_IMAGES).join(city);
        for date in [1, 2] {
            let (from, to) = (dir.join(format!("imgs_{date}")), dir.join(format!("imgs_{date}_rect")));
            std::fs::rename(&from, &to).map_err(|e| Error::io(&to, e))?;
            for entry in std::fs::read_dir(&to).map_err(|e| Error::io(&to, e))? {
                let path = entry.map_err(|e| Error::io(&to, e))?.path();
                let name = path.file_name().unwrap_or_default().to_string_lossy().to_string();
                if let Some((_, band)) = name.rsplit_once('_') {
                    std::fs::rename(&path, to.join(band)).map_err(|e| Error::io(&path, e))?;
                }
            }
        }
    }
    Ok(())
}
