//! Published numbers placed beside ours (METHODS.md "Published numbers to place beside ours"), read from
//! `experiments/tables/published.toml`, the one place they are written: per method and metric for the columns of
//! the comparison table, and as context lines per task for the tables of single tasks. The committed file is built
//! into the library, so tables get the same lines wherever they are written from.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// The committed `experiments/tables/published.toml`.
const COMMITTED: &str = include_str!("../../experiments/tables/published.toml");

/// A published-numbers file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Published {
    pub values: Vec<PublishedEntry>,
    /// Context lines under single-task tables.
    #[serde(default)]
    pub notes: Vec<PublishedNote>,
}

/// One published number: a method's value of one of our metric columns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublishedEntry {
    /// The pre-training method, as a table row names it (`seco`, `caco`, ...).
    pub method: String,
    /// Metric column id, e.g. `eurosat_probe`.
    pub metric: String,
    pub value: f64,
    /// Backbone and where the number comes from.
    pub source: String,
}

/// A context line for the tables of one task (`eurosat`, `change-detection`, `segmentation`, `dynamic-earthnet`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublishedNote {
    pub task: String,
    pub text: String,
}

impl Published {
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::parse(&text).map_err(|e| Error::Config(format!("{}: {e}", path.display())))
    }

    fn parse(text: &str) -> std::result::Result<Self, toml::de::Error> {
        toml::from_str(text)
    }

    /// The committed file (built in).
    pub fn committed() -> Self {
        Self::parse(COMMITTED).expect("experiments/tables/published.toml parses (checked by a test)")
    }

    /// The context lines of `task`, in file order.
    pub fn notes(&self, task: &str) -> Vec<String> {
        self.notes.iter().filter(|n| n.task == task).map(|n| n.text.clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn committed_file_parses_with_values_and_notes_per_task() {
        let p = Published::committed();
        assert!(p.values.iter().any(|v| v.method == "seco" && v.metric == "eurosat_probe" && v.value == 93.14));
        for task in ["eurosat", "change-detection", "segmentation", "dynamic-earthnet"] {
            assert!(!p.notes(task).is_empty(), "no notes for {task}");
        }
        assert!(p.notes("change-detection")[0].contains("46.94"));
        assert!(p.notes("no-such-task").is_empty());
    }
}
