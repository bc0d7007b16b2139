//! # caco
//!
//! Self-supervised pre-training on satellite image time series (SeCo, GASSL, CACo) and the downstream
//! benchmarks that judge it. `../shared/docs/METHODS.md` (copied into the README's references) is the spec.
//!
//! ## Code map
//! - [`data`]: dataset readers (EuroSAT RGB/MS, SeCo/CACo time series), split lists, normalisation, fake-data
//!   generators, the simulated `eurosat-seasons`, augmentations, view sampling and the threaded loader. Never
//!   touches a VarStore.
//! - [`models`]: ResNet-18/50 with torchvision names and any number of input channels. Knows nothing of SSL.
//! - `ssl`, `train`: pre-training methods and the training loop (to come).
//! - [`eval`]: feature extraction, linear probe, kNN retrieval, metrics; the EuroSAT benchmark.
//! - [`fetch`]: dataset downloads (HTTP with resume, checksums, extraction) and a loopback HTTP server for tests.
//! - [`plot`]: Plotters figures (SVG + PNG): `plot::style` (font, colours, legend, panel grid) and one file per
//!   figure; builds without libtorch.
//! - [`report`]: Polars tables and Plotters figures, the `reproduce-table` outputs and the notebooks' helpers
//!   (`report::notebook`); builds without libtorch, so the evcxr notebooks in `notebooks/` compile fast.
//! - [`sampling`]: the open Sentinel-2 time-series sampler (`caco sample`): cities, location samplers, date
//!   schedules, STAC search, windowed COG reads through GDAL, the SeCo/CACo layout writer. Never touches a VarStore.
//! - [`config`]: experiment TOMLs (`experiments/`), unknown keys rejected, scale presets.
//!
//! ## Invariants
//! - Losses and metrics are pure functions of tensors or slices.
//! - Only `eval`, `train` and `report` write results; `data` writes only fake data and split lists.
//! - The model never branches on which dataset feeds it.
//! - Every error names the file, folder or value at fault ([`Error`]).

pub mod data;
pub mod error;
pub mod eval;
pub mod fetch;
pub mod plot;
pub mod progress;
pub mod report;
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
