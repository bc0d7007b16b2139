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

/// How a dataset without usable split lists is split (`--split`, a table task's `split`).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum SplitChoice {
    /// The dataset's own lists (or its file-name prefixes); nothing is made up.
    #[default]
    Lists,
    /// `seeded:TRAIN,VAL,TEST` (or `seeded:TRAIN,TEST`): a seeded shuffle cut at these fractions, written once.
    Seeded { train: f64, val: f64, test: f64, seed: u64 },
}

/// Seed of the seeded splits asked for with `--split seeded:...` (none given after the fractions).
pub const DEFAULT_SPLIT_SEED: u64 = 42;

impl SplitChoice {
    /// Parses `lists`, `seeded:0.6,0.2,0.2`, `seeded:0.8,0.2` (no val) or either with `@SEED` appended. The
    /// fractions must be non-negative, train and test positive, and sum to 1 (within 0.001).
    pub fn parse(text: &str) -> Result<Self> {
        let usage = "expected `lists` or `seeded:TRAIN,VAL,TEST` (e.g. seeded:0.6,0.2,0.2; `seeded:TRAIN,TEST` for \
                     no val; `@SEED` appended for another seed than 42)";
        let bad = |why: String| Error::Config(format!("--split `{text}`: {why}; {usage}"));
        if text == "lists" {
            return Ok(SplitChoice::Lists);
        }
        let Some(rest) = text.strip_prefix("seeded:") else {
            return Err(bad("unknown kind of split".into()));
        };
        let (fractions, seed) = match rest.split_once('@') {
            Some((f, s)) => (
                f,
                s.trim()
                    .parse::<u64>()
                    .map_err(|_| bad(format!("seed `{s}` is not a whole number")))?,
            ),
            None => (rest, DEFAULT_SPLIT_SEED),
        };
        let values = fractions
            .split(',')
            .map(|v| {
                v.trim()
                    .parse::<f64>()
                    .map_err(|_| bad(format!("`{v}` is not a number")))
            })
            .collect::<Result<Vec<f64>>>()?;
        let (train, val, test) = match values[..] {
            [train, val, test] => (train, val, test),
            [train, test] => (train, 0.0, test),
            _ => return Err(bad(format!("{} fractions given, 2 or 3 expected", values.len()))),
        };
        if !(train > 0.0 && val >= 0.0 && test > 0.0) {
            return Err(bad("train and test must be positive and val not negative".into()));
        }
        if (train + val + test - 1.0).abs() > 1e-3 {
            return Err(bad(format!("the fractions sum to {}, not 1", train + val + test)));
        }
        Ok(SplitChoice::Seeded { train, val, test, seed })
    }

    /// The first line of lists written for this choice (`unit`: what is split, e.g. "pair" or "city"); a later run
    /// reuses lists that start with it and refuses others.
    pub fn header(&self, unit: &str) -> String {
        match self {
            SplitChoice::Lists => String::new(),
            SplitChoice::Seeded { train, val, test, seed } => {
                format!("# caco seeded split by {unit}: train {train}, val {val}, test {test}, seed {seed}")
            }
        }
    }
}

impl std::fmt::Display for SplitChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SplitChoice::Lists => write!(f, "lists"),
            SplitChoice::Seeded { train, val, test, seed } => {
                write!(f, "seeded:{train},{val},{test}")?;
                if *seed != DEFAULT_SPLIT_SEED {
                    write!(f, "@{seed}")?;
                }
                Ok(())
            }
        }
    }
}

/// Seeded shuffle of `names` cut at the fractions of `choice` (rounded to the nearest entry; every non-empty part
/// keeps at least one entry where there are enough). `Lists` is an error.
pub fn seeded(names: &[String], choice: &SplitChoice) -> Result<Splits> {
    let SplitChoice::Seeded { train, val, seed, .. } = *choice else {
        return Err(Error::Config("a seeded split needs `seeded:TRAIN,VAL,TEST`".into()));
    };
    let n = names.len();
    let wanted = [train, val, 1.0 - train - val];
    let n_parts = wanted.iter().filter(|&&f| f > 0.0).count();
    if n < n_parts {
        return Err(Error::Config(format!(
            "a seeded split `{choice}` needs at least {n_parts} entries, found {n}"
        )));
    }
    let mut shuffled = names.to_vec();
    shuffled.shuffle(&mut rand::rngs::StdRng::seed_from_u64(seed));
    let has_val = usize::from(val > 0.0);
    let n_train = ((n as f64 * train).round() as usize).clamp(1, n - 1 - has_val);
    let n_val = if has_val == 1 {
        ((n as f64 * val).round() as usize).clamp(1, n - n_train - 1)
    } else {
        0
    };
    let part = |from: usize, to: usize| {
        let mut list = shuffled[from..to].to_vec();
        list.sort();
        list
    };
    Ok(Splits {
        train: part(0, n_train),
        val: part(n_train, n_train + n_val),
        test: part(n_train + n_val, n),
    })
}

/// The lists of a seeded split in `dir`: read back when `dir/train.txt` starts with `choice`'s header (a split is
/// made once), made by `make` and written with that header when `dir` holds no `train.txt`. Lists made otherwise
/// (by hand, or for other fractions) are an error naming the file and the way out. Returns the lists and whether
/// they were written now.
pub fn seeded_lists(
    dir: &Path,
    choice: &SplitChoice,
    unit: &str,
    make: impl FnOnce() -> Result<Splits>,
) -> Result<(Splits, bool)> {
    let header = choice.header(unit);
    let train = dir.join("train.txt");
    if train.is_file() {
        let text = std::fs::read_to_string(&train).map_err(|e| Error::io(&train, e))?;
        let first = text.lines().next().unwrap_or_default();
        if first != header {
            return Err(Error::bad_input(
                &train,
                format!(
                    "holds other split lists (first line `{first}`) than `--split {choice}` asks for \
                     (`{header}`); remove {} to make them anew, or give another --split-dir",
                    dir.display()
                ),
            ));
        }
        let read_or_none = |name: &str| -> Result<Vec<String>> {
            let path = dir.join(format!("{name}.txt"));
            if path.is_file() {
                read_list(&path)
            } else {
                Ok(vec![])
            }
        };
        let splits = Splits {
            train: read_list(&train)?,
            val: read_or_none("val")?,
            test: read_or_none("test")?,
        };
        return Ok((splits, false));
    }
    let splits = make()?;
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    for name in SPLIT_NAMES {
        let path = dir.join(format!("{name}.txt"));
        let list = splits.get(name).unwrap_or_default();
        if list.is_empty() {
            continue;
        }
        let text = format!("{header}\n{}\n", list.join("\n"));
        std::fs::write(&path, text).map_err(|e| Error::io(&path, e))?;
    }
    Ok((splits, true))
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
    fn split_choices_parse_with_readable_errors() {
        assert_eq!(SplitChoice::parse("lists").unwrap(), SplitChoice::Lists);
        let c = SplitChoice::parse("seeded:0.6,0.2,0.2").unwrap();
        assert_eq!(
            c,
            SplitChoice::Seeded {
                train: 0.6,
                val: 0.2,
                test: 0.2,
                seed: 42
            }
        );
        assert_eq!(c.to_string(), "seeded:0.6,0.2,0.2");
        let c = SplitChoice::parse("seeded:0.7,0.3@9").unwrap();
        assert_eq!(
            c,
            SplitChoice::Seeded {
                train: 0.7,
                val: 0.0,
                test: 0.3,
                seed: 9
            }
        );
        assert_eq!(c.to_string(), "seeded:0.7,0,0.3@9");
        for (bad, why) in [
            ("random", "unknown kind of split"),
            ("seeded:0.6,x,0.2", "`x` is not a number"),
            ("seeded:0.6,0.6", "sum to 1.2"),
            ("seeded:1", "1 fractions given, 2 or 3 expected"),
            ("seeded:1,0,0", "train and test must be positive"),
            ("seeded:0.5,0.5@-1", "seed `-1`"),
        ] {
            let msg = SplitChoice::parse(bad).unwrap_err().to_string();
            assert!(
                msg.contains(&format!("--split `{bad}`")) && msg.contains(why) && msg.contains("seeded:0.6,0.2,0.2"),
                "{msg}"
            );
        }
    }

    #[test]
    fn a_seeded_split_cuts_at_the_fractions_and_is_written_once() {
        let names: Vec<String> = (0..10).map(|i| format!("p{i}.png")).collect();
        let choice = SplitChoice::parse("seeded:0.6,0.2,0.2").unwrap();
        let s = seeded(&names, &choice).unwrap();
        assert_eq!((s.train.len(), s.val.len(), s.test.len()), (6, 2, 2));
        let mut all: Vec<&String> = s.train.iter().chain(&s.val).chain(&s.test).collect();
        all.sort();
        assert_eq!(all, names.iter().collect::<Vec<_>>());
        assert_eq!(seeded(&names, &choice).unwrap(), s);
        let other_seed = SplitChoice::parse("seeded:0.6,0.2,0.2@1").unwrap();
        assert_ne!(seeded(&names, &other_seed).unwrap(), s);
        // Every non-empty part keeps at least one entry; too few entries are an error.
        let s = seeded(&names[..3], &choice).unwrap();
        assert_eq!((s.train.len(), s.val.len(), s.test.len()), (1, 1, 1));
        let msg = seeded(&names[..2], &choice).unwrap_err().to_string();
        assert!(msg.contains("at least 3 entries, found 2"), "{msg}");
        let s = seeded(&names[..2], &SplitChoice::parse("seeded:0.9,0.1").unwrap()).unwrap();
        assert_eq!((s.train.len(), s.val.len(), s.test.len()), (1, 0, 1));

        let dir = tempfile::tempdir().unwrap();
        let lists = dir.path().join("splits");
        let (made, written) = seeded_lists(&lists, &choice, "pair", || seeded(&names, &choice)).unwrap();
        assert!(written);
        let text = std::fs::read_to_string(lists.join("val.txt")).unwrap();
        assert!(
            text.starts_with("# caco seeded split by pair: train 0.6, val 0.2, test 0.2, seed 42\n"),
            "{text}"
        );
        assert_eq!(read(&lists).unwrap(), made);
        let (again, written) = seeded_lists(&lists, &choice, "pair", || panic!("made again")).unwrap();
        assert_eq!((again, written), (made, false));
        let msg = seeded_lists(&lists, &other_seed, "pair", || seeded(&names, &other_seed))
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("train.txt")
                && msg.contains("seed 42")
                && msg.contains("--split seeded:0.6,0.2,0.2@1")
                && msg.contains("another --split-dir"),
            "{msg}"
        );
    }

    #[test]
    fn bad_fractions_are_rejected() {
        assert!(stratified(&samples(&[10]), 0.9, 0.2, 1).is_err());
        assert!(stratified(&samples(&[10]), 0.0, 0.2, 1).is_err());
    }
}
