//! One model for every method: a query side (backbone + projection heads, GASSL's geo head) trained by SGD and a
//! key side updated by momentum, plus the queues and CACo's change state. A method only decides how many heads it
//! has, which views it reads, which loss it computes and what it updates after a step: the training loop is shared.

use serde::{Deserialize, Serialize};
use tch::nn::{self, Module, ModuleT};
use tch::{Device, Kind, Tensor};

use super::caco::{batch_ratios, ChangeState};
use super::losses;
use super::momentum::momentum_update;
use super::queue::KeyQueue;
use crate::models::dist::Dist;
use crate::models::heads::{l2_normalize, ProjectionHead};
use crate::models::{Arch, ResNet};
use crate::{Error, Result};

/// The pre-training method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// MoCo-v2: two augmentations of one image.
    Moco,
    /// SeCo: three subspaces, positives from other seasons.
    Seco,
    /// TeCo: CACo's loss with the long-term partner always a negative.
    Teco,
    /// CACo: the long-term partner is a negative only where the place changed.
    Caco,
    /// GASSL: temporal positives plus a geo-cluster head.
    Gassl,
}

impl Method {
    /// Every method, in the papers' order.
    pub const ALL: [Method; 5] = [Method::Moco, Method::Seco, Method::Teco, Method::Caco, Method::Gassl];

    /// The name configs use (`moco`, `seco`, `teco`, `caco`, `gassl`).
    pub fn name(self) -> &'static str {
        match self {
            Method::Moco => "moco",
            Method::Seco => "seco",
            Method::Teco => "teco",
            Method::Caco => "caco",
            Method::Gassl => "gassl",
        }
    }

    /// Projection heads (embedding subspaces) per side.
    pub fn n_heads(self) -> usize {
        match self {
            Method::Moco | Method::Gassl => 1,
            Method::Seco | Method::Teco | Method::Caco => 3,
        }
    }

    /// Views per item: q, k0, k1, k2 for the seasonal methods, q, k otherwise.
    pub fn n_views(self) -> usize {
        if self.n_heads() == 3 {
            4
        } else {
            2
        }
    }

    /// Whether batches must be (older, recent) pairs of one location.
    pub fn paired(self) -> bool {
        matches!(self, Method::Teco | Method::Caco)
    }

    /// Whether the key encoder uses shuffle-BN when BatchNorm runs in several groups (ranks or `bn_groups`): the
    /// methods whose originals ran on several GPUs with it (MoCo-v2's code, GASSL). SeCo/TeCo/CACo ran on one GPU:
    /// plain BatchNorm per group.
    pub fn shuffle_bn(self) -> bool {
        matches!(self, Method::Moco | Method::Gassl)
    }

    /// Names of the loss parts logged per step.
    pub fn loss_names(self) -> Vec<String> {
        match self {
            Method::Moco => vec!["infonce".into()],
            Method::Gassl => vec!["infonce".into(), "geo".into()],
            _ => (0..3).map(|i| format!("subspace{i}")).collect(),
        }
    }
}

/// Hyper-parameters the model needs.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelConfig {
    pub method: Method,
    pub arch: Arch,
    pub in_channels: i64,
    pub embedding_dim: i64,
    pub queue_size: i64,
    pub temperature: f64,
    pub encoder_momentum: f64,
    /// GASSL's number of geo clusters.
    pub geo_clusters: i64,
    /// Mixed precision of the encoders only (METHODS.md: heads, embeddings, queues, logits, losses and CACo's
    /// distances stay float32).
    pub amp: crate::models::autocast::Amp,
    /// BatchNorm groups per forward of this process: GASSL's shuffle-BN of 4 GPUs emulated on one device (the query
    /// batch in 4 groups, the key batch permuted, in 4 groups, un-permuted; MoCo/GASSL only, see
    /// [`Method::shuffle_bn`]); 1 everywhere else. Across ranks the groups multiply: W ranks with g groups each
    /// normalise like one process with W·g groups.
    pub bn_groups: i64,
}

/// Query side, key side, queues and (CACo) change state.
pub struct SslModel {
    pub config: ModelConfig,
    pub vs_q: nn::VarStore,
    pub vs_k: nn::VarStore,
    backbone_q: ResNet,
    heads_q: Vec<ProjectionHead>,
    geo_head: Option<nn::Linear>,
    backbone_k: ResNet,
    heads_k: Vec<ProjectionHead>,
    pub queues: Vec<KeyQueue>,
    pub change: Option<ChangeState>,
    /// The process group ([`Dist::single`] unless [`Self::set_dist`]): keys, ratios and shuffle permutations are
    /// exchanged through it so that every rank sees the global batch's.
    dist: Dist,
}

/// What a step needs besides the views: item indices, and GASSL's cluster of each item.
pub struct StepInput<'a> {
    /// Views on the model's device, each `[n, c, h, w]`.
    pub views: &'a [Tensor],
    /// Sampling-unit index of every row (CACo: the dataset index whose change state the row updates).
    pub items: &'a [usize],
    /// Era of every row (0 older, 1 recent; 0 where the data have one era), carried by the batch.
    pub era: &'a [i64],
    /// GASSL: cluster id of every dataset item.
    pub clusters: Option<&'a [i64]>,
    /// Seeds this step's shuffle-BN permutations (MoCo-v2/GASSL with several BatchNorm groups; unused otherwise). The
    /// training loop derives it from the run seed and the step ([`step_seed`]), so a resumed run permutes exactly as
    /// the uninterrupted one (libtorch's global generator is not part of a checkpoint).
    pub shuffle_seed: u64,
}

/// The shuffle seed of step `step` (0-based) of a run seeded with `seed`.
pub fn step_seed(seed: u64, step: u64) -> u64 {
    seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ step.wrapping_mul(0xC2B2_AE3D_27D4_EB4F)
}

/// A permutation of `0..n` drawn from `seed` alone.
fn permutation(n: i64, seed: u64) -> Vec<i64> {
    use rand::seq::SliceRandom;
    use rand::SeedableRng;
    let mut perm: Vec<i64> = (0..n).collect();
    perm.shuffle(&mut rand::rngs::StdRng::seed_from_u64(seed));
    perm
}

impl SslModel {
    /// Query and key sides start equal (MoCo copies the query encoder into the key encoder).
    pub fn new(config: ModelConfig, n_items: usize, device: Device) -> Result<Self> {
        let vs_q = nn::VarStore::new(device);
        let mut vs_k = nn::VarStore::new(device);
        let build = |vs: &nn::VarStore| {
            let root = vs.root();
            let backbone = ResNet::new(&(&root / "backbone"), config.arch, config.in_channels);
            let heads = (0..config.method.n_heads())
                .map(|i| ProjectionHead::new(&(&root / "heads" / i), config.arch.out_dim(), config.embedding_dim))
                .collect::<Vec<_>>();
            (backbone, heads)
        };
        let (backbone_q, heads_q) = build(&vs_q);
        let geo_head = (config.method == Method::Gassl).then(|| {
            crate::models::init::linear(vs_q.root() / "geo_head" / 1, config.embedding_dim, config.geo_clusters)
        });
        let (backbone_k, heads_k) = build(&vs_k);
        vs_k.copy(&vs_q)?;
        vs_k.freeze();
        let queues = (0..config.method.n_heads())
            .map(|_| KeyQueue::new(config.queue_size, config.embedding_dim, device))
            .collect();
        let change = (config.method == Method::Caco).then(|| ChangeState::new(n_items));
        Ok(SslModel {
            config,
            vs_q,
            vs_k,
            backbone_q,
            heads_q,
            geo_head,
            backbone_k,
            heads_k,
            queues,
            change,
            dist: Dist::single(),
        })
    }

    /// Joins the model to a process group (data-parallel training): each step's input is then this rank's contiguous
    /// slice of the global batch.
    pub fn set_dist(&mut self, dist: Dist) {
        self.dist = dist;
    }

    pub fn dist(&self) -> &Dist {
        &self.dist
    }

    pub fn device(&self) -> Device {
        self.vs_q.device()
    }

    /// Backbone features `[n, d]` in float32: the encoder runs under the configured autocast, in `bn_groups` groups
    /// of consecutive rows (each its own train-mode BatchNorm statistics).
    fn encode(&self, backbone: &ResNet, xs: &Tensor) -> Result<Tensor> {
        let groups = self.config.bn_groups.max(1);
        let n = xs.size()[0];
        let feats = crate::models::autocast::autocast(self.config.amp, self.device(), || {
            if groups == 1 || n < groups {
                backbone.forward_t(xs, true)
            } else {
                let parts: Vec<Tensor> = xs
                    .chunk(groups, 0)
                    .iter()
                    .map(|x| backbone.forward_t(x, true))
                    .collect();
                Tensor::cat(&parts, 0)
            }
        })?;
        Ok(feats.to_kind(Kind::Float))
    }

    /// Query-encoder features of `xs` `[n, d]` as a step computes them (autocast, BatchNorm groups, train mode).
    pub fn query_features(&self, xs: &Tensor) -> Result<Tensor> {
        self.encode(&self.backbone_q, xs)
    }

    /// Key-side embeddings (normalised) of one key view by every head, for the GLOBAL batch: `[head][N, d]`, where
    /// `xs` `[n, ...]` is this rank's slice (N = n in one process). One forward of its own (train-mode BatchNorm
    /// statistics of this view only, as the originals); no gradient. Shuffle-BN ([`Method::shuffle_bn`], more than
    /// one BatchNorm group in all): the global key batch is gathered, permuted with one permutation (rank 0's), each
    /// rank encodes its slice of the permuted batch in its groups, and the features are gathered and un-permuted,
    /// as the originals' DDP code does; otherwise every rank encodes its own rows and the keys are gathered.
    fn keys(&self, xs: &Tensor, shuffle_seed: u64) -> Result<Vec<Tensor>> {
        let dist = &self.dist;
        tch::no_grad(|| {
            let groups = self.config.bn_groups.max(1) * dist.world() as i64;
            let feats = if self.config.method.shuffle_bn() && groups > 1 {
                let all = dist.all_gather(xs)?;
                let (n, total) = (xs.size()[0], all.size()[0]);
                let perm = Tensor::from_slice(&permutation(total, shuffle_seed)).to_device(xs.device());
                dist.broadcast(&[perm.shallow_clone()], 0)?;
                let inverse = perm.argsort(0, false);
                let mine = perm.narrow(0, dist.rank() as i64 * n, n);
                let feats = self.encode(&self.backbone_k, &all.index_select(0, &mine))?;
                dist.all_gather(&feats)?.index_select(0, &inverse)
            } else {
                dist.all_gather(&self.encode(&self.backbone_k, xs)?)?
            };
            Ok(self.heads_k.iter().map(|h| l2_normalize(&h.forward(&feats))).collect())
        })
    }

    /// The loss of one step, its parts (detached, for logging) and the keys to enqueue once the optimiser has
    /// stepped ([`Self::after_step`]). CACo's change state is updated here, with the key encoder, under no_grad.
    /// Only the encoders run under autocast; everything after them is float32.
    ///
    /// Data-parallel: `input` is this rank's contiguous slice of the global batch; the loss and its parts are the
    /// mean over this rank's queries (the loop averages gradients and parts over ranks), while the in-batch
    /// negatives, the keys to enqueue and CACo's ratios are the global batch's, so every rank holds the same queues
    /// and change state.
    pub fn loss(&mut self, input: &StepInput) -> Result<(Tensor, Vec<f64>, StepKeys)> {
        let t = self.config.temperature;
        let method = self.config.method;
        let device = self.device();
        let n = input.items.len() as i64;
        let offset = self.dist.rank() as i64 * n;
        let q_feats = self.encode(&self.backbone_q, &input.views[0])?;
        let q_proj: Vec<Tensor> = self.heads_q.iter().map(|h| h.forward(&q_feats)).collect();
        let q: Vec<Tensor> = q_proj.iter().map(l2_normalize).collect();
        let (parts, step_keys) = match method {
            Method::Moco | Method::Gassl => {
                let k = self.keys(&input.views[1], input.shuffle_seed)?.remove(0);
                let mut parts = vec![losses::info_nce(
                    &q[0],
                    &k.narrow(0, offset, n),
                    &self.queues[0].keys,
                    t,
                )];
                if let Some(geo) = &self.geo_head {
                    let clusters = input
                        .clusters
                        .ok_or_else(|| Error::Config("GASSL needs geo clusters".into()))?;
                    let ids: Vec<i64> = input.items.iter().map(|&i| clusters[i]).collect();
                    // GASSL's head: ReLU -> Linear on the unnormalised query projection.
                    let logits = q_proj[0].relu().apply(geo);
                    parts.push(logits.cross_entropy_for_logits(&Tensor::from_slice(&ids).to_device(device)));
                }
                (
                    parts,
                    StepKeys {
                        era: Tensor::zeros([k.size()[0]], (Kind::Int64, device)),
                        keys: vec![k],
                    },
                )
            }
            Method::Seco | Method::Teco | Method::Caco => {
                // by_view[j][i]: key view j (k0, k1, k2), each its own forward, embedded by head i.
                let by_view: Vec<Vec<Tensor>> = (1..4)
                    .map(|j| self.keys(&input.views[j], input.shuffle_seed.wrapping_add(j as u64)))
                    .collect::<Result<_>>()?;
                // keys[i][j]: head i of key view j.
                let keys: Vec<Vec<Tensor>> = (0..3)
                    .map(|i| by_view.iter().map(|v| v[i].shallow_clone()).collect())
                    .collect();
                let era = self.dist.all_gather(&Tensor::from_slice(input.era).to_device(device))?;
                let queue_keys: Vec<Tensor> = self.queues.iter().map(|q| q.keys.shallow_clone()).collect();
                let parts = if method == Method::Seco {
                    losses::seco_loss_rows(&q, &keys, &queue_keys, t, offset)
                } else {
                    let labels: Vec<i64> = match &self.change {
                        Some(state) => state.labels(input.items),
                        None => vec![0; input.items.len()],
                    };
                    let labels = Tensor::from_slice(&labels).to_device(device);
                    let queue_era: Vec<Tensor> = self.queues.iter().map(|q| q.era.shallow_clone()).collect();
                    let long_term = if method == Method::Teco {
                        losses::LongTerm::Teco
                    } else {
                        losses::LongTerm::Caco
                    };
                    losses::caco_loss_rows(&q, &keys, &queue_keys, &queue_era, &era, &labels, t, long_term, offset)
                };
                if self.change.is_some() {
                    // l_q: the query image by the key encoder and head 1 (a forward of its own); l_s: the
                    // short-term key k1 by head 1, from k1's own forward above (a second forward of the same
                    // batch in train mode gives the same values).
                    let l_q = tch::no_grad(|| -> Result<Tensor> {
                        Ok(l2_normalize(
                            &self.heads_k[1].forward(&self.encode(&self.backbone_k, &input.views[0])?),
                        ))
                    })?;
                    let ratios = batch_ratios(&l_q, &keys[1][1].narrow(0, offset, n));
                    let (items, ratios) = self.gather_ratios(input.items, ratios)?;
                    if let Some(state) = self.change.as_mut() {
                        state.update(&items, &ratios);
                    }
                }
                let positives = (0..3).map(|i| keys[i][i].shallow_clone()).collect();
                (parts, StepKeys { keys: positives, era })
            }
        };
        let values = parts.iter().map(|p| p.double_value(&[])).collect();
        let total = parts.into_iter().reduce(|a, b| a + b).expect("at least one loss part");
        Ok((total, values, step_keys))
    }

    /// Every rank's (item, ratio) pairs in rank order, so that every rank updates the same change state.
    fn gather_ratios(&self, items: &[usize], ratios: Vec<f64>) -> Result<(Vec<usize>, Vec<f64>)> {
        if self.dist.world() == 1 {
            return Ok((items.to_vec(), ratios));
        }
        let device = self.device();
        let items: Vec<i64> = items.iter().map(|&i| i as i64).collect();
        let items = self.dist.all_gather(&Tensor::from_slice(&items).to_device(device))?;
        let ratios = self.dist.all_gather(&Tensor::from_slice(&ratios).to_device(device))?;
        let items = Vec::<i64>::try_from(items.to_device(Device::Cpu)).map_err(Error::from)?;
        let ratios = Vec::<f64>::try_from(ratios.to_device(Device::Cpu)).map_err(Error::from)?;
        Ok((items.into_iter().map(|i| i as usize).collect(), ratios))
    }

    /// Momentum update of the key side, then the step's positive keys enter their queues.
    pub fn after_step(&mut self, keys: StepKeys) -> Result<()> {
        momentum_update(&self.vs_k, &self.vs_q, self.config.encoder_momentum)?;
        for (queue, k) in self.queues.iter_mut().zip(&keys.keys) {
            queue.enqueue(k, &keys.era);
        }
        Ok(())
    }

    /// The query backbone's weights with torchvision names (`conv1.weight`, ...), for downstream evaluation.
    pub fn backbone_tensors(&self) -> Vec<(String, Tensor)> {
        let mut named: Vec<(String, Tensor)> = self
            .vs_q
            .variables()
            .into_iter()
            .filter_map(|(name, t)| {
                name.strip_prefix("backbone.")
                    .map(|n| (n.to_string(), t.detach().to_device(Device::Cpu)))
            })
            .collect();
        named.sort_by(|a, b| a.0.cmp(&b.0));
        named
    }
}

/// Keys to enqueue after a step: one `[n, d]` per queue, and the era of each row.
pub struct StepKeys {
    pub keys: Vec<Tensor>,
    pub era: Tensor,
}

#[cfg(test)]
mod tests {
    use super::Method;

    #[test]
    fn method_names_are_the_config_spelling() {
        for m in Method::ALL {
            assert_eq!(serde_json::to_string(&m).unwrap(), format!("\"{}\"", m.name()));
        }
    }
}
