//! Generators of tiny fake datasets in the real on-disk layouts (torchgeo's habit), for tests and smoke runs: one file
//! per dataset, one shape. Each dataset has a settings struct (`FakeEurosat`, `FakeChange`, ...) implementing
//! [`FakeDataset`]: `write(root)` writes the layout and returns what it generated, for a test to compare with what
//! the real reader reads back. [`write`] builds any of them by name from the two knobs every one takes
//! ([`FakeSpec`]: a count and a seed); it is what `caco fake-data <name>` does.

pub mod aerial_seg;
pub mod bigearthnet;
pub mod change;
pub mod dynamic_earthnet;
pub mod eurosat;
pub mod oscd;
pub mod ssl4eo;
pub mod timeseries;

use std::path::Path;

use super::Image;
use crate::{Error, Result};

// The generators' old paths (`data::fake::write_eurosat_rgb`, ...) and the image writers they used to hold.
pub use self::eurosat::{write_eurosat_ms, write_eurosat_rgb, FakeEurosat};
pub use self::timeseries::{write_timeseries, FakeTimeSeries};
pub use super::image_io::{write_geotiff_u16, write_geotiff_u8, write_jpeg};

/// The knobs every generator takes when built by name: a count (images per class, patches per split, ...: each
/// generator's [`FakeDataset::from_spec`] says what it counts) and the seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FakeSpec {
    pub n: usize,
    pub seed: u64,
}

/// One fake dataset: its settings, and the writer of its real on-disk layout.
pub trait FakeDataset: Sized {
    /// What [`FakeDataset::write`] returns: the data as generated (images, masks, targets).
    type Written;

    /// The settings `caco fake-data` uses for `spec`.
    fn from_spec(spec: &FakeSpec) -> Self;

    /// Writes the dataset under `root` (created).
    fn write(&self, root: &Path) -> Result<Self::Written>;

    /// How many images (patches, pairs, labelled months) `written` holds, for a summary line.
    fn count(written: &Self::Written) -> usize;
}

/// The dataset names [`write`] knows, with what their count `n` means.
pub const DATASETS: [(&str, &str); 9] = [
    ("eurosat-rgb", "n images per class, 10 classes, 64 px JPEG"),
    ("eurosat-ms", "n images per class, 10 classes, 64 px 13-band GeoTIFF"),
    ("bigearthnet", "n patches per split (train, val, test)"),
    (
        "dynamic-earthnet",
        "4 AOIs x 2 months of 64 px with dynnet's split lists; n is not used",
    ),
    (
        "levir-cd",
        "n pairs per split (train, val, test), 64 px, LEVIR-CD folders",
    ),
    (
        "oscd",
        "n cities (2 to 24), two thirds in train, 48 px; the seed is not used",
    ),
    ("dubai-aerial-seg", "n tiles of 2 images, 64 px"),
    ("timeseries", "n locations, CACo layout, 2 eras of 5 dates, RGB, 24 px"),
    ("ssl4eo-s12", "n locations of SSL4EO-S12 Level-1C (s2c/), 4 seasons, 13 bands, 24 px at 10 m"),
];

fn count_written<D: FakeDataset>(root: &Path, settings: D) -> Result<usize> {
    Ok(D::count(&settings.write(root)?))
}

/// Writes the fake dataset `name` (one of [`DATASETS`]) under `root` with the settings of `spec`; returns how many
/// images (patches, pairs, labelled months) it wrote. An unknown name is an error listing the known ones.
pub fn write(name: &str, root: &Path, spec: &FakeSpec) -> Result<usize> {
    match name {
        "eurosat-rgb" => count_written(root, FakeEurosat::from_spec(spec)),
        "eurosat-ms" => count_written(
            root,
            FakeEurosat {
                variant: super::eurosat::EurosatVariant::Ms,
                ..FakeEurosat::from_spec(spec)
            },
        ),
        "bigearthnet" => count_written(root, bigearthnet::FakeBigEarthNet::from_spec(spec)),
        "dynamic-earthnet" => count_written(root, dynamic_earthnet::FakeDen::from_spec(spec)),
        "levir-cd" => count_written(root, change::FakeChange::from_spec(spec)),
        "oscd" => count_written(root, oscd::FakeOscd::from_spec(spec)),
        "dubai-aerial-seg" => count_written(root, aerial_seg::FakeAerial::from_spec(spec)),
        "timeseries" => count_written(root, FakeTimeSeries::from_spec(spec)),
        "ssl4eo-s12" => count_written(root, ssl4eo::FakeSsl4eo::from_spec(spec)),
        other => Err(Error::Config(format!(
            "unknown fake dataset `{other}`: {}",
            DATASETS.map(|(n, _)| n).join(", ")
        ))),
    }
}

/// An image with every pixel of band `b` equal to `values[b]`.
pub fn solid_image(n_bands: usize, height: usize, width: usize, values: &[f32]) -> Image {
    let data = (0..n_bands)
        .flat_map(|b| std::iter::repeat_n(values[b], height * width))
        .collect();
    Image {
        n_bands,
        height,
        width,
        data,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_names_list_the_known_ones() {
        let dir = tempfile::tempdir().unwrap();
        let msg = write("eurosat", dir.path(), &FakeSpec { n: 1, seed: 0 })
            .expect_err("unknown name")
            .to_string();
        assert!(
            msg.contains("`eurosat`") && msg.contains("eurosat-rgb, eurosat-ms, bigearthnet"),
            "{msg}"
        );
    }

    #[test]
    fn every_name_writes_its_dataset_and_counts_it() {
        let gdal = cfg!(feature = "gdal");
        // (name, count for n = 2, needs GDAL)
        let expected = [
            ("eurosat-rgb", 20, false),
            ("eurosat-ms", 20, true),
            ("bigearthnet", 6, true),
            ("dynamic-earthnet", 8, true),
            ("levir-cd", 6, false),
            ("oscd", 2, true),
            ("dubai-aerial-seg", 4, false),
            ("timeseries", 20, true),
            ("ssl4eo-s12", 8, true),
        ];
        assert_eq!(expected.map(|e| e.0), DATASETS.map(|d| d.0));
        for (name, count, needs_gdal) in expected {
            if needs_gdal && !gdal {
                continue;
            }
            let dir = tempfile::tempdir().unwrap();
            let root = dir.path().join(name);
            assert_eq!(
                write(name, &root, &FakeSpec { n: 2, seed: 1 }).unwrap(),
                count,
                "{name}"
            );
            assert!(root.is_dir(), "{name}");
        }
    }
}
