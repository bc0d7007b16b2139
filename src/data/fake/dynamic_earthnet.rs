//! Fake DynamicEarthNet (Toker et al. 2022) in the release layout, read by
//! [`crate::data::dynamic_earthnet::DynamicEarthNet`]: PlanetFusion images per AOI and day, one-hot monthly labels
//! and dynnet's split lists.

use std::path::Path;

use rand::{Rng, SeedableRng};

use super::{FakeDataset, FakeSpec};
use crate::data::dense::Mask;
use crate::data::dynamic_earthnet::IGNORE_INDEX;
use crate::data::image_io::{write_geotiff_u16, write_geotiff_u8};
use crate::data::split;
use crate::data::Image;
use crate::{Error, Result};

/// What [`write_fake`] generates.
#[derive(Debug, Clone)]
pub struct FakeDen {
    pub n_aois: usize,
    /// `YYYY-MM` of the labels.
    pub months: Vec<String>,
    /// Days of each month with an image (the label's day 1 must be one of them).
    pub days: Vec<u32>,
    /// Side of the square images and labels.
    pub size: usize,
    /// Write dynnet's split lists with this many AOIs for (val, test) (the first AOIs go to train).
    pub official_split: Option<(usize, usize)>,
    pub seed: u64,
}

impl Default for FakeDen {
    /// 4 AOIs, 2 months, days 1 and 15, 64 px, official lists 2 / 1 / 1.
    fn default() -> Self {
        FakeDen {
            n_aois: 4,
            months: vec!["2018-01".into(), "2018-07".into()],
            days: vec![1, 15],
            size: 64,
            official_split: Some((1, 1)),
            seed: 0,
        }
    }
}

impl FakeDataset for FakeDen {
    /// Every label as class indices, snow & ice as class 6, by `<aoi>/<YYYY-MM>`.
    type Written = Vec<(String, Mask)>;

    /// [`FakeDen::default`] with `spec.seed` (4 AOIs x 2 months, whatever `spec.n`).
    fn from_spec(spec: &FakeSpec) -> Self {
        FakeDen {
            seed: spec.seed,
            ..Default::default()
        }
    }

    fn write(&self, root: &Path) -> Result<Self::Written> {
        write_fake(root, self)
    }

    fn count(written: &Self::Written) -> usize {
        written.len()
    }
}

/// One fake AOI's names: (aoi, utm zone, planet tile, label tile).
pub(crate) fn fake_names(k: usize) -> (String, String, String, String) {
    let zone = ["10N", "33N", "36N"][k % 3].to_string();
    (
        format!("{}_{}_13", 1311 + 97 * k, 3077 + 31 * k),
        zone.clone(),
        format!("{}E-{}N", 20 + k, 180 + 2 * k),
        format!("{zone}-{}W-{}N-L3H-SR", 100 + k, 40 + k),
    )
}

/// Writes a tiny fake DynamicEarthNet in the release layout (via GDAL): per AOI and month, 4-band uint16 PF-SR
/// images for `days` and a 7-band uint8 one-hot label on day 1. Each label has vertical stripes of random classes
/// (snow & ice included), a corner with no class and a few rows with two classes; the image reflectance is the
/// class's mean per band plus noise. Labels of odd AOIs spell the date with `-`, of even ones with `_`. Returns
/// every label as class indices with snow & ice as class 6, by `<aoi>/<YYYY-MM>`.
pub fn write_fake(root: &Path, spec: &FakeDen) -> Result<Vec<(String, Mask)>> {
    // Mean reflectance (B, G, R, NIR) under each class.
    const MEAN_BGRN: [[f32; 4]; 7] = [
        [900.0, 1000.0, 1100.0, 1800.0],
        [500.0, 800.0, 700.0, 3000.0],
        [300.0, 500.0, 350.0, 2800.0],
        [400.0, 600.0, 500.0, 1500.0],
        [1000.0, 1300.0, 1600.0, 2200.0],
        [500.0, 500.0, 300.0, 200.0],
        [5000.0, 5000.0, 5000.0, 4500.0],
    ];
    let mut rng = rand::rngs::StdRng::seed_from_u64(spec.seed);
    let s = spec.size;
    let mut written = Vec::new();
    let mut split_lines: [Vec<String>; 3] = Default::default();
    for k in 0..spec.n_aois {
        let (aoi, zone, tile, label_tile) = fake_names(k);
        let image_dir = root.join("planet").join(&zone).join(&tile).join(&aoi).join("PF-SR");
        let label_dir = root
            .join("labels")
            .join(format!("{aoi}_{zone}"))
            .join("Labels/Raster")
            .join(&label_tile);
        for dir in [&image_dir, &label_dir] {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        for month in &spec.months {
            let n_stripes = rng.random_range(2..=4);
            let classes: Vec<u8> = (0..n_stripes).map(|_| rng.random_range(0..7)).collect();
            let mut mask = Mask {
                height: s,
                width: s,
                data: vec![0; s * s],
            };
            let mut label = Image {
                n_bands: 7,
                height: s,
                width: s,
                data: vec![0.0; 7 * s * s],
            };
            for r in 0..s {
                for c in 0..s {
                    let px = r * s + c;
                    let class = classes[c * n_stripes / s];
                    let unlabelled = r < s / 6 && c < s / 6;
                    let doubled = r >= s - 2 && c >= s / 2;
                    mask.data[px] = if unlabelled || doubled { IGNORE_INDEX } else { class };
                    if !unlabelled {
                        label.data[class as usize * s * s + px] = 255.0;
                    }
                    if doubled {
                        label.data[((class as usize + 1) % 7) * s * s + px] = 255.0;
                    }
                }
            }
            for &day in &spec.days {
                let mut image = Image {
                    n_bands: 4,
                    height: s,
                    width: s,
                    data: vec![0.0; 4 * s * s],
                };
                for px in 0..s * s {
                    let means = match mask.data[px] {
                        IGNORE_INDEX => [800.0, 900.0, 1000.0, 1500.0],
                        class => MEAN_BGRN[class as usize],
                    };
                    for (b, mean) in means.iter().enumerate() {
                        image.data[b * s * s + px] = mean * rng.random_range(0.9..1.1);
                    }
                }
                write_geotiff_u16(&image_dir.join(format!("{month}-{day:02}.tif")), &image)?;
            }
            let date = if k % 2 == 1 {
                format!("{month}-01")
            } else {
                format!("{}_01", month.replace('-', "_"))
            };
            let label_path = label_dir.join(format!("{label_tile}-{date}.tif"));
            write_geotiff_u8(&label_path, &label)?;
            if let Some((n_val, n_test)) = spec.official_split {
                let n_train = spec.n_aois.saturating_sub(n_val + n_test);
                let split_idx = if k < n_train {
                    0
                } else if k < n_train + n_val {
                    1
                } else {
                    2
                };
                split_lines[split_idx].push(format!(
                    "/reprocess-cropped/UTM-24000/{zone}/{tile}/{aoi}/PF-SR /labels/{aoi}_{zone}/Labels/Raster/\
                     {label_tile}/{label_tile}-{date}.tif {month}"
                ));
            }
            written.push((format!("{aoi}/{month}"), mask));
        }
    }
    if spec.official_split.is_some() {
        let dir = root.join("dynnet_training_splits");
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        for (name, lines) in split::SPLIT_NAMES.iter().zip(&split_lines) {
            let path = dir.join(format!("{name}.txt"));
            std::fs::write(&path, lines.join("\n") + "\n").map_err(|e| Error::io(&path, e))?;
        }
    }
    Ok(written)
}
