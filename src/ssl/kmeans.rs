//! k-means on (lat, lon) for GASSL's geo pretext task: k-means++ initialisation, then Lloyd iterations, seeded.

use rand::{Rng, SeedableRng};

/// Cluster centres and the cluster of each point.
#[derive(Debug, Clone, PartialEq)]
pub struct KMeans {
    pub centres: Vec<[f64; 2]>,
    pub assignment: Vec<usize>,
}

fn dist2(a: [f64; 2], b: [f64; 2]) -> f64 {
    (a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)
}

/// Clusters `points` into `min(k, points.len())` groups.
pub fn kmeans(points: &[[f64; 2]], k: usize, iterations: usize, seed: u64) -> KMeans {
    let k = k.min(points.len()).max(1);
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut centres = vec![points[rng.random_range(0..points.len())]];
    let mut d2: Vec<f64> = points.iter().map(|&p| dist2(p, centres[0])).collect();
    while centres.len() < k {
        let total: f64 = d2.iter().sum();
        let next = if total <= 0.0 {
            points[rng.random_range(0..points.len())]
        } else {
            let mut target = rng.random_range(0.0..total);
            let idx = d2.iter().position(|&d| {
                target -= d;
                target <= 0.0
            });
            points[idx.unwrap_or(points.len() - 1)]
        };
        centres.push(next);
        d2.iter_mut().zip(points).for_each(|(d, &p)| *d = d.min(dist2(p, next)));
    }
    let mut assignment = vec![0; points.len()];
    for _ in 0..iterations {
        let mut moved = false;
        for (a, &p) in assignment.iter_mut().zip(points) {
            let best = (0..k)
                .min_by(|&i, &j| dist2(p, centres[i]).total_cmp(&dist2(p, centres[j])))
                .unwrap_or(0);
            moved |= *a != best;
            *a = best;
        }
        let mut sums = vec![[0.0, 0.0, 0.0]; k];
        for (&a, p) in assignment.iter().zip(points) {
            sums[a][0] += p[0];
            sums[a][1] += p[1];
            sums[a][2] += 1.0;
        }
        for (c, s) in centres.iter_mut().zip(&sums) {
            if s[2] > 0.0 {
                *c = [s[0] / s[2], s[1] / s[2]];
            }
        }
        if !moved {
            break;
        }
    }
    KMeans { centres, assignment }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separates_well_separated_groups() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(0);
        let truth_centres = [[45.0, 5.0], [52.0, 13.0], [40.0, -3.0]];
        let mut points = Vec::new();
        let mut truth = Vec::new();
        for (c, centre) in truth_centres.iter().enumerate() {
            for _ in 0..50 {
                points.push([
                    centre[0] + rng.random_range(-0.5..0.5),
                    centre[1] + rng.random_range(-0.5..0.5),
                ]);
                truth.push(c);
            }
        }
        let km = kmeans(&points, 3, 50, 1);
        // Same partition up to relabelling: points of one true group share a cluster, groups differ.
        for c in 0..3 {
            let labels: Vec<usize> = (0..points.len())
                .filter(|&i| truth[i] == c)
                .map(|i| km.assignment[i])
                .collect();
            assert!(labels.iter().all(|&l| l == labels[0]), "group {c} split: {labels:?}");
        }
        let firsts: std::collections::HashSet<usize> = [0, 50, 100].iter().map(|&i| km.assignment[i]).collect();
        assert_eq!(firsts.len(), 3);
        assert_eq!(km, kmeans(&points, 3, 50, 1), "seeded");
        assert_eq!(kmeans(&points[..2], 5, 10, 0).centres.len(), 2);
    }
}
