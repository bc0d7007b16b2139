//! `caco pretrain --nproc N`: N local ranks of this very executable, with the variables torchrun would set
//! (RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR=127.0.0.1, MASTER_PORT a free port, and
//! OMP_NUM_THREADS = cores / N unless set). Rank 0 keeps
//! the terminal (its progress bar); the others' lines are forwarded with a `[rank r]` prefix. When a rank fails the
//! others are stopped and the launch fails naming it.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use anyhow::{bail, Context, Result};

/// Runs `args` (this executable's arguments without `--nproc`) as `nproc` ranks and waits for all of them.
pub fn launch(nproc: usize, args: &[String]) -> Result<()> {
    let exe = std::env::current_exe().context("cannot find this executable to start its ranks")?;
    // Ctrl-C reaches every rank from the terminal; they checkpoint and stop together, and the launcher waits for
    // them instead of dying first (which would break the pipes of ranks 1..).
    caco::train::pretrain::install_interrupt_handler();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .context("no free port on 127.0.0.1 for the rendezvous")?
        .port();
    // As torchrun does: the ranks share the machine's cores instead of each taking all of them (unless set).
    let threads = std::env::var("OMP_NUM_THREADS").unwrap_or_else(|_| {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        (cores / nproc).max(1).to_string()
    });
    let mut children: Vec<Child> = Vec::with_capacity(nproc);
    let mut forwarders = Vec::new();
    for rank in 0..nproc {
        let mut cmd = Command::new(&exe);
        cmd.args(args)
            .env("RANK", rank.to_string())
            .env("LOCAL_RANK", rank.to_string())
            .env("WORLD_SIZE", nproc.to_string())
            .env("LOCAL_WORLD_SIZE", nproc.to_string())
            .env("MASTER_ADDR", "127.0.0.1")
            .env("MASTER_PORT", port.to_string())
            .env("OMP_NUM_THREADS", &threads);
        if rank > 0 {
            cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        }
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => {
                stop(&mut children);
                bail!("could not start rank {rank} ({}): {e}", exe.display());
            }
        };
        if rank > 0 {
            forwarders.push(forward(child.stdout.take().expect("piped"), rank, false));
            forwarders.push(forward(child.stderr.take().expect("piped"), rank, true));
        }
        children.push(child);
    }
    let mut done: Vec<Option<ExitStatus>> = vec![None; nproc];
    let failed = loop {
        for (rank, child) in children.iter_mut().enumerate() {
            if done[rank].is_none() {
                done[rank] = child.try_wait().with_context(|| format!("waiting for rank {rank}"))?;
            }
        }
        if let Some(rank) = done.iter().position(|s| s.is_some_and(|s| !s.success())) {
            break Some(rank);
        }
        if done.iter().all(Option::is_some) {
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    if failed.is_some() {
        // Give the others a moment to report their side (they fail at their next collective), then stop them.
        std::thread::sleep(Duration::from_secs(2));
        stop(&mut children);
    }
    for f in forwarders {
        let _ = f.join();
    }
    match failed {
        Some(rank) => bail!(
            "rank {rank} of {nproc} failed ({}); the other ranks were stopped",
            done[rank].map_or("killed".to_string(), |s| s.to_string())
        ),
        None => Ok(()),
    }
}

/// Kills the ranks still running (only the processes this launch started) and reaps them.
fn stop(children: &mut [Child]) {
    for child in children.iter_mut() {
        if matches!(child.try_wait(), Ok(None)) {
            let _ = child.kill();
        }
        let _ = child.wait();
    }
}

/// Copies a rank's output line by line with a `[rank r]` prefix (progress bars are off there: not a terminal).
fn forward(stream: impl Read + Send + 'static, rank: usize, to_stderr: bool) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(std::result::Result::ok) {
            let line = format!("[rank {rank}] {line}\n");
            let _ = if to_stderr {
                std::io::stderr().lock().write_all(line.as_bytes())
            } else {
                std::io::stdout().lock().write_all(line.as_bytes())
            };
        }
    })
}
