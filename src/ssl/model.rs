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
}

/// What a step needs besides the views: item indices, and GASSL's cluster of each item.
pub struct StepInput<'a> {
    /// Views on the model's device, each `[n, c, h, w]`.
    pub views: &'a [Tensor],
    pub items: &'a [usize],
    /// GASSL: cluster id of every dataset item.
    pub clusters: Option<&'a [i64]>,
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
            nn::linear(
                vs_q.root() / "geo_head" / 1,
                config.embedding_dim,
                config.geo_clusters,
                Default::default(),
            )
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
        })
    }

    pub fn device(&self) -> Device {
        self.vs_q.device()
    }

    /// Key-side embeddings (normalised) of `xs` by every head: `[head][n, d]`. No gradient; train-mode BatchNorm as
    /// in MoCo.
    fn keys(&self, xs: &Tensor) -> Vec<Tensor> {
        tch::no_grad(|| {
            let feats = self.backbone_k.forward_t(xs, true);
            self.heads_k.iter().map(|h| l2_normalize(&h.forward(&feats))).collect()
        })
    }

    /// The loss of one step, its parts (detached, for logging) and the keys to enqueue once the optimiser has
    /// stepped ([`Self::after_step`]). CACo's change state is updated here, with the key encoder, under no_grad.
    pub fn loss(&mut self, input: &StepInput) -> Result<(Tensor, Vec<f64>, StepKeys)> {
        let t = self.config.temperature;
        let method = self.config.method;
        let device = self.device();
        let n = input.items.len() as i64;
        let q_feats = self.backbone_q.forward_t(&input.views[0], true);
        let q_proj: Vec<Tensor> = self.heads_q.iter().map(|h| h.forward(&q_feats)).collect();
        let q: Vec<Tensor> = q_proj.iter().map(l2_normalize).collect();
        let (parts, step_keys) = match method {
            Method::Moco | Method::Gassl => {
                let k = self.keys(&input.views[1]).remove(0);
                let mut parts = vec![losses::info_nce(&q[0], &k, &self.queues[0].keys, t)];
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
                        keys: vec![k],
                        era: Tensor::zeros([n], (Kind::Int64, device)),
                    },
                )
            }
            Method::Seco | Method::Teco | Method::Caco => {
                // keys[i][j]: key view j (k0, k1, k2) embedded by head i.
                let views = Tensor::cat(&input.views[1..4], 0);
                let keys: Vec<Vec<Tensor>> = self.keys(&views).iter().map(|k| k.chunk(3, 0)).collect();
                let era: Vec<i64> = input.items.iter().map(|&i| (i % 2) as i64).collect();
                let era = Tensor::from_slice(&era).to_device(device);
                let queue_keys: Vec<Tensor> = self.queues.iter().map(|q| q.keys.shallow_clone()).collect();
                let parts = if method == Method::Seco {
                    losses::seco_loss(&q, &keys, &queue_keys, t)
                } else {
                    let changed: Vec<i64> = match &self.change {
                        Some(state) => state.changed(input.items).into_iter().map(i64::from).collect(),
                        None => vec![0; input.items.len()],
                    };
                    let changed = Tensor::from_slice(&changed).to_kind(Kind::Bool).to_device(device);
                    let queue_era: Vec<Tensor> = self.queues.iter().map(|q| q.era.shallow_clone()).collect();
                    losses::caco_loss(
                        &q,
                        &keys,
                        &queue_keys,
                        &queue_era,
                        &era,
                        &changed,
                        t,
                        method == Method::Teco,
                    )
                };
                if self.change.is_some() {
                    // The query image by the key encoder and head 1, against its short-term key (k1) and its
                    // long-term partner's query image.
                    let l_q = tch::no_grad(|| {
                        l2_normalize(&self.heads_k[1].forward(&self.backbone_k.forward_t(&input.views[0], true)))
                    });
                    let ratios = batch_ratios(&l_q, &keys[1][1]);
                    if let Some(state) = self.change.as_mut() {
                        state.update(input.items, &ratios);
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
