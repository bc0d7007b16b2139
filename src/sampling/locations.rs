//! Where to sample. Two samplers over a [`CityTable`]:
//!
//! - **SeCo** (Mañas et al. 2021, METHODS.md): one of the `n_cities` most populous cities, uniformly, then an offset
//!   drawn from an isotropic Gaussian of `sigma_km` (default 50 km) per axis, converted to degrees with the
//!   latitude correction (one degree of longitude is cos(lat) times shorter than one of latitude).
//! - **Geography** (a CACo-style design; the authors' "geography-aware" sampler was never released): a mixture of
//!   three strata, so that long-term change is neither rare nor dominant across the dataset.
//!   - *urban* (weight 0.4): one of the `n_cities` most populous cities, Gaussian offset of `urban_sigma_km`
//!     (default 8 km): city cores and their edges, where construction makes change common;
//!   - *peri-urban* (0.3): the same cities, a point uniform over the annulus `periurban_km` (10-50 km): suburbs
//!     and farmland next to growing cities, a mix of change and stable land;
//!   - *rural* (0.3): geographically spread: a cell of a `cell_deg` (10°) lon/lat grid drawn uniformly among the
//!     cells that hold any place of the table, then any place in that cell (not only large cities), then a point
//!     uniform over the annulus `rural_km` (20-100 km): forests, cropland, drylands, mostly stable apart from
//!     seasons; the grid keeps densely settled regions from taking every rural draw.
//!
//!   Each location records its stratum and reference place in `metadata.json`.
//!
//! Latitudes are kept within ±84° (Sentinel-2's UTM tiling and the MGRS grid end there) and longitudes are wrapped
//! into [-180, 180).

use std::collections::BTreeMap;

use rand::Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

use super::cities::{City, CityTable};
use crate::{Error, Result};

/// Kilometres per degree of latitude on a sphere of radius 6371 km.
pub const KM_PER_DEGREE: f64 = 6371.0 * std::f64::consts::PI / 180.0;

/// The largest |latitude| a location may have.
pub const MAX_ABS_LAT: f64 = 84.0;

/// The point `east_km` east and `north_km` north of (`lon`, `lat`), in degrees (local flat-earth approximation,
/// fine for offsets of a few hundred km), latitude clamped to ±[`MAX_ABS_LAT`], longitude wrapped.
pub fn offset_point(lon: f64, lat: f64, east_km: f64, north_km: f64) -> (f64, f64) {
    let new_lat = (lat + north_km / KM_PER_DEGREE).clamp(-MAX_ABS_LAT, MAX_ABS_LAT);
    let cos_lat = lat.to_radians().cos().max(0.05);
    let new_lon = (lon + east_km / (KM_PER_DEGREE * cos_lat) + 180.0).rem_euclid(360.0) - 180.0;
    (new_lon, new_lat)
}

/// Great-circle distance in km (haversine).
pub fn distance_km(lon1: f64, lat1: f64, lon2: f64, lat2: f64) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let (dp, dl) = (p2 - p1, (lon2 - lon1).to_radians());
    let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * 6371.0 * a.sqrt().min(1.0).asin()
}

/// The stratum a location was drawn from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stratum {
    /// SeCo's sampler: around a populous city.
    City,
    Urban,
    PeriUrban,
    Rural,
}

/// A drawn location and how it was drawn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SampledLocation {
    pub lon: f64,
    pub lat: f64,
    pub stratum: Stratum,
    /// The city or place the offset started from.
    pub place: String,
    pub place_lon: f64,
    pub place_lat: f64,
}

/// Settings of SeCo's sampler.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecoSampler {
    /// How many of the most populous cities to draw from (SeCo: 10,000).
    pub n_cities: usize,
    /// Standard deviation of the offset per axis, km (SeCo: about 50).
    pub sigma_km: f64,
}

impl Default for SecoSampler {
    fn default() -> Self {
        SecoSampler {
            n_cities: 10_000,
            sigma_km: 50.0,
        }
    }
}

/// Settings of the stratified geography sampler (see the module docs for the design).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeographySampler {
    /// Cities of the urban and peri-urban strata.
    pub n_cities: usize,
    /// Weights of the urban, peri-urban and rural strata (normalised).
    pub weights: [f64; 3],
    pub urban_sigma_km: f64,
    /// Inner and outer radius of the peri-urban annulus, km.
    pub periurban_km: [f64; 2],
    /// Inner and outer radius of the rural annulus, km.
    pub rural_km: [f64; 2],
    /// Grid cell size of the rural stratum's geographic balancing, degrees.
    pub cell_deg: f64,
}

impl Default for GeographySampler {
    fn default() -> Self {
        GeographySampler {
            n_cities: 10_000,
            weights: [0.4, 0.3, 0.3],
            urban_sigma_km: 8.0,
            periurban_km: [10.0, 50.0],
            rural_km: [20.0, 100.0],
            cell_deg: 10.0,
        }
    }
}

/// Which sampler to use.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind", deny_unknown_fields)]
pub enum SamplerConfig {
    Seco(SecoSampler),
    Geography(GeographySampler),
}

impl SamplerConfig {
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Config(format!("location sampler: {m}")));
        let annulus_ok = |r: [f64; 2]| r[0] >= 0.0 && r[0] < r[1] && r[1].is_finite();
        match self {
            SamplerConfig::Seco(s) if s.n_cities == 0 || !(s.sigma_km >= 0.0 && s.sigma_km.is_finite()) => {
                bad(format!(
                    "n_cities must be > 0 and sigma_km >= 0, got {} and {}",
                    s.n_cities, s.sigma_km
                ))
            }
            SamplerConfig::Geography(g) if g.n_cities == 0 => bad("n_cities must be > 0".into()),
            SamplerConfig::Geography(g)
                if g.weights.iter().any(|w| !(*w >= 0.0 && w.is_finite())) || g.weights.iter().sum::<f64>() <= 0.0 =>
            {
                bad(format!(
                    "stratum weights must be >= 0 with a positive sum, got {:?}",
                    g.weights
                ))
            }
            SamplerConfig::Geography(g)
                if !(g.urban_sigma_km >= 0.0) || !annulus_ok(g.periurban_km) || !annulus_ok(g.rural_km) =>
            {
                bad(format!(
                    "need urban_sigma_km >= 0 and annuli 0 <= inner < outer, got {}, {:?}, {:?}",
                    g.urban_sigma_km, g.periurban_km, g.rural_km
                ))
            }
            SamplerConfig::Geography(g) if !(g.cell_deg > 0.0 && g.cell_deg <= 180.0) => {
                bad(format!("cell_deg must be in (0, 180], got {}", g.cell_deg))
            }
            _ => Ok(()),
        }
    }
}

/// A sampler bound to its city table.
pub struct LocationSampler<'a> {
    config: SamplerConfig,
    top: &'a [City],
    /// Rural stratum: the places of each occupied grid cell.
    cells: Vec<Vec<&'a City>>,
}

impl<'a> LocationSampler<'a> {
    pub fn new(config: SamplerConfig, table: &'a CityTable) -> Result<Self> {
        config.validate()?;
        let (top, cells) = match &config {
            SamplerConfig::Seco(s) => (table.most_populous(s.n_cities), Vec::new()),
            SamplerConfig::Geography(g) => {
                let mut by_cell: BTreeMap<(i64, i64), Vec<&City>> = BTreeMap::new();
                for city in &table.cities {
                    let key = (
                        ((city.lon + 180.0) / g.cell_deg).floor() as i64,
                        ((city.lat + 90.0) / g.cell_deg).floor() as i64,
                    );
                    by_cell.entry(key).or_default().push(city);
                }
                (table.most_populous(g.n_cities), by_cell.into_values().collect())
            }
        };
        Ok(LocationSampler { config, top, cells })
    }

    /// How many cities the city-based strata draw from (less than asked if the table is shorter).
    pub fn n_cities(&self) -> usize {
        self.top.len()
    }

    /// Occupied grid cells of the rural stratum (0 for SeCo's sampler).
    pub fn n_cells(&self) -> usize {
        self.cells.len()
    }

    pub fn sample(&self, rng: &mut impl Rng) -> SampledLocation {
        match &self.config {
            SamplerConfig::Seco(s) => {
                let city = &self.top[rng.random_range(0..self.top.len())];
                gaussian_around(city, s.sigma_km, Stratum::City, rng)
            }
            SamplerConfig::Geography(g) => {
                let total: f64 = g.weights.iter().sum();
                let u = rng.random_range(0.0..total);
                if u < g.weights[0] {
                    let city = &self.top[rng.random_range(0..self.top.len())];
                    gaussian_around(city, g.urban_sigma_km, Stratum::Urban, rng)
                } else if u < g.weights[0] + g.weights[1] {
                    let city = &self.top[rng.random_range(0..self.top.len())];
                    annulus_around(city, g.periurban_km, Stratum::PeriUrban, rng)
                } else {
                    let cell = &self.cells[rng.random_range(0..self.cells.len())];
                    let place = cell[rng.random_range(0..cell.len())];
                    annulus_around(place, g.rural_km, Stratum::Rural, rng)
                }
            }
        }
    }
}

fn located(city: &City, (lon, lat): (f64, f64), stratum: Stratum) -> SampledLocation {
    SampledLocation {
        lon,
        lat,
        stratum,
        place: city.name.clone(),
        place_lon: city.lon,
        place_lat: city.lat,
    }
}

fn gaussian_around(city: &City, sigma_km: f64, stratum: Stratum, rng: &mut impl Rng) -> SampledLocation {
    let east: f64 = StandardNormal.sample(rng);
    let north: f64 = StandardNormal.sample(rng);
    located(
        city,
        offset_point(city.lon, city.lat, sigma_km * east, sigma_km * north),
        stratum,
    )
}

/// A point uniform over the annulus `radii` (uniform in area: r = sqrt(U(r0², r1²))).
fn annulus_around(city: &City, radii: [f64; 2], stratum: Stratum, rng: &mut impl Rng) -> SampledLocation {
    let r = rng.random_range(radii[0].powi(2)..radii[1].powi(2)).sqrt();
    let bearing = rng.random_range(0.0..std::f64::consts::TAU);
    located(
        city,
        offset_point(city.lon, city.lat, r * bearing.sin(), r * bearing.cos()),
        stratum,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use std::path::Path;

    fn table() -> CityTable {
        let mut cities = vec![
            City {
                name: "North".into(),
                lon: 10.0,
                lat: 60.0,
                population: 5e6,
            },
            City {
                name: "Equator".into(),
                lon: -60.0,
                lat: 0.0,
                population: 4e6,
            },
        ];
        // Many small places in one 10-degree cell: the rural stratum must not be dominated by them.
        for i in 0..50 {
            cities.push(City {
                name: format!("village{i}"),
                lon: 100.0 + 0.1 * i as f64,
                lat: 30.0,
                population: 100.0,
            });
        }
        CityTable::new(cities, Path::new("test")).unwrap()
    }

    #[test]
    fn offsets_are_corrected_for_latitude() {
        let (lon, lat) = offset_point(10.0, 60.0, 100.0, 0.0);
        assert!((lat - 60.0).abs() < 1e-12);
        // At 60° a degree of longitude is half as long: 100 km east is about 1.8°.
        assert!((lon - 10.0 - 2.0 * 100.0 / KM_PER_DEGREE).abs() < 1e-9);
        let (lon, lat) = offset_point(10.0, 60.0, 0.0, 100.0);
        assert!((lat - 60.0 - 100.0 / KM_PER_DEGREE).abs() < 1e-12 && lon == 10.0);
        assert_eq!(
            offset_point(179.9, 0.0, 2.0 * KM_PER_DEGREE / 10.0, 0.0).0.round(),
            -180.0
        );
        assert_eq!(offset_point(0.0, 83.0, 0.0, 500.0).1, MAX_ABS_LAT);
        assert!((distance_km(0.0, 0.0, 1.0, 0.0) - KM_PER_DEGREE).abs() < 1e-9);
        assert!((distance_km(10.0, 60.0, 12.0, 60.0) - KM_PER_DEGREE).abs() < 1.0);
    }

    #[test]
    fn seco_sampler_offsets_have_sigma_50_km_in_both_axes_at_high_latitude() {
        let table = table();
        let config = SamplerConfig::Seco(SecoSampler {
            n_cities: 1,
            sigma_km: 50.0,
        });
        let sampler = LocationSampler::new(config, &table).unwrap();
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let n = 4000;
        let (mut east2, mut north2) = (0.0, 0.0);
        for _ in 0..n {
            let loc = sampler.sample(&mut rng);
            assert_eq!((loc.place.as_str(), loc.stratum), ("North", Stratum::City));
            east2 += ((loc.lon - 10.0) * KM_PER_DEGREE * 60f64.to_radians().cos()).powi(2);
            north2 += ((loc.lat - 60.0) * KM_PER_DEGREE).powi(2);
        }
        let (sd_east, sd_north) = ((east2 / n as f64).sqrt(), (north2 / n as f64).sqrt());
        // 4000 draws: the standard deviation is within a few percent of 50 km (its standard error is ~1.1%).
        assert!(
            (sd_east - 50.0).abs() < 3.0 && (sd_north - 50.0).abs() < 3.0,
            "{sd_east} {sd_north}"
        );
    }

    #[test]
    fn geography_sampler_mixes_strata_at_their_distances_and_spreads_rural_draws() {
        let table = table();
        let config = GeographySampler {
            n_cities: 2,
            ..Default::default()
        };
        let sampler = LocationSampler::new(SamplerConfig::Geography(config.clone()), &table).unwrap();
        assert_eq!((sampler.n_cities(), sampler.n_cells()), (2, 3));
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let mut counts = BTreeMap::new();
        let mut village_rural = 0;
        let n = 3000;
        for _ in 0..n {
            let loc = sampler.sample(&mut rng);
            *counts.entry(loc.stratum).or_insert(0usize) += 1;
            let d = distance_km(loc.lon, loc.lat, loc.place_lon, loc.place_lat);
            match loc.stratum {
                Stratum::Urban => assert!(d < 8.0 * 6.0, "{d}"),
                Stratum::PeriUrban => assert!((9.9..50.5).contains(&d), "{d}"),
                Stratum::Rural => {
                    assert!((19.9..100.5).contains(&d), "{d}");
                    village_rural += loc.place.starts_with("village") as usize;
                }
                Stratum::City => panic!("SeCo stratum from the geography sampler"),
            }
        }
        let share = |s| counts[&s] as f64 / n as f64;
        assert!((share(Stratum::Urban) - 0.4).abs() < 0.04, "{counts:?}");
        assert!((share(Stratum::PeriUrban) - 0.3).abs() < 0.04, "{counts:?}");
        assert!((share(Stratum::Rural) - 0.3).abs() < 0.04, "{counts:?}");
        // 50 of the 52 places sit in one cell, but that cell gets about a third of the rural draws, not 96 %.
        let village_share = village_rural as f64 / counts[&Stratum::Rural] as f64;
        assert!((village_share - 1.0 / 3.0).abs() < 0.06, "{village_share}");
    }

    #[test]
    fn samplers_are_seeded_and_reject_bad_settings() {
        let table = table();
        let sampler = LocationSampler::new(SamplerConfig::Geography(Default::default()), &table).unwrap();
        let draw = |seed| sampler.sample(&mut rand::rngs::StdRng::seed_from_u64(seed));
        assert_eq!(draw(3), draw(3));
        assert_ne!(draw(3), draw(4));
        let bad = SamplerConfig::Geography(GeographySampler {
            periurban_km: [50.0, 10.0],
            ..Default::default()
        });
        assert!(bad.validate().unwrap_err().to_string().contains("annuli"));
        let bad = SamplerConfig::Seco(SecoSampler {
            n_cities: 0,
            sigma_km: 50.0,
        });
        assert!(bad.validate().is_err());
    }
}
