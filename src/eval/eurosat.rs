//! The EuroSAT benchmark (SeCo/CACo protocol, METHODS.md "Downstream protocols"): for each row of a table config, a
//! frozen backbone's features (computed once, cached), a linear probe trained on train and scored on val (the
//! authors' metric) and test, and kNN retrieval on val. The default `authors` protocols feed x/255; the probe's
//! features come after the BatchNorm statistics are re-estimated on the train images (the authors' Lightning loop
//! keeps the frozen backbone in train mode), the kNN features use the stored statistics (the notebook's eval mode)
//! on the val images that fill whole batches of 64. `imagenet-eval` keeps caco's earlier protocol for comparison.

use std::path::{Path, PathBuf};
use std::time::Instant;

use tch::{nn, Device};

use rand::seq::SliceRandom;
use rand::SeedableRng;

use super::features::{self, stable_hash, ExtractOptions, FeatureSet, Protocol};
use super::knn;
use super::linear_probe::LinearProbe;
use super::subsets::{cap_per_class, stratified_fraction, SplitIndices};
use crate::results::metrics::AtK;
use super::eurosat_config::{EurosatTableConfig, RowConfig};
use crate::data::eurosat::Eurosat;
use crate::data::{split, Normalization};
use crate::models::ResNet;
use crate::results::eurosat::{EurosatRow, EurosatTable};
use crate::{Error, Result};

/// Where a run reads and caches, and how it reports.
#[derive(Debug, Clone)]
pub struct RunContext {
    pub data_root: PathBuf,
    pub cache_dir: PathBuf,
    pub device: Device,
    pub quiet: bool,
}

/// Opens the dataset and its split lists (creating the seeded split if absent) and applies the per-class cap.
pub fn open_dataset(
    config: &EurosatTableConfig,
    max_per_class: Option<usize>,
    data_root: &Path,
) -> Result<(Eurosat, SplitIndices)> {
    let ds_config = &config.dataset;
    let dataset = Eurosat::open(data_root.join(&ds_config.dir), ds_config.variant)?;
    let splits = split::load_or_create(
        &ds_config.split_dir,
        &dataset.samples,
        ds_config.train_fraction,
        ds_config.val_fraction,
        ds_config.split_seed,
    )?;
    let resolve = |name: &str| -> Result<Vec<usize>> {
        let list_path = ds_config.split_dir.join(format!("{name}.txt"));
        let indices = dataset.indices_of(splits.get(name).unwrap_or_default(), &list_path)?;
        Ok(match max_per_class {
            Some(k) => cap_per_class(&indices, &dataset.labels(&indices), k),
            None => indices,
        })
    };
    let indices = SplitIndices {
        train: resolve("train")?,
        val: resolve("val")?,
        test: resolve("test")?,
    };
    Ok((dataset, indices))
}

/// Builds a row's backbone: seeded random init, then the row's weights if it names a file. Frozen.
pub fn build_backbone(row: &RowConfig, in_channels: i64, device: Device) -> Result<(nn::VarStore, ResNet)> {
    let weights = (row.weights != "random").then(|| Path::new(&row.weights));
    crate::models::weights::load_backbone(row.arch, in_channels, row.init_seed, weights, &row.name, device)
}

/// Retrieval examples kept per row for figures: queries and neighbours per query.
const RETRIEVAL_QUERIES: usize = 6;
const RETRIEVAL_K: usize = 8;

/// The train images in the order of the BatchNorm re-estimation pass: shuffled with the probe's seed, as the
/// authors' train loader shuffles.
fn bn_order(train: &[usize], seed: u64) -> Vec<usize> {
    let mut order = train.to_vec();
    order.shuffle(&mut rand::rngs::StdRng::seed_from_u64(seed));
    order
}

/// kNN metrics on a gallery of `n` images: the `ks` below `n` computed by `f`, the others NaN (a gallery too small
/// for them, e.g. at the smoke scale).
fn knn_at(ks: &[usize], n: usize, f: impl FnOnce(&[usize]) -> Result<Vec<AtK>>) -> Result<Vec<AtK>> {
    let usable: Vec<usize> = ks.iter().copied().filter(|&k| k < n).collect();
    let computed = if usable.is_empty() { Vec::new() } else { f(&usable)? };
    Ok(ks
        .iter()
        .map(|&k| {
            computed.iter().find(|a| a.k == k).cloned().unwrap_or(AtK {
                k,
                precision: f64::NAN,
                recall: f64::NAN,
                precision_ci: None,
            })
        })
        .collect())
}

/// A normalisation as the table notes say it.
fn describe_normalization(n: &Normalization) -> String {
    match n {
        Normalization::Imagenet => "x/255 then ImageNet mean/std".into(),
        Normalization::Scale { scale } => format!("x/{scale}"),
        Normalization::PerBand { mean, std } => format!("per band (mean {mean:?}, std {std:?})"),
    }
}

/// The table notes that say which protocols produced the numbers.
fn protocol_notes(
    config: &EurosatTableConfig,
    splits: &SplitIndices,
    probe_norm: &Normalization,
    n_classes: usize,
) -> Vec<String> {
    let p = &config.probe;
    let schedule = format!(
        "Linear(d, {n_classes}), Adam lr {}, lr x{} at {:?} of {} epochs, batch {}, seed {}",
        p.lr, p.lr_gamma, p.lr_milestones, p.epochs, p.batch_size, p.seed
    );
    let probe = match p.protocol {
        Protocol::Authors => format!(
            "Probe, protocol `authors` (METHODS.md): input x/255 (ToTensor, no ImageNet normalisation); the frozen \
             backbone's BatchNorm running statistics re-estimated on the {} train images (one train-mode pass under \
             no_grad, batches of {}, cumulative average as PyTorch's momentum=None), then eval-mode features for \
             train, val and test; {schedule}. Accuracy on val is the authors' metric.",
            splits.train.len(),
            p.batch_size
        ),
        Protocol::ImagenetEval => format!(
            "Probe, protocol `imagenet-eval` (not the authors'): input normalised as {}, eval mode with the \
             backbone's stored BatchNorm statistics; {schedule}.",
            describe_normalization(probe_norm)
        ),
    };
    let k = &config.knn;
    let knn_input = match k.protocol {
        Protocol::Authors => "protocol `authors`: input x/255".to_string(),
        Protocol::ImagenetEval => format!(
            "protocol `imagenet-eval` (not the authors'): input normalised as {}",
            describe_normalization(&config.dataset.normalization)
        ),
    };
    let n_knn = k.gallery_size(splits.val.len());
    let knn = format!(
        "kNN (CACo notebook), {knn_input}, eval mode with the stored BatchNorm statistics; gallery: the first {n_knn} of \
         the {} val images (a DataLoader of batch {} with drop_last); cosine similarity; knn_*: {} queries drawn with \
         replacement (seed {}); knn_all_*: every gallery image as a query once (the same metric without the sampling \
         noise). P@k: share of the k nearest (query excluded) with the query's class, averaged over queries; R@k is \
         micro: hits summed over queries / class-mates (query excluded) summed over queries. NaN: k not below the \
         gallery size.",
        splits.val.len(),
        k.drop_last_batch,
        k.n_queries,
        k.seed
    );
    vec![probe, knn]
}

/// Runs every row of `config` at `scale`.
pub fn run(config: &EurosatTableConfig, scale: &str, ctx: &RunContext) -> Result<EurosatTable> {
    let start = Instant::now();
    let (config, preset) = config.with_scale(scale)?;
    config.knn.validate()?;
    let (dataset, splits) = open_dataset(&config, preset.max_per_class, &ctx.data_root)?;
    let n_classes = dataset.classes.len();
    let n_bands = dataset.n_bands();
    let probe_norm = config
        .probe
        .protocol
        .normalization(&config.dataset.normalization, n_bands)?;
    let knn_norm = config
        .knn
        .protocol
        .normalization(&config.dataset.normalization, n_bands)?;
    let reestimate = config.probe.protocol == Protocol::Authors;
    // The kNN gallery: the val images that fill whole batches of the notebook's drop_last loader (a prefix of val).
    let n_knn = config.knn.gallery_size(splits.val.len());
    let knn_indices = &splits.val[..n_knn];
    let bn_train = bn_order(&splits.train, config.probe.seed);
    let probe_tag = if reestimate {
        let images: Vec<&str> = bn_train.iter().map(|&i| dataset.samples[i].rel_path.as_str()).collect();
        format!(
            "bn-reestimated:{}:{:016x}",
            config.probe.batch_size,
            stable_hash(&images.join("\n"))
        )
    } else {
        "stored-bn".to_string()
    };
    let mut rows = Vec::with_capacity(config.rows.len());
    for row in &config.rows {
        let feature_start = Instant::now();
        let (vs, net) = build_backbone(row, n_bands as i64, ctx.device)?;
        let note = crate::models::weights::normalization_note(Path::new(&row.weights), &probe_norm);
        if let (Some(note), false) = (note, ctx.quiet) {
            eprintln!("{note}");
        }
        let options = ExtractOptions {
            batch_size: config.features.batch_size,
            device: ctx.device,
            n_workers: config.features.n_workers,
            quiet: ctx.quiet,
        };
        let extract =
            |name: &str, indices: &[usize], norm: &Normalization, tag: &str, before: &dyn Fn() -> Result<()>| {
                let key = feature_key(&config, row, &dataset, indices, norm, tag)?;
                let label = format!("features {name}");
                let (set, _) = features::cached(&ctx.cache_dir.join("features"), &key, || {
                    before()?;
                    features::extract(&net, &dataset, indices, norm, &options, &label)
                })?;
                Ok::<FeatureSet, Error>(set)
            };
        let nothing = || Ok(());
        // kNN features first: they need the stored BatchNorm statistics, which the authors' probe replaces.
        let knn_set = if n_knn == 0 {
            None
        } else {
            Some(extract("val (kNN)", knn_indices, &knn_norm, "stored-bn", &nothing)?)
        };
        // The BatchNorm re-estimation runs once, and only when a probe feature set is not cached yet.
        let reestimated = std::cell::Cell::new(false);
        let before_probe = || -> Result<()> {
            if reestimate && !reestimated.get() {
                let bn_options = ExtractOptions {
                    batch_size: config.probe.batch_size,
                    ..options.clone()
                };
                features::reestimate_batchnorm_on(
                    &net,
                    &vs,
                    &dataset,
                    &bn_train,
                    &probe_norm,
                    &bn_options,
                    "BatchNorm statistics on train",
                )?;
                reestimated.set(true);
            }
            Ok(())
        };
        let train = extract("train", &splits.train, &probe_norm, &probe_tag, &before_probe)?;
        let val = extract("val", &splits.val, &probe_norm, &probe_tag, &before_probe)?;
        let test = extract("test", &splits.test, &probe_norm, &probe_tag, &before_probe)?;
        let feature_seconds = feature_start.elapsed().as_secs_f64();

        let probe_start = Instant::now();
        let probe = LinearProbe::train(&train, n_classes, &config.probe, ctx.quiet)?;
        let test_metrics = probe.evaluate(&test, n_classes);
        let val_metrics = probe.evaluate(&val, n_classes);
        let probe_seconds = probe_start.elapsed().as_secs_f64();
        let ks = &config.knn.ks;
        let (knn, knn_all) = match &knn_set {
            Some(set) => {
                let labels = set.labels_vec();
                let knn = knn_at(ks, n_knn, |usable| {
                    let sampled = knn::KnnConfig {
                        ks: usable.to_vec(),
                        ..config.knn.clone()
                    };
                    knn::retrieval(&set.features, &labels, &sampled)
                })?;
                let all = knn_at(ks, n_knn, |usable| knn::retrieval_all(&set.features, &labels, usable))?;
                (knn, all)
            }
            None => {
                let nan = knn_at(ks, 0, |_| Ok(Vec::new()))?;
                (nan.clone(), nan)
            }
        };
        if !ctx.quiet && ks.iter().any(|&k| k >= n_knn) {
            eprintln!(
                "{}: kNN gallery of {n_knn} val images is too small for k in {ks:?}; those columns are NaN",
                row.name
            );
        }
        let mut fraction_accuracy = Vec::with_capacity(config.label_fractions.len());
        for &fraction in &config.label_fractions {
            let rows = stratified_fraction(
                &(0..train.len()).collect::<Vec<_>>(),
                &train.labels_vec(),
                fraction,
                config.probe.seed,
            )?;
            let subset = train.select(&rows);
            let probe = LinearProbe::train(&subset, n_classes, &config.probe, true)?;
            fraction_accuracy.push((fraction, probe.evaluate(&test, n_classes).accuracy));
        }
        let path_of = |pos: usize| dataset.samples[splits.val[pos]].rel_path.clone();
        let retrieval_examples = match &knn_set {
            Some(set) => knn::examples(&set.features, RETRIEVAL_QUERIES, RETRIEVAL_K, config.knn.seed)
                .into_iter()
                .map(|(q, near)| (path_of(q), near.into_iter().map(path_of).collect()))
                .collect(),
            None => Vec::new(),
        };
        if !ctx.quiet {
            eprintln!(
                "{}: probe accuracy val {:.2} %, test {:.2} %; kNN P@{} {:.2} % ({} queries), {:.2} % (all {n_knn})",
                row.name,
                100.0 * val_metrics.accuracy,
                100.0 * test_metrics.accuracy,
                knn[0].k,
                100.0 * knn[0].precision,
                config.knn.n_queries,
                100.0 * knn_all[0].precision
            );
        }
        rows.push(EurosatRow {
            name: row.name.clone(),
            arch: row.arch.name().to_string(),
            weights: row.weights.clone(),
            n_train: train.len(),
            n_val: val.len(),
            n_test: test.len(),
            test: test_metrics,
            val_accuracy: val_metrics.accuracy,
            val_accuracy_ci: val_metrics.accuracy_ci,
            knn,
            knn_all,
            n_knn,
            probe_final_loss: probe.epoch_losses.last().copied().unwrap_or(f64::NAN),
            feature_seconds,
            probe_seconds,
            fraction_accuracy,
            retrieval_examples,
        });
    }
    Ok(EurosatTable {
        name: config.name.clone(),
        title: config.title.clone(),
        scale: scale.to_string(),
        dataset: config.dataset.dir.display().to_string(),
        classes: dataset.classes.clone(),
        rows,
        notes: protocol_notes(&config, &splits, &probe_norm, n_classes),
        wall_seconds: start.elapsed().as_secs_f64(),
    })
}

/// Cache key of a feature set: everything that determines the features (data, images, backbone, weights file
/// identity, seed, input normalisation, and `bn`: which BatchNorm statistics the backbone used).
fn feature_key(
    config: &EurosatTableConfig,
    row: &RowConfig,
    dataset: &Eurosat,
    indices: &[usize],
    normalization: &Normalization,
    bn: &str,
) -> Result<String> {
    let weights_id = if row.weights == "random" {
        "random".to_string()
    } else {
        let meta = std::fs::metadata(&row.weights).map_err(|e| Error::io(&row.weights, e))?;
        format!("{}:{}:{:?}", row.weights, meta.len(), meta.modified().ok())
    };
    let images: String = indices
        .iter()
        .map(|&i| dataset.samples[i].rel_path.as_str())
        .collect::<Vec<_>>()
        .join("\n");
    let description = format!(
        "{}|{:?}|{:?}|{}|{}|{:?}|{}|{}",
        dataset
            .root
            .canonicalize()
            .unwrap_or_else(|_| dataset.root.clone())
            .display(),
        dataset.variant,
        row.arch,
        weights_id,
        row.init_seed,
        normalization,
        bn,
        stable_hash(&images)
    );
    Ok(format!("{}-{:?}-{:016x}", config.name, row.arch, stable_hash(&description)).to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads and caches under `dir`, on the CPU, quietly.
    fn test_context(dir: &std::path::Path) -> RunContext {
        RunContext {
            data_root: dir.to_path_buf(),
            cache_dir: dir.join("cache"),
            device: Device::Cpu,
            quiet: true,
        }
    }
    use crate::config::ExperimentConfig;
    use crate::data::fake::{write_eurosat_rgb, FakeEurosat};

    fn fake_config(root: &Path, protocol: &str) -> EurosatTableConfig {
        let text = format!(
            r#"
name = "eurosat"
title = "t"
[dataset]
variant = "rgb"
dir = "eurosat-rgb"
split_dir = {splits:?}
normalization = {{ kind = "imagenet" }}
[[rows]]
name = "random init"
arch = "resnet18"
weights = "random"
[probe]
epochs = 2
protocol = "{protocol}"
[knn]
protocol = "{protocol}"
n_queries = 7
ks = [5, 50]
drop_last_batch = 8
[scales.test]
"#,
            splits = root.join("splits").display().to_string()
        );
        EurosatTableConfig::from_toml(&text, Path::new("test.toml")).unwrap()
    }

    #[test]
    fn run_on_fake_eurosat_follows_the_authors_protocols_and_keeps_imagenet_eval() {
        let dir = tempfile::tempdir().unwrap();
        write_eurosat_rgb(
            &dir.path().join("eurosat-rgb"),
            &FakeEurosat::with_eurosat_classes(10, 1),
        )
        .unwrap();
        let ctx = test_context(dir.path());
        let n_cached = || std::fs::read_dir(dir.path().join("cache/features")).unwrap().count();
        let authors = run(&fake_config(dir.path(), "authors"), "test", &ctx).unwrap();
        let row = &authors.rows[0];
        // 10 per class, 60/20/20: 20 val images; whole batches of 8 keep 16 for kNN.
        assert_eq!((row.n_train, row.n_val, row.n_test, row.n_knn), (60, 20, 20, 16));
        assert_eq!(row.knn.iter().map(|a| a.k).collect::<Vec<_>>(), vec![5, 50]);
        assert_eq!(row.knn_all.len(), 2);
        for at in [&row.knn[0], &row.knn_all[0]] {
            assert!(
                (0.0..=1.0).contains(&at.precision) && (0.0..=1.0).contains(&at.recall),
                "{at:?}"
            );
        }
        // k = 50 does not fit a gallery of 16: NaN, not an error.
        assert!(row.knn[1].precision.is_nan() && row.knn_all[1].recall.is_nan());
        assert!(row.val_accuracy.is_finite());
        assert!(authors.notes[0].contains("`authors`") && authors.notes[0].contains("re-estimated"));
        assert!(
            authors.notes[1].contains("first 16 of the 20 val images") && authors.notes[1].contains("with replacement")
        );
        // kNN val (16) + probe train/val/test: four cached sets.
        assert_eq!(n_cached(), 4);

        let old = run(&fake_config(dir.path(), "imagenet-eval"), "test", &ctx).unwrap();
        assert!(old.notes[0].contains("`imagenet-eval`") && old.notes[1].contains("imagenet-eval"));
        // Different inputs and BatchNorm statistics: nothing is shared with the authors' sets.
        assert_eq!(n_cached(), 8);
        // A second run reads every set from the cache (no re-estimation) and reproduces the numbers.
        let again = run(&fake_config(dir.path(), "authors"), "test", &ctx).unwrap();
        assert_eq!(n_cached(), 8);
        assert_eq!(again.rows[0].val_accuracy, row.val_accuracy);
        assert_eq!(again.rows[0].knn_all[0], row.knn_all[0]);
    }

    #[cfg(feature = "gdal")]
    #[test]
    fn authors_protocol_needs_rgb() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = fake_config(dir.path(), "authors");
        config.dataset.variant = crate::data::eurosat::EurosatVariant::Ms;
        config.dataset.normalization = Normalization::Scale { scale: 10000.0 };
        config.dataset.dir = "eurosat-ms".into();
        crate::data::fake::write_eurosat_ms(&dir.path().join("eurosat-ms"), &FakeEurosat::with_eurosat_classes(5, 1))
            .unwrap();
        let ctx = test_context(dir.path());
        let err = run(&config, "test", &ctx).unwrap_err().to_string();
        assert!(err.contains("authors") && err.contains("imagenet-eval"), "{err}");
    }

    #[test]
    fn cap_keeps_first_per_class_in_order() {
        assert_eq!(
            cap_per_class(&[10, 11, 12, 13, 14, 15], &[0, 1, 0, 0, 1, 1], 2),
            vec![10, 11, 12, 14]
        );
    }
}
