//! `cargo xtask readme-table`: copies the comparison table of `results/tables/main.md` (written by
//! `reproduce-table` from the committed metrics, or by `cargo xtask report`) into README.md between the markers
//! below, so the README's numbers are never typed by hand. A test checks that the two agree.

use std::path::Path;

use anyhow::{bail, Context, Result};

pub const START: &str = "<!-- main-table:start (cargo xtask readme-table) -->";
pub const END: &str = "<!-- main-table:end -->";

/// The Markdown table (header, rule and rows) of a `main.md`.
pub fn table_of(main_md: &str) -> Result<String> {
    let lines: Vec<&str> = main_md
        .lines()
        .skip_while(|l| !l.starts_with("| initialisation"))
        .take_while(|l| l.starts_with('|'))
        .collect();
    if lines.len() < 3 {
        bail!("no comparison table (a `| initialisation | ...` header and rows) found");
    }
    Ok(lines.join("\n") + "\n")
}

/// README text with the block between the markers replaced by `table`.
pub fn with_table(readme: &str, table: &str) -> Result<String> {
    let start = readme.find(START).context("README.md has no main-table start marker")?;
    let end = readme.find(END).context("README.md has no main-table end marker")?;
    if end < start {
        bail!("README.md: the main-table end marker comes before the start marker");
    }
    Ok(format!("{}{START}\n{table}{}", &readme[..start], &readme[end..]))
}

pub fn run(root: &Path) -> Result<()> {
    let main_md = root.join("results/tables/main.md");
    let table = table_of(&std::fs::read_to_string(&main_md).with_context(|| format!("reading {}", main_md.display()))?)
        .with_context(|| main_md.display().to_string())?;
    let readme_path = root.join("README.md");
    let readme = std::fs::read_to_string(&readme_path)?;
    let updated = with_table(&readme, &table)?;
    if updated != readme {
        std::fs::write(&readme_path, updated)?;
        eprintln!("README.md: table updated from {}", main_md.display());
    } else {
        eprintln!("README.md: table already matches {}", main_md.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_only_the_marked_block() {
        let md = "# T\n\n| initialisation | a |\n|---|---|\n| Random init | 1.00 |\n\nScores ...\n";
        let table = table_of(md).unwrap();
        assert_eq!(table, "| initialisation | a |\n|---|---|\n| Random init | 1.00 |\n");
        let readme = format!("intro\n{START}\nold\n{END}\noutro\n");
        let out = with_table(&readme, &table).unwrap();
        assert_eq!(out, format!("intro\n{START}\n{table}{END}\noutro\n"));
        assert!(with_table("no markers", &table).is_err());
        assert!(table_of("no table").is_err());
    }

    /// The README's results table is the committed one, not typed (run `cargo xtask readme-table` after a table run).
    #[test]
    fn readme_table_matches_the_committed_main_table() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let main_md = std::fs::read_to_string(root.join("results/tables/main.md")).unwrap();
        let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
        let want = with_table(&readme, &table_of(&main_md).unwrap()).unwrap();
        assert!(want == readme, "README.md's table differs from results/tables/main.md: run `cargo xtask readme-table`");
    }
}
