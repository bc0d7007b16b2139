//! Where a results file came from: the commit of the code that produced it (and whether the working tree had
//! uncommitted changes), the build's features, the machine, and the command line. Written into every table's
//! metrics, shown under its Markdown, so that a committed result can be traced to committed code.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Provenance {
    /// `git rev-parse HEAD` at run time; "unknown" outside a git checkout.
    pub commit: String,
    /// Whether tracked files differed from that commit (`git status --porcelain --untracked-files=no`), outside
    /// the results folder the run writes.
    pub dirty: bool,
    /// Cargo features of the build.
    pub features: Vec<String>,
    /// CPU model and logical cores; the device the run used.
    pub machine: String,
    /// The command line.
    pub command: String,
}

fn git(args: &[&str]) -> Option<String> {
    let out = std::process::Command::new("git").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim_end().to_string())
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string())
}

/// Whether `git status --porcelain` output names a change outside `results_dir`. Each line is `XY path`: the
/// two status columns may both be blank-padded (` M`), so lines must not be trimmed before the path is cut out.
fn changes_outside(status: &str, results_dir: &str) -> bool {
    status
        .lines()
        .filter_map(|l| l.get(3..))
        .any(|path| !path.starts_with(results_dir.trim_end_matches('/')))
}

impl Provenance {
    /// The provenance of this process; `results_dir` (the run's output folder, relative to the checkout) is left
    /// out of the dirty check.
    pub fn capture(device: &str, results_dir: &str) -> Self {
        let commit = git(&["rev-parse", "HEAD"]).unwrap_or_else(|| "unknown".into());
        let dirty = git(&["status", "--porcelain", "--untracked-files=no"])
            .is_some_and(|status| changes_outside(&status, results_dir));
        let mut features = Vec::new();
        if cfg!(feature = "torch") {
            features.push("torch".to_string());
        }
        if cfg!(feature = "gdal") {
            features.push("gdal".to_string());
        }
        if cfg!(feature = "cuda") {
            features.push("cuda".to_string());
        }
        let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
        Provenance {
            commit,
            dirty,
            features,
            machine: format!("{}, {cores} logical CPUs, device {device}", cpu_model()),
            command: std::env::args().collect::<Vec<_>>().join(" "),
        }
    }

    /// One Markdown line.
    pub fn line(&self) -> String {
        format!(
            "Produced by commit `{}`{} (features: {}) on {}: `{}`.",
            self.commit,
            if self.dirty { " WITH UNCOMMITTED CHANGES" } else { "" },
            self.features.join(", "),
            self.machine,
            self.command
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captures_this_checkout() {
        let p = Provenance::capture("cpu", "results");
        // Tests run inside the repository: a 40-hex commit.
        assert!(p.commit.len() == 40 && p.commit.chars().all(|c| c.is_ascii_hexdigit()), "{p:?}");
        assert!(p.machine.contains("device cpu"));
        let line = p.line();
        assert!(line.contains(&p.commit) && line.contains("device cpu"), "{line}");
        assert_eq!(line.contains("UNCOMMITTED"), p.dirty);
    }

    #[test]
    fn only_changes_outside_the_results_folder_make_a_tree_dirty() {
        // The first line's leading blank is a status column (the bug this guards against trimmed it away).
        assert!(!changes_outside(" M results/tables/main.md\nM  results/x.png\n", "results"));
        assert!(changes_outside(" M results/tables/main.md\n M src/lib.rs\n", "results/"));
        assert!(changes_outside(" M README.md\n", "results"));
        assert!(!changes_outside("", "results"));
    }
}
