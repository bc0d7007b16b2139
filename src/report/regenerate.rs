//! Regenerates every output of a stored table from its metrics TOML alone, without training: `caco report` and the
//! notebooks call this one function.

use std::path::{Path, PathBuf};

use crate::results::StoredTable;
use crate::{Error, Result};

/// Regenerates every table file and figure of one metrics file under `out`: the paper table with its figures, a
/// downstream task's table and loss figure, or the EuroSAT table with the config stored beside it. Returns the
/// paths written.
pub fn regenerate(metrics: &Path, out: &Path) -> Result<Vec<PathBuf>> {
    match StoredTable::read(metrics)? {
        StoredTable::Paper(t) => super::paper_output::write(&t, out),
        StoredTable::Dense(t) => super::dense::write(&t, out),
        StoredTable::Eurosat(t) => {
            let config_path = metrics.with_file_name(format!("{}.toml", t.name));
            let config = std::fs::read_to_string(&config_path).map_err(|e| {
                Error::bad_input(
                    &config_path,
                    format!("the config stored beside {} cannot be read: {e}", metrics.display()),
                )
            })?;
            // The stored config starts with a comment header that `write` adds again.
            let body: String = config
                .lines()
                .skip_while(|l| l.starts_with('#'))
                .map(|l| format!("{l}\n"))
                .collect();
            super::eurosat::write(&t, &body, out)
        }
    }
}
