//! Dataset readers, splits, normalisation and fake-data generators. Nothing here touches a VarStore.
//!
//! Readers return [`Image`]s (band-major `f32` in the file's native value range); [`Normalization`] turns them into
//! model input, one explicit choice per run so that a checkpoint is always fed the way it was trained.

pub mod aerial_seg;
pub mod augment;
pub mod bigearthnet;
pub mod change;
pub mod dates;
pub mod dense;
pub mod dynamic_earthnet;
pub mod eurosat;
pub mod fake;
pub mod image_io;
pub mod loader;
pub mod oscd;
pub mod seasons;
pub mod seasons_change;
pub mod split;
pub mod ssl4eo;
pub mod timeseries;
pub mod views;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Environment variable naming the data root when no `--data-dir` is given.
pub const DATA_ENV: &str = "CACO_DATA";

/// The data root: `--data-dir` if given, else `$CACO_DATA`, else `./data`.
pub fn data_root(flag: Option<&Path>) -> PathBuf {
    data_root_or(flag, || PathBuf::from("data"))
}

/// The data root: `flag` if given, else `$CACO_DATA` (when set and not empty), else `fallback()`. The one rule
/// behind [`data_root`] (fallback `./data`) and the notebooks' `report::notebook::data_root` (fallback next to the
/// repository).
pub fn data_root_or(flag: Option<&Path>, fallback: impl FnOnce() -> PathBuf) -> PathBuf {
    data_root_from(flag, std::env::var_os(DATA_ENV).map(PathBuf::from), fallback)
}

fn data_root_from(flag: Option<&Path>, env: Option<PathBuf>, fallback: impl FnOnce() -> PathBuf) -> PathBuf {
    match (flag, env) {
        (Some(flag), _) => flag.to_path_buf(),
        (None, Some(env)) if !env.as_os_str().is_empty() => env,
        _ => fallback(),
    }
}

/// The not-found error of every reader: `hint` (where the data come from), followed by the command that fetches them
/// when the download registry knows the dataset (by name, else by the folder searched): `cargo xtask data download
/// <name>` for an automatic download, with `--from <folder>` and the page for a manual one. `--data-dir` is named
/// when the folder searched is not under the default data root.
pub fn not_found(dataset: &str, root: &Path, hint: impl Into<String>) -> crate::Error {
    let mut hint = hint.into();
    let folder = root.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
    let known = crate::fetch::registry::find(dataset)
        .or_else(|| crate::fetch::registry::all().into_iter().find(|d| d.folder == folder));
    if let Some(known) = known.filter(|d| !hint.contains(&format!("data download {}", d.name))) {
        let data_dir = match root.parent() {
            Some(parent) if !parent.as_os_str().is_empty() && parent != data_root(None) && folder == known.folder => {
                format!(" --data-dir {}", parent.display())
            }
            _ => String::new(),
        };
        if known.is_manual() {
            hint += &format!(
                "; or download it by hand from {} and import it: `cargo xtask data download {}{data_dir} --from \
                 <archive or folder>` (`caco data list` says how)",
                known.homepage, known.name
            );
        } else {
            hint += &format!(
                "; or run `cargo xtask data download {}{data_dir}` ({}, checksummed)",
                known.name, known.size
            );
        }
    }
    crate::Error::DatasetNotFound {
        dataset: dataset.to_string(),
        root: root.to_path_buf(),
        hint,
    }
}

/// One image, band-major: `data[band * height * width + row * width + col]`, values in the file's own range
/// (0-255 for 8-bit RGB, raw digital numbers for Sentinel-2 GeoTIFFs).
#[derive(Debug, Clone, PartialEq)]
pub struct Image {
    pub n_bands: usize,
    pub height: usize,
    pub width: usize,
    pub data: Vec<f32>,
}

impl Image {
    pub fn band(&self, band_idx: usize) -> &[f32] {
        let n = self.height * self.width;
        &self.data[band_idx * n..(band_idx + 1) * n]
    }
}

/// ImageNet channel statistics (torchvision), applied to RGB scaled to [0, 1].
pub const IMAGENET_MEAN: [f32; 3] = [0.485, 0.456, 0.406];
pub const IMAGENET_STD: [f32; 3] = [0.229, 0.224, 0.225];

/// How raw pixel values become model input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind", deny_unknown_fields)]
pub enum Normalization {
    /// x / 255, then ImageNet mean/std (3-band 8-bit input; SeCo/CACo RGB convention).
    Imagenet,
    /// x / scale, nothing else.
    Scale { scale: f32 },
    /// (x - mean[b]) / std[b] per band (multispectral input).
    PerBand { mean: Vec<f32>, std: Vec<f32> },
}

impl Normalization {
    /// Checks that this normalisation can be applied to `n_bands` bands.
    pub fn validate(&self, n_bands: usize) -> crate::Result<()> {
        let bad = |m: String| Err(crate::Error::Config(m));
        match self {
            Normalization::Imagenet if n_bands != 3 => bad(format!(
                "imagenet normalisation needs 3 bands, the dataset has {n_bands}"
            )),
            Normalization::Scale { scale } if !(*scale > 0.0) => bad(format!("scale must be > 0, got {scale}")),
            Normalization::PerBand { mean, std } if mean.len() != n_bands || std.len() != n_bands => bad(format!(
                "per-band normalisation has {} means and {} stds for {n_bands} bands",
                mean.len(),
                std.len()
            )),
            Normalization::PerBand { std, .. } if std.iter().any(|s| !(*s > 0.0)) => {
                bad(format!("per-band std must be > 0, got {std:?}"))
            }
            _ => Ok(()),
        }
    }

    /// Normalises `image` in place. Call [`Normalization::validate`] first.
    pub fn apply(&self, image: &mut Image) {
        let n = image.height * image.width;
        for (band_idx, band) in image.data.chunks_mut(n).enumerate() {
            let (mul, add) = match self {
                Normalization::Imagenet => {
                    let (m, s) = (IMAGENET_MEAN[band_idx], IMAGENET_STD[band_idx]);
                    (1.0 / (255.0 * s), -m / s)
                }
                Normalization::Scale { scale } => (1.0 / scale, 0.0),
                Normalization::PerBand { mean, std } => (1.0 / std[band_idx], -mean[band_idx] / std[band_idx]),
            };
            band.iter_mut().for_each(|x| *x = *x * mul + add);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_found_names_the_download_command_where_the_registry_knows_the_dataset() {
        let root = Path::new("/nowhere/data");
        let err = not_found("eurosat-rgb", &root.join("eurosat-rgb"), "unzip EuroSAT.zip").to_string();
        assert!(err.contains("unzip EuroSAT.zip"), "{err}");
        assert!(
            err.contains("`cargo xtask data download eurosat-rgb --data-dir /nowhere/data`") && err.contains("90 MB"),
            "{err}"
        );
        // Found by the folder searched; a manual entry names --from and its page.
        let err = not_found("change dataset", &root.join("clcd-train-subset"), "CLCD").to_string();
        assert!(
            err.contains("data download clcd-train-subset --data-dir /nowhere/data --from")
                && err.contains("github.com/liumency/CropLand-CD"),
            "{err}"
        );
        // Unknown to the registry: the hint alone; a hint that already names the command is not repeated.
        let err = not_found("mystery", &root.join("mystery"), "ask around").to_string();
        assert!(err.ends_with("ask around"), "{err}");
        let hint = "`cargo xtask data download levir-cd-samples`";
        let err = not_found("levir-cd-samples", &root.join("levir-cd-samples"), hint).to_string();
        assert_eq!(err.matches("data download").count(), 1, "{err}");
    }

    #[test]
    fn data_root_precedence_is_flag_then_env_then_default() {
        let env = Some(PathBuf::from("/env"));
        let data = || PathBuf::from("data");
        assert_eq!(
            data_root_from(Some(Path::new("/flag")), env.clone(), data),
            PathBuf::from("/flag")
        );
        assert_eq!(data_root_from(None, env, data), PathBuf::from("/env"));
        assert_eq!(data_root_from(None, Some(PathBuf::new()), data), PathBuf::from("data"));
        assert_eq!(data_root_from(None, None, data), PathBuf::from("data"));
        assert_eq!(
            data_root_from(None, None, || PathBuf::from("/repo/data")),
            PathBuf::from("/repo/data")
        );
    }

    #[test]
    fn imagenet_normalisation_maps_mean_pixel_to_zero() {
        let mut img = Image {
            n_bands: 3,
            height: 1,
            width: 2,
            data: vec![0.485 * 255.0, 255.0, 0.456 * 255.0, 0.0, 0.406 * 255.0, 0.406 * 255.0],
        };
        Normalization::Imagenet.apply(&mut img);
        assert!(img.data[0].abs() < 1e-5);
        assert!((img.data[1] - (1.0 - 0.485) / 0.229).abs() < 1e-4);
        assert!((img.data[3] - (-0.456 / 0.224)).abs() < 1e-4);
    }

    #[test]
    fn normalisation_rejects_band_count_mismatch() {
        assert!(Normalization::Imagenet.validate(13).is_err());
        let nb = Normalization::PerBand {
            mean: vec![0.0; 12],
            std: vec![1.0; 12],
        };
        assert!(nb.validate(13).is_err());
        assert!(nb.validate(12).is_ok());
        assert!(Normalization::Scale { scale: 0.0 }.validate(3).is_err());
    }
}
