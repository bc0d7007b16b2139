//! Writes a downstream task's table with its figure: the tables (`results::dense::DenseTable::write_tables`) and
//! the training-loss figure (`plot::dense_loss_curves`, SVG + PNG) when any row has epoch losses.

use std::path::{Path, PathBuf};

use crate::results::dense::DenseTable;
use crate::Result;

/// Writes `tables/<name>.{csv,md,metrics.toml}`, `tables/<name>_per_image.csv` (change detection) and
/// `figures/<name>_loss.{svg,png}` (when any row has epoch losses) under `out_dir`; returns the paths.
pub fn write(table: &DenseTable, out_dir: &Path) -> Result<Vec<PathBuf>> {
    let mut written = table.write_tables(out_dir)?;
    if table.rows.iter().any(|r| !r.epoch_losses.is_empty()) {
        written.extend(crate::plot::dense_loss_curves(
            table,
            &out_dir.join("figures").join(format!("{}_loss", table.name)),
        )?);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::dense::tests::change_table;

    #[test]
    fn writes_the_tables_and_the_loss_figure() {
        let dir = tempfile::tempdir().unwrap();
        let written = write(&change_table(), dir.path()).unwrap();
        for suffix in [
            "tables/change_fake.csv",
            "tables/change_fake.md",
            "tables/change_fake.metrics.toml",
            "tables/change_fake_per_image.csv",
            "figures/change_fake_loss.svg",
            "figures/change_fake_loss.png",
        ] {
            assert!(written.contains(&dir.path().join(suffix)), "{suffix} not written");
        }
        let png = image::open(dir.path().join("figures/change_fake_loss.png")).unwrap();
        assert_eq!((png.width(), png.height()), (800, 500));
    }
}
