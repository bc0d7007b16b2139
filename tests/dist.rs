//! Data-parallel training over Gloo on 127.0.0.1 with 2 processes (docs/distributed.md): the collectives, the
//! faults (a rank killed mid-run, a rank that never arrives), and the proof that 2 ranks x B/2 train exactly like one
//! process with B and BatchNorm in 2 groups.
//!
//! A multi-process test runs its ranks as copies of this test binary that run the same test with
//! `CACO_DIST_TEST_ROLE` set (and torchrun's variables): the role's branch is the rank's program.

// Without gloo in the build (no libgloo-dev) there is no multi-process support to test.
#![cfg(caco_dist)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use caco::config::{ExperimentConfig, PretrainConfig};
use caco::data::fake::{write_timeseries, FakeTimeSeries};
use caco::data::timeseries::{Layout, RGB_BANDS};
use caco::models::dist::{Dist, Rendezvous};
use caco::train::{pretrain, PretrainOptions};
use tch::{Device, Kind, Tensor};

const ROLE: &str = "CACO_DIST_TEST_ROLE";
/// Upper bound on any wait of a test (the processes' own timeout is much shorter): a hang fails instead of blocking.
const GUARD: Duration = Duration::from_secs(240);

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// One rank: this test binary running test `test` with `role`, its output in `dir/rank<r>.{out,err}`.
struct Rank {
    child: Child,
    out: PathBuf,
    err: PathBuf,
}

impl Rank {
    fn spawn(test: &str, role: &str, rank: usize, world: usize, port: u16, dir: &Path) -> Rank {
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
            .env("CACO_DIST_TIMEOUT_S", "30")
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
    let port = free_port();
    let mut ranks: Vec<Rank> = (0..world).map(|r| Rank::spawn(test, role, r, world, port, dir)).collect();
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
        assert!(ok && output.contains(&format!("rank {rank} ok")), "rank {rank}: {output}");
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
    let mut ranks: Vec<Rank> = (0..2).map(|r| Rank::spawn(test, "loop", r, 2, port, dir.path())).collect();
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
