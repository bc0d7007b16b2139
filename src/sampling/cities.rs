//! The world-cities table behind SeCo's location sampler ("one of the 10,000 most populous cities", METHODS.md).
//! Any vector file GDAL/OGR opens works: Natural Earth's populated places (public domain; shapefile, zipped
//! shapefile, GeoJSON), a GeoPackage, or a CSV such as the ones the tests generate. Columns are matched without
//! regard to case: a name (`name`, `nameascii`, `city_ascii`, `city`), a population (`pop_max`, `population`,
//! `pop`) and coordinates (`longitude`/`lon`/`lng`, `latitude`/`lat`, else the point geometry).

use std::path::Path;

use crate::{Error, Result};

/// One populated place.
#[derive(Debug, Clone, PartialEq)]
pub struct City {
    pub name: String,
    /// Degrees, WGS84.
    pub lon: f64,
    pub lat: f64,
    pub population: f64,
}

/// Cities sorted by population, most populous first (ties by name).
#[derive(Debug, Clone)]
pub struct CityTable {
    pub cities: Vec<City>,
}

#[cfg(feature = "gdal")]
const NAME_FIELDS: [&str; 4] = ["name", "nameascii", "city_ascii", "city"];
#[cfg(feature = "gdal")]
const POPULATION_FIELDS: [&str; 3] = ["pop_max", "population", "pop"];
#[cfg(feature = "gdal")]
const LON_FIELDS: [&str; 3] = ["longitude", "lon", "lng"];
#[cfg(feature = "gdal")]
const LAT_FIELDS: [&str; 2] = ["latitude", "lat"];

impl CityTable {
    /// Sorts `cities` and checks them: finite coordinates in range, a non-negative population, at least one city.
    /// `source` names the table in errors.
    pub fn new(mut cities: Vec<City>, source: &Path) -> Result<Self> {
        if let Some(c) = cities.iter().find(|c| {
            !(c.lon.is_finite() && c.lat.is_finite() && c.lon.abs() <= 180.0 && c.lat.abs() <= 90.0)
                || !(c.population >= 0.0)
        }) {
            return Err(Error::bad_input(
                source,
                format!(
                    "city `{}` has lon {}, lat {}, population {}",
                    c.name, c.lon, c.lat, c.population
                ),
            ));
        }
        if cities.is_empty() {
            return Err(Error::bad_input(source, "no cities in the table"));
        }
        cities.sort_by(|a, b| b.population.total_cmp(&a.population).then_with(|| a.name.cmp(&b.name)));
        Ok(CityTable { cities })
    }

    /// The `n` most populous cities (all of them if the table is shorter).
    pub fn most_populous(&self, n: usize) -> &[City] {
        &self.cities[..n.min(self.cities.len())]
    }

    /// Reads a table through GDAL/OGR (first layer). A `.zip` is opened through `/vsizip/`. Rows without a
    /// population or coordinates, and places with a negative population (Natural Earth's -99), are left out.
    #[cfg(feature = "gdal")]
    pub fn read(path: &Path) -> Result<Self> {
        use gdal::vector::LayerAccess;
        if !path.is_file() {
            return Err(Error::DatasetNotFound {
                dataset: "world cities".into(),
                root: path.to_path_buf(),
                hint: "`cargo xtask data download world-cities` (Natural Earth populated places, public domain), or \
                       --cities <any table with name, population, latitude and longitude>"
                    .into(),
            });
        }
        let gdal_path = match path.extension().and_then(|e| e.to_str()) {
            Some(ext) if ext.eq_ignore_ascii_case("zip") => format!("/vsizip/{}", path.display()),
            _ => path.display().to_string(),
        };
        let dataset = gdal::Dataset::open(&gdal_path)
            .map_err(|e| Error::bad_input(path, format!("GDAL/OGR cannot open it: {e}")))?;
        let mut layer = dataset
            .layer(0)
            .map_err(|e| Error::bad_input(path, format!("no vector layer: {e}")))?;
        let names: Vec<String> = layer.defn().fields().map(|f| f.name().to_lowercase()).collect();
        let find = |candidates: &[&str]| candidates.iter().find_map(|c| names.iter().position(|n| n == c));
        let (name_idx, pop_idx) = (find(&NAME_FIELDS), find(&POPULATION_FIELDS));
        let (lon_idx, lat_idx) = (find(&LON_FIELDS), find(&LAT_FIELDS));
        let Some(pop_idx) = pop_idx else {
            return Err(Error::bad_input(
                path,
                format!("no population column (one of {POPULATION_FIELDS:?}; columns: {names:?})"),
            ));
        };
        let mut cities = Vec::new();
        for feature in layer.features() {
            let double = |idx: Option<usize>| idx.and_then(|i| feature.field_as_double(i).ok().flatten());
            let (mut lon, mut lat) = (double(lon_idx), double(lat_idx));
            if lon.is_none() || lat.is_none() {
                if let Some(geometry) = feature.geometry() {
                    if geometry.point_count() == 1 {
                        let (x, y, _) = geometry.get_point(0);
                        (lon, lat) = (Some(x), Some(y));
                    }
                }
            }
            let (Some(lon), Some(lat), Some(population)) = (lon, lat, double(Some(pop_idx))) else {
                continue;
            };
            if population < 0.0 {
                continue;
            }
            let name = name_idx
                .and_then(|i| feature.field_as_string(i).ok().flatten())
                .unwrap_or_default();
            cities.push(City {
                name,
                lon,
                lat,
                population,
            });
        }
        CityTable::new(cities, path)
    }
}

/// Writes `cities` as a CSV table (`name,population,latitude,longitude`) that [`CityTable::read`] reads: the
/// generated tables of the tests, or a hand-made list.
pub fn write_csv(path: &Path, cities: &[City]) -> Result<()> {
    let mut text = String::from("name,population,latitude,longitude\n");
    for c in cities {
        let name = c.name.replace('"', "'");
        text.push_str(&format!("\"{name}\",{},{},{}\n", c.population, c.lat, c.lon));
    }
    std::fs::write(path, text).map_err(|e| Error::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn city(name: &str, lon: f64, lat: f64, population: f64) -> City {
        City {
            name: name.into(),
            lon,
            lat,
            population,
        }
    }

    #[test]
    fn table_is_sorted_by_population_and_checked() {
        let table = CityTable::new(
            vec![
                city("b", 1.0, 2.0, 10.0),
                city("a", 3.0, 4.0, 30.0),
                city("c", 5.0, 6.0, 10.0),
            ],
            Path::new("t.csv"),
        )
        .unwrap();
        let names: Vec<&str> = table.cities.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["a", "b", "c"]);
        assert_eq!(table.most_populous(2).len(), 2);
        assert_eq!(table.most_populous(99).len(), 3);
        let err = CityTable::new(vec![city("x", 200.0, 0.0, 1.0)], Path::new("t.csv")).unwrap_err();
        assert!(
            err.to_string().contains("t.csv") && err.to_string().contains("city `x`"),
            "{err}"
        );
        assert!(CityTable::new(vec![], Path::new("t.csv")).is_err());
    }

    #[cfg(feature = "gdal")]
    #[test]
    fn csv_and_geojson_tables_are_read_through_ogr() {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("cities.csv");
        write_csv(
            &csv,
            &[city("Small, Town", -3.5, 40.25, 1000.0), city("Big", 2.35, 48.85, 2e6)],
        )
        .unwrap();
        let table = CityTable::read(&csv).unwrap();
        assert_eq!(table.cities[0], city("Big", 2.35, 48.85, 2e6));
        assert_eq!(table.cities[1].name, "Small, Town");

        // Natural Earth style: upper-case POP_MAX, coordinates only in the geometry, a -99 population left out.
        let geojson = dir.path().join("places.geojson");
        std::fs::write(
            &geojson,
            r#"{"type":"FeatureCollection","features":[
              {"type":"Feature","properties":{"NAME":"Lagos","POP_MAX":9466000},
               "geometry":{"type":"Point","coordinates":[3.39,6.45]}},
              {"type":"Feature","properties":{"NAME":"Nowhere","POP_MAX":-99},
               "geometry":{"type":"Point","coordinates":[0,0]}}]}"#,
        )
        .unwrap();
        let table = CityTable::read(&geojson).unwrap();
        assert_eq!(table.cities, vec![city("Lagos", 3.39, 6.45, 9466000.0)]);

        let msg = CityTable::read(&dir.path().join("missing.zip"))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("world cities") && msg.contains("download"), "{msg}");
        std::fs::write(dir.path().join("bad.csv"), "name,lat,lon\nx,1,2\n").unwrap();
        let msg = CityTable::read(&dir.path().join("bad.csv")).unwrap_err().to_string();
        assert!(msg.contains("no population column"), "{msg}");
    }
}
