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
        if name != "train" && splits.get(name).unwrap_or_default().is_empty() {
            // No list rather than an empty one (read_list refuses those): e.g. CLCD's public lists stop at val.
            if path.is_file() {
                std::fs::remove_file(&path).map_err(|e| Error::io(&path, e))?;
            }
            continue;
        }
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
    read_or_create(dir, || stratified(samples, train_fraction, val_fraction, seed))
}

/// Reads the lists in `dir` if `train.txt` is there; otherwise calls `make` and writes its split there, so a split
/// is made once and every later run reads the same files.
pub fn read_or_create(dir: &Path, make: impl FnOnce() -> Result<Splits>) -> Result<Splits> {
    if dir.join("train.txt").exists() {
        return read(dir);
    }
    let splits = make()?;
    write(dir, &splits)?;
    Ok(splits)
}

/// A seeded split by group (`entries`: (entry, group), e.g. an image and its scene): the groups, in order of first
/// appearance, are shuffled; the first `n_val_groups` go to val, the next `n_test_groups` to test, the rest to
/// train, each with all its entries, so no two splits share a group. `what` names a group in errors (`big tile`).
pub fn by_group(
    entries: &[(String, String)],
    n_val_groups: usize,
    n_test_groups: usize,
    seed: u64,
    what: &str,
) -> Result<Splits> {
    let mut groups: Vec<&str> = Vec::new();
    for (_, group) in entries {
        if !groups.contains(&group.as_str()) {
            groups.push(group);
        }
    }
    if n_val_groups + n_test_groups >= groups.len() {
        return Err(Error::Config(format!(
            "split by {what}: {n_val_groups} val + {n_test_groups} test {what}s leave none of {} for train",
            groups.len()
        )));
    }
    groups.shuffle(&mut rand::rngs::StdRng::seed_from_u64(seed));
    let (val, rest) = groups.split_at(n_val_groups);
    let test = &rest[..n_test_groups];
    let members = |pick: &dyn Fn(&str) -> bool| -> Vec<String> {
        entries
            .iter()
            .filter(|(_, g)| pick(g))
            .map(|(e, _)| e.clone())
            .collect()
    };
    Ok(Splits {
        train: members(&|g| !val.contains(&g) && !test.contains(&g)),
        val: members(&|g| val.contains(&g)),
        test: members(&|g| test.contains(&g)),
    })
}

/// Positions of split-list `entries` in `names`. An entry that is not there is an error naming the list, the line
/// and what the entry should have been (`what`: e.g. "an image of data/dubai-aerial-seg").
pub fn positions(entries: &[String], names: &[String], list_path: &Path, what: &str) -> Result<Vec<usize>> {
    let by_name: std::collections::HashMap<&str, usize> =
        names.iter().enumerate().map(|(i, n)| (n.as_str(), i)).collect();
    entries
        .iter()
        .enumerate()
        .map(|(line_idx, entry)| {
            by_name
                .get(entry.as_str())
                .copied()
                .ok_or_else(|| Error::bad_input(list_path, format!("line {}: `{entry}` is not {what}", line_idx + 1)))
        })
        .collect()
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
    fn split_by_group_keeps_groups_whole_and_is_seeded() {
        let entries: Vec<(String, String)> = (0..12).map(|i| (format!("e{i}"), format!("g{}", i / 3))).collect();
        let s = by_group(&entries, 1, 1, 42, "scene").unwrap();
        assert_eq!((s.train.len(), s.val.len(), s.test.len()), (6, 3, 3));
        let group_of = |e: &String| entries.iter().find(|(x, _)| x == e).unwrap().1.clone();
        assert!(s.val.iter().all(|e| group_of(e) == group_of(&s.val[0])));
        assert!(s
            .train
            .iter()
            .all(|e| group_of(e) != group_of(&s.val[0]) && group_of(e) != group_of(&s.test[0])));
        assert_eq!(by_group(&entries, 1, 1, 42, "scene").unwrap(), s);
        assert!((0..20).any(|seed| by_group(&entries, 1, 1, seed, "scene").unwrap() != s));
        let msg = by_group(&entries, 2, 2, 0, "scene").unwrap_err().to_string();
        assert!(msg.contains("2 val + 2 test scenes leave none of 4"), "{msg}");

        let names: Vec<String> = entries.iter().map(|(e, _)| e.clone()).collect();
        assert_eq!(
            positions(&["e3".into(), "e0".into()], &names, Path::new("t.txt"), "x").unwrap(),
            vec![3, 0]
        );
        let msg = positions(
            &["e0".into(), "e99".into()],
            &names,
            Path::new("t.txt"),
            "an entry of y",
        )
        .unwrap_err()
        .to_string();
        assert!(
            msg.contains("t.txt") && msg.contains("line 2: `e99` is not an entry of y"),
            "{msg}"
        );
    }

    #[test]
    fn bad_fractions_are_rejected() {
        assert!(stratified(&samples(&[10]), 0.9, 0.2, 1).is_err());
        assert!(stratified(&samples(&[10]), 0.0, 0.2, 1).is_err());
    }
}
