//! Writes the EuroSAT table with its figures: the tables (`results::eurosat::EurosatTable::write_tables`) and a
//! confusion-matrix figure per row, each beside a copy of the resolved config that produced it.

use std::path::{Path, PathBuf};

use crate::results::eurosat::EurosatTable;
use crate::results::writer;
use crate::Result;

/// Writes every output under `out_dir` and returns the paths written: `tables/<name>.{csv,md,toml}`,
/// `tables/<name>_per_class.csv`, `tables/<name>.metrics.toml`, `figures/<name>_confusion[_<row>].{svg,png,toml}`.
pub fn write(table: &EurosatTable, config_toml: &str, out_dir: &Path) -> Result<Vec<PathBuf>> {
    let mut written = table.write_tables(config_toml, out_dir)?;
    for row in &table.rows {
        let stem = table.confusion_stem(out_dir, row);
        let title = format!(
            "{}: {} ({}), test accuracy {:.1} %",
            table.name,
            row.name,
            row.arch,
            100.0 * row.test.accuracy
        );
        written.extend(crate::plot::confusion_matrix(
            &row.test.confusion,
            &table.classes,
            &title,
            &stem,
        )?);
        let config = stem.with_extension("toml");
        writer::write_text(&config, &format!("{}{config_toml}", table.config_header()))?;
        written.push(config);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::eurosat::tests::fixture;

    #[test]
    fn writes_tables_and_a_confusion_figure_with_its_config() {
        let dir = tempfile::tempdir().unwrap();
        let written = write(&fixture(), "name = \"eurosat\"\n", dir.path()).unwrap();
        for suffix in [
            "tables/eurosat.csv",
            "tables/eurosat.metrics.toml",
            "figures/eurosat_confusion.png",
            "figures/eurosat_confusion.svg",
            "figures/eurosat_confusion.toml",
        ] {
            assert!(written.contains(&dir.path().join(suffix)), "{suffix} not written");
        }
        let config = std::fs::read_to_string(dir.path().join("figures/eurosat_confusion.toml")).unwrap();
        assert_eq!(config, "# Resolved config of `eurosat` at scale `smoke`.\nname = \"eurosat\"\n");
    }
}
