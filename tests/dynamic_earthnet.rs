//! DynamicEarthNet end to end on a fake release written by `caco data fake dynamic-earthnet`: `caco eval
//! segmentation --dataset dynamic-earthnet` trains one CPU epoch with dynnet's official lists, then with four bands,
//! one month and a seeded split by AOI; a missing dataset and bad flags are clear errors. The real dataset in
//! $CACO_DATA, if there, is read once (skipped with the reason when absent).

use std::path::Path;

use caco::data::data_root;
use caco::data::dynamic_earthnet::{self, DenLayout, DynamicEarthNet, SnowIce, RGB_BANDS};

mod common;
use common::{caco, ok};

fn failure(out: &std::process::Output) -> String {
    assert!(!out.status.success(), "expected a failure");
    String::from_utf8_lossy(&out.stderr).to_string()
}

/// The first data row of a results CSV (no quoted fields there), by column name.
fn first_row(path: &Path) -> std::collections::HashMap<String, String> {
    let csv = std::fs::read_to_string(path).unwrap();
    let mut lines = csv.lines();
    let header = lines.next().unwrap().split(',');
    header
        .zip(lines.next().unwrap().split(','))
        .map(|(h, v)| (h.to_string(), v.to_string()))
        .collect()
}

fn lines(path: &Path) -> usize {
    std::fs::read_to_string(path).unwrap().lines().count()
}

#[test]
fn segmentation_command_on_a_fake_dynamic_earthnet() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let root = data.join(dynamic_earthnet::DATASET_DIR);
    ok(&caco(&[
        "data",
        "fake",
        "dynamic-earthnet",
        "--out",
        root.to_str().unwrap(),
        "--seed",
        "3",
    ]));
    assert_eq!(lines(&root.join("dynnet_training_splits/train.txt")), 4);

    let out = dir.path().join("out");
    let base = [
        "eval",
        "segmentation",
        "--dataset",
        "dynamic-earthnet",
        "--data-dir",
        data.to_str().unwrap(),
        "--out-dir",
        out.to_str().unwrap(),
        "--epochs",
        "1",
        "--batch-size",
        "4",
        "--tile-size",
        "32",
        "--overlays",
        "1",
        "--device",
        "cpu",
        "--quiet",
    ];
    // Official lists: 2 train AOIs x 2 months, 1 test AOI x 2 months; 64 px images give 4 tiles of 32 px each.
    let stdout = ok(&caco(&base));
    assert!(
        stdout.contains("# Semantic segmentation on DynamicEarthNet"),
        "{stdout}"
    );
    assert!(
        stdout.contains("| iou_impervious_surface | iou_agriculture | iou_forest_and_other_vegetation |")
            && stdout.contains("iou_water |")
            && !stdout.contains("iou_snow"),
        "{stdout}"
    );
    assert!(stdout.contains("dynnet's official lists"), "{stdout}");
    let row = first_row(&out.join("tables/segmentation_dynamic-earthnet.csv"));
    assert_eq!(
        (
            row["n_train"].as_str(),
            row["n_train_tiles"].as_str(),
            row["n_test"].as_str()
        ),
        ("4", "16", "2")
    );
    let miou: f64 = row["miou"].parse().unwrap();
    assert!((0.0..=100.0).contains(&miou), "{row:?}");
    assert!(out
        .join("figures/segmentation_dynamic-earthnet/random_init_frozen/1602_3170_13_2018-01.png")
        .is_file());

    // Four bands, July only, a seeded split by AOI written where asked: 4 AOIs -> 1 val, 1 test, 2 train.
    let splits = dir.path().join("splits");
    let out4 = dir.path().join("out4");
    let mut four = base.to_vec();
    four[7] = out4.to_str().unwrap();
    four.extend([
        "--bands",
        "R,G,B,NIR",
        "--months",
        "2018-07",
        "--split-dir",
        splits.to_str().unwrap(),
    ]);
    let stdout = ok(&caco(&four));
    assert!(
        stdout.contains("seeded by AOI") && stdout.contains("R, G, B, NIR"),
        "{stdout}"
    );
    assert_eq!(
        (lines(&splits.join("train.txt")), lines(&splits.join("test.txt"))),
        (4, 2)
    );
    let row = first_row(&out4.join("tables/segmentation_dynamic-earthnet.csv"));
    assert_eq!(
        (
            row["n_train"].as_str(),
            row["n_train_tiles"].as_str(),
            row["n_test"].as_str()
        ),
        ("2", "8", "1")
    );

    // Errors: a missing dataset names the folder and how to get it; bad flags name the value.
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let mut missing = base.to_vec();
    missing[5] = empty.to_str().unwrap();
    let err = failure(&caco(&missing));
    assert!(
        err.contains("dynamic-earthnet") && err.contains("not found") && err.contains("mediatum.ub.tum.de"),
        "{err}"
    );
    let mut bad_band = base.to_vec();
    bad_band.extend(["--bands", "R,G,SWIR"]);
    assert!(failure(&caco(&bad_band)).contains("unknown PlanetFusion band `swir`"));
    let mut bad_month = base.to_vec();
    bad_month.extend(["--months", "2018-7"]);
    assert!(failure(&caco(&bad_month)).contains("month `2018-7` is not YYYY-MM"));
    let mut bad_dataset = base.to_vec();
    bad_dataset[3] = "dynamicearthnet";
    assert!(failure(&caco(&bad_dataset)).contains("unknown dataset `dynamicearthnet`"));
}

#[test]
fn real_dynamic_earthnet_reads_as_documented() {
    let root = data_root(None).join(dynamic_earthnet::DATASET_DIR);
    if !root.is_dir() {
        println!(
            "SKIPPED: {} not found (set CACO_DATA to the folder holding dynamic-earthnet/)",
            root.display()
        );
        return;
    }
    // The release lacks the images of a few AOIs: skip those labels.
    let ds = DynamicEarthNet::open(&root, DenLayout::default(), true).unwrap();
    let (image, mask) = ds
        .load(
            0,
            &RGB_BANDS,
            Some(&dynamic_earthnet::den_stretch(&RGB_BANDS)),
            SnowIce::Ignored,
        )
        .unwrap();
    assert_eq!((image.n_bands, image.height, image.width), (3, 1024, 1024));
    assert!(mask.data.iter().all(|&c| c < 6 || c == dynamic_earthnet::IGNORE_INDEX));
    assert!(
        mask.data.iter().any(|&c| c < 6),
        "{}: no labelled pixel",
        ds.samples[0].label.display()
    );
}
