//! Index subsets of a labelled split: the split indices of a run, a per-class cap (the scales' smaller runs) and a
//! seeded stratified label fraction (the label-fraction experiments).

use std::collections::BTreeMap;

use rand::seq::SliceRandom;
use rand::SeedableRng;

use crate::{Error, Result};

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

/// A seeded subset of `fraction` of `indices` per class (at least one per class present), in list order.
pub fn stratified_fraction(indices: &[usize], labels: &[usize], fraction: f64, seed: u64) -> Result<Vec<usize>> {
    if !(fraction > 0.0 && fraction <= 1.0) {
        return Err(Error::Config(format!(
            "label_fraction must be in (0, 1], got {fraction}"
        )));
    }
    let mut by_class: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (pos, &label) in labels.iter().enumerate() {
        by_class.entry(label).or_default().push(pos);
    }
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut keep = Vec::new();
    for positions in by_class.values_mut() {
        positions.shuffle(&mut rng);
        let n = ((positions.len() as f64 * fraction).round() as usize).clamp(1, positions.len());
        keep.extend_from_slice(&positions[..n]);
    }
    keep.sort_unstable();
    Ok(keep.into_iter().map(|p| indices[p]).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stratified_fraction_keeps_every_class_and_is_seeded() {
        let indices: Vec<usize> = (100..140).collect();
        let labels: Vec<usize> = (0..40).map(|i| if i < 30 { 0 } else { 1 }).collect();
        let a = stratified_fraction(&indices, &labels, 0.1, 5).unwrap();
        assert_eq!(a.len(), 3 + 1, "{a:?}");
        assert!(a.iter().any(|&i| i >= 130), "class 1 kept: {a:?}");
        assert_eq!(a, stratified_fraction(&indices, &labels, 0.1, 5).unwrap());
        assert_ne!(a, stratified_fraction(&indices, &labels, 0.1, 6).unwrap());
        assert!(a.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(stratified_fraction(&indices, &labels, 1.0, 5).unwrap(), indices);
        assert!(stratified_fraction(&indices, &labels, 0.0, 5).is_err());
    }
}
