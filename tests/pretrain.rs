//! The pre-training loop on generated time series: one step of every method, exact resume, checkpoints and the
//! config errors a user meets first.

use std::path::Path;

use caco::config::{ExperimentConfig, PretrainConfig};
use caco::data::fake::{write_timeseries, FakeTimeSeries};
use caco::data::timeseries::{Layout, RGB_BANDS};
use caco::train::log::MetricLog;
use caco::train::{pretrain, PretrainOptions};

fn fake_series(dir: &Path) {
    let spec = FakeTimeSeries {
        layout: Layout::Caco,
        n_locations: 4,
        dates_per_era: 5,
        bands: RGB_BANDS.iter().map(|b| b.to_string()).collect(),
        size: 24,
        seed: 3,
    };
    write_timeseries(dir, &spec).unwrap();
}

fn config(method: &str, root: &Path, epochs: usize) -> String {
    format!(
        r#"
name = "test-{method}"
method = "{method}"
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
epochs = {epochs}
batch_size = 4
schedule = {{ kind = "cosine" }}
warmup_epochs = 0.5
[run]
seed = 1
n_workers = 2
checkpoint_every = 2
device = "cpu"
"#,
        root = root.display().to_string()
    )
}

fn parse(text: &str) -> PretrainConfig {
    PretrainConfig::from_toml(text, Path::new("test.toml")).unwrap()
}

fn quiet() -> PretrainOptions {
    PretrainOptions {
        quiet: true,
        ..Default::default()
    }
}

#[test]
fn one_epoch_of_every_method_on_fake_data() {
    let dir = tempfile::tempdir().unwrap();
    fake_series(&dir.path().join("series"));
    // Sampling units on the CACo layout (METHODS.md): 4 locations x 2 eras x 5 dates. TeCo/CACo: 8 era items;
    // SeCo and GASSL: 4 locations; MoCo-v2: 40 images. Batch 4, drop_last: the steps per epoch follow.
    for (method, steps) in [("moco", 10), ("seco", 1), ("teco", 2), ("caco", 2), ("gassl", 1)] {
        let run = dir.path().join(method);
        let summary = pretrain(&parse(&config(method, &dir.path().join("series"), 1)), &run, &quiet()).unwrap();
        assert_eq!(
            (summary.steps, summary.epochs_done, summary.stopped_early),
            (steps, 1, false),
            "{method}"
        );
        let method_enum = parse(&config(method, Path::new("/x"), 1)).method;
        let log = MetricLog::read_parquet(&run.join("metrics.parquet"), method_enum.loss_names(), 99).unwrap();
        assert_eq!(log.records.len() as u64, steps, "{method}");
        for r in &log.records {
            assert!(
                r.loss.is_finite() && r.loss > 0.0 && r.parts.iter().all(|p| p.is_finite()),
                "{method}: {r:?}"
            );
            assert!((r.loss - r.parts.iter().sum::<f64>()).abs() < 1e-6);
            assert!(r.images_per_s > 0.0);
        }
        let expected_parts = match method {
            "moco" => 1,
            "gassl" => 2,
            _ => 3,
        };
        assert_eq!(log.part_names.len(), expected_parts);
        // Warm-up over half an epoch: the first step's lr is 0, the next ones' positive.
        assert_eq!(log.records[0].lr, 0.0);
        assert!(log.records.iter().skip(1).all(|r| r.lr > 0.0));
        // The exported backbone has torchvision names.
        let names: Vec<String> = tch::Tensor::read_safetensors(&summary.backbone)
            .unwrap()
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert!(
            names.contains(&"conv1.weight".to_string()) && names.contains(&"layer4.1.bn2.running_var".to_string()),
            "{names:?}"
        );
        // ... and carries its contract: the method, the bands and normalisation it was trained with.
        let contract = caco::models::weights::read_contract(&summary.backbone).unwrap().unwrap();
        assert_eq!(contract.method.as_deref(), Some(method));
        assert_eq!((contract.in_channels as usize, contract.bands.len()), (3, 3), "{contract:?}");
        assert!(contract.normalization.is_some(), "{contract:?}");
        if method == "caco" {
            let export = std::fs::read_to_string(run.join("caco/caco_epoch_0000.csv")).unwrap();
            assert_eq!(export.lines().count(), 9, "header + 8 items");
        }
    }
}

#[test]
fn every_method_trains_under_bf16_autocast_with_float32_weights() {
    let dir = tempfile::tempdir().unwrap();
    fake_series(&dir.path().join("series"));
    for (method, steps) in [("moco", 10), ("seco", 1), ("teco", 2), ("caco", 2), ("gassl", 1)] {
        let run = dir.path().join(method);
        let text = config(method, &dir.path().join("series"), 1)
            .replace("device = \"cpu\"", "device = \"cpu\"\namp = \"bf16\"");
        let config = parse(&text);
        assert_eq!(config.run.amp, caco::train::Amp::Bf16);
        let summary = pretrain(&config, &run, &quiet()).unwrap();
        assert_eq!(summary.steps, steps, "{method}");
        let log = MetricLog::read_parquet(&run.join("metrics.parquet"), config.method.loss_names(), 99).unwrap();
        assert!(
            log.records.iter().all(|r| r.loss.is_finite() && r.loss > 0.0),
            "{method}: {:?}",
            log.records
        );
        // Weights stay float32: autocast changes the dtype of activations only.
        for (name, tensor) in tch::Tensor::read_safetensors(run.join("checkpoint/query.safetensors")).unwrap() {
            assert_eq!(tensor.kind(), tch::Kind::Float, "{method}: {name}");
        }
    }
}

fn query_weights(run: &Path) -> Vec<(String, Vec<f32>)> {
    let mut named: Vec<(String, Vec<f32>)> = tch::Tensor::read_safetensors(run.join("checkpoint/query.safetensors"))
        .unwrap()
        .into_iter()
        .map(|(n, t)| {
            (
                n,
                Vec::<f32>::try_from(t.to_kind(tch::Kind::Float).flatten(0, -1)).unwrap(),
            )
        })
        .collect();
    named.sort_by(|a, b| a.0.cmp(&b.0));
    named
}

#[test]
fn n_plus_n_steps_with_a_resume_equal_2n_steps_bit_for_bit() {
    // libtorch splits reductions across its intra-op threads, and runs them inline when its pool is busy (as when
    // `cargo test` runs other tests of this binary concurrently): one thread makes the arithmetic order fixed.
    tch::set_num_threads(1);

    let dir = tempfile::tempdir().unwrap();
    fake_series(&dir.path().join("series"));
    let cfg = parse(&config("caco", &dir.path().join("series"), 3));
    let straight = dir.path().join("straight");
    let s = pretrain(
        &cfg,
        &straight,
        &PretrainOptions {
            max_steps: Some(6),
            ..quiet()
        },
    )
    .unwrap();
    assert_eq!(s.steps, 6);

    let resumed = dir.path().join("resumed");
    // Stop mid-epoch (step 3 = epoch 1, batch 1), then continue.
    let first = pretrain(
        &cfg,
        &resumed,
        &PretrainOptions {
            max_steps: Some(3),
            ..quiet()
        },
    )
    .unwrap();
    assert!(first.stopped_early && first.steps == 3);
    let again = pretrain(&cfg, &resumed, &quiet());
    assert!(
        again.unwrap_err().to_string().contains("--resume"),
        "refuses to overwrite a run"
    );
    // As if killed between a save's renames: the new checkpoint whole under checkpoint.partial, the previous one
    // under checkpoint.old, no checkpoint/. The resume takes the new one.
    let ckpt = resumed.join("checkpoint");
    std::fs::rename(&ckpt, resumed.join("checkpoint.partial")).unwrap();
    std::fs::create_dir_all(resumed.join("checkpoint.old")).unwrap();
    let second = pretrain(
        &cfg,
        &resumed,
        &PretrainOptions {
            resume: true,
            max_steps: Some(6),
            ..quiet()
        },
    )
    .unwrap();
    assert_eq!(second.steps, 6);
    assert!(!resumed.join("checkpoint.old").exists() && !resumed.join("checkpoint.partial").exists());

    let twice = dir.path().join("twice");
    pretrain(
        &cfg,
        &twice,
        &PretrainOptions {
            max_steps: Some(6),
            ..quiet()
        },
    )
    .unwrap();
    let diff = |a: &Path, b: &Path| -> Vec<(String, f32)> {
        query_weights(a)
            .into_iter()
            .zip(query_weights(b))
            .filter(|(x, y)| x.1 != y.1)
            .map(|(x, y)| {
                (
                    x.0,
                    x.1.iter().zip(&y.1).map(|(p, q)| (p - q).abs()).fold(0.0, f32::max),
                )
            })
            .collect()
    };
    assert!(
        diff(&straight, &twice).is_empty(),
        "two straight runs differ: {:?}",
        diff(&straight, &twice)
    );
    assert!(
        diff(&straight, &resumed).is_empty(),
        "resumed run differs: {:?}",
        diff(&straight, &resumed)
    );
    let log = |run: &Path| std::fs::read(run.join("checkpoint/state.safetensors")).unwrap();
    assert_eq!(
        log(&straight),
        log(&resumed),
        "queues, SGD buffers and CACo state identical"
    );
}

#[test]
fn bad_configs_name_the_key() {
    let root = Path::new("/nonexistent");
    let err = |text: String| {
        PretrainConfig::from_toml(&text, Path::new("bad.toml"))
            .unwrap_err()
            .to_string()
    };
    let typo = config("caco", root, 1).replace("queue_size = 24", "queue_sise = 24");
    let msg = err(typo);
    assert!(msg.contains("bad.toml") && msg.contains("queue_sise"), "{msg}");
    let msg = err(config("caco", root, 1).replace("queue_size = 24", "queue_size = 0"));
    assert!(msg.contains("ssl.queue_size") && msg.contains("got 0"), "{msg}");
    let msg = err(config("caco", root, 1).replace("lr = 0.05", "lr = -0.1"));
    assert!(msg.contains("optim.lr") && msg.contains("-0.1"), "{msg}");
    let msg = err(config("caco", root, 1).replace("batch_size = 4", "batch_size = 5"));
    assert!(msg.contains("optim.batch_size") && msg.contains("even"), "{msg}");
    let msg = err(config("caco", root, 1).replace("method = \"caco\"", "method = \"simclr\""));
    assert!(msg.contains("simclr"), "{msg}");
}

#[test]
fn seco_and_gassl_take_a_step_on_fake_ssl4eo_s12_with_the_shipped_config() {
    use caco::data::fake::{ssl4eo::FakeSsl4eo, FakeDataset};
    use caco::data::ssl4eo::Level;
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeSsl4eo {
        level: Level::L1c,
        n_locations: 4,
        size: 24,
        seed: 5,
    };
    fake.write(&dir.path().join("ssl4eo")).unwrap();
    // The shipped example, shrunk: its layout, 13 bands and per-band normalisation are what is exercised.
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments/pretrain/seco-ssl4eo-s12.toml");
    let mut cfg = PretrainConfig::load(&shipped).unwrap();
    assert_eq!((cfg.data.layout, cfg.data.bands.len()), (Layout::Ssl4eoS12, 13));
    // The folder holding s2c/, as the release extracts.
    cfg.data.root = dir.path().join("ssl4eo");
    cfg.model.embedding_dim = 16;
    cfg.augment.out_size = 16;
    cfg.ssl.queue_size = 24;
    cfg.ssl.geo_clusters = 2;
    cfg.optim.epochs = 1;
    cfg.optim.batch_size = 4;
    cfg.run.n_workers = 2;
    cfg.run.device = "cpu".into();
    cfg.run.amp = caco::train::Amp::Off;
    for method in [caco::ssl::Method::Seco, caco::ssl::Method::Gassl] {
        cfg.method = method;
        cfg.validate().unwrap();
        let run = dir.path().join(format!("{method:?}"));
        // 4 locations, batch 4: one step; GASSL clusters the locations' coordinates read from the GeoTIFFs.
        let summary = pretrain(&cfg, &run, &quiet()).unwrap();
        assert_eq!((summary.steps, summary.epochs_done), (1, 1), "{method:?}");
        let log = MetricLog::read_parquet(&run.join("metrics.parquet"), method.loss_names(), 99).unwrap();
        assert!(
            log.records.iter().all(|r| r.loss.is_finite() && r.loss > 0.0),
            "{method:?}: {:?}",
            log.records
        );
        let conv1 = tch::Tensor::read_safetensors(&summary.backbone)
            .unwrap()
            .into_iter()
            .find(|(n, _)| n == "conv1.weight")
            .unwrap()
            .1;
        assert_eq!(conv1.size()[1], 13, "{method:?}: 13 input bands");
    }
}

/// GASSL with shuffle-BN (2 BatchNorm groups: the key batch permuted every step) resumes bit for bit: the
/// permutations come from the run seed and the step, not from libtorch's global generator, which a checkpoint does
/// not hold.
#[test]
fn shuffle_bn_runs_resume_bit_for_bit() {
    tch::set_num_threads(1);
    let dir = tempfile::tempdir().unwrap();
    fake_series(&dir.path().join("series"));
    let text = config("gassl", &dir.path().join("series"), 4)
        .replace("geo_clusters = 2", "geo_clusters = 2\nbn_groups = 2");
    let cfg = parse(&text);
    let steps = |max: u64, resume: bool| PretrainOptions {
        max_steps: Some(max),
        resume,
        ..quiet()
    };
    let straight = dir.path().join("straight");
    assert_eq!(pretrain(&cfg, &straight, &steps(4, false)).unwrap().steps, 4);
    let resumed = dir.path().join("resumed");
    pretrain(&cfg, &resumed, &steps(2, false)).unwrap();
    assert_eq!(pretrain(&cfg, &resumed, &steps(4, true)).unwrap().steps, 4);
    assert!(query_weights(&straight) == query_weights(&resumed), "resumed weights differ");
    let state = |run: &Path| std::fs::read(run.join("checkpoint/state.safetensors")).unwrap();
    assert!(state(&straight) == state(&resumed), "queues or SGD buffers differ");
}
