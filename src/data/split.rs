//! Train/val/test split lists: one relative image path per line (`Class/Class_n.jpg`), the format of the
//! SeCo/CACo and torchgeo EuroSAT lists, so official lists can be dropped in. Without them, a seeded stratified
//! split is made once and written next to the experiment configs.

use std::path::Path;

use rand::seq::SliceRandom;
use rand::SeedableRng;

use super::eurosat::Sample;
use crate::{Error, Result};

/// The three split lists, entries as written in the files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Splits {
    pub train: Vec<String>,
    pub val: Vec<String>,
    pub test: Vec<String>,
}

pub const SPLIT_NAMES: [&str; 3] = ["train", "val", "test"];

impl Splits {
    pub fn get(&self, name: &str) -> Option<&[String]> {
        match name {
            "train" => Some(&self.train),
            "val" => Some(&self.val),
            "test" => Some(&self.test),
            _ => None,
        }
    }
}

/// Stratified split: within every class, a seeded shuffle cut at `fractions` (train, val; test takes the rest),
/// rounding to the nearest image. 60/20/20 on EuroSAT gives the published 16,200/5,400/5,400.
pub fn stratified(samples: &[Sample], train_fraction: f64, val_fraction: f64, seed: u64) -> Result<Splits> {
    if !(train_fraction > 0.0 && val_fraction >= 0.0 && train_fraction + val_fraction <= 1.0) {
        return Err(Error::Config(format!(
            "split fractions must satisfy 0 < train, 0 <= val, train + val <= 1; got train {train_fraction}, val {val_fraction}"
        )));
    }
    let n_classes = samples.iter().map(|s| s.class_idx + 1).max().unwrap_or(0);
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut splits = Splits {
        train: vec![],
        val: vec![],
        test: vec![],
    };
    for class_idx in 0..n_classes {
        let mut members: Vec<&str> = samples
            .iter()
            .filter(|s| s.class_idx == class_idx)
            .map(|s| s.rel_path.as_str())
            .collect();
        members.shuffle(&mut rng);
        let n = members.len() as f64;
        let n_train = (n * train_fraction).round() as usize;
        let n_val = ((n * (train_fraction + val_fraction)).round() as usize).saturating_sub(n_train);
        splits.train.extend(members[..n_train].iter().map(|s| s.to_string()));
        splits
            .val
            .extend(members[n_train..n_train + n_val].iter().map(|s| s.to_string()));
        splits
            .test
            .extend(members[n_train + n_val..].iter().map(|s| s.to_string()));
    }
    Ok(splits)
}

/// Reads one list: blank lines and `#` comments are skipped; an empty list is an error.
pub fn read_list(path: &Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let entries: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect();
    if entries.is_empty() {
        return Err(Error::bad_input(path, "split list is empty"));
    }
    Ok(entries)
}

/// Reads `dir/{train,val,test}.txt`.
pub fn read(dir: &Path) -> Result<Splits> {
    Ok(Splits {
        train: read_list(&dir.join("train.txt"))?,
        val: read_list(&dir.join("val.txt"))?,
        test: read_list(&dir.join("test.txt"))?,
    })
}

/// Writes `dir/{train,val,test}.txt`.
pub fn write(dir: &Path, splits: &Splits) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    for name in SPLIT_NAMES {
        let path = dir.join(format!("{name}.txt"));
        let mut text = splits.get(name).unwrap_or_default().join("\n");
        text.push('\n');
        std::fs::write(&path, text).map_err(|e| Error::io(&path, e))?;
    }
    Ok(())
}

/// Reads the lists in `dir` if `train.txt` is there; otherwise makes a stratified split and writes it there.
pub fn load_or_create(
    dir: &Path,
    samples: &[Sample],
    train_fraction: f64,
    val_fraction: f64,
    seed: u64,
) -> Result<Splits> {
    if dir.join("train.txt").exists() {
        return read(dir);
    }
    let splits = stratified(samples, train_fraction, val_fraction, seed)?;
    write(dir, &splits)?;
    Ok(splits)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples(counts: &[usize]) -> Vec<Sample> {
        counts
            .iter()
            .enumerate()
            .flat_map(|(c, &n)| {
                (0..n).map(move |i| Sample {
                    rel_path: format!("C{c}/C{c}_{i}.jpg"),
                    class_idx: c,
                })
            })
            .collect()
    }

    #[test]
    fn stratified_split_matches_published_eurosat_sizes() {
        let s = samples(&[3000, 3000, 3000, 2500, 2500, 2000, 2500, 3000, 2500, 3000]);
        let splits = stratified(&s, 0.6, 0.2, 42).unwrap();
        assert_eq!(
            (splits.train.len(), splits.val.len(), splits.test.len()),
            (16_200, 5_400, 5_400)
        );
        // Stratified: each class keeps 60/20/20.
        let count = |list: &[String], c: usize| list.iter().filter(|p| p.starts_with(&format!("C{c}/"))).count();
        assert_eq!(
            (count(&splits.train, 5), count(&splits.val, 5), count(&splits.test, 5)),
            (1200, 400, 400)
        );
        assert_eq!(
            (count(&splits.train, 3), count(&splits.val, 3), count(&splits.test, 3)),
            (1500, 500, 500)
        );
        // Disjoint and complete.
        let mut all: Vec<&String> = splits.train.iter().chain(&splits.val).chain(&splits.test).collect();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), s.len());
    }

    #[test]
    fn split_is_deterministic_for_a_seed_and_changes_with_it() {
        let s = samples(&[50, 30, 20]);
        let a = stratified(&s, 0.6, 0.2, 7).unwrap();
        assert_eq!(a, stratified(&s, 0.6, 0.2, 7).unwrap());
        assert_ne!(a.train, stratified(&s, 0.6, 0.2, 8).unwrap().train);
    }

    #[test]
    fn lists_round_trip_through_files_and_empty_lists_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let splits = stratified(&samples(&[10, 10]), 0.6, 0.2, 1).unwrap();
        let made = load_or_create(dir.path(), &samples(&[10, 10]), 0.6, 0.2, 1).unwrap();
        assert_eq!(made, splits);
        assert_eq!(read(dir.path()).unwrap(), splits);
        // An existing list wins over a new seed.
        assert_eq!(
            load_or_create(dir.path(), &samples(&[10, 10]), 0.6, 0.2, 99).unwrap(),
            splits
        );

        std::fs::write(dir.path().join("val.txt"), "# nothing here\n\n").unwrap();
        let msg = read(dir.path()).unwrap_err().to_string();
        assert!(msg.contains("val.txt") && msg.contains("empty"), "{msg}");
    }

    #[test]
    fn bad_fractions_are_rejected() {
        assert!(stratified(&samples(&[10]), 0.9, 0.2, 1).is_err());
        assert!(stratified(&samples(&[10]), 0.0, 0.2, 1).is_err());
    }
}
