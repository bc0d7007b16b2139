//! `caco report`: regenerate tables and figures from stored metrics, without training.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// One metrics file, e.g. results/tables/main.metrics.toml (default: every <results>/tables/*.metrics.toml)
    #[arg(long, value_name = "FILE")]
    metrics: Option<PathBuf>,
    /// Results folder searched when no --metrics is given
    #[arg(long, value_name = "DIR", default_value = "results")]
    results: PathBuf,
    /// Outputs (default: the results folder holding the metrics)
    #[arg(long, value_name = "DIR")]
    out_dir: Option<PathBuf>,
}

pub fn run(args: Args) -> Result<()> {
    let Args {
        metrics,
        results,
        out_dir,
    } = args;
    let files = match metrics {
        Some(file) => vec![file],
        None => {
            let tables = results.join("tables");
            let mut files: Vec<PathBuf> = std::fs::read_dir(&tables)
                .with_context(|| format!("no stored metrics: {} cannot be read", tables.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.to_string_lossy().ends_with(".metrics.toml"))
                .collect();
            files.sort();
            if files.is_empty() {
                bail!("no *.metrics.toml in {}", tables.display());
            }
            files
        }
    };
    for file in files {
        // <out>/tables/<name>.metrics.toml -> <out>
        let out = out_dir.clone().unwrap_or_else(|| {
            file.parent()
                .and_then(|p| p.parent())
                .map(PathBuf::from)
                .unwrap_or_default()
        });
        let written = caco::report::regenerate(&file, &out)?.len();
        eprintln!(
            "{}: regenerated {} files under {}",
            file.display(),
            written,
            out.display()
        );
    }
    Ok(())
}
