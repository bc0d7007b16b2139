//! The library's one error type: every message names the offending file, folder or value.

use std::path::PathBuf;

/// Errors raised by `caco`'s readers, configs and evaluations.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A dataset folder does not exist where it was looked for.
    #[error("dataset `{dataset}` not found: searched {root}\n  how to get it: {hint}")]
    DatasetNotFound {
        dataset: String,
        root: PathBuf,
        hint: String,
    },

    /// A file exists but its content is not what the reader expects.
    #[error("bad input {path}: {reason}")]
    BadInput { path: PathBuf, reason: String },

    /// A configuration value is out of range or inconsistent.
    #[error("invalid config: {0}")]
    Config(String),

    #[error("I/O error on {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },

    #[cfg(feature = "torch")]
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),

    #[error("report: {0}")]
    Report(String),

    /// A download failed: the URL and what went wrong (HTTP status, connection error, truncated body).
    #[error("download of {url} failed: {reason}")]
    Download { url: String, reason: String },

    /// A file's checksum differs from the published (or first recorded) one; the file was kept aside.
    #[error(
        "checksum mismatch for {} (from {}): expected {} {}, got {}\n  the file was kept aside as {}; delete it and \
         run again to download afresh",
        .0.path.display(), .0.source_name, .0.algorithm, .0.expected, .0.actual, .0.kept.display()
    )]
    Checksum(Box<ChecksumMismatch>),

    /// A dataset that cannot be fetched automatically (login, no stable URL): what to do instead.
    #[error("`{dataset}` cannot be downloaded automatically: {reason}\n  what to do: {steps}")]
    ManualDownload {
        dataset: String,
        reason: String,
        steps: String,
    },

    /// A run stopped early on purpose (Ctrl-C or a step limit); its state was saved.
    #[error("stopped: {0}")]
    Stopped(String),

    /// A collective or the rendezvous of a multi-process run failed (a rank died, a timeout, no gloo in this build).
    #[error("data-parallel run, rank {rank}: {reason}")]
    Dist { rank: usize, reason: String },
}

/// What a [`Error::Checksum`] reports (boxed, so that `Error` stays small).
#[derive(Debug)]
pub struct ChecksumMismatch {
    /// The file as downloaded.
    pub path: PathBuf,
    /// Where it came from (its URL).
    pub source_name: String,
    pub algorithm: String,
    pub expected: String,
    pub actual: String,
    /// Where the file was moved (`<file>.bad`).
    pub kept: PathBuf,
}

impl Error {
    pub(crate) fn bad_input(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Error::BadInput {
            path: path.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

impl From<polars::error::PolarsError> for Error {
    fn from(e: polars::error::PolarsError) -> Self {
        Error::Report(e.to_string())
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
