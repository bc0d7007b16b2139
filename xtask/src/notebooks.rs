//! `cargo xtask notebooks`: installs what the evcxr notebooks in `notebooks/` need and executes every one headless,
//! failing on any cell error (issue 8). Installs evcxr_jupyter from crates.io (`cargo install --locked`), Jupyter's
//! nbconvert from PyPI into the project venv, and a kernel spec of the project's own (`caco-rust`, in
//! `.venv/share/jupyter/kernels/`) whose environment gives evcxr a persistent build cache (`EVCXR_TMPDIR`, so a
//! restarted kernel's first cell takes seconds) and libtorch's library folder (evcxr's generated library does not see
//! the rpath of our build script, so a notebook with `features = ["torch"]` would fail to dlopen without it).
//! Executed copies go to `target/notebooks/executed/`, timings to `target/notebooks/timings.md`; a cell with an error
//! or any stderr output fails the run (evcxr reports a panic or `?` on an Err only on stderr, with status "ok"). The
//! notebooks in git keep no outputs (`--check`, `--strip`).

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use xshell::{cmd, Shell};

use crate::setup::{ensure, project_root};

const EVCXR_VERSION: &str = "0.22.0";
/// Jupyter's headless runner and what it needs; nbconvert 7 brings nbclient, jupyter_client and nbformat.
const JUPYTER: [&str; 2] = ["nbconvert>=7,<8", "nbclient>=0.10,<0.12"];
const KERNEL_NAME: &str = "caco-rust";
/// Seconds one cell may run (the first cell of a cold cache compiles the library and its dependencies).
const CELL_TIMEOUT_S: u32 = 3600;

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Without a flag: install what is missing, then execute the notebooks headless into \
                        target/notebooks/executed/, failing on any cell error; prints the time to first cell and in \
                        all (first run about 25 min, later runs a few minutes)."
)]
pub struct Args {
    /// Install evcxr_jupyter, Jupyter (nbconvert) and the caco-rust kernel spec, run nothing
    #[arg(long, group = "mode")]
    install: bool,
    /// Fail if a notebook in git has outputs or execution counts (no install needed)
    #[arg(long, group = "mode")]
    check: bool,
    /// Remove outputs and execution counts in place
    #[arg(long, group = "mode")]
    strip: bool,
    /// Notebooks, relative to the repository root (default: notebooks/*.ipynb)
    #[arg(value_name = "NOTEBOOK")]
    notebooks: Vec<PathBuf>,
}

pub fn run(args: Args) -> Result<()> {
    let root = project_root();
    let mut notebooks: Vec<PathBuf> = args.notebooks.iter().map(|n| root.join(n)).collect();
    if notebooks.is_empty() {
        notebooks = all_notebooks(&root)?;
    }
    if args.install {
        install(&root).map(|_| ())
    } else if args.check {
        script(&root, "check", &notebooks)
    } else if args.strip {
        script(&root, "strip", &notebooks)
    } else {
        let kernel = install(&root)?;
        execute(&root, &kernel, &notebooks)
    }
}

fn all_notebooks(root: &Path) -> Result<Vec<PathBuf>> {
    let dir = root.join("notebooks");
    let mut found: Vec<PathBuf> = std::fs::read_dir(&dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "ipynb"))
        .collect();
    found.sort();
    if found.is_empty() {
        bail!("no notebooks in {}", dir.display());
    }
    Ok(found)
}

fn shell(root: &Path) -> Result<Shell> {
    let sh = Shell::new()?;
    sh.change_dir(root);
    Ok(sh)
}

/// `xtask/scripts/notebooks.py <command> <notebooks>` with the venv's Python (any Python 3 for check/strip).
fn script(root: &Path, command: &str, notebooks: &[PathBuf]) -> Result<()> {
    let sh = shell(root)?;
    let venv_python = root.join(".venv/bin/python");
    let python = if venv_python.exists() {
        venv_python
    } else {
        PathBuf::from("python3")
    };
    cmd!(sh, "{python} xtask/scripts/notebooks.py {command} {notebooks...}").run()?;
    Ok(())
}

/// What the kernel spec points at.
struct Kernel {
    python: PathBuf,
}

fn install(root: &Path) -> Result<Kernel> {
    let setup = ensure(false)?;
    let sh = shell(root)?;
    let evcxr = ensure_evcxr(&sh)?;
    let python = root.join(".venv/bin/python");
    if !python.exists() {
        // Setup makes the venv when it installs libtorch; with a LIBTORCH of the user's there may be none yet.
        eprintln!("notebooks: creating .venv for Jupyter");
        cmd!(sh, "python3 -m venv .venv").run().context("creating .venv")?;
    }
    let have_jupyter = cmd!(sh, "{python} -c 'import nbconvert, nbclient'")
        .quiet()
        .ignore_stderr()
        .run()
        .is_ok();
    if !have_jupyter {
        let start = Instant::now();
        eprintln!("notebooks: installing Jupyter's nbconvert into .venv (PyPI)");
        cmd!(
            sh,
            "{python} -m pip install --disable-pip-version-check --quiet {JUPYTER...}"
        )
        .run()?;
        eprintln!(
            "notebooks: nbconvert installed in {:.0} s",
            start.elapsed().as_secs_f64()
        );
    }
    let libtorch = if setup.libtorch.is_absolute() {
        setup.libtorch
    } else {
        root.join(setup.libtorch)
    };
    let cache = root.join("target/evcxr");
    std::fs::create_dir_all(&cache)?;
    // The cache's crate resolves dependencies on its first build: start it from the project's lock file so that the
    // notebooks build the versions the tests use (cargo drops and adds entries as needed).
    let lock = cache.join("Cargo.lock");
    if !lock.exists() {
        std::fs::copy(root.join("Cargo.lock"), &lock)?;
    }
    let spec_dir = root.join(".venv/share/jupyter/kernels").join(KERNEL_NAME);
    std::fs::create_dir_all(&spec_dir)?;
    let spec = kernel_json(&evcxr, &libtorch.join("lib"), &cache);
    std::fs::write(spec_dir.join("kernel.json"), spec)?;
    eprintln!(
        "notebooks: kernel spec {} written",
        spec_dir.join("kernel.json").display()
    );
    Ok(Kernel { python })
}

fn json_string(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

fn kernel_json(evcxr: &Path, torch_lib: &Path, cache: &Path) -> String {
    let s = |p: &Path| json_string(&p.to_string_lossy());
    format!(
        "{{\n  \"argv\": [{}, \"--control_file\", \"{{connection_file}}\"],\n  \"display_name\": \"Rust (caco)\",\n  \
         \"language\": \"rust\",\n  \"interrupt_mode\": \"message\",\n  \"env\": {{\n    \"LD_LIBRARY_PATH\": {},\n    \
         \"EVCXR_TMPDIR\": {}\n  }}\n}}\n",
        s(evcxr),
        s(torch_lib),
        s(cache)
    )
}

/// `evcxr_jupyter` of version `EVCXR_VERSION` in cargo's bin folder, installed if missing.
fn ensure_evcxr(sh: &Shell) -> Result<PathBuf> {
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .context("neither CARGO_HOME nor HOME is set")?;
    let bin = cargo_home.join("bin/evcxr_jupyter");
    let installed = cmd!(sh, "cargo install --list").quiet().read().unwrap_or_default();
    if bin.exists() && installed.contains(&format!("evcxr_jupyter v{EVCXR_VERSION}")) {
        return Ok(bin);
    }
    eprintln!("notebooks: installing evcxr_jupyter {EVCXR_VERSION} from crates.io (about 7 minutes on 2 cores)");
    let start = Instant::now();
    cmd!(sh, "cargo install --locked evcxr_jupyter --version {EVCXR_VERSION}").run()?;
    eprintln!(
        "notebooks: evcxr_jupyter installed in {:.0} s",
        start.elapsed().as_secs_f64()
    );
    if !bin.exists() {
        bail!("cargo install finished but {} does not exist", bin.display());
    }
    Ok(bin)
}

fn execute(root: &Path, kernel: &Kernel, notebooks: &[PathBuf]) -> Result<()> {
    let sh = shell(root)?;
    let out = root.join("target/notebooks/executed");
    let timings = root.join("target/notebooks/timings.md");
    let python = &kernel.python;
    let timeout = CELL_TIMEOUT_S.to_string();
    // nbclient, cell by cell; the first cell with an error or stderr output stops the run with its text.
    cmd!(
        sh,
        "{python} xtask/scripts/notebooks.py execute --out {out} --kernel {KERNEL_NAME} --timeout {timeout}
            --timings {timings} {notebooks...}"
    )
    .run()
    .context("a notebook failed (its cell error is above; the executed copy is in target/notebooks/executed/)")?;
    eprintln!(
        "notebooks: {} notebooks executed without error; executed copies in {}, timings in {}",
        notebooks.len(),
        out.display(),
        timings.display()
    );
    Ok(())
}
