//! Integration tests on the real data in $CACO_DATA (CI: ../shared/data). Each test prints why it skips when the
//! dataset is absent.

use std::path::PathBuf;

use caco::data::eurosat::{Eurosat, EurosatVariant, EUROSAT_CLASSES};
use caco::data::{data_root, split};

fn dataset_dir(name: &str) -> Option<PathBuf> {
    let dir = data_root(None).join(name);
    if dir.is_dir() {
        Some(dir)
    } else {
        println!(
            "SKIPPED: {} not found (set CACO_DATA to the folder holding {name}/)",
            dir.display()
        );
        None
    }
}

#[test]
fn real_eurosat_rgb_matches_published_counts_and_committed_split() {
    let Some(dir) = dataset_dir("eurosat-rgb") else { return };
    let ds = Eurosat::open(&dir, EurosatVariant::Rgb).unwrap();
    assert_eq!(ds.classes, EUROSAT_CLASSES.to_vec());
    assert_eq!(ds.len(), 27_000);
    let count = |c: usize| ds.samples.iter().filter(|s| s.class_idx == c).count();
    assert_eq!((count(0), count(3), count(5)), (3000, 2500, 2000));
    let img = ds.load(0).unwrap();
    assert_eq!((img.n_bands, img.height, img.width), (3, 64, 64));
    // Mean RGB of real EuroSAT is about (87, 96, 104) (SOURCE.md): check a spread of images is in that range.
    let picks: Vec<usize> = (0..ds.len()).step_by(270).collect();
    let imgs = ds.load_many(&picks, 2).unwrap();
    let mean_red = imgs.iter().map(|i| i.band(0).iter().sum::<f32>() / 4096.0).sum::<f32>() / imgs.len() as f32;
    assert!((60.0..120.0).contains(&mean_red), "mean red {mean_red}");

    // The committed split lists cover the dataset exactly once, 16,200 / 5,400 / 5,400, and are the seeded split.
    let split_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("experiments/splits/eurosat-rgb");
    let splits = split::read(&split_dir).unwrap();
    let mut all: Vec<usize> = ["train", "val", "test"]
        .iter()
        .flat_map(|n| {
            ds.indices_of(splits.get(n).unwrap(), &split_dir.join(format!("{n}.txt")))
                .unwrap()
        })
        .collect();
    assert_eq!(
        (splits.train.len(), splits.val.len(), splits.test.len()),
        (16_200, 5_400, 5_400)
    );
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), 27_000);
    assert_eq!(split::stratified(&ds.samples, 0.6, 0.2, 42).unwrap(), splits);
}

#[test]
fn real_eurosat_ms_subset_reads_13_bands_that_agree_with_the_rgb_jpegs() {
    let (Some(ms_dir), Some(rgb_dir)) = (dataset_dir("eurosat-ms-subset"), dataset_dir("eurosat-rgb")) else {
        return;
    };
    let ms = Eurosat::open(&ms_dir, EurosatVariant::Ms).unwrap();
    assert_eq!(ms.len(), 270);
    assert_eq!(ms.classes, EUROSAT_CLASSES.to_vec());
    // MS bands B04, B03, B02 (indices 3, 2, 1) against the JPEG of the same name: strongly correlated.
    let mut correlations = Vec::new();
    for idx in (0..ms.len()).step_by(9) {
        let tif = ms.load(idx).unwrap();
        assert_eq!((tif.n_bands, tif.height, tif.width), (13, 64, 64));
        let jpg_path = rgb_dir.join(ms.samples[idx].rel_path.replace(".tif", ".jpg"));
        let jpg = caco::data::eurosat::load_file(&jpg_path, EurosatVariant::Rgb).unwrap();
        for (ms_band, rgb_band) in [(3, 0), (2, 1), (1, 2)] {
            correlations.push(pearson(tif.band(ms_band), jpg.band(rgb_band)));
        }
    }
    let mean = correlations.iter().sum::<f64>() / correlations.len() as f64;
    assert!(mean > 0.8, "mean Pearson r between MS and RGB {mean}");
}

fn pearson(a: &[f32], b: &[f32]) -> f64 {
    let n = a.len() as f64;
    let (ma, mb) = (
        a.iter().map(|&x| x as f64).sum::<f64>() / n,
        b.iter().map(|&x| x as f64).sum::<f64>() / n,
    );
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (&x, &y) in a.iter().zip(b) {
        let (dx, dy) = (x as f64 - ma, y as f64 - mb);
        sab += dx * dy;
        saa += dx * dx;
        sbb += dy * dy;
    }
    if saa == 0.0 || sbb == 0.0 {
        0.0
    } else {
        sab / (saa * sbb).sqrt()
    }
}
