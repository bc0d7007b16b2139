//! `reproduce-table`'s data pre-check: every dataset a table needs at a scale, checked before any work starts and
//! reported in one message (present, derived by caco, downloadable with its size and command, or a manual download
//! with its page and `data download <name> --from` command); `--download` fetches the downloadable ones through
//! `fetch::download` (progress, checksums, resume) and `--skip-missing` leaves out the tasks whose data are absent.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::config::{TableConfig, TaskKind, TaskSpec};
use super::pretrain_rows::pretrain_config;
use crate::config::ExperimentConfig;
use crate::data::seasons::{self, SeasonsConfig};
use crate::data::{aerial_seg, bigearthnet};
use crate::eval::eurosat_config::EurosatTableConfig;
use crate::eval::tasks::{TaskData, SEASONS_CHANGE};
use crate::fetch::registry::{Dataset, Source};
use crate::{Error, Result};

/// Where a needed dataset stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    Present,
    /// Built by caco from `from` (a dataset listed on its own) before it is used.
    Derived { from: String },
    /// `cargo xtask data download <name>` fetches it.
    Downloadable { name: String, size: String, command: String },
    /// Downloaded by hand from `page` (why: `reason`), then imported with `command`.
    Manual { page: String, reason: String, command: String },
    /// Unknown to the download registry.
    Unknown,
}

/// One dataset of a table at a scale, and what needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Need {
    /// Its folder under the data root (or, for pre-training data, the configured path).
    pub dataset: String,
    /// Where it is (or would be) read.
    pub path: PathBuf,
    /// What reads it, e.g. "change detection", "pre-training (MoCo-v2, SeCo)".
    pub users: Vec<String>,
    /// Every task that reads it is optional (skipped with a note where it is absent).
    pub optional: bool,
    /// Needed by pre-training: `--skip-missing` cannot leave it out.
    pub pretraining: bool,
    pub status: Status,
}

impl Need {
    /// Absent and not built by caco.
    pub fn is_missing(&self) -> bool {
        !matches!(self.status, Status::Present | Status::Derived { .. })
    }
}

/// The datasets `config` needs at `scale_name`, in first-use order; none for a scale on generated data. `registry`
/// is `fetch::registry::all()` (the tests pass a copy pointed at their own files).
pub fn check(config: &TableConfig, scale_name: &str, data_root: &Path, registry: &[Dataset]) -> Result<Vec<Need>> {
    let scale = config.scale(scale_name)?;
    if scale.generated_data {
        return Ok(Vec::new());
    }
    let eurosat_dir = EurosatTableConfig::load(&config.eurosat_config)?
        .dataset
        .dir
        .display()
        .to_string();
    let mut needs: Vec<Need> = Vec::new();
    let mut add = |dataset: &str, path: PathBuf, user: String, optional: bool, pretraining: bool| {
        if let Some(need) = needs.iter_mut().find(|n| n.path == path) {
            if !need.users.contains(&user) {
                need.users.push(user);
            }
            need.optional &= optional;
            need.pretraining |= pretraining;
        } else {
            needs.push(Need {
                dataset: dataset.to_string(),
                path,
                users: vec![user],
                optional,
                pretraining,
                status: Status::Unknown,
            });
        }
    };
    let mut pretrained_on: BTreeMap<PathBuf, Vec<String>> = BTreeMap::new();
    for row in &config.rows {
        if let Some(method) = row.method {
            let root = pretrain_config(method, scale, 0, None)?.data.root;
            pretrained_on.entry(root).or_default().push(row.name.clone());
        }
    }
    for (root, rows) in pretrained_on {
        let user = format!("pre-training ({})", rows.join(", "));
        let name = root.file_name().unwrap_or_default().to_string_lossy().to_string();
        if is_simulated_series(&root) && !root.is_dir() {
            add(&eurosat_dir, data_root.join(&eurosat_dir), format!("{user}, through {name}"), false, true);
        }
        add(&name, root, user, false, true);
    }
    for task in config.tasks.iter().filter(|t| t.runs_at(scale_name)) {
        let user = task_label(task);
        let dataset = task_dataset(task, &eurosat_dir);
        if dataset == SEASONS_CHANGE {
            // Exported into derived/ from the simulated series (itself built from EuroSAT) on first use.
            let derived = TaskData::default();
            let path = derived.derived_dir.join(SEASONS_CHANGE);
            if !path.is_dir() && !derived.seasons_dir.is_dir() {
                let user = format!("{user}, through {dataset}");
                add(&eurosat_dir, data_root.join(&eurosat_dir), user, task.optional, false);
            }
            add(&dataset, path, user, task.optional, false);
            continue;
        }
        add(&dataset, data_root.join(&dataset), user, task.optional, false);
    }
    for need in &mut needs {
        need.status = status(need, &eurosat_dir, registry);
    }
    Ok(needs)
}

fn status(need: &Need, eurosat_dir: &str, registry: &[Dataset]) -> Status {
    if need.dataset == SEASONS_CHANGE || is_simulated_series(&need.path) {
        return if need.path.is_dir() {
            Status::Present
        } else {
            Status::Derived {
                from: eurosat_dir.to_string(),
            }
        };
    }
    if need.path.is_dir() && std::fs::read_dir(&need.path).is_ok_and(|mut d| d.next().is_some()) {
        return Status::Present;
    }
    let Some(entry) = registry.iter().find(|d| d.folder == need.dataset) else {
        return Status::Unknown;
    };
    // Downloaded into the folder it is read from (pre-training data may lie outside the data root); `--data-dir` is
    // named unless that is the default data root.
    let data_dir = match need.path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() && parent != crate::data::data_root(None) => {
            format!(" --data-dir {}", parent.display())
        }
        _ => String::new(),
    };
    match &entry.source {
        Source::Manual { reason, .. } => Status::Manual {
            page: entry.homepage.clone(),
            reason: reason.clone(),
            command: format!("cargo xtask data download {}{data_dir} --from <archive or folder>", entry.name),
        },
        _ => Status::Downloadable {
            name: entry.name.clone(),
            size: entry.size.clone(),
            command: format!("cargo xtask data download {}{data_dir}", entry.name),
        },
    }
}

/// caco's simulated series (`caco data simulate`), built from EuroSAT.
fn is_simulated_series(root: &Path) -> bool {
    root.file_name().is_some_and(|n| n == "eurosat-seasons")
}

/// The folder a task reads under the data root.
pub fn task_dataset(task: &TaskSpec, eurosat_dir: &str) -> String {
    match (&task.dataset, task.kind) {
        (Some(dataset), _) => dataset.clone(),
        (None, TaskKind::Eurosat | TaskKind::ChangeAwareness) => eurosat_dir.to_string(),
        (None, TaskKind::Bigearthnet) => bigearthnet::DATASET_DIR.to_string(),
        (None, TaskKind::Segmentation) => aerial_seg::DATASET_DIR.to_string(),
        (None, TaskKind::ChangeDetection) => "levir-cd-samples".to_string(),
    }
}

fn task_label(task: &TaskSpec) -> String {
    match task.kind {
        TaskKind::Eurosat => "EuroSAT probe and kNN".into(),
        TaskKind::ChangeDetection if task.finetunes() => "change detection (fine-tuned)".into(),
        TaskKind::ChangeDetection => "change detection".into(),
        TaskKind::Segmentation => "segmentation".into(),
        TaskKind::Bigearthnet => "BigEarthNet probe".into(),
        TaskKind::ChangeAwareness => "change awareness".into(),
    }
}

/// The one message of the pre-check: every dataset with its state, then what to do about the missing ones.
pub fn render(needs: &[Need], table: &str, scale: &str, data_root: &Path) -> String {
    let n_missing = needs.iter().filter(|n| n.is_missing() && !n.optional).count();
    let mut out = format!(
        "table `{table}` at scale `{scale}` reads {} datasets (data root {}: --data-dir, else $CACO_DATA, else ./data); \
         {}:\n",
        needs.len(),
        data_root.display(),
        match n_missing {
            0 => "none is missing".to_string(),
            1 => "1 is missing".to_string(),
            n => format!("{n} are missing"),
        }
    );
    for need in needs {
        let users = need.users.join("; ");
        let line = match &need.status {
            Status::Present => format!("  present       {} ({users})", need.dataset),
            Status::Derived { from } => format!(
                "  derived       {} ({users}): built by caco from {from} before its first use",
                need.path.display()
            ),
            Status::Downloadable { size, command, .. } => format!(
                "  downloadable  {} ({users}), {size}:\n                  {command}",
                need.dataset
            ),
            Status::Manual { page, reason, command } => format!(
                "  manual        {} ({users}): {reason};\n                  download it from {page}, then: {command}",
                need.dataset
            ),
            Status::Unknown => format!(
                "  missing       {} ({users}): not in `caco data list`; put it at {}",
                need.dataset,
                need.path.display()
            ),
        };
        out += &line;
        if need.optional && need.is_missing() {
            out += "\n                  optional: its task is skipped with a note (--download leaves it out)";
        }
        out.push('\n');
    }
    if n_missing > 0 {
        let downloadable = needs
            .iter()
            .any(|n| !n.optional && matches!(n.status, Status::Downloadable { .. }));
        if downloadable {
            out += "--download fetches the downloadable ones (with a progress bar and checksums) before the run; ";
        }
        out += "--skip-missing runs the table without the tasks whose data are absent (their cells read \"n/a (data \
                absent)\")";
        if needs.iter().any(|n| n.is_missing() && n.pretraining) {
            out += "; pre-training data cannot be skipped";
        }
        out.push('\n');
    }
    out
}

/// Downloads every downloadable need that is not optional (`fetch::download`, so with progress, checksums and
/// resume; an optional set such as BigEarthNet, 66 GB, is fetched only by its own command); returns the messages of
/// each download. Each goes to the folder it is read from (`need.path`).
pub fn download_missing(
    needs: &[Need],
    registry: &[Dataset],
    options: &crate::fetch::Options,
) -> Result<Vec<String>> {
    let mut messages = Vec::new();
    for need in needs {
        let Status::Downloadable { name, size, .. } = &need.status else {
            continue;
        };
        if need.optional {
            continue;
        }
        let entry = registry
            .iter()
            .find(|d| &d.name == name)
            .ok_or_else(|| Error::Config(format!("dataset `{name}` is not in the download registry")))?;
        let mut options = options.clone();
        if let Some(parent) = need.path.parent().filter(|p| !p.as_os_str().is_empty()) {
            options.data_root = parent.to_path_buf();
        }
        if !options.quiet {
            eprintln!("downloading {name} ({size}) into {}", options.data_root.join(&entry.folder).display());
        }
        let outcome = crate::fetch::download(entry, &options)?;
        messages.extend(outcome.messages.into_iter().map(|m| format!("{name}: {m}")));
    }
    Ok(messages)
}

/// Builds caco's simulated series at `root` (as `cargo xtask data simulate` with its defaults) when a pre-training
/// config reads it and it is absent: from `<data root>/<eurosat dir>`'s train tiles of the table's EuroSAT split.
pub fn build_simulated_series(root: &Path, config: &TableConfig, data_root: &Path, quiet: bool) -> Result<()> {
    let seasons_config = SeasonsConfig::default();
    if !is_simulated_series(root) || root.is_dir() {
        return Ok(());
    }
    let es = EurosatTableConfig::load(&config.eurosat_config)?;
    // The EuroSAT benchmark's own dataset and split (made on first use, as the benchmark does).
    let (eurosat, splits) = crate::eval::eurosat::open_dataset(&es, None, data_root)?;
    let train = splits.train;
    if !quiet {
        eprintln!(
            "building the simulated series {} from {} (as `cargo xtask data simulate`)",
            root.display(),
            eurosat.root.display()
        );
    }
    seasons::simulate(&eurosat, &train, root, &seasons_config, quiet)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fetch::registry;

    fn table(text: &str) -> TableConfig {
        TableConfig::from_toml(text, Path::new("t.toml")).unwrap()
    }

    const TABLE: &str = r#"
name = "t"
title = "T"
[[rows]]
name = "Random init"
weights = "random"
[[rows]]
name = "SeCo"
method = "seco"
[[tasks]]
kind = "eurosat"
[[tasks]]
kind = "change-detection"
dataset = "clcd-train-subset"
[[tasks]]
kind = "change-detection"
dataset = "eurosat-seasons-change"
[[tasks]]
kind = "change-detection"
dataset = "levir-cd-samples"
scales = ["smoke"]
[[tasks]]
kind = "bigearthnet"
optional = true
[scales.smoke]
generated_data = true
pretrain = "experiments/pretrain/{method}-r18-cpu.toml"
[scales.cpu]
pretrain = "experiments/pretrain/{method}-r18-cpu.toml"
"#;

    /// The table with the cpu scale's pre-training data under `dir` (not the repository's derived/).
    fn with_series_in(dir: &Path) -> String {
        let root = dir.join("derived/eurosat-seasons");
        format!("{TABLE}pretrain_overrides = {{ data = {{ root = {:?} }} }}\n", root.display().to_string())
    }

    #[test]
    fn an_empty_data_root_lists_every_dataset_with_its_command_in_one_message() {
        let dir = tempfile::tempdir().unwrap();
        let t = table(&with_series_in(dir.path()));
        assert!(check(&t, "smoke", dir.path(), &registry::all()).unwrap().is_empty());
        let needs = check(&t, "cpu", dir.path(), &registry::all()).unwrap();
        let names: Vec<&str> = needs.iter().map(|n| n.dataset.as_str()).collect();
        // The cpu config pre-trains on derived/eurosat-seasons, built from eurosat-rgb; levir runs at smoke only.
        assert_eq!(
            names,
            ["eurosat-rgb", "eurosat-seasons", "clcd-train-subset", "eurosat-seasons-change", "bigearthnet"]
        );
        let by_name = |name: &str| needs.iter().find(|n| n.dataset == name).unwrap();
        let eurosat = by_name("eurosat-rgb");
        assert!(eurosat.pretraining && eurosat.is_missing() && !eurosat.optional);
        let data_dir = format!("--data-dir {}", dir.path().display());
        assert_eq!(
            eurosat.status,
            Status::Downloadable {
                name: "eurosat-rgb".into(),
                size: "about 90 MB".into(),
                command: format!("cargo xtask data download eurosat-rgb {data_dir}"),
            }
        );
        assert!(eurosat.users.iter().any(|u| u.starts_with("pre-training (SeCo)")), "{:?}", eurosat.users);
        assert_eq!(by_name("eurosat-seasons").path, dir.path().join("derived/eurosat-seasons"));
        match &by_name("clcd-train-subset").status {
            Status::Manual { page, command, .. } => {
                assert!(page.contains("liumency/CropLand-CD"), "{page}");
                assert!(command.contains("data download clcd-train-subset") && command.contains("--from"));
            }
            other => panic!("clcd: {other:?}"),
        }
        assert!(!by_name("eurosat-seasons-change").is_missing());
        assert!(by_name("bigearthnet").optional);

        let message = render(&needs, "t", "cpu", dir.path());
        // eurosat-rgb and clcd block the run; bigearthnet is optional; the derived sets are built by caco.
        assert!(message.contains("2 are missing"), "{message}");
        for expected in [
            "downloadable  eurosat-rgb",
            &format!("cargo xtask data download eurosat-rgb {data_dir}"),
            "manual        clcd-train-subset",
            "https://github.com/liumency/CropLand-CD",
            "built by caco from eurosat-rgb",
            "optional: its task is skipped",
            "--download",
            "--skip-missing",
            "pre-training data cannot be skipped",
        ] {
            assert!(message.contains(expected), "missing `{expected}` in:\n{message}");
        }
    }

    #[test]
    fn the_simulated_series_is_built_only_where_absent_and_from_eurosat() {
        let dir = tempfile::tempdir().unwrap();
        let config = table(TABLE);
        // Present, or not the simulated series: nothing to do, nothing read.
        std::fs::create_dir_all(dir.path().join("built/eurosat-seasons")).unwrap();
        build_simulated_series(&dir.path().join("built/eurosat-seasons"), &config, dir.path(), true).unwrap();
        build_simulated_series(&dir.path().join("caco-10k"), &config, dir.path(), true).unwrap();
        // Absent: built from EuroSAT, whose absence is the reader's error with its download command.
        let err = build_simulated_series(&dir.path().join("new/eurosat-seasons"), &config, dir.path(), true)
            .unwrap_err()
            .to_string();
        assert!(err.contains("eurosat-rgb") && err.contains("cargo xtask data download eurosat-rgb"), "{err}");
        assert!(!dir.path().join("new").exists());
    }

    #[test]
    fn present_datasets_are_found_and_unknown_ones_say_where_they_belong() {
        let dir = tempfile::tempdir().unwrap();
        for folder in ["eurosat-rgb", "clcd-train-subset"] {
            std::fs::create_dir_all(dir.path().join(folder).join("x")).unwrap();
        }
        // An empty folder is not a dataset.
        std::fs::create_dir_all(dir.path().join("bigearthnet")).unwrap();
        let text = with_series_in(dir.path()).replace("dataset = \"eurosat-seasons-change\"", "dataset = \"my-own-pairs\"");
        let needs = check(&table(&text), "cpu", dir.path(), &registry::all()).unwrap();
        let status = |name: &str| needs.iter().find(|n| n.dataset == name).unwrap().status.clone();
        assert_eq!(status("eurosat-rgb"), Status::Present);
        assert_eq!(status("clcd-train-subset"), Status::Present);
        assert!(matches!(status("bigearthnet"), Status::Downloadable { .. }));
        assert_eq!(status("my-own-pairs"), Status::Unknown);
        let message = render(&needs, "t", "cpu", dir.path());
        assert!(message.contains("1 is missing") && message.contains("not in `caco data list`"), "{message}");
        assert!(message.contains(&dir.path().join("my-own-pairs").display().to_string()), "{message}");
    }
}
