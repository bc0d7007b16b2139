//! Contrastive losses as pure functions of tensors (solo-learn's habit): MoCo-v2's InfoNCE, SeCo's three-subspace
//! loss, TeCo and CACo (METHODS.md), GASSL's InfoNCE + geo-cluster cross-entropy. Embeddings are L2-normalised
//! by the caller; keys carry no gradient.

use tch::{Kind, Tensor};

/// Logit given to a masked column: CACo's -1e8, whose exp is exactly 0 in float32.
pub const MASKED_LOGIT: f64 = -1e8;

/// A block of negative keys `[m, d]`, optionally with a usability mask `[n, m]` (true = negative for that query).
pub struct Negatives<'a> {
    pub keys: &'a Tensor,
    pub mask: Option<Tensor>,
}

impl<'a> Negatives<'a> {
    pub fn all(keys: &'a Tensor) -> Self {
        Negatives { keys, mask: None }
    }
}

/// InfoNCE with several negative blocks: logits `[q·k+ | q·neg_1ᵀ | ...] / T`, cross-entropy with target 0 (mean).
/// q, k_pos: `[n, d]`.
pub fn contrastive(q: &Tensor, k_pos: &Tensor, negatives: &[Negatives], temperature: f64) -> Tensor {
    let mut columns = vec![(q * k_pos).sum_dim_intlist(1, true, Kind::Float) / temperature];
    for block in negatives {
        let mut logits = q.matmul(&block.keys.transpose(0, 1)) / temperature;
        if let Some(mask) = &block.mask {
            logits = logits.masked_fill(&mask.logical_not(), MASKED_LOGIT);
        }
        columns.push(logits);
    }
    let logits = Tensor::cat(&columns, 1);
    let targets = Tensor::zeros([q.size()[0]], (Kind::Int64, q.device()));
    logits.cross_entropy_for_logits(&targets)
}

/// MoCo-v2: q, k `[n, d]`, queue `[K, d]`.
pub fn info_nce(q: &Tensor, k: &Tensor, queue: &Tensor, temperature: f64) -> Tensor {
    contrastive(q, k, &[Negatives::all(queue)], temperature)
}

/// SeCo, one loss per subspace. `q[i]`: query in subspace i `[n, d]`; `keys[i][j]`: key view j (k0 = season+aug,
/// k1 = season, k2 = aug) embedded by head i `[n, d]`; `queues[i]`: `[K, d]`. Subspace i's positive is `keys[i][i]`;
/// its negatives are queue i and, for i > 0, the other key views of the whole batch in subspace i.
pub fn seco_loss(q: &[Tensor], keys: &[Vec<Tensor>], queues: &[Tensor], temperature: f64) -> Vec<Tensor> {
    (0..q.len())
        .map(|i| {
            let mut negatives = vec![Negatives::all(&queues[i])];
            if i > 0 {
                negatives.extend(
                    (0..keys[i].len())
                        .filter(|&j| j != i)
                        .map(|j| Negatives::all(&keys[i][j])),
                );
            }
            contrastive(&q[i], &keys[i][i], &negatives, temperature)
        })
        .collect()
}

/// CACo (and TeCo with `teco = true`), one loss per subspace. The batch is made of (older, recent) pairs, so the
/// long-term partner of row r is row r ^ 1. `era`: `[n]` i64 era of each query (0 older, 1 recent);
/// `queue_era[i]`: `[K]` i64 era tag of every slot of queue i; `changed`: `[n]` bool, the current change label of
/// each query's location. As SeCo, except that every negative (queue slots and batch keys) must come from the
/// query's own era, and the partner's key of the subspace is one more logit column, masked unless `changed`
/// (TeCo: never masked).
#[allow(clippy::too_many_arguments)]
pub fn caco_loss(
    q: &[Tensor],
    keys: &[Vec<Tensor>],
    queues: &[Tensor],
    queue_era: &[Tensor],
    era: &Tensor,
    changed: &Tensor,
    temperature: f64,
    teco: bool,
) -> Vec<Tensor> {
    let n = era.size()[0];
    let device = era.device();
    let partner = Tensor::arange(n, (Kind::Int64, device)).bitwise_xor(1);
    let same_era = |other: &Tensor| era.unsqueeze(1).eq_tensor(&other.unsqueeze(0));
    let partner_mask = if teco {
        Tensor::ones([n, 1], (Kind::Bool, device))
    } else {
        changed.unsqueeze(1)
    };
    (0..q.len())
        .map(|i| {
            let mut negatives = vec![Negatives {
                keys: &queues[i],
                mask: Some(same_era(&queue_era[i])),
            }];
            if i > 0 {
                for j in (0..keys[i].len()).filter(|&j| j != i) {
                    negatives.push(Negatives {
                        keys: &keys[i][j],
                        mask: Some(same_era(era)),
                    });
                }
            }
            let partner_keys = keys[i][i].index_select(0, &partner);
            let partner_logit = (&q[i] * &partner_keys).sum_dim_intlist(1, true, Kind::Float);
            // One more column holding the partner's key; the mask is applied through a [n, 1] block of its own.
            let block = PartnerBlock {
                logit: partner_logit,
                mask: partner_mask.shallow_clone(),
            };
            contrastive_with_partner(&q[i], &keys[i][i], &negatives, &block, temperature)
        })
        .collect()
}

struct PartnerBlock {
    /// q · k_partner, `[n, 1]` (before the temperature).
    logit: Tensor,
    /// `[n, 1]` true where the partner is a negative.
    mask: Tensor,
}

fn contrastive_with_partner(
    q: &Tensor,
    k_pos: &Tensor,
    negatives: &[Negatives],
    partner: &PartnerBlock,
    t: f64,
) -> Tensor {
    let mut columns = vec![(q * k_pos).sum_dim_intlist(1, true, Kind::Float) / t];
    for block in negatives {
        let mut logits = q.matmul(&block.keys.transpose(0, 1)) / t;
        if let Some(mask) = &block.mask {
            logits = logits.masked_fill(&mask.logical_not(), MASKED_LOGIT);
        }
        columns.push(logits);
    }
    columns.push((&partner.logit / t).masked_fill(&partner.mask.logical_not(), MASKED_LOGIT));
    let logits = Tensor::cat(&columns, 1);
    logits.cross_entropy_for_logits(&Tensor::zeros([q.size()[0]], (Kind::Int64, q.device())))
}

/// GASSL: InfoNCE with the temporal positive plus cross-entropy of the geo head's logits `[n, K]` against the
/// location clusters `[n]` (weights 1 and 1). Returns (InfoNCE, geo CE).
pub fn gassl_loss(
    q: &Tensor,
    k: &Tensor,
    queue: &Tensor,
    temperature: f64,
    geo_logits: &Tensor,
    clusters: &Tensor,
) -> (Tensor, Tensor) {
    (
        info_nce(q, k, queue, temperature),
        geo_logits.cross_entropy_for_logits(clusters),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    fn t(values: &[f32], rows: i64) -> Tensor {
        Tensor::from_slice(values).view([rows, -1])
    }

    fn close(a: &Tensor, b: f64) {
        let v = a.double_value(&[]);
        assert!((v - b).abs() < 1e-5, "{v} vs {b}");
    }

    // Expected values from PyTorch 2.11 (the lines below, run in .venv-bench):
    //   q = torch.tensor([[1., 0.], [0.6, 0.8]]); k = torch.tensor([[0.8, 0.6], [0., 1.]])
    //   queue = torch.tensor([[1., 0.], [0., 1.], [-1., 0.]])
    //   logits = torch.cat([(q * k).sum(1, keepdim=True), q @ queue.T], 1) / 0.5
    //   torch.nn.functional.cross_entropy(logits, torch.zeros(2, dtype=torch.long))  # 1.0028656721115112
    #[test]
    fn info_nce_matches_pytorch() {
        let q = t(&[1., 0., 0.6, 0.8], 2);
        let k = t(&[0.8, 0.6, 0., 1.], 2);
        let queue = t(&[1., 0., 0., 1., -1., 0.], 3);
        close(&info_nce(&q, &k, &queue, 0.5), 1.0028656721115112);
    }

    #[test]
    fn info_nce_is_ln_k_plus_1_when_every_logit_is_equal() {
        let q = Tensor::zeros([4, 8], (Kind::Float, Device::Cpu));
        let k = Tensor::randn([4, 8], (Kind::Float, Device::Cpu));
        let queue = Tensor::randn([99, 8], (Kind::Float, Device::Cpu));
        close(&info_nce(&q, &k, &queue, 0.07), (100f64).ln());
    }

    // SeCo by hand (PyTorch 2.11), n = 2, d = 2, K = 2, T = 1:
    //   import torch, torch.nn.functional as F
    //   q = [torch.tensor([[1., 0.], [0., 1.]]), torch.tensor([[0.6, 0.8], [0.8, 0.6]]), torch.tensor([[0., 1.], [1., 0.]])]
    //   keys = [[torch.tensor([[1., 0.], [0., 1.]]), torch.tensor([[0., 1.], [1., 0.]]), torch.tensor([[0.6, 0.8], [0.6, 0.8]])],
    //           [torch.tensor([[0.8, 0.6], [0., 1.]]), torch.tensor([[0.6, 0.8], [0.8, 0.6]]), torch.tensor([[1., 0.], [1., 0.]])],
    //           [torch.tensor([[0., 1.], [0.6, 0.8]]), torch.tensor([[1., 0.], [0., 1.]]), torch.tensor([[0., 1.], [1., 0.]])]]
    //   queues = [torch.tensor([[1., 0.], [-1., 0.]]), torch.tensor([[0., -1.], [0.6, 0.8]]), torch.tensor([[0.8, 0.6], [0., -1.]])]
    //   def sub(i):
    //       cols = [(q[i] * keys[i][i]).sum(1, keepdim=True), q[i] @ queues[i].T]
    //       if i > 0: cols += [q[i] @ keys[i][j].T for j in range(3) if j != i]
    //       return F.cross_entropy(torch.cat(cols, 1), torch.zeros(2, dtype=torch.long))
    //   [sub(i).item() for i in range(3)]  # [0.6550341844558716, 1.682161808013916, 1.5661778450012207]
    fn seco_fixture() -> (Vec<Tensor>, Vec<Vec<Tensor>>, Vec<Tensor>) {
        let q = vec![
            t(&[1., 0., 0., 1.], 2),
            t(&[0.6, 0.8, 0.8, 0.6], 2),
            t(&[0., 1., 1., 0.], 2),
        ];
        let keys = vec![
            vec![
                t(&[1., 0., 0., 1.], 2),
                t(&[0., 1., 1., 0.], 2),
                t(&[0.6, 0.8, 0.6, 0.8], 2),
            ],
            vec![
                t(&[0.8, 0.6, 0., 1.], 2),
                t(&[0.6, 0.8, 0.8, 0.6], 2),
                t(&[1., 0., 1., 0.], 2),
            ],
            vec![
                t(&[0., 1., 0.6, 0.8], 2),
                t(&[1., 0., 0., 1.], 2),
                t(&[0., 1., 1., 0.], 2),
            ],
        ];
        let queues = vec![
            t(&[1., 0., -1., 0.], 2),
            t(&[0., -1., 0.6, 0.8], 2),
            t(&[0.8, 0.6, 0., -1.], 2),
        ];
        (q, keys, queues)
    }

    #[test]
    fn seco_loss_matches_a_hand_computation_of_the_three_subspaces() {
        let (q, keys, queues) = seco_fixture();
        let losses = seco_loss(&q, &keys, &queues, 1.0);
        for (loss, want) in losses
            .iter()
            .zip([0.6550341844558716, 1.682161808013916, 1.5661778450012207])
        {
            close(loss, want);
        }
    }

    /// SeCo restricted to each query's own-era negatives, computed explicitly row by row.
    fn seco_restricted(
        q: &[Tensor],
        keys: &[Vec<Tensor>],
        queues: &[Tensor],
        queue_era: &[Tensor],
        era: &[i64],
        t: f64,
    ) -> Vec<f64> {
        (0..q.len())
            .map(|i| {
                let mut total = 0.0;
                for (r, &e) in era.iter().enumerate() {
                    let row = |x: &Tensor| x.get(r as i64).unsqueeze(0);
                    let pick = |x: &Tensor, tags: &[i64]| {
                        let idx: Vec<i64> = (0..tags.len() as i64).filter(|&s| tags[s as usize] == e).collect();
                        x.index_select(0, &Tensor::from_slice(&idx))
                    };
                    let q_tags: Vec<i64> = Vec::try_from(&queue_era[i]).unwrap();
                    let mut negs = vec![pick(&queues[i], &q_tags)];
                    if i > 0 {
                        negs.extend((0..3).filter(|&j| j != i).map(|j| pick(&keys[i][j], era)));
                    }
                    let blocks: Vec<Negatives> = negs.iter().map(Negatives::all).collect();
                    total += contrastive(&row(&q[i]), &row(&keys[i][i]), &blocks, t).double_value(&[]);
                }
                total / era.len() as f64
            })
            .collect()
    }

    #[test]
    fn caco_with_unchanged_partners_is_seco_on_own_era_negatives_and_with_changed_partners_is_teco() {
        tch::manual_seed(3);
        let (n, d, k) = (6, 5, 8);
        let norm = |x: Tensor| &x / x.norm_scalaropt_dim(2.0, [1], true);
        let randn = |rows: i64| norm(Tensor::randn([rows, d], (Kind::Float, Device::Cpu)));
        let q: Vec<Tensor> = (0..3).map(|_| randn(n)).collect();
        let keys: Vec<Vec<Tensor>> = (0..3).map(|_| (0..3).map(|_| randn(n)).collect()).collect();
        let queues: Vec<Tensor> = (0..3).map(|_| randn(k)).collect();
        let tags = [0i64, 1, 0, 1, 1, 0, 0, 1];
        let queue_era: Vec<Tensor> = (0..3).map(|_| Tensor::from_slice(&tags)).collect();
        let era_v = [0i64, 1, 0, 1, 0, 1];
        let era = Tensor::from_slice(&era_v);
        let none = Tensor::zeros([n], (Kind::Bool, Device::Cpu));
        let all = Tensor::ones([n], (Kind::Bool, Device::Cpu));

        let unchanged = caco_loss(&q, &keys, &queues, &queue_era, &era, &none, 0.2, false);
        let expected = seco_restricted(&q, &keys, &queues, &queue_era, &era_v, 0.2);
        for (a, b) in unchanged.iter().zip(&expected) {
            close(a, *b);
        }
        let changed = caco_loss(&q, &keys, &queues, &queue_era, &era, &all, 0.2, false);
        let teco = caco_loss(&q, &keys, &queues, &queue_era, &era, &none, 0.2, true);
        for ((c, t), u) in changed.iter().zip(&teco).zip(&unchanged) {
            close(c, t.double_value(&[]));
            // The partner as a negative can only raise the loss.
            assert!(c.double_value(&[]) > u.double_value(&[]));
        }
    }

    #[test]
    fn gassl_adds_the_geo_cross_entropy() {
        let (q, keys, queues) = seco_fixture();
        let geo = t(&[2., 0., 0., 0., 3., 0.], 2);
        let clusters = Tensor::from_slice(&[0i64, 1]);
        let (nce, ce) = gassl_loss(&q[0], &keys[0][0], &queues[0], 1.0, &geo, &clusters);
        close(&nce, 0.6550341844558716);
        // -(log softmax([2,0,0])[0] + log softmax([0,3,0])[1]) / 2
        let want = ((2f64.exp() + 2.0).ln() - 2.0 + (3f64.exp() + 2.0).ln() - 3.0) / 2.0;
        close(&ce, want);
    }
}
