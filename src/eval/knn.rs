//! kNN retrieval on frozen features (CACo's EuroSAT protocol): seeded random queries, cosine similarity against
//! every other image of the split, precision and recall at k.

use rand::seq::index::sample;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

use super::metrics::AtK;
use crate::{Error, Result};

/// Retrieval settings; [`Default`] is CACo's: 50 queries, k = 20 and 100.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KnnConfig {
    pub n_queries: usize,
    pub ks: Vec<usize>,
    pub seed: u64,
}

impl Default for KnnConfig {
    fn default() -> Self {
        KnnConfig {
            n_queries: 50,
            ks: vec![20, 100],
            seed: 42,
        }
    }
}

/// The `k` nearest rows of `features` (cosine similarity) to each of the `queries` rows, nearest first, the query
/// itself excluded.
pub fn nearest(features: &Tensor, queries: &[i64], k: usize) -> Vec<Vec<i64>> {
    let normed = features.to_kind(Kind::Float);
    let normed = &normed / normed.norm_scalaropt_dim(2.0, [1], true).clamp_min(1e-12);
    let q_idx = Tensor::from_slice(queries);
    let mut sims = normed.index_select(0, &q_idx).matmul(&normed.transpose(0, 1));
    // A query never retrieves itself.
    let rows = Tensor::arange(queries.len() as i64, (Kind::Int64, features.device()));
    let _ = sims.index_put_(&[Some(rows), Some(q_idx)], &Tensor::from(f32::NEG_INFINITY), false);
    let (_, nearest) = sims.topk(k as i64, 1, true, true);
    Vec::<Vec<i64>>::try_from(&nearest).expect("i64 indices")
}

/// Retrieval examples for figures: `n_queries` seeded queries (positions in `features`) with their `k` nearest.
pub fn examples(features: &Tensor, n_queries: usize, k: usize, seed: u64) -> Vec<(usize, Vec<usize>)> {
    let n = features.size()[0] as usize;
    if n < 2 || n_queries == 0 {
        return Vec::new();
    }
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let queries: Vec<i64> = sample(&mut rng, n, n_queries.min(n)).into_iter().map(|i| i as i64).collect();
    nearest(features, &queries, k.min(n - 1))
        .into_iter()
        .zip(&queries)
        .map(|(near, &q)| (q as usize, near.into_iter().map(|j| j as usize).collect()))
        .collect()
}

/// For each query (an image of the split), the gallery is every other image of the split. Precision@k is the share
/// of the k nearest with the query's class; recall@k the share of the query's class-mates found among them.
pub fn retrieval(features: &Tensor, labels: &[usize], config: &KnnConfig) -> Result<Vec<AtK>> {
    let n = labels.len();
    let k_max = config.ks.iter().copied().max().unwrap_or(0);
    if config.n_queries == 0 || config.n_queries > n || k_max == 0 || k_max >= n {
        return Err(Error::Config(format!(
            "knn: need 0 < n_queries <= n and 0 < k < n; got n_queries {}, ks {:?}, n {n}",
            config.n_queries, config.ks
        )));
    }
    let mut rng = rand::rngs::StdRng::seed_from_u64(config.seed);
    let queries: Vec<i64> = sample(&mut rng, n, config.n_queries)
        .into_iter()
        .map(|i| i as i64)
        .collect();
    let nearest = nearest(features, &queries, k_max);

    let mut class_count = std::collections::HashMap::new();
    labels
        .iter()
        .for_each(|&l| *class_count.entry(l).or_insert(0usize) += 1);
    Ok(config
        .ks
        .iter()
        .map(|&k| {
            let (mut p_sum, mut r_sum) = (0.0, 0.0);
            for (qi, &q) in queries.iter().enumerate() {
                let class = labels[q as usize];
                let hits = nearest[qi][..k]
                    .iter()
                    .filter(|&&j| labels[j as usize] == class)
                    .count() as f64;
                let relevant = (class_count[&class] - 1) as f64;
                p_sum += hits / k as f64;
                r_sum += if relevant > 0.0 { hits / relevant } else { 0.0 };
            }
            let nq = queries.len() as f64;
            AtK {
                k,
                precision: p_sum / nq,
                recall: r_sum / nq,
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_made_case() {
        // Class 0 points along +x, class 1 along +y, one class-1 point (index 5) sits near +x.
        let f = Tensor::from_slice(&[
            1.0f32, 0.0, /**/ 0.9, 0.1, /**/ 0.8, 0.2, // class 0: 0,1,2
            0.0, 1.0, /**/ 0.1, 0.9, /**/ 0.95, 0.05, // class 1: 3,4,5
        ])
        .view([6, 2]);
        let labels = [0, 0, 0, 1, 1, 1];
        // All 6 images as queries (n_queries = n), k = 2.
        let r = retrieval(
            &f,
            &labels,
            &KnnConfig {
                n_queries: 6,
                ks: vec![2],
                seed: 0,
            },
        )
        .unwrap();
        // Nearest two of each query, by cosine:
        // q0 -> 5, 1 (1 hit); q1 -> 2, 0? cos(1,5)=0.9985.., cos(1,0)=0.9939, cos(1,2)=0.9915 -> 5, 0 (1 hit)
        // q2 -> 1, 5 (1 hit); q3 -> 4, 2 (1 hit); q4 -> 3, 2 (1 hit); q5 -> 0, 1 (0 hits)
        // precision@2 = (5 * 1/2 + 0) / 6; recall@2 = (5 * 1/2 + 0) / 6 (two relevant per query).
        assert_eq!(r.len(), 1);
        assert!((r[0].precision - 2.5 / 6.0).abs() < 1e-9, "{r:?}");
        assert!((r[0].recall - 2.5 / 6.0).abs() < 1e-9, "{r:?}");
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
            },
        )
        .unwrap();
        assert_eq!(r[0].precision, 1.0);
        assert_eq!(r[0].recall, 1.0);
        assert!((r[1].precision - 2.0 / 5.0).abs() < 1e-12);
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
        assert!(retrieval(
            &f,
            &[0, 0, 1, 1],
            &KnnConfig {
                n_queries: 5,
                ks: vec![2],
                seed: 0
            }
        )
        .is_err());
        assert!(retrieval(
            &f,
            &[0, 0, 1, 1],
            &KnnConfig {
                n_queries: 2,
                ks: vec![4],
                seed: 0
            }
        )
        .is_err());
    }
}
