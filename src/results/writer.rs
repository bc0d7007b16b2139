//! The one writer of result tables: Polars DataFrames as CSV (machine-readable), Parquet and Markdown (for the
//! README and papers), table structs as metrics TOML (from which `caco report` regenerates every output), and the
//! file-name slug of a row name.

use std::fmt::Write as _;
use std::path::Path;

use polars::prelude::*;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::{Error, Result};

/// Writes `df` as CSV with a header.
pub fn write_csv(df: &DataFrame, path: &Path) -> Result<()> {
    create_parent(path)?;
    let mut file = std::fs::File::create(path).map_err(|e| Error::io(path, e))?;
    let mut df = df.clone();
    CsvWriter::new(&mut file).include_header(true).finish(&mut df)?;
    Ok(())
}

/// Reads a CSV written by [`write_csv`].
pub fn read_csv(path: &Path) -> Result<DataFrame> {
    let df = CsvReadOptions::default()
        .with_has_header(true)
        .try_into_reader_with_file_path(Some(path.to_path_buf()))?
        .finish()?;
    Ok(df)
}

/// Renders `df` as a GitHub Markdown table; floats with `decimals` digits, missing values as `-`.
pub fn to_markdown(df: &DataFrame, decimals: usize) -> Result<String> {
    let columns = df.columns();
    let mut out = String::new();
    let names: Vec<String> = columns.iter().map(|c| c.name().to_string()).collect();
    let _ = writeln!(out, "| {} |", names.join(" | "));
    let _ = writeln!(out, "|{}", names.iter().map(|_| "---|").collect::<String>());
    for row in 0..df.height() {
        let cells: Vec<String> = columns
            .iter()
            .map(|c| c.get(row).map(|v| format_cell(&v, decimals)))
            .collect::<PolarsResult<_>>()?;
        let _ = writeln!(out, "| {} |", cells.join(" | "));
    }
    Ok(out)
}

fn format_cell(value: &AnyValue, decimals: usize) -> String {
    match value {
        AnyValue::Null => "-".into(),
        AnyValue::Float64(v) if v.is_nan() => "-".into(),
        AnyValue::Float32(v) if v.is_nan() => "-".into(),
        AnyValue::Float64(v) => format!("{v:.decimals$}"),
        AnyValue::Float32(v) => format!("{v:.decimals$}"),
        AnyValue::String(s) => s.replace('|', "\\|"),
        AnyValue::StringOwned(s) => s.replace('|', "\\|"),
        other => other.to_string(),
    }
}

/// Writes `df` as Markdown with a title and free-text notes under the table.
pub fn write_markdown(df: &DataFrame, path: &Path, title: &str, notes: &[String], decimals: usize) -> Result<()> {
    create_parent(path)?;
    let mut text = format!("# {title}\n\n{}", to_markdown(df, decimals)?);
    if !notes.is_empty() {
        text.push('\n');
        for note in notes {
            let _ = writeln!(text, "{note}");
        }
    }
    std::fs::write(path, text).map_err(|e| Error::io(path, e))
}

/// Writes `df` as Parquet.
pub fn write_parquet(df: &DataFrame, path: &Path) -> Result<()> {
    create_parent(path)?;
    let file = std::fs::File::create(path).map_err(|e| Error::io(path, e))?;
    let mut df = df.clone();
    ParquetWriter::new(file).finish(&mut df)?;
    Ok(())
}

/// Writes `text` to `path`, creating its folder.
pub fn write_text(path: &Path, text: &str) -> Result<()> {
    create_parent(path)?;
    std::fs::write(path, text).map_err(|e| Error::io(path, e))
}

/// Writes a table struct as its metrics TOML, atomically (a temporary file renamed over the old one).
pub fn write_metrics<T: Serialize>(table: &T, path: &Path) -> Result<()> {
    let text = toml::to_string(table).map_err(|e| Error::Report(format!("metrics do not serialise: {e}")))?;
    create_parent(path)?;
    let tmp = path.with_extension("toml.tmp");
    std::fs::write(&tmp, text).map_err(|e| Error::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
}

/// Reads a metrics TOML written by [`write_metrics`]; `what` names the expected kind in the error
/// (e.g. "a dense-task metrics file").
pub fn read_metrics<T: DeserializeOwned>(path: &Path, what: &str) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    toml::from_str(&text).map_err(|e| Error::bad_input(path, format!("not {what}: {e}")))
}

/// A row name as a file-name part: ASCII letters and digits lower-cased, `-` kept, anything else `_`
/// (`random init` -> `random_init`, `MoCo-v2` -> `moco-v2`).
pub fn slug(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect()
}

pub fn create_parent(path: &Path) -> Result<()> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e)),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> DataFrame {
        DataFrame::new_infer_height(vec![
            Column::new("init".into(), &["random init", "a|b"]),
            Column::new("accuracy".into(), &[0.51234, f64::NAN]),
            Column::new("n".into(), &[10i64, 20]),
        ])
        .unwrap()
    }

    #[test]
    fn markdown_formats_floats_escapes_pipes_and_marks_missing() {
        let md = to_markdown(&sample(), 2).unwrap();
        assert_eq!(
            md,
            "| init | accuracy | n |\n|---|---|---|\n| random init | 0.51 | 10 |\n| a\\|b | - | 20 |\n"
        );
    }

    #[test]
    fn slug_keeps_dashes_and_replaces_the_rest() {
        assert_eq!(slug("random init"), "random_init");
        assert_eq!(slug("MoCo-v2 (R18)"), "moco-v2__r18_");
    }

    #[test]
    fn csv_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t/table.csv");
        write_csv(&sample(), &path).unwrap();
        let back = read_csv(&path).unwrap();
        assert_eq!(back.shape(), (2, 3));
        assert_eq!(back.column("n").unwrap().get(1).unwrap(), AnyValue::Int64(20));
        assert_eq!(
            back.column("init").unwrap().get(0).unwrap().to_string(),
            "\"random init\""
        );
    }
}
