//! # caco
//!
//! Self-supervised pre-training on satellite image time series (SeCo, GASSL, CACo) and the downstream
//! benchmarks that judge it. `../shared/docs/METHODS.md` is the spec; `ARCHITECTURE.md` says the same as this
//! header at length.
//!
//! ## Code map (lowest layer first; a module uses only modules above it in this list, checked by `tests/tidy.rs`)
//! - [`error`], [`progress`], [`pool`] (one ordered worker pool for every parallel loop): used by all.
//! - [`results`]: plain data (no libtorch, no Plotters): metrics, the tables by kind, the one writer (CSV, Parquet,
//!   Markdown, metrics TOML), published numbers, provenance.
//! - [`fetch`]: dataset downloads (registry, HTTP with resume, checksums, extraction).
//! - [`data`]: one reader per dataset, `fake/` (tiny fake data in each real layout), image I/O, splits,
//!   normalisation, the simulated `eurosat-seasons`, augmentations, view sampling (the batch carries the era), the
//!   threaded loader. Never touches a VarStore.
//! - [`plot`]: Plotters figures (SVG + PNG): `plot::style` (font, colours, legend, panel grid) and one file per
//!   figure, and the PNG overlays of predicted maps.
//! - [`sampling`]: the open Sentinel-2 time-series sampler (`caco sample`). Never touches a VarStore.
//! - [`models`]: ResNet-18/50 with torchvision names, heads, U-Net, the siamese change net, bf16 autocast, backbone
//!   weights (load, import). Knows nothing of SSL.
//! - [`ssl`]: pure losses, queues, momentum, CACo's change estimate (GMM), k-means, the SSL model.
//! - [`config`]: experiment TOMLs (`experiments/`), unknown keys rejected, scale presets.
//! - [`train`]: the one pre-training loop, SGD, checkpoints, the metric log.
//! - [`eval`]: feature extraction, probes, kNN, every downstream benchmark, change awareness.
//! - [`report`]: a table written with its figures, `regenerate`, the benchmark report, the notebooks' helpers;
//!   builds without libtorch, so the evcxr notebooks in `notebooks/` compile fast.
//! - [`reproduce`]: `reproduce-table`, from data to the comparison table.
//!
//! ## Invariants
//! - Losses and metrics are pure functions of tensors or slices.
//! - Tables are written only through `results::writer`; `data` writes only fake data and split lists.
//! - The model never branches on which dataset feeds it.
//! - Every error names the file, folder or value at fault ([`Error`]).

pub mod data;
pub mod error;
pub mod eval;
pub mod fetch;
pub mod plot;
pub mod pool;
pub mod progress;
pub mod report;
pub mod results;
pub mod sampling;

#[cfg(feature = "torch")]
pub mod config;
#[cfg(feature = "torch")]
pub mod models;
#[cfg(feature = "torch")]
pub mod reproduce;
#[cfg(feature = "torch")]
pub mod ssl;
#[cfg(feature = "torch")]
pub mod train;

pub use error::{Error, Result};
