//! `reproduce-table` end to end at `--scale smoke` on generated data (every method pre-trained, every task
//! evaluated, the table and its figures written), the work cache on a second run, `--force`, and `report`
//! regenerating the outputs from the stored metrics alone.

use std::path::Path;

mod common;
use common::{caco, ok_both};

fn png_size(path: &Path) -> (u32, u32) {
    let image = image::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (image.width(), image.height())
}

#[test]
fn smoke_scale_end_to_end_with_cache_force_and_report() {
    let dir = tempfile::tempdir().unwrap();
    let (out, cache, runs) = (
        dir.path().join("out"),
        dir.path().join("cache"),
        dir.path().join("runs"),
    );
    let args = |extra: &[&str]| -> Vec<String> {
        let mut a: Vec<String> = [
            "reproduce-table",
            "--scale",
            "smoke",
            "--out-dir",
            out.to_str().unwrap(),
            "--cache-dir",
            cache.to_str().unwrap(),
            "--runs-dir",
            runs.to_str().unwrap(),
            "--device",
            "cpu",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };
    let run = |extra: &[&str]| {
        let a = args(extra);
        ok_both(&caco(&a.iter().map(String::as_str).collect::<Vec<_>>()))
    };

    let (stdout, stderr) = run(&[]);
    assert!(stderr.contains("0 results from the cache"), "{stderr}");
    // Six rows, every metric filled, the published SeCo probe number in its own column.
    assert!(stdout.contains("| CACo |") && stdout.contains("93.14"), "{stdout}");
    let csv = std::fs::read_to_string(out.join("tables/main.csv")).unwrap();
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    for column in [
        "eurosat_probe",
        "eurosat_knn20",
        "change_levir-cd-samples_f1",
        "change_eurosat-seasons-change_f1",
        "seg_dubai-aerial-seg_miou",
        "bigearthnet_map",
        "eurosat_probe_published",
        "change_clcd-train-subset_f1",
        "change_clcd-train-subset_finetuned_f1",
        "change_oscd-subset_f1",
        "aware_era_auroc",
        "aware_ratio_auroc",
        "aware_invariance",
        "aware_era_auroc_ci_low",
    ] {
        assert!(header.contains(&column), "missing {column}: {header:?}");
    }
    assert_eq!(csv.lines().count(), 7, "{csv}");
    for line in csv.lines().skip(1) {
        let cells: Vec<&str> = line.split(',').collect();
        let value: f64 = cells[header.iter().position(|h| *h == "eurosat_probe").unwrap()]
            .parse()
            .unwrap();
        assert!((0.0..=100.0).contains(&value), "{line}");
    }
    assert!(out.join("tables/main.parquet").is_file());
    // Five pre-training runs, one folder each, finished.
    let finished = std::fs::read_dir(&runs)
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().join("done.toml").is_file())
        .count();
    assert_eq!(finished, 5);
    let figures = [
        "main_bars",
        "main_pretrain_loss",
        "main_caco_ratio",
        "main_label_fraction",
        "main_eurosat_samples",
        "main_retrieval_caco",
        "main_change_awareness",
    ];
    for f in figures {
        let png = out.join(format!("figures/{f}.png"));
        let (w, h) = png_size(&png);
        assert!(w >= 300 && h >= 200, "{f}: {w}x{h}");
        assert!(
            out.join(format!("figures/{f}.svg")).metadata().unwrap().len() > 1000,
            "{f}.svg"
        );
    }
    // Change-map overlays of the change tasks; the fake CLCD is scored on its val list, the fake OSCD release on a
    // seeded split by city written beside the generated data.
    assert!(out.join("figures/change_levir-cd-samples").is_dir());
    let clcd = std::fs::read_to_string(out.join("tables/change_clcd-train-subset_per_image.csv")).unwrap();
    assert!(clcd.contains("val_000.png") && !clcd.contains("test_"), "{clcd}");
    let oscd_split = cache.join("generated/main-smoke/splits/oscd-subset/test.txt");
    assert!(std::fs::read_to_string(&oscd_split).unwrap().contains("seeded split by city"));
    let md = std::fs::read_to_string(out.join("tables/main.md")).unwrap();
    assert!(md.contains("Change awareness (eval/awareness.rs"), "{md}");

    // A second run computes nothing.
    let md_before = std::fs::read_to_string(out.join("tables/main.md")).unwrap();
    let (_, stderr) = run(&[]);
    assert!(stderr.contains(" 0 computed"), "{stderr}");
    let table_part = |md: &str| md.split("Wall time").next().unwrap().to_string();
    let md_second = std::fs::read_to_string(out.join("tables/main.md")).unwrap();
    assert_eq!(table_part(&md_before), table_part(&md_second));

    // `report` regenerates the table and figures from the metrics alone.
    std::fs::remove_file(out.join("tables/main.md")).unwrap();
    std::fs::remove_file(out.join("figures/main_bars.png")).unwrap();
    ok_both(&caco(&[
        "report",
        "--metrics",
        out.join("tables/main.metrics.toml").to_str().unwrap(),
    ]));
    assert_eq!(md_second, std::fs::read_to_string(out.join("tables/main.md")).unwrap());
    assert!(out.join("figures/main_bars.png").is_file());

    // --force redoes the work (same numbers: everything is seeded).
    let (_, stderr) = run(&["--force"]);
    assert!(stderr.contains("0 results from the cache"), "{stderr}");
    assert_eq!(
        table_part(&md_before),
        table_part(&std::fs::read_to_string(out.join("tables/main.md")).unwrap())
    );
}

#[test]
fn unknown_scale_and_bad_table_are_clear_errors() {
    let out = caco(&["reproduce-table", "--scale", "smoke", "--seeds", "0", "--quiet"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("--seeds must be at least 1"), "{stderr}");
    let out = caco(&["reproduce-table", "--scale", "galaxy", "--quiet"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("galaxy") && stderr.contains("smoke"),
        "{stderr}"
    );
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "name = \"x\"\ntitle = \"x\"\n[[rows]]\nname = \"a\"\nmethod = \"byol\"\n[[tasks]]\nkind = \"eurosat\"\n\
         [scales.smoke]\npretrain = \"{method}.toml\"\n",
    )
    .unwrap();
    let out = caco(&["reproduce-table", "--table", bad.to_str().unwrap(), "--scale", "smoke"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("byol") && stderr.contains("bad.toml"),
        "{stderr}"
    );
}
