//! `caco sample` entirely on 127.0.0.1: a loopback HTTP server (`fetch::loopback`) serves a tiny STAC API and COGs
//! generated with GDAL; GDAL reads them through `/vsicurl/`. The sampled folders are read back by the time-series
//! reader, a re-run continues where the first stopped, and a sampled CACo dataset pre-trains for one step.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use caco::config::{ExperimentConfig, PretrainConfig};
use caco::data::dates::Date;
use caco::data::timeseries::{Layout, TimeSeries, TimeSeriesOptions, SENTINEL2_BANDS};
use caco::fetch::loopback::Server;
use caco::sampling::cities::{write_csv, City, CityTable};
use caco::sampling::fixtures::{reflectance, serve_stac, utm_epsg, write_scene, FixtureScene};
use caco::sampling::layout::SampledProduct;
use caco::sampling::locations::{LocationSampler, SamplerConfig, SecoSampler};
use caco::sampling::run::{draw, sample, FailureKind, SampleConfig};
use caco::sampling::schedule::ScheduleConfig;
use caco::sampling::stac::{HttpStac, Item};
use caco::train::{pretrain, PretrainOptions};

const BANDS: [&str; 5] = ["B4", "B3", "B2", "B11", "B1"];
const SIZE_PX: usize = 24;

/// Two cities with scenes and one (`Nowhere`) without any: its draws fail and are resampled.
fn cities() -> Vec<City> {
    let city = |name: &str, lon, lat, population| City {
        name: name.into(),
        lon,
        lat,
        population,
    };
    vec![
        city("Alpha", 2.35, 48.85, 3e6),
        city("Beta", 13.40, 52.52, 2e6),
        city("Nowhere", -30.0, 40.0, 1e6),
    ]
}

fn config(stac_url: &str, seed: u64, n_locations: usize) -> SampleConfig {
    SampleConfig {
        layout: Layout::Caco,
        // Offsets of 50 m keep every patch inside the 1.2 km fixture scenes around the city centres.
        sampler: SamplerConfig::Seco(SecoSampler {
            n_cities: 3,
            sigma_km: 0.05,
        }),
        schedule: ScheduleConfig::caco(2019, 2023),
        size_px: SIZE_PX,
        bands: BANDS.iter().map(|b| b.to_string()).collect(),
        stac_url: stac_url.into(),
        collection: "sentinel-2-l2a".into(),
        max_scene_cloud_percent: 20.0,
        max_cloud_fraction: 0.1,
        max_nodata_fraction: 0.0,
        seed,
        cities: "cities.csv".into(),
        n_locations,
        max_attempts: 6,
        max_scenes_per_date: 3,
        workers: 2,
    }
}

/// A seed whose slot 0 first draws `Nowhere` (so a resample is certain) and whose slots 0 and 1 succeed within
/// their attempts.
fn pick_seed(table: &CityTable) -> u64 {
    let sampler_config = config("", 0, 2).sampler;
    let sampler = LocationSampler::new(sampler_config, table).unwrap();
    (0..1000)
        .find(|&seed| {
            let c = config("", seed, 2);
            draw(&c, &sampler, 0, 0).0.place == "Nowhere"
                && (0..2).all(|slot| (0..c.max_attempts).any(|a| draw(&c, &sampler, slot, a).0.place != "Nowhere"))
        })
        .expect("a seed with a resample")
}

struct World {
    _dir: tempfile::TempDir,
    root: PathBuf,
    server: Server,
    cities_csv: PathBuf,
    table: CityTable,
    seed: u64,
    /// The scene that claims 0.5 % clouds but whose pixels are all cloud, and the date it competes for.
    cloudy: Item,
    cloudy_target: Date,
}

/// Scenes for every date that the draws of slots 0..2 can ask for (around Alpha and Beta only), served with a STAC
/// API from a loopback server. The recent era's scenes store the processing-baseline-04 offset.
fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let cities_csv = root.join("cities.csv");
    write_csv(&cities_csv, &cities()).unwrap();
    let table = CityTable::read(&cities_csv).unwrap();
    let seed = pick_seed(&table);
    let server = Server::start().unwrap();
    let cogs = root.join("cogs");
    server.serve_dir(&cogs);
    let base = config(&server.base_url(), seed, 2);
    let sampler = LocationSampler::new(base.sampler.clone(), &table).unwrap();
    let mut scenes = BTreeMap::new();
    let mut cloudy = None;
    for slot in 0..2 {
        for attempt in 0..base.max_attempts {
            let (location, eras) = draw(&base, &sampler, slot, attempt);
            if location.place == "Nowhere" {
                continue;
            }
            for (era, dates) in eras.iter().enumerate() {
                for date in dates {
                    let id = format!("S2A_{}_{}_0_L2A", location.place, date.compact());
                    scenes.entry(id.clone()).or_insert(FixtureScene {
                        id,
                        date: *date,
                        cloud_cover: 5.0,
                        lon: location.place_lon,
                        lat: location.place_lat,
                        side_px: 120,
                        bands: BANDS.iter().map(|b| b.to_string()).collect(),
                        cloudy_rows: 0.0,
                        baseline_offset: era == 1,
                    });
                }
                if slot == 0 && era == 0 && cloudy.is_none() {
                    // A day later, a scene that looks clearer but is cloudy over the patch.
                    let date = dates[0].add_days(1);
                    cloudy = Some((
                        FixtureScene {
                            id: format!("S2B_{}_{}_0_L2A", location.place, date.compact()),
                            date,
                            cloud_cover: 0.5,
                            lon: location.place_lon,
                            lat: location.place_lat,
                            side_px: 120,
                            bands: BANDS.iter().map(|b| b.to_string()).collect(),
                            cloudy_rows: 1.0,
                            baseline_offset: false,
                        },
                        dates[0],
                    ));
                }
            }
            break;
        }
    }
    let (cloudy_scene, cloudy_target) = cloudy.expect("slot 0 has a draw with scenes");
    let mut catalogue = Vec::new();
    for scene in scenes.values() {
        catalogue.push(write_scene(&cogs, &server.base_url(), scene).unwrap());
    }
    let cloudy = write_scene(&cogs, &server.base_url(), &cloudy_scene).unwrap();
    catalogue.push(cloudy.clone());
    // Out of every window: must never be picked.
    let mut stray = cloudy_scene.clone();
    stray.id = "S2A_stray".into();
    stray.date = Date::new(2015, 1, 1).unwrap();
    catalogue.push(write_scene(&cogs, &server.base_url(), &stray).unwrap());
    serve_stac(&server, catalogue);
    World {
        _dir: dir,
        root,
        server,
        cities_csv,
        table,
        seed,
        cloudy,
        cloudy_target,
    }
}

fn metadata(product_dir: &Path) -> SampledProduct {
    serde_json::from_str(&std::fs::read_to_string(product_dir.join("metadata.json")).unwrap()).unwrap()
}

#[test]
fn sampled_caco_layout_reads_back_skips_clouds_resamples_and_resumes() {
    let w = world();
    let out = w.root.join("caco");
    let stac = HttpStac::new(&w.server.base_url());

    // First run: one location. Slot 0 first draws `Nowhere` (no scenes): resampled.
    let first = sample(&out, &config(&w.server.base_url(), w.seed, 1), &w.table, &stac, true).unwrap();
    assert_eq!((first.sampled, first.skipped, first.failed), (1, 0, 0), "{first}");
    assert!(first.resampled >= 1, "{first}");
    let (n_no_scene, example) = &first.failures[&FailureKind::NoScene];
    assert!(*n_no_scene >= 1 && example.contains("0 items found"), "{first}");
    let text = first.to_string();
    assert!(
        text.contains("1 locations sampled") && text.contains("no scene under the cloud limit"),
        "{text}"
    );

    // The cloudy scene was tried first (lowest eo:cloud_cover), rejected on its SCL pixels before any band was
    // read, and the next scene taken.
    let scl_path = format!("/{}/scl.tif", w.cloudy.id);
    assert!(w.server.count(&scl_path) > 0);
    assert_eq!(w.server.count(&format!("/{}/red.tif", w.cloudy.id)), 0);

    // Read back by the time-series reader: all five bands on the 10 m grid, two eras of five dates.
    let series = TimeSeries::open(&out, TimeSeriesOptions::new(Layout::Caco, &BANDS)).unwrap();
    assert_eq!((series.locations.len(), series.n_items()), (1, 2));
    let location = &series.locations[0];
    assert_eq!(location.id, "000000");
    let metas: Vec<SampledProduct> = location.products.iter().map(|p| metadata(&p.dir)).collect();
    assert!(metas
        .iter()
        .all(|m| m.item_id != w.cloudy.id && !m.item_id.contains("stray")));
    let first_date = metas.iter().find(|m| m.target_date == w.cloudy_target).unwrap();
    assert_eq!(first_date.date, w.cloudy_target);
    assert_eq!((first_date.era, first_date.cloud_fraction), (0, Some(0.0)));
    assert!(metas[5..].iter().all(|m| m.era == 1 && m.date.year >= 2023));
    // One place (Alpha or Beta), read in its own UTM zone (31N or 33N).
    let place = &first_date.location;
    assert!(place.place == "Alpha" || place.place == "Beta", "{place:?}");
    let epsg = utm_epsg(place.place_lon, place.place_lat) as i64;
    assert!(metas.iter().all(|m| m.epsg == Some(epsg) && m.location == *place));
    assert!(first_date.product_id.starts_with("S2A_MSIL2A_") && first_date.stac_url == w.server.base_url());
    assert_eq!((location.lon, location.lat), (first_date.lon, first_date.lat));

    // Pixels: 255 x reflectance at the patch's own cells, in both eras (the recent era's -0.1 offset is undone).
    for (product, meta) in [(&location.products[0], &metas[0]), (&location.products[9], &metas[9])] {
        let raw = caco::data::timeseries::load_product(&product.dir, &["B4".into(), "B1".into()]).unwrap();
        assert_eq!((raw.height, raw.width), (SIZE_PX, SIZE_PX));
        let [x0, _, _, y0, _, _] = meta.geo_transform;
        let b4 = SENTINEL2_BANDS.iter().position(|b| *b == "B4").unwrap();
        for row in 0..SIZE_PX {
            for col in 0..SIZE_PX {
                let cell_x = ((x0 + 10.0 * col as f64) / 10.0).round() as i64;
                let cell_y = ((y0 - 10.0 * row as f64) / 10.0).round() as i64 - 1;
                let want = (255.0 * reflectance(b4, cell_x, cell_y)).round() as f32;
                assert_eq!(
                    raw.band(0)[row * SIZE_PX + col],
                    want,
                    "{} ({row}, {col})",
                    meta.item_id
                );
            }
        }
    }
    // The 60 m band is stored at its own resolution, georeferenced in the scene's UTM zone.
    let b1 = gdal::Dataset::open(location.products[0].dir.join("B1.tif")).unwrap();
    assert_eq!(b1.raster_size(), (SIZE_PX / 6, SIZE_PX / 6));
    assert_eq!(b1.geo_transform().unwrap()[1], 60.0);
    assert_eq!(b1.spatial_ref().unwrap().auth_code().unwrap() as i64, epsg);

    // Second run, two locations, after an interrupted write of slot 1: slot 0 is skipped untouched.
    std::fs::create_dir_all(out.join(".partial-000001/junk")).unwrap();
    let searches_before = w.server.count("/search");
    let mtime = std::fs::metadata(location.products[0].dir.join("metadata.json"))
        .unwrap()
        .modified()
        .unwrap();
    let second = sample(&out, &config(&w.server.base_url(), w.seed, 2), &w.table, &stac, true).unwrap();
    assert_eq!(
        (second.sampled, second.skipped, second.failed, second.partials_removed),
        (1, 1, 0, 1),
        "{second}"
    );
    assert!(w.server.count("/search") > searches_before);
    let again = std::fs::metadata(location.products[0].dir.join("metadata.json"))
        .unwrap()
        .modified()
        .unwrap();
    assert_eq!(mtime, again);
    let series = TimeSeries::open(&out, TimeSeriesOptions::new(Layout::Caco, &["B4", "B3", "B2"])).unwrap();
    assert_eq!(series.locations.len(), 2);
    assert!(!out.join(".partial-000001").exists());

    // A third run with other settings is refused rather than mixing two datasets.
    let msg = sample(
        &out,
        &config(&w.server.base_url(), w.seed + 1, 2),
        &w.table,
        &stac,
        true,
    )
    .unwrap_err()
    .to_string();
    assert!(msg.contains("other settings") && msg.contains("seed"), "{msg}");
}

#[test]
fn a_location_without_scenes_fails_after_its_attempts_and_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start().unwrap();
    serve_stac(&server, Vec::new());
    let table = CityTable::new(vec![cities().remove(2)], Path::new("one.csv")).unwrap();
    let mut c = config(&server.base_url(), 0, 1);
    c.max_attempts = 3;
    let summary = sample(dir.path(), &c, &table, &HttpStac::new(&server.base_url()), true).unwrap();
    assert_eq!(
        (summary.sampled, summary.failed, summary.resampled),
        (0, 1, 2),
        "{summary}"
    );
    assert_eq!(summary.failures[&FailureKind::NoScene].0, 3);
    // Each failed draw stops at its first date: one search per draw.
    assert_eq!(server.count("/search"), 3);

    // A STAC API that answers errors: the failure names the URL.
    let broken = Server::start().unwrap();
    let summary = sample(
        &dir.path().join("b"),
        &c,
        &table,
        &HttpStac::new(&broken.url("/nothing")),
        true,
    )
    .unwrap();
    let (n, example) = &summary.failures[&FailureKind::Search];
    assert!(*n == 3 && example.contains("/nothing/search"), "{summary}");
}

fn pretrain_config(root: &Path) -> String {
    format!(
        r#"
name = "sampled-caco"
method = "caco"
[model]
arch = "resnet18"
embedding_dim = 16
[data]
root = {root:?}
layout = "caco"
bands = ["B4", "B3", "B2"]
normalization = {{ kind = "imagenet" }}
[augment]
out_size = 16
[ssl]
queue_size = 24
temperature = 0.2
encoder_momentum = 0.99
geo_clusters = 2
[optim]
lr = 0.05
epochs = 1
batch_size = 4
schedule = {{ kind = "cosine" }}
[run]
seed = 1
n_workers = 1
checkpoint_every = 10
device = "cpu"
"#,
        root = root.display().to_string()
    )
}

#[test]
fn caco_sample_command_output_pretrains_one_step_with_caco() {
    let w = world();
    let out = w.root.join("cli");
    let output = Command::new(env!("CARGO_BIN_EXE_caco"))
        .args(["sample", "--out"])
        .arg(&out)
        .args([
            "--layout",
            "caco",
            "--sampler",
            "seco",
            "--n-locations",
            "2",
            "--cities",
        ])
        .arg(&w.cities_csv)
        .args([
            "--n-cities",
            "3",
            "--sigma-km",
            "0.05",
            "--years",
            "2019,2023",
            "--size",
            "24",
        ])
        .args([
            "--bands",
            "B4,B3,B2,B11,B1",
            "--stac-url",
            &w.server.base_url(),
            "--max-attempts",
            "6",
        ])
        .args(["--workers", "2", "--seed", &w.seed.to_string(), "--quiet"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("2 locations sampled, 0 already there (skipped), 0 failed"),
        "{stderr}"
    );

    let config = PretrainConfig::from_toml(&pretrain_config(&out), Path::new("sampled.toml")).unwrap();
    let run = w.root.join("run");
    let summary = pretrain(
        &config,
        &run,
        &PretrainOptions {
            quiet: true,
            ..Default::default()
        },
    )
    .unwrap();
    // 2 locations x 2 eras = 4 items = one paired batch of 4: one step.
    assert_eq!((summary.steps, summary.epochs_done), (1, 1));
    assert!(summary.backbone.is_file());
}
