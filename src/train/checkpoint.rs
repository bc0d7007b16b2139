//! Checkpoints of a pre-training run: `<run>/checkpoint/` holds the query and key sides as safetensors, one more
//! safetensors file with the optimiser buffers, queues and CACo state, and `state.toml` with the position (step,
//! epoch, batch within the epoch) and queue pointers. Written to a temporary folder and renamed, so a crash never
//! leaves a half-written checkpoint.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tch::Tensor;

use super::sgd::Sgd;
use crate::ssl::caco::ChangeState;
use crate::ssl::gmm::Gmm2;
use crate::ssl::SslModel;
use crate::{Error, Result};

/// Where the run is.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Position {
    /// Optimiser steps done.
    pub step: u64,
    /// Current epoch (0-based).
    pub epoch: usize,
    /// Batches of the current epoch already done.
    pub batch_in_epoch: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct StateFile {
    position: Position,
    queue_ptrs: Vec<i64>,
    gmm: Option<Gmm2>,
    /// The resolved config of the run, to refuse resuming with another one.
    config: String,
}

pub fn checkpoint_dir(run_dir: &Path) -> PathBuf {
    run_dir.join("checkpoint")
}

/// Where a checkpoint is written before it replaces `checkpoint/`.
fn partial_dir(run_dir: &Path) -> PathBuf {
    run_dir.join("checkpoint.partial")
}

/// Where the previous checkpoint waits while the new one takes its name.
fn old_dir(run_dir: &Path) -> PathBuf {
    run_dir.join("checkpoint.old")
}

/// Finishes a save that was killed between its renames: `checkpoint/` gone means `checkpoint.partial/` was complete
/// (it is only renamed once written), so it becomes the checkpoint. A save killed earlier left `checkpoint/` as it
/// was; its partial folder is removed by the next save.
pub fn recover(run_dir: &Path) -> Result<()> {
    let (dir, tmp, old) = (checkpoint_dir(run_dir), partial_dir(run_dir), old_dir(run_dir));
    if !dir.exists() && tmp.join("state.toml").is_file() {
        std::fs::rename(&tmp, &dir).map_err(|e| Error::io(&dir, e))?;
    }
    if dir.exists() && old.exists() {
        std::fs::remove_dir_all(&old).map_err(|e| Error::io(&old, e))?;
    }
    Ok(())
}

/// Saves everything needed to continue exactly. At every moment a kill leaves a whole checkpoint: the new one is
/// written beside the old one, then the old one is moved aside and the new one renamed (see [`recover`]).
pub fn save(run_dir: &Path, model: &SslModel, sgd: &Sgd, position: &Position, config_toml: &str) -> Result<()> {
    let dir = checkpoint_dir(run_dir);
    let tmp = partial_dir(run_dir);
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
    }
    std::fs::create_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
    model.vs_q.save(tmp.join("query.safetensors"))?;
    model.vs_k.save(tmp.join("key.safetensors"))?;
    let mut tensors = sgd.state_tensors();
    for (i, q) in model.queues.iter().enumerate() {
        tensors.push((format!("queue{i}.keys"), q.keys.shallow_clone()));
        tensors.push((format!("queue{i}.era"), q.era.shallow_clone()));
    }
    if let Some(change) = &model.change {
        tensors.extend(change.to_tensors());
    }
    Tensor::write_safetensors(&tensors, tmp.join("state.safetensors"))?;
    let state = StateFile {
        position: position.clone(),
        queue_ptrs: model.queues.iter().map(|q| q.ptr).collect(),
        gmm: model.change.as_ref().and_then(|c| c.gmm),
        config: config_toml.to_string(),
    };
    let state_path = tmp.join("state.toml");
    std::fs::write(&state_path, toml::to_string(&state).expect("state serialises"))
        .map_err(|e| Error::io(&state_path, e))?;
    let old = old_dir(run_dir);
    if old.exists() {
        std::fs::remove_dir_all(&old).map_err(|e| Error::io(&old, e))?;
    }
    if dir.exists() {
        std::fs::rename(&dir, &old).map_err(|e| Error::io(&old, e))?;
    }
    std::fs::rename(&tmp, &dir).map_err(|e| Error::io(&dir, e))?;
    if old.exists() {
        std::fs::remove_dir_all(&old).map_err(|e| Error::io(&old, e))?;
    }
    Ok(())
}

/// Restores a checkpoint into `model` and `sgd`; returns the position to continue from.
pub fn load(run_dir: &Path, model: &mut SslModel, sgd: &mut Sgd, config_toml: &str) -> Result<Position> {
    let dir = checkpoint_dir(run_dir);
    let state_path = dir.join("state.toml");
    let text = std::fs::read_to_string(&state_path).map_err(|e| Error::io(&state_path, e))?;
    let state: StateFile =
        toml::from_str(&text).map_err(|e| Error::bad_input(&state_path, format!("not a checkpoint state: {e}")))?;
    if state.config != config_toml {
        return Err(Error::bad_input(
            &state_path,
            "the checkpoint was made with a different config; resume with the same config or start a new run directory",
        ));
    }
    model.vs_q.load(dir.join("query.safetensors"))?;
    model.vs_k.load(dir.join("key.safetensors"))?;
    let device = model.device();
    let named: Vec<(String, Tensor)> = Tensor::read_safetensors(dir.join("state.safetensors"))?
        .into_iter()
        .map(|(n, t)| (n, t.to_device(device)))
        .collect();
    let get = |name: &str| {
        named
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, t)| t.shallow_clone())
            .ok_or_else(|| Error::bad_input(dir.join("state.safetensors"), format!("no `{name}` tensor")))
    };
    sgd.load_state(&named);
    for (i, q) in model.queues.iter_mut().enumerate() {
        q.keys = get(&format!("queue{i}.keys"))?;
        q.era = get(&format!("queue{i}.era"))?;
        q.ptr = state.queue_ptrs.get(i).copied().unwrap_or(0);
    }
    if model.change.is_some() {
        let ratio = get("caco.ratio")?.to_device(tch::Device::Cpu);
        let label = get("caco.label")?.to_device(tch::Device::Cpu);
        model.change = Some(ChangeState::from_tensors(&ratio, &label, state.gmm));
    }
    Ok(state.position)
}
