//! Data-parallel training over Gloo on 127.0.0.1 with 2 processes (docs/distributed.md): the collectives, the
//! faults (a rank killed mid-run, a rank that never arrives), `--nproc`, torchrun, the SLURM script, and the proof
//! that 2 ranks x B/2 train like one process with B and BatchNorm in 2 groups.
//!
//! A multi-process test runs its ranks as copies of this test binary that run the same test with
//! `CACO_DIST_TEST_ROLE` set (and torchrun's variables): the role's branch is the rank's program.

// Without gloo in the build (no libgloo-dev) there is no multi-process support to test.
#![cfg(caco_dist)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use caco::config::{ExperimentConfig, PretrainConfig};
use caco::data::fake::{write_timeseries, FakeTimeSeries};
use caco::data::timeseries::{Layout, RGB_BANDS};
use caco::models::dist::{Dist, Rendezvous, StoreHost};
use caco::train::{pretrain, PretrainOptions};
use tch::{Device, Kind, Tensor};

const ROLE: &str = "CACO_DIST_TEST_ROLE";
/// Upper bound on any wait of a test (above the ranks' own timeout, CACO_DIST_TIMEOUT_S=120 s, which is generous
/// for a CI machine busy with other tests): a hang fails instead of blocking.
const GUARD: Duration = Duration::from_secs(300);

/// A free port of this test process's own: two tests that ask the kernel for a free port at the same moment may be
/// given the same one (seen here: one test's rank then joined the other's group), so each process draws from its own
/// range (by process id; nextest runs every test in its own process), checked free.
fn free_port() -> u16 {
    static NEXT: std::sync::atomic::AtomicU16 = std::sync::atomic::AtomicU16::new(0);
    let base = 20000 + (std::process::id() % 2800) as u16 * 16;
    loop {
        let port = base + NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst) % 16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// One rank: this test binary running test `test` with `role`, its output in `dir/rank<r>.{out,err}`.
struct Rank {
    child: Child,
    out: PathBuf,
    err: PathBuf,
}

impl Rank {
    fn spawn(test: &str, role: &str, rank: usize, world: usize, port: u16, dir: &Path) -> Rank {
        Self::spawn_with(test, role, rank, world, port, dir, &[])
    }

    fn spawn_with(
        test: &str,
        role: &str,
        rank: usize,
        world: usize,
        port: u16,
        dir: &Path,
        envs: &[(&str, String)],
    ) -> Rank {
        let out = dir.join(format!("rank{rank}.out"));
        let err = dir.join(format!("rank{rank}.err"));
        let child = Command::new(std::env::current_exe().unwrap())
            .args([test, "--exact", "--nocapture", "--test-threads", "1"])
            .env(ROLE, role)
            .env("RANK", rank.to_string())
            .env("WORLD_SIZE", world.to_string())
            .env("LOCAL_RANK", rank.to_string())
            .env("MASTER_ADDR", "127.0.0.1")
            .env("MASTER_PORT", port.to_string())
            .env("CACO_DIST_TIMEOUT_S", "120")
            // As torchrun and `--nproc` do: the ranks share the cores.
            .env("OMP_NUM_THREADS", "1")
            .envs(envs.iter().map(|(k, v)| (*k, v.as_str())))
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(std::fs::File::create(&err).unwrap())
            .spawn()
            .unwrap();
        Rank { child, out, err }
    }

    /// Exit status and the output, waiting at most [`GUARD`].
    fn wait(&mut self) -> (bool, String) {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return (status.success(), self.output());
            }
            if start.elapsed() > GUARD {
                let _ = self.child.kill();
                panic!("a rank hung past {GUARD:?}: {}", self.output());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn output(&self) -> String {
        let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
        format!("{}{}", read(&self.out), read(&self.err))
    }
}

/// Runs `world` ranks of `test` with `role` and returns each one's (success, output).
fn run_ranks(test: &str, role: &str, world: usize, dir: &Path) -> Vec<(bool, String)> {
    run_ranks_with(test, role, world, dir, &[])
}

fn run_ranks_with(test: &str, role: &str, world: usize, dir: &Path, envs: &[(&str, String)]) -> Vec<(bool, String)> {
    run_ranks_at(free_port(), test, role, world, dir, envs)
}

fn run_ranks_at(
    port: u16,
    test: &str,
    role: &str,
    world: usize,
    dir: &Path,
    envs: &[(&str, String)],
) -> Vec<(bool, String)> {
    let mut ranks: Vec<Rank> = (0..world)
        .map(|r| Rank::spawn_with(test, role, r, world, port, dir, envs))
        .collect();
    ranks.iter_mut().map(Rank::wait).collect()
}

/// The role this process plays, if it is a rank of a multi-process test.
fn role() -> Option<String> {
    std::env::var(ROLE).ok()
}

fn dist_from_env() -> Dist {
    Dist::from_env(Device::Cpu).unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(3)
    })
}

fn values(t: &Tensor) -> Vec<f64> {
    Vec::<f64>::try_from(t.to_kind(Kind::Double).reshape([-1])).unwrap()
}

#[test]
fn collectives_give_the_right_numbers() {
    if role().is_some() {
        let dist = dist_from_env();
        let r = dist.rank() as f64;
        assert_eq!(dist.world(), 2);
        // Two tensors in one bucket: sums and means over ranks 0 and 1.
        let a = Tensor::from_slice(&[r + 1.0, 10.0 * (r + 1.0)]);
        let b = Tensor::from_slice(&[r as f32, 1.0, 2.0, 3.0 * r as f32]).view([2, 2]);
        dist.all_reduce_sum(&[a.shallow_clone()]).unwrap();
        assert_eq!(values(&a), vec![3.0, 30.0]);
        dist.all_reduce_mean(&[b.shallow_clone()]).unwrap();
        assert_eq!(values(&b), vec![0.5, 1.0, 2.0, 1.5]);
        // All-gather in rank order.
        let mine = Tensor::full([2, 3], r, (Kind::Int64, Device::Cpu)) + Tensor::arange(3, (Kind::Int64, Device::Cpu));
        let all = dist.all_gather(&mine).unwrap();
        assert_eq!(all.size(), vec![4, 3]);
        assert_eq!(values(&all), vec![0., 1., 2., 0., 1., 2., 1., 2., 3., 1., 2., 3.]);
        // Broadcast from rank 1.
        let c = Tensor::from_slice(&[r * 7.0, -r]);
        dist.broadcast(&[c.shallow_clone()], 1).unwrap();
        assert_eq!(values(&c), vec![7.0, -1.0]);
        dist.barrier().unwrap();
        println!("rank {} ok", dist.rank());
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for (rank, (ok, output)) in run_ranks("collectives_give_the_right_numbers", "collectives", 2, dir.path())
        .into_iter()
        .enumerate()
    {
        assert!(
            ok && output.contains(&format!("rank {rank} ok")),
            "rank {rank}: {output}"
        );
    }
}

/// torchrun's default rendezvous: its agent hosts the store and every rank, rank 0 too, is a client under the
/// prefix of the agent's restart attempt (TORCHELASTIC_USE_AGENT_STORE=True); the ranks run the collectives above.
#[test]
fn ranks_join_through_a_store_hosted_by_torchruns_agent() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let _agent = StoreHost::start("127.0.0.1", port, 2, Duration::from_secs(120)).unwrap();
    let envs = [
        ("TORCHELASTIC_USE_AGENT_STORE", "True".to_string()),
        ("TORCHELASTIC_RESTART_COUNT", "0".to_string()),
    ];
    let results = run_ranks_at(
        port,
        "collectives_give_the_right_numbers",
        "collectives",
        2,
        dir.path(),
        &envs,
    );
    for (rank, (ok, output)) in results.into_iter().enumerate() {
        assert!(
            ok && output.contains(&format!("rank {rank} ok")),
            "rank {rank}: {output}"
        );
    }
}

#[test]
fn a_killed_rank_makes_the_other_fail_naming_itself() {
    if role().is_some() {
        let dist = dist_from_env();
        let t = Tensor::ones([1000], (Kind::Float, Device::Cpu));
        for step in 0.. {
            if let Err(e) = dist.all_reduce_mean(&[t.shallow_clone()]) {
                eprintln!("{e}");
                std::process::exit(3);
            }
            if step == 0 {
                println!("ready");
                std::io::stdout().flush().unwrap();
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        unreachable!();
    }
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let test = "a_killed_rank_makes_the_other_fail_naming_itself";
    let mut ranks: Vec<Rank> = (0..2)
        .map(|r| Rank::spawn(test, "loop", r, 2, port, dir.path()))
        .collect();
    let start = Instant::now();
    while !ranks[1].output().contains("ready") {
        assert!(start.elapsed() < GUARD, "rank 1 never got going: {}", ranks[1].output());
        std::thread::sleep(Duration::from_millis(20));
    }
    ranks[1].child.kill().unwrap();
    let _ = ranks[1].child.wait();
    let (ok, output) = ranks[0].wait();
    assert!(!ok, "rank 0 went on without rank 1: {output}");
    assert!(
        output.contains("data-parallel run, rank 0: all-reduce") && output.contains("another rank failed"),
        "{output}"
    );
}

#[test]
fn a_rank_that_never_arrives_times_out_the_rendezvous_naming_the_address() {
    let port = free_port();
    let rv = Rendezvous {
        rank: 0,
        world: 2,
        local_rank: 0,
        master_addr: "127.0.0.1".into(),
        master_port: port,
        agent_store: None,
        timeout: Duration::from_secs(2),
    };
    let message = match Dist::init(&rv, Device::Cpu) {
        Ok(_) => panic!("a group of 2 formed with one rank"),
        Err(e) => e.to_string(),
    };
    assert!(
        message.contains(&format!("rendezvous at 127.0.0.1:{port}")) && message.contains("rank 0"),
        "{message}"
    );
}

// ---------------------------------------------------------------------------------------------------------------
// Proof: 2 ranks x B/2 train like 1 process with B and BatchNorm in 2 groups.

fn fake_series(dir: &Path) {
    let spec = FakeTimeSeries {
        layout: Layout::Caco,
        n_locations: 8,
        dates_per_era: 5,
        bands: RGB_BANDS.iter().map(|b| b.to_string()).collect(),
        size: 64,
        seed: 3,
    };
    write_timeseries(dir, &spec).unwrap();
}

/// A small run: ResNet-18 at 64 px, global batch 8, `bn_groups` BatchNorm groups per process. (At 32 px with 2 rows
/// per group, layer4's BatchNorm normalises 2 values per channel: its gradients reach 1e4 and a step amplifies
/// float rounding chaotically, which would hide what this test checks.)
fn config(method: &str, root: &Path, epochs: usize, bn_groups: usize) -> String {
    format!(
        r#"
name = "dist-{method}"
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
out_size = 64
[ssl]
queue_size = 24
temperature = 0.2
encoder_momentum = 0.99
geo_clusters = 2
bn_groups = {bn_groups}
[optim]
lr = 0.01
epochs = {epochs}
batch_size = 8
schedule = {{ kind = "cosine" }}
[run]
seed = 1
n_workers = 1
checkpoint_every = 2
device = "cpu"
"#,
        root = root.display().to_string()
    )
}

fn options(max_steps: Option<u64>, resume: bool) -> PretrainOptions {
    PretrainOptions {
        quiet: true,
        max_steps,
        resume,
    }
}

/// A rank's program in the proof tests: the run its environment describes.
fn pretrain_role() {
    let var = |name: &str| std::env::var(name).unwrap();
    let config = PretrainConfig::load(Path::new(&var("CACO_DIST_TEST_CONFIG"))).unwrap();
    let max_steps = std::env::var("CACO_DIST_TEST_MAX_STEPS")
        .ok()
        .map(|s| s.parse().unwrap());
    let resume = std::env::var("CACO_DIST_TEST_RESUME").is_ok();
    match pretrain(
        &config,
        Path::new(&var("CACO_DIST_TEST_RUN")),
        &options(max_steps, resume),
    ) {
        Ok(summary) => println!("rank {} done: {} steps", var("RANK"), summary.steps),
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(3);
        }
    }
}

/// Runs `config` on 2 ranks in `run`; every rank must succeed.
fn run_two_ranks(test: &str, config: &str, dir: &Path, run: &Path, max_steps: Option<u64>, resume: bool) {
    let path = dir.join(format!("{}.toml", run.file_name().unwrap().to_string_lossy()));
    std::fs::write(&path, config).unwrap();
    let mut envs = vec![
        ("CACO_DIST_TEST_CONFIG", path.display().to_string()),
        ("CACO_DIST_TEST_RUN", run.display().to_string()),
    ];
    if let Some(m) = max_steps {
        envs.push(("CACO_DIST_TEST_MAX_STEPS", m.to_string()));
    }
    if resume {
        envs.push(("CACO_DIST_TEST_RESUME", "1".into()));
    }
    for (rank, (ok, output)) in run_ranks_with(test, "pretrain", 2, dir, &envs).into_iter().enumerate() {
        assert!(
            ok && output.contains(&format!("rank {rank} done")),
            "rank {rank}: {output}"
        );
    }
}

/// Every tensor of a run's checkpoint (query and key sides, optimiser buffers, queues, CACo state) but the
/// BatchNorm running statistics, which no training step reads (train-mode BatchNorm) and which each rank updates
/// from its own rows, as DDP does: one process with 2 groups chains the two groups' updates instead.
fn checkpoint_tensors(run: &Path) -> Vec<(String, Tensor)> {
    let mut out = Vec::new();
    for file in ["query", "key", "state"] {
        let path = run.join("checkpoint").join(format!("{file}.safetensors"));
        for (name, t) in Tensor::read_safetensors(&path).unwrap() {
            if !name.contains("running_") && !name.contains("num_batches_tracked") {
                out.push((format!("{file}/{name}"), t));
            }
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn position(run: &Path) -> String {
    let text = std::fs::read_to_string(run.join("checkpoint/state.toml")).unwrap();
    let state: toml::Value = toml::from_str(&text).unwrap();
    state["position"].to_string()
}

fn assert_same_state(a: &Path, b: &Path, what: &str) {
    assert_eq!(position(a), position(b), "{what}: positions");
    let (ta, tb) = (checkpoint_tensors(a), checkpoint_tensors(b));
    let names = |v: &[(String, Tensor)]| v.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
    assert_eq!(names(&ta), names(&tb), "{what}: tensor names");
    assert!(
        ta.iter().any(|(n, _)| n.starts_with("state/queue0.keys")),
        "{what}: no queue in the checkpoint"
    );
    let mut worst: Vec<(f64, &str)> = ta
        .iter()
        .zip(&tb)
        .map(|((name, x), (_, y))| {
            // Relative to the tensor's largest value where that exceeds 1 (float32 rounding of the sums).
            // NaN (CACo's never-seen items) must sit at the same places; it compares as 0.
            let (x, y) = (x.to_kind(Kind::Double), y.to_kind(Kind::Double));
            assert!(x.isnan().equal(&y.isnan()), "{what}: {name}: NaN at other places");
            let (x, y) = (x.nan_to_num(0.0, None, None), y.nan_to_num(0.0, None, None));
            let scale = x.abs().max().double_value(&[]).max(1.0);
            ((x - y).abs().max().double_value(&[]) / scale, name.as_str())
        })
        .filter(|(diff, _)| !(*diff <= 1e-5))
        .collect();
    worst.sort_by(|a, b| b.0.total_cmp(&a.0));
    assert!(
        worst.is_empty(),
        "{what}: {} of {} tensors differ: {:?}",
        worst.len(),
        ta.len(),
        &worst[..worst.len().min(12)]
    );
}

/// One process with B and `bn_groups = 2`, and 2 ranks with B/2 each, from the same config otherwise; then the 2-rank
/// run again, stopped after its first step and resumed.
fn two_ranks_match_one_process(test: &str, method: &str, epochs: usize, max_steps: Option<u64>) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let series = dir.path().join("series");
    fake_series(&series);
    // The same intra-op thread count as the ranks (OMP_NUM_THREADS=1): at this scale a step amplifies rounding so
    // much that a different thread count alone moves the momentum buffers by percents (see the CACo test).
    tch::set_num_threads(1);
    let one = dir.path().join("one");
    let config_one = PretrainConfig::from_toml(&config(method, &series, epochs, 2), Path::new("one.toml")).unwrap();
    let summary = pretrain(&config_one, &one, &options(max_steps, false)).unwrap();
    assert!(summary.steps >= 2, "{method}: only {} steps", summary.steps);
    let two = dir.path().join("two");
    run_two_ranks(
        test,
        &config(method, &series, epochs, 1),
        dir.path(),
        &two,
        max_steps,
        false,
    );
    assert_same_state(&one, &two, method);
    // Stopped after 1 step and resumed on 2 ranks: the same state as the uninterrupted 2-rank run.
    let resumed = dir.path().join("resumed");
    let text = config(method, &series, epochs, 1);
    run_two_ranks(test, &text, dir.path(), &resumed, Some(1), false);
    run_two_ranks(test, &text, dir.path(), &resumed, max_steps, true);
    assert_same_state(&two, &resumed, &format!("{method} resumed"));
    dir
}

#[test]
fn caco_on_two_ranks_trains_like_one_process_with_two_bn_groups_and_resumes() {
    let test = "caco_on_two_ranks_trains_like_one_process_with_two_bn_groups_and_resumes";
    if role().is_some() {
        return pretrain_role();
    }
    // 16 era items, global batch 8: 2 steps per epoch, then the GMM fit on the gathered ratios. (Not further: from
    // the third step on, rounding differences of 1e-8 in the weights flip ReLUs and max-pool choices that sit at a
    // near-tie and grow to 1e-4 and more in the gradients; two one-process runs that differ only in their thread count
    // already differ by 7 % in the momentum buffers at step 3. Measured for GASSL: 6e-8 after step 1, 1e-6 after
    // step 2, 5e-4 after step 3.)
    let dir = two_ranks_match_one_process(test, "caco", 1, None);
    let labels = checkpoint_tensors(&dir.path().join("two"))
        .into_iter()
        .find(|(n, _)| n == "state/caco.label")
        .unwrap()
        .1;
    assert!(
        values(&labels).iter().all(|&l| l >= 0.0),
        "every era item seen: {labels}"
    );
}

#[test]
fn gassl_on_two_ranks_trains_like_one_process_with_shuffle_bn_in_two_groups_and_resumes() {
    if role().is_some() {
        return pretrain_role();
    }
    // 8 locations, global batch 8: one step per epoch; 2 steps (see the CACo test for why not more).
    two_ranks_match_one_process(
        "gassl_on_two_ranks_trains_like_one_process_with_shuffle_bn_in_two_groups_and_resumes",
        "gassl",
        2,
        None,
    );
}

/// A fresh folder with fake series and `caco.toml`: CACo over them for one epoch (2 steps of global batch 8).
fn caco_run_folder() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let series = dir.path().join("series");
    fake_series(&series);
    let config_path = dir.path().join("caco.toml");
    std::fs::write(&config_path, config("caco", &series, 1, 1)).unwrap();
    (dir, config_path)
}

/// Standard output then standard error of a finished command (caco prints its summary line to standard error).
fn all_output(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `caco pretrain <config> --quiet --nproc 2 --run-dir <run>` with one intra-op thread per rank, which must succeed:
/// the reference the other launchers are held to.
fn pretrain_nproc_2(config_path: &Path, run: &Path) {
    let out = Command::new(env!("CARGO_BIN_EXE_caco"))
        .arg("pretrain")
        .arg(config_path)
        .args(["--quiet", "--nproc", "2", "--run-dir"])
        .arg(run)
        .env("OMP_NUM_THREADS", "1")
        .env("CACO_DIST_TIMEOUT_S", "120")
        .output()
        .unwrap();
    assert!(out.status.success(), "--nproc 2: {}", all_output(&out));
}

/// `caco pretrain --nproc 2` end to end (the command line, its launcher and the rank processes), and a launch whose
/// batch does not split: every rank refuses it and the launch fails naming a rank.
#[test]
fn nproc_2_runs_a_caco_pretraining_and_a_batch_that_does_not_split_is_refused() {
    let (dir, config_path) = caco_run_folder();
    let caco = |nproc: &str, run: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_caco"))
            .args([
                "pretrain",
                config_path.to_str().unwrap(),
                "--quiet",
                "--nproc",
                nproc,
                "--run-dir",
            ])
            .arg(dir.path().join(run))
            .env("CACO_DIST_TIMEOUT_S", "120")
            .output()
            .unwrap();
        (out.status.success(), all_output(&out))
    };
    let (ok, output) = caco("2", "two");
    assert!(ok, "{output}");
    assert!(output.contains("dist-caco: 2 steps, 1 epochs"), "{output}");
    let run = dir.path().join("two");
    for file in [
        "checkpoint/state.toml",
        "metrics.parquet",
        "backbone.safetensors",
        "caco/caco_epoch_0000.csv",
    ] {
        assert!(run.join(file).is_file(), "{file} missing: {output}");
    }
    let (ok, output) = caco("3", "three");
    assert!(!ok, "{output}");
    assert!(
        output.contains("does not split over 3 ranks") && output.contains(" of 3 failed"),
        "{output}"
    );
}

#[test]
fn moco_on_two_ranks_trains_like_one_process_with_shuffle_bn_in_two_groups_and_resumes() {
    if role().is_some() {
        return pretrain_role();
    }
    // 80 images, global batch 8: 10 steps per epoch, stopped after 2.
    two_ranks_match_one_process(
        "moco_on_two_ranks_trains_like_one_process_with_shuffle_bn_in_two_groups_and_resumes",
        "moco",
        1,
        Some(2),
    );
}

#[test]
fn seco_on_two_ranks_trains_like_one_process_with_two_bn_groups_and_resumes() {
    if role().is_some() {
        return pretrain_role();
    }
    // 8 locations, global batch 8: one step per epoch. SeCo's in-batch negatives are the whole batch's keys.
    two_ranks_match_one_process(
        "seco_on_two_ranks_trains_like_one_process_with_two_bn_groups_and_resumes",
        "seco",
        2,
        None,
    );
}

/// A torchrun that starts (its Python imports torch): `CACO_TORCHRUN`, else the project's `.venv/bin/torchrun` or
/// `.venv-bench/bin/torchrun` (`cargo xtask bench` makes that venv), else `torchrun` on PATH. The wheel that `cargo
/// xtask setup` installs for libtorch comes without its CUDA libraries, so its torch does not import; `cargo xtask
/// setup --full-torch`, or `pip install torch==2.11.0` in any venv, gives one (docs/distributed.md).
fn working_torchrun() -> Option<PathBuf> {
    let candidates = match std::env::var_os("CACO_TORCHRUN") {
        Some(path) => vec![PathBuf::from(path)],
        None => vec![
            Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/torchrun"),
            Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv-bench/bin/torchrun"),
            PathBuf::from("torchrun"),
        ],
    };
    candidates.into_iter().find(|candidate| {
        Command::new(candidate)
            .arg("--help")
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

/// `torchrun --no-python --nproc-per-node 2 caco pretrain ...` runs a CACo pre-training end to end (torchrun's own
/// rendezvous: its agent hosts the store, every rank is a client), and ends in the same state as `--nproc 2`.
#[test]
fn torchrun_no_python_runs_a_caco_pretraining_like_nproc_2() {
    let Some(torchrun) = working_torchrun() else {
        println!(
            "SKIPPED: no torchrun that starts (set CACO_TORCHRUN to one whose Python imports torch, see \
             docs/distributed.md)"
        );
        return;
    };
    let (dir, config_path) = caco_run_folder();
    let caco = env!("CARGO_BIN_EXE_caco");
    let out = Command::new(&torchrun)
        .args(["--no-python", "--nproc-per-node", "2", "--master-port"])
        .arg(free_port().to_string())
        .args([caco, "pretrain", config_path.to_str().unwrap(), "--quiet", "--run-dir"])
        .arg(dir.path().join("torchrun"))
        .env("CACO_DIST_TIMEOUT_S", "120")
        .env("OMP_NUM_THREADS", "1")
        .output()
        .unwrap();
    let output = all_output(&out);
    assert!(out.status.success(), "torchrun: {output}");
    assert!(output.contains("dist-caco: 2 steps, 1 epochs"), "{output}");
    assert!(
        dir.path().join("torchrun/caco/caco_epoch_0000.csv").is_file(),
        "{output}"
    );
    let nproc = dir.path().join("nproc");
    pretrain_nproc_2(&config_path, &nproc);
    assert_same_state(&dir.path().join("torchrun"), &nproc, "torchrun vs --nproc 2");
}

/// The SLURM example of docs/distributed.md: `srun ... experiments/slurm/rank.sh <config> ...` starts the script
/// once per task with SLURM's variables. Here the two tasks are started as srun would (SLURM_PROCID, SLURM_NTASKS,
/// SLURM_LOCALID, SLURM_JOB_NODELIST), with a stand-in `scontrol` that expands the node list to this machine: the
/// script maps the variables and both ranks run the pre-training together.
#[test]
fn the_slurm_rank_script_starts_the_ranks_of_one_run() {
    let (dir, config_path) = caco_run_folder();
    let bin = dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let scontrol = bin.join("scontrol");
    std::fs::write(
        &scontrol,
        "#!/bin/sh\n[ \"$1 $2 $3\" = \"show hostnames node-[0-1]\" ] && printf '127.0.0.1\\n127.0.0.2\\n'\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&scontrol, std::fs::Permissions::from_mode(0o755)).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments/slurm/rank.sh");
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let port = free_port().to_string();
    let run = dir.path().join("run");
    let mut tasks: Vec<Child> = (0..2)
        .map(|task| {
            Command::new(&script)
                .arg(&config_path)
                .args(["--quiet", "--run-dir"])
                .arg(&run)
                .env("CACO", env!("CARGO_BIN_EXE_caco"))
                .env("PATH", &path)
                .env("SLURM_PROCID", task.to_string())
                .env("SLURM_NTASKS", "2")
                .env("SLURM_LOCALID", task.to_string())
                .env("SLURM_JOB_NODELIST", "node-[0-1]")
                .env("SLURM_CPUS_PER_TASK", "1")
                .env("MASTER_PORT", &port)
                .env("CACO_DIST_TIMEOUT_S", "120")
                .env_remove("MASTER_ADDR")
                .env_remove("WORLD_SIZE")
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let outputs: Vec<(bool, String)> = tasks
        .drain(..)
        .map(|t| {
            let out = t.wait_with_output().unwrap();
            (out.status.success(), all_output(&out))
        })
        .collect();
    for (task, (ok, text)) in outputs.iter().enumerate() {
        assert!(ok, "task {task}: {text}");
    }
    assert!(
        outputs[0].1.contains("dist-caco: 2 steps, 1 epochs"),
        "{}",
        outputs[0].1
    );
    assert!(run.join("backbone.safetensors").is_file());
    // Two ranks that found each other, not two copies of a one-process run: the state of `--nproc 2`.
    let nproc = dir.path().join("nproc");
    pretrain_nproc_2(&config_path, &nproc);
    assert_same_state(&run, &nproc, "srun script vs --nproc 2");
    // Outside an allocation the script refuses before starting caco.
    let out = Command::new(&script)
        .arg(&config_path)
        .env_remove("SLURM_PROCID")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("SLURM_PROCID is not set"));
}

/// The step of the checkpoint a run folder holds now, if one can be read (a save may be renaming it).
fn checkpoint_step(run: &Path) -> Option<u64> {
    state_step(&run.join("checkpoint/state.toml"))
}

/// The step a checkpoint's state.toml records.
fn state_step(path: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    let state: toml::Value = toml::from_str(&text).ok()?;
    state.get("position")?.get("step")?.as_integer().map(|s| s as u64)
}

/// A 2-rank CACo run that checkpoints every step; rank 0 (the only writer) is killed at a moment that varies from
/// run to run, possibly in the middle of a save. Rank 1 fails at its next collective, with a message, well within the
/// collective timeout, and the run folder still holds a whole checkpoint from which 2 ranks resume.
#[test]
fn a_rank_killed_mid_pretraining_fails_the_other_and_leaves_a_checkpoint_to_resume() {
    let test = "a_rank_killed_mid_pretraining_fails_the_other_and_leaves_a_checkpoint_to_resume";
    if role().is_some() {
        return pretrain_role();
    }
    let dir = tempfile::tempdir().unwrap();
    let series = dir.path().join("series");
    fake_series(&series);
    let text = config("caco", &series, 50, 1).replace("checkpoint_every = 2", "checkpoint_every = 1");
    let path = dir.path().join("caco.toml");
    std::fs::write(&path, &text).unwrap();
    let run = dir.path().join("run");
    let envs = [
        ("CACO_DIST_TEST_CONFIG", path.display().to_string()),
        ("CACO_DIST_TEST_RUN", run.display().to_string()),
    ];
    let port = free_port();
    let mut ranks: Vec<Rank> = (0..2)
        .map(|r| Rank::spawn_with(test, "pretrain", r, 2, port, dir.path(), &envs))
        .collect();
    let start = Instant::now();
    let seen = loop {
        if let Some(step) = checkpoint_step(&run).filter(|&s| s >= 2) {
            break step;
        }
        assert!(
            start.elapsed() < GUARD,
            "no checkpoint of step 2: {}",
            ranks[0].output()
        );
        std::thread::sleep(Duration::from_millis(5));
    };
    // Somewhere in the next step or two, a save included.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    std::thread::sleep(Duration::from_millis(u64::from(nanos % 400)));
    ranks[0].child.kill().unwrap();
    let _ = ranks[0].child.wait();
    let killed = Instant::now();
    let (ok, output) = ranks[1].wait();
    assert!(!ok, "rank 1 went on without rank 0: {output}");
    assert!(output.contains("data-parallel run, rank 1:"), "{output}");
    assert!(
        killed.elapsed() < Duration::from_secs(60),
        "rank 1 took {:?} to notice (collective timeout 120 s)",
        killed.elapsed()
    );
    // Whatever the moment of the kill, 2 ranks resume from what rank 0 left (checkpoint/, or a save killed between
    // its renames: checkpoint.partial/), two steps on.
    let left = checkpoint_step(&run)
        .or_else(|| state_step(&run.join("checkpoint.partial/state.toml")))
        .expect("a whole checkpoint left behind");
    assert!(left >= seen, "the checkpoint went back from step {seen} to {left}");
    let target = left + 2;
    let resume_envs = [
        envs[0].clone(),
        envs[1].clone(),
        ("CACO_DIST_TEST_MAX_STEPS", target.to_string()),
        ("CACO_DIST_TEST_RESUME", "1".to_string()),
    ];
    let resumed = dir.path().join("resume");
    std::fs::create_dir_all(&resumed).unwrap();
    for (rank, (ok, output)) in run_ranks_with(test, "pretrain", 2, &resumed, &resume_envs)
        .into_iter()
        .enumerate()
    {
        assert!(
            ok && output.contains(&format!("rank {rank} done: {target} steps")),
            "rank {rank}: {output}"
        );
    }
    assert_eq!(checkpoint_step(&run), Some(target));
    assert!(!run.join("checkpoint.old").exists() && !run.join("checkpoint.partial").exists());
}
