//! The pre-training loop's data-parallel pieces (METHODS.md "Multi-GPU in the originals"): which rows of every
//! global batch a rank takes, the checks on the batch size, the state every rank copies from rank 0 (at the start and
//! on `--resume`), GASSL's clusters from rank 0, and the global mean of the logged loss. With [`Dist::single`] every
//! function is the identity, so one process runs exactly as before.

use tch::{Device, Kind, Tensor};

use super::checkpoint::Position;
use super::sgd::Sgd;
use crate::config::PretrainConfig;
use crate::models::dist::{Dist, Rendezvous};
use crate::ssl::caco::ChangeState;
use crate::ssl::{Method, SslModel};
use crate::{Error, Result};

/// The process group from torchrun's variables (one process without them) and the device of this rank: with
/// several ranks a CUDA run uses GPU `LOCAL_RANK`.
pub fn join(device: Device) -> Result<(Dist, Device)> {
    let Some(rv) = Rendezvous::from_env()?.filter(|rv| rv.world > 1) else {
        return Ok((Dist::single(), device));
    };
    let device = match device {
        Device::Cuda(_) => Device::Cuda(
            rank_gpu(rv.local_rank, tch::Cuda::device_count() as usize)
                .map_err(|reason| Error::Dist { rank: rv.rank, reason })?,
        ),
        other => other,
    };
    Ok((Dist::init(&rv, device)?, device))
}

/// The GPU of a rank: `LOCAL_RANK` among the visible ones, or the only visible one (a scheduler that binds one GPU
/// per task, as `srun --gpus-per-task 1` does, shows each task its own GPU as device 0).
pub fn rank_gpu(local_rank: usize, visible: usize) -> std::result::Result<usize, String> {
    match visible {
        0 => Err("the run asks for CUDA but this rank sees no GPU".into()),
        1 => Ok(0),
        n if local_rank < n => Ok(local_rank),
        n => Err(format!(
            "LOCAL_RANK {local_rank} but only {n} GPUs are visible: start at most {n} ranks on this machine (one GPU \
             per rank)"
        )),
    }
}

/// Rows of a global batch each rank takes: `optim.batch_size / world`, checked (see [`split_batch`]).
pub fn rows_per_rank(config: &PretrainConfig, dist: &Dist) -> Result<usize> {
    split_batch(
        config.optim.batch_size,
        dist.world(),
        config.method,
        config.ssl.bn_groups,
    )
    .map_err(|reason| Error::Dist {
        rank: dist.rank(),
        reason,
    })
}

/// `batch / world` when the global batch splits evenly, every rank's slice of a TeCo/CACo batch holds whole (older,
/// recent) pairs, and each slice splits into its `bn_groups` BatchNorm groups; otherwise what to change.
pub fn split_batch(batch: usize, world: usize, method: Method, bn_groups: usize) -> std::result::Result<usize, String> {
    if batch % world != 0 {
        return Err(format!(
            "optim.batch_size {batch} does not split over {world} ranks: choose a multiple of {world} (each rank takes \
             an equal contiguous slice of every global batch)"
        ));
    }
    let rows = batch / world;
    if method.paired() && rows % 2 != 0 {
        return Err(format!(
            "optim.batch_size {batch} over {world} ranks gives {rows} rows per rank: {} needs an even number per \
             rank so that no (older, recent) pair is split; choose a multiple of {}",
            method.name(),
            2 * world
        ));
    }
    if rows % bn_groups != 0 {
        return Err(format!(
            "ssl.bn_groups {bn_groups} does not divide the {rows} rows per rank (optim.batch_size {batch} over \
             {world} ranks); across ranks the groups multiply, so with {world} ranks set bn_groups to the \
             original's number of GPUs divided by {world}"
        ));
    }
    Ok(rows)
}

/// This rank's contiguous slice of every global batch (the global order is one process's).
pub fn rank_slices(batches: Vec<Vec<usize>>, rows: usize, dist: &Dist) -> Vec<Vec<usize>> {
    if dist.world() == 1 {
        return batches;
    }
    let start = dist.rank() * rows;
    batches.into_iter().map(|b| b[start..start + rows].to_vec()).collect()
}

/// GASSL's cluster of every unit as rank 0 computed it.
pub fn clusters_from_main(clusters: Option<Vec<i64>>, dist: &Dist, device: Device) -> Result<Option<Vec<i64>>> {
    match clusters {
        Some(c) if dist.world() > 1 => {
            let t = Tensor::from_slice(&c).to_device(device);
            dist.broadcast(&[t.shallow_clone()], 0)?;
            Ok(Some(
                Vec::<i64>::try_from(t.to_device(Device::Cpu)).map_err(Error::from)?,
            ))
        }
        other => Ok(other),
    }
}

/// The loss parts averaged over ranks (each rank's are the mean over its rows, so this is the global batch's mean)
/// and whether any rank was interrupted (Ctrl-C reaches ranks at different steps; all stop at the same one).
pub fn global_parts(parts: Vec<f64>, interrupted: bool, dist: &Dist, device: Device) -> Result<(Vec<f64>, bool)> {
    if dist.world() == 1 {
        return Ok((parts, interrupted));
    }
    let mut values = parts.clone();
    values.push(f64::from(u8::from(interrupted)));
    let t = Tensor::from_slice(&values).to_kind(Kind::Double).to_device(device);
    dist.all_reduce_mean(&[t.shallow_clone()])?;
    let mut values = Vec::<f64>::try_from(t.to_device(Device::Cpu)).map_err(Error::from)?;
    let any_interrupted = values.pop().unwrap_or(0.0) > 0.0;
    Ok((values, any_interrupted))
}

/// Every rank takes rank 0's weights, optimiser buffers, queues, change state and position: at the start (as DDP
/// does) and after `--resume`, where only rank 0 has read the checkpoint.
pub fn sync_from_main(model: &mut SslModel, sgd: &mut Sgd, position: &mut Position) -> Result<()> {
    let dist = model.dist();
    if dist.world() == 1 {
        return Ok(());
    }
    let device = model.device();
    let pos = Tensor::from_slice(&[
        position.step as i64,
        position.epoch as i64,
        position.batch_in_epoch as i64,
    ])
    .to_device(device);
    dist.broadcast(&[pos.shallow_clone()], 0)?;
    let pos = Vec::<i64>::try_from(pos.to_device(Device::Cpu)).map_err(Error::from)?;
    *position = Position {
        step: pos[0] as u64,
        epoch: pos[1] as usize,
        batch_in_epoch: pos[2] as usize,
    };
    let mut tensors: Vec<Tensor> = Vec::new();
    for vs in [&model.vs_q, &model.vs_k] {
        let mut vars = vs.variables().into_iter().collect::<Vec<_>>();
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        tensors.extend(vars.into_iter().map(|(_, t)| t.detach()));
    }
    // Optimiser buffers: which variables have one on rank 0, then their values.
    let names: Vec<String> = sgd_names(sgd);
    let has: Vec<i64> = names.iter().map(|n| i64::from(sgd.buffers.contains_key(n))).collect();
    let has_t = Tensor::from_slice(&has).to_device(device);
    dist.broadcast(&[has_t.shallow_clone()], 0)?;
    let has = Vec::<i64>::try_from(has_t.to_device(Device::Cpu)).map_err(Error::from)?;
    for (name, &h) in names.iter().zip(&has) {
        if h == 0 {
            sgd.buffers.remove(name);
        } else {
            let like = sgd.variable(name).expect("a name of sgd's variables").detach();
            let buf = sgd.buffers.entry(name.clone()).or_insert_with(|| like.zeros_like());
            tensors.push(buf.shallow_clone());
        }
    }
    let ptrs = Tensor::from_slice(&model.queues.iter().map(|q| q.ptr).collect::<Vec<_>>()).to_device(device);
    tensors.push(ptrs.shallow_clone());
    for q in &model.queues {
        tensors.push(q.keys.shallow_clone());
        tensors.push(q.era.shallow_clone());
    }
    let change = model.change.as_ref().map(|c| {
        c.to_tensors()
            .into_iter()
            .map(|(_, t)| t.to_device(device))
            .collect::<Vec<_>>()
    });
    tensors.extend(change.iter().flatten().map(Tensor::shallow_clone));
    tch::no_grad(|| dist.broadcast(&tensors, 0))?;
    let ptrs = Vec::<i64>::try_from(ptrs.to_device(Device::Cpu)).map_err(Error::from)?;
    for (q, p) in model.queues.iter_mut().zip(ptrs) {
        q.ptr = p;
    }
    if let (Some(state), Some(t)) = (model.change.as_mut(), change) {
        let gmm = state.gmm;
        *state = ChangeState::from_tensors(&t[0].to_device(Device::Cpu), &t[1].to_device(Device::Cpu), gmm);
    }
    Ok(())
}

fn sgd_names(sgd: &Sgd) -> Vec<String> {
    sgd.variable_names().map(str::to_string).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_global_batch_splits_into_whole_pairs_and_groups_or_is_refused() {
        assert_eq!(split_batch(256, 4, Method::Caco, 1), Ok(64));
        assert_eq!(split_batch(256, 1, Method::Gassl, 4), Ok(256));
        assert_eq!(split_batch(6, 3, Method::Moco, 1), Ok(2));
        let refused = |b, w, m, g| split_batch(b, w, m, g).unwrap_err();
        assert!(refused(10, 4, Method::Moco, 1).contains("choose a multiple of 4"));
        // 3 rows per rank would split a pair of CACo's (and TeCo's) but not SeCo's locations.
        assert!(refused(6, 2, Method::Caco, 1).contains("choose a multiple of 4"));
        assert!(refused(6, 2, Method::Teco, 1).contains("no (older, recent) pair is split"));
        assert_eq!(split_batch(6, 2, Method::Seco, 1), Ok(3));
        assert!(refused(8, 2, Method::Gassl, 3).contains("ssl.bn_groups 3 does not divide the 4 rows"));
    }

    #[test]
    fn a_rank_takes_its_local_gpu_or_the_only_one_it_sees() {
        assert_eq!(rank_gpu(3, 4), Ok(3));
        assert_eq!(rank_gpu(3, 1), Ok(0));
        assert!(rank_gpu(4, 4).unwrap_err().contains("only 4 GPUs are visible"));
        assert!(rank_gpu(0, 0).is_err());
    }

    #[test]
    fn one_process_keeps_every_batch_whole() {
        let batches = vec![vec![3, 1, 2, 0], vec![5, 4, 7, 6]];
        assert_eq!(rank_slices(batches.clone(), 4, &Dist::single()), batches);
        let (parts, stop) = global_parts(vec![1.5, 2.0], true, &Dist::single(), Device::Cpu).unwrap();
        assert_eq!((parts, stop), (vec![1.5, 2.0], true));
    }
}
