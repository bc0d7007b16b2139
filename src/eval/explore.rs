//! Live exploration of one backbone for `notebooks/05_explore_backbone.ipynb` (issue 17): load it from a run
//! folder (or a seeded random init, said so), embed every date of a small simulated series and read one location's
//! distance matrix and CACo's d_short / d_long (the definitions of [`super::awareness`], METHODS.md's change ratio
//! with every pair of dates), nearest EuroSAT neighbours of any query computed on the spot, and a change map from a
//! Siamese U-Net trained for a few epochs on a handful of pairs ([`super::change_detection`]). Everything runs on
//! the CPU and on small inputs: a demonstration of what the representation does, not a benchmark.

use std::path::{Path, PathBuf};
use std::time::Instant;

use tch::nn::ModuleT;
use tch::{nn, Device, Kind, Tensor};

use super::awareness::{self, AwarenessConfig, RATIO_EPS};
use super::change_detection::{self, ChangeModel, THRESHOLD};
use super::dense::DenseConfig;
use super::features::{self, ExtractOptions, FeatureSet};
use super::knn;
use crate::data::change::ChangePair;
use crate::data::dense::crop;
use crate::data::eurosat::Eurosat;
use crate::data::seasons::SeasonsConfig;
use crate::data::timeseries::{Layout, TimeSeries, TimeSeriesOptions, RGB_BANDS};
use crate::data::{Image, Normalization};
use crate::models::{Arch, ResNet};
use crate::plot::{change_overlay, LocationDistances, RetrievalExample};
use crate::results::seg_metrics::BinaryCounts;
use crate::{Error, Result};

/// Images per forward pass.
const BATCH_SIZE: usize = 100;

/// A frozen RGB backbone with the line that says where its weights came from.
pub struct Backbone {
    pub vs: nn::VarStore,
    pub net: ResNet,
    /// `weights of <file>` or `random init (seed 0): ...`.
    pub description: String,
}

/// The architecture a run folder's `config.toml` names under `[model] arch`, ResNet-18 when it names none.
fn run_arch(weights: &Path) -> Result<Arch> {
    let Some(config) = weights.parent().map(|d| d.join("config.toml")).filter(|c| c.is_file()) else {
        return Ok(Arch::Resnet18);
    };
    let text = std::fs::read_to_string(&config).map_err(|e| Error::io(&config, e))?;
    let value: toml::Value = toml::from_str(&text).map_err(|e| Error::bad_input(&config, e.to_string()))?;
    match value.get("model").and_then(|m| m.get("arch")) {
        None => Ok(Arch::Resnet18),
        Some(arch) => arch
            .clone()
            .try_into()
            .map_err(|e| Error::bad_input(&config, format!("[model] arch: {e} (expected resnet18 or resnet50)"))),
    }
}

/// The backbone of `weights` (a run's `backbone.safetensors`, architecture from the run's `config.toml`), or a
/// seeded random ResNet-18 when `weights` is `None`, on the CPU.
pub fn load_backbone(weights: Option<&Path>) -> Result<Backbone> {
    let arch = weights.map(run_arch).transpose()?.unwrap_or(Arch::Resnet18);
    let name = weights.map_or("random init".to_string(), |w| w.display().to_string());
    let (vs, net) = crate::models::weights::load_backbone(arch, 3, 0, weights, &name, Device::Cpu)?;
    let description = match weights {
        Some(w) => format!("{} with the weights of {}", arch.name(), w.display()),
        None => format!("{}, random init (seed 0): no pre-trained backbone is stored here", arch.name()),
    };
    Ok(Backbone { vs, net, description })
}

// ---------------------------------------------------------------------------------------------------------------
// The simulated series.

/// Builds (unless already built with these settings) a series of `n_locations` locations at `out` with the
/// simulation of `eurosat-seasons` (seed `seed`), from tiles spread evenly over `eurosat`; returns `out`.
pub fn small_series(eurosat: &Eurosat, out: &Path, n_locations: usize, seed: u64, quiet: bool) -> Result<PathBuf> {
    if n_locations < 2 || eurosat.len() < 2 {
        return Err(Error::Config(format!(
            "small series: needs at least 2 locations and 2 EuroSAT tiles, got {n_locations} and {}",
            eurosat.len()
        )));
    }
    // Four candidate tiles per location, spread over every class folder.
    let n_pool = (4 * n_locations).min(eurosat.len());
    let pool: Vec<usize> = (0..n_pool).map(|i| i * eurosat.len() / n_pool).collect();
    let config = AwarenessConfig {
        n_locations,
        seed,
        batch_size: BATCH_SIZE,
    };
    awareness::build_heldout(eurosat, &pool, out, &config, quiet)?;
    Ok(out.to_path_buf())
}

/// CACo's distances of one location (METHODS.md, every pair of dates): d_short the mean embedding distance of the
/// pairs within an era, d_long across the eras, ratio = d_long / (d_short + 1e-4).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EraDistances {
    pub d_short: f64,
    pub d_long: f64,
    pub ratio: f64,
}

/// Distances between every pair of rows of `features` `[t, d]` after L2 normalisation (sqrt(2 - 2 cos), as
/// [`awareness::scores`]): a symmetric `t x t` matrix with a zero diagonal.
pub fn distance_matrix(features: &Tensor) -> Result<Vec<Vec<f64>>> {
    let size = features.size();
    if size.len() != 2 || size[0] < 1 {
        return Err(Error::Config(format!(
            "distance matrix: features must be [dates, dim], got {size:?}"
        )));
    }
    let f = features.to_kind(Kind::Double);
    let f = &f / f.norm_scalaropt_dim(2.0, [-1i64].as_slice(), true).clamp_min(1e-12);
    let cos: Vec<Vec<f64>> = Vec::try_from(f.matmul(&f.transpose(0, 1)))?;
    Ok(cos
        .iter()
        .enumerate()
        .map(|(i, row)| {
            row.iter()
                .enumerate()
                .map(|(j, c)| if i == j { 0.0 } else { (2.0 - 2.0 * c).max(0.0).sqrt() })
                .collect()
        })
        .collect())
}

/// [`EraDistances`] from a distance matrix of `t` dates: dates `0..dates_per_era` the older era,
/// `t - dates_per_era..t` the recent one (dates between them, if any, are not used).
pub fn era_distances(matrix: &[Vec<f64>], dates_per_era: usize) -> Result<EraDistances> {
    let t = matrix.len();
    if dates_per_era < 2 || t < 2 * dates_per_era || matrix.iter().any(|r| r.len() != t) {
        return Err(Error::Config(format!(
            "era distances: a square matrix of at least 2 x {dates_per_era} dates, got {t} rows"
        )));
    }
    let era = |i: usize| usize::from(i >= t - dates_per_era);
    let used: Vec<usize> = (0..t)
        .filter(|&i| i < dates_per_era || i >= t - dates_per_era)
        .collect();
    let (mut short, mut n_short, mut long, mut n_long) = (0.0, 0.0, 0.0, 0.0);
    for (k, &i) in used.iter().enumerate() {
        for &j in &used[k + 1..] {
            if era(i) == era(j) {
                short += matrix[i][j];
                n_short += 1.0;
            } else {
                long += matrix[i][j];
                n_long += 1.0;
            }
        }
    }
    let (d_short, d_long) = (short / n_short, long / n_long);
    Ok(EraDistances {
        d_short,
        d_long,
        ratio: d_long / (d_short + RATIO_EPS),
    })
}

/// Every date of every location of a series through one backbone.
pub struct SeriesEmbeddings {
    pub series: TimeSeries,
    /// The simulation's truth per location, in the series' order.
    pub changed: Vec<bool>,
    /// `[n_locations, n_dates, dim]`.
    pub features: Tensor,
    pub dates_per_era: usize,
}

impl SeriesEmbeddings {
    /// Embeds the series at `root` (CACo layout with a `truth.csv`, as [`small_series`] builds) with ImageNet
    /// normalisation and global-pooled features, as pre-training and the change-awareness task see it.
    pub fn embed(backbone: &Backbone, root: &Path, quiet: bool) -> Result<Self> {
        let (features, changed, dates_per_era) =
            awareness::series_features(&backbone.net, root, BATCH_SIZE, Device::Cpu, quiet)?;
        let options = TimeSeriesOptions {
            layout: Layout::Caco,
            bands: RGB_BANDS.iter().map(|b| b.to_string()).collect(),
            dates_per_era: SeasonsConfig::default().dates_per_era,
            skip_bad: false,
            stretch: None,
        };
        let series = TimeSeries::open(root, options)?;
        Ok(SeriesEmbeddings {
            series,
            changed,
            features,
            dates_per_era,
        })
    }

    pub fn n_locations(&self) -> usize {
        self.changed.len()
    }

    /// The first location whose truth is `changed`.
    pub fn first_location(&self, changed: bool) -> Option<usize> {
        self.changed.iter().position(|&c| c == changed)
    }

    fn check(&self, location: usize) -> Result<()> {
        if location >= self.n_locations() {
            return Err(Error::Config(format!(
                "location {location} asked, the series at {} has {} (0 to {})",
                self.series.root.display(),
                self.n_locations(),
                self.n_locations().saturating_sub(1)
            )));
        }
        Ok(())
    }

    /// The location's id and its dates (`YYYY-MM-DD`) with their images as stored (0-255 RGB).
    pub fn dates(&self, location: usize) -> Result<(String, Vec<(String, Image)>)> {
        self.check(location)?;
        let loc = &self.series.locations[location];
        let dates = loc
            .products
            .iter()
            .map(|p| Ok((p.date.to_string(), self.series.load(p)?)))
            .collect::<Result<Vec<_>>>()?;
        Ok((loc.id.clone(), dates))
    }

    /// The distance matrix of the location's dates.
    pub fn distance_matrix(&self, location: usize) -> Result<Vec<Vec<f64>>> {
        self.check(location)?;
        distance_matrix(&self.features.get(location as i64))
    }

    /// CACo's distances of one location.
    pub fn era_distances(&self, location: usize) -> Result<EraDistances> {
        era_distances(&self.distance_matrix(location)?, self.dates_per_era)
    }

    /// CACo's distances of every location, in the series' order.
    pub fn population(&self) -> Result<Vec<EraDistances>> {
        (0..self.n_locations()).map(|l| self.era_distances(l)).collect()
    }

    /// What [`crate::plot::location_distances`] draws for one location: its distance matrix and distances beside
    /// the ratios of every location of the series.
    pub fn location_view(&self, location: usize) -> Result<LocationDistances> {
        let matrix = self.distance_matrix(location)?;
        let own = era_distances(&matrix, self.dates_per_era)?;
        let loc = &self.series.locations[location];
        let truth = if self.changed[location] {
            "truly changed"
        } else {
            "truly unchanged"
        };
        let population = self
            .population()?
            .iter()
            .zip(&self.changed)
            .map(|(d, &c)| (d.ratio, c))
            .collect();
        Ok(LocationDistances {
            title: format!("Location {} ({truth}): distances between its dates' embeddings", loc.id),
            dates: loc.products.iter().map(|p| p.date.to_string()).collect(),
            matrix,
            dates_per_era: self.dates_per_era,
            d_short: own.d_short,
            d_long: own.d_long,
            ratio: own.ratio,
            population,
        })
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Nearest neighbours, computed live.

/// Features of a gallery of EuroSAT images (positions `indices` of the dataset).
pub struct Gallery {
    pub indices: Vec<usize>,
    pub features: FeatureSet,
}

/// Embeds `indices` of `eurosat` (ImageNet normalisation, eval mode).
pub fn gallery(backbone: &Backbone, eurosat: &Eurosat, indices: &[usize], quiet: bool) -> Result<Gallery> {
    let options = ExtractOptions {
        batch_size: BATCH_SIZE,
        device: Device::Cpu,
        n_workers: 2,
        quiet,
    };
    let features = features::extract(
        &backbone.net,
        eurosat,
        indices,
        &Normalization::Imagenet,
        &options,
        "gallery",
    )?;
    Ok(Gallery {
        indices: indices.to_vec(),
        features,
    })
}

/// The `k` gallery images nearest (cosine) to the EuroSAT image `query` (its path under the dataset root, e.g.
/// `Forest/Forest_12.jpg`), embedded now; the query itself is never its own neighbour. Returns the query's image
/// and class and the neighbours', nearest first, for [`crate::plot::retrieval_grid`].
pub fn neighbours(
    backbone: &Backbone,
    eurosat: &Eurosat,
    gallery: &Gallery,
    query: &str,
    k: usize,
) -> Result<RetrievalExample> {
    let query_idx = eurosat
        .samples
        .iter()
        .position(|s| s.rel_path == query)
        .ok_or_else(|| {
            let examples: Vec<&str> = eurosat.samples.iter().take(2).map(|s| s.rel_path.as_str()).collect();
            Error::Config(format!(
                "query `{query}` is not an image of {} (expected a path under it such as {examples:?})",
                eurosat.root.display()
            ))
        })?;
    let n = gallery.indices.len();
    if k == 0 || n == 0 {
        return Err(Error::Config(format!("neighbours: k = {k} of a gallery of {n} images")));
    }
    let mut image = eurosat.load(query_idx)?;
    let raw = image.clone();
    Normalization::Imagenet.apply(&mut image);
    let q = tch::no_grad(|| backbone.net.forward_t(&features::images_to_tensor(&[image]), false)).to_kind(Kind::Float);
    // The query as the gallery's last row; one extra neighbour in case the query is in the gallery too.
    let all = Tensor::cat(&[&gallery.features.features, &q], 0);
    let nearest = knn::nearest(&all, &[n as i64], (k + 1).min(n));
    let class = |idx: usize| eurosat.classes[eurosat.samples[idx].class_idx].clone();
    let found = nearest[0]
        .iter()
        .map(|&pos| gallery.indices[pos as usize])
        .filter(|&idx| idx != query_idx)
        .take(k)
        .map(|idx| Ok((eurosat.load(idx)?, class(idx))))
        .collect::<Result<Vec<_>>>()?;
    Ok((raw, class(query_idx), found))
}

// ---------------------------------------------------------------------------------------------------------------
// A change map from a model trained here.

/// The recipe of the notebook's change model: `weights` (a backbone file, or random), frozen, a U-Net decoder
/// trained `epochs` epochs on at most `max_tiles` tiles of `tile_size` px per epoch, batch 8.
pub fn quick_change_config(weights: Option<&Path>, epochs: usize, tile_size: usize, max_tiles: usize) -> DenseConfig {
    DenseConfig {
        weights: weights.map_or("random".into(), |w| w.display().to_string()),
        epochs,
        tile_size,
        batch_size: 8,
        max_tiles_per_epoch: Some(max_tiles),
        ..Default::default()
    }
}

/// The top-left `size x size` of a pair (the whole pair when it is smaller).
pub fn crop_pair(pair: &ChangePair, size: usize) -> ChangePair {
    let (h, w) = (pair.a.height.min(size), pair.a.width.min(size));
    ChangePair {
        name: pair.name.clone(),
        a: crop(&pair.a, 0, 0, h, w),
        b: crop(&pair.b, 0, 0, h, w),
        label: pair.label.crop(0, 0, h, w),
    }
}

/// What [`quick_change_map`] trained and predicted.
pub struct QuickChange {
    /// Mean BCE of every epoch.
    pub epoch_losses: Vec<f64>,
    /// Change probability of every pixel of the test pair.
    pub probability: Vec<f32>,
    /// Counts of the test pair at p > 0.5.
    pub counts: BinaryCounts,
    /// The library's overlay: A | B with predicted change in red and the true outline in yellow | error map.
    pub overlay: image::RgbImage,
    pub seconds: f64,
}

/// Trains a Siamese U-Net per `config` on `train` and predicts `test` (at most `max_side` px per overlay panel).
pub fn quick_change_map(
    train: &[ChangePair],
    test: &ChangePair,
    config: &DenseConfig,
    max_side: usize,
    quiet: bool,
) -> Result<QuickChange> {
    let start = Instant::now();
    let model = ChangeModel::new(config, test.a.n_bands as i64, Device::Cpu)?;
    let epoch_losses = change_detection::train(&model, train, config, quiet)?;
    let probability = change_detection::predict(&model, test, config)?;
    let counts = BinaryCounts::from_probabilities(&probability, &test.label.data, THRESHOLD);
    let overlay = change_overlay(&test.a, &test.b, &probability, &test.label, max_side);
    Ok(QuickChange {
        epoch_losses,
        probability,
        counts,
        overlay,
        seconds: start.elapsed().as_secs_f64(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::change::ChangeLayout;
    use crate::data::eurosat::EurosatVariant;
    use crate::data::fake::change::{write_fake, FakeChange};
    use crate::data::fake::{FakeDataset, FakeEurosat};

    #[test]
    fn era_distances_agree_with_the_change_awareness_scores() {
        tch::manual_seed(5);
        let features = Tensor::randn([4, 10, 8], (Kind::Double, Device::Cpu));
        let changed = [true, false, true, false];
        let scores = awareness::scores(&features, &changed, 5, 0).unwrap();
        for l in 0..4 {
            let m = distance_matrix(&features.get(l)).unwrap();
            for i in 0..10 {
                assert_eq!(m[i][i], 0.0);
                for j in 0..10 {
                    assert!((m[i][j] - m[j][i]).abs() < 1e-12 && m[i][j] >= 0.0);
                }
            }
            let d = era_distances(&m, 5).unwrap();
            assert!((d.d_long - scores.d_long[l as usize]).abs() < 1e-9, "{d:?}");
            assert!((d.ratio - scores.ratio[l as usize]).abs() < 1e-9, "{d:?}");
        }
        // A hand case: 2 dates per era at 0, 90 | 0, 0 degrees: within pairs sqrt2 and 0, across 0, 0, sqrt2, sqrt2.
        let f = Tensor::from_slice(&[1.0f64, 0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 0.0]).view([4, 2]);
        let d = era_distances(&distance_matrix(&f).unwrap(), 2).unwrap();
        let s2 = 2f64.sqrt();
        assert!((d.d_short - s2 / 2.0).abs() < 1e-9 && (d.d_long - s2 / 2.0).abs() < 1e-9);
        assert!(era_distances(&distance_matrix(&f).unwrap(), 3).is_err());
    }

    #[test]
    fn a_small_series_is_embedded_and_read_per_location() {
        let dir = tempfile::tempdir().unwrap();
        FakeEurosat::with_eurosat_classes(2, 0)
            .write(&dir.path().join("eurosat"))
            .unwrap();
        let eurosat = Eurosat::open(dir.path().join("eurosat"), EurosatVariant::Rgb).unwrap();
        let root = small_series(&eurosat, &dir.path().join("series"), 10, 3, true).unwrap();
        let backbone = load_backbone(None).unwrap();
        assert!(backbone.description.contains("random init"));
        let s = SeriesEmbeddings::embed(&backbone, &root, true).unwrap();
        assert_eq!(s.n_locations(), 10);
        assert_eq!(s.features.size(), [10, 10, 512]);
        assert_eq!(
            s.changed.iter().filter(|&&c| c).count(),
            3,
            "30 % of 10 locations changed"
        );
        let changed = s.first_location(true).unwrap();
        assert!(s.changed[changed] && !s.changed[s.first_location(false).unwrap()]);
        let (id, dates) = s.dates(changed).unwrap();
        assert_eq!(id, s.series.locations[changed].id);
        assert_eq!(dates.len(), 10);
        assert!(dates[0].0 < dates[9].0 && dates[0].1.height == 64);
        let population = s.population().unwrap();
        assert_eq!(population[changed], s.era_distances(changed).unwrap());
        assert!(population.iter().all(|d| d.d_short > 0.0 && d.ratio.is_finite()));
        let view = s.location_view(changed).unwrap();
        assert_eq!((view.dates.len(), view.population.len()), (10, 10));
        assert_eq!(view.ratio, population[changed].ratio);
        assert_eq!(view.population.iter().filter(|p| p.1).count(), 3);
        let err = s.dates(10).unwrap_err().to_string();
        assert!(err.contains("location 10") && err.contains("has 10"), "{err}");
    }

    #[test]
    fn neighbours_exclude_the_query_and_come_nearest_first() {
        let dir = tempfile::tempdir().unwrap();
        FakeEurosat::with_eurosat_classes(3, 1).write(dir.path()).unwrap();
        let eurosat = Eurosat::open(dir.path(), EurosatVariant::Rgb).unwrap();
        let backbone = load_backbone(None).unwrap();
        let indices: Vec<usize> = (0..eurosat.len()).collect();
        let g = gallery(&backbone, &eurosat, &indices, true).unwrap();
        let query = eurosat.samples[4].rel_path.clone();
        let (image, class, found) = neighbours(&backbone, &eurosat, &g, &query, 5).unwrap();
        assert_eq!(found.len(), 5);
        assert_eq!(class, eurosat.classes[eurosat.samples[4].class_idx]);
        assert_eq!(image.data, eurosat.load(4).unwrap().data);
        // The same order as a brute-force cosine ranking of the stored features without the query.
        let f = &g.features.features;
        let f = f / f.norm_scalaropt_dim(2.0, [1i64].as_slice(), true);
        let sims: Vec<f32> = Vec::try_from(f.matmul(&f.get(4).unsqueeze(1)).squeeze()).unwrap();
        let mut order: Vec<usize> = (0..eurosat.len()).filter(|&i| i != 4).collect();
        order.sort_by(|&a, &b| sims[b].total_cmp(&sims[a]));
        for (k, (img, _)) in found.iter().enumerate() {
            assert_eq!(img.data, eurosat.load(order[k]).unwrap().data, "neighbour {k}");
        }
        let err = neighbours(&backbone, &eurosat, &g, "Forest/nope.jpg", 3)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("Forest/nope.jpg") && err.contains("expected a path"),
            "{err}"
        );
    }

    #[test]
    fn a_quick_change_model_trains_and_maps_a_pair() {
        let dir = tempfile::tempdir().unwrap();
        let spec = FakeChange {
            layout: ChangeLayout::default(),
            n_pairs: [2, 0, 1],
            height: 48,
            width: 48,
            seed: 0,
        };
        let pairs = write_fake(dir.path(), &spec).unwrap();
        let test = crop_pair(&pairs[2], 32);
        assert_eq!((test.a.height, test.b.width, test.label.height), (32, 32, 32));
        let config = quick_change_config(None, 2, 32, 4);
        let out = quick_change_map(&pairs[..2], &test, &config, 64, true).unwrap();
        assert_eq!(out.epoch_losses.len(), 2);
        assert!(out.epoch_losses.iter().all(|l| l.is_finite() && *l > 0.0));
        assert_eq!(out.probability.len(), 32 * 32);
        assert_eq!(out.counts.total(), 32 * 32);
        assert!(out.probability.iter().all(|p| (0.0..=1.0).contains(p)));
        let expected = change_overlay(&test.a, &test.b, &out.probability, &test.label, 64);
        assert_eq!(out.overlay.dimensions(), expected.dimensions());
    }
}
