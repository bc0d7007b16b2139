//! How a dataset item becomes the views of one training step, and how items are ordered into batches.
//!
//! - [`Units`]: what one index of an epoch is (METHODS.md "The baselines on the CACo layout"): a location era
//!   (TeCo, CACo), a location with all its dates (SeCo; GASSL on the CACo layout), or every image (MoCo-v2 on the
//!   CACo layout). Steps per epoch follow from the number of units.
//! - [`SeasonalViews`] (SeCo, TeCo, CACo): three dates t0, t1, t2 of the unit, drawn with replacement (SeCo, TeCo)
//!   or distinct (CACo), give q = crop(t0), k0 = crop(aug(t1)) (season + augmentation), k1 = crop(t2) (season
//!   only), k2 = crop(aug(t0)) (augmentation only), as SeCo's `augment` then `preprocess`.
//! - [`TemporalViews`] (MoCo-v2, GASSL): q = aug(t_a), k = aug(t_b) with t_b the same date (MoCo-v2), another
//!   date (GASSL on the SeCo layout) or a second draw with replacement (GASSL's temporal positive on the CACo
//!   layout, the authors' `moco_tp`).
//! - [`shuffled_batches`] (SeCo, MoCo, GASSL) and [`paired_batches`] (CACo: locations shuffled, the two eras of a
//!   location adjacent, so each batch holds B/2 (older, recent) pairs).

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use super::augment::{appearance_augment, augment, random_resized_crop, AugmentConfig};
use super::timeseries::{Layout, Product, TimeSeries};
use super::{Image, Normalization};
use crate::{Error, Result};

/// Produces the views of one item. Implementations must draw all randomness from `rng`.
pub trait ItemViews: Sync {
    /// Views per item (4 for SeCo/CACo, 2 for MoCo/GASSL).
    fn n_views(&self) -> usize;
    /// The normalised views of `item_idx`, each `[n_bands, out_size, out_size]`.
    fn views(&self, item_idx: usize, rng: &mut rand::rngs::StdRng) -> Result<Vec<Image>>;
}

/// What one index of a pre-training epoch stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SamplingUnit {
    /// One era of a location (CACo layout: index 2k older era of location k, 2k + 1 its recent era; on the SeCo
    /// layout, a location).
    EraItem,
    /// A location with every date of both eras.
    Location,
    /// Every image (product folder) of every location.
    Image,
}

/// The sampling units of a time series: how many there are, and the dates each one draws from.
pub struct Units<'a> {
    pub series: &'a TimeSeries,
    pub unit: SamplingUnit,
    /// Image units: (location, product) of every unit.
    images: Vec<(usize, usize)>,
}

impl<'a> Units<'a> {
    pub fn new(series: &'a TimeSeries, unit: SamplingUnit) -> Self {
        let images = match unit {
            SamplingUnit::Image => series
                .locations
                .iter()
                .enumerate()
                .flat_map(|(l, loc)| (0..loc.products.len()).map(move |p| (l, p)))
                .collect(),
            _ => Vec::new(),
        };
        Units { series, unit, images }
    }

    /// Number of units (dataset indices of an epoch).
    pub fn len(&self) -> usize {
        match self.unit {
            SamplingUnit::EraItem => self.series.n_items(),
            SamplingUnit::Location => self.series.locations.len(),
            SamplingUnit::Image => self.images.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn location_idx(&self, idx: usize) -> usize {
        match self.unit {
            SamplingUnit::EraItem => self.series.location_idx(idx),
            SamplingUnit::Location => idx,
            SamplingUnit::Image => self.images[idx].0,
        }
    }

    /// Era of a unit: 0 older / 1 recent for era items of the CACo layout, 0 otherwise.
    pub fn era(&self, idx: usize) -> i64 {
        match self.unit {
            SamplingUnit::EraItem => self.series.era(idx) as i64,
            _ => 0,
        }
    }

    /// The dates a unit's views are drawn from.
    pub fn products(&self, idx: usize) -> &'a [Product] {
        match self.unit {
            SamplingUnit::EraItem => self.series.item_products(idx),
            SamplingUnit::Location => &self.series.locations[idx].products,
            SamplingUnit::Image => {
                let (l, p) = self.images[idx];
                std::slice::from_ref(&self.series.locations[l].products[p])
            }
        }
    }

    /// The unit of each method on each layout (METHODS.md): TeCo/CACo an era item; SeCo a location (3 of its
    /// dates with replacement); GASSL a location; MoCo-v2 every image on the CACo layout. The SeCo layout has
    /// one era, so every method's unit there is a location.
    pub fn for_method(method_paired: bool, method_is_moco: bool, layout: Layout) -> SamplingUnit {
        match (layout, method_paired, method_is_moco) {
            (Layout::Seco | Layout::Ssl4eoS12, _, _) => SamplingUnit::Location,
            (Layout::Caco, true, _) => SamplingUnit::EraItem,
            (Layout::Caco, false, true) => SamplingUnit::Image,
            (Layout::Caco, false, false) => SamplingUnit::Location,
        }
    }
}

/// How the three dates of a seasonal step are drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateDraw {
    /// SeCo and TeCo: with replacement among the unit's dates.
    WithReplacement,
    /// CACo: three distinct dates of the unit (an era).
    Distinct,
}

/// SeCo/TeCo/CACo views from a time series.
pub struct SeasonalViews<'a> {
    pub units: &'a Units<'a>,
    pub augment: AugmentConfig,
    pub normalization: Normalization,
    pub draw: DateDraw,
}

impl<'a> SeasonalViews<'a> {
    pub fn new(
        units: &'a Units<'a>,
        augment: AugmentConfig,
        normalization: Normalization,
        draw: DateDraw,
    ) -> Result<Self> {
        let series = units.series;
        augment.validate()?;
        normalization.validate(series.options.bands.len())?;
        if draw == DateDraw::Distinct && series.options.dates_per_era < 3 {
            return Err(Error::Config(format!(
                "distinct-date views need 3 dates per era, the series has {}",
                series.options.dates_per_era
            )));
        }
        Ok(SeasonalViews {
            units,
            augment,
            normalization,
            draw,
        })
    }
}

/// Indices of three dates among `n`.
pub fn draw_dates(n: usize, draw: DateDraw, rng: &mut impl Rng) -> [usize; 3] {
    match draw {
        DateDraw::WithReplacement => [rng.random_range(0..n), rng.random_range(0..n), rng.random_range(0..n)],
        DateDraw::Distinct => {
            let picked = rand::seq::index::sample(rng, n, 3);
            [picked.index(0), picked.index(1), picked.index(2)]
        }
    }
}

/// Loads the distinct products among `picks` once each.
fn load_picks(series: &TimeSeries, products: &[Product], picks: &[usize]) -> Result<Vec<Image>> {
    let mut cache: Vec<(usize, Image)> = Vec::with_capacity(picks.len());
    picks
        .iter()
        .map(|&p| {
            if let Some((_, img)) = cache.iter().find(|(q, _)| *q == p) {
                return Ok(img.clone());
            }
            let img = series.load(&products[p])?;
            cache.push((p, img.clone()));
            Ok(img)
        })
        .collect()
}

impl ItemViews for SeasonalViews<'_> {
    fn n_views(&self) -> usize {
        4
    }

    fn views(&self, item_idx: usize, rng: &mut rand::rngs::StdRng) -> Result<Vec<Image>> {
        let products = self.units.products(item_idx);
        let picks = draw_dates(products.len(), self.draw, rng);
        let [t0, t1, t2]: [Image; 3] = load_picks(self.units.series, products, &picks)?
            .try_into()
            .expect("three dates");
        let a = &self.augment;
        let crop = |img: &Image, rng: &mut rand::rngs::StdRng| {
            random_resized_crop(img, a.out_size, a.crop_scale, a.crop_ratio, rng)
        };
        let q = crop(&t0, rng);
        let k0 = crop(&appearance_augment(&t1, a, rng), rng);
        let k1 = crop(&t2, rng);
        let k2 = crop(&appearance_augment(&t0, a, rng), rng);
        let mut views = vec![q, k0, k1, k2];
        views.iter_mut().for_each(|v| self.normalization.apply(v));
        Ok(views)
    }
}

/// How the key's date of a MoCo-v2 / GASSL step is chosen, given the query's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PositiveDate {
    /// MoCo-v2: the query's image.
    Same,
    /// GASSL on the SeCo layout: another date of the place (the same image if there is only one).
    Other,
    /// GASSL's temporal positive on the CACo layout (`moco_tp`): 2 of the unit's dates drawn with replacement.
    WithReplacement,
}

/// MoCo-v2 / GASSL views: two augmented dates of one place.
pub struct TemporalViews<'a> {
    pub units: &'a Units<'a>,
    pub augment: AugmentConfig,
    pub normalization: Normalization,
    pub positive: PositiveDate,
}

impl ItemViews for TemporalViews<'_> {
    fn n_views(&self) -> usize {
        2
    }

    fn views(&self, item_idx: usize, rng: &mut rand::rngs::StdRng) -> Result<Vec<Image>> {
        let products = self.units.products(item_idx);
        let n = products.len();
        let a = rng.random_range(0..n);
        let b = match self.positive {
            PositiveDate::Same => a,
            PositiveDate::Other if n > 1 => (a + rng.random_range(1..n)) % n,
            PositiveDate::Other => a,
            PositiveDate::WithReplacement => rng.random_range(0..n),
        };
        let images = load_picks(self.units.series, products, &[a, b])?;
        let mut views: Vec<Image> = images.iter().map(|img| augment(img, &self.augment, rng)).collect();
        views.iter_mut().for_each(|v| self.normalization.apply(v));
        Ok(views)
    }
}

/// A seeded RNG per (seed, epoch, stream): independent of thread count and scheduling.
pub fn rng_for(seed: u64, epoch: u64, stream: u64) -> rand::rngs::StdRng {
    // splitmix64 of the three, so nearby inputs give unrelated seeds.
    let mut z = seed ^ epoch.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ stream.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    rand::rngs::StdRng::seed_from_u64(z ^ (z >> 31))
}

/// Items `0..n_items` shuffled for `epoch` and cut into batches (the last one dropped if short and `drop_last`).
pub fn shuffled_batches(
    n_items: usize,
    batch_size: usize,
    seed: u64,
    epoch: u64,
    drop_last: bool,
) -> Result<Vec<Vec<usize>>> {
    if batch_size == 0 {
        return Err(Error::Config("batch_size must be > 0".into()));
    }
    let mut order: Vec<usize> = (0..n_items).collect();
    order.shuffle(&mut rng_for(seed, epoch, u64::MAX));
    Ok(cut(order, batch_size, drop_last))
}

/// CACo's sampler: locations shuffled for `epoch`, each contributing its older era (item 2k) followed by its
/// recent era (2k+1), cut into batches of `batch_size` (even) so that pairs never straddle two batches.
pub fn paired_batches(
    n_locations: usize,
    batch_size: usize,
    seed: u64,
    epoch: u64,
    drop_last: bool,
) -> Result<Vec<Vec<usize>>> {
    if batch_size == 0 || batch_size % 2 != 0 {
        return Err(Error::Config(format!(
            "CACo's paired sampler needs an even batch_size > 0, got {batch_size}"
        )));
    }
    let mut locations: Vec<usize> = (0..n_locations).collect();
    locations.shuffle(&mut rng_for(seed, epoch, u64::MAX));
    let order = locations.into_iter().flat_map(|k| [2 * k, 2 * k + 1]).collect();
    Ok(cut(order, batch_size, drop_last))
}

fn cut(order: Vec<usize>, batch_size: usize, drop_last: bool) -> Vec<Vec<usize>> {
    order
        .chunks(batch_size)
        .filter(|c| !drop_last || c.len() == batch_size)
        .map(<[usize]>::to_vec)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::fake::timeseries::{write_timeseries, FakeTimeSeries};
    use crate::data::timeseries::{Layout, TimeSeriesOptions, RGB_BANDS};

    #[test]
    fn paired_batches_keep_eras_adjacent_and_cover_every_item_once() {
        let batches = paired_batches(7, 4, 1, 0, false).unwrap();
        assert_eq!(batches.iter().map(Vec::len).collect::<Vec<_>>(), vec![4, 4, 4, 2]);
        let mut all: Vec<usize> = batches.concat();
        for batch in &batches {
            for pair in batch.chunks(2) {
                assert_eq!((pair[0] % 2, pair[1]), (0, pair[0] + 1), "{batch:?}");
            }
        }
        all.sort_unstable();
        assert_eq!(all, (0..14).collect::<Vec<_>>());
        assert_ne!(paired_batches(7, 4, 1, 1, false).unwrap(), batches, "epochs reshuffle");
        assert_eq!(paired_batches(7, 4, 1, 0, true).unwrap().len(), 3);
        assert!(paired_batches(7, 3, 1, 0, false)
            .unwrap_err()
            .to_string()
            .contains("even batch_size"));
    }

    #[test]
    fn shuffled_batches_are_a_seeded_permutation() {
        let a = shuffled_batches(10, 3, 5, 2, false).unwrap();
        assert_eq!(a, shuffled_batches(10, 3, 5, 2, false).unwrap());
        let mut all = a.concat();
        all.sort_unstable();
        assert_eq!(all, (0..10).collect::<Vec<_>>());
        assert_eq!(shuffled_batches(10, 3, 5, 2, true).unwrap().len(), 3);
    }

    #[test]
    fn date_draws_follow_the_scheme() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(0);
        let mut repeats = 0;
        for _ in 0..200 {
            let d = draw_dates(5, DateDraw::Distinct, &mut rng);
            assert!(d[0] != d[1] && d[1] != d[2] && d[0] != d[2] && d.iter().all(|&i| i < 5));
            let r = draw_dates(5, DateDraw::WithReplacement, &mut rng);
            repeats += usize::from(r[0] == r[1] || r[1] == r[2] || r[0] == r[2]);
        }
        assert!(repeats > 50, "with replacement repeats dates ({repeats} of 200)");
    }

    #[test]
    fn seasonal_views_have_the_configured_shape_and_depend_only_on_the_seed() {
        let dir = tempfile::tempdir().unwrap();
        let spec = FakeTimeSeries {
            layout: Layout::Caco,
            n_locations: 2,
            dates_per_era: 5,
            bands: RGB_BANDS.iter().map(|b| b.to_string()).collect(),
            size: 24,
            seed: 1,
        };
        write_timeseries(dir.path(), &spec).unwrap();
        let ts = TimeSeries::open(dir.path(), TimeSeriesOptions::new(Layout::Caco, &RGB_BANDS)).unwrap();
        let aug = AugmentConfig {
            out_size: 16,
            ..Default::default()
        };
        let era_items = Units::new(&ts, SamplingUnit::EraItem);
        let views = SeasonalViews::new(
            &era_items,
            aug.clone(),
            Normalization::Imagenet,
            DateDraw::Distinct,
        )
        .unwrap();
        let v = views.views(3, &mut rng_for(0, 0, 3)).unwrap();
        assert_eq!(v.len(), 4);
        assert!(v.iter().all(|i| (i.n_bands, i.height, i.width) == (3, 16, 16)));
        // Normalised: ImageNet-normalised 8-bit values lie within about [-2.2, 2.7].
        assert!(v.iter().flat_map(|i| &i.data).all(|x| (-2.2..2.7).contains(x)));
        assert_eq!(v, views.views(3, &mut rng_for(0, 0, 3)).unwrap());
        assert_ne!(v, views.views(3, &mut rng_for(1, 0, 3)).unwrap());
        let locations = Units::new(&ts, SamplingUnit::Location);
        let gassl = TemporalViews {
            units: &locations,
            augment: aug,
            normalization: Normalization::Imagenet,
            positive: PositiveDate::WithReplacement,
        };
        assert_eq!(gassl.views(0, &mut rng_for(0, 0, 0)).unwrap().len(), 2);
    }

    #[test]
    fn sampling_units_follow_the_authors_data_modes_on_the_caco_layout() {
        let dir = tempfile::tempdir().unwrap();
        let spec = FakeTimeSeries {
            layout: Layout::Caco,
            n_locations: 3,
            dates_per_era: 5,
            bands: RGB_BANDS.iter().map(|b| b.to_string()).collect(),
            size: 8,
            seed: 2,
        };
        write_timeseries(dir.path(), &spec).unwrap();
        let ts = TimeSeries::open(dir.path(), TimeSeriesOptions::new(Layout::Caco, &RGB_BANDS)).unwrap();
        // TeCo/CACo: era items of 5 dates; SeCo/GASSL: locations of 10 dates; MoCo-v2: every image.
        assert_eq!(Units::for_method(true, false, Layout::Caco), SamplingUnit::EraItem);
        assert_eq!(Units::for_method(false, false, Layout::Caco), SamplingUnit::Location);
        assert_eq!(Units::for_method(false, true, Layout::Caco), SamplingUnit::Image);
        assert_eq!(Units::for_method(false, true, Layout::Seco), SamplingUnit::Location);
        let era = Units::new(&ts, SamplingUnit::EraItem);
        assert_eq!(
            (era.len(), era.products(3).len(), era.era(3), era.location_idx(3)),
            (6, 5, 1, 1)
        );
        assert_eq!(era.products(3), &ts.locations[1].products[5..]);
        let loc = Units::new(&ts, SamplingUnit::Location);
        assert_eq!((loc.len(), loc.products(2).len(), loc.era(1)), (3, 10, 0));
        let img = Units::new(&ts, SamplingUnit::Image);
        assert_eq!(img.len(), 30);
        assert_eq!(img.products(13), std::slice::from_ref(&ts.locations[1].products[3]));
        assert_eq!(img.location_idx(29), 2);
    }
}
