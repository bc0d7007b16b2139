#!/usr/bin/env bash
# One rank of a data-parallel `caco pretrain` under SLURM (docs/distributed.md): `srun` starts this script once per
# task; it maps SLURM's task variables to the ones caco reads (torchrun's) and runs `caco pretrain` with the given
# arguments. Rank 0's node hosts the rendezvous:
#   srun --nodes 2 --ntasks-per-node 4 --gpus-per-task 1 \
#       experiments/slurm/rank.sh experiments/pretrain/paper/gassl.toml --run-dir runs/gassl-8gpu
# MASTER_ADDR (default: the first node of the job) and MASTER_PORT (default 29500) may be set before srun;
# CACO names the caco executable (default: caco on PATH).
set -euo pipefail
for var in SLURM_PROCID SLURM_NTASKS SLURM_LOCALID SLURM_JOB_NODELIST; do
  if [ -z "${!var:-}" ]; then
    echo "$0: $var is not set: start this script with srun, inside a SLURM allocation" >&2
    exit 2
  fi
done
export RANK="$SLURM_PROCID" WORLD_SIZE="$SLURM_NTASKS" LOCAL_RANK="$SLURM_LOCALID"
if [ -z "${MASTER_ADDR:-}" ]; then
  MASTER_ADDR="$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)"
fi
export MASTER_ADDR MASTER_PORT="${MASTER_PORT:-29500}"
# The cores of this task (srun --cpus-per-task), not the whole node's, for libtorch's intra-op threads.
if [ -z "${OMP_NUM_THREADS:-}" ] && [ -n "${SLURM_CPUS_PER_TASK:-}" ]; then
  export OMP_NUM_THREADS="$SLURM_CPUS_PER_TASK"
fi
exec "${CACO:-caco}" pretrain "$@"
