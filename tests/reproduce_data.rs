//! `reproduce-table`'s data pre-check, `--download` and `--skip-missing` (issue 15): an empty data root lists every
//! missing dataset in one message before any work; the downloadable ones arrive through the loopback server (the
//! registry's real paths on 127.0.0.1, as `data download --mirror`), and the table runs with the rest skipped and
//! marked "n/a (data absent)".

use std::path::Path;

use caco::config::ExperimentConfig;
use caco::data::fake::change::FakeChange;
use caco::data::fake::{self, FakeEurosat};
use caco::fetch::loopback::Server;
use caco::fetch::registry::{self, Checksum, Dataset, Source};
use caco::reproduce::datasets::{self, Status};
use caco::reproduce::{ReproduceContext, TableConfig};
use md5::{Digest, Md5};

mod common;
use common::{caco, files_under, zip_dir};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn url_path(url: &str) -> String {
    let host_end = url.find("://").unwrap() + 3;
    url[host_end + url[host_end..].find('/').unwrap()..].to_string()
}

fn sha256_hex(bytes: &[u8]) -> String {
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// The registry with eurosat-rgb and levir-cd-samples served by `server` from fake data in their real layouts, their
/// checksums those of the served bytes (the published ones are for the real files).
fn registry_served_by(server: &Server, dir: &Path) -> Vec<Dataset> {
    let eurosat_src = dir.join("eurosat-src");
    // 60 per class: the smoke preset keeps 20 per class and split.
    fake::write_eurosat_rgb(&eurosat_src, &FakeEurosat::with_eurosat_classes(60, 11)).unwrap();
    let zip = zip_dir(&eurosat_src, "2750");
    let zip_md5: String = Md5::digest(&zip).iter().map(|b| format!("{b:02x}")).collect();
    // Fake pairs served under the real crop names (the committed split lists name them).
    let levir_src = dir.join("levir-src");
    let spec = FakeChange {
        layout: Default::default(),
        n_pairs: [3, 1, 2],
        height: 48,
        width: 48,
        seed: 5,
    };
    fake::change::write_fake(&levir_src, &spec).unwrap();
    let fakes: Vec<String> = files_under(&levir_src.join("A"))
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().to_string())
        .collect();
    let mut all = registry::all();
    for dataset in &mut all {
        let Source::Files(files) = &mut dataset.source else { continue };
        match dataset.name.as_str() {
            "eurosat-rgb" => {
                server.add_file(&url_path(&files[0].url), zip.clone());
                files[0].checksum = Some(Checksum::Md5(zip_md5.clone()));
            }
            "levir-cd-samples" => {
                let mut crops: Vec<String> = Vec::new();
                for file in files.iter_mut() {
                    let (folder, crop) = file.file.split_once('/').unwrap();
                    if !crops.contains(&crop.to_string()) {
                        crops.push(crop.to_string());
                    }
                    let idx = crops.iter().position(|c| c == crop).unwrap();
                    let bytes = std::fs::read(levir_src.join(folder).join(&fakes[idx % fakes.len()])).unwrap();
                    server.add_file(&url_path(&file.url), bytes.clone());
                    file.checksum = Some(Checksum::Sha256(sha256_hex(&bytes)));
                }
            }
            _ => {}
        }
    }
    all
}

/// A table in the committed tables' form on the data root (not generated data): random init on EuroSAT, the
/// LEVIR-CD crops (downloadable), CLCD (a manual download, absent here) and the optional BigEarthNet, at smoke sizes.
fn table(dir: &Path) -> TableConfig {
    let eurosat = std::fs::read_to_string(Path::new(ROOT).join("experiments/eurosat.toml"))
        .unwrap()
        .replace(
            "split_dir = \"experiments/splits/eurosat-rgb\"",
            &format!("split_dir = {:?}", dir.join("splits/eurosat-rgb").display().to_string()),
        );
    let eurosat_path = dir.join("eurosat.toml");
    std::fs::write(&eurosat_path, eurosat).unwrap();
    let text = format!(
        r#"
name = "fresh"
title = "Fresh machine"
eurosat_config = {eurosat:?}
published = {published:?}
[[rows]]
name = "Random init"
weights = "random"
[[tasks]]
kind = "eurosat"
[[tasks]]
kind = "change-detection"
dataset = "levir-cd-samples"
[[tasks]]
kind = "change-detection"
dataset = "clcd-train-subset"
[[tasks]]
kind = "bigearthnet"
optional = true
[scales.smoke]
pretrain = "experiments/pretrain/{{method}}-r18-cpu.toml"
dense = {{ epochs = 1, batch_size = 4, tile_size = 32 }}
"#,
        eurosat = eurosat_path.display().to_string(),
        published = Path::new(ROOT).join("experiments/tables/published.toml").display().to_string(),
    );
    TableConfig::from_toml(&text, &dir.join("fresh.toml")).unwrap()
}

#[test]
fn download_fetches_what_it_can_and_skip_missing_marks_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start().unwrap();
    let registry = registry_served_by(&server, dir.path());
    let config = table(dir.path());
    let data_root = dir.path().join("data");

    // The pre-check on an empty data root: one list, with each dataset's command.
    let needs = datasets::check(&config, "smoke", &data_root, &registry).unwrap();
    let status = |needs: &[datasets::Need], name: &str| needs.iter().find(|n| n.dataset == name).unwrap().status.clone();
    assert!(matches!(status(&needs, "eurosat-rgb"), Status::Downloadable { .. }));
    assert!(matches!(status(&needs, "levir-cd-samples"), Status::Downloadable { .. }));
    assert!(matches!(status(&needs, "clcd-train-subset"), Status::Manual { .. }));
    let message = datasets::render(&needs, "fresh", "smoke", &data_root);
    assert!(message.contains("3 are missing"), "{message}");
    assert!(message.contains("cargo xtask data download levir-cd-samples --data-dir"), "{message}");

    // --download: both downloadable sets arrive in the readers' layouts, checked; CLCD stays missing.
    let mut options = caco::fetch::Options::new(&data_root);
    options.mirror = Some(server.base_url());
    options.quiet = true;
    let messages = datasets::download_missing(&needs, &registry, &options).unwrap();
    assert!(messages.iter().any(|m| m.starts_with("eurosat-rgb: ") && m.contains("md5")), "{messages:?}");
    assert_eq!(files_under(&data_root.join("eurosat-rgb/Forest")).len(), 60);
    for folder in ["A", "B", "label"] {
        assert_eq!(files_under(&data_root.join("levir-cd-samples").join(folder)).len(), 11, "{folder}");
    }
    assert!(data_root.join("levir-cd-samples/label/test_102_0512_0000.png").is_file());
    let needs = datasets::check(&config, "smoke", &data_root, &registry).unwrap();
    assert_eq!(status(&needs, "eurosat-rgb"), Status::Present);
    assert_eq!(status(&needs, "levir-cd-samples"), Status::Present);
    let missing: Vec<&str> = needs.iter().filter(|n| n.is_missing()).map(|n| n.dataset.as_str()).collect();
    assert_eq!(missing, ["clcd-train-subset", "bigearthnet"]);

    // --skip-missing: the table runs, CLCD's and BigEarthNet's cells read "n/a (data absent)" with a note.
    let ctx = ReproduceContext {
        data_root: data_root.clone(),
        cache_dir: dir.path().join("cache"),
        runs_dir: dir.path().join("runs"),
        out_dir: dir.path().join("out"),
        device: tch::Device::Cpu,
        quiet: true,
        force: false,
        skip_missing: true,
    };
    let table = caco::reproduce::reproduce(&config, "smoke", &ctx).unwrap();
    let markdown = caco::results::paper::markdown(&table);
    let row = markdown.lines().find(|l| l.starts_with("| Random init |")).unwrap();
    let cells: Vec<&str> = row.split('|').map(str::trim).collect();
    let header = markdown.lines().find(|l| l.starts_with("| initialisation |")).unwrap();
    let columns: Vec<&str> = header.split('|').map(str::trim).collect();
    let cell = |label: &str| cells[columns.iter().position(|c| c.starts_with(label)).unwrap()];
    assert_eq!(cell("clcd-train-subset change F1"), "n/a (data absent)", "{markdown}");
    assert_eq!(cell("BigEarthNet mAP"), "n/a (data absent)", "{markdown}");
    let probe: f64 = cell("EuroSAT probe").split(' ').next().unwrap().parse().unwrap();
    assert!((0.0..=100.0).contains(&probe), "{markdown}");
    let levir: f64 = cell("levir-cd-samples change F1").split(' ').next().unwrap().parse().unwrap();
    assert!((0.0..=100.0).contains(&levir), "{markdown}");
    assert!(
        table.notes.iter().any(|n| n.contains("clcd-train-subset skipped, n/a (data absent)")),
        "{:?}",
        table.notes
    );
}

#[test]
fn an_empty_data_root_stops_the_cpu_table_before_any_work_with_every_missing_dataset() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let runs = dir.path().join("runs");
    let out = caco(&[
        "reproduce-table",
        "--scale",
        "cpu",
        "--data-dir",
        data.to_str().unwrap(),
        "--runs-dir",
        runs.to_str().unwrap(),
        "--out-dir",
        dir.path().join("out").to_str().unwrap(),
        "--device",
        "cpu",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("missing data, nothing was run"), "{stderr}");
    let data_dir = format!("--data-dir {}", data.display());
    for expected in [
        format!("cargo xtask data download eurosat-rgb {data_dir}"),
        format!("cargo xtask data download clcd-train-subset {data_dir} --from"),
        format!("cargo xtask data download oscd-subset {data_dir} --from"),
        "https://github.com/liumency/CropLand-CD".to_string(),
        "--download".to_string(),
        "--skip-missing".to_string(),
    ] {
        assert!(stderr.contains(&expected), "missing `{expected}` in:\n{stderr}");
    }
    assert!(!runs.exists() && !data.exists(), "work started or data were fetched without --download");
}

#[test]
fn the_command_line_downloads_the_real_levir_crops_through_a_mirror_and_skips_the_rest() {
    // The real crops' bytes (a copy of the pinned BIT_CD commit), so the registry's own SHA-256s are checked.
    let real = caco::data::data_root(None).join("levir-cd-samples");
    if !real.join("A").is_dir() {
        println!("SKIPPED: {} not found (set CACO_DATA to the folder holding levir-cd-samples/)", real.display());
        return;
    }
    let server = Server::start().unwrap();
    let Source::Files(files) = registry::find("levir-cd-samples").unwrap().source else {
        panic!("levir-cd-samples: not a list of files");
    };
    for file in &files {
        server.add_file(&url_path(&file.url), std::fs::read(real.join(&file.file)).unwrap());
    }
    let dir = tempfile::tempdir().unwrap();
    let table = dir.path().join("levir.toml");
    std::fs::write(
        &table,
        r#"
name = "levir"
title = "LEVIR-CD crops, CLCD absent"
[[rows]]
name = "Random init"
weights = "random"
[[tasks]]
kind = "change-detection"
dataset = "levir-cd-samples"
[[tasks]]
kind = "change-detection"
dataset = "clcd-train-subset"
[scales.smoke]
pretrain = "experiments/pretrain/{method}-r18-cpu.toml"
dense = { epochs = 1, batch_size = 4, tile_size = 32 }
"#,
    )
    .unwrap();
    let data = dir.path().join("data");
    let path = |p: &Path| p.to_str().unwrap().to_string();
    let args = |extra: &[&str]| -> Vec<String> {
        let mut a: Vec<String> = ["reproduce-table", "--scale", "smoke", "--device", "cpu"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        for (flag, value) in [
            ("--table", &table),
            ("--data-dir", &data),
            ("--out-dir", &dir.path().join("out")),
            ("--cache-dir", &dir.path().join("cache")),
            ("--runs-dir", &dir.path().join("runs")),
        ] {
            a.extend([flag.to_string(), path(value)]);
        }
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };
    let run = |extra: &[&str]| {
        let a = args(extra);
        caco(&a.iter().map(String::as_str).collect::<Vec<_>>())
    };
    // Without --skip-missing the absent CLCD stops the run, after the download and before any work.
    let out = run(&["--download", "--mirror", &server.base_url()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("missing data, nothing was run"), "{stderr}");
    assert!(stderr.contains("present       levir-cd-samples") && stderr.contains("sha256"), "{stderr}");
    assert!(stderr.contains("manual        clcd-train-subset"), "{stderr}");
    assert_eq!(files_under(&data.join("levir-cd-samples")).len(), 33);
    for file in &files {
        assert_eq!(
            std::fs::read(data.join("levir-cd-samples").join(&file.file)).unwrap(),
            std::fs::read(real.join(&file.file)).unwrap()
        );
    }
    let n_requests = server.requests().len();
    // --skip-missing: nothing more is fetched without --download, the table runs, CLCD's cell is marked.
    let out = run(&["--skip-missing"]);
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert_eq!(server.requests().len(), n_requests);
    let row = stdout.lines().find(|l| l.starts_with("| Random init |")).unwrap();
    let cells: Vec<&str> = row.split('|').map(str::trim).collect();
    assert_eq!(cells[3], "n/a (data absent)", "{stdout}");
    let f1: f64 = cells[2].split(' ').next().unwrap().parse().unwrap();
    assert!((0.0..=100.0).contains(&f1), "{stdout}");
    assert!(stdout.contains("clcd-train-subset skipped, n/a (data absent)"), "{stdout}");
}
