//! Dataset downloads (`caco data-download <name>`, `cargo xtask data download <name>`) and the loopback HTTP server
//! their tests use. Builds without libtorch and without GDAL.
//!
//! [`download`] takes a [`registry::Dataset`] to `<data root>/<folder>`, the folder its reader expects:
//! 1. the files are fetched into `<data root>/.downloads/<name>/`, at most `jobs` at once, each streamed through a
//!    `.part` file that a later run resumes ([`http`]); or, with `--from`, the user's archive or folder is used;
//! 2. each file is checked against its published checksum, or trust-on-first-use ([`verify`]);
//! 3. parts of one archive (CACo-1M) are concatenated in order;
//! 4. the archives are extracted into a staging folder next to the target, wrapping folders dropped and several
//!    archives merged ([`archive`]), arranged as the reader expects, then renamed into place, so an interrupted run
//!    never leaves a half-filled dataset folder;
//! 5. `.downloads/<name>/done.toml` records the result; downloaded archives are deleted unless `keep_archives`.
//!
//! Datasets behind a login or without a stable URL (LEVIR-CD, OSCD) fail with [`Error::ManualDownload`], which says
//! what to do, and accept `--from`.

pub mod archive;
pub mod http;
/// A loopback HTTP server for tests (not public API: behind the `testkit` feature).
#[cfg(any(test, feature = "testkit"))]
pub mod loopback;
pub mod registry;
pub mod verify;

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::progress::Progress;
use crate::{Error, Result};
use archive::Kind;
use http::{Client, RetryPolicy};
use registry::{Arrange, Checksum, Dataset, Remote, Source};

/// How to run a download.
#[derive(Debug, Clone)]
pub struct Options {
    /// The data root (`--data-dir`, `CACO_DATA`, `./data`).
    pub data_root: PathBuf,
    /// Import this archive or folder instead of downloading.
    pub from: Option<PathBuf>,
    /// Replace the scheme and host of every official URL with this base (a mirror that keeps the official paths;
    /// the tests' loopback server).
    pub mirror: Option<String>,
    /// Files downloaded at once.
    pub jobs: usize,
    pub policy: RetryPolicy,
    /// Keep the downloaded archives after extraction.
    pub keep_archives: bool,
    /// Replace a dataset folder that an earlier `data-download` made.
    pub force: bool,
    pub quiet: bool,
}

impl Options {
    pub fn new(data_root: impl Into<PathBuf>) -> Self {
        Options {
            data_root: data_root.into(),
            from: None,
            mirror: None,
            jobs: 4,
            policy: RetryPolicy::default(),
            keep_archives: false,
            force: false,
            quiet: false,
        }
    }
}

/// What a download did.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The dataset folder.
    pub folder: PathBuf,
    /// Files placed in it (0 when it was already there).
    pub n_files: u64,
    pub already_present: bool,
    /// Checksum results and notes, one line each.
    pub messages: Vec<String>,
}

/// `<data root>/.downloads/<name>`: downloads, `.part` files, checksum records and the completion marker.
pub fn work_dir(data_root: &Path, dataset: &Dataset) -> PathBuf {
    data_root.join(".downloads").join(&dataset.name)
}

#[derive(Serialize)]
struct DoneRecord<'a> {
    dataset: &'a str,
    folder: String,
    origin: String,
    n_files: u64,
    checks: &'a [String],
}

/// Downloads (or imports) `dataset` into `<data root>/<folder>`; see the module documentation.
pub fn download(dataset: &Dataset, options: &Options) -> Result<Outcome> {
    let target = options.data_root.join(&dataset.folder);
    let work = work_dir(&options.data_root, dataset);
    let done = work.join("done.toml");
    let ours = done.is_file();
    if target.exists() && !is_empty_dir(&target) {
        if !options.force {
            let how = if ours {
                "made by an earlier data-download; --force replaces it"
            } else {
                "not made by data-download; it is left untouched"
            };
            return Ok(Outcome {
                folder: target.clone(),
                n_files: 0,
                already_present: true,
                messages: vec![format!("{} already exists ({how})", target.display())],
            });
        }
        if !ours {
            return Err(Error::bad_input(
                &target,
                "exists and was not made by data-download; move it away first (--force only replaces folders \
                 that data-download made)",
            ));
        }
    }
    // The completion record is rewritten only after success, so a failed `--force` run leaves the old folder ours.
    std::fs::create_dir_all(&work).map_err(|e| Error::io(&work, e))?;

    let client = Client::new(options.policy.clone());
    let mut messages = Vec::new();
    let mut import = Import::default();
    let origin = match &options.from {
        Some(from) => {
            import = plan_import(dataset, from, &work, options.quiet, &mut messages)?;
            format!("--from {}", from.display())
        }
        None => {
            let (files, joined) = match &dataset.source {
                Source::Manual { reason, steps } => {
                    return Err(Error::ManualDownload {
                        dataset: dataset.name.clone(),
                        reason: reason.clone(),
                        steps: steps.clone(),
                    })
                }
                Source::Files(files) => (files.clone(), None),
                Source::Parts { parts, joined } => (parts.clone(), Some(joined.clone())),
                Source::ZenodoParts {
                    record_api,
                    prefix,
                    joined,
                    expected_parts,
                } => {
                    let api = rehost(record_api, options.mirror.as_deref());
                    let parts = zenodo_parts(&client, &api, prefix)?;
                    if parts.len() != *expected_parts {
                        messages.push(format!(
                            "note: {api} lists {} files named {prefix}*, {expected_parts} were expected; using them \
                             all in name order",
                            parts.len()
                        ));
                    }
                    (parts, Some(joined.clone()))
                }
            };
            let paths = fetch_all(&client, dataset, &files, &work, options, &mut messages)?;
            import.cleanup.extend(paths.iter().cloned());
            match joined {
                Some(joined) => {
                    let joined = work.join(joined);
                    concatenate(&paths, &joined, options.quiet)?;
                    messages.push(format!("joined {} parts into {}", paths.len(), joined.display()));
                    import.cleanup.push(joined.clone());
                    import.archives.push(joined);
                }
                None => import.archives.extend(paths),
            }
            "download".to_string()
        }
    };
    let n_files = extract_and_place(dataset, &import.archives, import.tree.as_deref(), &target, options)?;
    finish(&work, &done, dataset, &target, &origin, n_files, &messages)?;
    if !options.keep_archives {
        for path in &import.cleanup {
            let _ = std::fs::remove_file(path);
        }
    }
    if let Some(note) = &dataset.note {
        messages.push(format!("note: {note}"));
    }
    Ok(Outcome {
        folder: target,
        n_files,
        already_present: false,
        messages,
    })
}

/// What goes into the dataset folder.
#[derive(Default)]
struct Import {
    /// Archives (or plain files) to extract, in order.
    archives: Vec<PathBuf>,
    /// An already-extracted folder to copy.
    tree: Option<PathBuf>,
    /// Files of ours (downloads, joined parts) deleted after success unless `keep_archives`.
    cleanup: Vec<PathBuf>,
}

fn finish(
    work: &Path,
    done: &Path,
    dataset: &Dataset,
    target: &Path,
    origin: &str,
    n_files: u64,
    messages: &[String],
) -> Result<()> {
    let record = DoneRecord {
        dataset: &dataset.name,
        folder: target.display().to_string(),
        origin: origin.to_string(),
        n_files,
        checks: messages,
    };
    let text = toml::to_string(&record).map_err(|e| Error::Config(e.to_string()))?;
    std::fs::create_dir_all(work).map_err(|e| Error::io(work, e))?;
    std::fs::write(done, text).map_err(|e| Error::io(done, e))
}

fn is_empty_dir(path: &Path) -> bool {
    std::fs::read_dir(path).map(|mut d| d.next().is_none()).unwrap_or(false)
}

/// `https://host/a/b` with mirror `http://127.0.0.1:9/m` -> `http://127.0.0.1:9/m/a/b`.
pub fn rehost(url: &str, mirror: Option<&str>) -> String {
    let Some(mirror) = mirror else {
        return url.to_string();
    };
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    let path_start = url[after_scheme..].find('/').map_or(url.len(), |i| after_scheme + i);
    format!("{}{}", mirror.trim_end_matches('/'), &url[path_start..])
}

/// The files of a Zenodo record named `<prefix>*`, sorted by name, with their MD5s (Zenodo REST API: `files[]` with
/// `key`, `checksum` = `md5:<hex>`, `links.self`/`links.content`).
pub fn zenodo_parts(client: &Client, api_url: &str, prefix: &str) -> Result<Vec<Remote>> {
    let text = client.get_text(api_url)?;
    let bad = |reason: String| Error::Download {
        url: api_url.to_string(),
        reason,
    };
    let json: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| bad(format!("the record is not JSON: {e}")))?;
    let files = json
        .get("files")
        .or_else(|| json.get("entries"))
        .and_then(|f| f.as_array())
        .ok_or_else(|| bad("the record lists no `files`".into()))?;
    let record_page = api_url.replacen("/api/records/", "/records/", 1);
    let mut parts = Vec::new();
    for file in files {
        let Some(key) = file
            .get("key")
            .or_else(|| file.get("filename"))
            .and_then(|k| k.as_str())
        else {
            continue;
        };
        if !key.starts_with(prefix) {
            continue;
        }
        let links = file.get("links");
        let url = ["content", "self", "download"]
            .iter()
            .find_map(|k| links.and_then(|l| l.get(*k)).and_then(|u| u.as_str()))
            .map(str::to_string)
            .unwrap_or_else(|| format!("{record_page}/files/{key}?download=1"));
        let checksum = file.get("checksum").and_then(|c| c.as_str()).and_then(Checksum::parse);
        parts.push(Remote {
            url,
            file: key.to_string(),
            checksum,
        });
    }
    if parts.is_empty() {
        return Err(bad(format!("no file named {prefix}* in the record")));
    }
    parts.sort_by(|a, b| a.file.cmp(&b.file));
    Ok(parts)
}

/// Downloads `files` into `work`, at most `options.jobs` at once, each checked; returns their paths in order.
fn fetch_all(
    client: &Client,
    dataset: &Dataset,
    files: &[Remote],
    work: &Path,
    options: &Options,
    messages: &mut Vec<String>,
) -> Result<Vec<PathBuf>> {
    let paths: Vec<PathBuf> = files.iter().map(|f| work.join(&f.file)).collect();
    let urls: Vec<String> = files
        .iter()
        .map(|f| rehost(&f.url, options.mirror.as_deref()))
        .collect();
    // Sizes for the progress total: what is on disk, plus what the server announces for the rest.
    let mut total = 0;
    let mut have = 0;
    for (path, url) in paths.iter().zip(&urls) {
        if path.is_file() {
            let len = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
            total += len;
            have += len;
        } else {
            total += client.content_length(url).unwrap_or(0);
            have += std::fs::metadata(http::part_path(path)).map(|m| m.len()).unwrap_or(0);
        }
    }
    let progress = Progress::bytes(total, &dataset.name, options.quiet);
    progress.inc(have);

    let indices: Vec<usize> = (0..files.len()).collect();
    let results = crate::pool::parallel_map(&indices, options.jobs, |&i| {
        let (path, url) = (&paths[i], &urls[i]);
        if !path.is_file() {
            // A file named with a folder (`A/x.png`, a dataset of loose files) gets that folder.
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
            }
            client.download(url, path, Some(&progress))?;
        }
        verify::verify_download(path, files[i].checksum.as_ref(), url)
    });
    progress.finish();
    for result in results.into_iter().flatten() {
        messages.push(result?);
    }
    if paths.iter().any(|p| !p.is_file()) {
        return Err(Error::Download {
            url: urls.join(", "),
            reason: "stopped after an earlier failure".into(),
        });
    }
    Ok(paths)
}

/// Concatenates `parts` in order into `joined` (as `cat part* > joined`).
pub fn concatenate(parts: &[PathBuf], joined: &Path, quiet: bool) -> Result<()> {
    let total = parts
        .iter()
        .map(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .sum();
    let progress = Progress::bytes(total, "join parts", quiet);
    let tmp = http::part_path(joined);
    let mut out = std::fs::File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
    for part in parts {
        let mut input = std::fs::File::open(part).map_err(|e| Error::io(part, e))?;
        let n = std::io::copy(&mut input, &mut out).map_err(|e| Error::io(&tmp, e))?;
        progress.inc(n);
    }
    drop(out);
    std::fs::rename(&tmp, joined).map_err(|e| Error::io(joined, e))?;
    progress.finish();
    Ok(())
}

/// What `--from` provides: archives to extract (none ours to delete, except a joined file) or a folder to copy.
fn plan_import(dataset: &Dataset, from: &Path, work: &Path, quiet: bool, messages: &mut Vec<String>) -> Result<Import> {
    if !from.exists() {
        return Err(Error::bad_input(from, "--from: no such file or folder"));
    }
    let expected: Vec<Remote> = match &dataset.source {
        Source::Files(files) => files.clone(),
        Source::Parts { parts, .. } => parts.clone(),
        _ => Vec::new(),
    };
    let check = |path: &Path, messages: &mut Vec<String>| -> Result<()> {
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        match expected
            .iter()
            .find(|r| r.file == name)
            .and_then(|r| r.checksum.as_ref())
        {
            Some(checksum) => messages.push(verify::verify_user_file(path, checksum)?),
            None => messages.push(format!("{}: imported without a checksum check", path.display())),
        }
        Ok(())
    };
    if from.is_file() {
        check(from, messages)?;
        return Ok(Import {
            archives: vec![from.to_path_buf()],
            ..Default::default()
        });
    }
    let mut top: Vec<PathBuf> = std::fs::read_dir(from)
        .map_err(|e| Error::io(from, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    top.sort();
    // The parts of a split archive, joined in name order.
    let (prefix, joined) = match &dataset.source {
        Source::ZenodoParts { prefix, joined, .. } => (Some(prefix.clone()), Some(joined.clone())),
        Source::Parts { parts, joined } => (parts.first().map(|p| p.file.clone()), Some(joined.clone())),
        _ => (None, None),
    };
    if let (Some(prefix), Some(joined)) = (prefix, joined) {
        let parts: Vec<PathBuf> = match &dataset.source {
            Source::Parts { parts, .. } => parts
                .iter()
                .map(|p| from.join(&p.file))
                .filter(|p| p.is_file())
                .collect(),
            _ => top
                .iter()
                .filter(|p| p.is_file() && p.file_name().unwrap_or_default().to_string_lossy().starts_with(&prefix))
                .cloned()
                .collect(),
        };
        if !parts.is_empty() {
            for part in &parts {
                check(part, messages)?;
            }
            let joined = work.join(joined);
            concatenate(&parts, &joined, quiet)?;
            messages.push(format!("joined {} parts from {}", parts.len(), from.display()));
            return Ok(Import {
                archives: vec![joined.clone()],
                tree: None,
                cleanup: vec![joined],
            });
        }
    }
    // Archives, and plain files named as the registry names them (split lists), each checked.
    let named = |p: &Path| expected.iter().any(|r| p.file_name().is_some_and(|n| *n == *r.file));
    let archives: Vec<PathBuf> = top
        .iter()
        .filter(|p| p.is_file() && (Kind::of(p).is_archive() || named(p)))
        .cloned()
        .collect();
    let has_dirs = top.iter().any(|p| p.is_dir());
    if !archives.is_empty() && !has_dirs {
        for archive in &archives {
            check(archive, messages)?;
        }
        return Ok(Import {
            archives,
            ..Default::default()
        });
    }
    messages.push(format!(
        "{}: copied as an extracted dataset (hard links where possible)",
        from.display()
    ));
    if dataset.arrange == Arrange::CityFolders {
        messages.push(
            "OSCD: the release's image and label folders, where separate, are merged into one folder per city".into(),
        );
    }
    Ok(Import {
        tree: Some(from.to_path_buf()),
        ..Default::default()
    })
}

/// Extracts every archive (or copies `tree`) into a staging folder beside `target`, merges their content roots,
/// arranges the result and renames it into place. Returns the number of files.
fn extract_and_place(
    dataset: &Dataset,
    archives: &[PathBuf],
    tree: Option<&Path>,
    target: &Path,
    options: &Options,
) -> Result<u64> {
    let parent = target.parent().unwrap_or(Path::new("."));
    let staging = parent.join(format!(".{}.staging", dataset.folder));
    if staging.exists() {
        std::fs::remove_dir_all(&staging).map_err(|e| Error::io(&staging, e))?;
    }
    let merged = staging.join("merged");
    std::fs::create_dir_all(&merged).map_err(|e| Error::io(&merged, e))?;
    let keep = |dir: &Path| dataset.arrange.keeps(dir);
    let work = work_dir(&options.data_root, dataset);
    let mut n = 0;
    for (i, archive) in archives.iter().enumerate() {
        // A loose (non-archive) download named with a folder keeps it: `A/x.png` lands at `A/x.png`.
        let rel = archive.strip_prefix(&work).ok().filter(|r| r.components().count() > 1);
        if let Some(rel) = rel.filter(|_| !Kind::of(archive).is_archive()) {
            let into = merged.join(rel);
            if let Some(parent) = into.parent() {
                std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
            }
            std::fs::copy(archive, &into).map_err(|e| Error::io(&into, e))?;
            n += 1;
            continue;
        }
        let out = staging.join(format!("archive-{i}"));
        archive::extract(archive, &out, options.quiet)?;
        n += archive::merge_into(&archive::content_root(&out, keep)?, &merged)?;
    }
    if let Some(tree) = tree {
        let root = archive::content_root(tree, keep)?;
        n += archive::link_or_copy_tree(&root, &merged)?;
    }
    if n == 0 {
        return Err(Error::bad_input(
            archives
                .first()
                .map_or_else(|| tree.unwrap_or(parent).to_path_buf(), Clone::clone),
            "nothing to import: no files found",
        ));
    }
    let merged = archive::content_root(&merged, keep)?;
    if dataset.arrange == Arrange::SplitFoldersToLists {
        split_folders_to_lists(&merged)?;
    }
    if dataset.arrange == Arrange::SplitLists {
        registry::name_split_lists(&merged)?;
    }
    if dataset.arrange == Arrange::CityFolders {
        merge_city_containers(&merged)?;
    }
    if target.exists() {
        std::fs::remove_dir_all(target).map_err(|e| Error::io(target, e))?;
    }
    std::fs::rename(&merged, target).map_err(|e| Error::io(target, e))?;
    std::fs::remove_dir_all(&staging).map_err(|e| Error::io(&staging, e))?;
    Ok(n)
}

/// Whether `dir` is an OSCD city folder (it has a date or a label folder).
fn is_city_folder(dir: &Path) -> bool {
    ["imgs_1", "imgs_2", "imgs_1_rect", "imgs_2_rect", "cm"]
        .iter()
        .any(|p| dir.join(p).is_dir())
}

/// OSCD's release unzipped by the user (`... - Images/<city>/`, `... - Train Labels/<city>/cm/`, ...): every folder
/// of `root` that holds city folders is merged into `root`, in name order, as the zips are when extracted, so that
/// `root/<city>/` has `imgs_1/`, `imgs_2/` and `cm/` together with `train.txt` and `test.txt`. Files present in two
/// of them (the READMEs) keep the last one's. A root that already holds the cities is left as is.
pub fn merge_city_containers(root: &Path) -> Result<()> {
    let mut containers: Vec<PathBuf> = std::fs::read_dir(root)
        .map_err(|e| Error::io(root, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir() && !is_city_folder(p))
        .filter(|p| {
            std::fs::read_dir(p).is_ok_and(|entries| {
                entries
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .any(|c| c.is_dir() && is_city_folder(&c))
            })
        })
        .collect();
    containers.sort();
    for dir in containers {
        archive::merge_into(&dir, root)?;
        std::fs::remove_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    }
    Ok(())
}

/// LEVIR-CD's `train/`, `val/`, `test/` (each `A/`, `B/`, `label/`) -> `A/`, `B/`, `label/` and
/// `list/<split>.txt`. A folder already in that layout (no split folders) is left as is.
pub fn split_folders_to_lists(root: &Path) -> Result<()> {
    const PARTS: [&str; 3] = ["A", "B", "label"];
    let splits: Vec<&str> = ["train", "val", "test"]
        .into_iter()
        .filter(|s| root.join(s).join("A").is_dir())
        .collect();
    if splits.is_empty() {
        return Ok(());
    }
    let list_dir = root.join("list");
    std::fs::create_dir_all(&list_dir).map_err(|e| Error::io(&list_dir, e))?;
    for split in splits {
        let split_dir = root.join(split);
        let mut names: Vec<String> = std::fs::read_dir(split_dir.join("A"))
            .map_err(|e| Error::io(split_dir.join("A"), e))?
            .filter_map(|e| e.ok())
            .filter(|e| e.path().is_file())
            .map(|e| e.file_name().to_string_lossy().to_string())
            .collect();
        names.sort();
        for part in PARTS {
            let (from, into) = (split_dir.join(part), root.join(part));
            if !from.is_dir() {
                return Err(Error::bad_input(
                    &from,
                    format!("missing: LEVIR-CD's {split}/ needs A/, B/ and label/"),
                ));
            }
            std::fs::create_dir_all(&into).map_err(|e| Error::io(&into, e))?;
            for entry in std::fs::read_dir(&from).map_err(|e| Error::io(&from, e))? {
                let entry = entry.map_err(|e| Error::io(&from, e))?;
                let target = into.join(entry.file_name());
                if target.exists() {
                    return Err(Error::bad_input(
                        &target,
                        format!("{split}/{part} repeats a file name of another split"),
                    ));
                }
                std::fs::rename(entry.path(), &target).map_err(|e| Error::io(&target, e))?;
            }
        }
        let list = list_dir.join(format!("{split}.txt"));
        let text: String = names.iter().map(|n| format!("{n}\n")).collect();
        std::fs::write(&list, text).map_err(|e| Error::io(&list, e))?;
        std::fs::remove_dir_all(&split_dir).map_err(|e| Error::io(&split_dir, e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rehost_keeps_the_path_and_query() {
        assert_eq!(
            rehost(
                "https://zenodo.org/record/1/files/a.zip?download=1",
                Some("http://127.0.0.1:5/")
            ),
            "http://127.0.0.1:5/record/1/files/a.zip?download=1"
        );
        assert_eq!(rehost("https://h/x", None), "https://h/x");
        assert_eq!(rehost("https://h", Some("http://m/base")), "http://m/base");
    }

    #[test]
    fn oscd_release_folders_are_merged_into_city_folders() {
        let dir = tempfile::tempdir().unwrap();
        let images = dir.path().join("Onera Satellite Change Detection dataset - Images");
        let labels = dir
            .path()
            .join("Onera Satellite Change Detection dataset - Train Labels");
        for city in ["paris", "rennes"] {
            std::fs::create_dir_all(images.join(city).join("imgs_1")).unwrap();
            std::fs::write(images.join(city).join("imgs_1/B02.tif"), city).unwrap();
        }
        std::fs::create_dir_all(labels.join("paris/cm")).unwrap();
        std::fs::write(labels.join("paris/cm/cm.png"), "label").unwrap();
        std::fs::write(images.join("train.txt"), "paris,rennes").unwrap();
        std::fs::write(dir.path().join("LICENSE"), "l").unwrap();
        merge_city_containers(dir.path()).unwrap();
        assert!(!images.exists() && !labels.exists());
        assert_eq!(
            std::fs::read_to_string(dir.path().join("paris/cm/cm.png")).unwrap(),
            "label"
        );
        assert_eq!(
            std::fs::read_to_string(dir.path().join("rennes/imgs_1/B02.tif")).unwrap(),
            "rennes"
        );
        assert!(dir.path().join("train.txt").is_file() && dir.path().join("LICENSE").is_file());
        // Already merged: nothing moves.
        merge_city_containers(dir.path()).unwrap();
        assert!(dir.path().join("paris/imgs_1/B02.tif").is_file());
    }

    #[test]
    fn levir_split_folders_become_lists() {
        let dir = tempfile::tempdir().unwrap();
        for split in ["train", "val", "test"] {
            for part in ["A", "B", "label"] {
                let d = dir.path().join(split).join(part);
                std::fs::create_dir_all(&d).unwrap();
                std::fs::write(d.join(format!("{split}_1.png")), part).unwrap();
            }
        }
        split_folders_to_lists(dir.path()).unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join("list/val.txt")).unwrap(),
            "val_1.png\n"
        );
        assert_eq!(
            std::fs::read_to_string(dir.path().join("label/test_1.png")).unwrap(),
            "label"
        );
        assert!(!dir.path().join("train").exists());
    }
}
