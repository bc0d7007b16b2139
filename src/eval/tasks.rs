//! Dense downstream tasks by dataset name, as `caco eval` and `reproduce-table` run them: open the dataset under the
//! data root, find or write its split lists, run the benchmark, and return the table the row belongs to (name,
//! title, notes) with the row.

use std::path::{Path, PathBuf};

use super::dense::{BenchmarkOptions, DenseConfig};
use super::{change_detection, segmentation};
use crate::data::aerial_seg::{self, AerialSeg};
use crate::data::change::{self, ChangeDataset, ChangePair, LayoutChoice};
use crate::data::seasons_change::{self, SeasonsExport};
use crate::data::dynamic_earthnet::{self, DenLayout, DenOptions, DynamicEarthNet, SnowIce};
use crate::data::oscd::{self, Oscd, OscdDates};
use crate::data::split::{self, SplitChoice};
use crate::results::dense::{DenseRow, DenseTable, DenseTask};
use crate::results::published::Published;
use crate::{Error, Result};

/// Where a task finds its data.
#[derive(Debug, Clone)]
pub struct TaskData {
    /// The data root (`--data-dir`, `CACO_DATA` or `./data`).
    pub data_root: PathBuf,
    /// The simulated series `eurosat-seasons-change` is exported from.
    pub seasons_dir: PathBuf,
    /// Where derived sets (eurosat-seasons-change) are written.
    pub derived_dir: PathBuf,
    /// Split lists; `None`: the dataset's own, else `experiments/splits/<dataset>` (written if absent).
    pub split_dir: Option<PathBuf>,
    /// `eurosat-seasons-change` is exported from `seasons_dir` into `derived_dir` (default); `false` reads it from
    /// the data root like any change set (generated test data).
    pub export_seasons: bool,
    /// A change set's layout, split and OSCD date folders.
    pub change: ChangeOptions,
}

/// What `caco eval change-detection` (and a table's change task) may say about a change set beyond its name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChangeOptions {
    /// Folders of the two dates and the labels (`--layout`, `--a-dir`, ...); default: detected.
    pub layout: LayoutChoice,
    /// `--split seeded:...`: a seeded split instead of the dataset's lists.
    pub split: SplitChoice,
    /// OSCD's date folders (`--dates`).
    pub dates: OscdDates,
}

impl Default for TaskData {
    fn default() -> Self {
        TaskData {
            data_root: crate::data::data_root(None),
            seasons_dir: PathBuf::from("derived/eurosat-seasons"),
            derived_dir: PathBuf::from("derived"),
            split_dir: None,
            export_seasons: true,
            change: ChangeOptions::default(),
        }
    }
}

/// The simulated change set exported from the simulated series.
pub const SEASONS_CHANGE: &str = "eurosat-seasons-change";

/// Default tile size of a change dataset (OSCD 96, the simulated set 64, LEVIR-CD layout 256), by name or, for a
/// folder under `data_root`, by what it holds (an OSCD release under any name is OSCD).
pub fn change_tile_size(dataset: &str, data_root: &Path) -> usize {
    match dataset {
        SEASONS_CHANGE => 64,
        oscd::DATASET_DIR => 96,
        _ if oscd::is_oscd(&data_root.join(dataset)) => 96,
        _ => 256,
    }
}

/// Test cities of a seeded OSCD split by city: 40 % of the labelled cities (2 of 5), at least one.
fn oscd_test_cities(n_cities: usize) -> usize {
    ((n_cities as f64 * 0.4).round() as usize).clamp(1, n_cities.saturating_sub(1).max(1))
}

fn change_template(name: String, title: String, dataset: &Path, notes: Vec<String>) -> DenseTable {
    let mut notes = notes;
    notes.push("Published, for context (pre-trained backbones, other data; not comparable):".into());
    notes.push(String::new());
    notes.extend(Published::committed().notes("change-detection").iter().map(|p| format!("- {p}")));
    DenseTable {
        name,
        title,
        task: DenseTask::ChangeDetection,
        dataset: dataset.display().to_string(),
        classes: vec![],
        notes,
        rows: vec![],
    }
}

/// Change detection on `dataset`: a LEVIR-CD-layout folder under the data root, `oscd`, or the simulated
/// `eurosat-seasons-change` (exported from the simulated series on first use). Overlays go to
/// `options.overlay_dir` joined with the table name when set.
pub fn change_detection(
    dataset: &str,
    data: &TaskData,
    config: &DenseConfig,
    options: &BenchmarkOptions,
) -> Result<(DenseTable, DenseRow)> {
    let name = format!("change_{dataset}");
    let mut options = options.clone();
    options.overlay_dir = options.overlay_dir.map(|d| d.join(&name));
    let oscd_root = data.data_root.join(dataset);
    if dataset == oscd::DATASET_DIR || oscd::is_oscd(&oscd_root) {
        if data.change.layout != LayoutChoice::default() {
            return Err(Error::Config(format!(
                "{} holds OSCD (city folders), which --layout, --a-dir, --b-dir and --label-dir do not apply to; \
                 its date folders are chosen with --dates imgs_1|imgs_1_rect",
                oscd_root.display()
            )));
        }
        let ds = Oscd::open_with(&oscd_root, data.change.dates)?;
        let split_dir = data
            .split_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from("experiments/splits").join(dataset));
        let (train_cities, test_cities) = match &data.change.split {
            SplitChoice::Lists => ds.load_or_create_split(&split_dir, oscd_test_cities(ds.cities.len()), 42)?,
            choice => {
                let (train, test, written) = ds.seeded_city_split(&split_dir, choice)?;
                if written && !options.quiet {
                    eprintln!("wrote a seeded split by city ({choice}) to {}", split_dir.display());
                }
                (train, test)
            }
        };
        let stretch = oscd::oscd_rgb_stretch();
        let load = |cities: &[String]| -> Result<Vec<ChangePair>> {
            cities
                .iter()
                .map(|city| ds.load(city, &oscd::OSCD_RGB_BANDS, Some(&stretch)))
                .collect()
        };
        let (train, test) = (load(&train_cities)?, load(&test_cities)?);
        let mut notes = vec![
            format!(
                "OSCD RGB (B04, B03, B02 stretched to 0-255 with SeCo's quantiles), {} layout with {}/ at {}; train \
                 cities {}, test cities {} (lists in {}).",
                ds.layout,
                ds.dates.name(),
                oscd_root.display(),
                train_cities.join(", "),
                test_cities.join(", "),
                split_dir.display()
            ),
            "Labels: cm/<city>-cm.tif where present (the release codes 1 = no change, 2 = change), else cm/cm.png \
             thresholded at half intensity; images and label cropped to their common size."
                .into(),
        ];
        if !ds.unlabelled.is_empty() {
            notes.push(format!("Cities without a label, not used: {}.", ds.unlabelled.join(", ")));
        }
        let template = change_template(name, format!("Change detection on OSCD ({dataset})"), &oscd_root, notes);
        let row = change_detection::benchmark_pairs(&train, &test, config, &options)?;
        return Ok((template, row));
    }
    let mut notes = Vec::new();
    let root = if dataset == SEASONS_CHANGE && data.export_seasons {
        let root = data.derived_dir.join(SEASONS_CHANGE);
        let export = SeasonsExport::default();
        if !seasons_change::seasons_export_is_built(&root, &export) {
            if !options.quiet {
                eprintln!(
                    "exporting change pairs from {} to {} ...",
                    data.seasons_dir.display(),
                    root.display()
                );
            }
            seasons_change::export_seasons(&data.seasons_dir, &root, &export).map_err(|e| {
                Error::Config(format!(
                    "building {SEASONS_CHANGE} needs the simulated series at {} (`cargo xtask data simulate`): {e}",
                    data.seasons_dir.display()
                ))
            })?;
        }
        notes.push(
            "eurosat-seasons-change is SIMULATED: pairs of an older-era and a recent-era date of eurosat-seasons \
             (real EuroSAT tiles with synthetic seasons and pasted changes; see the README)."
                .to_string(),
        );
        root
    } else {
        data.data_root.join(dataset)
    };
    if data.change.dates != OscdDates::default() {
        return Err(Error::Config(format!(
            "--dates {} is for OSCD, and {} holds no OSCD city folders; a change set's folders are named with \
             --layout, --a-dir, --b-dir and --label-dir",
            data.change.dates.name(),
            root.display()
        )));
    }
    let (layout, how) = data.change.layout.resolve(&root)?;
    notes.push(format!(
        "Layout: {how}: {}/, {}/, {}/.",
        layout.a_dir, layout.b_dir, layout.label_dir
    ));
    if !options.quiet {
        eprintln!("layout of {}: {how}", root.display());
    }
    let ds = ChangeDataset::open(&root, layout)?;
    if root.join(change::PAIR_LIST).is_file() {
        notes.push(format!("Pairs: the {} listed in {}.", ds.len(), change::PAIR_LIST));
    }
    let split_dir = match &data.split_dir {
        Some(dir) => dir.clone(),
        None if data.change.split == SplitChoice::Lists && ds.list_dir().join("train.txt").is_file() => {
            ds.list_dir()
        }
        None => PathBuf::from("experiments/splits").join(dataset),
    };
    if let SplitChoice::Seeded { .. } = data.change.split {
        let choice = data.change.split;
        let (_, written) = split::seeded_lists(&split_dir, &choice, "pair", || split::seeded(&ds.names, &choice))?;
        if !options.quiet {
            let verb = if written { "wrote" } else { "reusing" };
            eprintln!("{verb} the seeded split lists ({choice}) in {}", split_dir.display());
        }
        notes.push(format!("Seeded split by pair: --split {choice}."));
    } else if !split_dir.join("train.txt").is_file() {
        let splits = change::splits_from_name_prefixes(&ds.names).ok_or_else(|| {
            Error::Config(format!(
                "no split lists in {} and the file names of {} (e.g. `{}`) carry no train_/val_/test_ prefixes; \
                 ask for a seeded split with `--split seeded:0.6,0.2,0.2` (written to {}), or give lists with \
                 --split-dir",
                split_dir.display(),
                root.display(),
                ds.names.first().map_or("", String::as_str),
                split_dir.display()
            ))
        })?;
        split::write(&split_dir, &splits)?;
        if !options.quiet {
            eprintln!(
                "wrote split lists from the file-name prefixes to {}",
                split_dir.display()
            );
        }
    }
    let eval_split = change_detection::eval_split(&split_dir);
    notes.push(format!(
        "Split lists: {}; trained on train.txt, scored on {eval_split}.txt{}.",
        split_dir.display(),
        if eval_split == "val" { " (no test.txt)" } else { "" }
    ));
    let template = change_template(name, format!("Change detection on {dataset}"), &root, notes);
    let row = change_detection::benchmark(&ds, &split_dir, config, &options)?;
    Ok((template, row))
}

/// Semantic segmentation on the aerial set, split by big tile (1 val, 2 test, the rest train; seed 42).
pub fn segmentation_aerial(
    data: &TaskData,
    config: &DenseConfig,
    options: &BenchmarkOptions,
) -> Result<(DenseTable, DenseRow)> {
    let dataset = aerial_seg::DATASET_DIR;
    let root = data.data_root.join(dataset);
    let ds = AerialSeg::open(&root)?;
    let split_dir = data
        .split_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from("experiments/splits").join(dataset));
    let splits = ds.load_or_create_split(&split_dir, 1, 2, 42)?;
    let name = format!("segmentation_{dataset}");
    let mut options = options.clone();
    options.overlay_dir = options.overlay_dir.map(|d| d.join(&name));
    let mut notes = vec![
        format!(
            "Split by big tile (seeded, {}): train {} / val {} / test {} images. Ignored: black and Unlabeled pixels.",
            split_dir.display(),
            splits.train.len(),
            splits.val.len(),
            splits.test.len()
        ),
        "Published, for context (pre-trained backbones, other data; not comparable):".into(),
        String::new(),
    ];
    notes.extend(Published::committed().notes("segmentation").iter().map(|p| format!("- {p}")));
    let template = DenseTable {
        name,
        title: format!("Semantic segmentation on {dataset}"),
        task: DenseTask::Segmentation,
        dataset: root.display().to_string(),
        classes: aerial_seg::class_names(),
        notes,
        rows: vec![],
    };
    let row = segmentation::benchmark_aerial(&ds, &splits, &split_dir, config, &options)?;
    Ok((template, row))
}

/// Semantic segmentation on DynamicEarthNet: monthly labels with the PlanetFusion image of their date (`den.bands`),
/// the official split lists if the dataset has them, else a seeded split by AOI in
/// `experiments/splits/dynamic-earthnet` (or `data.split_dir`).
pub fn segmentation_dynamic_earthnet(
    data: &TaskData,
    den: &DenOptions,
    config: &DenseConfig,
    options: &BenchmarkOptions,
) -> Result<(DenseTable, DenseRow)> {
    let root = data.data_root.join(dynamic_earthnet::DATASET_DIR);
    let ds = DynamicEarthNet::open(&root, DenLayout::default(), den.skip_bad)?;
    if !ds.skipped.is_empty() && !options.quiet {
        eprintln!(
            "skipped {} labels without an image, e.g. {}",
            ds.skipped.len(),
            ds.skipped[0].1
        );
    }
    let default_dir = PathBuf::from("experiments/splits").join(dynamic_earthnet::DATASET_DIR);
    let (splits, split_dir) = ds.load_or_create_split(data.split_dir.as_deref(), &default_dir, 42)?;
    let name = format!("segmentation_{}", dynamic_earthnet::DATASET_DIR);
    let mut options = options.clone();
    options.overlay_dir = options.overlay_dir.map(|d| d.join(&name));
    let split_source = if split_dir == ds.official_split_dir() {
        "dynnet's official lists"
    } else {
        "seeded by AOI"
    };
    let bands: Vec<&str> = den.bands.iter().map(|b| b.name()).collect();
    let scaling = if den.bands == dynamic_earthnet::RGB_BANDS {
        "ImageNet mean/std"
    } else {
        "x / 255"
    };
    let months = if den.months.is_empty() {
        "all".to_string()
    } else {
        den.months.join(", ")
    };
    let snow = match den.snow_ice {
        SnowIce::Ignored => " and snow & ice (as in dynnet's code)",
        SnowIce::Class => "",
    };
    let mut notes = vec![
        format!(
            "Split lists: {} ({} / {} / {} monthly samples listed; {split_source}).",
            split_dir.display(),
            splits.train.len(),
            splits.val.len(),
            splits.test.len(),
        ),
        format!(
            "Input: PlanetFusion {} of the label's date, mean ± 2 std stretch to 0-255 (dynnet's band statistics), \
             then {scaling}. Months: {months}. Ignored: pixels with no class or several{snow}.",
            bands.join(", "),
        ),
        "Published, for context (a pre-trained backbone; its fine-tuning recipe is not published):".into(),
        String::new(),
    ];
    notes.extend(Published::committed().notes("dynamic-earthnet").iter().map(|p| format!("- {p}")));
    if !ds.skipped.is_empty() {
        notes.push(format!(
            "{} labels without an image were skipped (--skip-bad).",
            ds.skipped.len()
        ));
    }
    let template = DenseTable {
        name,
        title: "Semantic segmentation on DynamicEarthNet".into(),
        task: DenseTask::Segmentation,
        dataset: root.display().to_string(),
        classes: den.snow_ice.class_names(),
        notes,
        rows: vec![],
    };
    let row = segmentation::benchmark_dynamic_earthnet(&ds, &splits, &split_dir, den, config, &options)?;
    Ok((template, row))
}
