//! `caco data download` end to end on 127.0.0.1: the registry's real entries, pointed at the loopback server with
//! `mirror` (same paths, local host), serve archives generated here. Covers extraction into the readers' layouts,
//! resume after a truncated response, servers that ignore ranges, retries, checksum mismatches (published and
//! trust-on-first-use), CACo-1M's parts joined before extraction with bounded parallelism, `--from` archives and
//! folders (LEVIR-CD and OSCD arranged as their readers expect), the manual-download errors and the command line.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use caco::data::change::{ChangeDataset, ChangeLayout};
use caco::data::fake::change::FakeChange;
use caco::data::eurosat::{Eurosat, EurosatVariant};
use caco::data::fake::{self, FakeEurosat, FakeTimeSeries};
use caco::data::oscd::Oscd;
use caco::data::timeseries::{Layout, TimeSeries, TimeSeriesOptions, RGB_BANDS};
use caco::fetch::http::RetryPolicy;
use caco::fetch::loopback::{Reply, Request, Server};
use caco::fetch::registry::{self, Checksum, Dataset, Source};
use caco::fetch::{self, verify, Options};
use caco::Error;
use md5::{Digest, Md5};

mod common;
use common::{files_under, zip_dir};

fn options(root: &Path, server: &Server) -> Options {
    let mut options = Options::new(root);
    options.mirror = Some(server.base_url());
    options.policy = RetryPolicy {
        retries: 3,
        backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(20),
        timeout: Duration::from_secs(10),
    };
    options.quiet = true;
    options
}

fn md5_hex(bytes: &[u8]) -> String {
    Md5::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

fn sha256_hex(bytes: &[u8]) -> String {
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// The registry entry `name`, its single file's checksum replaced (the published one is for the real file).
fn entry_with_checksum(name: &str, checksum: Option<Checksum>) -> Dataset {
    let mut dataset = registry::find(name).unwrap();
    match &mut dataset.source {
        Source::Files(files) => files[0].checksum = checksum,
        other => panic!("{name}: not a single-file source: {other:?}"),
    }
    dataset
}

/// The URL path of a registry entry's single file (served at the same path on the loopback server).
fn url_path(dataset: &Dataset) -> String {
    let Source::Files(files) = &dataset.source else {
        panic!()
    };
    let url = &files[0].url;
    let host_end = url.find("://").unwrap() + 3;
    url[host_end + url[host_end..].find('/').unwrap()..].to_string()
}

/// A .tar.gz of `dir` under the folder name `prefix`.
fn tar_gz_dir(dir: &Path, prefix: &str) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    tar.append_dir_all(prefix, dir).unwrap();
    tar.into_inner().unwrap().finish().unwrap()
}

fn gets(server: &Server, path: &str) -> Vec<Request> {
    server
        .requests_to(path)
        .into_iter()
        .filter(|r| r.method == "GET")
        .collect()
}

fn fake_eurosat(dir: &Path) -> PathBuf {
    let src = dir.join("eurosat-src");
    fake::write_eurosat_rgb(&src, &FakeEurosat::with_eurosat_classes(3, 7)).unwrap();
    src
}

#[test]
fn a_zip_is_downloaded_verified_and_extracted_into_the_readers_layout() {
    let dir = tempfile::tempdir().unwrap();
    let src = fake_eurosat(dir.path());
    let zip = zip_dir(&src, "2750"); // the real archive's wrapping folder
    let dataset = entry_with_checksum("eurosat-rgb", Some(Checksum::Md5(md5_hex(&zip))));
    let server = Server::start().unwrap();
    let path = url_path(&dataset);
    assert_eq!(path, "/files/sentinel/EuroSAT.zip");
    server.add_file(&path, zip.clone());

    let root = dir.path().join("data");
    let outcome = fetch::download(&dataset, &options(&root, &server)).unwrap();
    assert_eq!(outcome.folder, root.join("eurosat-rgb"));
    assert_eq!(outcome.n_files, 30);
    assert!(
        outcome
            .messages
            .iter()
            .any(|m| m.contains("matches the published checksum")),
        "{:?}",
        outcome.messages
    );
    let eurosat = Eurosat::open(root.join("eurosat-rgb"), EurosatVariant::Rgb).unwrap();
    assert_eq!((eurosat.classes.len(), eurosat.len()), (10, 30));
    let first = std::fs::read(root.join("eurosat-rgb/AnnualCrop/AnnualCrop_1.jpg")).unwrap();
    assert_eq!(first, std::fs::read(src.join("AnnualCrop/AnnualCrop_1.jpg")).unwrap());
    // The archive is gone, the completion record stays; no staging folder is left.
    let work = fetch::work_dir(&root, &dataset);
    assert!(!work.join("EuroSAT.zip").exists() && work.join("done.toml").is_file());
    assert!(!root.join(".eurosat-rgb.staging").exists());

    // A second run finds the folder and downloads nothing.
    let n_requests = server.requests().len();
    let again = fetch::download(&dataset, &options(&root, &server)).unwrap();
    assert!(again.already_present && again.messages[0].contains("--force replaces it"));
    assert_eq!(server.requests().len(), n_requests);
}

#[test]
fn a_truncated_download_resumes_with_a_range_request_and_trust_on_first_use_catches_other_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let series = dir.path().join("series");
    let spec = FakeTimeSeries {
        layout: Layout::Caco,
        n_locations: 2,
        dates_per_era: 5,
        bands: RGB_BANDS.iter().map(|b| b.to_string()).collect(),
        size: 12,
        seed: 3,
    };
    fake::write_timeseries(&series, &spec).unwrap();
    let archive = tar_gz_dir(&series, "clean_10k_geography");
    let dataset = registry::find("caco-10k").unwrap(); // no published checksum: trust on first use
    let path = url_path(&dataset);
    let server = Server::start().unwrap();
    server.add_file(&path, archive.clone());
    let cut = archive.len() as u64 / 3;
    server.cut_next(&path, cut);

    let root = dir.path().join("data");
    let mut opts = options(&root, &server);
    opts.keep_archives = true;
    let outcome = fetch::download(&dataset, &opts).unwrap();

    let requests = gets(&server, &path);
    assert_eq!(requests.len(), 2, "one cut response, one resumed");
    assert_eq!(requests[0].header("range"), None);
    assert_eq!(requests[1].header("range"), Some(format!("bytes={cut}-").as_str()));
    let work = fetch::work_dir(&root, &dataset);
    assert_eq!(
        std::fs::read(work.join("caco10k.tar.gz")).unwrap(),
        archive,
        "byte-identical after resume"
    );
    assert!(!work.join("caco10k.tar.gz.part").exists());
    let recorded = std::fs::read_to_string(verify::sidecar_path(&work.join("caco10k.tar.gz"))).unwrap();
    assert!(recorded.starts_with(&sha256_hex(&archive)));
    assert!(outcome.messages.iter().any(|m| m.contains("trust on first use")));
    let opened = TimeSeries::open(root.join("caco-10k"), TimeSeriesOptions::new(Layout::Caco, &RGB_BANDS)).unwrap();
    assert_eq!(opened.locations.len(), 2);

    // Later, the server hands out other bytes: the recorded SHA-256 rejects them and keeps them aside.
    std::fs::remove_file(work.join("caco10k.tar.gz")).unwrap();
    let mut other = archive.clone();
    let last = other.len() - 1;
    other[last] ^= 0xff;
    server.add_file(&path, other.clone());
    opts.force = true;
    let err = fetch::download(&dataset, &opts).unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("recorded at the first download") && message.contains(&sha256_hex(&other)),
        "{message}"
    );
    assert_eq!(std::fs::read(work.join("caco10k.tar.gz.bad")).unwrap(), other);
    // The earlier dataset folder is untouched.
    assert_eq!(files_under(&root.join("caco-10k")).len(), files_under(&series).len());
}

#[test]
fn retries_5xx_restarts_when_ranges_are_ignored_and_stops_at_404() {
    let dir = tempfile::tempdir().unwrap();
    let body: Vec<u8> = (0..50_000u32).flat_map(|i| i.to_le_bytes()).collect();
    let dataset = registry::find("world-cities").unwrap();
    let path = url_path(&dataset);
    assert!(path.ends_with("/ne_10m_populated_places.geojson"));
    let server = Server::start().unwrap();
    server.add_file(&path, body.clone());
    server.fail_next(&path, 503, 2); // the HEAD and the first GET
    server.cut_next(&path, 1000);
    server.ignore_ranges(&path);

    let root = dir.path().join("data");
    fetch::download(&dataset, &options(&root, &server)).unwrap();
    let requests = gets(&server, &path);
    assert_eq!(requests.len(), 3, "503, cut at 1000 bytes, then the whole file again");
    assert_eq!(requests[2].header("range"), Some("bytes=1000-"));
    // A plain file (not an archive) is placed as is.
    assert_eq!(
        std::fs::read(root.join("world-cities/ne_10m_populated_places.geojson")).unwrap(),
        body
    );

    // 404 is not retried and names the URL.
    let empty = Server::start().unwrap();
    let err = fetch::download(&dataset, &options(&dir.path().join("data2"), &empty)).unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains(&empty.url(&path)) && message.contains("404"),
        "{message}"
    );
    assert_eq!(gets(&empty, &path).len(), 1);
}

#[test]
fn a_part_file_left_by_an_earlier_run_is_resumed_or_finished() {
    let dir = tempfile::tempdir().unwrap();
    let body: Vec<u8> = (0..30_000u32).flat_map(|i| (i * 7).to_le_bytes()).collect();
    let dataset = registry::find("world-cities").unwrap();
    let path = url_path(&dataset);
    for (seeded, expected_status) in [(body.len() / 2, "206"), (body.len(), "416")] {
        let server = Server::start().unwrap();
        server.add_file(&path, body.clone());
        let root = dir.path().join(format!("data-{seeded}"));
        let work = fetch::work_dir(&root, &dataset);
        std::fs::create_dir_all(&work).unwrap();
        std::fs::write(work.join("ne_10m_populated_places.geojson.part"), &body[..seeded]).unwrap();
        fetch::download(&dataset, &options(&root, &server)).unwrap();
        let requests = gets(&server, &path);
        assert_eq!(requests.len(), 1, "{expected_status}");
        assert_eq!(requests[0].header("range"), Some(format!("bytes={seeded}-").as_str()));
        assert_eq!(
            std::fs::read(root.join("world-cities/ne_10m_populated_places.geojson")).unwrap(),
            body
        );
    }
}

#[test]
fn a_corrupted_download_fails_its_published_checksum_and_is_kept_aside() {
    let dir = tempfile::tempdir().unwrap();
    let dataset = registry::find("eurosat-ms").unwrap(); // the real published MD5
    let path = url_path(&dataset);
    let server = Server::start().unwrap();
    let corrupted = b"PK\x03\x04 not the EuroSAT archive".to_vec();
    server.add_file(&path, corrupted.clone());

    let root = dir.path().join("data");
    let err = fetch::download(&dataset, &options(&root, &server)).unwrap_err();
    let message = err.to_string();
    let Error::Checksum(mismatch) = err else {
        panic!("not a checksum error: {message}");
    };
    let caco::error::ChecksumMismatch {
        path: file,
        kept,
        expected,
        actual,
        algorithm,
        ..
    } = *mismatch;
    assert_eq!(
        (algorithm.as_str(), expected.as_str()),
        ("md5", "5ac12b3b2557aa56e1826e981e8e200e")
    );
    assert_eq!(actual, md5_hex(&corrupted));
    assert_eq!(kept, verify::bad_path(&file));
    assert_eq!(std::fs::read(&kept).unwrap(), corrupted);
    assert!(!file.exists());
    for part in [
        &server.url(&path),
        &*kept.to_string_lossy(),
        &*file.to_string_lossy(),
        &expected,
        &actual,
    ] {
        assert!(message.contains(part), "`{part}` missing from: {message}");
    }
    assert!(!root.join("eurosat-ms").exists());
}

#[test]
fn caco_1m_parts_are_listed_by_zenodo_fetched_two_at_a_time_and_joined_before_extraction() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    for loc in 0..6 {
        let folder = tree.join(format!("{loc:06}/S2A_20200101/"));
        std::fs::create_dir_all(&folder).unwrap();
        let noise: Vec<u8> = (0..20_000u32)
            .map(|i| (i.wrapping_mul(2654435761) >> (loc + 3)) as u8)
            .collect();
        std::fs::write(folder.join("B4.tif"), noise).unwrap();
    }
    let archive = tar_gz_dir(&tree, "clean_1m_geography");
    let quarter = archive.len() / 4;
    let chunks = [
        &archive[..quarter],
        &archive[quarter..2 * quarter],
        &archive[2 * quarter..3 * quarter + 7],
        &archive[3 * quarter + 7..],
    ];
    let dataset = registry::find("caco-1m").unwrap();
    let server = Server::start().unwrap();
    let (in_flight, max_in_flight) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let mut listing = Vec::new();
    for (suffix, chunk) in ["ac", "aa", "ad", "ab"]
        .iter()
        .zip([chunks[2], chunks[0], chunks[3], chunks[1]])
    {
        let key = format!("clean_1m_geography_part{suffix}");
        let route = format!("/api/records/10913174/files/{key}/content");
        listing.push(serde_json::json!({
            "key": key,
            "size": chunk.len(),
            "checksum": format!("md5:{}", md5_hex(chunk)),
            "links": { "self": format!("https://zenodo.org{route}") },
        }));
        let (chunk, in_flight, max_in_flight) = (chunk.to_vec(), in_flight.clone(), max_in_flight.clone());
        server.add_handler(&route, move |req| {
            if req.method == "GET" {
                let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                max_in_flight.fetch_max(now, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(150));
                in_flight.fetch_sub(1, Ordering::SeqCst);
            }
            Reply::new(200, "application/octet-stream", chunk.clone())
        });
    }
    listing.push(serde_json::json!({ "key": "README.md", "checksum": "md5:00", "links": {} }));
    let record = serde_json::json!({ "id": 10913174, "files": listing });
    server.add_handler("/api/records/10913174", move |_| {
        Reply::new(200, "application/json", serde_json::to_vec(&record).unwrap())
    });

    let root = dir.path().join("data");
    let mut opts = options(&root, &server);
    opts.jobs = 2;
    let outcome = fetch::download(&dataset, &opts).unwrap();
    assert_eq!(
        max_in_flight.load(Ordering::SeqCst),
        2,
        "at most --jobs parts at once, and more than one"
    );
    assert_eq!(outcome.n_files, 6);
    for loc in 0..6 {
        let relative = format!("{loc:06}/S2A_20200101/B4.tif");
        assert_eq!(
            std::fs::read(root.join("caco-1m").join(&relative)).unwrap(),
            std::fs::read(tree.join(&relative)).unwrap()
        );
    }
    let checked = outcome
        .messages
        .iter()
        .filter(|m| m.contains("matches the published checksum"))
        .count();
    assert_eq!(checked, 4, "{:?}", outcome.messages);
    // Parts and the joined archive are deleted after extraction; README.md was never fetched.
    let work = fetch::work_dir(&root, &dataset);
    assert!(std::fs::read_dir(&work)
        .unwrap()
        .all(|e| e.unwrap().file_name() == "done.toml"));
    assert!(server.requests().iter().all(|r| !r.target.contains("README")));
}

#[test]
fn from_an_archive_or_a_folder_imports_without_network() {
    let dir = tempfile::tempdir().unwrap();
    let src = fake_eurosat(dir.path());
    let dataset = registry::find("eurosat-rgb").unwrap();

    // An archive of another packaging (Zenodo's EuroSAT_RGB.zip wraps the classes in EuroSAT_RGB/).
    let copy = dir.path().join("my-copy.zip");
    std::fs::write(&copy, zip_dir(&src, "EuroSAT_RGB")).unwrap();
    let root = dir.path().join("a");
    let mut opts = Options::new(&root);
    opts.quiet = true;
    opts.from = Some(copy.clone());
    let outcome = fetch::download(&dataset, &opts).unwrap();
    assert!(outcome.messages[0].contains("without a checksum check"));
    assert_eq!(
        Eurosat::open(root.join("eurosat-rgb"), EurosatVariant::Rgb)
            .unwrap()
            .len(),
        30
    );
    assert!(copy.is_file(), "the user's archive is never deleted");

    // A file under the official name is checked against the published MD5, and refused (not moved) if it differs.
    let official = dir.path().join("EuroSAT.zip");
    std::fs::copy(&copy, &official).unwrap();
    opts.data_root = dir.path().join("b");
    opts.from = Some(official.clone());
    let message = fetch::download(&dataset, &opts).unwrap_err().to_string();
    assert!(
        message.contains("c8fa014336c82ac7804f0398fcb19387") && message.contains("not imported"),
        "{message}"
    );
    assert!(official.is_file() && !dir.path().join("b/eurosat-rgb").exists());

    // An extracted folder, still in its wrapping folder.
    let extracted = dir.path().join("extracted");
    std::fs::create_dir_all(&extracted).unwrap();
    std::fs::rename(&src, extracted.join("2750")).unwrap();
    opts.data_root = dir.path().join("c");
    opts.from = Some(extracted.clone());
    let outcome = fetch::download(&dataset, &opts).unwrap();
    assert_eq!(outcome.n_files, 30);
    assert_eq!(
        Eurosat::open(dir.path().join("c/eurosat-rgb"), EurosatVariant::Rgb)
            .unwrap()
            .len(),
        30
    );
    assert_eq!(files_under(&extracted).len(), 30, "the user's folder is left as it was");
}

#[test]
fn levir_cd_and_oscd_need_a_manual_download_and_import_from_their_release_archives() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("data");
    let mut opts = Options::new(&root);
    opts.quiet = true;

    let levir = registry::find("levir-cd").unwrap();
    let message = fetch::download(&levir, &opts).unwrap_err().to_string();
    for part in [
        "cannot be downloaded automatically",
        "Google Drive",
        "justchenhao.github.io/LEVIR",
        "--from",
    ] {
        assert!(message.contains(part), "`{part}` missing from: {message}");
    }
    let oscd = registry::find("oscd").unwrap();
    let message = fetch::download(&oscd, &opts).unwrap_err().to_string();
    for part in ["IEEE DataPort", "login", "rcdaudt.github.io/oscd", "--from"] {
        assert!(message.contains(part), "`{part}` missing from: {message}");
    }

    // LEVIR-CD as released: train.zip, val.zip, test.zip, each holding <split>/A, B, label.
    let flat = dir.path().join("levir-flat");
    let spec = FakeChange {
        layout: ChangeLayout::default(),
        n_pairs: [3, 1, 2],
        height: 32,
        width: 32,
        seed: 1,
    };
    caco::data::fake::change::write_fake(&flat, &spec).unwrap();
    let downloads = dir.path().join("levir-downloads");
    std::fs::create_dir_all(&downloads).unwrap();
    for split in ["train", "val", "test"] {
        let release = dir.path().join("levir-release").join(split);
        let list = std::fs::read_to_string(flat.join(format!("list/{split}.txt"))).unwrap();
        for name in list.lines() {
            for part in ["A", "B", "label"] {
                std::fs::create_dir_all(release.join(part)).unwrap();
                std::fs::copy(flat.join(part).join(name), release.join(part).join(name)).unwrap();
            }
        }
        std::fs::write(downloads.join(format!("{split}.zip")), zip_dir(&release, split)).unwrap();
    }
    opts.from = Some(downloads);
    fetch::download(&levir, &opts).unwrap();
    let imported = ChangeDataset::open(root.join("levir-cd"), ChangeLayout::default()).unwrap();
    assert_eq!(imported.len(), 6);
    for split in ["train", "val", "test"] {
        let list = |root: &Path| std::fs::read_to_string(root.join(format!("list/{split}.txt"))).unwrap();
        assert_eq!(list(&root.join("levir-cd")), list(&flat), "{split}");
    }

    // OSCD as released: the images archive and the train / test label archives, merged city by city.
    let fake_oscd = dir.path().join("oscd-fake");
    caco::data::fake::oscd::write_fake(&fake_oscd, &["abudhabi", "paris", "rio"], 2, 12).unwrap();
    let (images, train_labels, test_labels) = (
        dir.path().join("o/images"),
        dir.path().join("o/train"),
        dir.path().join("o/test"),
    );
    for file in files_under(&fake_oscd) {
        let relative = file.strip_prefix(&fake_oscd).unwrap();
        let text = relative.to_string_lossy();
        let into = if !text.contains("/cm/") {
            &images
        } else if text.starts_with("rio") {
            &test_labels
        } else {
            &train_labels
        };
        std::fs::create_dir_all(into.join(relative).parent().unwrap()).unwrap();
        std::fs::copy(&file, into.join(relative)).unwrap();
    }
    let oscd_downloads = dir.path().join("oscd-downloads");
    std::fs::create_dir_all(&oscd_downloads).unwrap();
    for (name, tree, top) in [
        (
            "images.zip",
            &images,
            "Onera Satellite Change Detection dataset - Images",
        ),
        (
            "train_labels.zip",
            &train_labels,
            "Onera Satellite Change Detection dataset - Train Labels",
        ),
        (
            "test_labels.zip",
            &test_labels,
            "Onera Satellite Change Detection dataset - Test Labels",
        ),
    ] {
        std::fs::write(oscd_downloads.join(name), zip_dir(tree, top)).unwrap();
    }
    opts.from = Some(oscd_downloads);
    fetch::download(&oscd, &opts).unwrap();
    let imported = Oscd::open(root.join("oscd")).unwrap();
    assert_eq!(imported.cities, ["abudhabi", "paris", "rio"]);
    assert_eq!(imported.split("test").unwrap(), ["rio"]);
}

#[test]
fn the_command_line_downloads_through_a_mirror_lists_datasets_and_explains_manual_ones() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    std::fs::create_dir_all(tree.join("000000")).unwrap();
    std::fs::write(tree.join("000000/x.txt"), "x").unwrap();
    let server = Server::start().unwrap();
    server.add_file(
        "/caco/data/caco/caco10k.tar.gz",
        tar_gz_dir(&tree, "clean_10k_geography"),
    );
    let root = dir.path().join("data");
    let caco = |args: &[&str]| Command::new(env!("CARGO_BIN_EXE_caco")).args(args).output().unwrap();

    let out = caco(&[
        "data",
        "download",
        "--data-dir",
        root.to_str().unwrap(),
        "--mirror",
        &server.base_url(),
        "--jobs",
        "1",
        "caco-10k",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("trust on first use") && stderr.contains("1 files in"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_to_string(root.join("caco-10k/000000/x.txt")).unwrap(),
        "x"
    );

    let out = caco(&["data", "download", "levir-cd", "--data-dir", root.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("cannot be downloaded automatically"),
        "{stderr}"
    );
    assert!(stderr.contains("--from"), "{stderr}");

    let out = caco(&["data", "list"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    for d in registry::all() {
        assert!(stdout.contains(&d.name) && stdout.contains(&d.homepage), "{stdout}");
    }
    assert_eq!(caco(&["data", "download", "--list"]).stdout, out.stdout);
    let out = caco(&["data", "download", "nope"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown dataset `nope`"));
}

/// The URL path of a file (served at the same path on the loopback server).
fn path_of(url: &str) -> String {
    let host_end = url.find("://").unwrap() + 3;
    url[host_end + url[host_end..].find('/').unwrap()..].to_string()
}

#[test]
fn eurosat_split_lists_arrive_verified_renamed_and_readable_by_the_eurosat_split_reader() {
    use caco::data::split;
    let dir = tempfile::tempdir().unwrap();
    let eurosat = Eurosat::open(fake_eurosat(dir.path()), EurosatVariant::Rgb).unwrap();
    // Google's lists name bare `Class_n.jpg` files; train n = 1, val n = 2, test n = 3 of every class.
    let list = |n: usize| -> Vec<u8> {
        eurosat
            .classes
            .iter()
            .map(|c| format!("{c}_{n}.jpg\n"))
            .collect::<String>()
            .into_bytes()
    };
    let server = Server::start().unwrap();
    let mut dataset = registry::find("eurosat-splits").unwrap();
    let Source::Files(files) = &mut dataset.source else {
        panic!()
    };
    for (n, file) in files.iter_mut().enumerate() {
        assert!(file
            .url
            .starts_with("https://storage.googleapis.com/remote_sensing_representations/eurosat-"));
        server.add_file(&path_of(&file.url), list(n + 1));
        file.checksum = Some(Checksum::Md5(md5_hex(&list(n + 1))));
    }
    let root = dir.path().join("data");
    let outcome = fetch::download(&dataset, &options(&root, &server)).unwrap();
    assert_eq!(
        (outcome.folder.clone(), outcome.n_files),
        (root.join("eurosat-splits"), 3)
    );
    let verified = outcome
        .messages
        .iter()
        .filter(|m| m.contains("matches the published checksum"))
        .count();
    assert_eq!(verified, 3, "{:?}", outcome.messages);
    assert!(
        outcome.messages.iter().any(|m| m.contains("--split-dir")),
        "{:?}",
        outcome.messages
    );
    let splits = split::read(&outcome.folder).unwrap();
    for (name, n) in [("train", 1), ("val", 2), ("test", 3)] {
        let list_path = outcome.folder.join(format!("{name}.txt"));
        let indices = eurosat.indices_of(splits.get(name).unwrap(), &list_path).unwrap();
        assert_eq!(eurosat.labels(&indices), (0..10).collect::<Vec<_>>(), "{name}");
        assert!(
            indices
                .iter()
                .all(|&i| eurosat.samples[i].rel_path.ends_with(&format!("_{n}.jpg"))),
            "{name}"
        );
    }

    // CACo's train and val lists: no published checksum (trust on first use); its test list is Google's.
    let mut caco = registry::find("eurosat-splits-caco").unwrap();
    let Source::Files(files) = &mut caco.source else {
        panic!()
    };
    for (n, file) in files.iter_mut().enumerate() {
        server.add_file(&path_of(&file.url), list(n + 1));
        if file.checksum.is_some() {
            file.checksum = Some(Checksum::Md5(md5_hex(&list(n + 1))));
        }
    }
    let outcome = fetch::download(&caco, &options(&root, &server)).unwrap();
    assert_eq!(split::read(&outcome.folder).unwrap(), splits);

    // --from a folder holding the lists under Google's names: each is checked; one of other bytes is refused.
    let offline = dir.path().join("offline");
    std::fs::create_dir_all(&offline).unwrap();
    for (n, name) in ["train", "val", "test"].iter().enumerate() {
        std::fs::write(offline.join(format!("eurosat-{name}.txt")), list(n + 1)).unwrap();
    }
    let mut opts = Options::new(dir.path().join("imported"));
    opts.quiet = true;
    opts.from = Some(offline.clone());
    let outcome = fetch::download(&dataset, &opts).unwrap();
    assert_eq!(split::read(&outcome.folder).unwrap(), splits);
    assert_eq!(
        outcome
            .messages
            .iter()
            .filter(|m| m.contains("matches the published checksum"))
            .count(),
        3
    );
    std::fs::write(offline.join("eurosat-val.txt"), list(3)).unwrap();
    opts.data_root = dir.path().join("refused");
    let msg = fetch::download(&dataset, &opts).unwrap_err().to_string();
    assert!(msg.contains("eurosat-val.txt") && msg.contains("not imported"), "{msg}");
}

#[test]
fn ssl4eo_s12_parts_are_fetched_joined_and_extracted_into_location_folders() {
    use caco::data::fake::{ssl4eo::FakeSsl4eo, FakeDataset};
    use caco::data::ssl4eo::{Level, L1C_BANDS};
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("release");
    let written = FakeSsl4eo {
        level: Level::L1c,
        n_locations: 2,
        size: 12,
        seed: 2,
    }
    .write(&src)
    .unwrap();
    // The release: one .tar.gz of s2c/, cut into the registry's 12 parts.
    let archive = tar_gz_dir(&src.join("s2c"), "s2c");
    let mut dataset = registry::find("ssl4eo-s12-l1c").unwrap();
    let Source::Parts { parts, .. } = &mut dataset.source else {
        panic!()
    };
    let chunk = archive.len().div_ceil(parts.len());
    let server = Server::start().unwrap();
    for (part, bytes) in parts.iter_mut().zip(archive.chunks(chunk)) {
        server.add_file(&path_of(&part.url), bytes.to_vec());
        part.checksum = Some(Checksum::Md5(md5_hex(bytes)));
    }
    assert_eq!(archive.chunks(chunk).count(), 12);
    let root = dir.path().join("data");
    let outcome = fetch::download(&dataset, &options(&root, &server)).unwrap();
    assert_eq!(outcome.folder, root.join("ssl4eo-s12-l1c"));
    assert!(
        outcome.messages.iter().any(|m| m.contains("joined 12 parts")),
        "{:?}",
        outcome.messages
    );
    // The s2c/ wrapper is dropped, the location folders kept.
    assert!(outcome.folder.join("0000000").is_dir() && outcome.folder.join("0000001").is_dir());
    let series = TimeSeries::open(&outcome.folder, TimeSeriesOptions::new(Layout::Ssl4eoS12, &L1C_BANDS)).unwrap();
    assert_eq!(series.n_items(), 2);
    assert_eq!(series.item_products(1)[3].id, written[1][3].product_id);
}
