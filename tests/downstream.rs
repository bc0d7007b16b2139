//! The downstream benchmarks end to end: `caco eval change-detection` (LEVIR-CD and time1-time2 layouts, a set with
//! only a pair list and a seeded split, OSCD fakes in the merged, release and torchgeo layouts, the real OSCD release
//! imported with `data download --from`), `eval eurosat`,
//! `eval bigearthnet` and
//! `caco eval segmentation` on generated data in the real layouts (tables, a second run adding its row, overlays,
//! errors), and the real levir-cd-samples and dubai-aerial-seg in $CACO_DATA (skipped with the reason when absent).

use std::path::{Path, PathBuf};

use caco::data::aerial_seg::{self, AerialSeg, AERIAL_CLASSES, IGNORE_INDEX};
use caco::data::fake::aerial_seg::FakeAerial;
use caco::data::change::{self, ChangeDataset, ChangeLayout};
use caco::data::fake::change::FakeChange;
use caco::data::data_root;

mod common;
use common::{caco, ok, ok_both};

#[test]
fn change_detection_command_on_fake_pairs_writes_table_rows_and_overlays() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    caco::data::fake::change::write_fake(
        &data.join("fake-cd"),
        &FakeChange {
            layout: ChangeLayout::default(),
            n_pairs: [2, 1, 2],
            height: 40,
            width: 40,
            seed: 3,
        },
    )
    .unwrap();
    let out = dir.path().join("out");
    let base = [
        "eval",
        "change-detection",
        "--dataset",
        "fake-cd",
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
    let stdout = ok(&caco(&base));
    assert!(stdout.contains("# Change detection on fake-cd"), "{stdout}");
    assert!(stdout.contains("| random init | resnet18 | frozen |"), "{stdout}");
    for file in [
        "tables/change_fake-cd.csv",
        "tables/change_fake-cd.md",
        "tables/change_fake-cd.metrics.toml",
        "tables/change_fake-cd_per_image.csv",
        "figures/change_fake-cd_loss.png",
        "figures/change_fake-cd/random_init_frozen/test_000.png",
    ] {
        assert!(out.join(file).is_file(), "{file} missing");
    }
    // A fine-tuned run adds its own row; the frozen one stays.
    let mut finetune = base.to_vec();
    finetune.push("--finetune");
    ok(&caco(&finetune));
    let csv = std::fs::read_to_string(out.join("tables/change_fake-cd.csv")).unwrap();
    assert_eq!(csv.lines().count(), 3, "{csv}");
    assert!(csv.contains("fine-tuned") && csv.contains("frozen"), "{csv}");

    // A tile larger than the images is refused with the reason.
    let mut big = base.to_vec();
    big[13] = "64";
    let run = caco(&big);
    assert!(!run.status.success());
    assert!(String::from_utf8_lossy(&run.stderr).contains("smaller than the 64 px tiles"));
    // A missing dataset names the folder searched.
    let mut missing = base.to_vec();
    missing[3] = "absent-cd";
    let run = caco(&missing);
    let err = String::from_utf8_lossy(&run.stderr).to_string();
    assert!(
        !run.status.success() && err.contains("absent-cd") && err.contains("not found"),
        "{err}"
    );
}

#[test]
fn change_detection_command_on_a_fake_oscd() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    caco::data::fake::oscd::write_fake(&data.join("oscd"), &["abudhabi", "beirut", "paris"], 2, 48).unwrap();
    let out = dir.path().join("out");
    let stdout = ok(&caco(&[
        "eval",
        "change-detection",
        "--dataset",
        "oscd",
        "--data-dir",
        data.to_str().unwrap(),
        "--out-dir",
        out.to_str().unwrap(),
        "--epochs",
        "1",
        "--tile-size",
        "32",
        "--device",
        "cpu",
        "--quiet",
    ]));
    assert!(stdout.contains("# Change detection on OSCD"), "{stdout}");
    let per_image = std::fs::read_to_string(out.join("tables/change_oscd_per_image.csv")).unwrap();
    // One test city, paris (city 2 of the fake set): an 18x18 changed square (48 / 3 + 2).
    assert!(
        per_image.contains("paris") && per_image.trim_end().ends_with(",324"),
        "{per_image}"
    );
    assert!(out.join("figures/change_oscd/random_init_frozen/paris.png").is_file());
}

#[test]
fn change_detection_command_detects_the_time1_time2_layout_and_scores_val_without_a_test_list() {
    // CLCD's layout: time1/ time2/ label/ and list/{train,val}.txt only.
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    caco::data::fake::change::write_fake(
        &data.join("clcd-like"),
        &FakeChange {
            layout: ChangeLayout::time1_time2(),
            n_pairs: [2, 2, 0],
            height: 32,
            width: 32,
            seed: 4,
        },
    )
    .unwrap();
    assert!(!data.join("clcd-like/list/test.txt").exists());
    let out = dir.path().join("out");
    let args = |dataset: &str| {
        vec![
            "eval".to_string(),
            "change-detection".into(),
            "--dataset".into(),
            dataset.into(),
            "--data-dir".into(),
            data.to_str().unwrap().into(),
            "--out-dir".into(),
            out.to_str().unwrap().into(),
            "--epochs".into(),
            "1".into(),
            "--tile-size".into(),
            "32".into(),
            "--device".into(),
            "cpu".into(),
            "--quiet".into(),
        ]
    };
    let stdout = ok(&caco(&args("clcd-like").iter().map(String::as_str).collect::<Vec<_>>()));
    assert!(
        stdout.contains("Layout: time1-time2 (detected): time1/, time2/, label/.")
            && stdout.contains("scored on val.txt (no test.txt)"),
        "{stdout}"
    );
    let per_image = std::fs::read_to_string(out.join("tables/change_clcd-like_per_image.csv")).unwrap();
    assert!(per_image.contains("val_000.png") && per_image.contains("val_001.png"), "{per_image}");
    assert!(!per_image.contains("train_"), "{per_image}");

    // Neither layout: the error names both instead of a debug struct.
    std::fs::create_dir_all(data.join("odd/before")).unwrap();
    let run = caco(&args("odd").iter().map(String::as_str).collect::<Vec<_>>());
    let err = String::from_utf8_lossy(&run.stderr).to_string();
    assert!(
        !run.status.success() && err.contains("levir (A/, B/, label/) and time1-time2") && !err.contains("ChangeLayout"),
        "{err}"
    );
}

#[test]
fn change_detection_command_on_the_oscd_release_layout_makes_a_seeded_city_split() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let cities = ["abudhabi", "beirut", "cupertino", "paris", "rennes"];
    caco::data::fake::oscd::write_fake_release(&data.join("my-oscd"), &cities, 3, 48, 1).unwrap();
    let (out, splits) = (dir.path().join("out"), dir.path().join("splits"));
    let stdout = ok(&caco(&[
        "eval",
        "change-detection",
        "--dataset",
        "my-oscd",
        "--data-dir",
        data.to_str().unwrap(),
        "--split-dir",
        splits.to_str().unwrap(),
        "--out-dir",
        out.to_str().unwrap(),
        "--epochs",
        "1",
        "--tile-size",
        "32",
        "--device",
        "cpu",
        "--quiet",
    ]));
    // 4 labelled cities (rennes has no label): 2 test by the 40 % rule, the lists written with their origin.
    assert!(
        stdout.contains("release layout") && stdout.contains("Cities without a label, not used: rennes"),
        "{stdout}"
    );
    let test = std::fs::read_to_string(splits.join("test.txt")).unwrap();
    assert!(test.starts_with("# OSCD test cities: a seeded split by city"), "{test}");
    let test_cities: Vec<&str> = test.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(test_cities.len(), 2);
    let per_image = std::fs::read_to_string(out.join("tables/change_my-oscd_per_image.csv")).unwrap();
    for city in &test_cities {
        assert!(per_image.contains(city), "{city}: {per_image}");
    }
}

#[test]
fn segmentation_command_on_a_fake_aerial_set() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    caco::data::fake::aerial_seg::write_fake(
        &data.join(aerial_seg::DATASET_DIR),
        &FakeAerial {
            n_big_tiles: 4,
            n_per_tile: 1,
            sizes: vec![(33, 35)],
            seed: 1,
        },
    )
    .unwrap();
    let out = dir.path().join("out");
    let splits = dir.path().join("splits");
    let stdout = ok(&caco(&[
        "eval",
        "segmentation",
        "--data-dir",
        data.to_str().unwrap(),
        "--out-dir",
        out.to_str().unwrap(),
        "--split-dir",
        splits.to_str().unwrap(),
        "--epochs",
        "1",
        "--tile-size",
        "32",
        "--device",
        "cpu",
        "--quiet",
    ]));
    assert!(
        stdout.contains("| miou | pixel_acc | iou_building | iou_land |"),
        "{stdout}"
    );
    // 4 big tiles: 1 val, 2 test, 1 train, written as list files.
    let lines = |name: &str| std::fs::read_to_string(splits.join(name)).unwrap().lines().count();
    assert_eq!((lines("train.txt"), lines("val.txt"), lines("test.txt")), (1, 1, 2));
    assert!(out.join("tables/segmentation_dubai-aerial-seg.metrics.toml").is_file());
    let overlays = std::fs::read_dir(out.join("figures/segmentation_dubai-aerial-seg/random_init_frozen"))
        .unwrap()
        .count();
    assert_eq!(overlays, 2);
}

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

/// Pixel counts per mask colour over the whole set, from the dataset's SOURCE.md.
const SOURCE_MD_COUNTS: [(usize, u64); 5] = [
    (0, 13_177_546), // Building
    (1, 51_850_363), // Land
    (2, 9_261_912),  // Road
    (3, 10_206_379), // Vegetation
    (4, 13_482_196), // Water
];

#[test]
fn real_levir_cd_samples_and_aerial_masks_read_as_documented() {
    if let Some(dir) = dataset_dir("levir-cd-samples") {
        let ds = ChangeDataset::open(&dir, ChangeLayout::default()).unwrap();
        assert_eq!(ds.len(), 11);
        let splits = change::splits_from_name_prefixes(&ds.names).unwrap();
        assert_eq!((splits.train.len(), splits.val.len(), splits.test.len()), (3, 1, 7));
        for idx in 0..ds.len() {
            let pair = ds.load(idx).unwrap();
            assert_eq!((pair.a.height, pair.a.width, pair.b.n_bands), (256, 256, 3));
            let changed = pair.label.data.iter().filter(|&&v| v == 1).count();
            // SOURCE.md: train_386_0512_0768 is all 0 (no change); the others have some change.
            assert_eq!(
                changed == 0,
                pair.name == "train_386_0512_0768.png",
                "{}: {changed}",
                pair.name
            );
        }
    }
    if let Some(dir) = dataset_dir(aerial_seg::DATASET_DIR) {
        let ds = AerialSeg::open(&dir).unwrap();
        assert_eq!(ds.len(), 72);
        let mut counts = [0u64; 6];
        for sample in &ds.samples {
            // Every mask (RGB and palette PNGs) decodes with the SOURCE.md colour table, no unknown colour.
            let mask = aerial_seg::load_colour_mask(&dir.join(sample.mask_rel_path())).unwrap();
            for &v in &mask.data {
                counts[if v == IGNORE_INDEX { 5 } else { v as usize }] += 1;
            }
        }
        for (class, expected) in SOURCE_MD_COUNTS {
            assert_eq!(counts[class], expected, "{}", AERIAL_CLASSES[class].0);
        }
        assert_eq!(counts[5], 552_156 + 501_691, "black + Unlabeled");
        // The committed split, if present, is by big tile.
        let split_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments/splits/dubai-aerial-seg");
        if split_dir.join("train.txt").is_file() {
            let splits = caco::data::split::read(&split_dir).unwrap();
            let tiles = |l: &[String]| {
                let mut t: Vec<String> = l.iter().map(|e| e.split('/').next().unwrap().to_string()).collect();
                t.dedup();
                t
            };
            let (train, test) = (tiles(&splits.train), tiles(&splits.test));
            assert!(train.iter().all(|t| !test.contains(t)), "{train:?} {test:?}");
            assert_eq!(splits.train.len() + splits.val.len() + splits.test.len(), 72);
        }
    }
}

#[test]
fn bigearthnet_command_on_fake_patches_accumulates_rows() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    ok(&caco(&[
        "data",
        "fake",
        "bigearthnet",
        "--out",
        data.join("bigearthnet").to_str().unwrap(),
        "--n-per-class",
        "6",
    ]));
    let out = dir.path().join("out");
    let run = |seed: &str| {
        ok(&caco(&[
            "eval",
            "bigearthnet",
            "--data-dir",
            data.to_str().unwrap(),
            "--out-dir",
            out.to_str().unwrap(),
            "--epochs",
            "2",
            "--label-fraction",
            "0.5",
            "--init-seed",
            seed,
            "--device",
            "cpu",
            "--quiet",
        ]))
    };
    let stdout = run("0");
    assert!(stdout.contains("| micro_map | macro_map |"), "{stdout}");
    // The table says how its micro AP differs from the authors' per-batch mean, and which input the probe saw.
    assert!(stdout.contains("per-batch micro AP"), "{stdout}");
    assert!(stdout.contains("bicubic resize to 128, x/255"), "{stdout}");
    // 50 % of 6 train patches, all 6 test patches.
    let csv = std::fs::read_to_string(out.join("tables/bigearthnet.csv")).unwrap();
    let row: Vec<&str> = csv.lines().nth(1).unwrap().split(',').collect();
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let col = |name: &str| row[header.iter().position(|h| *h == name).unwrap()];
    assert_eq!((col("n_train"), col("n_test")), ("3", "6"), "{csv}");
    let map: f64 = col("micro_map").parse().unwrap();
    assert!((0.0..=100.0).contains(&map), "{csv}");
    // The same row (random init, frozen) is replaced, not duplicated, by a second run.
    run("0");
    let csv = std::fs::read_to_string(out.join("tables/bigearthnet.csv")).unwrap();
    assert_eq!(csv.lines().count(), 2, "{csv}");
    // A missing dataset names the folder searched.
    let missing = caco(&[
        "eval",
        "bigearthnet",
        "--data-dir",
        dir.path().join("nowhere").to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(!missing.status.success() && stderr.contains("nowhere"), "{stderr}");
}

#[test]
fn eurosat_command_frozen_and_fine_tuned_rows_by_label_fraction() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    caco::data::fake::write_eurosat_rgb(
        &data.join("eurosat-rgb"),
        &caco::data::fake::FakeEurosat::with_eurosat_classes(10, 2),
    )
    .unwrap();
    // The committed config with the split lists redirected into the temp dir.
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments/eurosat.toml")).unwrap();
    let splits = dir.path().join("splits");
    let text = text.replace(
        "split_dir = \"experiments/splits/eurosat-rgb\"",
        &format!("split_dir = {:?}", splits.display().to_string()),
    );
    let config = dir.path().join("eurosat.toml");
    std::fs::write(&config, text).unwrap();
    let out = dir.path().join("out");
    let run = |extra: &[&str]| {
        let mut args = vec![
            "eval",
            "eurosat",
            "--config",
            config.to_str().unwrap(),
            "--data-dir",
            data.to_str().unwrap(),
            "--out-dir",
            out.to_str().unwrap(),
            "--epochs",
            "1",
            "--batch-size",
            "16",
            "--device",
            "cpu",
            "--quiet",
        ];
        args.extend_from_slice(extra);
        ok(&caco(&args))
    };
    run(&["--label-fraction", "0.5"]);
    run(&[]);
    let stdout = run(&["--finetune", "--label-fraction", "0.5"]);
    assert!(stdout.contains("| accuracy |"), "{stdout}");
    // Frozen rows follow the committed config's probe protocol: the authors' (x/255, BatchNorm re-estimated).
    assert!(
        stdout.contains("authors protocol (x/255, BatchNorm statistics re-estimated"),
        "{stdout}"
    );
    let csv = std::fs::read_to_string(out.join("tables/classification_eurosat-rgb.csv")).unwrap();
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let col = |row: &str, name: &str| {
        row.split(',')
            .nth(header.iter().position(|h| *h == name).unwrap())
            .unwrap()
            .to_string()
    };
    let rows: Vec<(String, String, String)> = csv
        .lines()
        .skip(1)
        .map(|r| (col(r, "encoder"), col(r, "label_fraction"), col(r, "n_train")))
        .collect();
    // 10 per class, 60 % train = 6 per class x 10 classes; half of them per class at 0.5.
    assert_eq!(
        rows,
        vec![
            ("frozen".to_string(), "0.5".to_string(), "30".to_string()),
            ("frozen".to_string(), "1.0".to_string(), "60".to_string()),
            ("fine-tuned".to_string(), "0.5".to_string(), "30".to_string()),
        ],
        "{csv}"
    );
}

/// `caco eval change-detection` at tiny settings (1 epoch, 32 px tiles, CPU) with `extra` flags.
fn change_run(data: &Path, out: &Path, dataset: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "eval",
        "change-detection",
        "--dataset",
        dataset,
        "--data-dir",
        data.to_str().unwrap(),
        "--out-dir",
        out.to_str().unwrap(),
        "--epochs",
        "1",
        "--tile-size",
        "32",
        "--overlays",
        "0",
        "--device",
        "cpu",
    ];
    args.extend_from_slice(extra);
    caco(&args)
}

fn stderr_of(run: &std::process::Output) -> String {
    String::from_utf8_lossy(&run.stderr).to_string()
}

#[test]
fn a_time1_time2_set_with_only_a_pair_list_goes_to_a_table_with_a_seeded_split() {
    // time1/ time2/ label/ (0/1 masks), a root list.txt and no split lists or name prefixes.
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let spec = FakeChange {
        layout: ChangeLayout::time1_time2(),
        n_pairs: [3, 1, 1],
        height: 32,
        width: 32,
        seed: 6,
    };
    let pairs = caco::data::fake::change::write_fake_listed(&data.join("my-cd"), &spec, true).unwrap();
    let (out, splits) = (dir.path().join("out"), dir.path().join("splits"));
    let splits_arg = splits.to_str().unwrap();

    // Without lists and prefixes: the error names the way out.
    let run = change_run(&data, &out, "my-cd", &["--split-dir", splits_arg]);
    let err = stderr_of(&run);
    assert!(
        !run.status.success()
            && err.contains("carry no train_/val_/test_ prefixes")
            && err.contains("--split seeded:0.6,0.2,0.2")
            && err.contains("pair_000.png"),
        "{err}"
    );

    let (stdout, stderr) = ok_both(&change_run(
        &data,
        &out,
        "my-cd",
        &["--split", "seeded:0.6,0.2,0.2", "--split-dir", splits_arg],
    ));
    assert!(stderr.contains("layout of") && stderr.contains("time1-time2 (detected)"), "{stderr}");
    assert!(
        stderr.contains(&format!("wrote the seeded split lists (seeded:0.6,0.2,0.2) in {splits_arg}")),
        "{stderr}"
    );
    assert!(stdout.contains("Pairs: the 5 listed in list.txt"), "{stdout}");
    let list = |name: &str| -> Vec<String> {
        std::fs::read_to_string(splits.join(name))
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect()
    };
    let (train, val, test) = (list("train.txt"), list("val.txt"), list("test.txt"));
    assert_eq!(train[0], "# caco seeded split by pair: train 0.6, val 0.2, test 0.2, seed 42");
    assert_eq!((train.len(), val.len(), test.len()), (1 + 3, 1 + 1, 1 + 1));
    let mut listed: Vec<&String> = train[1..].iter().chain(&val[1..]).chain(&test[1..]).collect();
    listed.sort();
    let names: Vec<&String> = pairs.iter().map(|p| &p.name).collect();
    assert_eq!(listed, names, "every listed pair once; unlisted.png left out");
    let csv = std::fs::read_to_string(out.join("tables/change_my-cd.csv")).unwrap();
    assert_eq!(csv.lines().count(), 2, "{csv}");
    let per_image = std::fs::read_to_string(out.join("tables/change_my-cd_per_image.csv")).unwrap();
    assert!(per_image.contains(test[1].as_str()), "{per_image}");

    // Other fractions into the same folder are refused, naming the list and the fix.
    let run = change_run(
        &data,
        &out,
        "my-cd",
        &["--split", "seeded:0.5,0.25,0.25", "--split-dir", splits_arg],
    );
    let err = stderr_of(&run);
    assert!(
        !run.status.success() && err.contains("train.txt") && err.contains("remove") && err.contains("--split-dir"),
        "{err}"
    );
    // A bad --split value, a wrong layout, and folders named by flag.
    let err = stderr_of(&change_run(&data, &out, "my-cd", &["--dates", "imgs_1_rect"]));
    assert!(err.contains("--dates imgs_1_rect is for OSCD") && err.contains("--layout"), "{err}");
    let err = stderr_of(&change_run(&data, &out, "my-cd", &["--split", "seeded:0.6,0.6"]));
    assert!(err.contains("--split `seeded:0.6,0.6`") && err.contains("sum to 1.2"), "{err}");
    let err = stderr_of(&change_run(&data, &out, "my-cd", &["--layout", "levir", "--split-dir", splits_arg]));
    assert!(
        err.contains("`A/` missing")
            && err.contains("label/, time1/, time2/")
            && err.contains("--a-dir")
            && !err.contains("ChangeLayout"),
        "{err}"
    );
    let (_, stderr) = ok_both(&change_run(
        &data,
        &out,
        "my-cd",
        &[
            "--layout",
            "levir",
            "--a-dir",
            "time1",
            "--b-dir",
            "time2",
            "--split-dir",
            splits_arg,
            "--split",
            "seeded:0.6,0.2,0.2",
        ],
    ));
    assert!(stderr.contains("levir (--layout) with --a-dir, --b-dir") && stderr.contains("reusing"), "{stderr}");
}

#[test]
fn oscd_in_torchgeo_layout_needs_the_dates_flag_and_splits_by_city_on_request() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let cities = ["abudhabi", "beirut", "cupertino", "paris"];
    caco::data::fake::oscd::write_fake_torchgeo(&data.join("tg-oscd"), &cities, 3, 48, 0).unwrap();
    let (out, splits) = (dir.path().join("out"), dir.path().join("splits"));
    let splits_arg = splits.to_str().unwrap();
    let err = stderr_of(&change_run(&data, &out, "tg-oscd", &["--split-dir", splits_arg]));
    assert!(
        err.contains("no city has imgs_1/")
            && err.contains("4 cities have imgs_1_rect/")
            && err.contains("--dates imgs_1_rect"),
        "{err}"
    );
    let err = stderr_of(&change_run(&data, &out, "tg-oscd", &["--dates", "imgs_1_rect", "--a-dir", "x"]));
    assert!(err.contains("holds OSCD") && err.contains("--dates imgs_1|imgs_1_rect"), "{err}");
    let err = stderr_of(&change_run(&data, &out, "tg-oscd", &["--dates", "imgs_2"]));
    assert!(err.contains("--dates `imgs_2`") && err.contains("imgs_1_rect"), "{err}");
    // The official train list names an absent city (nantes): a seeded split by city, asked for.
    let err = stderr_of(&change_run(
        &data,
        &out,
        "tg-oscd",
        &["--dates", "imgs_1_rect", "--split", "seeded:0.5,0.2,0.3", "--split-dir", splits_arg],
    ));
    assert!(err.contains("train and test cities only") && err.contains("seeded:0.6,0.4"), "{err}");
    let (stdout, stderr) = ok_both(&change_run(
        &data,
        &out,
        "tg-oscd",
        &["--dates", "imgs_1_rect", "--split", "seeded:0.5,0.5", "--split-dir", splits_arg],
    ));
    assert!(stdout.contains("release layout with imgs_1_rect/"), "{stdout}");
    assert!(stderr.contains("wrote a seeded split by city (seeded:0.5,0,0.5)"), "{stderr}");
    let test = std::fs::read_to_string(splits.join("test.txt")).unwrap();
    let test_cities: Vec<&str> = test.lines().skip(1).collect();
    assert!(test.starts_with("# caco seeded split by city: train 0.5, val 0, test 0.5, seed 42"), "{test}");
    assert_eq!(test_cities.len(), 2);
    let per_image = std::fs::read_to_string(out.join("tables/change_tg-oscd_per_image.csv")).unwrap();
    for city in test_cities {
        assert!(per_image.contains(city), "{city}: {per_image}");
    }
}

#[test]
fn real_oscd_release_imports_merged_and_trains_with_a_seeded_city_split() {
    let Some(release) = dataset_dir("oscd-subset") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let oscd = caco::fetch::registry::find("oscd").unwrap();
    let mut opts = caco::fetch::Options::new(&data);
    opts.from = Some(release);
    opts.quiet = true;
    caco::fetch::download(&oscd, &opts).unwrap();
    // Merged like the zips: city folders with both dates and their labels, the lists beside them.
    for city in ["aguasclaras", "bercy", "bordeaux", "paris", "rennes"] {
        let city_dir = data.join("oscd").join(city);
        assert!(city_dir.join("imgs_1").is_dir() && city_dir.join("imgs_2").is_dir(), "{city}");
        assert!(city_dir.join(format!("cm/{city}-cm.tif")).is_file(), "{city}");
    }
    assert!(data.join("oscd/train.txt").is_file());
    assert!(!data.join("oscd/Onera Satellite Change Detection dataset - Images").exists());
    let ds = caco::data::oscd::Oscd::open(data.join("oscd")).unwrap();
    assert_eq!((ds.layout, ds.cities.len()), ("merged", 5));
    // Every city's label reads (aguasclaras' anti-aliased PNG included, through the .tif's 1/2 coding).
    for city in &ds.cities {
        let (_, mask) = ds.load_label(city).unwrap();
        let changed = mask.data.iter().filter(|&&v| v == 1).count();
        assert!(changed > 0 && changed < mask.data.len() / 2, "{city}: {changed}");
    }
    // The official lists name absent cities: a seeded split by city, asked for.
    let out = dir.path().join("out");
    let splits = dir.path().join("splits");
    let splits_arg = splits.to_str().unwrap();
    let (stdout, _) = ok_both(&change_run(
        &data,
        &out,
        "oscd",
        &["--split", "seeded:0.6,0.4", "--split-dir", splits_arg, "--max-tiles", "4", "--quiet"],
    ));
    assert!(stdout.contains("merged layout with imgs_1/"), "{stdout}");
    let test = std::fs::read_to_string(splits.join("test.txt")).unwrap();
    assert_eq!(test.lines().skip(1).count(), 2, "{test}");
    let csv = std::fs::read_to_string(out.join("tables/change_oscd.csv")).unwrap();
    assert_eq!(csv.lines().count(), 2, "{csv}");
}

#[test]
fn dense_evaluation_feeds_the_normalisation_recorded_in_the_weights_unless_told_otherwise() {
    use caco::data::Normalization;
    use caco::models::weights::{write_backbone, BackboneContract};
    use caco::models::{Arch, ResNet};
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let spec = FakeChange {
        layout: ChangeLayout::default(),
        n_pairs: [2, 1, 1],
        height: 32,
        width: 32,
        seed: 4,
    };
    caco::data::fake::change::write_fake(&data.join("fake-cd"), &spec).unwrap();
    // A backbone trained on x/255 input (no ImageNet statistics), as its contract says.
    let vs = tch::nn::VarStore::new(tch::Device::Cpu);
    let _ = ResNet::new(&vs.root(), Arch::Resnet18, 3);
    let tensors: Vec<(String, tch::Tensor)> = vs.variables().into_iter().collect();
    let weights = dir.path().join("scaled.safetensors");
    let contract = BackboneContract {
        arch: Arch::Resnet18,
        in_channels: 3,
        bands: vec!["R".into(), "G".into(), "B".into()],
        normalization: Some(Normalization::Scale { scale: 255.0 }),
        stretch: None,
        method: Some("test".into()),
    };
    write_backbone(&weights, &tensors, &contract).unwrap();
    let w = weights.to_str().unwrap();

    let adopted = change_run(&data, &dir.path().join("a"), "fake-cd", &["--weights", w]);
    let stderr = stderr_of(&adopted);
    assert!(adopted.status.success(), "{stderr}");
    assert!(
        stderr.contains("normalisation: scale 255 as recorded in") && stderr.contains("instead of imagenet"),
        "{stderr}"
    );

    // --normalization overrides the contract; the note then says what the weights were trained with.
    let overridden = change_run(
        &data,
        &dir.path().join("b"),
        "fake-cd",
        &["--weights", w, "--normalization", "imagenet"],
    );
    let stderr = stderr_of(&overridden);
    assert!(overridden.status.success(), "{stderr}");
    assert!(!stderr.contains("as recorded in"), "{stderr}");
    assert!(stderr.contains("was trained with scale 255 normalisation, this evaluation feeds imagenet"), "{stderr}");

    // A protocol that fixes its input refuses the flag, saying what decides it.
    let refused = caco(&[
        "eval",
        "bigearthnet",
        "--data-dir",
        data.to_str().unwrap(),
        "--normalization",
        "scale=255",
    ]);
    let stderr = stderr_of(&refused);
    assert!(!refused.status.success());
    assert!(stderr.contains("--normalization does not apply here") && stderr.contains("BigEarthNet's protocol"), "{stderr}");
}
