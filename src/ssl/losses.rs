//! Contrastive losses as pure functions of tensors (solo-learn's habit): MoCo-v2's InfoNCE, SeCo's three-subspace
//! loss, TeCo and CACo (METHODS.md, the authors' negatives), GASSL's InfoNCE + geo-cluster cross-entropy.
//! Embeddings are L2-normalised by the caller; keys carry no gradient; logits and losses are float32.

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
/// Computed in float32 whatever the inputs' dtype (call it outside autocast: METHODS.md keeps logits and losses
/// in float32).
pub fn contrastive(q: &Tensor, k_pos: &Tensor, negatives: &[Negatives], temperature: f64) -> Tensor {
    let q = q.to_kind(Kind::Float);
    let mut columns = vec![(&q * k_pos.to_kind(Kind::Float)).sum_dim_intlist(1, true, Kind::Float) / temperature];
    for block in negatives {
        let mut logits = q.matmul(&block.keys.to_kind(Kind::Float).transpose(0, 1)) / temperature;
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
    seco_loss_rows(q, keys, queues, temperature, 0)
}

/// [`seco_loss`] of one rank's queries: `q[i]` `[n, d]` are rows `offset..offset + n` of the global batch whose
/// keys `keys[i][j]` `[N, d]` are given whole (data-parallel training; `offset` 0 and `n = N` in one process).
pub fn seco_loss_rows(
    q: &[Tensor],
    keys: &[Vec<Tensor>],
    queues: &[Tensor],
    temperature: f64,
    offset: i64,
) -> Vec<Tensor> {
    let n = q[0].size()[0];
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
            contrastive(&q[i], &keys[i][i].narrow(0, offset, n), &negatives, temperature)
        })
        .collect()
}

/// Which of CACo's two losses: TeCo (the long-term partner is always a negative) or CACo (only where the location
/// is labelled changed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LongTerm {
    /// TeCo: nothing masked.
    Teco,
    /// CACo: the partner's logit masked unless its change label is 1.
    Caco,
}

/// TeCo and CACo (METHODS.md "Negatives of a query of era e in subspace i"), one loss per subspace.
///
/// The batch is made of (older, recent) pairs: the long-term partner of row r is row r ^ 1 (n even).
/// - `q[i]`: queries embedded by head i `[n, d]`; `keys[i][j]`: key view j (k0, k1, k2) embedded by head i `[n, d]`.
/// - `queues[i]`: `[K, d]`; `queue_era[i]`: `[K]` i64 era tag of every slot.
/// - `era`: `[n]` i64 era of each row (0 older, 1 recent); `change_label`: `[n]` i64 label of each row's location
///   (1 changed, 0 unchanged, -1 never seen).
///
/// Negatives of a query of era e in subspace i: the slots of queue i tagged e; for i = 0 the opposite-era rows of
/// `keys[0][0]`; for i > 0 every row of `keys[i][j]` for both j != i plus the opposite-era rows of `keys[i][i]`. The
/// opposite-era block holds the query's own partner: CACo masks that one logit unless `change_label == 1`; TeCo
/// masks nothing. Excluded columns get [`MASKED_LOGIT`], whose softmax weight is exactly 0 in float32, so the loss
/// equals one computed over the kept columns only. Logits and losses are float32 whatever the inputs' dtype.
#[allow(clippy::too_many_arguments)]
pub fn caco_loss(
    q: &[Tensor],
    keys: &[Vec<Tensor>],
    queues: &[Tensor],
    queue_era: &[Tensor],
    era: &Tensor,
    change_label: &Tensor,
    temperature: f64,
    long_term: LongTerm,
) -> Vec<Tensor> {
    caco_loss_rows(q, keys, queues, queue_era, era, change_label, temperature, long_term, 0)
}

/// [`caco_loss`] of one rank's queries (data-parallel training): `q[i]` `[n, d]` and `change_label` `[n]` are rows
/// `offset..offset + n` of the global batch, whose keys `keys[i][j]` `[N, d]` and eras `era` `[N]` are given whole,
/// so the in-batch negatives are the whole batch's as in one process. `offset` is even (pairs are never split);
/// `offset` 0 and `n = N` in one process.
#[allow(clippy::too_many_arguments)]
pub fn caco_loss_rows(
    q: &[Tensor],
    keys: &[Vec<Tensor>],
    queues: &[Tensor],
    queue_era: &[Tensor],
    era: &Tensor,
    change_label: &Tensor,
    temperature: f64,
    long_term: LongTerm,
    offset: i64,
) -> Vec<Tensor> {
    let total = era.size()[0];
    let n = q[0].size()[0];
    assert!(
        total % 2 == 0 && n % 2 == 0 && offset % 2 == 0,
        "caco_loss: the batch must hold (older, recent) pairs, got rows {offset}..{} of {total}",
        offset + n
    );
    let device = era.device();
    let rows = Tensor::arange(n, (Kind::Int64, device)) + offset;
    let columns = Tensor::arange(total, (Kind::Int64, device));
    let q_era = era.narrow(0, offset, n);
    // is_partner[r, c] = (c == r ^ 1); other_era[r, c] = (era[c] != era[r]), r a global row index.
    let is_partner = rows.bitwise_xor(1).unsqueeze(1).eq_tensor(&columns.unsqueeze(0));
    let other_era = q_era.unsqueeze(1).ne_tensor(&era.unsqueeze(0));
    let opposite_block = match long_term {
        LongTerm::Teco => other_era,
        LongTerm::Caco => {
            let keep_partner = change_label.eq(1).unsqueeze(1);
            other_era.logical_and(&is_partner.logical_not().logical_or(&keep_partner))
        }
    };
    (0..q.len())
        .map(|i| {
            // `contrastive` casts every block to float32.
            let mut blocks = vec![Negatives {
                keys: &queues[i],
                mask: Some(q_era.unsqueeze(1).eq_tensor(&queue_era[i].unsqueeze(0))),
            }];
            if i > 0 {
                blocks.extend((0..keys[i].len()).filter(|&j| j != i).map(|j| Negatives::all(&keys[i][j])));
            }
            blocks.push(Negatives {
                keys: &keys[i][i],
                mask: Some(opposite_block.shallow_clone()),
            });
            contrastive(&q[i], &keys[i][i].narrow(0, offset, n), &blocks, temperature)
        })
        .collect()
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

    /// TeCo/CACo computed row by row from METHODS.md's list of negatives, with the excluded columns removed
    /// (not masked): `label[r]` is row r's change label, `teco` keeps every partner.
    #[allow(clippy::too_many_arguments)]
    fn caco_by_rows(
        q: &[Tensor],
        keys: &[Vec<Tensor>],
        queues: &[Tensor],
        queue_tags: &[i64],
        era: &[i64],
        label: &[i64],
        t: f64,
        teco: bool,
    ) -> Vec<f64> {
        let pick = |x: &Tensor, keep: &dyn Fn(usize) -> bool| {
            let idx: Vec<i64> = (0..x.size()[0] as usize)
                .filter(|&c| keep(c))
                .map(|c| c as i64)
                .collect();
            x.index_select(0, &Tensor::from_slice(&idx))
        };
        (0..q.len())
            .map(|i| {
                let mut total = 0.0;
                for (r, &e) in era.iter().enumerate() {
                    let row = |x: &Tensor| x.get(r as i64).unsqueeze(0);
                    let mut negs = vec![pick(&queues[i], &|c| queue_tags[c] == e)];
                    if i > 0 {
                        negs.extend((0..3).filter(|&j| j != i).map(|j| keys[i][j].shallow_clone()));
                    }
                    let keep_partner = teco || label[r] == 1;
                    negs.push(pick(&keys[i][i], &|c| era[c] != e && (c != (r ^ 1) || keep_partner)));
                    let blocks: Vec<Negatives> = negs.iter().map(Negatives::all).collect();
                    total += contrastive(&row(&q[i]), &row(&keys[i][i]), &blocks, t).double_value(&[]);
                }
                total / era.len() as f64
            })
            .collect()
    }

    #[test]
    fn caco_and_teco_use_the_authors_negatives_and_mask_only_unchanged_partners() {
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
        // Mixed labels: pair 0 changed, pair 1 unchanged, pair 2 never seen.
        let label_v = [1i64, 1, 0, 0, -1, -1];
        let label = Tensor::from_slice(&label_v);

        let caco = caco_loss(&q, &keys, &queues, &queue_era, &era, &label, 0.2, LongTerm::Caco);
        let want = caco_by_rows(&q, &keys, &queues, &tags, &era_v, &label_v, 0.2, false);
        for (a, b) in caco.iter().zip(&want) {
            close(a, *b);
        }
        let teco = caco_loss(&q, &keys, &queues, &queue_era, &era, &label, 0.2, LongTerm::Teco);
        let want = caco_by_rows(&q, &keys, &queues, &tags, &era_v, &label_v, 0.2, true);
        for (a, b) in teco.iter().zip(&want) {
            close(a, *b);
        }
        // Every location changed: CACo is TeCo. None changed: the partner is gone, which can only lower the loss.
        let all = Tensor::ones([n], (Kind::Int64, Device::Cpu));
        let none = Tensor::zeros([n], (Kind::Int64, Device::Cpu));
        let changed = caco_loss(&q, &keys, &queues, &queue_era, &era, &all, 0.2, LongTerm::Caco);
        let unchanged = caco_loss(&q, &keys, &queues, &queue_era, &era, &none, 0.2, LongTerm::Caco);
        for ((c, t), u) in changed.iter().zip(&teco).zip(&unchanged) {
            close(c, t.double_value(&[]));
            assert!(c.double_value(&[]) > u.double_value(&[]));
        }
    }

    /// Data-parallel: 3 ranks of 2 rows each, with the whole batch's keys and eras, average to the one-process loss.
    #[test]
    fn rank_slices_with_the_global_keys_average_to_the_whole_batch_loss() {
        tch::manual_seed(4);
        let (n, d, k) = (6, 5, 8);
        let norm = |x: Tensor| &x / x.norm_scalaropt_dim(2.0, [1], true);
        let randn = |rows: i64| norm(Tensor::randn([rows, d], (Kind::Float, Device::Cpu)));
        let q: Vec<Tensor> = (0..3).map(|_| randn(n)).collect();
        let keys: Vec<Vec<Tensor>> = (0..3).map(|_| (0..3).map(|_| randn(n)).collect()).collect();
        let queues: Vec<Tensor> = (0..3).map(|_| randn(k)).collect();
        let queue_era: Vec<Tensor> = (0..3).map(|_| Tensor::arange(k, (Kind::Int64, Device::Cpu)).remainder(2)).collect();
        let era = Tensor::from_slice(&[0i64, 1, 0, 1, 0, 1]);
        let label = Tensor::from_slice(&[1i64, 1, 0, 0, -1, -1]);
        let rows = |x: &Tensor, r: i64| x.narrow(0, 2 * r, 2);
        for long_term in [LongTerm::Caco, LongTerm::Teco] {
            let whole = caco_loss(&q, &keys, &queues, &queue_era, &era, &label, 0.2, long_term);
            let mut mean = vec![0.0; 3];
            for r in 0..3 {
                let q_r: Vec<Tensor> = q.iter().map(|x| rows(x, r)).collect();
                let parts = caco_loss_rows(&q_r, &keys, &queues, &queue_era, &era, &rows(&label, r), 0.2, long_term, 2 * r);
                for (m, p) in mean.iter_mut().zip(parts) {
                    *m += p.double_value(&[]) / 3.0;
                }
            }
            for (w, m) in whole.iter().zip(mean) {
                close(w, m);
            }
        }
        let whole = seco_loss(&q, &keys, &queues, 0.2);
        let mut mean = vec![0.0; 3];
        for r in 0..3 {
            let q_r: Vec<Tensor> = q.iter().map(|x| rows(x, r)).collect();
            for (m, p) in mean.iter_mut().zip(seco_loss_rows(&q_r, &keys, &queues, 0.2, 2 * r)) {
                *m += p.double_value(&[]) / 3.0;
            }
        }
        for (w, m) in whole.iter().zip(mean) {
            close(w, m);
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
