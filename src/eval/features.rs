//! Frozen-backbone feature extraction (tch-rs `transfer-learning` habit): every image through the backbone once,
//! in eval mode under `no_grad`, with the next batch decoded on other threads meanwhile. Features are cached on disk
//! as safetensors under a key the caller derives from everything that determines them. Also the EuroSAT input
//! [`Protocol`]s and [`reestimate_batchnorm`], the cached-features stand-in for the authors' Lightning loop that keeps
//! a frozen backbone in train mode (METHODS.md "Downstream protocols").

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tch::nn::{self, ModuleT};
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

/// How the EuroSAT probe and kNN feed a frozen backbone (METHODS.md "Downstream protocols").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Protocol {
    /// The authors': x/255 input (torchvision's ToTensor on 8-bit RGB, no ImageNet normalisation). The probe's
    /// features come after the BatchNorm statistics are re-estimated on the EuroSAT train images
    /// ([`reestimate_batchnorm`]); kNN features use the backbone's stored statistics (the notebook's eval mode).
    #[default]
    Authors,
    /// The dataset config's normalisation (ImageNet mean/std for RGB) and eval mode with the backbone's stored
    /// BatchNorm statistics, for the probe and kNN alike: caco's earlier protocol, kept for comparison.
    ImagenetEval,
}

impl Protocol {
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Authors => "authors",
            Protocol::ImagenetEval => "imagenet-eval",
        }
    }

    /// The input normalisation: x/255 for `authors` (which needs 8-bit RGB, 3 bands), `dataset` for
    /// `imagenet-eval`.
    pub fn normalization(self, dataset: &Normalization, n_bands: usize) -> Result<Normalization> {
        match self {
            Protocol::Authors if n_bands != 3 => Err(Error::Config(format!(
                "protocol \"authors\" feeds x/255 (ToTensor of 8-bit RGB) and needs 3 bands, the dataset has \
                 {n_bands}; use protocol = \"imagenet-eval\", which applies the dataset's normalization"
            ))),
            Protocol::Authors => Ok(Normalization::Scale { scale: 255.0 }),
            Protocol::ImagenetEval => {
                dataset.validate(n_bands)?;
                Ok(dataset.clone())
            }
        }
    }
}

/// Re-estimates the running statistics of every BatchNorm layer of `model` (buffers `*running_mean` and
/// `*running_var` in `vs`) on `batches`, as PyTorch does with `momentum=None` (a cumulative average): each batch
/// goes through `model` in train mode under `no_grad`, and each layer's running mean and variance become the plain
/// average over the batches of its batch mean and unbiased batch variance. Weights are untouched; returns the
/// number of batches.
///
/// How, since tch fixes a layer's momentum `m` when it is built: libtorch updates a buffer `r` in train mode to
/// `(1 - m) r + m b`. Every buffer is set to 0 before a batch, so afterwards it holds `m b`; `b = buffer / m` is
/// summed in f64 and the mean over batches is written back at the end. `m` is tch's `BatchNormConfig` default
/// (0.1), which every [`crate::models::ResNet`] layer uses; the test below checks the result against statistics
/// computed directly.
pub fn reestimate_batchnorm(
    model: &impl ModuleT,
    vs: &nn::VarStore,
    batches: impl IntoIterator<Item = Result<Tensor>>,
) -> Result<usize> {
    let mut stats = CumulativeBatchNorm::new(vs)?;
    for batch in batches {
        stats.add(model, &batch?);
    }
    stats.finish()
}

/// The running sums of [`reestimate_batchnorm`].
struct CumulativeBatchNorm {
    device: Device,
    momentum: f64,
    buffers: Vec<Tensor>,
    sums: Vec<Tensor>,
    n_batches: usize,
}

impl CumulativeBatchNorm {
    fn new(vs: &nn::VarStore) -> Result<Self> {
        let mut named: Vec<(String, Tensor)> = vs
            .variables()
            .into_iter()
            .filter(|(name, _)| name.ends_with("running_mean") || name.ends_with("running_var"))
            .collect();
        if named.is_empty() {
            return Err(Error::Config(
                "BatchNorm re-estimation: the model has no BatchNorm buffers".into(),
            ));
        }
        named.sort_by(|a, b| a.0.cmp(&b.0));
        let buffers: Vec<Tensor> = named.into_iter().map(|(_, t)| t).collect();
        let sums = buffers
            .iter()
            .map(|t| Tensor::zeros(t.size(), (Kind::Double, t.device())))
            .collect();
        Ok(CumulativeBatchNorm {
            device: vs.device(),
            momentum: nn::BatchNormConfig::default().momentum,
            buffers,
            sums,
            n_batches: 0,
        })
    }

    /// One train-mode forward of `batch`; adds every layer's batch statistics to the sums.
    fn add(&mut self, model: &impl ModuleT, batch: &Tensor) {
        let batch = batch.to_device(self.device);
        tch::no_grad(|| {
            for buffer in self.buffers.iter_mut() {
                let _ = buffer.zero_();
            }
            let _ = model.forward_t(&batch, true);
            for (buffer, sum) in self.buffers.iter().zip(self.sums.iter_mut()) {
                *sum += buffer.to_kind(Kind::Double) / self.momentum;
            }
        });
        self.n_batches += 1;
    }

    /// Writes the means over the batches into the buffers.
    fn finish(mut self) -> Result<usize> {
        if self.n_batches == 0 {
            return Err(Error::Config("BatchNorm re-estimation: no images".into()));
        }
        let n = self.n_batches as f64;
        tch::no_grad(|| {
            for (buffer, sum) in self.buffers.iter_mut().zip(&self.sums) {
                buffer.copy_(&(sum / n).to_kind(buffer.kind()));
            }
        });
        Ok(self.n_batches)
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

/// Calls `f` on the batches `[b, c, h, w]` (CPU, f32) of `indices` of `dataset`, normalised with `normalization`,
/// in order, decoding the next batches on other threads meanwhile; shows a progress bar named `name`.
fn for_each_batch(
    dataset: &Eurosat,
    indices: &[usize],
    normalization: &Normalization,
    options: &ExtractOptions,
    name: &str,
    mut f: impl FnMut(Tensor) -> Result<()>,
) -> Result<()> {
    normalization.validate(dataset.n_bands())?;
    if indices.is_empty() {
        return Err(Error::Config(format!("{name}: no images")));
    }
    let batch_size = options.batch_size.max(1);
    let progress = Progress::new(indices.len() as u64, name, "img", options.quiet);
    // Decode and normalise the next batches while the backbone runs on the current one.
    crate::pool::prefetch(
        indices.chunks(batch_size),
        2,
        |chunk| {
            dataset.load_many(chunk, options.n_workers).map(|mut images| {
                images.iter_mut().for_each(|img| normalization.apply(img));
                images_to_tensor(&images)
            })
        },
        |batch| {
            let n = batch.size()[0] as u64;
            f(batch)?;
            progress.inc(n);
            Ok(())
        },
    )?;
    progress.finish();
    Ok(())
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
    let mut outputs = Vec::with_capacity(indices.len().div_ceil(options.batch_size.max(1)));
    for_each_batch(dataset, indices, normalization, options, name, |batch| {
        let feats = tch::no_grad(|| model.forward_t(&batch.to_device(options.device), false));
        outputs.push(feats.to_device(Device::Cpu).to_kind(Kind::Float));
        Ok(())
    })?;
    let labels: Vec<i64> = dataset.labels(indices).into_iter().map(|l| l as i64).collect();
    Ok(FeatureSet {
        features: Tensor::cat(&outputs, 0),
        labels: Tensor::from_slice(&labels),
    })
}

/// [`reestimate_batchnorm`] of `model` (buffers in `vs`) on `indices` of `dataset` in that order, normalised with
/// `normalization`, in batches of `options.batch_size` (the last one may be smaller; every batch weighs the same,
/// as in PyTorch's cumulative average). Returns the number of batches.
pub fn reestimate_batchnorm_on(
    model: &impl ModuleT,
    vs: &nn::VarStore,
    dataset: &Eurosat,
    indices: &[usize],
    normalization: &Normalization,
    options: &ExtractOptions,
    name: &str,
) -> Result<usize> {
    let mut stats = CumulativeBatchNorm::new(vs)?;
    for_each_batch(dataset, indices, normalization, options, name, |batch| {
        stats.add(model, &batch);
        Ok(())
    })?;
    stats.finish()
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
    fn batchnorm_is_re_estimated_as_a_cumulative_average_of_batch_statistics() {
        use crate::models::{Arch, ResNet};
        tch::manual_seed(7);
        let vs = nn::VarStore::new(Device::Cpu);
        let net = ResNet::new(&vs.root(), Arch::Resnet18, 3);
        // Three batches of unequal size and different statistics; each weighs the same (PyTorch's momentum=None).
        let batches: Vec<Tensor> = [(4, 0.5, 1.0), (4, 2.0, -1.0), (2, 1.0, 3.0)]
            .iter()
            .map(|&(n, std, mean)| Tensor::randn([n, 3, 32, 32], (Kind::Float, Device::Cpu)) * std + mean)
            .collect();
        let weight_before = vs.variables()["layer2.0.bn1.weight"].copy();
        // Stale statistics must not leak into the result.
        let _ = vs.variables().get_mut("bn1.running_mean").unwrap().fill_(5.0);
        let n = reestimate_batchnorm(&net, &vs, batches.iter().map(|b| Ok(b.shallow_clone()))).unwrap();
        assert_eq!(n, 3);
        // bn1 normalises the raw conv1 output, which feature_maps returns: its statistics can be computed directly.
        let (mut mean, mut var) = (
            Tensor::zeros([64], (Kind::Double, Device::Cpu)),
            Tensor::zeros([64], (Kind::Double, Device::Cpu)),
        );
        for b in &batches {
            let raw = tch::no_grad(|| net.feature_maps(b, false).conv1).to_kind(Kind::Double);
            mean += raw.mean_dim([0, 2, 3].as_slice(), false, Kind::Double) / 3.0;
            var += raw.var_dim([0, 2, 3].as_slice(), true, false) / 3.0;
        }
        let vars = vs.variables();
        let got_mean = vars["bn1.running_mean"].to_kind(Kind::Double);
        let got_var = vars["bn1.running_var"].to_kind(Kind::Double);
        assert!(
            got_mean.allclose(&mean, 1e-4, 1e-5, false),
            "{:?}",
            (&got_mean - &mean).abs().max()
        );
        assert!(
            got_var.allclose(&var, 1e-4, 1e-5, false),
            "{:?}",
            (&got_var - &var).abs().max()
        );
        // Deeper layers moved too; weights did not.
        let deep = vars["layer4.1.bn2.running_var"].to_kind(Kind::Double);
        assert!((deep - 1.0).abs().max().double_value(&[]) > 1e-3);
        assert!(vars["layer2.0.bn1.weight"].equal(&weight_before));
        // A second pass gives the same statistics (a fresh average, not an update of the previous one).
        reestimate_batchnorm(&net, &vs, batches.iter().map(|b| Ok(b.shallow_clone()))).unwrap();
        assert!(vs.variables()["bn1.running_mean"]
            .to_kind(Kind::Double)
            .allclose(&got_mean, 1e-6, 1e-6, false));
        assert!(reestimate_batchnorm(&net, &vs, std::iter::empty()).is_err());
    }

    #[test]
    fn protocols_name_their_input() {
        assert_eq!(
            Protocol::Authors.normalization(&Normalization::Imagenet, 3).unwrap(),
            Normalization::Scale { scale: 255.0 }
        );
        assert_eq!(
            Protocol::ImagenetEval
                .normalization(&Normalization::Imagenet, 3)
                .unwrap(),
            Normalization::Imagenet
        );
        let err = Protocol::Authors
            .normalization(&Normalization::Imagenet, 13)
            .unwrap_err()
            .to_string();
        assert!(err.contains("imagenet-eval") && err.contains("13"), "{err}");
        assert!(Protocol::ImagenetEval
            .normalization(&Normalization::Imagenet, 13)
            .is_err());
        assert_eq!(Protocol::default(), Protocol::Authors);
        #[derive(serde::Deserialize)]
        struct P {
            protocol: Protocol,
        }
        let p: P = toml::from_str("protocol = \"imagenet-eval\"").unwrap();
        assert_eq!(p.protocol, Protocol::ImagenetEval);
    }

    #[test]
    fn stable_hash_is_fnv1a() {
        // FNV-1a 64 of "a" (reference value from the FNV specification).
        assert_eq!(stable_hash("a"), 0xaf63dc4c8601ec8c);
    }
}
