//! `cargo xtask setup`: idempotent bootstrap of a fresh machine. Installs libtorch from the PyPI wheel
//! `torch==2.11.0` (the version tch 0.24 requires) into `.venv`, links it at `.venv/libtorch` (the path
//! `.cargo/config.toml` gives to torch-sys), and checks GDAL and gloo's headers, installing Debian's libgdal-dev and
//! libgloo-dev when root (gloo is optional: without it, multi-process training is off in the build).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use xshell::{cmd, Shell};

pub const TORCH_VERSION: &str = "2.11.0";
/// The CPU-sufficient subset of the CUDA wheel's dependencies (about 1.3 GB installed instead of several GB).
const LEAN_TORCH: [&str; 3] = [
    "torch==2.11.0",
    "nvidia-cuda-runtime==13.0.96",
    "nvidia-cuda-cupti==13.0.85",
];

/// CUDA headers the full wheel's dependencies lack but ProcessGroupNCCL's need (crt/, CCCL's nv/target), of the
/// wheel's CUDA 13.0, so that a `cuda` build compiles the NCCL path of csrc/dist.cpp (build.rs looks beside torch).
const NCCL_BUILD_HEADERS: [&str; 2] = ["nvidia-cuda-crt==13.0.88", "nvidia-cuda-cccl==13.0.85"];

pub fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the repository")
        .to_path_buf()
}

/// What setup found or made: the libtorch folder to build against.
pub struct Setup {
    pub libtorch: PathBuf,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Install the complete CUDA torch wheel with its dependencies (several GB), for GPU users; default: the lean
    /// CPU subset (about 1.3 GB)
    #[arg(long)]
    full_torch: bool,
}

pub fn run(args: Args) -> Result<()> {
    ensure(args.full_torch).map(|_| ())
}

/// A shell in the repository root with LIBTORCH set, for the cargo commands of the tasks (setup runs first).
pub fn cargo_shell() -> Result<Shell> {
    let setup = ensure(false)?;
    let sh = Shell::new()?;
    sh.change_dir(project_root());
    sh.set_var("LIBTORCH", &setup.libtorch);
    Ok(sh)
}

/// Makes sure libtorch and GDAL are present; cheap when they are.
pub fn ensure(full_torch: bool) -> Result<Setup> {
    let sh = Shell::new()?;
    sh.change_dir(project_root());
    ensure_system_packages(&sh)?;
    let libtorch = ensure_libtorch(&sh, full_torch)?;
    Ok(Setup { libtorch })
}

fn ensure_libtorch(sh: &Shell, full: bool) -> Result<PathBuf> {
    let root = project_root();
    let venv = root.join(".venv");
    let link = venv.join("libtorch");
    // A libtorch chosen by the user (e.g. an existing torch 2.11 install) wins. `.cargo/config.toml` sets LIBTORCH
    // to our own link for every cargo command, so that value is not a user choice.
    if let Some(dir) = std::env::var_os("LIBTORCH").map(PathBuf::from) {
        if dir.is_absolute() && dir != link {
            if !dir.join("lib").is_dir() {
                bail!(
                    "LIBTORCH={} has no lib/ folder: point it at a libtorch or a torch package folder",
                    dir.display()
                );
            }
            eprintln!("setup: using LIBTORCH={}", dir.display());
            return Ok(dir);
        }
    }
    if installed_version(&link)
        .as_deref()
        .is_some_and(|v| v.starts_with(TORCH_VERSION))
        && !full
    {
        return Ok(link);
    }
    if !venv.join("bin/python").exists() {
        eprintln!("setup: creating {}", venv.display());
        let python = which_python(sh)?;
        cmd!(sh, "{python} -m venv .venv")
            .run()
            .context("creating the virtual environment")?;
    }
    let pip = venv.join("bin/pip");
    if full {
        eprintln!("setup: installing the full torch=={TORCH_VERSION} wheel with its CUDA dependencies (several GB)");
        cmd!(sh, "{pip} install --disable-pip-version-check torch=={TORCH_VERSION} {NCCL_BUILD_HEADERS...}").run()?;
    } else {
        eprintln!("setup: installing libtorch from torch=={TORCH_VERSION} (lean CPU subset, about 1.3 GB)");
        cmd!(
            sh,
            "{pip} install --disable-pip-version-check --no-deps {LEAN_TORCH...}"
        )
        .run()?;
    }
    let site = glob_site_packages(&venv)?.join("torch");
    if !site.join("lib").is_dir() {
        bail!("pip finished but {} has no lib/ folder", site.display());
    }
    let _ = std::fs::remove_file(&link);
    let target = site.strip_prefix(&venv).unwrap_or(&site).to_path_buf();
    std::os::unix::fs::symlink(&target, &link).with_context(|| format!("linking {}", link.display()))?;
    let version = installed_version(&link).unwrap_or_default();
    if !version.starts_with(TORCH_VERSION) {
        bail!("installed torch reports version `{version}`, tch needs {TORCH_VERSION}");
    }
    eprintln!("setup: libtorch {version} at {}", link.display());
    Ok(link)
}

/// `__version__` from torch's version.py, e.g. "2.11.0+cu130".
fn installed_version(torch_dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(torch_dir.join("version.py")).ok()?;
    let line = text.lines().find(|l| l.starts_with("__version__"))?;
    Some(line.split(['\'', '"']).nth(1)?.to_string())
}

fn glob_site_packages(venv: &Path) -> Result<PathBuf> {
    let lib = venv.join("lib");
    for entry in std::fs::read_dir(&lib).with_context(|| format!("reading {}", lib.display()))? {
        let path = entry?.path().join("site-packages");
        if path.is_dir() {
            return Ok(path);
        }
    }
    bail!("no lib/python3*/site-packages in {}", venv.display())
}

fn which_python(sh: &Shell) -> Result<String> {
    for candidate in ["python3.11", "python3"] {
        if cmd!(sh, "{candidate} --version")
            .quiet()
            .ignore_stdout()
            .ignore_stderr()
            .run()
            .is_ok()
        {
            return Ok(candidate.to_string());
        }
    }
    bail!("no python3 found: install Python 3.10+ (the torch wheel needs it), e.g. `apt-get install python3-venv`")
}

/// GDAL's development files (required) and gloo's headers (for multi-process training; the torch wheel lacks
/// them), from Debian's packages when root.
fn ensure_system_packages(sh: &Shell) -> Result<()> {
    let have = |tool: &str| {
        cmd!(sh, "{tool} --version")
            .quiet()
            .ignore_stdout()
            .ignore_stderr()
            .run()
            .is_ok()
    };
    let gdal = have("gdal-config") && have("pkg-config");
    let gloo_dir = std::env::var("GLOO_INCLUDE").unwrap_or_else(|_| "/usr/include".into());
    let gloo = Path::new(&gloo_dir).join("gloo/config.h").is_file();
    if gdal && gloo {
        return Ok(());
    }
    let mut packages = vec![];
    if !gdal {
        packages.extend(["libgdal-dev", "pkg-config"]);
    }
    if !gloo {
        packages.push("libgloo-dev");
    }
    let list = packages.join(" ");
    let install = format!("apt-get update && apt-get install -y {list}");
    let is_root = cmd!(sh, "id -u")
        .quiet()
        .read()
        .map(|uid| uid.trim() == "0")
        .unwrap_or(false);
    if !is_root {
        if !gdal {
            bail!("GDAL development files not found (no gdal-config or pkg-config). Install them with:\n  sudo sh -c '{install}'");
        }
        eprintln!(
            "setup: gloo's headers not found under {gloo_dir}: multi-process training stays off in this build; \
             install them with `sudo apt-get install libgloo-dev` (or set GLOO_INCLUDE) and rebuild"
        );
        return Ok(());
    }
    eprintln!("setup: installing {list} with `{install}`");
    cmd!(sh, "apt-get update -qq").run()?;
    cmd!(sh, "apt-get install -y -qq {packages...}")
        .env("DEBIAN_FRONTEND", "noninteractive")
        .run()?;
    Ok(())
}
