//! `caco bench report`: medians, ratios, Markdown and the figure from the raw runs of `cargo xtask bench`;
//! `<dir>/machine.md` (written by xtask) is copied into every Markdown file.

use std::path::PathBuf;

use anyhow::Result;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Folder holding <bench>_runs.csv and machine.md; the report is written there
    #[arg(long, value_name = "DIR", default_value = "results/bench")]
    dir: PathBuf,
}

pub fn run(args: Args) -> Result<()> {
    let dir = args.dir;
    let machine = std::fs::read_to_string(dir.join("machine.md")).unwrap_or_else(|_| "(not recorded)".into());
    for path in caco::report::bench::write_report(&dir, &machine)? {
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}
