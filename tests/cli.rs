//! The real command line on generated data: `caco reproduce-table --scale smoke` end to end, the feature cache,
//! report regeneration, and the missing-dataset error; every command's `--help`, flags in any order, the old names.

use std::path::{Path, PathBuf};

use caco::data::fake::{self, FakeEurosat};

mod common;
use common::{caco, ok};

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
        let run = caco(&[
            "data",
            "fake",
            kind,
            "--out",
            out.to_str().unwrap(),
            "--n-per-class",
            "2",
        ]);
        assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
        assert!(out.join(format!("SeaLake/SeaLake_2.{ext}")).is_file());
    }
}

/// `caco <path> --help`, which must succeed.
fn help(path: &str) -> String {
    let mut args: Vec<&str> = path.split_whitespace().collect();
    args.push("--help");
    ok(&caco(&args))
}

/// The commands a help lists under `Commands:` (names sit two spaces in; `help` left out).
fn listed_commands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter(|l| !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .map(str::to_string)
        .collect()
}

/// Every command; what its `--help` must show (its own flags, a default, a choice) and flags of other commands
/// it must not.
const HELPS: &[(&str, &[&str], &[&str])] = &[
    (
        "",
        &["reproduce-table", "pretrain", "data", "bench", "eval", "sample"],
        &["--scale", "simulate-seasons", "fake-data", "bench-loader"],
    ),
    (
        "reproduce-table",
        &[
            "--scale",
            "--table",
            "--config",
            "--runs-dir",
            "--seeds",
            "--force",
            "[default: cpu]",
            "[default: cache]",
        ],
        &["--n-locations", "--dataset", "--epochs"],
    ),
    (
        "pretrain",
        &["<CONFIG>", "--run-dir", "--resume", "--max-steps"],
        &["--scale", "--epochs"],
    ),
    (
        "change-check",
        &["--run ", "--truth", "[default: derived/eurosat-seasons/truth.csv]"],
        &["--run-dir", "--scale"],
    ),
    (
        "import-weights",
        &["<CHECKPOINT>", "--out", "--prefix", "--bands", "--normalization"],
        &["--scale", "--epochs", "--format"],
    ),
    (
        "export-weights",
        &["<BACKBONE>", "--format", "pth", "safetensors", "--out"],
        &["--scale", "--prefix", "--bands"],
    ),
    (
        "report",
        &["--metrics", "--results", "--out-dir", "[default: results]"],
        &["--scale", "--epochs"],
    ),
    (
        "data",
        &["download", "list", "simulate", "fake"],
        &["--jobs", "--n-locations"],
    ),
    (
        "data download",
        &[
            "[NAME]",
            "--list",
            "--from",
            "--jobs",
            "--retries",
            "--backoff-ms",
            "--mirror",
            "[default: 4]",
            "[default: 2000]",
        ],
        &["--n-locations", "--out "],
    ),
    ("data list", &[], &["--jobs", "--data-dir"]),
    (
        "data simulate",
        &[
            "--n-locations",
            "--changed-fraction",
            "--split-dir",
            "--seed",
            "--force",
            "[default: 2000]",
        ],
        &["--jobs", "--n-per-class"],
    ),
    (
        "data fake",
        &[
            "eurosat-rgb",
            "eurosat-ms",
            "bigearthnet",
            "dynamic-earthnet",
            "--out",
            "--n-per-class",
            "[default: 20]",
        ],
        &["--n-locations", "--jobs"],
    ),
    (
        "bench",
        &["loader", "pretrain", "features", "report"],
        &["--method", "--runs"],
    ),
    (
        "bench loader",
        &[
            "--root",
            "--batch-size",
            "--batches",
            "--workers",
            "--size",
            "[default: 30]",
        ],
        // The usage before clap listed these; bench-loader never read them.
        &["--method", "--skip-bad", "--amp", "--n-images", "--threads", "--steps"],
    ),
    (
        "bench pretrain",
        &[
            "--method",
            "--queue-size",
            "--steps",
            "--warmup",
            "--amp",
            "--channels-last",
            "--threads",
            "bf16",
            "gassl",
        ],
        &["--n-images", "--batches"],
    ),
    (
        "bench features",
        &[
            "--n-images",
            "--batch-size",
            "--threads",
            "[default: 5400]",
            "[default: cpu]",
        ],
        &["--queue-size", "--method"],
    ),
    (
        "bench report",
        &["--dir", "[default: results/bench]"],
        &["--runs", "--method"],
    ),
    (
        "sample",
        &[
            "--layout",
            "--sampler",
            "geography",
            "--n-locations",
            "--stac-url",
            "--sigma-km",
            "--max-cloud",
            "[default: 264]",
        ],
        &["--epochs", "--scale", "--jobs"],
    ),
    ("info", &[], &["--scale", "--device"]),
    (
        "eval",
        &["change-detection", "segmentation", "bigearthnet", "eurosat"],
        &["--n-locations", "--scale"],
    ),
    (
        "eval change-detection",
        // --lr and --init-seed were parsed before clap but not listed in the usage.
        &[
            "--dataset",
            "--seasons-dir",
            "--weights",
            "--epochs",
            "--lr",
            "--init-seed",
            "--label-fraction",
            "resnet50",
            "[default: levir-cd-samples]",
            "[default: 100]",
            "[default: 42]",
        ],
        &["--max-test", "--bands", "--max-per-class", "--n-locations"],
    ),
    (
        "eval segmentation",
        &[
            "--dataset",
            "--bands",
            "--months",
            "--skip-bad",
            "--snow-as-class",
            "--epochs",
            "[default: dubai-aerial-seg]",
        ],
        &["--seasons-dir", "--max-test", "--max-per-class"],
    ),
    (
        "eval bigearthnet",
        &["--max-test", "--label-fraction", "--epochs"],
        &["--dataset", "--seasons-dir", "--bands"],
    ),
    (
        "eval eurosat",
        &[
            "--config",
            "--max-per-class",
            "--finetune",
            "[default: experiments/eurosat.toml]",
        ],
        &["--dataset", "--max-test", "--bands"],
    ),
];

#[test]
fn every_command_help_shows_its_own_flags_only() {
    for (path, own, foreign) in HELPS {
        let text = help(path);
        assert!(text.contains(&format!("Usage: caco {path}").trim_end()), "{text}");
        for want in *own {
            assert!(text.contains(want), "`caco {path} --help` lacks `{want}`:\n{text}");
        }
        for flag in *foreign {
            assert!(!text.contains(flag), "`caco {path} --help` shows `{flag}`:\n{text}");
        }
    }
    // The table covers every command the binary lists.
    for group in ["", "data", "bench", "eval"] {
        let listed = listed_commands(&help(group));
        assert!(listed.len() >= 4, "{group}: {listed:?}");
        for command in listed {
            let path = format!("{group} {command}").trim().to_string();
            assert!(
                HELPS.iter().any(|(p, ..)| *p == path),
                "`caco {path}` has no entry in HELPS"
            );
        }
    }
}

#[test]
fn eval_flags_may_come_before_or_after_the_task() {
    let dir = tempfile::tempdir().unwrap();
    let (nowhere, out) = (dir.path().join("nowhere"), dir.path().join("out"));
    let (nowhere, out) = (nowhere.to_str().unwrap(), out.to_str().unwrap());
    let flags = ["--data-dir", nowhere, "--out-dir", out, "--device", "cpu", "--quiet"];
    let run = |before: &[&str], after: &[&str]| {
        let args: Vec<&str> = ["eval"]
            .iter()
            .chain(before)
            .chain(&["change-detection"])
            .chain(after)
            .copied()
            .collect();
        let run = caco(&args);
        assert!(!run.status.success(), "{args:?} succeeded");
        String::from_utf8_lossy(&run.stderr).to_string()
    };
    let dataset = ["--dataset", "oscd"];
    let all: Vec<&str> = dataset.iter().chain(&flags).copied().collect();
    let task_first = run(&[], &all);
    assert!(
        task_first.contains("nowhere") && !task_first.contains("unexpected"),
        "{task_first}"
    );
    assert_eq!(run(&all, &[]), task_first);
    assert_eq!(run(&dataset, &flags), task_first);
    assert_eq!(run(&flags, &dataset), task_first);
}

#[test]
fn old_command_names_still_run_and_stay_hidden() {
    let top = help("");
    for (old, new) in [
        ("simulate-seasons", "data simulate"),
        ("fake-data", "data fake"),
        ("data-download", "data download"),
        ("bench-loader", "bench loader"),
        ("bench-pretrain", "bench pretrain"),
        ("bench-features", "bench features"),
        ("bench-report", "bench report"),
    ] {
        assert!(!top.contains(old), "`{old}` is listed:\n{top}");
        let (old_help, new_help) = (help(old), help(new));
        assert!(old_help.contains(&format!("Old name of `caco {new}`")), "{old_help}");
        // The same arguments and flags: everything after the usage line.
        let flags = |h: &str| {
            let usage = &h[h.find("Usage:").unwrap()..];
            usage[usage.find("\n\n").unwrap()..].to_string()
        };
        assert_eq!(flags(&old_help), flags(&new_help), "{old} and {new}");
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("eurosat-rgb");
    ok(&caco(&[
        "fake-data",
        "eurosat-rgb",
        "--out",
        out.to_str().unwrap(),
        "--n-per-class",
        "1",
    ]));
    assert!(out.join("SeaLake/SeaLake_1.jpg").is_file());
}
