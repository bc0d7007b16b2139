//! The real command line on generated data: `caco reproduce-table --scale smoke` end to end, the feature cache,
//! report regeneration, and the missing-dataset error.

use std::path::{Path, PathBuf};

use caco::data::fake::{self, FakeEurosat};

mod common;
use common::caco;

/// The committed experiment config with the split lists redirected into `dir` (the committed lists are for the real
/// dataset).
fn config_in(dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments/eurosat.toml")).unwrap();
    let split_dir = dir.join("splits");
    let text = text.replace(
        "split_dir = \"experiments/splits/eurosat-rgb\"",
        &format!("split_dir = {:?}", split_dir.display().to_string()),
    );
    assert!(
        text.contains(&split_dir.display().to_string()),
        "config no longer has the expected split_dir line"
    );
    let path = dir.join("eurosat.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn smoke_table_end_to_end_on_fake_eurosat() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // 60 per class: 36/12/12 after the 60/20/20 split; smoke keeps 20 train per class, kNN needs > 100 val images.
    fake::write_eurosat_rgb(&data.join("eurosat-rgb"), &FakeEurosat::with_eurosat_classes(60, 11)).unwrap();
    let config = config_in(dir.path());
    let out = dir.path().join("out");
    let cache = dir.path().join("cache");
    let args = [
        "reproduce-table",
        "--scale",
        "smoke",
        "--config",
        config.to_str().unwrap(),
        "--data-dir",
        data.to_str().unwrap(),
        "--out-dir",
        out.to_str().unwrap(),
        "--cache-dir",
        cache.to_str().unwrap(),
        "--quiet",
    ];
    let run = caco(&args);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));

    // Split lists were created, stratified 60/20/20.
    let train = std::fs::read_to_string(dir.path().join("splits/train.txt")).unwrap();
    assert_eq!(train.lines().count(), 360);

    let csv = std::fs::read_to_string(out.join("tables/eurosat.csv")).unwrap();
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let row: Vec<&str> = csv.lines().nth(1).unwrap().split(',').collect();
    let col = |name: &str| row[header.iter().position(|h| *h == name).unwrap()];
    assert_eq!(col("init"), "random init");
    assert_eq!((col("n_train"), col("n_val"), col("n_test")), ("200", "120", "120"));
    // Fake classes differ in colour: even random features separate them far above chance (10 %).
    let accuracy: f64 = col("probe_acc_test").parse().unwrap();
    assert!(accuracy > 60.0, "probe accuracy {accuracy} on separable fake data");
    let p20: f64 = col("knn_p@20").parse().unwrap();
    assert!(p20 > 30.0, "kNN P@20 {p20}");
    // kNN on the val images that fill whole batches of 64 (120 -> 64), and every one of them as a query too.
    assert_eq!(col("n_knn"), "64");
    let p20_all: f64 = col("knn_all_p@20").parse().unwrap();
    assert!(p20_all > 30.0, "kNN P@20 over every query {p20_all}");
    for file in [
        "tables/eurosat.md",
        "tables/eurosat.toml",
        "figures/eurosat_confusion.svg",
        "figures/eurosat_confusion.png",
    ] {
        assert!(out.join(file).is_file(), "{file} missing");
    }
    let png = image::open(out.join("figures/eurosat_confusion.png")).unwrap();
    assert_eq!((png.width(), png.height()), (960, 820));

    // Second run: features come from the cache (same files, untouched), results identical.
    let cached: Vec<_> = std::fs::read_dir(cache.join("features"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    // Probe train/val/test (BatchNorm re-estimated on train) and the kNN val set (stored statistics).
    assert_eq!(cached.len(), 4, "one cache entry per split, and one for kNN");
    let stamps: Vec<_> = cached
        .iter()
        .map(|p| std::fs::metadata(p).unwrap().modified().unwrap())
        .collect();
    let again = caco(&args);
    assert!(again.status.success());
    let stamps_again: Vec<_> = cached
        .iter()
        .map(|p| std::fs::metadata(p).unwrap().modified().unwrap())
        .collect();
    assert_eq!(stamps, stamps_again);
    assert_eq!(std::fs::read_to_string(out.join("tables/eurosat.csv")).unwrap(), csv);

    // `report` regenerates the outputs from the stored metrics alone.
    std::fs::remove_file(out.join("tables/eurosat.csv")).unwrap();
    std::fs::remove_file(out.join("figures/eurosat_confusion.png")).unwrap();
    let report = caco(&[
        "report",
        "--metrics",
        out.join("tables/eurosat.metrics.toml").to_str().unwrap(),
    ]);
    assert!(report.status.success(), "{}", String::from_utf8_lossy(&report.stderr));
    assert_eq!(std::fs::read_to_string(out.join("tables/eurosat.csv")).unwrap(), csv);
    assert!(out.join("figures/eurosat_confusion.png").is_file());
}

#[test]
fn missing_dataset_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_in(dir.path());
    let data = dir.path().join("nothing-here");
    let run = caco(&[
        "reproduce-table",
        "--scale",
        "smoke",
        "--config",
        config.to_str().unwrap(),
        "--data-dir",
        data.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(!run.status.success());
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains("dataset `eurosat-rgb` not found"), "{stderr}");
    assert!(
        stderr.contains(&data.join("eurosat-rgb").display().to_string()),
        "{stderr}"
    );
    assert!(stderr.contains("EuroSAT.zip"), "{stderr}");
}

#[test]
fn unknown_scale_and_flags_are_rejected() {
    let run = caco(&["reproduce-table", "--scale", "galactic", "--quiet"]);
    assert!(!run.status.success());
    assert!(String::from_utf8_lossy(&run.stderr).contains("unknown scale `galactic`"));
    let run = caco(&["reproduce-table", "--sclae", "smoke"]);
    assert!(String::from_utf8_lossy(&run.stderr).contains("unexpected arguments: --sclae smoke"));
}

#[test]
fn fake_data_command_writes_both_layouts() {
    let dir = tempfile::tempdir().unwrap();
    for (kind, ext) in [("eurosat-rgb", "jpg"), ("eurosat-ms", "tif")] {
        let out = dir.path().join(kind);
        let run = caco(&["fake-data", kind, "--out", out.to_str().unwrap(), "--n-per-class", "2"]);
        assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
        assert!(out.join(format!("SeaLake/SeaLake_2.{ext}")).is_file());
    }
}
