//! Frozen-backbone feature extraction (tch-rs `transfer-learning` habit): every image through the backbone once,
//! in eval mode under `no_grad`, with the next batch decoded on other threads meanwhile. Features are cached on disk
//! as safetensors under a key the caller derives from everything that determines them.

use std::path::{Path, PathBuf};
use std::sync::mpsc;

use tch::nn::ModuleT;
use tch::{Device, Kind, Tensor};

use crate::data::eurosat::Eurosat;
use crate::data::{Image, Normalization};
use crate::progress::Progress;
use crate::{Error, Result};

/// Features `[n, d]` (f32, CPU) and class labels `[n]` (i64, CPU) of one split.
#[derive(Debug)]
pub struct FeatureSet {
    pub features: Tensor,
    pub labels: Tensor,
}

impl FeatureSet {
    pub fn len(&self) -> usize {
        self.labels.size()[0] as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The rows at `positions`, in that order.
    pub fn select(&self, positions: &[usize]) -> FeatureSet {
        let idx = Tensor::from_slice(&positions.iter().map(|&p| p as i64).collect::<Vec<_>>());
        FeatureSet {
            features: self.features.index_select(0, &idx),
            labels: self.labels.index_select(0, &idx),
        }
    }

    pub fn labels_vec(&self) -> Vec<usize> {
        Vec::<i64>::try_from(&self.labels)
            .expect("i64 labels")
            .into_iter()
            .map(|l| l as usize)
            .collect()
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        // Write then rename, so an interrupted run never leaves a half-written cache entry.
        let tmp = path.with_extension("partial");
        Tensor::write_safetensors(&[("features", &self.features), ("labels", &self.labels)], &tmp)?;
        std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
    }

    pub fn load(path: &Path) -> Result<Self> {
        let mut tensors = Tensor::read_safetensors(path)?;
        let mut take = |name: &str| {
            let pos = tensors.iter().position(|(n, _)| n == name);
            pos.map(|p| tensors.swap_remove(p).1)
                .ok_or_else(|| Error::bad_input(path, format!("feature cache has no `{name}` tensor")))
        };
        Ok(FeatureSet {
            features: take("features")?,
            labels: take("labels")?,
        })
    }
}

/// Stacks same-shaped images into `[n, c, h, w]` f32.
pub fn images_to_tensor(images: &[Image]) -> Tensor {
    let first = &images[0];
    let mut data = Vec::with_capacity(images.len() * first.data.len());
    for img in images {
        assert_eq!(
            (img.n_bands, img.height, img.width),
            (first.n_bands, first.height, first.width)
        );
        data.extend_from_slice(&img.data);
    }
    Tensor::from_slice(&data).view([
        images.len() as i64,
        first.n_bands as i64,
        first.height as i64,
        first.width as i64,
    ])
}

/// Options of [`extract`].
#[derive(Debug, Clone)]
pub struct ExtractOptions {
    pub batch_size: usize,
    pub device: Device,
    /// Decoder threads.
    pub n_workers: usize,
    pub quiet: bool,
}

/// Runs `model` (eval mode, no grad) over `indices` of `dataset`, normalised with `normalization`.
pub fn extract(
    model: &impl ModuleT,
    dataset: &Eurosat,
    indices: &[usize],
    normalization: &Normalization,
    options: &ExtractOptions,
    name: &str,
) -> Result<FeatureSet> {
    normalization.validate(dataset.n_bands())?;
    if indices.is_empty() {
        return Err(Error::Config(format!("{name}: no images to extract features from")));
    }
    let batch_size = options.batch_size.max(1);
    let progress = Progress::new(indices.len() as u64, name, "img", options.quiet);
    let mut outputs = Vec::with_capacity(indices.len().div_ceil(batch_size));
    std::thread::scope(|s| -> Result<()> {
        // Decode and normalise the next batches while the backbone runs on the current one.
        let (tx, rx) = mpsc::sync_channel::<Result<Tensor>>(2);
        s.spawn(move || {
            for chunk in indices.chunks(batch_size) {
                let batch = dataset.load_many(chunk, options.n_workers).map(|mut images| {
                    images.iter_mut().for_each(|img| normalization.apply(img));
                    images_to_tensor(&images)
                });
                let failed = batch.is_err();
                if tx.send(batch).is_err() || failed {
                    break;
                }
            }
        });
        for batch in rx {
            let batch = batch?;
            let n = batch.size()[0] as u64;
            let feats = tch::no_grad(|| model.forward_t(&batch.to_device(options.device), false));
            outputs.push(feats.to_device(Device::Cpu).to_kind(Kind::Float));
            progress.inc(n);
        }
        Ok(())
    })?;
    progress.finish();
    let labels: Vec<i64> = dataset.labels(indices).into_iter().map(|l| l as i64).collect();
    Ok(FeatureSet {
        features: Tensor::cat(&outputs, 0),
        labels: Tensor::from_slice(&labels),
    })
}

/// Loads `cache_dir/<key>.safetensors` if present, otherwise computes and stores it.
pub fn cached(
    cache_dir: &Path,
    key: &str,
    compute: impl FnOnce() -> Result<FeatureSet>,
) -> Result<(FeatureSet, PathBuf)> {
    let path = cache_dir.join(format!("{key}.safetensors"));
    if path.is_file() {
        if let Ok(set) = FeatureSet::load(&path) {
            return Ok((set, path));
        }
    }
    let set = compute()?;
    set.save(&path)?;
    Ok((set, path))
}

/// A stable 64-bit FNV-1a hash, for cache keys that must not change between Rust releases.
pub fn stable_hash(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_stack_band_major() {
        let a = Image {
            n_bands: 2,
            height: 1,
            width: 2,
            data: vec![1.0, 2.0, 3.0, 4.0],
        };
        let b = Image {
            n_bands: 2,
            height: 1,
            width: 2,
            data: vec![5.0, 6.0, 7.0, 8.0],
        };
        let t = images_to_tensor(&[a, b]);
        assert_eq!(t.size(), vec![2, 2, 1, 2]);
        assert_eq!(t.double_value(&[0, 1, 0, 1]), 4.0);
        assert_eq!(t.double_value(&[1, 0, 0, 0]), 5.0);
    }

    #[test]
    fn feature_cache_round_trips_and_is_reused() {
        let dir = tempfile::tempdir().unwrap();
        let make = || {
            Ok(FeatureSet {
                features: Tensor::from_slice(&[1f32, 2., 3., 4.]).view([2, 2]),
                labels: Tensor::from_slice(&[0i64, 1]),
            })
        };
        let (first, path) = cached(dir.path(), "k", make).unwrap();
        assert!(path.is_file());
        let (second, _) = cached(dir.path(), "k", || panic!("must come from the cache")).unwrap();
        assert_eq!(
            Vec::<f32>::try_from(second.features.flatten(0, -1)).unwrap(),
            vec![1., 2., 3., 4.]
        );
        assert_eq!(second.labels_vec(), first.labels_vec());
    }

    #[test]
    fn stable_hash_is_fnv1a() {
        // FNV-1a 64 of "a" (reference value from the FNV specification).
        assert_eq!(stable_hash("a"), 0xaf63dc4c8601ec8c);
    }
}
