//! kNN retrieval on frozen features (CACo's EuroSAT notebook, METHODS.md "EuroSAT kNN"): eval-mode features of the
//! val set cut to whole batches of the notebook's DataLoader (`drop_last`, batch 64: 5,400 -> 5,376 images), cosine
//! similarity against every other image of that set, 50 queries drawn WITH replacement (uniform integers in
//! `[0, n)`, as `np.random.randint`), precision at k averaged over the queries and MICRO recall at k (hits summed
//! over the queries / relevant images summed over the queries). Beside it, every image as a query
//! ([`retrieval_all`]): the same metric without the sampling noise of 50 queries.

use rand::seq::index::sample;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

use super::features::Protocol;
use crate::results::metrics::AtK;
use crate::{Error, Result};

/// Retrieval settings; [`Default`] is the CACo notebook's: 50 queries with replacement, k = 20 and 100, the val set
/// cut to whole batches of 64, x/255 input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KnnConfig {
    /// Queries drawn with replacement from the (cut) val set.
    pub n_queries: usize,
    pub ks: Vec<usize>,
    pub seed: u64,
    /// Batch size of the notebook's val DataLoader with `drop_last = True`: the first
    /// `floor(n / drop_last_batch) * drop_last_batch` val images (list order) are the gallery; 1 keeps them all.
    pub drop_last_batch: usize,
    /// Input of the backbone: `authors` (x/255, the notebook's ToTensor) or `imagenet-eval` (the dataset config's
    /// normalisation). Both use eval mode with the backbone's stored BatchNorm statistics.
    pub protocol: Protocol,
}

impl Default for KnnConfig {
    fn default() -> Self {
        KnnConfig {
            n_queries: 50,
            ks: vec![20, 100],
            seed: 42,
            drop_last_batch: 64,
            protocol: Protocol::Authors,
        }
    }
}

impl KnnConfig {
    pub fn validate(&self) -> Result<()> {
        if self.n_queries == 0 || self.drop_last_batch == 0 || self.ks.is_empty() || self.ks.contains(&0) {
            return Err(Error::Config(format!(
                "knn: need n_queries > 0, drop_last_batch > 0 and ks > 0; got n_queries {}, drop_last_batch {}, ks {:?}",
                self.n_queries, self.drop_last_batch, self.ks
            )));
        }
        Ok(())
    }

    /// How many of `n` val images the notebook's `drop_last` loader keeps: `floor(n / drop_last_batch) *
    /// drop_last_batch` (5,400 -> 5,376 with batch 64).
    pub fn gallery_size(&self, n: usize) -> usize {
        let b = self.drop_last_batch.max(1);
        n / b * b
    }
}

/// Rows of the similarity matrix computed at once by [`nearest`] (bounds memory to `QUERY_CHUNK x n` floats).
const QUERY_CHUNK: usize = 512;

/// The `k` nearest rows of `features` `[n, d]` (cosine similarity) to each of the `queries` rows, nearest first, the
/// query itself excluded.
pub fn nearest(features: &Tensor, queries: &[i64], k: usize) -> Vec<Vec<i64>> {
    let normed = features.to_kind(Kind::Float);
    let normed = &normed / normed.norm_scalaropt_dim(2.0, [1], true).clamp_min(1e-12);
    let gallery_t = normed.transpose(0, 1);
    let mut out = Vec::with_capacity(queries.len());
    for chunk in queries.chunks(QUERY_CHUNK) {
        let q_idx = Tensor::from_slice(chunk).to_device(features.device());
        let mut sims = normed.index_select(0, &q_idx).matmul(&gallery_t);
        // A query never retrieves itself.
        let rows = Tensor::arange(chunk.len() as i64, (Kind::Int64, features.device()));
        let _ = sims.index_put_(&[Some(rows), Some(q_idx)], &Tensor::from(f32::NEG_INFINITY), false);
        let (_, nearest) = sims.topk(k as i64, 1, true, true);
        out.extend(Vec::<Vec<i64>>::try_from(&nearest.to_device(tch::Device::Cpu)).expect("i64 indices"));
    }
    out
}

/// `n_queries` query positions drawn uniformly WITH replacement from `[0, n)` (the notebook's
/// `np.random.randint(0, n, n_queries)`; the stream is rand's, so the draws are not numpy's).
pub fn sample_queries(n: usize, n_queries: usize, seed: u64) -> Vec<usize> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    (0..n_queries).map(|_| rng.random_range(0..n)).collect()
}

/// Precision and recall at each of `ks` from retrieval results; a pure function of its inputs.
///
/// - `neighbours[i]`: gallery positions retrieved for query `queries[i]`, nearest first, the query excluded, at
///   least `max(ks)` of them;
/// - `labels`: the class of every gallery position (the gallery is every position of `labels`);
/// - `queries`: gallery positions of the queries; repeats allowed (queries drawn with replacement count each time).
///
/// P@k is the share of the k nearest with the query's class, averaged over the queries. R@k is MICRO: the hits
/// summed over the queries divided by the relevant images summed over the queries, where a query's relevant images
/// are its class-mates in the gallery other than itself (NaN when no query has any).
pub fn precision_recall_at_k(
    neighbours: &[Vec<i64>],
    labels: &[usize],
    queries: &[usize],
    ks: &[usize],
) -> Result<Vec<AtK>> {
    let bad = |m: String| Err(Error::Config(format!("knn metrics: {m}")));
    if queries.is_empty() || neighbours.len() != queries.len() {
        return bad(format!(
            "need one neighbour list per query and at least one query; got {} lists for {} queries",
            neighbours.len(),
            queries.len()
        ));
    }
    let n = labels.len();
    if let Some(q) = queries.iter().find(|&&q| q >= n) {
        return bad(format!("query position {q} outside the gallery of {n}"));
    }
    if let Some(j) = neighbours.iter().flatten().find(|&&j| j < 0 || j as usize >= n) {
        return bad(format!("neighbour position {j} outside the gallery of {n}"));
    }
    let k_max = ks.iter().copied().max().unwrap_or(0);
    if let Some(short) = neighbours.iter().find(|near| near.len() < k_max) {
        return bad(format!(
            "k = {k_max} needs {k_max} neighbours per query, a list has {}",
            short.len()
        ));
    }
    let mut class_count = std::collections::HashMap::new();
    labels
        .iter()
        .for_each(|&l| *class_count.entry(l).or_insert(0usize) += 1);
    Ok(ks
        .iter()
        .map(|&k| {
            let (mut hits_sum, mut relevant_sum, mut precision_sum) = (0usize, 0usize, 0.0);
            let mut per_query = Vec::with_capacity(queries.len());
            for (near, &q) in neighbours.iter().zip(queries) {
                let class = labels[q];
                let hits = near[..k].iter().filter(|&&j| labels[j as usize] == class).count();
                hits_sum += hits;
                relevant_sum += class_count[&class] - 1;
                precision_sum += hits as f64 / k as f64;
                per_query.push(hits as f64 / k as f64);
            }
            AtK {
                k,
                precision: precision_sum / queries.len() as f64,
                precision_ci: crate::results::bootstrap::mean_ci(&per_query, k as u64),
                recall: if relevant_sum == 0 {
                    f64::NAN
                } else {
                    hits_sum as f64 / relevant_sum as f64
                },
            }
        })
        .collect())
}

fn check_ks(ks: &[usize], n: usize) -> Result<usize> {
    let k_max = ks.iter().copied().max().unwrap_or(0);
    if k_max == 0 || ks.contains(&0) || k_max >= n {
        return Err(Error::Config(format!(
            "knn: need 0 < k < n (the query is not its own neighbour); got ks {ks:?}, n {n}"
        )));
    }
    Ok(k_max)
}

/// The notebook's protocol on a gallery `features` `[n, d]` with `labels`: `config.n_queries` queries drawn with
/// replacement (seed `config.seed`), P@k and micro R@k at `config.ks`. The caller cuts the gallery
/// ([`KnnConfig::gallery_size`]).
pub fn retrieval(features: &Tensor, labels: &[usize], config: &KnnConfig) -> Result<Vec<AtK>> {
    let n = labels.len();
    let k_max = check_ks(&config.ks, n)?;
    if config.n_queries == 0 {
        return Err(Error::Config("knn: n_queries must be > 0".into()));
    }
    let queries = sample_queries(n, config.n_queries, config.seed);
    let as_i64: Vec<i64> = queries.iter().map(|&q| q as i64).collect();
    precision_recall_at_k(&nearest(features, &as_i64, k_max), labels, &queries, &config.ks)
}

/// Every image of the gallery as a query once: P@k and micro R@k at `ks`, without the noise of sampled queries.
pub fn retrieval_all(features: &Tensor, labels: &[usize], ks: &[usize]) -> Result<Vec<AtK>> {
    let n = labels.len();
    let k_max = check_ks(ks, n)?;
    let queries: Vec<usize> = (0..n).collect();
    let as_i64: Vec<i64> = (0..n as i64).collect();
    precision_recall_at_k(&nearest(features, &as_i64, k_max), labels, &queries, ks)
}

/// Retrieval examples for figures: `n_queries` distinct seeded queries (positions in `features`) with their `k`
/// nearest.
pub fn examples(features: &Tensor, n_queries: usize, k: usize, seed: u64) -> Vec<(usize, Vec<usize>)> {
    let n = features.size()[0] as usize;
    if n < 2 || n_queries == 0 {
        return Vec::new();
    }
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let queries: Vec<i64> = sample(&mut rng, n, n_queries.min(n))
        .into_iter()
        .map(|i| i as i64)
        .collect();
    nearest(features, &queries, k.min(n - 1))
        .into_iter()
        .zip(&queries)
        .map(|(near, &q)| (q as usize, near.into_iter().map(|j| j as usize).collect()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Class 0 points along +x, class 1 along +y, one class-1 point (index 5) sits near +x.
    fn hand_made() -> (Tensor, [usize; 6]) {
        let f = Tensor::from_slice(&[
            1.0f32, 0.0, /**/ 0.9, 0.1, /**/ 0.8, 0.2, // class 0: 0,1,2
            0.0, 1.0, /**/ 0.1, 0.9, /**/ 0.95, 0.05, // class 1: 3,4,5
        ])
        .view([6, 2]);
        (f, [0, 0, 0, 1, 1, 1])
    }

    #[test]
    fn hand_made_case_with_every_image_as_a_query() {
        let (f, labels) = hand_made();
        let r = retrieval_all(&f, &labels, &[2]).unwrap();
        // Nearest two of each query, by cosine:
        // q0 -> 5, 1 (1 hit); q1 -> 5, 0 (cos(1,5)=0.9985, cos(1,0)=0.9939, cos(1,2)=0.9915: 1 hit)
        // q2 -> 1, 5 (1 hit); q3 -> 4, 2 (1 hit); q4 -> 3, 2 (1 hit); q5 -> 0, 1 (0 hits)
        // precision@2 = (5 * 1/2 + 0) / 6; micro recall@2 = 5 hits / (6 queries x 2 relevant).
        assert_eq!(r.len(), 1);
        assert!((r[0].precision - 2.5 / 6.0).abs() < 1e-9, "{r:?}");
        assert!((r[0].recall - 5.0 / 12.0).abs() < 1e-9, "{r:?}");
    }

    #[test]
    fn recall_is_micro_not_a_mean_of_per_query_recalls() {
        // Gallery: class 0 has 2 images (0, 1), class 1 has 4 (2..6). Query 0 finds its one class-mate (per-query
        // recall 1), query 2 finds one of its three (1/3). Macro mean: 2/3; micro: (1 + 1) / (1 + 3) = 1/2.
        let labels = [0, 0, 1, 1, 1, 1];
        let neighbours = vec![vec![1, 2], vec![3, 0]];
        let r = precision_recall_at_k(&neighbours, &labels, &[0, 2], &[1, 2]).unwrap();
        assert_eq!(r[0].k, 1);
        assert_eq!(r[0].precision, 1.0);
        assert_eq!(r[0].recall, 0.5);
        // k = 2: hits 1 and 1, P = (1/2 + 1/2) / 2; R = 2 / 4.
        assert_eq!((r[1].precision, r[1].recall), (0.5, 0.5));
        // A query drawn twice counts twice (queries come WITH replacement): 3 hits / (1 + 1 + 3) relevant.
        let twice = precision_recall_at_k(&[vec![1], vec![1], vec![3]], &labels, &[0, 0, 2], &[1]).unwrap();
        assert_eq!(twice[0].recall, 3.0 / 5.0);
        // Malformed input is an error naming the problem.
        let short = precision_recall_at_k(&[vec![1]], &labels, &[0], &[2])
            .unwrap_err()
            .to_string();
        assert!(short.contains("k = 2"), "{short}");
        assert!(precision_recall_at_k(&[vec![9]], &labels, &[0], &[1]).is_err());
        assert!(precision_recall_at_k(&[vec![1]], &labels, &[0, 1], &[1]).is_err());
    }

    #[test]
    fn queries_are_drawn_with_replacement_and_may_outnumber_the_gallery() {
        let q = sample_queries(10, 50, 42);
        assert_eq!(q.len(), 50);
        assert!(q.iter().all(|&i| i < 10));
        let mut distinct = q.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert!(distinct.len() < q.len(), "50 draws from 10 must repeat");
        assert_eq!(q, sample_queries(10, 50, 42));
        assert_ne!(q, sample_queries(10, 50, 43));
        // More queries than images is fine with replacement (the old sampler refused n_queries > n).
        let (f, labels) = hand_made();
        let config = KnnConfig {
            n_queries: 20,
            ks: vec![2],
            ..Default::default()
        };
        let r = retrieval(&f, &labels, &config).unwrap();
        assert!((0.0..=1.0).contains(&r[0].precision) && (0.0..=1.0).contains(&r[0].recall));
    }

    #[test]
    fn drop_last_gallery_keeps_whole_batches() {
        let c = KnnConfig::default();
        assert_eq!(c.drop_last_batch, 64);
        assert_eq!(c.gallery_size(5400), 5376);
        assert_eq!(c.gallery_size(63), 0);
        let all = KnnConfig {
            drop_last_batch: 1,
            ..Default::default()
        };
        assert_eq!(all.gallery_size(5400), 5400);
        assert!(KnnConfig {
            drop_last_batch: 0,
            ..Default::default()
        }
        .validate()
        .is_err());
    }

    #[test]
    fn perfect_clusters_give_precision_one_and_full_recall_at_class_size() {
        let f = Tensor::from_slice(&[1.0f32, 0.0, 2.0, 0.0, 3.0, 0.1, 0.0, 1.0, 0.1, 2.0, 0.0, 3.0]).view([6, 2]);
        let r = retrieval(
            &f,
            &[0, 0, 0, 1, 1, 1],
            &KnnConfig {
                n_queries: 4,
                ks: vec![2, 5],
                seed: 3,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(r[0].precision, 1.0);
        assert_eq!(r[0].recall, 1.0);
        assert!((r[1].precision - 2.0 / 5.0).abs() < 1e-12);
        assert_eq!(r[1].recall, 1.0);
    }

    #[test]
    fn nearest_is_the_same_across_query_chunks() {
        tch::manual_seed(0);
        let f = Tensor::randn([QUERY_CHUNK as i64 + 37, 8], (Kind::Float, tch::Device::Cpu));
        let all: Vec<i64> = (0..QUERY_CHUNK as i64 + 37).collect();
        let together = nearest(&f, &all, 3);
        let last = nearest(&f, &all[QUERY_CHUNK + 1..QUERY_CHUNK + 2], 3);
        assert_eq!(together[QUERY_CHUNK + 1], last[0]);
        assert!(together.iter().enumerate().all(|(q, near)| !near.contains(&(q as i64))));
    }

    #[test]
    fn examples_list_nearest_first_without_the_query() {
        // Points on a line: the nearest (cosine) of direction (1, 0.1) is (1, 0.2), then (1, 0.4).
        let f = Tensor::from_slice(&[1.0f32, 0.1, 1.0, 0.2, 1.0, 0.4, 1.0, 3.0]).view([4, 2]);
        let ex = examples(&f, 4, 2, 0);
        assert_eq!(ex.len(), 4);
        let of0 = ex.iter().find(|(q, _)| *q == 0).unwrap();
        assert_eq!(of0.1, vec![1, 2]);
        assert!(ex.iter().all(|(q, near)| !near.contains(q) && near.len() == 2));
        assert!(examples(&f, 0, 2, 0).is_empty());
    }

    #[test]
    fn invalid_settings_are_errors() {
        let f = Tensor::zeros([4, 2], (Kind::Float, tch::Device::Cpu));
        // k must leave the query out: k < n.
        assert!(retrieval(
            &f,
            &[0, 0, 1, 1],
            &KnnConfig {
                n_queries: 2,
                ks: vec![4],
                ..Default::default()
            }
        )
        .is_err());
        assert!(retrieval(
            &f,
            &[0, 0, 1, 1],
            &KnnConfig {
                n_queries: 0,
                ks: vec![2],
                ..Default::default()
            }
        )
        .is_err());
        assert!(retrieval_all(&f, &[0, 0, 1, 1], &[0]).is_err());
    }
}
