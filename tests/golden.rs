//! Parity with golden files (`tests/golden/*.safetensors`) written by `bench/parity/make_golden.py`, an independent
//! PyTorch transcription of ../shared/docs/METHODS.md (see its header for how to regenerate). CI reads the goldens
//! only; no Python is needed.
//!
//! - Pure pieces: InfoNCE, SeCo, TeCo, CACo (change labels mixing changed, unchanged and never seen), GASSL,
//!   CACo's change ratios and their running update, the GMM's labels and means (scikit-learn), kNN P@k/R@k,
//!   micro average precision, F1/IoU.
//! - One whole pre-training step per method: the Rust model is built from its seed (its initial weights must match
//!   the digests the script saw), the fixed augmentation-free batch of the golden file goes through one step
//!   (per-view key forwards, loss, SGD, momentum, enqueue), and the loss parts, the queues after enqueue and a
//!   per-tensor sum and L2 norm of the updated query weights are compared.
//!
//! `cargo test --test golden -- --ignored write_step_inputs` writes the seeded initial states the script reads
//! (to target/golden-init/, not committed).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use caco::models::Arch;
use caco::ssl::losses::{self, LongTerm};
use caco::ssl::model::{ModelConfig, StepInput};
use caco::ssl::{Method, SslModel};
use caco::train::sgd::Sgd;
use caco::train::Amp;
use tch::{Device, Kind, Tensor};

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

fn load(name: &str) -> HashMap<String, Tensor> {
    let path = golden_dir().join(name);
    Tensor::read_safetensors(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (regenerate with bench/parity/make_golden.py)", path.display()))
        .into_iter()
        .collect()
}

fn get<'a>(g: &'a HashMap<String, Tensor>, key: &str) -> &'a Tensor {
    g.get(key).unwrap_or_else(|| panic!("golden tensor `{key}` missing"))
}

fn scalar(g: &HashMap<String, Tensor>, key: &str) -> f64 {
    get(g, key).double_value(&[])
}

fn list(g: &HashMap<String, Tensor>, prefix: &str) -> Vec<Tensor> {
    (0..)
        .map_while(|i| g.get(&format!("{prefix}{i}")).map(|t| t.shallow_clone()))
        .collect()
}

#[track_caller]
fn assert_close(got: &Tensor, want: &Tensor, tol: f64, what: &str) {
    assert_eq!(got.size(), want.size(), "{what}: shape");
    let diff = (got.to_kind(Kind::Double) - want.to_kind(Kind::Double))
        .abs()
        .max()
        .double_value(&[]);
    assert!(diff <= tol, "{what}: max |diff| {diff:e} > {tol:e}");
}

#[track_caller]
fn assert_close_f(got: f64, want: f64, tol: f64, what: &str) {
    assert!(
        (got - want).abs() <= tol * want.abs().max(1.0),
        "{what}: {got} vs {want} (tol {tol:e})"
    );
}

/// `keys[i][j]` from the golden's `keys{i}_{j}`.
fn key_grid(g: &HashMap<String, Tensor>) -> Vec<Vec<Tensor>> {
    (0..3)
        .map(|i| {
            (0..3)
                .map(|j| get(g, &format!("keys{i}_{j}")).shallow_clone())
                .collect()
        })
        .collect()
}

#[test]
fn losses_match_the_pytorch_transcription() {
    let g = load("losses.safetensors");
    let t = scalar(&g, "temperature");
    let q = list(&g, "q");
    let keys = key_grid(&g);
    let queues = list(&g, "queue");
    let queue_era = list(&g, "queue_era");
    let era = get(&g, "era");
    let label = get(&g, "change_label");

    let nce = losses::info_nce(&q[0], &keys[0][0], &queues[0], t);
    assert_close(&nce, get(&g, "infonce"), 1e-5, "InfoNCE");

    let seco = losses::seco_loss(&q, &keys, &queues, t);
    let teco = losses::caco_loss(&q, &keys, &queues, &queue_era, era, label, t, LongTerm::Teco);
    let caco = losses::caco_loss(&q, &keys, &queues, &queue_era, era, label, t, LongTerm::Caco);
    for i in 0..3 {
        assert_close(
            &seco[i],
            get(&g, &format!("seco{i}")),
            1e-5,
            &format!("SeCo subspace {i}"),
        );
        assert_close(
            &teco[i],
            get(&g, &format!("teco{i}")),
            1e-5,
            &format!("TeCo subspace {i}"),
        );
        assert_close(
            &caco[i],
            get(&g, &format!("caco{i}")),
            1e-5,
            &format!("CACo subspace {i}"),
        );
    }
    let (gassl_nce, geo) = losses::gassl_loss(
        &q[0],
        &keys[0][0],
        &queues[0],
        t,
        get(&g, "geo_logits"),
        get(&g, "clusters"),
    );
    assert_close(&gassl_nce, get(&g, "gassl_infonce"), 1e-5, "GASSL InfoNCE");
    assert_close(&geo, get(&g, "gassl_geo"), 1e-5, "GASSL geo CE");
}

#[test]
fn change_ratios_running_update_and_gmm_match() {
    let g = load("change.safetensors");
    let ratios = caco::ssl::caco::batch_ratios(get(&g, "l_q"), get(&g, "l_s"));
    assert_close(&Tensor::from_slice(&ratios), get(&g, "ratios"), 1e-5, "ratios");

    let n = get(&g, "prior").size()[0] as usize;
    let mut state = caco::ssl::caco::ChangeState::new(n);
    state.ratio = Vec::<f64>::try_from(get(&g, "prior")).unwrap();
    let items: Vec<usize> = Vec::<i64>::try_from(get(&g, "items"))
        .unwrap()
        .into_iter()
        .map(|i| i as usize)
        .collect();
    let x = Vec::<f64>::try_from(get(&g, "update_x")).unwrap();
    state.update(&items, &x);
    assert_close(
        &Tensor::from_slice(&state.ratio),
        get(&g, "after_update"),
        1e-12,
        "running update (NaN = unseen must stay NaN)",
    );

    for case in ["gmm_a", "gmm_b"] {
        let values = Vec::<f64>::try_from(get(&g, &format!("{case}_x"))).unwrap();
        let fit = caco::ssl::gmm::Gmm2::fit_sklearn(&values).expect("a fit");
        let labels: Vec<i64> = values.iter().map(|&v| i64::from(fit.label(v))).collect();
        let want: Vec<i64> = Vec::<i64>::try_from(get(&g, &format!("{case}_labels"))).unwrap();
        let wrong = labels.iter().zip(&want).filter(|(a, b)| a != b).count();
        assert_eq!(wrong, 0, "{case}: {wrong} labels differ from scikit-learn's");
        let means = Vec::<f64>::try_from(get(&g, &format!("{case}_means"))).unwrap();
        let vars = Vec::<f64>::try_from(get(&g, &format!("{case}_vars"))).unwrap();
        let weights = Vec::<f64>::try_from(get(&g, &format!("{case}_weights"))).unwrap();
        for k in 0..2 {
            assert_close_f(fit.means[k], means[k], 1e-6, &format!("{case} mean {k}"));
            assert_close_f(fit.variances[k], vars[k], 1e-5, &format!("{case} variance {k}"));
            assert_close_f(fit.weights[k], weights[k], 1e-6, &format!("{case} weight {k}"));
        }
    }
}

#[test]
fn ranking_and_pixel_metrics_match() {
    let g = load("metrics.safetensors");
    // Micro average precision over all (image, class) pairs, as scikit-learn's average="micro".
    let scores = Vec::<f32>::try_from(get(&g, "ap_scores").flatten(0, -1)).unwrap();
    let labels: Vec<bool> = Vec::<i64>::try_from(get(&g, "ap_labels").flatten(0, -1))
        .unwrap()
        .into_iter()
        .map(|v| v == 1)
        .collect();
    let n_classes = get(&g, "ap_scores").size()[1] as usize;
    let ap = caco::results::seg_metrics::micro_average_precision(&scores, &labels, n_classes);
    assert_close_f(ap, scalar(&g, "micro_ap"), 1e-6, "micro AP");

    // kNN P@k and micro R@k with 50 queries drawn with replacement (the CACo notebook's protocol).
    let labels_knn: Vec<usize> = Vec::<i64>::try_from(get(&g, "knn_labels"))
        .unwrap()
        .into_iter()
        .map(|l| l as usize)
        .collect();
    let queries: Vec<i64> = Vec::<i64>::try_from(get(&g, "knn_queries")).unwrap();
    let near = caco::eval::knn::nearest(get(&g, "knn_features"), &queries, 20);
    let queries: Vec<usize> = queries.into_iter().map(|q| q as usize).collect();
    let at = caco::eval::knn::precision_recall_at_k(&near, &labels_knn, &queries, &[5, 20]).unwrap();
    for a in &at {
        assert_close_f(a.precision, scalar(&g, &format!("knn_p{}", a.k)), 1e-6, &format!("kNN P@{}", a.k));
        assert_close_f(a.recall, scalar(&g, &format!("knn_r{}", a.k)), 1e-6, &format!("kNN R@{}", a.k));
    }

    // Binary change metrics at threshold 0.5 from global pixel counts.
    let probs = Vec::<f32>::try_from(get(&g, "cd_probs")).unwrap();
    let truth: Vec<u8> = Vec::<i64>::try_from(get(&g, "cd_truth"))
        .unwrap()
        .into_iter()
        .map(|v| v as u8)
        .collect();
    let s = caco::results::seg_metrics::BinaryCounts::from_probabilities(&probs, &truth, 0.5).scores();
    assert_close_f(s.precision, scalar(&g, "precision"), 1e-6, "precision");
    assert_close_f(s.recall, scalar(&g, "recall"), 1e-6, "recall");
    assert_close_f(s.f1, scalar(&g, "f1"), 1e-6, "F1");
    assert_close_f(s.iou, scalar(&g, "iou"), 1e-6, "IoU");
}

// ---------------------------------------------------------------------------------------------------------------
// One whole pre-training step per method.

const METHODS: [(&str, Method); 5] = [
    ("moco", Method::Moco),
    ("seco", Method::Seco),
    ("teco", Method::Teco),
    ("caco", Method::Caco),
    ("gassl", Method::Gassl),
];
const BATCH: i64 = 8;
const SIZE: i64 = 32;
const QUEUE: i64 = 32;
const DIM: i64 = 128;
const SEED: u64 = 7;
const LR: f64 = 0.03;

fn model_config(method: Method) -> ModelConfig {
    ModelConfig {
        method,
        arch: Arch::Resnet18,
        in_channels: 3,
        embedding_dim: DIM,
        queue_size: QUEUE,
        // MoCo-v2 and GASSL at 0.5: with one queue of random keys and T = 0.07 their loss (and gradient) would
        // be about 0 on random-init embeddings, which would make the comparison of the updated weights vacuous.
        temperature: if method.n_heads() == 1 { 0.5 } else { 0.07 },
        encoder_momentum: 0.999,
        geo_clusters: 10,
        amp: Amp::Off,
        bn_groups: 1,
    }
}

/// Sampling units of the fixed batch: 2 more than the batch so that the change state has unseen units.
const N_UNITS: usize = BATCH as usize + 2;

fn seeded_model(method: Method) -> SslModel {
    caco::models::seeded(SEED, || SslModel::new(model_config(method), N_UNITS, Device::Cpu)).unwrap()
}

/// Sum and L2 norm of every query-side tensor, by name.
fn digests(model: &SslModel) -> Vec<(String, f64, f64)> {
    let mut out: Vec<(String, f64, f64)> = model
        .vs_q
        .variables()
        .into_iter()
        .map(|(name, t)| {
            let t = t.to_kind(Kind::Double);
            (name, t.sum(Kind::Double).double_value(&[]), t.norm().double_value(&[]))
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// The fixed batch: views, items (0..BATCH), eras (0, 1, 0, 1, ...), GASSL clusters, CACo labels and prior ratios.
fn fixed_batch(method: Method) -> Vec<(String, Tensor)> {
    use rand::SeedableRng;
    use rand_distr::{Distribution, StandardNormal};
    // A generator of its own (not libtorch's global one, which concurrent tests reseed).
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    let n_views = method.n_views();
    let mut out: Vec<(String, Tensor)> = (0..n_views)
        .map(|v| {
            let values: Vec<f32> = (0..BATCH * 3 * SIZE * SIZE)
                .map(|_| StandardNormal.sample(&mut rng))
                .collect();
            (
                format!("view{v}"),
                Tensor::from_slice(&values).view([BATCH, 3, SIZE, SIZE]),
            )
        })
        .collect();
    out.push(("items".into(), Tensor::arange(BATCH, (Kind::Int64, Device::Cpu))));
    out.push((
        "era".into(),
        Tensor::arange(BATCH, (Kind::Int64, Device::Cpu)).remainder(2),
    ));
    out.push((
        "clusters".into(),
        Tensor::from_slice(&[3i64, 0, 9, 3, 1, 1, 7, 2, 5, 6]),
    ));
    // Pair 0 changed, pair 1 unchanged, pair 2 never seen (-1), pair 3 one of each.
    out.push((
        "change_label".into(),
        Tensor::from_slice(&[1i64, 1, 0, 0, -1, -1, 1, 0, 0, -1]),
    ));
    out.push((
        "prior_ratio".into(),
        Tensor::from_slice(&[1.5f64, 0.8, f64::NAN, 2.0, f64::NAN, f64::NAN, 1.1, 0.9, 1.0, f64::NAN]),
    ));
    out
}

/// The fixed batch as a step's input.
struct Batch {
    tensors: HashMap<String, Tensor>,
    views: Vec<Tensor>,
    items: Vec<usize>,
    era: Vec<i64>,
    clusters: Vec<i64>,
}

impl Batch {
    fn new(method: Method) -> Self {
        let tensors: HashMap<String, Tensor> = fixed_batch(method).into_iter().collect();
        let views = (0..method.n_views())
            .map(|v| get(&tensors, &format!("view{v}")).shallow_clone())
            .collect();
        let era = Vec::<i64>::try_from(get(&tensors, "era")).unwrap();
        let clusters = Vec::<i64>::try_from(get(&tensors, "clusters")).unwrap();
        Batch {
            tensors,
            views,
            items: (0..BATCH as usize).collect(),
            era,
            clusters,
        }
    }

    fn input(&self) -> StepInput<'_> {
        StepInput {
            views: &self.views,
            items: &self.items,
            era: &self.era,
            clusters: Some(&self.clusters),
            shuffle_seed: 0,
        }
    }
}

fn init_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/golden-init")
}

/// Writes the seeded initial states and fixed batches that bench/parity/make_golden.py reads.
#[test]
#[ignore = "writes the inputs of bench/parity/make_golden.py; run on demand"]
fn write_step_inputs() {
    std::fs::create_dir_all(init_dir()).unwrap();
    for (name, method) in METHODS {
        let model = seeded_model(method);
        let mut tensors: Vec<(String, Tensor)> = model
            .vs_q
            .variables()
            .into_iter()
            .map(|(n, t)| (format!("q.{n}"), t.detach()))
            .collect();
        for (i, queue) in model.queues.iter().enumerate() {
            tensors.push((format!("queue{i}"), queue.keys.shallow_clone()));
            tensors.push((format!("queue_era{i}"), queue.era.shallow_clone()));
        }
        tensors.extend(fixed_batch(method));
        let config = model_config(method);
        tensors.push(("temperature".into(), Tensor::from(config.temperature)));
        tensors.push(("lr".into(), Tensor::from(LR)));
        Tensor::write_safetensors(&tensors, init_dir().join(format!("{name}.safetensors"))).unwrap();
    }
}

fn one_step(name: &str, method: Method) {
    let g = load(&format!("step_{name}.safetensors"));
    let mut model = seeded_model(method);
    // The seeded initialisation is the one the script started from.
    for (tensor, sum, norm) in digests(&model) {
        assert_close_f(
            sum,
            scalar(&g, &format!("init_sum.{tensor}")),
            1e-6,
            &format!("initial {tensor} sum"),
        );
        assert_close_f(
            norm,
            scalar(&g, &format!("init_norm.{tensor}")),
            1e-6,
            &format!("initial {tensor} norm"),
        );
    }
    for (i, queue) in model.queues.iter().enumerate() {
        assert_close(&queue.keys, get(&g, &format!("queue_before{i}")), 1e-7, "initial queue");
    }
    let batch = Batch::new(method);
    if let Some(change) = model.change.as_mut() {
        change.label = Vec::<i64>::try_from(get(&batch.tensors, "change_label"))
            .unwrap()
            .into_iter()
            .map(|l| l as i8)
            .collect();
        change.ratio = Vec::<f64>::try_from(get(&batch.tensors, "prior_ratio")).unwrap();
    }
    let mut sgd = Sgd::new(&model.vs_q, 0.9, 1e-4);
    let input = batch.input();
    let (loss, parts, keys) = model.loss(&input).unwrap();
    sgd.backward_step(&loss, LR);
    model.after_step(keys).unwrap();

    let want_parts = Vec::<f64>::try_from(get(&g, "loss_parts")).unwrap();
    assert_eq!(parts.len(), want_parts.len(), "{name}: loss parts");
    for (i, (got, want)) in parts.iter().zip(&want_parts).enumerate() {
        assert_close_f(*got, *want, 1e-5, &format!("{name}: loss part {i}"));
    }
    for (i, queue) in model.queues.iter().enumerate() {
        // Keys come out of BatchNorm-ed float32 forwards: 1e-4.
        assert_close(
            &queue.keys,
            get(&g, &format!("queue_after{i}")),
            1e-4,
            &format!("{name}: queue {i}"),
        );
        assert_close(
            &queue.era,
            get(&g, &format!("queue_era_after{i}")),
            0.0,
            &format!("{name}: queue era {i}"),
        );
    }
    if let Some(change) = &model.change {
        let got = Tensor::from_slice(&change.ratio);
        let want = get(&g, "ratio_after");
        let both_nan = got.isnan().logical_and(&want.isnan());
        assert_close(
            &got.where_self(&both_nan.logical_not(), &Tensor::from(0.0f64)),
            &want.where_self(&both_nan.logical_not(), &Tensor::from(0.0f64)),
            1e-4,
            &format!("{name}: running ratios"),
        );
        assert!(
            got.isnan().eq_tensor(&want.isnan()).all().int64_value(&[]) == 1,
            "{name}: unseen ratios"
        );
    }
    for (tensor, sum, norm) in digests(&model) {
        // Sums of many float32 values after a BatchNorm-ed backward: relative 1e-4.
        assert_close_f(
            sum,
            scalar(&g, &format!("sum.{tensor}")),
            1e-4,
            &format!("{name}: updated {tensor} sum"),
        );
        assert_close_f(
            norm,
            scalar(&g, &format!("norm.{tensor}")),
            1e-5,
            &format!("{name}: updated {tensor} norm"),
        );
    }
}

#[test]
fn moco_step_matches() {
    one_step("moco", Method::Moco);
}

#[test]
fn seco_step_matches() {
    one_step("seco", Method::Seco);
}

#[test]
fn teco_step_matches() {
    one_step("teco", Method::Teco);
}

#[test]
fn caco_step_matches() {
    one_step("caco", Method::Caco);
}

#[test]
fn gassl_step_matches() {
    one_step("gassl", Method::Gassl);
}

/// Under bf16 autocast only the encoders run in bf16: the loss, the embeddings in the queues and the updated
/// weights stay float32, and the loss stays within a few percent of the float32 one on the same batch.
#[test]
fn bf16_runs_only_the_encoders_in_bf16() {
    for (name, method) in [("caco", Method::Caco), ("gassl", Method::Gassl)] {
        let batch = Batch::new(method);
        let input = batch.input();
        let mut parts_by_amp = Vec::new();
        for amp in [Amp::Off, Amp::Bf16] {
            let config = ModelConfig {
                amp,
                ..model_config(method)
            };
            let mut model = caco::models::seeded(SEED, || SslModel::new(config, N_UNITS, Device::Cpu)).unwrap();
            let (loss, parts, keys) = model.loss(&input).unwrap();
            assert_eq!(loss.kind(), Kind::Float, "{name} {amp:?}: loss dtype");
            assert!(
                keys.keys.iter().all(|k| k.kind() == Kind::Float),
                "{name} {amp:?}: key dtype"
            );
            model.after_step(keys).unwrap();
            assert!(model.queues.iter().all(|q| q.keys.kind() == Kind::Float));
            parts_by_amp.push(parts);
        }
        for (f32_part, bf16_part) in parts_by_amp[0].iter().zip(&parts_by_amp[1]) {
            assert!(
                (f32_part - bf16_part).abs() < 0.05 * f32_part.abs().max(0.1),
                "{name}: float32 {f32_part} vs bf16 {bf16_part}"
            );
        }
    }
}

/// GASSL's shuffle-BN emulation: with 4 BatchNorm groups each group of the query batch is normalised with its own
/// statistics, so changing the images of the last group leaves the features of the other rows unchanged; with one
/// group every row changes.
#[test]
fn bn_groups_give_each_group_its_own_batchnorm_statistics() {
    let x = Batch::new(Method::Gassl).views[0].shallow_clone();
    let altered = x.copy();
    let _ = altered.narrow(0, 6, 2).fill_(0.5);
    for (bn_groups, others_unchanged) in [(4, true), (1, false)] {
        let config = ModelConfig {
            bn_groups,
            ..model_config(Method::Gassl)
        };
        let model = caco::models::seeded(SEED, || SslModel::new(config, N_UNITS, Device::Cpu)).unwrap();
        let a = tch::no_grad(|| model.query_features(&x)).unwrap();
        let b = tch::no_grad(|| model.query_features(&altered)).unwrap();
        let diff = (a.narrow(0, 0, 6) - b.narrow(0, 0, 6)).abs().max().double_value(&[]);
        assert_eq!(
            diff == 0.0,
            others_unchanged,
            "bn_groups {bn_groups}: rows 0..6 moved by {diff}"
        );
    }
}
