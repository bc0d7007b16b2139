//! Dataset downloads (`caco data-download <name>`) and the loopback HTTP server their tests use.
//!
//! Builds without libtorch and without GDAL.

pub mod loopback;
