//! The EuroSAT benchmark (SeCo/CACo protocol, METHODS.md): for each row of a table config, a frozen backbone's
//! features (computed once, cached), a linear probe trained on train and scored on test and val, and kNN retrieval
//! on val.

use std::path::{Path, PathBuf};
use std::time::Instant;

use tch::{nn, Device};

use super::features::{self, stable_hash, ExtractOptions, FeatureSet};
use super::knn;
use super::linear_probe::LinearProbe;
use crate::config::{EurosatTableConfig, RowConfig};
use crate::data::eurosat::Eurosat;
use crate::data::split;
use crate::models::ResNet;
use crate::report::eurosat::{EurosatRow, EurosatTable};
use crate::{Error, Result};

/// Where a run reads and caches, and how it reports.
#[derive(Debug, Clone)]
pub struct RunContext {
    pub data_root: PathBuf,
    pub cache_dir: PathBuf,
    pub device: Device,
    pub quiet: bool,
}

/// The split indices of a run (after the scale's per-class cap).
#[derive(Debug, Clone)]
pub struct SplitIndices {
    pub train: Vec<usize>,
    pub val: Vec<usize>,
    pub test: Vec<usize>,
}

/// Keeps the first `max_per_class` indices of each class, in list order (the lists are already shuffled).
pub fn cap_per_class(indices: &[usize], labels: &[usize], max_per_class: usize) -> Vec<usize> {
    let mut seen = std::collections::HashMap::new();
    indices
        .iter()
        .zip(labels)
        .filter(|(_, &l)| {
            let n = seen.entry(l).or_insert(0usize);
            *n += 1;
            *n <= max_per_class
        })
        .map(|(&i, _)| i)
        .collect()
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
    let (mut vs, net) = crate::models::seeded(row.init_seed, || {
        let vs = nn::VarStore::new(device);
        let net = ResNet::new(&vs.root(), row.arch, in_channels);
        (vs, net)
    });
    if row.weights != "random" {
        let path = Path::new(&row.weights);
        if !path.is_file() {
            return Err(Error::bad_input(
                path,
                format!("weights of row `{}` not found", row.name),
            ));
        }
        let missing = vs.load_partial(path)?;
        if !missing.is_empty() {
            return Err(Error::bad_input(
                path,
                format!(
                    "{} backbone tensors missing, e.g. {:?}",
                    missing.len(),
                    &missing[..missing.len().min(5)]
                ),
            ));
        }
    }
    vs.freeze();
    Ok((vs, net))
}

/// Retrieval examples kept per row for figures: queries and neighbours per query.
const RETRIEVAL_QUERIES: usize = 6;
const RETRIEVAL_K: usize = 8;

/// Runs every row of `config` at `scale`.
pub fn run(config: &EurosatTableConfig, scale: &str, ctx: &RunContext) -> Result<EurosatTable> {
    let start = Instant::now();
    let (config, preset) = config.with_scale(scale)?;
    let (dataset, splits) = open_dataset(&config, preset.max_per_class, &ctx.data_root)?;
    let n_classes = dataset.classes.len();
    let mut rows = Vec::with_capacity(config.rows.len());
    for row in &config.rows {
        let feature_start = Instant::now();
        let (_vs, net) = build_backbone(row, dataset.n_bands() as i64, ctx.device)?;
        let options = ExtractOptions {
            batch_size: config.features.batch_size,
            device: ctx.device,
            n_workers: config.features.n_workers,
            quiet: ctx.quiet,
        };
        let extract = |name: &str, indices: &[usize]| -> Result<FeatureSet> {
            let key = feature_key(&config, row, &dataset, indices)?;
            let label = format!("features {name}");
            let (set, _) = features::cached(&ctx.cache_dir.join("features"), &key, || {
                features::extract(&net, &dataset, indices, &config.dataset.normalization, &options, &label)
            })?;
            Ok(set)
        };
        let train = extract("train", &splits.train)?;
        let val = extract("val", &splits.val)?;
        let test = extract("test", &splits.test)?;
        let feature_seconds = feature_start.elapsed().as_secs_f64();

        let probe_start = Instant::now();
        let probe = LinearProbe::train(&train, n_classes, &config.probe, ctx.quiet)?;
        let test_metrics = probe.evaluate(&test, n_classes);
        let val_metrics = probe.evaluate(&val, n_classes);
        let probe_seconds = probe_start.elapsed().as_secs_f64();
        let knn = knn::retrieval(&val.features, &val.labels_vec(), &config.knn)?;
        let mut fraction_accuracy = Vec::with_capacity(config.label_fractions.len());
        for &fraction in &config.label_fractions {
            let rows = super::classification::stratified_fraction(
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
        let retrieval_examples = knn::examples(&val.features, RETRIEVAL_QUERIES, RETRIEVAL_K, config.knn.seed)
            .into_iter()
            .map(|(q, near)| (path_of(q), near.into_iter().map(path_of).collect()))
            .collect();
        if !ctx.quiet {
            eprintln!(
                "{}: probe test accuracy {:.2} %, kNN P@{} {:.2} %",
                row.name,
                100.0 * test_metrics.accuracy,
                knn[0].k,
                100.0 * knn[0].precision
            );
        }
        rows.push(EurosatRow {
            name: row.name.clone(),
            arch: format!("{:?}", row.arch).to_lowercase(),
            weights: row.weights.clone(),
            n_train: train.len(),
            n_val: val.len(),
            n_test: test.len(),
            test: test_metrics,
            val_accuracy: val_metrics.accuracy,
            knn,
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
        wall_seconds: start.elapsed().as_secs_f64(),
    })
}

/// Cache key of a feature set: everything that determines the features (data, images, backbone, weights file
/// identity, seed, normalisation).
fn feature_key(config: &EurosatTableConfig, row: &RowConfig, dataset: &Eurosat, indices: &[usize]) -> Result<String> {
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
        "{}|{:?}|{:?}|{}|{}|{:?}|{}",
        dataset
            .root
            .canonicalize()
            .unwrap_or_else(|_| dataset.root.clone())
            .display(),
        dataset.variant,
        row.arch,
        weights_id,
        row.init_seed,
        config.dataset.normalization,
        stable_hash(&images)
    );
    Ok(format!("{}-{:?}-{:016x}", config.name, row.arch, stable_hash(&description)).to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cap_keeps_first_per_class_in_order() {
        assert_eq!(
            cap_per_class(&[10, 11, 12, 13, 14, 15], &[0, 1, 0, 0, 1, 1], 2),
            vec![10, 11, 12, 14]
        );
    }
}
